"""Link scores, loop scores and the loop analysis of a run (Loops That Matter)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from pyloop.errors import PyloopError
from pyloop.engine.pysd_model import Model
from pyloop.runner import RunResult, run
from pyloop.analysis.structure import DEFAULT_MAX_LOOPS, Loop, Structure, causal_structure, find_loops
from pyloop.engine.builtins import LaggedReference
from pyloop.declarations.catalogue import CatalogueLoop, _catalogue_cycle, load_catalogue, match_catalogue
from pyloop.engine.expressions import _ARITH, Evaluator, _ae, check_supported
from pyloop.analysis.loops.phases import Phase, dominance_phases, polarity_phases, run_polarity


# -------------------------------------------------------------- link scores
def _diff(values: Any, n: int) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.ndim:
        return np.diff(values)
    return np.zeros(n - 1)


def link_scores(
    structure: Structure, evaluator: Evaluator, links: Iterable[tuple[str, str]] | None = None
) -> dict[tuple[str, str], np.ndarray]:
    """Link score of every link (or of ``links``) over the run.

    Returns:
        ``{(cause, effect): scores}``, each array aligned with the run's
        time (0 at the first step).
    """
    time = evaluator.time
    n = len(time)
    tnow = time[1:]
    if links is None:
        links = [(k.cause, k.effect) for k in structure.links if k.kind != "constant"]
    links = list(links)
    net_cache: dict[str, np.ndarray] = {}
    out: dict[tuple[str, str], np.ndarray] = {}
    for cause, effect in links:
        link = structure.link(cause, effect)
        ds = np.zeros(n)
        dx = _diff(evaluator.values.get(cause), n)
        if link.kind == "flow":
            if effect not in net_cache:
                net_cache[effect] = np.diff(evaluator.net_flow(effect))
            dnet = net_cache[effect]
            if link.sign:
                with np.errstate(divide="ignore", invalid="ignore"):
                    ratio = np.where(dnet == 0, 0.0, dx / np.where(dnet == 0, 1.0, dnet))
                ds[1:] = link.sign * np.abs(ratio)
                out[(cause, effect)] = ds
                continue
            dz = dnet
            expr = evaluator.expression(effect)
            partial = evaluator.evaluate(expr, evaluator.partial(cause), tnow, effect)
            dxz = np.asarray(partial, dtype=float) - evaluator.net_flow(effect)[:-1]
        else:
            z = evaluator.values[effect]
            dz = np.diff(z)
            expr = evaluator.expression(effect)
            if isinstance(expr, LaggedReference):  # DELAY FIXED: moves as its input did
                ds[1:] = np.where(dz == 0, 0.0, 1.0)
                out[(cause, effect)] = ds
                continue
            partial = evaluator.evaluate(expr, evaluator.partial(cause), tnow, effect)
            dxz = np.asarray(partial, dtype=float) - z[:-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            magnitude = np.abs(dxz / np.where(dz == 0, 1.0, dz))
            sign = np.sign(dxz / np.where(dx == 0, 1.0, dx))
        ds[1:] = np.where((dz == 0) | (dx == 0), 0.0, magnitude * sign)
        out[(cause, effect)] = ds
    return out


def _combine(a: Any, b: Any) -> Any:
    """Sign of a sum of two terms with signs ``a`` and ``b`` (0: no
    dependence, NaN: unknown)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    out = np.where(a == 0, b, np.where((b == 0) | (a == b), a, np.nan))
    return out


def _sgn(value: Any) -> Any:
    return np.sign(np.asarray(value, dtype=float))


