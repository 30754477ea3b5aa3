"""Evaluate the payoff of whole populations of parameter sets.

The payoff of a parameter set is Vensim's weighted sum of squared
standardised errors over the observations ``i``::

    payoff = sum_i w_i * ((m_i - y_i) / sd_i) ** 2

where ``y_i`` is the observed value, ``sd_i`` its error standard deviation,
``w_i`` its weight and ``m_i`` the model's value at the observation time,
interpolated linearly between the saved times of the run.
:class:`Evaluator` computes the model values of a whole population in one
PySD run (:class:`~pyloop.engine.vectorised.VectorEngine`, reused through
:func:`pyloop.sensitivity.batch.loaded_worker`'s per-process model cache), optionally split over
local worker processes or a Dask cluster.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from pyloop.errors import PyloopError
from pyloop.declarations.observations import Observations

__all__ = ["Evaluator", "FitParameter", "interpolate", "payoff"]


@dataclass(frozen=True)
class FitParameter:
    """A constant to fit and its search range (a uniform prior over it).

    Attributes:
        name: the constant's name in the model.
        low: lower end of the range, in the constant's units.
        high: upper end of the range.
    """

    name: str
    low: float
    high: float


def _run_batch(
    model_path: str, base: Mapping[str, float], names: Sequence[str], columns: Sequence[str],
    values: np.ndarray, final_time: float | None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Saved times and series (times x samples) of a batch, in one PySD run
    when the model allows it, else one run per sample. Non-finite values are
    returned as they are (the payoff of such a sample is infinite)."""
    from pyloop.sensitivity.batch import loaded_worker
    from pyloop.engine.vectorised import NotVectorisable

    worker = loaded_worker(model_path)
    n = values.shape[0]
    try:
        run_values: dict[str, Any] = dict(base)
        run_values.update({p: values[:, j] for j, p in enumerate(names)})
        return worker.vector.run(run_values, columns, n, final_time)
    except NotVectorisable:
        pass
    frames = []
    for i in range(n):
        params = dict(base)
        params.update({p: float(values[i, j]) for j, p in enumerate(names)})
        frames.append(worker.model.simulate(params, return_columns=columns, final_time=final_time))
    times = frames[0].index.to_numpy(dtype=float)
    return times, {c: np.column_stack([f[c].to_numpy(dtype=float) for f in frames]) for c in columns}


