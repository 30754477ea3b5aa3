"""Executors: where the batches of an ensemble run, behind one interface.

Every executor is an :class:`Executor`: ``iterate(task, batches)`` yields
``(key, BatchResult)`` for each batch (in the order they finish), each batch
evaluated by :func:`pyloop.sensitivity.batch.evaluate`, so the same samples
give the same numbers on each of them. :func:`make_executor` builds one by
name (:func:`executor_name` reads the name off the command-line options);
:func:`fit_to_task` falls back from vectorised runs when a task needs it. Executors, fastest first (:data:`EXECUTORS`):

- ``vectorised``: in this process, one PySD run carries the whole batch
  (:class:`~pyloop.engine.vectorised.VectorEngine`);
- ``serial``: in this process, one PySD run per sample, reusing one loaded
  model;
- ``processes``: local worker processes (``concurrent.futures``), each batch
  vectorised (or serial with ``vectorise=False``);
- ``dask``: a Dask distributed cluster (a scheduler address, or ``"local"``
  for a :class:`~dask.distributed.LocalCluster`), each task a vectorised batch.
  Workers need the model file at the same path and the ``pyloop`` package.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, replace
from typing import Callable, Iterator, Protocol, Sequence

import numpy as np

from pyloop.engine.vectorised import NotVectorisable
from pyloop.errors import PyloopError
from pyloop.sensitivity.batch import BatchResult, Task, evaluate, loaded_worker

__all__ = [
    "BUILDERS",
    "EXECUTORS",
    "VECTOR_RTOL",
    "DaskExecutor",
    "Executor",
    "InProcessExecutor",
    "ProcessExecutor",
    "Task",
    "evaluate",
    "executor_name",
    "fit_to_task",
    "init_worker_process",
    "iter_dask",
    "iter_processes",
    "iter_serial",
    "make_executor",
    "stop_pool",
    "vectorising_problem",
]

#: Relative tolerance of the check that vectorised runs equal serial runs.
VECTOR_RTOL = 1e-12

#: Runs per batch unless asked otherwise, when one run at a time (bounds memory).
DEFAULT_BATCH_SIZE = 500

#: Most memory one vectorised batch plans to hold, in bytes (also at most a
#: quarter of :func:`~pyloop.engine.limits.memory_budget`). A vectorised
#: batch costs about as much for 2,000 runs as for 500: each time step
#: evaluates every equation once for the whole batch.
BATCH_BYTES = 512 * 2**20

#: Default number of worker processes.
DEFAULT_WORKERS = 2

Batches = Sequence[tuple[int, np.ndarray]]


class Executor(Protocol):
    """Runs the batches of an ensemble.

    Attributes:
        name: one of :data:`EXECUTORS` (recorded in the result).
        vectorise: one PySD run per batch (True) or per sample.
    """

    name: str
    vectorise: bool

    def iterate(self, task: Task, batches: Batches) -> Iterator[tuple[int, BatchResult]]:
        """Yield ``(key, result)`` for every ``(key, values)`` batch, as they finish."""
        ...

    def batch_size(self, runs: int, run_bytes: float) -> int:
        """Runs per batch for an ensemble of ``runs`` runs whose vectorised
        run holds ``run_bytes`` bytes per run, unless asked otherwise."""
        ...


@dataclass(frozen=True)
class InProcessExecutor:
    """Batches one after another in this process (``vectorised`` or ``serial``)."""

    name: str = "vectorised"
    vectorise: bool = True

    def iterate(self, task: Task, batches: Batches) -> Iterator[tuple[int, BatchResult]]:
        return iter_serial(task, batches, self.vectorise)

    def batch_size(self, runs: int, run_bytes: float) -> int:
        if not self.vectorise:
            return DEFAULT_BATCH_SIZE
        # large batches run faster; a quarter of the ensemble at most, so that its progress shows
        return min(vectorised_batch_size(run_bytes), max(DEFAULT_BATCH_SIZE, math.ceil(runs / 4)))


def vectorised_batch_size(run_bytes: float) -> int:
    """The most runs a vectorised batch holds within :data:`BATCH_BYTES`."""
    from pyloop.engine.limits import memory_budget

    return max(1, int(min(BATCH_BYTES, memory_budget() / 4) // max(run_bytes, 1.0)))


def _parallel_batch_size(runs: int, workers: int | None, run_bytes: float, vectorise: bool) -> int:
    """Small enough batches to keep every worker busy (four per worker)."""
    largest = vectorised_batch_size(run_bytes) if vectorise else DEFAULT_BATCH_SIZE
    return max(1, min(largest, math.ceil(runs / (4 * (workers or DEFAULT_WORKERS)))))


@dataclass(frozen=True)
class ProcessExecutor:
    """Batches in local worker processes (default :data:`DEFAULT_WORKERS`)."""

    workers: int | None = None
    vectorise: bool = True
    name: str = "processes"

    def iterate(self, task: Task, batches: Batches) -> Iterator[tuple[int, BatchResult]]:
        return iter_processes(task, batches, self.workers or DEFAULT_WORKERS, self.vectorise)

    def batch_size(self, runs: int, run_bytes: float) -> int:
        return _parallel_batch_size(runs, self.workers, run_bytes, self.vectorise)


@dataclass(frozen=True)
class DaskExecutor:
    """Batches on a Dask cluster: a scheduler ``address`` or ``"local"``."""

    address: str
    workers: int | None = None
    vectorise: bool = True
    name: str = "dask"

    def __post_init__(self) -> None:
        if not self.address:
            raise PyloopError("the dask executor needs a scheduler address or 'local'")

    def iterate(self, task: Task, batches: Batches) -> Iterator[tuple[int, BatchResult]]:
        return iter_dask(task, batches, self.address, self.workers, self.vectorise)

    def batch_size(self, runs: int, run_bytes: float) -> int:
        return _parallel_batch_size(runs, self.workers, run_bytes, self.vectorise)


#: Executor name -> its constructor from (workers, dask_address), fastest first.
BUILDERS: dict[str, Callable[[int | None, str | None], Executor]] = {
    "vectorised": lambda workers, address: InProcessExecutor("vectorised", vectorise=True),
    "serial": lambda workers, address: InProcessExecutor("serial", vectorise=False),
    "processes": lambda workers, address: ProcessExecutor(workers),
    "dask": lambda workers, address: DaskExecutor(address, workers),
}

#: Executors, fastest first.
EXECUTORS = tuple(BUILDERS)


def executor_name(workers: int | None = None, dask_address: str | None = None) -> str:
    """The executor the command-line options ask for: ``dask`` with a
    scheduler address, ``processes`` with more than one worker, else
    ``vectorised``."""
    if dask_address:
        return "dask"
    if workers and workers > 1:
        return "processes"
    return "vectorised"


def make_executor(name: str, workers: int | None = None, dask_address: str | None = None) -> Executor:
    """The executor called ``name`` (one of :data:`EXECUTORS`).

    Args:
        name: the executor.
        workers: worker processes (``processes``) or Dask workers of a local
            cluster.
        dask_address: scheduler address or ``"local"`` (``dask``).

    Raises:
        PyloopError: an unknown name, or ``dask`` without an address.
    """
    if name not in BUILDERS:
        raise PyloopError(f"unknown executor '{name}'; use one of {', '.join(EXECUTORS)}")
    return BUILDERS[name](workers, dask_address)


def vectorising_problem(task: Task, values: np.ndarray) -> str | None:
    """None if vectorised runs of ``values`` equal serial runs, else why not."""
    try:
        vec = evaluate(task, values, vectorise=True)
    except NotVectorisable as exc:
        return str(exc)
    ser = evaluate(task, values, vectorise=False)
    for a, b in ((vec.outcomes, ser.outcomes), (vec.series, ser.series)):
        scale = np.maximum(np.abs(b), np.finfo(float).tiny)
        if a.shape != b.shape or np.any(np.abs(a - b) > VECTOR_RTOL * scale):
            return "vectorised runs differ from serial runs"
    return None


def fit_to_task(
    executor: Executor, task: Task, probe: np.ndarray | None, workers: int | None = None
) -> Executor:
    """The executor to use for ``task``: ``executor``, or one that runs a
    sample at a time when the task needs loop scores or the model's
    vectorised runs (checked on the ``probe`` samples, if any) do not equal
    its serial runs (with a warning). The ``vectorised`` executor then runs
    serially in this process for loop scores, in ``workers`` worker
    processes otherwise.
    """
    if task.needs_loops:
        # loop scores need one full run per sample (pyloop.sensitivity.batch)
        if isinstance(executor, InProcessExecutor):
            return InProcessExecutor("serial", vectorise=False)
        return replace(executor, vectorise=False)
    if not executor.vectorise or probe is None:
        return executor
    why = vectorising_problem(task, probe)
    if why is None:
        return executor
    in_process = isinstance(executor, InProcessExecutor)
    warnings.warn(
        f"{why}; running one sample at a time" + (" in worker processes" if in_process else ""),
        RuntimeWarning,
        stacklevel=3,
    )
    if in_process:
        return ProcessExecutor(workers, vectorise=False)
    return replace(executor, vectorise=False)


Batches = Sequence[tuple[int, np.ndarray]]


def iter_serial(task: Task, batches: Batches, vectorise: bool = True) -> Iterator[tuple[int, BatchResult]]:
    """Evaluate batches one after another in this process."""
    for key, values in batches:
        yield key, evaluate(task, values, vectorise)


#: Seconds between two checks of a worker process that its parent still lives.
WATCHDOG_INTERVAL = 0.5


def _parent_gone(parent: int, direct: bool) -> bool:
    if direct:  # an orphan is re-parented, so its parent pid changes
        return os.getppid() != parent
    try:  # started by a fork server: watch the process that made the pool
        os.kill(parent, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _die_with_parent(parent: int) -> None:
    """End this worker process when the process ``parent`` ends.

    On Linux the kernel sends SIGKILL when the parent goes
    (``prctl(PR_SET_PDEATHSIG)``); everywhere a daemon thread also checks
    twice a second that the parent still runs.
    """
    direct = os.getppid() == parent
    if direct and sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass  # the watchdog below still works
        if os.getppid() != parent:  # the parent ended before prctl took effect
            os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(WATCHDOG_INTERVAL)
            if _parent_gone(parent, direct):
                os._exit(1)

    threading.Thread(target=watch, name="pyloop-parent-watchdog", daemon=True).start()


def init_worker_process(path: str, parent: int | None = None) -> None:
    """Start a worker process: load the model of ``path`` once and, given
    the ``parent`` pid, end with that process and ignore Ctrl-C."""
    if parent is not None:
        _die_with_parent(parent)
        # Ctrl-C reaches the whole process group: the parent ends the workers itself
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    loaded_worker(path)


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Cancel the queued batches and end the worker processes at once
    (after an error or an interrupt: their results are no longer wanted)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        try:
            process.terminate()
        except (OSError, ValueError, AttributeError):
            pass
    for process in processes:
        try:
            process.join(timeout=5)
        except (OSError, ValueError, AssertionError, AttributeError):
            pass


def iter_processes(
    task: Task, batches: Batches, workers: int, vectorise: bool = True
) -> Iterator[tuple[int, BatchResult]]:
    """Evaluate batches in ``workers`` local processes, yielding as they finish.

    The workers end when this process ends, even if it is killed; an error,
    an interrupt or closing the generator early cancels the queued batches
    and ends the workers.
    """
    if workers < 1:
        raise PyloopError(f"the number of workers must be at least 1, not {workers}")
    pool = ProcessPoolExecutor(
        max_workers=workers, initializer=init_worker_process, initargs=(task.model_path, os.getpid())
    )
    finished = False
    try:
        futures = {pool.submit(evaluate, task, values, vectorise): key for key, values in batches}
        for future in as_completed(futures):
            yield futures[future], future.result()
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:
            stop_pool(pool)


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
    futures: dict = {}
    try:
        futures = {client.submit(evaluate, task, values, vectorise, pure=False): key for key, values in batches}
        for future in dask_completed(futures):
            yield futures[future], future.result()
    finally:
        if futures:
            client.cancel(list(futures))  # batches still queued are no longer wanted
        client.close()
        if cluster is not None:
            cluster.close()