def _dsign(ev: "Evaluator", ast: Any, cause: str, where: str) -> Any:
    """Sign of the derivative of ``ast`` with respect to ``cause`` at every
    step, from the structure (MIN and MAX count as increasing in every
    argument) and the signs of the co-factors in the run."""
    ae = _ae()
    get, time = ev._get, ev.time

    def value(node: Any) -> Any:
        return ev.evaluate(node, get, time, where)

    def d(node: Any) -> Any:
        return _dsign(ev, node, cause, where)

    if isinstance(ast, (int, float, np.number, bool)):
        return 0.0
    if isinstance(ast, LaggedReference):
        return 1.0 if ev._name.get(ast.reference) == cause else 0.0
    if isinstance(ast, ae.ReferenceStructure):
        name = "Time" if ast.reference == "time" else ev._name.get(ast.reference)
        return 1.0 if name == cause else 0.0
    if isinstance(ast, ae.ArithmeticStructure):
        ops, args = ast.operators, ast.arguments
        if len(args) == 1:
            return -d(args[0]) if ops[0] == "negative" else d(args[0])
        left_v, left_s = value(args[0]), d(args[0])
        for op, arg in zip(ops, args[1:]):
            right_v, right_s = value(arg), d(arg)
            if op in "+-":
                left_s = _combine(left_s, right_s if op == "+" else -np.asarray(right_s))
            elif op == "*":
                left_s = _combine(np.asarray(left_s) * _sgn(right_v), np.asarray(right_s) * _sgn(left_v))
            elif op == "/":
                left_s = _combine(np.asarray(left_s) * _sgn(right_v), -np.asarray(right_s) * _sgn(left_v))
            else:  # power: increasing in a positive base for a positive exponent
                left_s = _combine(
                    np.asarray(left_s) * _sgn(right_v),
                    np.asarray(right_s) * _sgn(np.log(np.abs(np.asarray(left_v, dtype=float)) + 1e-300)),
                )
            with np.errstate(all="ignore"):
                left_v = _ARITH[op](left_v, right_v)
        return left_s
    if isinstance(ast, ae.CallStructure):
        func = ast.function.reference if hasattr(ast.function, "reference") else str(ast.function)
        args = ast.arguments
        signs = [d(a) for a in args]
        if func in ("min", "max"):
            return _combine(signs[0], signs[1])
        if func in ("exp", "sqrt", "ln", "integer", "arctan", "sinh", "tanh"):
            return signs[0]
        if func == "abs":
            return np.asarray(signs[0]) * _sgn(value(args[0]))
        if func in ("xidz", "zidz"):
            a, b = value(args[0]), value(args[1])
            return _combine(np.asarray(signs[0]) * _sgn(b), -np.asarray(signs[1]) * _sgn(a))
        if func == "if_then_else":
            if np.any(np.asarray(signs[0]) != 0):
                return np.nan
            return _combine(signs[1], signs[2])
        name = ev._name.get(func)
        if name is not None and name in ev._lookups:
            slope = np.diff(np.asarray(ev._lookups[name].y, dtype=float))
            mono = 1.0 if (slope >= 0).all() else -1.0 if (slope <= 0).all() else np.nan
            return np.asarray(signs[0]) * mono
        return np.where(np.any([np.asarray(x) != 0 for x in signs]), np.nan, 0.0)
    if isinstance(ast, ae.InlineLookupsStructure):
        slope = np.diff(np.asarray(ast.lookups.y, dtype=float))
        mono = 1.0 if (slope >= 0).all() else -1.0 if (slope <= 0).all() else np.nan
        return np.asarray(d(ast.argument)) * mono
    return np.nan


