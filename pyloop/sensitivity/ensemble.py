"""Ensembles of runs: Monte Carlo bands, Sobol and Morris indices, resumable output.

:func:`run_ensemble` samples the uncertain constants of a model (see
:mod:`pyloop.declarations.uncertainty`), runs every sample under a scenario and policy on
one of the executors of :mod:`pyloop.sensitivity.executors`, and returns an
:class:`~pyloop.sensitivity.result.EnsembleResult`. The same seed gives the same samples, and every
executor the same numbers (to 1e-12 relative; the vectorised executor is
checked against serial runs before it is used, and a model that cannot be
vectorised falls back, with a warning, to one run per sample). Loop-dominance
outcomes (``statistic = "loop_dominance"``) need each run's loop scores: an
ensemble with one runs one sample at a time on every executor (the
``vectorised`` executor then runs serially in this process), so that every
executor computes them the same way.

Output directory
----------------
With ``out`` given, results are written as batches finish, so an interrupted
run leaves valid files and ``resume=True`` completes them to the same final
result:

- ``manifest.json``: model (name and SHA-256), method, seed, number of
  samples, scenario, policy, fixed constants, parameters with their
  distributions, outcomes and kept series;
- ``samples.csv``: ``run`` and one column per parameter (every run, written
  first);
- ``outcomes.csv``: ``run`` and one column per outcome, appended per batch;
- ``series.parquet`` (when series are kept; ``series.csv`` with
  ``series_format="csv"``): ``run``, ``variable`` and one column per kept
  time. While the ensemble runs, each batch's rows are appended to
  ``series.csv`` before that batch's outcomes (Parquet cannot be appended
  to); when it ends, the rows are converted into ``series.parquet`` and the
  CSV is removed.

A run counts as done when its outcome row (and all its series rows) are
complete; a resumed ensemble drops any partial trailing line first. When a
run ends, ``outcomes.csv`` and the series are rewritten with their rows
ordered by run, so the same seed gives the same bytes on every executor and
after a resume (Parquet is written with fixed row groups and no
timestamps or library versions).

A folder that already holds an ensemble is refused unless ``resume``
(continue it) or ``overwrite`` (replace its own files, and the files the
sensitivity study derived from them; the user's other files stay) is
given. A fresh run that fails removes the files it wrote (and restores an
ensemble it was replacing); one that is interrupted keeps its valid partial
results for ``resume``, unless it was replacing an ensemble, which is then
restored.

The steps live apart: sampling in :mod:`pyloop.sensitivity.sampling` (one
module per method in :mod:`pyloop.sensitivity.methods`), the files in
:mod:`pyloop.sensitivity.store`, execution in
:mod:`pyloop.sensitivity.executors`, the result in
:mod:`pyloop.sensitivity.result`. Analyses take an ``EnsembleResult``:
:func:`~pyloop.sensitivity.result.percentile_bands`, the indices of each
method (:func:`~pyloop.sensitivity.methods.sobol.sobol_indices`,
:func:`~pyloop.sensitivity.methods.morris.morris_indices`); scenario
discovery is in :mod:`pyloop.sensitivity.discovery`.
"""

from __future__ import annotations

import math
import os
import sys
from contextlib import closing
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import pandas as pd

from pyloop.declarations.scenarios import load_scenarios
from pyloop.declarations.uncertainty import UncertaintySpec, as_table, read_uncertainty
from pyloop.engine import Model, load_model
from pyloop.engine.limits import saved_rows
from pyloop.errors import PyloopError
from pyloop.runner import TIME_KEYWORDS, validate_constants
from pyloop.sensitivity.batch import BatchResult, Task
from pyloop.sensitivity.executors import EXECUTORS, fit_to_task, make_executor
from pyloop.sensitivity.methods import morris_indices, sobol_indices
from pyloop.sensitivity.result import EnsembleResult, assemble_result, load_ensemble, percentile_bands
from pyloop.sensitivity.sampling import check_ensemble_size, sample
from pyloop.sensitivity.store import (
    FORMAT,
    EnsembleFolder,
    append_batch,
    check_series_format,
    file_sha256,
    finish_series,
    prepare_folder,
    series_rows,
    sort_by_run,
)

__all__ = [
    "EXECUTORS",
    "EnsembleResult",
    "load_ensemble",
    "morris_indices",
    "percentile_bands",
    "run_ensemble",
    "sobol_indices",
]

#: Most kept times per series (longer runs keep every k-th saved time).
MAX_BAND_TIMES = 160


