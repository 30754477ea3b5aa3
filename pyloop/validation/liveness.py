"""Whether the feedback loops of a model ever act: two quality checks.

* **B001**, a branch that never switches: a MIN, MAX or IF THEN ELSE on a
  feedback loop whose selector (which argument MIN or MAX picks, whether the
  IF's condition holds) takes the same branch at every saved step of every
  declared run: each scenario of the scenario file, and each policy applied
  on the ``baseline`` scenario (the model's defaults when there is none).
  Exact ties count as neither branch, and a selector that only ever ties is
  not reported. A selector over constants alone (a policy switch) whose
  values differ between runs is a lever, not a limit, and is left alone.
  Without a scenario file the check does nothing.
* **B002**, a named loop that is mostly off: a loop of the catalogue
  (``X.loops.toml``) whose Loops-That-Matter score (the product of its
  link scores, see :mod:`pyloop.analysis.loops`) is zero in more than
  :data:`ZERO_SHARE` of the baseline run's steps (the initial step, zero
  by convention, left out).

The variables B001 looks at are those of the named loops when the model has
a catalogue, else those on any feedback loop. A model the loop analysis
cannot handle (subscripts, FORECAST, ...) gets no finding from either check:
``pyloop loops`` says why it cannot be scored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from pyloop.engine import Evaluator, Model, reference_name, references
from pyloop.engine.builtins import expand_builtins
from pyloop.engine.expressions import ExpressionVisitor, net_flow_expression, nodes
from pyloop.errors import PyloopError
from pyloop.validation.findings import Finding

__all__ = ["RELATIVE_ZERO", "SELECTORS", "ZERO_SHARE", "check_loop_activity", "check_switching"]

#: Functions whose branch B001 follows, by the name PySD gives them.
SELECTORS = {"min": "MIN", "max": "MAX", "if_then_else": "IF THEN ELSE"}
#: Share of the baseline steps above which a named loop scoring zero is reported.
ZERO_SHARE = 0.75
#: A loop score below this fraction of its largest absolute value counts as zero.
RELATIVE_ZERO = 1e-12

_ORDINAL = ("first", "second")


# ------------------------------------------------------------- loops
def _named_loops(model: Model, catalogue: Iterable[Any]) -> tuple[Any, dict[str, tuple[str, ...]]]:
    """The causal structure and each named loop's variables (catalogue id ->
    variables); entries that match no loop of the model are left out (L001
    reports them)."""
    from pyloop.analysis.loops.scores import pin_catalogue
    from pyloop.analysis.structure import causal_structure, find_loops
    from pyloop.declarations.catalogue import catalogue_cycle

    catalogue = list(catalogue)
    structure = causal_structure(model)
    if all(catalogue_cycle(structure, entry) is not None for entry in catalogue):
        cycles: tuple = ()  # every entry closes a loop as written
    else:
        cycles = find_loops(structure, on_limit="shortest")
    pinned, _ = pin_catalogue(structure, cycles, catalogue)
    return structure, pinned


def _loop_variables(model: Model) -> set[str]:
    """Variables on a named loop (with a catalogue), else on any feedback loop."""
    from pyloop.declarations.catalogue import load_catalogue

    catalogue = load_catalogue(model)
    structure, pinned = _named_loops(model, catalogue)
    if catalogue:
        return {v for variables in pinned.values() for v in variables}
    return {v for v in structure.causal_variables if structure.partition_of(v) is not None}


# --------------------------------------------------------- selectors
class _CallFinder(ExpressionVisitor):
    """The MIN, MAX or IF THEN ELSE call a node is, or None."""

    def visit_call(self, node: Any) -> tuple[str, Any] | None:
        function = getattr(node.function, "reference", str(node.function))
        return (function, node) if function in SELECTORS else None

    def visit_other(self, node: Any) -> None:
        return None


class _Quote(ExpressionVisitor):
    """A short quote of an argument: a number, a variable's name, or ``...``."""

    def __init__(self, names: Mapping[str, str]):
        self.names = names

    def visit_number(self, node: Any) -> str:
        return f"{float(node):g}"

    def visit_reference(self, node: Any) -> str:
        return "Time" if node.reference == "time" else self.names.get(node.reference, "...")

    def visit_other(self, node: Any) -> str:
        return "..."