def link_polarity(structure: Structure, evaluator: "Evaluator", cause: str, effect: str) -> int:
    """Structural polarity of a link: +1, -1, or 0 when it cannot be told.

    A flow into a stock has its structural sign. Otherwise the sign of the
    derivative of the effect's equation with respect to the cause, read from
    the equation (MIN and MAX are increasing in every argument, whichever
    binds) with the co-factors' signs taken from the run, or, where the
    equation alone cannot tell (a ratio of terms that both rise with the
    cause), from a small step in the cause; it must be the same wherever it
    is defined.
    """
    link = structure.link(cause, effect)
    if link.kind == "flow" and link.sign:
        return link.sign
    expr = evaluator.expression(effect)
    signs = np.broadcast_to(
        np.asarray(_dsign(evaluator, expr, cause, effect), dtype=float), evaluator.time.shape
    ).copy()
    unknown = ~np.isfinite(signs)
    if unknown.any():  # not told by the structure: a small step in the cause
        x = np.asarray(evaluator.values[cause], dtype=float)
        h = 1e-6 * np.maximum(np.abs(x), 1e-6)
        get = evaluator._get

        def bumped(name: str) -> Any:
            return x + h if name == cause else get(name)

        with np.errstate(all="ignore"):
            up = evaluator.evaluate(expr, bumped, evaluator.time, effect)
            base = evaluator.evaluate(expr, get, evaluator.time, effect)
        numeric = np.broadcast_to(np.sign(np.asarray(up, dtype=float) - base), signs.shape)
        signs[unknown] = np.where(numeric[unknown] == 0, 0.0, numeric[unknown])
    known = signs[np.isfinite(signs) & (signs != 0)]
    if known.size and (known > 0).all() and np.isfinite(signs).all():
        return 1
    if known.size and (known < 0).all() and np.isfinite(signs).all():
        return -1
    return 0


def loop_polarity(
    structure: Structure, evaluator: "Evaluator", variables: Sequence[str]
) -> str:
    """Structural polarity of a loop: ``"R"``, ``"B"``, or ``"U"`` when a
    link's polarity cannot be told."""
    sign = 1
    for i, cause in enumerate(variables):
        sign *= link_polarity(structure, evaluator, cause, variables[(i + 1) % len(variables)])
    return "U" if sign == 0 else "R" if sign > 0 else "B"


# ------------------------------------------------------------ loop scoring
@dataclass(frozen=True)
class ScoredLoop(Loop):
    """A loop (:class:`pyloop.analysis.structure.Loop`) with its scores over a run.

    Attributes:
        id: catalogue id (``"R1"``) for a named loop, else ``"L<n>"``.
        name: catalogue name, or ``""``.
        polarity: ``"R"``, ``"B"`` or ``"U"`` over the run.
        polarity_confidence: share of the loop's activity with the
            majority sign (0 for a loop that is never active).
        structural_polarity: ``"R"`` or ``"B"`` from the signs of its
            links (see :func:`link_polarity`), ``"U"`` if one is unknown.
        expected_polarity: the catalogue's polarity, or None.
    """

    name: str
    polarity: str
    polarity_confidence: float
    structural_polarity: str = "U"
    expected_polarity: str | None = None