def scenario_and_policy_constants(
    model: Model, scenario: str | None, policy: str | None
) -> tuple[dict[str, float], dict[str, float]]:
    """Constants the scenario sets and those the policy sets, by canonical name.

    Raises:
        PyloopError: they set a time setting (FINAL TIME, TIME STEP, SAVEPER).
    """
    by_scenario: dict[str, float] = {}
    by_policy: dict[str, float] = {}
    if scenario is not None or policy is not None:
        sf = load_scenarios(model)
        if scenario is not None:
            sf.scenario(scenario)
            by_scenario = validate_constants(model, sf.resolve(scenario), f"scenario '{scenario}'")
        if policy is not None:
            by_policy = validate_constants(model, sf.policy(policy).constants, f"policy '{policy}'")
    for key in (*by_scenario, *by_policy):
        if key in TIME_KEYWORDS:
            raise PyloopError(f"an ensemble cannot change '{key}' per scenario; edit the model instead")
    return dict(by_scenario), dict(by_policy)


def fixed_constants(model: Model, scenario: str | None, policy: str | None) -> dict[str, float]:
    """Constants the scenario and policy set for every run, by canonical name
    (the policy's win); a parameter declared for the scenario is still sampled
    (see :func:`sampled_spec`)."""
    by_scenario, by_policy = scenario_and_policy_constants(model, scenario, policy)
    return {**by_scenario, **by_policy}


def sampled_spec(
    model: Model, spec: UncertaintySpec, scenario: str | None, policy: str | None
) -> tuple[UncertaintySpec, dict[str, float]]:
    """The parameters sampled under ``scenario`` and ``policy``, and the
    constants fixed for every run (those they set, less the sampled ones).

    A parameter whose ``scenarios`` name the scenario is sampled even when
    the scenario sets it; any other constant the scenario sets, and every
    constant the policy sets, stays fixed; a parameter declared only for
    other scenarios keeps its value.
    """
    by_scenario, by_policy = scenario_and_policy_constants(model, scenario, policy)
    spec = spec.sampled_in(scenario, list(by_scenario), list(by_policy))
    fixed = {k: v for k, v in {**by_scenario, **by_policy}.items() if k not in spec.names}
    return spec, fixed


def band_stride(model: Model) -> int:
    """Keep every ``k``-th saved time, so a series keeps at most
    :data:`MAX_BAND_TIMES` (and one) times."""
    t = model.time
    saved = int(round((t.final_time - t.initial_time) / t.saveper)) + 1
    return max(1, math.ceil(saved / MAX_BAND_TIMES))


def progress_bar(total: int, initial: int, enabled: bool | str | None):
    """A tqdm bar on stderr counting runs done of ``total``, with the time
    left; ``enabled`` may be a label for the bar (``None``: only when stderr
    is a terminal)."""
    if enabled is None:
        enabled = total > 1 and sys.stderr.isatty()
    if not enabled:
        return None
    from tqdm import tqdm

    desc = enabled if isinstance(enabled, str) else "samples"
    return tqdm(total=total, initial=initial, desc=desc, unit="run", file=sys.stderr, leave=not sys.stderr.isatty(),
                mininterval=0.5 if sys.stderr.isatty() else 5.0)


