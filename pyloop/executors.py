"""Evaluate batches of samples: in this process, in worker processes, or on Dask.

A :class:`Task` says what to run (model path, fixed constants, sampled
parameter names, outcomes, kept series) and is plain, picklable data: PySD
models cannot be pickled, so each worker process loads the model once from
its path and keeps it for every later batch. :func:`evaluate` runs one batch
and returns its scalar outcomes and kept series; every executor calls it, so
the same samples give the same numbers on each of them.

Executors, fastest first:

- ``vectorised``: one PySD run carries the whole batch
  (:class:`~pyloop.vectorised.VectorEngine`);
- ``serial``: one PySD run per sample, reusing one loaded model;
- ``processes``: local worker processes (``concurrent.futures``), each batch
  vectorised (or serial with ``vectorise=False``);
- ``dask``: a Dask distributed cluster (a scheduler address, or ``"local"``
  for a :class:`~dask.distributed.LocalCluster`), each task a vectorised batch.
  Workers need the model file at the same path and the ``pyloop`` package.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from .errors import PyloopError, SimulationError
from .model import Model, load_model
from .uncertainty import Outcome

__all__ = [
    "STATISTIC_FUNCTIONS",
    "Task",
    "evaluate",
    "iter_dask",
    "iter_processes",
    "iter_serial",
]


def _first_time_above(times: np.ndarray, values: np.ndarray, outcome: Outcome) -> np.ndarray:
    above = values > outcome.threshold
    first = np.argmax(above, axis=0)
    return np.where(above.any(axis=0), times[first], outcome.never)


def _integral(times: np.ndarray, values: np.ndarray, outcome: Outcome) -> np.ndarray:
    return np.diff(times) @ values[:-1]


#: statistic name -> function(times, values (times x samples), outcome) ->
#: one value per sample. The hook for a loop-dominance outcome ("share of
#: time each named loop dominates"): register a function here that reads the
#: loop scores of each run once pyloop.loops can compute them per run.
STATISTIC_FUNCTIONS: dict[str, Callable[[np.ndarray, np.ndarray, Outcome], np.ndarray]] = {
    "min": lambda t, v, o: v.min(axis=0),
    "max": lambda t, v, o: v.max(axis=0),
    "final": lambda t, v, o: v[-1],
    "mean": lambda t, v, o: v.mean(axis=0),
    "integral": _integral,
    "first_time_above": _first_time_above,
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
        return list(dict.fromkeys([o.variable for o in self.outcomes] + list(self.bands)))


@dataclass
class BatchResult:
    """Outcomes (runs x outcomes) and kept series (runs x bands x times) of a batch."""

    outcomes: np.ndarray
    series: np.ndarray
    times: np.ndarray


def _summarise(task: Task, times: np.ndarray, series: Mapping[str, np.ndarray], n: int) -> BatchResult:
    for name, values in series.items():
        bad = ~np.isfinite(values)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise SimulationError(
                f"'{name}' became non-finite at time {times[row]:g} in a run of the ensemble "
                f"(sample {col} of its batch); look for a division by zero or runaway growth"
            )
    outcomes = np.column_stack(
        [STATISTIC_FUNCTIONS[o.statistic](times, series[o.variable], o) for o in task.outcomes]
    ).reshape(n, len(task.outcomes))
    keep = slice(None, None, task.band_stride)
    if task.bands:
        kept = np.stack([series[b][keep].T for b in task.bands], axis=1)
    else:
        kept = np.empty((n, 0, len(times[keep])))
    return BatchResult(outcomes, kept, times[keep])


class _Worker:
    """A loaded model and, once needed, its vectorised engine."""

    def __init__(self, path: str):
        self.model = load_model(path)
        self._vector = None

    @property
    def vector(self):
        if self._vector is None:
            from .vectorised import VectorEngine

            self._vector = VectorEngine(self.model)
        return self._vector


#: One loaded model per (process, model path): workers load a model once.
_WORKERS: dict[str, _Worker] = {}


def _worker(path: str) -> _Worker:
    if path not in _WORKERS:
        _WORKERS[path] = _Worker(path)
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
    worker = _worker(task.model_path)
    columns = task.columns
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


Batches = Sequence[tuple[int, np.ndarray]]


def iter_serial(task: Task, batches: Batches, vectorise: bool = True) -> Iterator[tuple[int, BatchResult]]:
    """Evaluate batches one after another in this process."""
    for key, values in batches:
        yield key, evaluate(task, values, vectorise)


def _init_process(path: str) -> None:
    _worker(path)


def iter_processes(
    task: Task, batches: Batches, workers: int, vectorise: bool = True
) -> Iterator[tuple[int, BatchResult]]:
    """Evaluate batches in ``workers`` local processes, yielding as they finish."""
    if workers < 1:
        raise PyloopError(f"the number of workers must be at least 1, not {workers}")
    with ProcessPoolExecutor(
        max_workers=workers, initializer=_init_process, initargs=(task.model_path,)
    ) as pool:
        futures = {pool.submit(evaluate, task, values, vectorise): key for key, values in batches}
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            for future in futures:
                future.cancel()


def iter_dask(
    task: Task, batches: Batches, address: str, workers: int | None = None, vectorise: bool = True
) -> Iterator[tuple[int, BatchResult]]:
    """Evaluate batches on a Dask cluster, yielding as they finish.

    Each task is one batch, vectorised unless ``vectorise`` is False.

    Args:
        address: a scheduler address (``tcp://host:8786``) or ``"local"`` to
            start a :class:`~dask.distributed.LocalCluster` of ``workers``
            single-threaded worker processes (default 2) for this call.
    """
    try:
        from dask.distributed import Client, LocalCluster, as_completed as dask_completed
    except ImportError as exc:  # pragma: no cover - dask is a dependency
        raise PyloopError("the Dask executor needs dask[distributed]; pip install 'dask[distributed]'") from exc
    cluster = None
    env = {"PYLOOP_CACHE_DIR": os.environ["PYLOOP_CACHE_DIR"]} if "PYLOOP_CACHE_DIR" in os.environ else {}
    try:
        if address == "local":
            cluster = LocalCluster(
                n_workers=workers or 2, threads_per_worker=1, processes=True,
                dashboard_address=None, env=env,
            )
            client = Client(cluster)
        else:
            client = Client(address, timeout="20s")
    except OSError as exc:
        if cluster is not None:
            cluster.close()
        raise PyloopError(f"cannot reach the Dask scheduler at '{address}': {exc}") from exc
    try:
        futures = {client.submit(evaluate, task, values, vectorise, pure=False): key for key, values in batches}
        for future in dask_completed(futures):
            yield futures[future], future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