@dataclass(frozen=True)
class LoopAnalysis:
    """Loop dominance of one run.

    Attributes:
        run: the run's name.
        time: the run's times.
        loops: the loops reported, named loops first (catalogue order),
            then the others by decreasing mean absolute relative score.
        scores: loop scores, index ``time``, one column per loop id.
        relative: relative loop scores, same shape.
        phases: dominance phases, by partition then time
            (:func:`dominance_phases`).
        polarity_phases: intervals of reinforcing or balancing dominance
            (:func:`polarity_phases`).
        links: link scores ``{(cause, effect): array}`` of every link on a
            reported loop.
        mode: ``"exhaustive"`` (every loop of the model scored) or
            ``"discovery"`` (too many loops: a covering subset scored, and
            relative scores are shares of that subset).
        total_loops: number of loops the relative scores are shares of.
        catalogue: the catalogue entries, by id.
        unmatched: catalogue ids no loop matched.
        active_loops: how many of the ``total_loops`` have a non-zero loop
            score at some step of the run.
    """

    run: str
    time: np.ndarray = field(repr=False)
    loops: tuple[ScoredLoop, ...]
    scores: pd.DataFrame = field(repr=False)
    relative: pd.DataFrame = field(repr=False)
    phases: tuple[Phase, ...]
    polarity_phases: tuple[Phase, ...]
    links: Mapping[tuple[str, str], np.ndarray] = field(repr=False)
    mode: str
    total_loops: int
    catalogue: Mapping[str, CatalogueLoop] = field(default_factory=dict, repr=False)
    unmatched: tuple[str, ...] = ()
    active_loops: int = 0

    def loop(self, loop_id: str) -> ScoredLoop:
        """The reported loop with this id.

        Raises:
            PyloopError: unknown id.
        """
        for loop in self.loops:
            if loop.id == loop_id:
                return loop
        from pyloop.errors import suggest

        raise PyloopError(
            f"no loop '{loop_id}' in the analysis of run '{self.run}'"
            + suggest(loop_id, [k.id for k in self.loops])
        )

    def table(self) -> pd.DataFrame:
        """One row per loop: id, name, polarity, confidence, length, variables."""
        rows = [
            {
                "id": k.id,
                "name": k.name,
                "polarity": k.polarity,
                "confidence": k.polarity_confidence,
                "structural": k.structural_polarity,
                "length": k.length,
                "mean |relative|": float(np.abs(self.relative[k.id].to_numpy()).mean()),
                "variables": " -> ".join(k.variables),
            }
            for k in self.loops
        ]
        return pd.DataFrame(rows).set_index("id")

    def reinforcing_share(self, start: float, end: float) -> dict[int, float]:
        """Share of the steps in ``[start, end]`` in which reinforcing loops
        dominate, per cycle partition (:func:`polarity_phases`).

        Steps where no loop of a partition is active count for neither
        polarity; a partition without an active step in the window is left
        out.

        Raises:
            PyloopError: ``start`` not before ``end``, or a window that
                holds no time of the run.
        """
        if not start < end:
            raise PyloopError(f"the window must start before it ends, not {start:g} to {end:g}")
        inside = (self.time >= start - 1e-9) & (self.time <= end + 1e-9)
        if not inside.any():
            raise PyloopError(
                f"the window {start:g} to {end:g} holds no time of run '{self.run}' "
                f"({self.time[0]:g} to {self.time[-1]:g})"
            )
        reinforcing: dict[int, int] = {}
        labelled: dict[int, int] = {}
        for p in self.polarity_phases:
            steps = int((inside & (self.time >= p.start - 1e-9) & (self.time <= p.end + 1e-9)).sum())
            if steps:
                labelled[p.partition] = labelled.get(p.partition, 0) + steps
                if p.polarity == "R":
                    reinforcing[p.partition] = reinforcing.get(p.partition, 0) + steps
        return {part: reinforcing.get(part, 0) / n for part, n in sorted(labelled.items())}

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: ``time``, ``loops`` (with ``relative_score``
        aligned with ``time``) and ``phases``."""

        def num(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        return {
            "run": self.run,
            "mode": self.mode,
            "total_loops": self.total_loops,
            "active_loops": self.active_loops,
            "time": [float(t) for t in self.time],
            "loops": [
                {
                    "id": k.id,
                    "name": k.name,
                    "polarity": k.polarity,
                    "polarity_confidence": k.polarity_confidence,
                    "structural_polarity": k.structural_polarity,
                    "expected_polarity": k.expected_polarity,
                    "length": k.length,
                    "variables": list(k.variables),
                    "stocks": list(k.stocks),
                    "partition": k.partition,
                    "relative_score": [num(x) for x in self.relative[k.id].to_numpy()],
                }
                for k in self.loops
            ],
            "phases": [
                {
                    "start": p.start,
                    "end": p.end,
                    "loops": list(p.loops),
                    "partition": p.partition,
                    "polarity": p.polarity,
                }
                for p in self.phases
            ],
            "polarity_phases": [
                {
                    "start": p.start,
                    "end": p.end,
                    "polarity": p.polarity,
                    "loops": list(p.loops[:10]),
                    "partition": p.partition,
                }
                for p in self.polarity_phases
            ],
            "unmatched": list(self.unmatched),
        }


def _loop_products(
    loops: Sequence[tuple[str, ...]], scores: Mapping[tuple[str, str], np.ndarray], n: int
) -> np.ndarray:
    out = np.empty((len(loops), n))
    for i, v in enumerate(loops):
        prod = np.ones(n)
        for j in range(len(v)):
            prod = prod * scores[(v[j], v[(j + 1) % len(v)])]
        out[i] = prod
    return out


_CACHE: "weakref.WeakKeyDictionary[Model, dict]" = None  # type: ignore[assignment]


def _enumerate(structure: Structure, max_loops: int) -> tuple[tuple[Loop, ...], str]:
    try:
        return find_loops(structure, max_loops=max_loops, on_limit="error"), "exhaustive"
    except PyloopError as exc:
        if "feedback loops" not in str(exc):
            raise
        return find_loops(structure, max_loops=max_loops, on_limit="shortest"), "discovery"


def _structure_and_loops(model: Model, max_loops: int) -> tuple[Structure, tuple[Loop, ...], str]:
    """The model's structure and loops, computed once per model object."""
    global _CACHE
    import weakref

    if _CACHE is None:
        _CACHE = weakref.WeakKeyDictionary()
    entry = _CACHE.setdefault(model, {})
    if "structure" not in entry:
        entry["structure"] = causal_structure(model)
        check_supported(model)
    if max_loops not in entry:
        entry[max_loops] = _enumerate(entry["structure"], max_loops)
    return (entry["structure"], *entry[max_loops])



