"""pyloop: run system-dynamics models under named scenarios.

Typical use::

    import pyloop
    model = pyloop.load_model("models/ai_circular_finance.mdl")
    results = pyloop.run_many(model, ["baseline", "music_stops"])
    table = pyloop.compare(results, ["AI Lab Cash"])
"""

from pyloop.errors import (
    ModelFileError,
    ParameterError,
    PyloopError,
    ScenarioError,
    SimulationError,
)
from pyloop.engine import Model, TimeSettings, Variable, load_model
from pyloop.comparison import compare, summary
from pyloop.runner import RunResult, key_variables, run, run_many
from pyloop.analysis.ledger import (
    Ledger,
    LedgerError,
    StockFlowError,
    Tracing,
    audit,
    balance_sheet,
    load_ledger,
    trace_origins,
    transaction_matrix,
    who_paid,
)
from pyloop.analysis.structure import Link, Loop, Structure, causal_structure, find_loops
from pyloop.analysis.loops import (
    LoopAnalysis,
    LoopGroup,
    ModePhase,
    Modes,
    VariableDominance,
    VariablePhase,
    analyze_loops,
    analyze_variable,
    knockout_table,
    knockouts,
    load_catalogue,
    run_modes,
    score_run,
    variable_dominance,
)
from pyloop.sensitivity.discovery import PrimBox, discover
from pyloop.sensitivity.ensemble import (
    EnsembleResult,
    load_ensemble,
    morris_indices,
    percentile_bands,
    run_ensemble,
    sobol_indices,
)
from pyloop.declarations.uncertainty import UncertaintySpec, read_uncertainty
from pyloop.declarations.scenarios import (
    Policy,
    Scenario,
    ScenarioFile,
    list_policies,
    list_scenarios,
    load_scenarios,
)

__version__ = "0.1.0"

__all__ = [
    "Ledger",
    "LedgerError",
    "StockFlowError",
    "Tracing",
    "audit",
    "balance_sheet",
    "load_ledger",
    "trace_origins",
    "transaction_matrix",
    "who_paid",
    "Link",
    "Loop",
    "LoopAnalysis",
    "LoopGroup",
    "ModePhase",
    "Modes",
    "Structure",
    "VariableDominance",
    "VariablePhase",
    "analyze_loops",
    "analyze_variable",
    "causal_structure",
    "find_loops",
    "knockout_table",
    "knockouts",
    "load_catalogue",
    "run_modes",
    "score_run",
    "variable_dominance",
    "EnsembleResult",
    "PrimBox",
    "UncertaintySpec",
    "discover",
    "load_ensemble",
    "morris_indices",
    "percentile_bands",
    "read_uncertainty",
    "run_ensemble",
    "sobol_indices",
    "Model",
    "ModelFileError",
    "ParameterError",
    "Policy",
    "PyloopError",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "ScenarioFile",
    "SimulationError",
    "TimeSettings",
    "Variable",
    "compare",
    "key_variables",
    "list_policies",
    "list_scenarios",
    "load_model",
    "load_scenarios",
    "run",
    "run_many",
    "summary",
    "music_stops_before",  # deprecated (see below)
]

#: Names that belong to the case study, kept here for a while: name -> (module, attribute).
_DEPRECATED = {
    "music_stops_before": ("pyloop.sensitivity.discovery", "music_stops_before"),
    "DEFAULT_MODEL": ("pyloop.cli", "DEFAULT_MODEL"),
}


def __getattr__(name: str):
    """Deprecated names of the case study, with a DeprecationWarning."""
    if name not in _DEPRECATED:
        raise AttributeError(f"module 'pyloop' has no attribute '{name}'")
    import importlib
    import warnings

    module, attribute = _DEPRECATED[name]
    warnings.warn(
        f"pyloop.{name} is deprecated: it belongs to the AI circular finance case study; "
        f"use pyloop.case.ai_circular_finance.{name}",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(module), attribute)
