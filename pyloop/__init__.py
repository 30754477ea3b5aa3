"""pyloop: run system-dynamics models under named scenarios.

Typical use::

    import pyloop
    model = pyloop.load_model("models/ai_circular_finance.mdl")
    results = pyloop.run_many(model, ["baseline", "music_stops"])
    table = pyloop.compare(results, ["AI Lab Cash"])
"""

from .errors import (
    ModelFileError,
    ParameterError,
    PyloopError,
    ScenarioError,
    SimulationError,
)
from .model import Model, TimeSettings, Variable, load_model
from .runner import RunResult, compare, key_variables, run, run_many, summary
from .scenarios import (
    Policy,
    Scenario,
    ScenarioFile,
    list_policies,
    list_scenarios,
    load_scenarios,
)

__version__ = "0.1.0"

__all__ = [
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
]