def loop_key(variables: Sequence[str]) -> tuple[str, ...]:
    """A loop's variables rotated to start at the alphabetically first one,
    the same for every rotation of the loop."""
    i = variables.index(min(variables))
    return tuple(variables[i:]) + tuple(variables[:i])


def pin_catalogue(
    structure: Structure, cycles: Sequence[Loop], catalogue: Sequence[CatalogueLoop]
) -> tuple[dict[str, tuple[str, ...]], list[str]]:
    """Each named loop's variables: as written when they close a loop, else
    the shortest loop found that contains them in order.

    Returns:
        ``(pinned, unmatched)``: catalogue id -> loop variables, and the ids
        no loop matches.
    """
    pinned: dict[str, tuple[str, ...]] = {}
    unmatched: list[str] = []
    for entry in catalogue:
        exact = _catalogue_cycle(structure, entry)
        if exact is not None:
            pinned[entry.id] = exact
    matched = match_catalogue(cycles, [e for e in catalogue if e.id not in pinned])
    for lid, loop in matched.items():
        if loop is None:
            unmatched.append(lid)
        else:
            pinned[lid] = loop.variables
    return pinned, unmatched


def named_extra_loops(
    structure: Structure, cycles: Sequence[Loop], pinned: Mapping[str, tuple[str, ...]]
) -> list[Loop]:
    """The named loops (``pinned``, see :func:`pin_catalogue`) that are not
    among ``cycles`` (a discovery set can miss them), as loops with their
    catalogue ids."""
    known = {loop_key(c.variables) for c in cycles}
    stocks = set(structure.stocks)
    out = []
    for lid, variables in pinned.items():
        if loop_key(variables) not in known:
            known.add(loop_key(variables))
            out.append(
                Loop(
                    id=lid,
                    variables=variables,
                    stocks=tuple(v for v in variables if v in stocks),
                    partition=structure.partition_of(variables[0]) or 0,
                )
            )
    return out


def run_evaluator(model: Model, result: RunResult) -> Evaluator:
    """An :class:`Evaluator` over a finished run, after checking that the run
    has every time step.

    Raises:
        PyloopError: fewer than 3 steps, or a run saved at a coarser
            interval than its time step.
    """
    frame = result.frame
    time = np.asarray(frame.index, dtype=float)
    if len(time) < 3:
        raise PyloopError(f"run '{result.name}' has fewer than 3 time steps to score")
    dt = float(result.constants.get("TIME STEP", model.time.time_step))
    steps = np.diff(time)
    if not np.allclose(steps, dt, rtol=1e-9, atol=1e-12):
        raise PyloopError(
            f"run '{result.name}' is saved every {steps[0]:g}, not every time step "
            f"({dt:g}); loop scores need every step (set SAVEPER = TIME STEP)"
        )
    return Evaluator(model, frame, dt, check=False)


