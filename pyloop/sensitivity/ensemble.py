"""Ensembles of runs: Monte Carlo bands, Sobol and Morris indices, resumable output.

:func:`run_ensemble` samples the uncertain constants of a model (see
:mod:`pyloop.declarations.uncertainty`), runs every sample under a scenario and policy on
one of the executors of :mod:`pyloop.sensitivity.executors`, and returns an
:class:`EnsembleResult`. The same seed gives the same samples, and every
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
- ``series.csv`` (when series are kept): ``run``, ``variable`` and one column
  per kept time, appended per batch before that batch's outcomes.

A run counts as done when its outcome row (and all its series rows) are
complete; a resumed ensemble drops any partial trailing line first. When a
run ends, ``outcomes.csv`` and ``series.csv`` are rewritten with their rows
ordered by run, so the same seed gives the same bytes on every executor and
after a resume.

A folder that already holds an ensemble is refused unless ``resume``
(continue it) or ``overwrite`` (replace its own files, and the files the
sensitivity study derived from them; the user's other files stay) is
given. A fresh run that fails removes the files it wrote (and restores an
ensemble it was replacing); one that is interrupted keeps its valid partial
results for ``resume``, unless it was replacing an ensemble, which is then
restored.

Analyses take an :class:`EnsembleResult`: :func:`percentile_bands`,
:func:`sobol_indices`, :func:`morris_indices`; scenario discovery is in
:mod:`pyloop.sensitivity.discovery`.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
import sys
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from pyloop.errors import PyloopError
from pyloop.files import cannot_write, clear_stale_staging, make_folder, remove_created, write_text_atomic
from pyloop.sensitivity.executors import Task, evaluate, iter_dask, iter_processes, iter_serial
from pyloop.engine.pysd_model import Model, load_model
from pyloop.runner import _TIME_KEYWORDS, _validate
from pyloop.declarations.scenarios import load_scenarios
from pyloop.declarations.uncertainty import UncertaintySpec, as_table, check_ensemble_size, read_uncertainty, sample
from pyloop.engine.vectorised import NotVectorisable

__all__ = [
    "EXECUTORS",
    "EnsembleResult",
    "load_ensemble",
    "morris_indices",
    "percentile_bands",
    "run_ensemble",
    "sobol_indices",
]

#: Executors, fastest first.
EXECUTORS = ("vectorised", "serial", "processes", "dask")

#: Most kept times per series (longer runs keep every k-th saved time).
MAX_BAND_TIMES = 160

#: Relative tolerance of the check that vectorised runs equal serial runs.
VECTOR_RTOL = 1e-12

_FORMAT = 1


@dataclass
class EnsembleResult:
    """A finished (or resumed) ensemble.

    Attributes:
        model: the model's name.
        method: ``"mc"``, ``"sobol"`` or ``"morris"``.
        seed: the seed of the samples.
        n: the base number of samples (runs for ``mc``; see
            :func:`pyloop.declarations.uncertainty.sample` for the others).
        spec: parameters, outcomes and kept series.
        scenario: scenario name or ``None``; ``policy`` likewise.
        base: constants fixed for every run (by the scenario and policy).
        unit: samples in the unit hypercube, runs x parameters.
        samples: parameter values, index ``run``, one column per parameter.
        outcomes: index ``run``, one column per outcome.
        series: kept variable -> DataFrame (index ``run``, one column per
            kept time).
        executor: the executor that ran the samples.
        time_units: the model's time unit.
    """

    model: str
    method: str
    seed: int
    n: int
    spec: UncertaintySpec
    scenario: str | None
    policy: str | None
    base: Mapping[str, float]
    unit: np.ndarray
    samples: pd.DataFrame
    outcomes: pd.DataFrame
    series: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    executor: str = "vectorised"
    time_units: str | None = None

    @property
    def name(self) -> str:
        name = self.scenario or self.model
        return f"{name}+{self.policy}" if self.policy else name


# -------------------------------------------------------------------- helpers
def _fixed_constants(model: Model, scenario: str | None, policy: str | None) -> dict[str, float]:
    constants: dict[str, float] = {}
    if scenario is not None or policy is not None:
        sf = load_scenarios(model)
        if scenario is not None:
            sf.scenario(scenario)
            constants.update(_validate(model, sf.resolve(scenario), f"scenario '{scenario}'"))
        if policy is not None:
            constants.update(_validate(model, sf.policy(policy).constants, f"policy '{policy}'"))
    for key in constants:
        if key in _TIME_KEYWORDS:
            raise PyloopError(f"an ensemble cannot change '{key}' per scenario; edit the model instead")
    return constants


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _complete_lines(path: Path) -> str:
    """The text of ``path`` up to its last newline (a partial last line is dropped)."""
    if not path.is_file():
        return ""
    text = path.read_text()
    return text[: text.rfind("\n") + 1] if "\n" in text else ""


def _read_table(text: str, columns: Sequence[str]) -> pd.DataFrame:
    if not text.strip():
        return pd.DataFrame(columns=list(columns))
    frame = pd.read_csv(io.StringIO(text))
    return frame.dropna()


def _write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` through a temporary file that never outlives a failure."""
    write_text_atomic(path, text)