def interpolate(times: np.ndarray, series: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Linear interpolation of each column of ``series`` (times x samples) at
    the times ``at``; returns (len(at) x samples)."""
    if len(times) == 1:
        return np.repeat(series[:1], len(at), axis=0)
    lo = np.clip(np.searchsorted(times, at, side="right") - 1, 0, len(times) - 2)
    frac = ((at - times[lo]) / (times[lo + 1] - times[lo]))[:, None]
    return series[lo] * (1 - frac) + series[lo + 1] * frac


class Evaluator:
    """Model values at observation times for whole populations of parameter sets.

    Args:
        model: a loaded :class:`~pyloop.engine.Model`.
        parameters: the constants varied (columns of every ``values`` array).
        base: other constants fixed for every run (e.g. a baseline scenario).
        workers: split each population over this many local processes
            (default: all in this process).
        dask: a Dask scheduler address, or ``"local"``, to split each
            population over a Dask cluster instead.
    """

    def __init__(
        self, model: Any, parameters: Sequence[FitParameter], base: Mapping[str, float] | None = None,
        workers: int | None = None, dask: str | None = None,
    ):
        self.model = model
        self.parameters = tuple(parameters)
        self.names = tuple(p.name for p in self.parameters)
        self.base = dict(base or {})
        self.workers = workers if workers and workers > 1 else None
        self.dask = dask
        self.evaluations = 0
        self._pool: Any = None
        self._client: Any = None
        self._cluster: Any = None

    # pools are opened on first use and closed by close() / the context manager
    def __enter__(self) -> "Evaluator":
        return self

    def __exit__(self, kind: Any, *exc: Any) -> None:
        self.close(failed=kind is not None)

    def close(self, failed: bool = False) -> None:
        """Shut down worker processes or the Dask client, if any were started
        (after a failure or an interrupt, without waiting for queued batches)."""
        if self._pool is not None:
            if failed:
                from pyloop.sensitivity.executors import stop_pool

                stop_pool(self._pool)
            else:
                self._pool.shutdown(cancel_futures=True)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def _parts(self) -> int:
        if self.dask:
            return max(self.workers or 2, 1)
        return self.workers or 1

    def _submit(self, batches: list[np.ndarray], columns: list[str], final_time: float | None) -> list:
        path = str(self.model.path)
        if self.dask:
            if self._client is None:
                from dask.distributed import Client, LocalCluster

                env = {"PYLOOP_CACHE_DIR": os.environ["PYLOOP_CACHE_DIR"]} if "PYLOOP_CACHE_DIR" in os.environ else {}
                try:
                    if self.dask == "local":
                        self._cluster = LocalCluster(
                            n_workers=self.workers or 2, threads_per_worker=1, processes=True,
                            dashboard_address=None, env=env,
                        )
                        self._client = self._cluster.get_client()
                    else:
                        self._client = Client(self.dask, timeout="20s")
                except OSError as exc:
                    self.close(failed=True)
                    raise PyloopError(f"cannot reach the Dask scheduler at '{self.dask}': {exc}") from exc
            futures = [
                self._client.submit(_run_batch, path, self.base, self.names, columns, b, final_time, pure=False)
                for b in batches
            ]
            return [f.result() for f in futures]
        if self._pool is None:
            from concurrent.futures import ProcessPoolExecutor

            from pyloop.sensitivity.executors import init_worker_process

            self._pool = ProcessPoolExecutor(self.workers, initializer=init_worker_process, initargs=(path,))
        futures = [
            self._pool.submit(_run_batch, path, self.base, self.names, columns, b, final_time) for b in batches
        ]
        return [f.result() for f in futures]

    def series(
        self, values: np.ndarray, columns: Sequence[str], final_time: float | None = None
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Saved times and, per column, the series (times x samples) of a
        population ``values`` (samples x parameters)."""
        values = np.atleast_2d(np.asarray(values, dtype=float))
        columns = list(columns)
        self.evaluations += values.shape[0]
        parts = min(self._parts(), values.shape[0])
        if parts <= 1:
            return _run_batch(str(self.model.path), self.base, self.names, columns, values, final_time)
        pieces = self._submit(np.array_split(values, parts), columns, final_time)
        times = pieces[0][0]
        return times, {c: np.concatenate([p[1][c] for p in pieces], axis=1) for c in columns}

    def _horizon(self, last: float) -> float:
        """The first saved time at or after ``last`` (runs stop there)."""
        t = self.model.time
        steps = math.ceil((last - t.initial_time) / t.saveper - 1e-9)
        return min(t.final_time, t.initial_time + steps * t.saveper)

    def at(self, values: np.ndarray, obs: Observations) -> np.ndarray:
        """Model values at the observations (samples x observations); NaN
        where a run produced a non-finite value."""
        values = np.atleast_2d(np.asarray(values, dtype=float))
        variables = obs.variables
        horizon = self._horizon(float(obs.time.max()))
        times, series = self.series(values, variables, final_time=horizon)
        if times[-1] < obs.time.max() - 1e-9:  # the shortened run missed the last observation
            times, series = self.series(values, variables)
        out = np.empty((values.shape[0], len(obs)))
        names = np.array(obs.variable, dtype=object)
        for v in variables:
            rows = np.flatnonzero(names == v)
            out[:, rows] = interpolate(times, series[v], obs.time[rows]).T
        out[~np.isfinite(out)] = np.nan
        return out

    def payoff(self, values: np.ndarray, obs: Observations) -> np.ndarray:
        """Payoff of each parameter set (samples x parameters); infinite
        where the run failed to stay finite."""
        return payoff(self.at(values, obs), obs)


def payoff(model_values: np.ndarray, obs: Observations) -> np.ndarray:
    """Weighted sum of squared standardised errors per sample.

    Args:
        model_values: model values at the observations (samples x observations).
        obs: the observations (value, sd, weight).

    Returns:
        One payoff per sample (dimensionless); ``inf`` where a value is NaN.
    """
    z = (np.asarray(model_values, dtype=float) - obs.value) / obs.sd
    total = (obs.weight * z**2).sum(axis=-1)
    return np.where(np.isnan(total), np.inf, total)