def score_run(
    model: Model,
    result: RunResult,
    *,
    catalogue: Sequence[CatalogueLoop] | None = None,
    max_loops: int = DEFAULT_MAX_LOOPS,
    report: int = 20,
    structure: Structure | None = None,
) -> LoopAnalysis:
    """Loop dominance of a finished run.

    Args:
        model: the model the run belongs to.
        result: a run of ``model`` with every variable returned and one row
            per time step.
        catalogue: named loops; default the model's catalogue file.
        max_loops: the most loops enumerated; a model with more is scored in
            discovery mode (the named loops plus the shortest loop through
            every feedback link, relative scores as shares of those).
        report: how many unnamed loops to report besides the named ones
            (those with the largest mean absolute relative score, plus every
            loop in a dominance phase).
        structure: the model's causal structure, if already built.

    Raises:
        PyloopError: unsupported constructs (FORECAST, subscripts, ...), a run
            saved at a coarser interval than its time step, or a run
            without every variable.
    """
    if structure is None:
        structure, cycles, mode = _structure_and_loops(model, max_loops)
    else:
        check_supported(model)
        cycles, mode = _enumerate(structure, max_loops)
    if catalogue is None:
        catalogue = load_catalogue(model)
    evaluator = run_evaluator(model, result)
    time = evaluator.time
    n = len(time)
    pinned, unmatched = pin_catalogue(structure, cycles, catalogue)
    key = loop_key

    by_key = {key(c.variables): c for c in cycles}
    extra = named_extra_loops(structure, cycles, pinned) if mode == "discovery" else []
    by_key.update({key(c.variables): c for c in extra})
    every = list(cycles) + extra
    needed = {lk for c in every for lk in c.links}
    scores = link_scores(structure, evaluator, sorted(needed))

    names = {key(v): lid for lid, v in pinned.items()}
    n_parts = max(len(structure.partitions), 1)
    if len(every) > 2000:
        index = {lk: i for i, lk in enumerate(sorted(needed))}
        stack = np.array([scores[lk] for lk in sorted(needed)])
        zero = (stack == 0).astype(float)
        with np.errstate(divide="ignore"):
            log_abs = np.where(stack == 0, 0.0, np.log(np.abs(stack)))
        totals, strongest, active = _scan_all_loops(
            every, index, log_abs, zero, n_parts, report * 5
        )
        candidates = list(dict.fromkeys([by_key[k] for k in names] + strongest))
    else:
        candidates = every
        totals = None
    raw = _loop_products([c.variables for c in candidates], scores, n)
    if candidates is every:
        active = int((np.isfinite(raw) & (raw != 0)).any(axis=1).sum())
    if totals is None:
        totals = np.zeros((n_parts, n))
        for i, c in enumerate(candidates):
            totals[c.partition] += np.abs(raw[i])
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.array(
            [
                np.where(totals[c.partition] > 0, raw[i] / np.where(totals[c.partition] > 0, totals[c.partition], 1.0), 0.0)
                for i, c in enumerate(candidates)
            ]
        ).reshape(len(candidates), n)

    ids = [names.get(key(c.variables), c.id) for c in candidates]
    rel_frame = pd.DataFrame(rel.T, index=pd.Index(time, name="time"), columns=ids)
    part_map = {lid: c.partition for lid, c in zip(ids, candidates)}
    phases = dominance_phases(rel_frame, part_map)

    # choose the loops to report
    order = [i for i in range(len(candidates)) if ids[i] in pinned]
    order.sort(key=lambda i: [e.id for e in catalogue].index(ids[i]))
    in_phase = {lid for p in phases for lid in p.loops}
    mean_abs = np.abs(rel).mean(axis=1)
    rest = [i for i in np.argsort(-mean_abs, kind="stable") if ids[i] not in pinned]
    chosen = [i for i in rest if ids[i] in in_phase]
    chosen += [i for i in rest if ids[i] not in in_phase][: max(report - len(chosen), 0)]
    chosen = order + sorted(chosen, key=lambda i: -mean_abs[i])

    cat = {e.id: e for e in catalogue}
    reported = []
    for i in chosen:
        c = candidates[i]
        pol, conf = run_polarity(rel[i])
        entry = cat.get(ids[i])
        reported.append(
            ScoredLoop(
                id=ids[i],
                name=entry.name if entry else "",
                variables=c.variables,
                stocks=c.stocks,
                partition=c.partition,
                polarity=pol,
                polarity_confidence=conf,
                structural_polarity=loop_polarity(structure, evaluator, c.variables),
                expected_polarity=entry.polarity if entry else None,
            )
        )
    keep = [ids[i] for i in chosen]
    raw_frame = pd.DataFrame(raw.T, index=pd.Index(time, name="time"), columns=ids)[keep]
    link_keep = {lk for r in reported for lk in r.links}
    return LoopAnalysis(
        run=result.name,
        time=time,
        loops=tuple(reported),
        scores=raw_frame,
        relative=rel_frame[keep],
        phases=phases,
        polarity_phases=polarity_phases(rel_frame, part_map),
        links=MappingProxyType({lk: scores[lk] for lk in link_keep}),
        mode=mode,
        total_loops=len(every),
        catalogue=MappingProxyType(cat),
        unmatched=tuple(unmatched),
        active_loops=active,
    )