def _csv(frame: pd.DataFrame, header: bool) -> str:
    return frame.to_csv(index=False, header=header, float_format="%.17g", lineterminator="\n")


def _vector_ok(task: Task, values: np.ndarray) -> str | None:
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


def _progress(total: int, initial: int, enabled: bool | None):
    if enabled is None:
        enabled = total > 1 and sys.stderr.isatty()
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc="samples", unit="run", file=sys.stderr, leave=False)


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
    progress: bool | None = None,
    stop_after: int | None = None,
) -> EnsembleResult:
    """Sample the model's uncertain constants and run every sample.

    Args:
        model: a loaded :class:`Model` or a model file path.
        method: ``"mc"``, ``"sobol"`` or ``"morris"`` (see
            :func:`pyloop.declarations.uncertainty.sample` for the number of runs).
        samples: base number of samples.
        seed: seed of the samples; the same seed gives the same result on
            every executor.
        scenario: scenario whose constants are fixed for every run; a
            constant the scenario or policy sets is not sampled.
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
        progress: show a progress bar on stderr (default: when stderr is a
            terminal).
        stop_after: stop after this many batches (to test interruption).

    Returns:
        The :class:`EnsembleResult` (every run, including resumed ones).

    Raises:
        PyloopError: bad method, sample count, executor, uncertainty file,
            an ``out`` directory holding a different ensemble, or holding
            any ensemble without ``resume`` or ``overwrite``.
        OutputError: ``out`` cannot be written (the files this run created
            are removed again).
    """
    model = model if isinstance(model, Model) else load_model(model)
    if executor not in EXECUTORS:
        raise PyloopError(f"unknown executor '{executor}'; use one of {', '.join(EXECUTORS)}")
    if executor == "dask" and not dask_address:
        raise PyloopError("the dask executor needs a scheduler address or 'local'")
    if not isinstance(spec, UncertaintySpec):
        spec = read_uncertainty(model, spec)
    base = _fixed_constants(model, scenario, policy)
    spec = spec.without(set(base))
    check_ensemble_size(model, spec, method, samples, kept_times=MAX_BAND_TIMES + 1)
    unit = sample(spec, method, samples, seed)
    values = spec.transform(unit)
    runs = len(values)
    names = spec.names
    t = model.time
    saved = int(round((t.final_time - t.initial_time) / t.saveper)) + 1
    stride = max(1, math.ceil(saved / MAX_BAND_TIMES))
    task = Task(str(model.path), dict(base), tuple(names), spec.outcomes, spec.bands, stride)
    if batch_size is None:
        batch_size = 500
        if executor in ("processes", "dask"):
            batch_size = max(1, min(batch_size, math.ceil(runs / (4 * (workers or 2)))))
    if batch_size < 1:
        raise PyloopError(f"batch size must be at least 1, not {batch_size}")

    manifest = {
        "format": _FORMAT,
        "model": model.path.name,
        "model_sha256": _sha256(model.path),
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
    folder = _Folder(out_dir) if out_dir is not None else None
    done: dict[str, pd.DataFrame] = {}
    if folder is not None:
        try:
            done = _prepare_out(folder, manifest, names, values, outcome_names, spec.bands, resume, overwrite)
        except BaseException as exc:
            folder.fail(exc)
            raise
    finished = set(done["outcomes"]["run"].astype(int)) if done else set()

    todo = [i for i in range(runs) if i not in finished]
    batches = [
        (todo[k], values[todo[k : k + batch_size]]) for k in range(0, len(todo), batch_size)
    ]
    index_of = {todo[k]: todo[k : k + batch_size] for k in range(0, len(todo), batch_size)}

    new_outcomes: list[pd.DataFrame] = []
    new_series: list[pd.DataFrame] = []
    bar = _progress(runs, runs - len(todo), progress)
    try:
        stream, executor = _open_stream(task, values, todo, batches, executor, workers, dask_address)
        _collect(stream, index_of, outcome_names, spec.bands, out_dir, new_outcomes, new_series, bar, stop_after)
        if folder is not None:
            _sort_outputs(out_dir, bool(spec.bands))
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
    return _result(manifest, model, spec, unit, values, outcomes, series_all, executor)


def _open_stream(task: Task, values: np.ndarray, todo: list[int], batches, executor: str,
                 workers: int | None, dask_address: str | None):
    """The iterator of batch results on ``executor`` (vectorised when the
    model allows it), and the executor actually used."""
    vectorise = executor != "serial"
    if task.needs_loops:
        vectorise = False  # loop scores need one full run per sample (pyloop.sensitivity.executors)
        if executor == "vectorised":
            executor = "serial"
    if vectorise and batches:
        why = _vector_ok(task, values[todo[:2]])
        if why is not None:
            warnings.warn(
                f"{why}; running one sample at a time"
                + ("" if executor != "vectorised" else " in worker processes"),
                RuntimeWarning,
                stacklevel=3,
            )
            vectorise = False
            if executor == "vectorised":
                executor = "processes"
    if executor in ("vectorised", "serial"):
        stream = iter_serial(task, batches, vectorise)
    elif executor == "processes":
        stream = iter_processes(task, batches, workers or 2, vectorise)
    else:
        stream = iter_dask(task, batches, dask_address, workers, vectorise)
    return stream, executor


def _collect(stream, index_of, outcome_names, bands, out_dir, new_outcomes, new_series, bar, stop_after) -> None:
    """Take every batch result from ``stream``; append it to the files in
    ``out_dir`` (if any) and to the lists; close the stream at the end."""
    count = 0
    try:
        for key, result in stream:
            ids = index_of[key]
            frame = pd.DataFrame(result.outcomes, columns=outcome_names)
            frame.insert(0, "run", ids)
            series = _series_frame(ids, bands, result.series, result.times)
            if out_dir is not None:
                _append(out_dir / "series.csv", series, bands)
                _append(out_dir / "outcomes.csv", frame, True)
            new_outcomes.append(frame)
            new_series.append(series)
            if bar is not None:
                bar.update(len(ids))
            count += 1
            if stop_after is not None and count >= stop_after:
                break
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()


def _series_frame(ids: Sequence[int], bands: Sequence[str], kept: np.ndarray, times: np.ndarray) -> pd.DataFrame:
    if not bands:
        return pd.DataFrame()
    rows = []
    for i, run in enumerate(ids):
        for b, variable in enumerate(bands):
            rows.append([run, variable, *kept[i, b]])
    return pd.DataFrame(rows, columns=["run", "variable", *[repr(float(x)) for x in times]])


def _append(path: Path, frame: pd.DataFrame, wanted: Any) -> None:
    """Append ``frame``'s rows to the CSV ``path`` (with a header if new).

    A failed write (full disk) cuts the file back to its earlier length, so
    it never ends in a partial row.
    """
    if not wanted or frame.empty:
        return
    size = path.stat().st_size if path.is_file() else None
    try:
        with open(path, "a") as fh:
            fh.write(_csv(frame, not size))
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        try:
            if size is None:
                path.unlink(missing_ok=True)
            else:
                os.truncate(path, size)
        except OSError:
            pass  # a partial last row is dropped on reading anyway
        raise cannot_write(path, exc) from exc


def _sort_outputs(out: Path, series: bool) -> None:
    """Rewrite ``outcomes.csv`` (and ``series.csv``) with their rows ordered
    by run, so the files do not depend on the order batches finished in."""
    for name in ("outcomes.csv", "series.csv") if series else ("outcomes.csv",):
        path = out / name
        if not path.is_file():
            continue
        full = path.read_text()
        text = _complete_lines(path)
        lines = text.splitlines(keepends=True)
        if len(lines) < 2:
            continue
        rows = lines[1:]
        ordered = sorted(rows, key=lambda line: int(float(line.split(",", 1)[0])))  # stable
        if ordered != rows or text != full:
            _write_atomic(path, lines[0] + "".join(ordered))


#: Files an ensemble writes into its folder.
ENSEMBLE_FILES = ("manifest.json", "samples.csv", "outcomes.csv", "series.csv")
#: Files :mod:`pyloop.sensitivity.study` derives from an ensemble in its folder.
_DERIVED = ("bands_*.csv", "sobol.csv", "morris.csv", "prim_box.csv", "prim_trajectory.csv")


class _Folder:
    """The output folder of one ensemble run: what this run created there,
    and the backup of an earlier ensemble it replaces (``overwrite``)."""

    def __init__(self, path: Path):
        self.path = path
        self.fresh = True  # False when resuming: the files hold earlier results
        self.writing = False  # True once this run writes (or sets aside) ensemble files
        self._created_dirs: list[Path] = []
        self._backup: Path | None = None
        self._set_aside: list[str] = []

    def open(self) -> None:
        """Create the folder if needed; clear what killed runs left behind."""
        self._created_dirs = make_folder(self.path)
        clear_stale_staging(self.path)
        for name in ENSEMBLE_FILES:  # temporary files of earlier versions of pyloop
            (self.path / f"{name}.tmp").unlink(missing_ok=True)

    def set_aside(self) -> None:
        """Move the ensemble's own files (and those derived from them) into
        a backup inside the folder, to restore if this run fails."""
        import tempfile

        from pyloop.files import STAGING_PREFIX

        names = [n for n in ENSEMBLE_FILES if (self.path / n).is_file()]
        for pattern in _DERIVED:
            names += sorted(p.name for p in self.path.glob(pattern) if p.is_file())
        if not names:
            return
        try:
            self._backup = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=self.path))
            (self._backup / "backup").mkdir()
            for name in names:
                os.replace(self.path / name, self._backup / "backup" / name)
                self._set_aside.append(name)
        except OSError as exc:
            self._restore()
            raise cannot_write(self.path, exc) from exc

    def _restore(self) -> None:
        if self._backup is None:
            return
        for name in self._set_aside:
            try:
                os.replace(self._backup / "backup" / name, self.path / name)
            except OSError:
                return  # keep the backup folder: it holds the only copy
        self._set_aside.clear()
        shutil.rmtree(self._backup, ignore_errors=True)
        self._backup = None

    def fail(self, exc: BaseException) -> None:
        """Undo a fresh run that failed: remove its files, restore the
        ensemble it replaced, remove the folder if this run created it and
        it is empty. An interrupted fresh run that replaced nothing keeps its
        valid partial results, to be completed with ``resume``."""
        interrupted = isinstance(exc, KeyboardInterrupt)
        if not self.writing:  # refused before writing anything
            remove_created(self._created_dirs)
        elif self.fresh and (self._set_aside or not interrupted):
            for name in ENSEMBLE_FILES:
                try:
                    (self.path / name).unlink(missing_ok=True)
                except OSError:
                    pass
            self._restore()
            remove_created(self._created_dirs)

    def succeed(self) -> None:
        """Drop the backup of a replaced ensemble."""
        if self._backup is not None:
            shutil.rmtree(self._backup, ignore_errors=True)
            self._backup = None


