"""Model-quality checks: units, documentation, buried numbers, diagram, loops,
money declaration, integration error and whether the loops ever act.

Each check returns :class:`Finding` objects; :func:`check_model` runs them
all. A finding has a code (the letter names its family), a severity, the
variable concerned and a message saying what to fix:

=====  ========  =====================================================
code   severity  meaning
=====  ========  =====================================================
U001   error     a variable has no units
U002   error     the independent unit checker (Simlin) reports a problem
D001   error     a variable has no comment
D002   error     a constant's comment names no source and no assumption
M001   warning   a number other than 0 or 1 is buried in an equation
G001   error     a variable is on no view of the diagram
G002   error     a stock is drawn without one of its flows
L001   error     a loop of the catalogue does not exist in the model
L002   error     a loop of the catalogue has no switch constant
F001   error     the money declaration misses a money flow
I001   error     halving TIME STEP moves a key output by more than 1 %
X001   error     the XMILE twin beside a .mdl was made from another version of it
B001   error     a MIN, MAX or IF THEN ELSE on a loop never switches in any declared run
B002   error     a named loop scores zero in more than three quarters of the baseline steps
=====  ========  =====================================================

Two profiles: ``house`` runs every check (this project's conventions);
``generic`` keeps only what is wrong in any model (U002, L001, F001, I001, X001,
B001, B002), so a model written elsewhere is not failed for missing comments,
sources, buried numbers or an incomplete diagram. B001 and B002 live in
:mod:`pyloop.validation.liveness`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

from pyloop.declarations.paths import declaration_path
from pyloop.errors import PyloopError
from pyloop.engine import Model, numbers
from pyloop.declarations.scenarios import load_scenarios
from pyloop.validation.findings import Finding
from pyloop.validation.liveness import check_loop_activity, check_switching

__all__ = ["CheckRun", "Finding", "SOURCE_PATTERN", "check_model", "run_checks", "CHECKS", "GENERIC_CODES",
           "PROFILES"]

#: A constant's comment must cite a calibration or history row (S01, P13, H02), say it was
#: fitted (``Fitted:`` with the rows) or state an assumption.
SOURCE_PATTERN = re.compile(r"\b[SPH]\d\d\b|Assumption:|Fitted:|calibration|scenario|[Ll]oop switch|[Pp]olicy lever")
#: Largest change that halving TIME STEP may make to a key output (share of its scale).
INTEGRATION_TOLERANCE = 0.01


def _documented(model: Model) -> Iterable:
    return (v for v in model.variables if v.kind != "control")


def check_units(model: Model) -> list[Finding]:
    """U001 and U002: units declared, and no unit error from Simlin."""
    from pyloop.engine.simlin import unit_problems

    found = [
        Finding("U001", "error", v.name, "no units; declare them after the first ~ of its equation")
        for v in _documented(model)
        if not v.units
    ]
    if model.path.suffix.lower() == ".mdl":
        names = {re.sub(r"[\s_]+", "_", v.name.lower()): v.name for v in model.variables}
        for variable, message in unit_problems(model.path):
            found.append(Finding("U002", "error", names.get(variable or "", variable), message))
    return found


def check_documentation(model: Model) -> list[Finding]:
    """D001 and D002: comments on every variable, sources on every constant."""
    found = []
    for v in _documented(model):
        if not v.comment:
            found.append(Finding("D001", "error", v.name, "no comment; say what it is and where it comes from"))
        elif v.kind == "constant" and not SOURCE_PATTERN.search(v.comment):
            found.append(
                Finding(
                    "D002",
                    "error",
                    v.name,
                    "the comment names no source; cite a calibration row (e.g. S01) "
                    "or start with 'Assumption:' and say why",
                )
            )
    return found


def check_magic_numbers(model: Model) -> list[Finding]:
    """M001: numbers other than 0 and 1 inside equations (constants excepted)."""
    found = []
    kinds = {v.name: v.kind for v in model.variables}
    for name, equation in model.equations.items():
        if kinds.get(name) in ("constant", "control", "lookup", "data"):
            continue
        buried = sorted({n for n in numbers(equation.ast) if n not in (0.0, 1.0)})
        if buried:
            shown = ", ".join(f"{n:g}" for n in buried)
            found.append(
                Finding("M001", "warning", name, f"number(s) {shown} buried in the equation; make each a named constant")
            )
    return found


def check_diagram(model: Model) -> list[Finding]:
    """G001 and G002: every variable placed, every stock drawn with its flows."""
    from pyloop.engine.vensim_sketch import read_sketch

    if model.path.suffix.lower() != ".mdl":
        return []
    views = read_sketch(model.path)
    placed = {item.name for view in views for item in view.items.values() if item.kind == "variable"}
    links = set().union(*(view.links() for view in views)) if views else set()
    found = [
        Finding("G001", "error", v.name, "on no view of the diagram; place it on its sector's view")
        for v in _documented(model)
        if v.name not in placed
    ]
    for stock in model.stocks:
        for flow in model.equations[stock].flows:
            if (flow, stock) not in links:
                found.append(
                    Finding("G002", "error", stock, f"drawn without its flow '{flow}'; connect the flow's pipe to it")
                )
    return found


def check_loops(model: Model) -> list[Finding]:
    """L001 and L002: every catalogued loop exists and has its switch."""
    from pyloop.analysis.loops import load_catalogue
    from pyloop.analysis.structure import causal_structure

    file = declaration_path(model, "loops")
    if not file.is_file():
        return []
    catalogue = load_catalogue(model.path, file)  # names as written, resolved below
    if not catalogue:
        return []
    structure = causal_structure(model)
    found = []
    for entry in catalogue:
        names = [model.resolve_name(v) for v in entry.variables]
        unknown = [v for v, n in zip(entry.variables, names) if n is None]
        if unknown:
            found.append(Finding("L001", "error", None, f"loop {entry.id}: unknown variable(s) {', '.join(unknown)}"))
        else:
            for cause, effect in zip(names, names[1:] + names[:1]):
                try:
                    structure.link(cause, effect)
                except PyloopError:
                    found.append(
                        Finding("L001", "error", None, f"loop {entry.id} does not exist: no link '{cause}' -> '{effect}'")
                    )
                    break
        switch = model.resolve_name(entry.switch) if entry.switch else None
        if switch is None or model.variable(switch).kind != "constant":
            found.append(
                Finding("L002", "error", None, f"loop {entry.id} has no switch constant; add 'Switch {entry.id} ...' = 1")
            )
    return found


def check_ledger(model: Model) -> list[Finding]:
    """F001: the money declaration covers every money flow of the cash stocks."""
    from pyloop.analysis.ledger import LedgerError, load_ledger

    if not declaration_path(model, "ledger").is_file():
        return []
    try:
        load_ledger(model)  # checks the declaration against the equations
    except LedgerError as exc:
        return [Finding("F001", "error", None, str(exc))]
    return []


def check_integration(model: Model) -> list[Finding]:
    """I001: halving TIME STEP moves no key output by more than 1 %."""
    from pyloop.runner import key_variables, run

    variables = key_variables(model, load_scenarios(model))
    if not variables:
        return []
    step = model.time.time_step
    coarse = run(model, return_columns=variables).frame
    fine = run(model, return_columns=variables, time_step=step / 2).frame
    start = model.time.initial_time + 0.1 * (model.time.final_time - model.time.initial_time)
    times = np.linspace(start, model.time.final_time, 40)
    times = coarse.index[np.searchsorted(coarse.index, times).clip(0, len(coarse) - 1)]
    found = []
    for variable in coarse.columns:  # one column per element of a subscripted variable
        scale = float(np.max(np.abs(coarse[variable].to_numpy())))
        if scale == 0:
            continue
        moved = float(np.max(np.abs(coarse.loc[times, variable].to_numpy() - fine.reindex(times)[variable].to_numpy())))
        if moved / scale > INTEGRATION_TOLERANCE:
            found.append(
                Finding(
                    "I001",
                    "error",
                    variable,
                    f"halving TIME STEP moves it by {100 * moved / scale:.2f} % of its range; "
                    "use a smaller TIME STEP or slower first-order controls",
                )
            )
    return found


def check_twin(model: Model) -> list[Finding]:
    """X001: the XMILE twin beside a .mdl records the .mdl's current SHA-256."""
    from pyloop.engine.simlin import file_digest, twin_source

    source = model.path
    twin = source.with_suffix(".xmile")
    if source.suffix.lower() != ".mdl" or not twin.is_file():
        return []
    try:
        recorded = twin_source(twin.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return []
    if recorded is None or recorded[0] != source.name:
        return []  # not a twin made from this file
    if recorded[1] == file_digest(source):
        return []
    return [Finding("X001", "error", None,
                    f"the XMILE twin {twin.name} was made from an earlier version of {source.name}; "
                    "refresh it with: pyloop export")]


#: Every check, in the order they run.
CHECKS: tuple[Callable[[Model], list[Finding]], ...] = (
    check_units,
    check_documentation,
    check_magic_numbers,
    check_diagram,
    check_loops,
    check_ledger,
    check_integration,
    check_twin,
    check_switching,
    check_loop_activity,
)


#: Codes of the findings that are errors in any model, whoever wrote it.
GENERIC_CODES = frozenset({"U002", "L001", "F001", "I001", "X001", "B001", "B002"})

#: Profile name -> (checks to run, codes kept or None for all).
PROFILES: dict[str, tuple[tuple[Callable[[Model], list[Finding]], ...], frozenset[str] | None]] = {
    "house": (CHECKS, None),
    "generic": ((check_units, check_loops, check_ledger, check_integration, check_twin, check_switching,
                 check_loop_activity), GENERIC_CODES),
}


@dataclass(frozen=True)
class CheckRun:
    """One check as run on a model.

    Attributes:
        codes: the finding codes it can give, e.g. ``"U001 and U002"``.
        what: what it checks, in a few words.
        findings: what it found (after the profile's filter).
    """

    codes: str
    what: str
    findings: tuple[Finding, ...]


def _describe(check: Callable[[Model], list[Finding]]) -> tuple[str, str]:
    """(codes, what) from the first line of a check's docstring, ``"CODES: what."``."""
    line = (check.__doc__ or check.__name__).strip().splitlines()[0]
    codes, _, what = line.partition(": ")
    return (codes, what.rstrip(".")) if what else (check.__name__, line)


def run_checks(
    model: Model,
    checks: Sequence[Callable[[Model], list[Finding]]] | None = None,
    profile: str = "house",
) -> list[CheckRun]:
    """Run the checks on a model, in order; one :class:`CheckRun` per check,
    with the findings the profile keeps. Arguments as for :func:`check_model`."""
    if profile not in PROFILES:
        raise PyloopError(f"unknown check profile '{profile}'; use one of {', '.join(PROFILES)}")
    default_checks, kept = PROFILES[profile]
    runs = []
    for check in default_checks if checks is None else checks:
        found = tuple(f for f in check(model) if kept is None or f.code in kept)
        runs.append(CheckRun(*_describe(check), found))
    return runs


def check_model(
    model: Model,
    checks: Sequence[Callable[[Model], list[Finding]]] | None = None,
    profile: str = "house",
) -> list[Finding]:
    """Run the checks on a model; findings sorted by severity, code, variable.

    Args:
        model: the loaded model.
        checks: the checks to run; default those of the profile.
        profile: ``"house"`` (every check and finding) or ``"generic"`` (only
            the findings in :data:`GENERIC_CODES`).

    Raises:
        PyloopError: an unknown profile.
    """
    found = [finding for ran in run_checks(model, checks, profile) for finding in ran.findings]
    order = {"error": 0, "warning": 1}
    return sorted(found, key=lambda f: (order.get(f.severity, 2), f.code, f.variable or ""))