def _scan_all_loops(
    loops: Sequence[Loop],
    index: Mapping[tuple[str, str], int],
    log_abs: np.ndarray,
    zero: np.ndarray,
    n_partitions: int,
    count: int,
    chunk: int = 4096,
) -> tuple[np.ndarray, list[Loop], int]:
    """One pass over every loop, chunk by chunk, with each loop's |score|
    computed as exp(sum of log |link score|).

    Returns:
        The sum of |loop score| per partition and time step, the ``count``
        loops with the largest peak |loop score| plus each step's strongest
        loop, and the number of loops with a non-zero score at some step.
    """
    from scipy import sparse

    n = log_abs.shape[1]
    totals = np.zeros((n_partitions, n))
    parts = np.array([c.partition for c in loops])
    best: list[tuple[float, int]] = []
    step_best = np.full(n, -np.inf)
    step_arg = np.full(n, -1)
    active = 0
    for start in range(0, len(loops), chunk):
        block = loops[start : start + chunk]
        rows, cols = [], []
        for r, c in enumerate(block):
            for lk in c.links:
                rows.append(r)
                cols.append(index[lk])
        inc = sparse.csr_matrix(
            (np.ones(len(rows)), (rows, cols)), shape=(len(block), log_abs.shape[0])
        )
        logs = np.where((inc @ zero) > 0, -np.inf, inc @ log_abs)
        mags = np.exp(logs)
        bp = parts[start : start + chunk]
        for p in np.unique(bp):
            totals[p] += mags[bp == p].sum(axis=0)
        peak = logs.max(axis=1)
        active += int(np.isfinite(logs).any(axis=1).sum())
        for r in np.argsort(-peak)[:count]:
            best.append((float(peak[r]), start + int(r)))
        arg = logs.argmax(axis=0)
        val = logs[arg, np.arange(n)]
        better = val > step_best
        step_best[better] = val[better]
        step_arg[better] = start + arg[better]
    best.sort(reverse=True)
    picked = [i for _, i in best[:count]] + [int(i) for i in step_arg if i >= 0]
    return totals, [loops[i] for i in dict.fromkeys(picked)], active


def analyze_loops(
    model: Model | str | os.PathLike[str],
    scenario: str | None = None,
    policy: str | None = None,
    params: Mapping[str, float] | None = None,
    *,
    catalogue: Sequence[CatalogueLoop] | None = None,
    max_loops: int = DEFAULT_MAX_LOOPS,
    report: int = 20,
) -> LoopAnalysis:
    """Run a model (scenario, policy, constants as :func:`pyloop.run`) and
    analyse its loop dominance (:func:`score_run`)."""
    from pyloop.engine.pysd_model import load_model

    model = model if isinstance(model, Model) else load_model(model)
    _structure_and_loops(model, max_loops)  # unsupported constructs fail before the run
    result = run(model, scenario, policy, params)
    return score_run(model, result, catalogue=catalogue, max_loops=max_loops, report=report)