def _holds(out: Path) -> str:
    """What ensemble ``out`` holds, for messages: complete or unfinished."""
    try:
        runs = int(json.loads((out / "manifest.json").read_text())["runs"])
        text = _complete_lines(out / "outcomes.csv")
        done = len({line.split(",", 1)[0] for line in text.splitlines()[1:]})
    except (OSError, ValueError, KeyError, TypeError):
        return "an ensemble"
    if done >= runs:
        return f"a complete ensemble ({runs} runs)"
    return f"an unfinished ensemble ({done} of {runs} runs)"


def _prepare_out(
    folder: _Folder,
    manifest: Mapping[str, Any],
    names: Sequence[str],
    values: np.ndarray,
    outcome_names: Sequence[str],
    bands: Sequence[str],
    resume: bool,
    overwrite: bool = False,
) -> dict[str, pd.DataFrame]:
    """Create or check the folder; return the complete runs already there.

    Raises:
        PyloopError: the folder holds an ensemble and neither ``resume`` nor
            ``overwrite`` is given, or ``resume`` finds a different one.
    """
    out = folder.path
    folder.open()
    manifest_path = out / "manifest.json"
    if resume and manifest_path.is_file():
        try:
            old = json.loads(manifest_path.read_text())
        except ValueError:
            raise PyloopError(
                f"'{manifest_path}' is not valid JSON, so the ensemble cannot be resumed; "
                "replace it with --overwrite or choose another --out"
            ) from None
        new = json.loads(json.dumps(manifest))
        for key in new:
            if old.get(key) != new[key]:
                raise PyloopError(
                    f"'{out}' holds a different ensemble ({key} differs: "
                    f"{old.get(key)!r} there, {new[key]!r} now); use another --out or drop --resume"
                )
        folder.fresh = False
        folder.writing = True
        outcomes = _read_table(_complete_lines(out / "outcomes.csv"), ["run", *outcome_names])
        series = _read_table(_complete_lines(out / "series.csv"), ["run", "variable"])
        outcomes = outcomes.drop_duplicates("run", keep="last")
        if bands:
            counts = series.drop_duplicates(["run", "variable"], keep="last").groupby("run").size()
            complete = set(counts[counts == len(bands)].index.astype(int))
            outcomes = outcomes[outcomes["run"].astype(int).isin(complete)]
            series = series[series["run"].astype(int).isin(set(outcomes["run"].astype(int)))]
            series = series.drop_duplicates(["run", "variable"], keep="last")
        _write_atomic(out / "outcomes.csv", _csv(outcomes, True) if len(outcomes) else "")
        if bands:
            _write_atomic(out / "series.csv", _csv(series, True) if len(series) else "")
        return {"outcomes": outcomes}
    present = [n for n in ENSEMBLE_FILES if (out / n).exists()]
    if present and overwrite:
        folder.writing = True
        folder.set_aside()
    elif present and resume:
        raise PyloopError(
            f"'{out}' holds ensemble files but no manifest.json, so it cannot be resumed; "
            "replace them with --overwrite or choose another --out"
        )
    elif present:
        raise PyloopError(
            f"'{out}' already holds {_holds(out)}; continue it with --resume, "
            "replace it with --overwrite, or choose another --out"
        )
    folder.writing = True
    frame = pd.DataFrame(values, columns=list(names))
    frame.insert(0, "run", range(len(values)))
    _write_atomic(out / "samples.csv", _csv(frame, True))
    _write_atomic(manifest_path, json.dumps(manifest, indent=2) + "\n")
    return {}


