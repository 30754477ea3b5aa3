"""Observed time series to fit a model to, read from a CSV file.

Format, one observation a row (a header row first)::

    variable,time,value,sd,weight
    Infectious,10,52.1,5,1
    Infectious,20,230.4,20,1
    Recovered,20,101.7,10,2

Columns:

- ``variable``: a variable of the model (any spelling
  :meth:`pyloop.engine.Model.resolve_name` accepts);
- ``time``: in the model's time unit, inside the run (INITIAL TIME to
  FINAL TIME);
- ``value``: the observed value, in the variable's units;
- ``sd`` (optional): the standard deviation of the observation error, in
  the variable's units, or ``rel_tol`` (optional): a relative tolerance,
  turned into ``sd = rel_tol * |value|``. With neither column every row has
  ``sd = 1`` (the unweighted payoff). Each row's ``sd`` must be positive;
- ``weight`` (optional, default 1): a non-negative multiplier of the row's
  term in the payoff.

Every problem (missing file or column, empty file, unknown variable, time
outside the run, a value that is not a number) is one
:class:`ObservationError` naming the file and, where there is one, the row.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pyloop.errors import PyloopError, suggest

__all__ = [
    "ObservationError",
    "Observations",
    "REQUIRED_COLUMNS",
    "observations_from_arrays",
    "observations_path",
    "read_observations",
]

#: Columns every observations file has.
REQUIRED_COLUMNS = ("variable", "time", "value")
_OPTIONAL_COLUMNS = ("sd", "rel_tol", "weight")


class ObservationError(PyloopError):
    """An observations file is missing, malformed or does not match the model."""


@dataclass(frozen=True)
class Observations:
    """Checked observations, one entry per row of the file (in file order).

    Attributes:
        variable: canonical model variable name of each row.
        time: observation times, in the model's time unit.
        value: observed values, in each variable's units.
        sd: standard deviation of each observation's error (positive).
        weight: weight of each row in the payoff (non-negative).
        path: the file read, or ``None`` when built in memory.
    """

    variable: tuple[str, ...]
    time: np.ndarray
    value: np.ndarray
    sd: np.ndarray
    weight: np.ndarray
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.variable)

    @property
    def variables(self) -> list[str]:
        """The observed variables, in order of first appearance."""
        return list(dict.fromkeys(self.variable))

    def select(self, mask: np.ndarray) -> "Observations":
        """The rows where ``mask`` is true."""
        mask = np.asarray(mask, dtype=bool)
        return Observations(
            tuple(v for v, keep in zip(self.variable, mask) if keep),
            self.time[mask], self.value[mask], self.sd[mask], self.weight[mask], self.path,
        )


def observations_path(model_path: str | os.PathLike[str]) -> Path:
    """The observations file beside a model: ``X.mdl`` -> ``X.observations.csv``
    (which may not exist)."""
    p = Path(model_path)
    return p.with_name(p.stem + ".observations.csv")


def _number(text: str, column: str, row: int, file: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ObservationError(
            f"'{file}' row {row}: {column} '{text}' is not a number; write a finite number "
            "with a '.' as decimal point"
        )
    return value


def read_observations(path: str | os.PathLike[str], model: Any) -> Observations:
    """Read an observations CSV and check it against a loaded model.

    Args:
        path: the CSV file (format in the module docstring).
        model: a :class:`~pyloop.engine.Model`.

    Returns:
        The checked :class:`Observations`.

    Raises:
        ObservationError: the file is missing, unreadable or empty; a required
            column is missing; a row names an unknown variable (with the
            closest names), has a time outside the run, a value, sd,
            rel_tol or weight that is not a finite number, or an sd that is
            not positive.
    """
    path = Path(path)
    file = path.name
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.reader(handle))
    except FileNotFoundError:
        raise ObservationError(f"observations file not found: '{path}'; check --data") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ObservationError(f"cannot read observations file '{file}': {reason}") from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise ObservationError(
            f"observations file '{file}' is empty; it needs a header "
            f"({', '.join(REQUIRED_COLUMNS)}) and one row per observation"
        )
    header = [h.strip().lower() for h in rows[0]]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ObservationError(
            f"observations file '{file}' has no column {', '.join(repr(c) for c in missing)}; "
            f"the header must name {', '.join(REQUIRED_COLUMNS)} (optional: {', '.join(_OPTIONAL_COLUMNS)})"
        )
    if "sd" in header and "rel_tol" in header:
        raise ObservationError(f"observations file '{file}' has both 'sd' and 'rel_tol'; keep one")
    if len(rows) == 1:
        raise ObservationError(f"observations file '{file}' has a header but no observations")
    col = {name: header.index(name) for name in (*REQUIRED_COLUMNS, *_OPTIONAL_COLUMNS) if name in header}
    t = model.time
    variables: list[str] = []
    times, values, sds, weights = [], [], [], []
    for number, row in enumerate(rows[1:], start=2):
        cells = {name: (row[i].strip() if i < len(row) else "") for name, i in col.items()}
        name = cells["variable"]
        resolved = model.resolve_name(name) if name else None
        if resolved is None:
            hint = suggest(name, [v.name for v in model.variables]) or (
                f"; model '{model.name}' has no such variable"
            )
            raise ObservationError(f"'{file}' row {number}: unknown variable '{name}'{hint}")
        time = _number(cells["time"], "time", number, file)
        if not t.initial_time - 1e-9 <= time <= t.final_time + 1e-9:
            raise ObservationError(
                f"'{file}' row {number}: time {time:g} is outside the run "
                f"({t.initial_time:g} to {t.final_time:g}); drop the row or extend the run"
            )
        value = _number(cells["value"], "value", number, file)
        if "sd" in cells:
            sd = _number(cells["sd"], "sd", number, file)
        elif "rel_tol" in cells:
            sd = _number(cells["rel_tol"], "rel_tol", number, file) * abs(value)
        else:
            sd = 1.0
        if sd <= 0:
            raise ObservationError(
                f"'{file}' row {number}: the error sd of the observation must be positive, "
                f"not {sd:g}; give a positive sd (or rel_tol on a non-zero value)"
            )
        weight = _number(cells["weight"], "weight", number, file) if "weight" in cells else 1.0
        if weight < 0:
            raise ObservationError(f"'{file}' row {number}: weight {weight:g} must not be negative")
        variables.append(resolved)
        times.append(time)
        values.append(value)
        sds.append(sd)
        weights.append(weight)
    return Observations(
        tuple(variables), np.array(times), np.array(values), np.array(sds), np.array(weights), path
    )


def observations_from_arrays(
    variable: Sequence[str], time: Sequence[float], value: Sequence[float],
    sd: Sequence[float], weight: Sequence[float] | None = None,
) -> Observations:
    """Observations built in memory (no checks against a model)."""
    n = len(variable)
    return Observations(
        tuple(variable), np.asarray(time, dtype=float), np.asarray(value, dtype=float),
        np.asarray(sd, dtype=float), np.ones(n) if weight is None else np.asarray(weight, dtype=float),
    )
