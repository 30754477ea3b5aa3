"""Reality checks declared beside a model, measured on a run.

The checks of ``X.mdl`` live in ``X.calibration.toml``: each has a label,
its sources (rows of ``calibration.csv`` or ``history.csv``), a target with
units, a tolerance and how the model's value is measured on a run.

Measures (times in the model's time unit; a time between saved times means
the first saved time at or after it):

- ``value``: the variable at ``time`` ("start", "end" or a time);
- ``before`` / ``after``: the variable one step before / after the
  announcement whose time the constant ``at`` holds lands;
- ``growth``: after / before - 1, around ``at`` or from ``time`` to ``until``;
- ``response``: change of the variable over change of ``per``, around ``at``
  or from ``time`` to ``until``;
- ``integral``: Euler integral of the variable (a flow) over the
  announcement's step (``at``), or from ``at`` / ``time`` to ``until`` (the
  end of the run without it); with ``per``, over the integral of ``per``;
- ``first``: first time the variable reaches ``threshold``;
- ``first_cumulative``: first time the integral of the variable (a flow)
  from ``at`` / ``time`` reaches ``threshold``;
- ``max``: largest value of the variable from ``time`` on.

Optional keys: ``plus`` (variables added to ``variable``, e.g. a total of
stocks), ``multiply_by`` / ``divide_by`` (variables or constants the
measured value is multiplied / divided by, read at the measure's first
time: the value's time, the integral's first step, the step before an
announcement lands). Tolerance: ``tolerance`` (relative, 10 % unless
stated), ``tolerance_abs`` (in the target's units), ``factor`` (the model
within a factor of the target, both positive) or ``direction = true`` (the
model has the target's sign: the direction of a change, not its size).
:func:`measure_checks` turns the checks into a table with the model's value
and whether it is within tolerance.
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
_MEASURES = ("value", "before", "after", "growth", "response", "integral", "first", "first_cumulative", "max")
_KEYS = (
    "label", "sources", "target", "units", "measure", "variable", "time", "until", "at", "per",
    "plus", "multiply_by", "divide_by", "threshold", "tolerance", "tolerance_abs", "factor", "direction",
)
_NEEDS_AT = ("before", "after")
_AT_OR_SPAN = ("growth", "response")
_NO_FACTORS = ("first", "first_cumulative", "max")


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
    until: float | None = None
    plus: tuple[str, ...] = ()
    multiply_by: tuple[str, ...] = ()
    divide_by: tuple[str, ...] = ()
    factor: float | None = None
    direction: bool = False


def calibration_path(model_path: str | Path) -> Path:
    """The checks file of ``X.mdl``: ``X.calibration.toml`` beside it."""
    path = Path(model_path)
    return path.with_name(path.stem + ".calibration.toml")


def _names(entry: dict, key: str) -> tuple[str, ...]:
    value = entry.get(key, ())
    return (value,) if isinstance(value, str) else tuple(str(v) for v in value)


def _validate(entry: dict, where: str) -> None:
    unknown = [k for k in entry if k not in _KEYS]
    if unknown:
        raise ScenarioError(f"unknown key '{unknown[0]}' in {where}" + suggest(unknown[0], _KEYS))
    measure = entry.get("measure")
    if measure not in _MEASURES:
        raise ScenarioError(f"{where}: measure must be one of {', '.join(_MEASURES)}")
    for key in ("label", "target", "variable"):
        if key not in entry:
            raise ScenarioError(f"{where}: missing '{key}'")
    if measure in _NEEDS_AT and "at" not in entry:
        raise ScenarioError(f"{where}: measure '{measure}' needs 'at' (an announcement time constant)")
    if measure in _AT_OR_SPAN and "at" not in entry and not ("time" in entry and "until" in entry):
        raise ScenarioError(f"{where}: measure '{measure}' needs 'at' (an announcement time constant) or 'time' and 'until'")
    if measure in ("response",) and "per" not in entry:
        raise ScenarioError(f"{where}: measure 'response' needs 'per'")
    if measure in ("first", "first_cumulative") and "threshold" not in entry:
        raise ScenarioError(f"{where}: measure '{measure}' needs 'threshold'")
    if measure in _NO_FACTORS and ("multiply_by" in entry or "divide_by" in entry):
        raise ScenarioError(f"{where}: measure '{measure}' takes no 'multiply_by' or 'divide_by'")
    rules = [k for k in ("tolerance", "tolerance_abs", "factor", "direction") if k in entry]
    if len(rules) > 1:
        raise ScenarioError(f"{where}: give one of 'tolerance', 'tolerance_abs', 'factor', 'direction', not {' and '.join(rules)}")
    if "factor" in entry and not (entry["factor"] > 1 and entry["target"] > 0):
        raise ScenarioError(f"{where}: 'factor' must be above 1 and the target positive")


def read_checks(path: str | Path) -> list[Check]:
    """Read and validate a checks file.

    Raises:
        ScenarioError: unreadable file, unknown key or measure, missing field,
            more than one tolerance.
    """
    path = Path(path)
    data = read_toml(path, "checks file", ScenarioError)
    checks = []
    for n, entry in enumerate(data.get("checks", []), start=1):
        _validate(entry, f"check {n} in '{path.name}'")
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
                until=entry.get("until"),
                plus=_names(entry, "plus"),
                multiply_by=_names(entry, "multiply_by"),
                divide_by=_names(entry, "divide_by"),
                factor=entry.get("factor"),
                direction=bool(entry.get("direction", False)),
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


def _around(frame: pd.DataFrame, at: float) -> tuple[float, float, float]:
    """Saved times around an announcement: the step before it lands, the
    step it lands in, the step after.

    An announcement is a flow during the step whose time is within half a
    step of its date (Vensim's STEP convention); stocks move one step later.
    """
    index = frame.index.to_numpy()
    dt = index[1] - index[0]
    before = index[index < at - dt / 2]
    after = index[index >= at - dt / 2]
    if len(before) == 0 or len(after) < 2:
        raise PyloopError(f"announcement time {at:g} is outside the run")
    return float(before[-1]), float(after[0]), float(after[1])


def _saved(frame: pd.DataFrame, time: Any) -> float:
    """The saved time of ``time``: "start", "end" or the first saved time at or after a time."""
    index = frame.index.to_numpy()
    if time in (None, "start"):
        return float(index[0])
    if time == "end":
        return float(index[-1])
    later = index[index >= float(time) - 1e-9]
    if len(later) == 0:
        raise PyloopError(f"time {float(time):g} is after the end of the run ({index[-1]:g})")
    return float(later[0])


def _span(check: Check, frame: pd.DataFrame, constants: Mapping[str, float]) -> tuple[float, float]:
    """First and last saved time a change (growth, response) is measured between."""
    if check.at is not None:
        before, _, after = _around(frame, float(constants[check.at]))
        return before, after
    return _saved(frame, check.time), _saved(frame, check.until)


def _window(check: Check, frame: pd.DataFrame, constants: Mapping[str, float]) -> np.ndarray:
    """Which saved times an integral runs over: [start, end)."""
    index = frame.index.to_numpy()
    if check.at is not None:
        start = _around(frame, float(constants[check.at]))[1]
        if check.until is not None:
            end = _saved(frame, check.until)
        else:  # an integral over the announcement's step alone, or on to the end
            end = float(index[index > start][0]) if check.measure == "integral" else np.inf
    else:
        start = _saved(frame, check.time)
        end = _saved(frame, check.until) if check.until is not None else np.inf
    return (index >= start) & (index < end)


def _integral(series: pd.Series, window: np.ndarray) -> float:
    dt = float(series.index[1] - series.index[0])
    return float(series.to_numpy()[window].sum() * dt)


def _series(check: Check, frame: pd.DataFrame) -> pd.Series:
    series = frame[check.variable]
    for name in check.plus:
        series = series + frame[name]
    return series


def _raw(check: Check, frame: pd.DataFrame, constants: Mapping[str, float]) -> tuple[float, float | None]:
    """The measured value and the saved time its factors are read at."""
    series = _series(check, frame)
    if check.measure == "value":
        at = _saved(frame, check.time)
        return float(series.loc[at]), at
    if check.measure == "max":
        return float(series.loc[_saved(frame, check.time):].max()), None
    if check.measure == "first":
        hits = series.index[series.to_numpy() >= check.threshold]
        return (float(hits[0]) if len(hits) else float("nan")), None
    if check.measure in ("integral", "first_cumulative"):
        window = _window(check, frame, constants)
        if not window.any():
            raise PyloopError(f"check '{check.label}': the integral's span holds no saved time")
        start = float(frame.index[window][0])
        if check.measure == "integral":
            value = _integral(series, window)
            return (value / _integral(frame[check.per], window) if check.per else value), start
        dt = float(frame.index[1] - frame.index[0])
        reached = np.cumsum(np.where(window, series.to_numpy(), 0.0)) * dt
        # the integral up to a saved time counts the steps before it
        hits = frame.index[1:][reached[:-1] >= check.threshold]
        return (float(hits[0]) if len(hits) else float("nan")), None
    if check.measure in ("before", "after"):
        before, _, after = _around(frame, float(constants[check.at]))
        return float(series.loc[before if check.measure == "before" else after]), before
    first, last = _span(check, frame, constants)
    if check.measure == "growth":
        return float(series.loc[last] / series.loc[first] - 1), first
    other = frame[check.per]
    return float((series.loc[last] - series.loc[first]) / (other.loc[last] - other.loc[first])), first


def _factor(name: str, frame: pd.DataFrame, constants: Mapping[str, float], at: float) -> float:
    return float(frame.at[at, name]) if name in frame.columns else float(constants[name])


def _value(check: Check, frame: pd.DataFrame, constants: Mapping[str, float]) -> float:
    value, at = _raw(check, frame, constants)
    for name in check.multiply_by:
        value *= _factor(name, frame, constants, at)
    for name in check.divide_by:
        value /= _factor(name, frame, constants, at)
    return value


def _error(check: Check, model: float) -> tuple[float, float]:
    """The error and the tolerance it is compared with (see :func:`measure_checks`)."""
    if check.direction:
        return float(np.sign(model) != np.sign(check.target)), 0.0
    if check.factor is not None:
        ratio = model / check.target
        return (max(ratio, 1 / ratio) if ratio > 0 else float("inf")), float(check.factor)
    if check.tolerance_abs is not None:
        return abs(model - check.target), float(check.tolerance_abs)
    return abs(model - check.target) / abs(check.target), check.tolerance


def _unknown(check: Check, frame: pd.DataFrame, constants: Mapping[str, float]) -> None:
    in_frame = (check.variable, check.per, *check.plus)
    for name in in_frame:
        if name is not None and name not in frame.columns:
            raise PyloopError(f"check '{check.label}': unknown variable '{name}'" + suggest(name, frame.columns))
    for name in (*check.multiply_by, *check.divide_by):
        if name not in frame.columns and name not in constants:
            known = [*frame.columns, *constants]
            raise PyloopError(f"check '{check.label}': unknown variable '{name}'" + suggest(name, known))


def measure_checks(checks: Sequence[Check], frame: pd.DataFrame, constants: Mapping[str, float]) -> pd.DataFrame:
    """The model's value for every check, and whether it is within tolerance.

    Args:
        checks: declared checks.
        frame: a run's results (index time, Vensim names as columns).
        constants: constant values of that run (announcement times, factors
            that are not in ``frame``).

    Returns:
        One row per check: label, sources, target, units, model, error,
        tolerance, passed. The error is relative; absolute in the target's
        units with ``tolerance_abs``; the ratio model / target or its
        inverse, whichever is at least 1, with ``factor``; 0 when the model
        has the target's sign and 1 when not, with ``direction`` (tolerance 0).
    """
    rows = []
    for check in checks:
        _unknown(check, frame, constants)
        model = _value(check, frame, constants)
        error, tolerance = _error(check, model)
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