def _result(
    manifest: Mapping[str, Any],
    model: Model,
    spec: UncertaintySpec,
    unit: np.ndarray,
    values: np.ndarray,
    outcomes: pd.DataFrame,
    series: pd.DataFrame | None,
    executor: str,
) -> EnsembleResult:
    samples = pd.DataFrame(values, columns=spec.names)
    samples.index.name = "run"
    outcomes = outcomes.copy()
    outcomes["run"] = outcomes["run"].astype(int)
    outcomes = outcomes.set_index("run").sort_index().astype(float)
    kept: dict[str, pd.DataFrame] = {}
    if series is not None and not series.empty:
        series = series.copy()
        series["run"] = series["run"].astype(int)
        for variable in spec.bands:
            part = series[series["variable"] == variable].drop(columns="variable")
            part = part.set_index("run").sort_index().astype(float)
            part.columns = pd.Index([float(c) for c in part.columns], name="time")
            kept[variable] = part
    return EnsembleResult(
        model=model.name,
        method=manifest["method"],
        seed=manifest["seed"],
        n=manifest["samples"],
        spec=spec,
        scenario=manifest["scenario"],
        policy=manifest["policy"],
        base=dict(manifest["fixed"]),
        unit=unit,
        samples=samples,
        outcomes=outcomes,
        series=kept,
        executor=executor,
        time_units=model.time.units,
    )


