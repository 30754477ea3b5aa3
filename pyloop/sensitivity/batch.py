"""One batch of an ensemble: what it runs, and the outcomes it returns.

A :class:`Task` says what to run (model path, fixed constants, sampled
parameter names, outcomes, kept series) and is plain, picklable data: PySD
models cannot be pickled, so each worker process loads the model once from
its path (:func:`loaded_worker`) and keeps it for every later batch.
:func:`evaluate` runs one batch and returns its scalar outcomes and kept
series; every executor (:mod:`pyloop.sensitivity.executors`) calls it, so the
same samples give the same numbers on each of them.

Loop-dominance outcomes (statistic ``loop_dominance``) need every variable
at every time step of each run: a batch with such an outcome always runs one
sample at a time (whatever ``vectorise`` says), scores each run's loops with
:func:`pyloop.analysis.loops.score_run` and computes every outcome of the batch from
those runs. The path is the same on every executor, so they agree exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from pyloop.declarations.uncertainty import LOOP_DOMINANCE, Outcome
from pyloop.engine import load_model
from pyloop.errors import PyloopError, SimulationError

__all__ = [
    "STATISTIC_FUNCTIONS",
    "BatchResult",
    "Task",
    "Worker",
    "dominant_steps",
    "evaluate",
    "loaded_worker",
    "loop_dominance_share",
]


def _first_time_above(times: np.ndarray, values: np.ndarray, outcome: Outcome) -> np.ndarray:
    above = values > outcome.threshold
    first = np.argmax(above, axis=0)
    return np.where(above.any(axis=0), times[first], outcome.never)


def _integral(times: np.ndarray, values: np.ndarray, outcome: Outcome) -> np.ndarray:
    return np.diff(times) @ values[:-1]


def loop_dominance_share(times: np.ndarray, dominant: np.ndarray, outcome: Outcome) -> np.ndarray:
    """Share of the time steps of a window in which a loop dominates.

    A loop dominates at time ``t`` when it belongs to the dominant set of its
    cycle partition: the smallest set of loops, strongest first, holding at
    least half of the partition's absolute relative loop score (the phases of
    :func:`pyloop.analysis.loops.dominance_phases`). The score at ``t`` describes the
    step ``[t - dt, t]``, so the window ``[start, end]`` counts the saved
    times ``t`` with ``start < t <= end`` (the initial time, which scores no
    change, never counts); steps in which no loop is active count as not
    dominated. The value is in [0, 1]: the fraction of the window's time in
    which the loop dominates.

    Args:
        times: every time step of the runs.
        dominant: 1 where the loop dominates, 0 elsewhere (times x samples).
        outcome: a ``loop_dominance`` outcome (its ``start`` and ``end``;
            default the whole run).
    """
    times = np.asarray(times, dtype=float)
    start = times[0] if outcome.start is None else outcome.start
    end = times[-1] if outcome.end is None else outcome.end
    window = (times > start) & (times <= end)
    if not window.any():
        raise PyloopError(
            f"the window [{start:g}, {end:g}] of outcome '{outcome.name}' holds no time step of the run"
        )
    return np.asarray(dominant, dtype=float)[window].mean(axis=0)


def dominant_steps(analysis: Any, loop: str) -> np.ndarray:
    """1.0 at each time of a :class:`~pyloop.analysis.loops.LoopAnalysis` at which
    ``loop`` belongs to its partition's dominant set, else 0.0.

    Raises:
        PyloopError: ``loop`` is not a named loop the analysis matched.
    """
    if loop in analysis.unmatched:
        raise PyloopError(f"named loop '{loop}' matches no feedback loop of the model")
    partition = analysis.loop(loop).partition
    time = np.asarray(analysis.time, dtype=float)
    out = np.zeros(len(time))
    for phase in analysis.phases:
        if phase.partition == partition and loop in phase.loops:
            out[(time >= phase.start) & (time <= phase.end)] = 1.0
    return out


#: statistic name -> function(times, values (times x samples), outcome) ->
#: one value per sample. For ``loop_dominance`` the values are the 0/1
#: series of :func:`dominant_steps` of each run, at every time step.
STATISTIC_FUNCTIONS: dict[str, Callable[[np.ndarray, np.ndarray, Outcome], np.ndarray]] = {
    "min": lambda t, v, o: v.min(axis=0),
    "max": lambda t, v, o: v.max(axis=0),
    "final": lambda t, v, o: v[-1],
    "mean": lambda t, v, o: v.mean(axis=0),
    "integral": _integral,
    "first_time_above": _first_time_above,
    LOOP_DOMINANCE: loop_dominance_share,
}


@dataclass(frozen=True)
class Task:
    """What every batch of an ensemble runs.

    Attributes:
        model_path: the model file (workers load it themselves).
        base: constants fixed for every run (scenario and policy), by name.
        parameters: names of the sampled constants, in column order.
        outcomes: scalar outcomes to compute.
        bands: variables whose series are kept.
        band_stride: keep every ``band_stride``-th saved time of those series.
    """

    model_path: str
    base: Mapping[str, float]
    parameters: tuple[str, ...]
    outcomes: tuple[Outcome, ...]
    bands: tuple[str, ...] = ()
    band_stride: int = 1

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys([o.variable for o in self.outcomes if not o.is_loop] + list(self.bands)))

    @property
    def needs_loops(self) -> bool:
        """True when some outcome is computed from loop scores."""
        return any(o.is_loop for o in self.outcomes)


@dataclass
class BatchResult:
    """Outcomes (runs x outcomes) and kept series (runs x bands x times) of a batch."""

    outcomes: np.ndarray
    series: np.ndarray
    times: np.ndarray


def _summarise(
    task: Task,
    times: np.ndarray,
    series: Mapping[str, np.ndarray],
    n: int,
    loops: tuple[np.ndarray, Mapping[str, np.ndarray]] | None = None,
) -> BatchResult:
    for name, values in series.items():
        bad = ~np.isfinite(values)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise SimulationError(
                f"'{name}' became non-finite at time {times[row]:g} in a run of the ensemble "
                f"(sample {col} of its batch); look for a division by zero or runaway growth"
            )
    def value(o: Outcome) -> np.ndarray:
        if o.is_loop:
            return STATISTIC_FUNCTIONS[o.statistic](loops[0], loops[1][o.loop], o)
        return STATISTIC_FUNCTIONS[o.statistic](times, series[o.variable], o)

    outcomes = np.column_stack([value(o) for o in task.outcomes]).reshape(n, len(task.outcomes))
    keep = slice(None, None, task.band_stride)
    if task.bands:
        kept = np.stack([series[b][keep].T for b in task.bands], axis=1)
    else:
        kept = np.empty((n, 0, len(times[keep])))
    return BatchResult(outcomes, kept, times[keep])


class Worker:
    """A loaded model and, once needed, its vectorised engine."""

    def __init__(self, path: str):
        self.model = load_model(path)
        self._vector = None
        self._catalogue = None

    @property
    def catalogue(self):
        if self._catalogue is None:
            from pyloop.analysis.loops import load_catalogue

            self._catalogue = load_catalogue(self.model)
        return self._catalogue

    @property
    def vector(self):
        if self._vector is None:
            from pyloop.engine.vectorised import VectorEngine

            self._vector = VectorEngine(self.model)
        return self._vector


#: One loaded model per (process, model path): workers load a model once.
_WORKERS: dict[str, Worker] = {}


def loaded_worker(path: str) -> Worker:
    """The :class:`Worker` of ``path`` in this process, loading the model
    the first time."""
    if path not in _WORKERS:
        _WORKERS[path] = Worker(path)
    return _WORKERS[path]


def evaluate(task: Task, values: np.ndarray, vectorise: bool = True) -> BatchResult:
    """Run one batch of samples and summarise it.

    Args:
        task: what to run.
        values: parameter values, shape (runs, len(task.parameters)).
        vectorise: one PySD run for the whole batch (True) or one per sample.

    Raises:
        NotVectorisable: ``vectorise`` and the model cannot run on arrays.
        SimulationError: a run failed or produced a non-finite value.
    """
    values = np.asarray(values, dtype=float)
    n = values.shape[0]
    worker = loaded_worker(task.model_path)
    columns = task.columns
    if task.needs_loops:
        return _evaluate_with_loops(task, worker, values)
    if vectorise:
        run_values: dict[str, Any] = dict(task.base)
        run_values.update({p: values[:, j] for j, p in enumerate(task.parameters)})
        times, series = worker.vector.run(run_values, columns, n)
        return _summarise(task, times, series, n)
    frames = []
    for i in range(n):
        params = dict(task.base)
        params.update({p: float(values[i, j]) for j, p in enumerate(task.parameters)})
        frames.append(worker.model.simulate(params, return_columns=columns))
    times = frames[0].index.to_numpy(dtype=float)
    series = {c: np.column_stack([f[c].to_numpy(dtype=float) for f in frames]) for c in columns}
    return _summarise(task, times, series, n)


def _evaluate_with_loops(task: Task, worker: Worker, values: np.ndarray) -> BatchResult:
    """One run per sample with every variable at every time step; loop
    outcomes from each run's loop scores, the others from its saved times."""
    from pyloop.analysis.loops import score_run
    from pyloop.runner import RunResult, check_finite

    model = worker.model
    t = model.time
    every = t.saveper / t.time_step
    if abs(every - round(every)) > 1e-9:
        raise PyloopError(
            f"loop-dominance outcomes need SAVEPER ({t.saveper:g}) to be a multiple of "
            f"TIME STEP ({t.time_step:g})"
        )
    every = int(round(every))
    loop_ids = list(dict.fromkeys(o.loop for o in task.outcomes if o.is_loop))
    frames, dominant = [], {lid: [] for lid in loop_ids}
    step_times = None
    for i in range(values.shape[0]):
        params = dict(task.base)
        params.update({p: float(values[i, j]) for j, p in enumerate(task.parameters)})
        frame = model.simulate(params, time_step=t.time_step)
        name = f"sample {i} of the batch"
        check_finite(model, frame, name, params, {"final_time": None, "time_step": t.time_step, "saveper": None})
        result = RunResult(name, model.name, None, None, params, frame, time_units=t.units)
        analysis = score_run(model, result, catalogue=worker.catalogue, report=0)
        for lid in loop_ids:
            dominant[lid].append(dominant_steps(analysis, lid))
        step_times = np.asarray(frame.index, dtype=float)
        frames.append(frame.iloc[::every])
    times = frames[0].index.to_numpy(dtype=float)
    series = {c: np.column_stack([f[c].to_numpy(dtype=float) for f in frames]) for c in task.columns}
    loops = (step_times, {lid: np.column_stack(d) for lid, d in dominant.items()})
    return _summarise(task, times, series, values.shape[0], loops)