@dataclass
class _Selector:
    """One MIN, MAX or IF THEN ELSE call in a variable's equation, and what
    it selected over the runs so far.

    Attributes:
        variable: the variable whose equation holds the call.
        function: ``"min"``, ``"max"`` or ``"if_then_else"``.
        call: the call's syntax tree.
        quote: the call as a message shows it, e.g. ``"MAX(0, ...)"``.
        taken: how many steps took the first and the second branch.
        levers: values of the inputs in each run, when they read constants only.
    """

    variable: str
    function: str
    call: Any
    quote: str
    taken: list[int] = field(default_factory=lambda: [0, 0])
    levers: set[tuple[float, ...]] | None = None

    @property
    def inputs(self) -> list[Any]:
        """The arguments that choose the branch: both of MIN and MAX, the
        condition of IF THEN ELSE."""
        count = 1 if self.function == "if_then_else" else 2
        return list(self.call.arguments[:count])

    def record(self, values: list[np.ndarray]) -> None:
        """Count the branches taken at each step, from the inputs' values."""
        if self.function == "if_then_else":
            condition = values[0][np.isfinite(values[0])]
            first, second = condition != 0, condition == 0
        else:
            a, b = values
            first, second = (a < b, a > b) if self.function == "min" else (a > b, a < b)
        self.taken[0] += int(np.count_nonzero(first))
        self.taken[1] += int(np.count_nonzero(second))

    def finding(self) -> Finding | None:
        """B001 when one branch was taken and the other never, unless the
        inputs are constants that differ between runs."""
        if min(self.taken) > 0 or max(self.taken) == 0:
            return None
        if self.levers is not None and len(self.levers) > 1:
            return None
        if self.function == "if_then_else":
            branch = "then branch (its condition is always true)" if self.taken[0] else \
                "else branch (its condition is never true)"
            what = f"always takes its {branch} in every scenario and policy; a switch that never flips"
        else:
            taken = _ORDINAL[0] if self.taken[0] else _ORDINAL[1]
            what = f"always takes its {taken} argument in every scenario and policy; a limit that never binds"
        return Finding("B001", "error", self.variable, f"{self.quote} {what} is a constant, not a loop")


def _selectors(model: Any, variables: Iterable[str], names: Mapping[str, str]) -> list[_Selector]:
    """Every MIN, MAX and IF THEN ELSE call in the equations of ``variables``
    (a stock's net flow only: its initial value is on no loop)."""
    find, quote = _CallFinder(), _Quote(names)
    out = []
    for variable in sorted(variables):
        equation = model.equations.get(variable)
        if equation is None or equation.ast is None:
            continue
        for node in nodes(net_flow_expression(equation.ast)):
            hit = find.visit(node)
            if hit is not None:
                function, call = hit
                shown = ", ".join(quote.visit(argument) for argument in call.arguments)
                out.append(_Selector(variable, function, call, f"{SELECTORS[function]}({shown})"))
    return out


def _read_names(selector: _Selector, names: Mapping[str, str]) -> set[str] | None:
    """Variables the selector's inputs read (``Time`` left out), or None when
    one is not a variable of the model (an internal stock of a SMOOTH)."""
    read = {r for argument in selector.inputs for r in references(argument) if r != "time"}
    known = {names[r] for r in read if r in names}
    return known if len(known) == len(read) else None


def _declared_runs(scenarios: Any) -> list[tuple[str | None, str | None]]:
    """(scenario, policy) of every declared run: each scenario, then each
    policy on the baseline (the model's defaults without a ``baseline``)."""
    baseline = "baseline" if "baseline" in scenarios.scenarios else None
    runs = [(name, None) for name in scenarios.scenarios]
    runs += [(baseline, policy) for policy in scenarios.policies]
    return runs or [(None, None)]


