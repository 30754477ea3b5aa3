"""The files of an ensemble in its output folder, and resuming them.

An ensemble folder holds ``manifest.json``, ``samples.csv``,
``outcomes.csv`` and (when series are kept) ``series.parquet`` or
``series.csv`` (:data:`SERIES_FORMATS`); see
:mod:`pyloop.sensitivity.ensemble` for their contents and for when a folder
is refused, resumed or replaced. This module writes them (each batch
appended as it arrives, rows sorted by run at the end), reads them back
(dropping any partial last line), and undoes a failed run through
:class:`EnsembleFolder`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from pyloop.errors import PyloopError
from pyloop.files import cannot_write, clear_stale_staging, make_folder, remove_created, write_text_atomic
from pyloop.sensitivity.methods import METHODS

__all__ = [
    "DERIVED_FILES",
    "ENSEMBLE_FILES",
    "FORMAT",
    "SERIES_FORMATS",
    "EnsembleFolder",
    "append_batch",
    "check_series_format",
    "finish_series",
    "read_series",
    "complete_lines",
    "file_sha256",
    "prepare_folder",
    "read_manifest",
    "read_table",
    "sort_by_run",
]

#: Version of the manifest's layout.
FORMAT = 1
#: Formats the kept series can be written in (the first is the default).
SERIES_FORMATS = ("parquet", "csv")
#: Rows per Parquet row group (fixed, so the same rows give the same bytes).
PARQUET_ROW_GROUP = 65536


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (the model's, for the manifest)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def complete_lines(path: Path) -> str:
    """The text of ``path`` up to its last newline (a partial last line is dropped)."""
    if not path.is_file():
        return ""
    text = path.read_text()
    return text[: text.rfind("\n") + 1] if "\n" in text else ""


def read_table(text: str, columns: Sequence[str]) -> pd.DataFrame:
    """The complete rows of a CSV text (empty table of ``columns`` if none)."""
    if not text.strip():
        return pd.DataFrame(columns=list(columns))
    frame = pd.read_csv(io.StringIO(text))
    return frame.dropna()


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` through a temporary file that never outlives a failure."""
    write_text_atomic(path, text)


def csv_text(frame: pd.DataFrame, header: bool) -> str:
    """``frame`` as CSV, each float in its shortest form that reads back to
    the same value (Python's ``repr``: exact, and faster than a format string)."""
    return frame.to_csv(index=False, header=header, lineterminator="\n")


def series_rows(ids: Sequence[int], bands: Sequence[str], kept: np.ndarray, times: np.ndarray) -> pd.DataFrame:
    """The ``series.csv`` rows of a batch: ``run``, ``variable`` and one
    column per kept time, from its kept series (runs x bands x times)."""
    if not bands:
        return pd.DataFrame()
    rows = []
    for i, run in enumerate(ids):
        for b, variable in enumerate(bands):
            rows.append([run, variable, *kept[i, b]])
    return pd.DataFrame(rows, columns=["run", "variable", *[repr(float(x)) for x in times]])


def append_rows(path: Path, frame: pd.DataFrame, wanted: Any) -> None:
    """Append ``frame``'s rows to the CSV ``path`` (with a header if new).

    A failed write (full disk) cuts the file back to its earlier length, so
    it never ends in a partial row.
    """
    if not wanted or frame.empty:
        return
    size = path.stat().st_size if path.is_file() else None
    try:
        with open(path, "a") as fh:
            fh.write(csv_text(frame, not size))
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


def sort_by_run(out: Path, series: bool) -> None:
    """Rewrite ``outcomes.csv`` (and ``series.csv``) with their rows ordered
    by run, so the files do not depend on the order batches finished in."""
    for name in ("outcomes.csv", "series.csv") if series else ("outcomes.csv",):
        path = out / name
        if not path.is_file():
            continue
        full = path.read_text()
        text = complete_lines(path)
        lines = text.splitlines(keepends=True)
        if len(lines) < 2:
            continue
        rows = lines[1:]
        ordered = sorted(rows, key=lambda line: int(float(line.split(",", 1)[0])))  # stable
        if ordered != rows or text != full:
            write_atomic(path, lines[0] + "".join(ordered))


def check_series_format(series_format: str) -> str:
    """``series_format`` if it is one of :data:`SERIES_FORMATS`.

    Raises:
        PyloopError: it is not.
    """
    if series_format not in SERIES_FORMATS:
        raise PyloopError(
            f"unknown series format '{series_format}'; choose one of: {', '.join(SERIES_FORMATS)}"
        )
    return series_format