# ----------------------------------------------------------------- ensemble
def run_ensemble(
    model: Model | str | os.PathLike[str],
    method: str = "mc",
    samples: int = 100,
    seed: int = 0,
    *,
    scenario: str | None = None,
    policy: str | None = None,
    spec: UncertaintySpec | str | os.PathLike[str] | None = None,
    executor: str = "vectorised",
    workers: int | None = None,
    dask_address: str | None = None,
    batch_size: int | None = None,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool | str | None = None,
    stop_after: int | None = None,
    series_format: str = "parquet",
) -> EnsembleResult:
    """Sample the model's uncertain constants and run every sample.

    Args:
        model: a loaded :class:`Model` or a model file path.
        method: a name of :data:`pyloop.sensitivity.methods.METHODS`
            (``"mc"``, ``"sobol"`` or ``"morris"``; see
            :func:`pyloop.sensitivity.sampling.sample` for the number of runs).
        samples: base number of samples.
        seed: seed of the samples; the same seed gives the same result on
            every executor.
        scenario: scenario whose constants are fixed for every run; a
            constant the scenario or policy sets is not sampled, unless the
            uncertainty file samples it in this scenario (its
            ``scenarios`` key, see :func:`sampled_spec`).
        policy: policy applied to every run.
        spec: an :class:`UncertaintySpec` or the path of an uncertainty
            file; default the model's own (``X.uncertainty.toml``).
        executor: one of :data:`EXECUTORS`.
        workers: worker processes (``processes``; default 2) or Dask
            workers of a local cluster.
        dask_address: scheduler address or ``"local"`` (``dask`` executor).
        batch_size: runs per batch (bounds memory; default 500, smaller
            when that leaves workers idle).
        out: directory to write results into as they arrive.
        resume: continue the ensemble already in ``out``.
        overwrite: replace an ensemble already in ``out`` (only its own
            files; restored if this run fails or is interrupted).
        progress: show a progress bar on stderr, with runs done and time
            left (default: when stderr is a terminal); a string labels it.
        stop_after: stop after this many batches (to test interruption).
        series_format: ``"parquet"`` (default) or ``"csv"``, the file the
            kept series end in.

    Returns:
        The :class:`EnsembleResult` (every run, including resumed ones).

    Raises:
        PyloopError: bad method, sample count, executor, uncertainty file,
            an ``out`` directory holding a different ensemble, or holding
            any ensemble without ``resume`` or ``overwrite``.
        OutputError: ``out`` cannot be written (the files this run created
            are removed again).
    """
    check_series_format(series_format)
    model = model if isinstance(model, Model) else load_model(model)
    chosen = make_executor(executor, workers, dask_address)
    if not isinstance(spec, UncertaintySpec):
        spec = read_uncertainty(model, spec)
    spec, base = sampled_spec(model, spec, scenario, policy)
    check_ensemble_size(model, spec, method, samples, kept_times=MAX_BAND_TIMES + 1)
    unit = sample(spec, method, samples, seed)
    values = spec.transform(unit)
    runs = len(values)
    stride = band_stride(model)
    task = Task(str(model.path), dict(base), tuple(spec.names), spec.outcomes, spec.bands, stride)
    if batch_size is None:
        t = model.time
        rows = saved_rows(t.initial_time, t.final_time, t.saveper)
        # a vectorised batch holds every saved value of its columns twice (the steps, then the series)
        batch_size = chosen.batch_size(runs, 2 * 8 * rows * max(len(task.columns), 1))
    if batch_size < 1:
        raise PyloopError(f"batch size must be at least 1, not {batch_size}")

    manifest = {
        "format": FORMAT,
        "model": model.path.name,
        "model_sha256": file_sha256(model.path),
        "method": method,
        "seed": int(seed),
        "samples": int(samples),
        "runs": runs,
        "scenario": scenario,
        "policy": policy,
        "fixed": dict(base),
        **as_table(spec),
        "band_stride": stride,
    }
    outcome_names = [o.name for o in spec.outcomes]
    if resume and overwrite:
        raise PyloopError("give --resume or --overwrite, not both")
    out_dir = Path(out) if out is not None else None
    folder = EnsembleFolder(out_dir) if out_dir is not None else None
    done: dict[str, pd.DataFrame] = {}
    if folder is not None:
        try:
            done = prepare_folder(folder, manifest, spec.names, values, outcome_names, spec.bands, resume, overwrite)
        except BaseException as exc:
            folder.fail(exc)
            raise
    finished = set(done["outcomes"]["run"].astype(int)) if done else set()
    todo = [i for i in range(runs) if i not in finished]
    batches = [(todo[k], values[todo[k : k + batch_size]]) for k in range(0, len(todo), batch_size)]
    index_of = {todo[k]: todo[k : k + batch_size] for k in range(0, len(todo), batch_size)}

    new_outcomes: list[pd.DataFrame] = []
    new_series: list[pd.DataFrame] = []
    bar = progress_bar(runs, runs - len(todo), progress)
    try:
        chosen = fit_to_task(chosen, task, values[todo[:2]] if batches else None, workers)
        stream = chosen.iterate(task, batches)
        with closing(_collect(stream, index_of, outcome_names, spec.bands, stop_after)) as rows:
            for frame, series in rows:
                if out_dir is not None:
                    append_batch(out_dir, frame, series, spec.bands)
                new_outcomes.append(frame)
                new_series.append(series)
                if bar is not None:
                    bar.update(len(frame))
        if folder is not None:
            sort_by_run(out_dir, bool(spec.bands))
            finish_series(out_dir, series_format)
    except BaseException as exc:
        if folder is not None:
            folder.fail(exc)
        raise
    else:
        if folder is not None:
            folder.succeed()
    finally:
        if bar is not None:
            bar.close()

    if out_dir is not None:
        return load_ensemble(out_dir, model, spec)
    outcomes = pd.concat(new_outcomes, ignore_index=True) if new_outcomes else pd.DataFrame(columns=["run", *outcome_names])
    series_all = pd.concat(new_series, ignore_index=True) if new_series else None
    return assemble_result(manifest, model, spec, unit, values, outcomes, series_all, chosen.name)


def _collect(
    stream: Iterator[tuple[int, BatchResult]],
    index_of: Mapping[int, Sequence[int]],
    outcome_names: Sequence[str],
    bands: Sequence[str],
    stop_after: int | None,
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """The outcome rows and series rows of every batch result of ``stream``
    (at most ``stop_after`` batches); the stream is closed at the end."""
    count = 0
    try:
        for key, result in stream:
            ids = index_of[key]
            frame = pd.DataFrame(result.outcomes, columns=outcome_names)
            frame.insert(0, "run", ids)
            yield frame, series_rows(ids, bands, result.series, result.times)
            count += 1
            if stop_after is not None and count >= stop_after:
                break
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