def load_ensemble(
    out: str | os.PathLike[str],
    model: Model,
    spec: UncertaintySpec | None = None,
) -> EnsembleResult:
    """Read an ensemble written by :func:`run_ensemble` (complete or not).

    Args:
        out: the output directory.
        model: the model the ensemble ran (for names and units).
        spec: the uncertainty spec; default the model's own, less the
            constants the ensemble's scenario and policy fixed, with the
            opt-in outcome sets the ensemble computed.
    """
    out = Path(out)
    manifest_path = out / "manifest.json"
    if not manifest_path.is_file():
        raise PyloopError(f"no ensemble in '{out}' (manifest.json is missing)")
    manifest = json.loads(manifest_path.read_text())
    if spec is None:
        spec = read_uncertainty(model)
        wanted = list(manifest.get("outcomes", {}))
        if not set(wanted) <= {o.name for o in spec.outcomes} and spec.outcome_sets:
            spec = read_uncertainty(model, outcome_sets=spec.outcome_sets)
            by_name = {o.name: o for o in spec.outcomes}
            spec = replace(spec, outcomes=tuple(by_name[n] for n in wanted if n in by_name))
        spec = spec.without(set(manifest["fixed"]))
    samples = pd.read_csv(out / "samples.csv").set_index("run")
    values = samples[spec.names].to_numpy(dtype=float)
    unit = sample(spec, manifest["method"], manifest["samples"], manifest["seed"])
    outcome_names = [o.name for o in spec.outcomes]
    outcomes = _read_table(_complete_lines(out / "outcomes.csv"), ["run", *outcome_names])
    series = _read_table(_complete_lines(out / "series.csv"), ["run", "variable"])
    return _result(manifest, model, spec, unit, values, outcomes, series, "files")