def read_series(out: Path) -> pd.DataFrame:
    """The kept series rows in ``out``: those of ``series.parquet`` (a
    finished ensemble) followed by the complete rows of ``series.csv`` (the
    file a running ensemble appends to)."""
    parts = []
    parquet = out / "series.parquet"
    if parquet.is_file():
        parts.append(pd.read_parquet(parquet))
    text = complete_lines(out / "series.csv")
    if text.strip() or not parts:
        parts.append(read_table(text, ["run", "variable"]))
    parts = [p for p in parts if len(p)] or parts[:1]
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def write_parquet(path: Path, frame: pd.DataFrame) -> None:
    """Write ``frame`` as Parquet, all-or-nothing, the same bytes for the
    same rows: fixed row groups, no statistics that vary, no timestamps."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pyloop.files import write_file

    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata(None)  # no library versions in the file
    types = dict(zip(table.column_names, table.schema.types))
    floats = {n: "BYTE_STREAM_SPLIT" for n, t in types.items() if pa.types.is_floating(t)}
    words = [n for n, t in types.items() if pa.types.is_string(t) or pa.types.is_large_string(t)]

    def write(target: Path) -> None:
        # floats split by byte compress about 2.6 times better than CSV text
        pq.write_table(table, target, row_group_size=PARQUET_ROW_GROUP, compression="zstd",
                       use_dictionary=words, column_encoding=floats, write_statistics=False,
                       store_schema=False)

    write_file(path, write)


def finish_series(out: Path, series_format: str) -> None:
    """Leave the kept series of a finished ensemble in ``series_format``:
    ``parquet`` converts the rows appended to ``series.csv`` (already sorted
    by run) into ``series.parquet`` and removes the CSV; ``csv`` does the
    reverse if a Parquet file is there."""
    csv_path, parquet_path = out / "series.csv", out / "series.parquet"
    if not csv_path.is_file() and not parquet_path.is_file():
        return
    if series_format == "parquet":
        if csv_path.is_file():
            frame = read_series(out)
            write_parquet(parquet_path, frame)
            csv_path.unlink()
    elif parquet_path.is_file():
        frame = read_series(out)
        write_atomic(csv_path, csv_text(frame, True) if len(frame) else "")
        parquet_path.unlink()


#: Files an ensemble writes into its folder.
ENSEMBLE_FILES = ("manifest.json", "samples.csv", "outcomes.csv", "series.csv", "series.parquet")
#: Files :mod:`pyloop.sensitivity.study` derives from an ensemble in its folder.
DERIVED_FILES = (
    "bands_*.csv",
    *(f"{m.NAME}.csv" for m in METHODS.values() if m.HAS_INDICES),
    "prim_box.csv",
    "prim_trajectory.csv",
)


class EnsembleFolder:
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
        for pattern in DERIVED_FILES:
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


def describe_folder(out: Path) -> str:
    """What ensemble ``out`` holds, for messages: complete or unfinished."""
    try:
        runs = int(json.loads((out / "manifest.json").read_text())["runs"])
        text = complete_lines(out / "outcomes.csv")
        done = len({line.split(",", 1)[0] for line in text.splitlines()[1:]})
    except (OSError, ValueError, KeyError, TypeError):
        return "an ensemble"
    if done >= runs:
        return f"a complete ensemble ({runs} runs)"
    return f"an unfinished ensemble ({done} of {runs} runs)"


def prepare_folder(
    folder: EnsembleFolder,
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
        outcomes = read_table(complete_lines(out / "outcomes.csv"), ["run", *outcome_names])
        series = read_series(out)
        outcomes = outcomes.drop_duplicates("run", keep="last")
        if bands:
            counts = series.drop_duplicates(["run", "variable"], keep="last").groupby("run").size()
            complete = set(counts[counts == len(bands)].index.astype(int))
            outcomes = outcomes[outcomes["run"].astype(int).isin(complete)]
            series = series[series["run"].astype(int).isin(set(outcomes["run"].astype(int)))]
            series = series.drop_duplicates(["run", "variable"], keep="last")
        write_atomic(out / "outcomes.csv", csv_text(outcomes, True) if len(outcomes) else "")
        if bands:  # resumed runs append to series.csv; finish_series converts at the end
            write_atomic(out / "series.csv", csv_text(series, True) if len(series) else "")
            (out / "series.parquet").unlink(missing_ok=True)
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
            f"'{out}' already holds {describe_folder(out)}; continue it with --resume, "
            "replace it with --overwrite, or choose another --out"
        )
    folder.writing = True
    frame = pd.DataFrame(values, columns=list(names))
    frame.insert(0, "run", range(len(values)))
    write_atomic(out / "samples.csv", csv_text(frame, True))
    write_atomic(manifest_path, json.dumps(manifest, indent=2) + "\n")
    return {}


def append_batch(out: Path, outcomes: pd.DataFrame, series: pd.DataFrame, bands: Sequence[str]) -> None:
    """Append one batch: its series rows first, then its outcome rows (a run
    counts as done once its outcome row is written)."""
    append_rows(out / "series.csv", series, bands)
    append_rows(out / "outcomes.csv", outcomes, True)


def read_manifest(out: Path) -> dict[str, Any]:
    """The manifest of the ensemble in ``out``.

    Raises:
        PyloopError: there is none.
    """
    manifest_path = out / "manifest.json"
    if not manifest_path.is_file():
        raise PyloopError(f"no ensemble in '{out}' (manifest.json is missing)")
    return json.loads(manifest_path.read_text())
