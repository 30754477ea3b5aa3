"""Scoring a run's loops (Loops That Matter): which loops to score, the loop
scores and relative scores, and :func:`score_run` / :func:`analyze_loops`,
which build a :class:`~pyloop.analysis.loops.results.LoopAnalysis`.

Link scores and polarities live in :mod:`~pyloop.analysis.loops.links`; the
result classes in :mod:`~pyloop.analysis.loops.results`.
"""

from __future__ import annotations

import os
import weakref
from types import MappingProxyType
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from pyloop.errors import PyloopError
from pyloop.engine import Model
from pyloop.runner import RunResult, run
from pyloop.analysis.structure import DEFAULT_MAX_LOOPS, Loop, Structure, causal_structure, find_loops
from pyloop.declarations.catalogue import CatalogueLoop, catalogue_cycle, load_catalogue, match_catalogue
from pyloop.engine.evaluator import Evaluator, check_supported
from pyloop.analysis.loops.links import link_polarity, link_scores, loop_polarity
from pyloop.analysis.loops.phases import dominance_phases, polarity_phases, run_polarity
from pyloop.analysis.loops.results import LoopAnalysis, ScoredLoop

__all__ = [
    "LoopAnalysis",
    "ScoredLoop",
    "analyze_loops",
    "link_polarity",
    "link_scores",
    "loop_key",
    "loop_polarity",
    "named_extra_loops",
    "pin_catalogue",
    "run_evaluator",
    "score_run",
    "structure_and_loops",
]


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


#: Structure and loops of each loaded model, by ``max_loops``.
_CACHE: "weakref.WeakKeyDictionary[Model, dict]" = weakref.WeakKeyDictionary()


def _enumerate(structure: Structure, max_loops: int) -> tuple[tuple[Loop, ...], str]:
    try:
        return find_loops(structure, max_loops=max_loops, on_limit="error"), "exhaustive"
    except PyloopError as exc:
        if "feedback loops" not in str(exc):
            raise
        return find_loops(structure, max_loops=max_loops, on_limit="shortest"), "discovery"


def structure_and_loops(model: Model, max_loops: int) -> tuple[Structure, tuple[Loop, ...], str]:
    """The model's causal structure, its loops (at most ``max_loops``) and how
    they were found (``"exhaustive"`` or ``"discovery"``), computed once per
    model object."""
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
        exact = catalogue_cycle(structure, entry)
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
        structure, cycles, mode = structure_and_loops(model, max_loops)
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
    from pyloop.engine import load_model

    model = model if isinstance(model, Model) else load_model(model)
    structure_and_loops(model, max_loops)  # unsupported constructs fail before the run
    result = run(model, scenario, policy, params)
    return score_run(model, result, catalogue=catalogue, max_loops=max_loops, report=report)


