"""Reality checks declared beside a model, measured on a run.

The checks of ``X.mdl`` live in ``X.calibration.toml``: each has a label,
its sources (rows of ``calibration.csv``), a target with units, a tolerance
(10 % relative unless stated) and how the model's value is measured on a
run (see the file's header for the measures). :func:`measure_checks` turns
them into a table with the model's value and whether it is within tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from pyloop.declarations.toml import read_toml
from pyloop.errors import PyloopError, ScenarioError, suggest

__all__ = ["Check", "calibration_path", "measure_checks", "read_checks", "read_extremes", "DEFAULT_TOLERANCE"]

#: Relative tolerance of a check that states none.
DEFAULT_TOLERANCE = 0.10
_MEASURES = ("value", "before", "after", "growth", "response", "first", "max")
_KEYS = (
    "label", "sources", "target", "units", "measure", "variable", "time", "at", "per",
    "threshold", "tolerance", "tolerance_abs",
)


@dataclass(frozen=True)
class Check:
    """One declared reality check (see the module docstring)."""

    label: str
    sources: tuple[str, ...]
    target: float
    units: str
    measure: str
    variable: str
    time: Any = None
    at: str | None = None
    per: str | None = None
    threshold: float | None = None
    tolerance: float = DEFAULT_TOLERANCE
    tolerance_abs: float | None = None


def calibration_path(model_path: str | Path) -> Path:
    """The checks file of ``X.mdl``: ``X.calibration.toml`` beside it."""
    path = Path(model_path)
    return path.with_name(path.stem + ".calibration.toml")


def read_checks(path: str | Path) -> list[Check]:
    """Read and validate a checks file.

    Raises:
        ScenarioError: unreadable file, unknown key or measure, missing field.
    """
    path = Path(path)
    data = read_toml(path, "checks file", ScenarioError)
    checks = []
    for n, entry in enumerate(data.get("checks", []), start=1):
        where = f"check {n} in '{path.name}'"
        unknown = [k for k in entry if k not in _KEYS]
        if unknown:
            raise ScenarioError(f"unknown key '{unknown[0]}' in {where}" + suggest(unknown[0], _KEYS))
        if entry.get("measure") not in _MEASURES:
            raise ScenarioError(f"{where}: measure must be one of {', '.join(_MEASURES)}")
        for key in ("label", "target", "variable"):
            if key not in entry:
                raise ScenarioError(f"{where}: missing '{key}'")
        if entry["measure"] in ("before", "after", "growth", "response") and "at" not in entry:
            raise ScenarioError(f"{where}: measure '{entry['measure']}' needs 'at' (an announcement time constant)")
        checks.append(
            Check(
                label=str(entry["label"]),
                sources=tuple(str(s) for s in entry.get("sources", ())),
                target=float(entry["target"]),
                units=str(entry.get("units", "")),
                measure=entry["measure"],
                variable=str(entry["variable"]),
                time=entry.get("time"),
                at=entry.get("at"),
                per=entry.get("per"),
                threshold=entry.get("threshold"),
                tolerance=float(entry.get("tolerance", DEFAULT_TOLERANCE)),
                tolerance_abs=entry.get("tolerance_abs"),
            )
        )
    return checks


def read_extremes(path: str | Path) -> dict[str, dict[str, float]]:
    """Extreme-condition cases of a checks file: case name -> constants.

    Raises:
        ScenarioError: unreadable file, or a case that is not a table of numbers.
    """
    path = Path(path)
    data = read_toml(path, "checks file", ScenarioError)
    cases = {}
    for name, constants in data.get("extreme_conditions", {}).items():
        if not isinstance(constants, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in constants.values()
        ):
            raise ScenarioError(f"extreme condition '{name}' in '{path.name}' must set constants to numbers")
        cases[name] = {k: float(v) for k, v in constants.items()}
    return cases


def _around(frame: pd.DataFrame, at: float) -> tuple[float, float]:
    """Saved times one step before an announcement lands and one step after.

    An announcement is a flow during the step whose time is within half a
    step of its date (Vensim's STEP convention); stocks move one step later.
    """
    index = frame.index.to_numpy()
    dt = index[1] - index[0]
    before = index[index < at - dt / 2]
    after = index[index >= at - dt / 2]
    if len(before) == 0 or len(after) < 2:
        raise PyloopError(f"announcement time {at:g} is outside the run")
    return float(before[-1]), float(after[1])


def _value(check: Check, frame: pd.DataFrame, constants: Mapping[str, float]) -> float:
    series = frame[check.variable]
    if check.measure == "value":
        if check.time in (None, "start"):
            return float(series.iloc[0])
        if check.time == "end":
            return float(series.iloc[-1])
        return float(series.loc[float(check.time)])
    if check.measure == "max":
        start = frame.index[0] if check.time in (None, "start") else float(check.time)
        return float(series.loc[start:].max())
    if check.measure == "first":
        hits = series.index[series.to_numpy() >= check.threshold]
        return float(hits[0]) if len(hits) else float("nan")
    before, after = _around(frame, float(constants[check.at]))
    if check.measure == "before":
        return float(series.loc[before])
    if check.measure == "after":
        return float(series.loc[after])
    if check.measure == "growth":
        return float(series.loc[after] / series.loc[before] - 1)
    other = frame[check.per]
    return float((series.loc[after] - series.loc[before]) / (other.loc[after] - other.loc[before]))


def measure_checks(checks: Sequence[Check], frame: pd.DataFrame, constants: Mapping[str, float]) -> pd.DataFrame:
    """The model's value for every check, and whether it is within tolerance.

    Args:
        checks: declared checks.
        frame: a run's results (index time, Vensim names as columns).
        constants: constant values of that run (announcement times).

    Returns:
        One row per check: label, sources, target, units, model, error (relative,
        or absolute in the target's units when ``tolerance_abs`` is set),
        tolerance, passed.
    """
    rows = []
    for check in checks:
        for name in (check.variable, check.per):
            if name is not None and name not in frame.columns:
                raise PyloopError(f"check '{check.label}': unknown variable '{name}'" + suggest(name, frame.columns))
        model = _value(check, frame, constants)
        if check.tolerance_abs is not None:
            error, tolerance = abs(model - check.target), float(check.tolerance_abs)
        else:
            error, tolerance = abs(model - check.target) / abs(check.target), check.tolerance
        rows.append(
            {
                "check": check.label,
                "sources": ", ".join(check.sources),
                "target": check.target,
                "units": check.units,
                "model": model,
                "error": error,
                "tolerance": tolerance,
                "passed": bool(np.isfinite(model) and error <= tolerance),
            }
        )
    return pd.DataFrame(rows)