# ----------------------------------------------------------------- analyses
def percentile_bands(
    result: EnsembleResult, variable: str, percentiles: Sequence[float] = (5, 25, 50, 75, 95)
) -> pd.DataFrame:
    """Percentiles of a kept series over the runs, at each kept time.

    Returns:
        DataFrame indexed by time, one column per percentile.
    """
    if variable not in result.series:
        kept = ", ".join(result.series) or "none"
        raise PyloopError(f"no series of '{variable}' in the ensemble; kept series: {kept}")
    frame = result.series[variable]
    bands = np.percentile(frame.to_numpy(dtype=float), list(percentiles), axis=0)
    return pd.DataFrame(bands.T, index=frame.columns, columns=list(percentiles))


def _check_method(result: EnsembleResult, method: str) -> None:
    if result.method != method:
        raise PyloopError(
            f"{method} indices need an ensemble sampled with --method {method}, "
            f"not {result.method}"
        )
    if len(result.outcomes) != len(result.samples):
        raise PyloopError(
            f"the ensemble is incomplete ({len(result.outcomes)} of {len(result.samples)} runs); "
            "finish it with --resume"
        )


def sobol_indices(result: EnsembleResult, outcomes: Iterable[str] | None = None) -> pd.DataFrame:
    """First-order and total Sobol indices (SALib) of each outcome.

    Returns:
        DataFrame indexed by (outcome, parameter) with columns ``S1``,
        ``S1_conf``, ``ST``, ``ST_conf`` (95 % bootstrap half-widths, seeded).
        An outcome that does not vary gets NaN.
    """
    from SALib.analyze import sobol

    _check_method(result, "sobol")
    rows = []
    for name in outcomes or result.outcomes.columns:
        y = result.outcomes[name].to_numpy(dtype=float)
        if np.ptp(y) == 0:
            for p in result.spec.names:
                rows.append((name, p, np.nan, np.nan, np.nan, np.nan))
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            si = sobol.analyze(result.spec.problem(), y, calc_second_order=False, seed=result.seed)
        for j, p in enumerate(result.spec.names):
            rows.append((name, p, si["S1"][j], si["S1_conf"][j], si["ST"][j], si["ST_conf"][j]))
    frame = pd.DataFrame(rows, columns=["outcome", "parameter", "S1", "S1_conf", "ST", "ST_conf"])
    return frame.set_index(["outcome", "parameter"])


def morris_indices(result: EnsembleResult, outcomes: Iterable[str] | None = None) -> pd.DataFrame:
    """Morris elementary-effect statistics (SALib) of each outcome.

    Effects are per unit of a parameter's quantile (0 to 1 across its
    range), so they compare across parameters.

    Returns:
        DataFrame indexed by (outcome, parameter) with columns ``mu``,
        ``mu_star``, ``sigma`` and ``mu_star_conf``.
    """
    from SALib.analyze import morris

    _check_method(result, "morris")
    rows = []
    for name in outcomes or result.outcomes.columns:
        y = result.outcomes[name].to_numpy(dtype=float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            si = morris.analyze(result.spec.problem(), result.unit, y, num_levels=4, seed=result.seed)
        for j, p in enumerate(result.spec.names):
            rows.append((name, p, si["mu"][j], si["mu_star"][j], si["sigma"][j], si["mu_star_conf"][j]))
    frame = pd.DataFrame(rows, columns=["outcome", "parameter", "mu", "mu_star", "sigma", "mu_star_conf"])
    return frame.set_index(["outcome", "parameter"])
