"""Which loops drive one variable: per-variable loop dominance.

The partition-wide shares of :mod:`pyloop.analysis.loops.scores` weigh every loop of
a cycle partition against every other, so fast one-stock adjustment loops
that never touch a variable can outweigh the loops that move it. This module
answers for one variable ``X`` over a window, from the same loop scores
(Schoenberg, Hayward & Eberlein 2023, *SDR* 39(2); weighting by the
system's change as in Schoenberg, Eberlein & Davidsen 2023; loop impact on
one stock as in Hayward & Boswell 2014):

* **Behaviour polarity**: the share of steps in which ``X`` accelerates away
  from where it was (``dX * d2X > 0``, where ``dX(t) = X(t) - X(t - dt)``
  and ``d2X(t) = dX(t) - dX(t - dt)``).
* **Loops**: the loops through ``X`` among those the model's analysis
  scores; in discovery mode (too many loops to enumerate) also the strongest
  loops through ``X`` found by a strongest-path search at
  :data:`SEARCH_STEPS` steps of the window
  (:mod:`pyloop.analysis.loops.strongest`).
* **Loop groups**: the loops through ``X``, their signed loop scores summed
  within groups of loops that pass through the same set of stocks, so that
  near-cancelling twins (the two loops a ratio creates) net out.
* **Reinforcing share**: at each step ``P / A`` with ``P`` the sum of the
  positive group sums and ``A`` the sum of the absolute group sums; over the
  window the steps are weighted by ``|d2X|`` (steps where ``X`` changes its
  course count most).
* **Agreement share**: the ``|d2X|``-weighted share of steps in which the
  sign of the net score (the sum of the group sums) matches the behaviour
  (positive while ``X`` accelerates away, negative while it settles); a
  check of how much the loops explain.
* **Phases**: consecutive steps in which reinforcing groups hold at least
  half of ``A`` (``"R"``) or not (``"B"``), each with its leading groups.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from pyloop.errors import PyloopError
from pyloop.engine import Model
from pyloop.runner import RunResult
from pyloop.analysis.structure import DEFAULT_MAX_LOOPS
from pyloop.engine.builtins import stock_names
from pyloop.declarations.catalogue import CatalogueLoop, load_catalogue
from pyloop.analysis.loops.scores import (
    _loop_products,
    link_scores,
    loop_key,
    named_extra_loops,
    pin_catalogue,
    run_evaluator,
    structure_and_loops,
)
from pyloop.analysis.loops.strongest import strongest_loops_through

__all__ = [
    "SEARCH_STEPS",
    "LoopGroup",
    "VariableDominance",
    "VariablePhase",
    "analyze_variable",
    "variable_dominance",
]

#: Time steps of the window at which a discovery-mode analysis searches the
#: strongest loops through the variable (evenly spaced; all when fewer).
SEARCH_STEPS = 32


@dataclass(frozen=True)
class LoopGroup:
    """Loops through a variable that pass through the same set of stocks.

    Attributes:
        stocks: the stocks every loop of the group passes through.
        loops: ids of the loops (catalogue ids where named, else ``L<n>``).
        names: catalogue names of the named loops in the group.
        label: how reports name the group: the catalogue ids and names
            where the group holds named loops, else its stocks.
        score: the sum of the group's signed loop scores at each step
            (0 at the first step).
        share: the group's signed share of the step's total absolute group
            score, in ``[-1, 1]``.
    """

    stocks: tuple[str, ...]
    loops: tuple[str, ...]
    names: tuple[str, ...]
    label: str
    score: np.ndarray = field(repr=False)
    share: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class VariablePhase:
    """An interval in which one polarity of loops drives a variable.

    Attributes:
        start, end: first and last time of the interval.
        polarity: ``"R"`` (reinforcing groups hold at least half the absolute
            group score) or ``"B"``.
        leading: labels of the groups of that polarity with the largest
            mean share over the interval, strongest first.
        shares: their mean shares over the interval (signed).
    """

    start: float
    end: float
    polarity: str
    leading: tuple[str, ...]
    shares: tuple[float, ...]


@dataclass(frozen=True)
class VariableDominance:
    """Loop dominance of one variable over a window of a run.

    Attributes:
        variable: the variable's name.
        run: the run's name.
        window: ``(start, end)`` of the window.
        time: the run's times.
        behaviour_polarity: share of the window's steps in which the
            variable accelerates away (``dX * d2X > 0``) among the steps in
            which it accelerates or decelerates at all; NaN if it never does.
        reinforcing_share: ``|d2X|``-weighted mean over the window of the
            reinforcing groups' share of the absolute group score; NaN if no
            loop through the variable is active while it changes course.
        agreement: ``|d2X|``-weighted share of the window's steps in which
            the sign of the net group score matches the behaviour; NaN as
            above.
        groups: the loop groups, strongest (mean absolute share over the
            window) first.
        phases: the window's polarity phases.
        net: the net group score (sum of the group scores) at each step.
        mode: ``"exhaustive"`` or ``"discovery"`` (see :func:`score_run`).
    """

    variable: str
    run: str
    window: tuple[float, float]
    time: np.ndarray = field(repr=False)
    behaviour_polarity: float
    reinforcing_share: float
    agreement: float
    groups: tuple[LoopGroup, ...]
    phases: tuple[VariablePhase, ...]
    net: np.ndarray = field(repr=False)
    mode: str = "exhaustive"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (NaN as None)."""

        def num(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        return {
            "variable": self.variable,
            "run": self.run,
            "window": list(self.window),
            "mode": self.mode,
            "behaviour_polarity": num(self.behaviour_polarity),
            "reinforcing_share": num(self.reinforcing_share),
            "agreement": num(self.agreement),
            "time": [float(t) for t in self.time],
            "groups": [
                {
                    "label": g.label,
                    "stocks": list(g.stocks),
                    "loops": list(g.loops),
                    "names": list(g.names),
                    "share": [num(x) for x in g.share],
                }
                for g in self.groups
            ],
            "phases": [
                {
                    "start": p.start,
                    "end": p.end,
                    "polarity": p.polarity,
                    "leading": list(p.leading),
                    "shares": [num(s) for s in p.shares],
                }
                for p in self.phases
            ],
        }


def _window(time: np.ndarray, window: tuple[float, float] | None, run: str) -> np.ndarray:
    if window is None:
        return np.ones(len(time), dtype=bool)
    start, end = (float(w) for w in window)
    if not start < end:
        raise PyloopError(f"the window must start before it ends, not {start:g} to {end:g}")
    inside = (time >= start - 1e-9) & (time <= end + 1e-9)
    if not inside.any():
        raise PyloopError(
            f"the window {start:g} to {end:g} holds no time of run '{run}' "
            f"({time[0]:g} to {time[-1]:g})"
        )
    return inside


def _describe(stocks: Sequence[str], count: int) -> str:
    what = "loop" if count == 1 else f"{count} loops"
    if not stocks:
        return f"{what} without a stock"
    return f"{what} through {', '.join(stocks)}"


def _weighted(values: np.ndarray, weights: np.ndarray) -> float:
    ok = np.isfinite(values) & (weights > 0)
    if not ok.any():
        return float("nan")
    return float((values[ok] * weights[ok]).sum() / weights[ok].sum())


def variable_dominance(
    model: Model,
    result: RunResult,
    variable: str,
    window: tuple[float, float] | None = None,
    *,
    catalogue: Sequence[CatalogueLoop] | None = None,
    max_loops: int = DEFAULT_MAX_LOOPS,
    leading: int = 3,
) -> VariableDominance:
    """Which loops drive ``variable`` over ``window`` of a finished run.

    Args:
        model: the model the run belongs to.
        result: a run with every variable returned and one row per step.
        variable: any spelling of a stock, flow or auxiliary.
        window: ``(start, end)``; default the whole run.
        catalogue: named loops; default the model's catalogue file.
        max_loops: as in :func:`score_run`.
        leading: how many groups each phase names.

    Raises:
        PyloopError: an unknown variable, a constant, a variable on no
            feedback loop, a bad window, or the errors of :func:`score_run`.
    """
    name = model.variable(variable).name
    structure, cycles, mode = structure_and_loops(model, max_loops)
    kind = structure.kinds.get(name)
    if kind not in ("stock", "flow", "aux"):
        raise PyloopError(f"'{name}' is a {kind}, not a variable that loops can drive")
    if catalogue is None:
        catalogue = load_catalogue(model)
    pinned, _ = pin_catalogue(structure, cycles, catalogue)
    every = list(cycles) + named_extra_loops(structure, cycles, pinned)
    through = [c for c in every if name in c.variables]
    if not through:
        raise PyloopError(f"'{name}' lies on no feedback loop of model '{model.name}'")
    evaluator = run_evaluator(model, result)
    time = evaluator.time
    inside = _window(time, window, result.name)
    n = len(time)

    if mode == "discovery":
        # the discovery set holds the shortest loop through each link, not
        # necessarily the strongest through this variable: search those too
        part = structure.partition_of(name)
        every_link = [
            (k.cause, k.effect)
            for k in structure.links
            if k.kind != "constant" and structure.partition_of(k.cause) == part == structure.partition_of(k.effect)
        ]
        scores = link_scores(structure, evaluator, every_link)
        steps = np.flatnonzero(inside)
        steps = steps[np.unique(np.linspace(0, len(steps) - 1, min(SEARCH_STEPS, len(steps))).astype(int))]
        through += strongest_loops_through(structure, scores, name, steps, [c.variables for c in every])
    else:
        scores = link_scores(structure, evaluator, sorted({lk for c in through for lk in c.links}))
    raw = _loop_products([c.variables for c in through], scores, n)
    named = {loop_key(v): lid for lid, v in pinned.items()}
    cat = {e.id: e for e in catalogue}

    members: dict[tuple[str, ...], list[int]] = {}
    for i, c in enumerate(through):
        members.setdefault(tuple(sorted(c.stocks)), []).append(i)
    sums = np.array([raw[idx].sum(axis=0) for idx in members.values()])
    sums = np.nan_to_num(sums, nan=0.0, posinf=0.0, neginf=0.0)
    total = np.abs(sums).sum(axis=0)
    positive = np.where(sums > 0, sums, 0.0).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = np.where(total > 0, sums / np.where(total > 0, total, 1.0), 0.0)
        step_share = np.where(total > 0, positive / np.where(total > 0, total, 1.0), np.nan)
    net = sums.sum(axis=0)

    x = np.asarray(evaluator.values[name], dtype=float)
    dx = np.zeros(n)
    dx[1:] = np.diff(x)
    d2x = np.zeros(n)
    d2x[2:] = np.diff(dx[1:])
    away = dx * d2x
    moving = inside & (away != 0)
    behaviour = float((away[moving] > 0).mean()) if moving.any() else float("nan")
    weight = np.where(inside & (total > 0), np.abs(d2x), 0.0)
    reinforcing = _weighted(step_share, weight)
    agree = np.where(np.sign(net) == np.sign(away), 1.0, 0.0)
    agreement = _weighted(agree, np.where(away != 0, weight, 0.0))

    groups = []
    for (stocks, idx), score, share in zip(members.items(), sums, shares):
        ids = [named.get(loop_key(through[i].variables), through[i].id) for i in idx]
        names = tuple(cat[lid].name for lid in ids if lid in cat)
        label = (
            "; ".join(f"{lid} {cat[lid].name}" for lid in ids if lid in cat)
            if names
            else _describe(stocks, len(idx))
        )
        if not names:
            label = _describe(stock_names(stocks, model), len(idx))
        groups.append(LoopGroup(stocks, tuple(ids), names, label, score, share))
    strength = np.abs(shares[:, inside]).mean(axis=1)
    order = np.argsort(-strength, kind="stable")
    groups = [groups[i] for i in order]
    shares = shares[order]

    label = np.where(~np.isfinite(step_share), "", np.where(step_share >= 0.5, "R", "B"))
    label[~inside] = ""
    phases = []
    start = 0
    for i in range(1, n + 1):
        if i == n or label[i] != label[start]:
            if label[start]:
                sign = 1.0 if label[start] == "R" else -1.0
                mean = shares[:, start:i].mean(axis=1) * sign
                # groups holding under 1 % of the score are not leading anything
                top = [j for j in np.argsort(-mean, kind="stable") if mean[j] >= 0.01]
                top = top[:leading] or [int(np.argmax(mean))]
                phases.append(
                    VariablePhase(
                        float(time[start]),
                        float(time[i - 1]),
                        str(label[start]),
                        tuple(groups[j].label for j in top),
                        tuple(float(mean[j] * sign) for j in top),
                    )
                )
            start = i
    span = (float(time[inside][0]), float(time[inside][-1]))
    return VariableDominance(
        variable=name,
        run=result.name,
        window=span,
        time=time,
        behaviour_polarity=behaviour,
        reinforcing_share=reinforcing,
        agreement=agreement,
        groups=tuple(groups),
        phases=tuple(phases),
        net=net,
        mode=mode,
    )


def analyze_variable(
    model: Any,
    variable: str,
    window: tuple[float, float] | None = None,
    scenario: str | None = None,
    policy: str | None = None,
    params: Mapping[str, float] | None = None,
    **options: Any,
) -> VariableDominance:
    """Run a model (as :func:`pyloop.run`) and find which loops drive
    ``variable`` (:func:`variable_dominance`).

    Example::

        d = pyloop.analyze_variable(
            "models/ai_circular_finance.mdl", "AI Lab Cash", (2026, 2028), "music_stops"
        )
        d.reinforcing_share, [p.polarity for p in d.phases]

    Args:
        model: a loaded model or a model file.
        variable: any spelling of a stock, flow or auxiliary.
        window: ``(start, end)`` in the model's time units; default the whole
            run.
        scenario, policy, params: the run, as in :func:`pyloop.run`.
        options: ``catalogue``, ``max_loops`` and ``leading``, as in
            :func:`variable_dominance`.

    Raises:
        PyloopError: an unknown variable or an unsupported model (before the
            run), or the errors of :func:`pyloop.run` and
            :func:`variable_dominance`.
    """
    from pyloop.engine import load_model
    from pyloop.runner import run

    model = model if isinstance(model, Model) else load_model(model)
    model.variable(variable)
    structure_and_loops(model, options.get("max_loops", DEFAULT_MAX_LOOPS))
    result = run(model, scenario, policy, params)
    return variable_dominance(model, result, variable, window, **options)

