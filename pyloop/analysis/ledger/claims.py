"""Claims, dues and net worth along a run, in the manner of the
balance-sheet and transaction tables of stock-flow consistent models:
every claim stock changes only by its declared increases and decreases, no
amount due disappears between paid and unpaid, and the net financial worth
of all sectors together never changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from pyloop.declarations.ledger import Ledger, LedgerError, StockFlowError
from pyloop.analysis.ledger.runs import TOLERANCE, _columns, _euler_steps, _fmt, _time_step
from pyloop.analysis.ledger.tables import net_worth_change

__all__ = ["Largest", "check_claims", "check_dues", "check_net_worth"]


@dataclass(frozen=True)
class Largest:
    """The largest error of a check along a run.

    Attributes:
        error: its absolute size (money unit, B$).
        name: the claim stock or due it was found on; ``None`` for a check
            of all sectors together, or when nothing was checked.
        time: the saved time (Year) at which it was found: the start of the
            step for a stock; ``None`` when nothing was checked.
    """

    error: float = 0.0
    name: str | None = None
    time: float | None = None


def _violation(error: np.ndarray, tolerance: float) -> int | None:
    """Position of the first error beyond ``tolerance`` (or not finite)."""
    bad = ~(np.abs(error) <= tolerance)
    return int(np.argmax(bad)) if bad.any() else None


def _largest(errors: Mapping[str, np.ndarray], times: np.ndarray) -> Largest:
    """The largest of several error series (one per name, by time)."""
    best = Largest()
    for name, error in errors.items():
        if len(error):
            k = int(np.argmax(np.abs(error)))
            if best.time is None or abs(error[k]) > best.error:
                best = Largest(float(abs(error[k])), name, float(times[k]))
    return best


def _signed(increase: Sequence[str], decrease: Sequence[str]) -> str:
    return ", ".join([*(f"+'{n}'" for n in increase), *(f"-'{n}'" for n in decrease)])


def check_claims(
    frame: pd.DataFrame, ledger: Ledger, tolerance: float = TOLERANCE, dt: float | None = None
) -> Largest:
    """Check that every claim stock changes by its declared flows (Euler).

    Between saved times ``t`` and ``t + dt`` the claim must change by ``dt``
    times the sum of its declared increases minus its declared decreases at
    ``t``, within ``tolerance`` (money unit), as cash stocks must.

    Returns:
        The largest error, with its claim stock and the start of its step.

    Raises:
        StockFlowError: names the claim, its declared flows and the first
            time at which the error exceeds the tolerance.
        LedgerError: a claim declares no increase or decrease.
    """
    dt = _time_step(frame, dt)
    times = np.asarray(frame.index, dtype=float)
    where = ledger.where()
    errors: dict[str, np.ndarray] = {}
    for claim in ledger.claims.values():
        if claim.increase is None or claim.decrease is None:
            raise LedgerError(
                f"claim stock '{claim.stock}' in {where} declares no increase or decrease; "
                "name the flows that change it"
            )
        level = _columns(frame, [claim.stock], where)[:, 0]
        change, moved = _euler_steps(frame, level, claim.increase, claim.decrease, where, dt)
        error = change - moved
        k = _violation(error, tolerance)
        if k is not None:
            raise StockFlowError(
                f"claim stock '{claim.stock}' changed by {change[k]:.9g} from time "
                f"{_fmt(times[k])} to {_fmt(times[k + 1])}, but its declared increases and "
                f"decreases ({_signed(claim.increase, claim.decrease)}) moved {moved[k]:.9g} "
                f"(difference {error[k]:.3g}, tolerance {tolerance:g}); check for flows "
                f"changing '{claim.stock}' missing from [claims] of {where} and that every "
                "time step is saved"
            )
        errors[claim.stock] = error
    return _largest(errors, times)


def check_dues(
    frame: pd.DataFrame, ledger: Ledger, tolerance: float = TOLERANCE, dt: float | None = None
) -> Largest:
    """Check that no amount due disappears: at every saved time each due
    (money/time) equals the sum of its paid flows plus its unpaid flows.

    The error is the amount that would disappear over one step, ``dt``
    times the difference of the rates, held to ``tolerance`` (money unit).

    Returns:
        The largest error, with its due and its time.

    Raises:
        StockFlowError: names the due, its flows and the first time at which
            the error exceeds the tolerance.
    """
    dt = _time_step(frame, dt)
    times = np.asarray(frame.index, dtype=float)
    where = ledger.where()
    errors: dict[str, np.ndarray] = {}
    for due in ledger.dues.values():
        owed = _columns(frame, [due.due], where)[:, 0]
        settled = _columns(frame, due.paid, where).sum(axis=1) + _columns(
            frame, due.unpaid, where
        ).sum(axis=1)
        error = (owed - settled) * dt
        k = _violation(error, tolerance)
        if k is not None:
            flows = " + ".join(f"'{n}'" for n in (*due.paid, *due.unpaid))
            raise StockFlowError(
                f"due '{due.due}' is {owed[k]:.9g} at time {_fmt(times[k])}, but its paid and "
                f"unpaid flows ({flows}) sum to {settled[k]:.9g}: {error[k]:.3g} of it "
                f"disappears over the step (tolerance {tolerance:g}); declare the missing flow "
                f"in [dues] of {where} or settle the whole due in the model"
            )
        errors[due.due] = error
    return _largest(errors, times)


def check_net_worth(frame: pd.DataFrame, ledger: Ledger, tolerance: float = TOLERANCE) -> Largest:
    """Check that the net financial worth of all sectors together does not
    change: the columns of :func:`~pyloop.analysis.ledger.tables.net_worth_change`
    sum to zero at every saved time, within ``tolerance`` (money unit).

    Returns:
        The largest error and its time.

    Raises:
        StockFlowError: names the worst time and the sectors whose net
            worth changed most by then.
    """
    table = net_worth_change(frame, ledger)
    total = table.sum(axis=1, skipna=False).to_numpy()
    times = np.asarray(table.index, dtype=float)
    if _violation(total, tolerance) is not None:
        k = int(np.argmax(np.where(np.isfinite(total), np.abs(total), np.inf)))
        row = table.iloc[k]
        movers = row.abs().sort_values(ascending=False, na_position="first").index[:3]
        shown = ", ".join(f"{s} {row[s]:+.9g}" for s in movers)
        raise StockFlowError(
            f"the net financial worth of all sectors changed by {total[k]:.9g} from time "
            f"{_fmt(times[0])} to {_fmt(times[k])} (worst time; tolerance {tolerance:g}; "
            f"largest changes: {shown}); every payment and every claim in {ledger.where()} must be "
            "booked by two sectors"
        )
    k = int(np.argmax(np.abs(total)))
    return Largest(float(abs(total[k])), None, float(times[k]))