def check_switching(model: Model) -> list[Finding]:
    """B001: every MIN, MAX and IF THEN ELSE on a loop switches in some declared run."""
    from pyloop.declarations.scenarios import load_scenarios
    from pyloop.runner import plan_runs, run_together

    scenarios = load_scenarios(model)
    if scenarios.path is None:
        return []
    try:
        on_loops = _loop_variables(model)
    except PyloopError:
        return []  # no loop analysis of this model
    expanded = expand_builtins(model)
    names = {v.py_name: v.name for v in expanded.variables}
    names.update({reference_name(v.name): v.name for v in expanded.variables})
    selectors = _selectors(expanded, on_loops, names)
    if not selectors:
        return []
    kinds = {v.name: v.kind for v in expanded.variables}
    read = [_read_names(s, names) for s in selectors]
    for selector, used in zip(selectors, read):
        if used is not None and all(kinds.get(name) == "constant" for name in used):
            selector.levers = set()
    # a SMOOTH or DELAY is integrated from its inputs: then every column
    columns = (None if getattr(expanded, "builtins", ()) or None in read
               else sorted(set().union(*read, {s.variable for s in selectors})))
    live = list(selectors)
    plans = [plan_runs(model, [scenario], policy, scenarios=scenarios, return_columns=columns,
                       time_step=model.time.time_step)[0] for scenario, policy in _declared_runs(scenarios)]
    for result in run_together(model, plans, raise_failure=True):  # they differ only in constants
        try:
            evaluator = Evaluator(model, result.frame, model.time.time_step, check=False)
        except PyloopError:
            return []  # no loop analysis of this model
        for selector in list(live):
            try:
                values = _input_values(evaluator, selector)
            except PyloopError:
                live.remove(selector)  # cannot be evaluated: no finding
                continue
            selector.record(values)
            if selector.levers is not None:
                selector.levers.add(tuple(float(v[0]) for v in values))
    return [f for f in (s.finding() for s in live) if f is not None]


def _input_values(evaluator: Evaluator, selector: _Selector) -> list[np.ndarray]:
    """The values of a selector's inputs at every step of the evaluator's run."""
    out = []
    for argument in selector.inputs:
        value = evaluator.evaluate(argument, evaluator.current(), evaluator.time, selector.variable)
        out.append(np.broadcast_to(np.asarray(value, dtype=float), evaluator.time.shape))
    return out


# ------------------------------------------------------ loop activity
def zero_share(score: np.ndarray) -> float:
    """Share of the steps after the first where a loop score is zero (or below
    :data:`RELATIVE_ZERO` of its largest absolute value)."""
    steps = np.abs(np.asarray(score, dtype=float)[1:])
    if steps.size == 0:
        return 0.0
    finite = np.isfinite(steps)
    peak = float(steps[finite].max()) if finite.any() else 0.0
    return float(np.count_nonzero(finite & (steps <= RELATIVE_ZERO * peak))) / steps.size


def check_loop_activity(model: Model) -> list[Finding]:
    """B002: no named loop scores zero in more than three quarters of the baseline steps."""
    from pyloop.analysis.loops.links import link_scores
    from pyloop.analysis.loops.scores import run_evaluator
    from pyloop.declarations.catalogue import load_catalogue
    from pyloop.declarations.scenarios import load_scenarios
    from pyloop.runner import run

    try:
        catalogue = load_catalogue(model)
    except PyloopError:
        return []  # a catalogue that does not fit the model: L001 and L002 say why
    if not catalogue:
        return []
    scenarios = load_scenarios(model)
    baseline = "baseline" if "baseline" in scenarios.scenarios else None
    try:
        structure, pinned = _named_loops(model, catalogue)
        result = run(model, baseline, scenarios=scenarios, time_step=model.time.time_step)
        evaluator = run_evaluator(model, result)
        needed = sorted({(v[i], v[(i + 1) % len(v)]) for v in pinned.values() for i in range(len(v))})
        scores = link_scores(structure, evaluator, needed)
    except PyloopError:
        return []  # no loop analysis of this model
    found = []
    for entry in catalogue:
        variables = pinned.get(entry.id)
        if variables is None:
            continue
        score = np.prod([scores[(c, e)] for c, e in zip(variables, variables[1:] + variables[:1])], axis=0)
        share = zero_share(score)
        if share > ZERO_SHARE:
            found.append(Finding(
                "B002", "error", None,
                f"{entry.id} {entry.name} scores zero in {100 * share:.0f} % of baseline steps; "
                "a MIN, MAX or IF on it probably never switches"))
    return found
