"""Reading a finished run for the ledger: the columns a declaration names, the
time step, the position of a year among the saved times, and the years to
report on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

import numpy as np
import pandas as pd

from pyloop.declarations.ledger import LedgerError
from pyloop.errors import suggest

if TYPE_CHECKING:  # pragma: no cover
    from pyloop.runner import RunResult

#: Largest accepted accounting error, in the model's money unit (B$).
TOLERANCE = 1e-6


def _columns(frame: pd.DataFrame, names: Iterable[str], where: str) -> np.ndarray:
    names = list(names)
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise LedgerError(
            f"the run has no column '{missing[0]}' declared in {where}"
            + suggest(missing[0], frame.columns)
        )
    return frame[names].to_numpy(dtype=float)


def _euler_steps(
    frame: pd.DataFrame,
    level: np.ndarray,
    increase: Iterable[str],
    decrease: Iterable[str],
    where: str,
    dt: float,
) -> tuple[np.ndarray, np.ndarray]:
    """``(change, moved)`` between saved times: how much ``level`` changed,
    and ``dt`` times its declared increases minus decreases at the earlier
    time (money unit); their difference is the accounting error."""
    net = _columns(frame, increase, where).sum(axis=1) - _columns(frame, decrease, where).sum(axis=1)
    return np.diff(level), net[:-1] * dt


def _time_step(frame: pd.DataFrame, dt: float | None = None) -> float:
    times = np.asarray(frame.index, dtype=float)
    if len(times) < 2:
        raise LedgerError("the run has fewer than two saved times; nothing to account")
    steps = np.diff(times)
    if dt is None:
        dt = float(steps[0])
    if dt <= 0 or np.max(np.abs(steps - dt)) > 1e-9 * max(1.0, abs(dt)):
        raise LedgerError(
            "saved times are not evenly spaced by the time step; run with SAVEPER equal "
            "to TIME STEP so that every step is saved"
        )
    return dt


def _fmt(t: float) -> str:
    return f"{t:.6g}"

def _frame_of(result: "RunResult | pd.DataFrame") -> pd.DataFrame:
    return result if isinstance(result, pd.DataFrame) else result.frame

def _time_index(index: pd.Index, until: float | None) -> int:
    """Position of the last saved time at or before ``until``."""
    times = np.asarray(index, dtype=float)
    if until is None:
        return len(times) - 1
    if not np.isfinite(until):
        raise LedgerError(f"year {until!r} is not a finite number; choose a year inside the run")
    if until < times[0] - 1e-9 or until > times[-1] + 1e-9:
        raise LedgerError(
            f"year {until:g} is outside the run ({_fmt(times[0])} to {_fmt(times[-1])}); "
            "choose a year inside it"
        )
    return int(np.searchsorted(times, until + 1e-9, side="right") - 1)


def report_years(result: "RunResult | pd.DataFrame", until: float | None = None) -> list[float]:
    """Years to report on: every whole year after the start of the run up to
    ``until`` (default: the end of the run), and ``until`` itself.

    Raises:
        LedgerError: ``until`` lies outside the run.
    """
    times = np.asarray(_frame_of(result).index, dtype=float)
    end = times[_time_index(times, until)] if until is not None else times[-1]
    end = float(until) if until is not None else float(end)
    years = [float(y) for y in range(int(np.floor(times[0])) + 1, int(np.floor(end + 1e-9)) + 1)]
    if not years or abs(years[-1] - end) > 1e-9:
        years.append(end)
    return years
