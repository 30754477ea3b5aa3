"""Auditing a run's money: the stock-flow checks of a run's cash against its
ledger declaration, :func:`check_run`, which adds the checks of claims, dues
and net worth (:mod:`~pyloop.analysis.ledger.claims`), and :func:`audit`,
which runs a model, checks it and traces its money."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import numpy as np
import pandas as pd

from pyloop.declarations.ledger import Ledger, LedgerError, StockFlowError, load_ledger
from pyloop.declarations.ledger_structure import check_structure
from pyloop.analysis.ledger.claims import Largest, _violation, check_claims, check_dues, check_net_worth
from pyloop.analysis.ledger.runs import TOLERANCE, _columns, _euler_steps, _fmt, _time_step
from pyloop.analysis.ledger.tables import money_between
from pyloop.analysis.ledger.tracing import Tracing, trace_origins, who_paid

if TYPE_CHECKING:  # pragma: no cover
    from pyloop.engine import Model
    from pyloop.runner import RunResult

__all__ = ["TOLERANCE", "Audit", "LedgerCheck", "audit", "audit_result", "check_ring", "check_run", "check_stocks"]


@dataclass(frozen=True)
class LedgerCheck:
    """Outcome of the run checks (they raise when they fail).

    Attributes:
        stock_errors: cash stock -> largest absolute difference (money unit)
            between its change over a step and its declared flows times the
            step.
        ring_error: largest absolute difference between the change of the
            money inside the ring and the flows across its boundary.
        tolerance: the tolerance the errors were held to.
        steps: number of steps checked.
        claims: largest difference between a claim stock's change over a
            step and its declared increases minus decreases times the step.
        dues: largest amount due that neither its paid nor its unpaid
            flows account for over a step.
        net_worth: largest change of the net financial worth of all
            sectors together since the start of the run.
    """

    stock_errors: Mapping[str, float]
    ring_error: float
    tolerance: float
    steps: int
    claims: Largest = Largest()
    dues: Largest = Largest()
    net_worth: Largest = Largest()

    @property
    def max_error(self) -> float:
        """The largest error of all the checks (money unit)."""
        return max(
            [
                self.ring_error,
                *self.stock_errors.values(),
                self.claims.error,
                self.dues.error,
                self.net_worth.error,
            ]
        )


def check_stocks(
    frame: pd.DataFrame, ledger: Ledger, tolerance: float = TOLERANCE, dt: float | None = None
) -> dict[str, float]:
    """Check that every cash stock changes by its declared flows (Euler).

    Between saved times ``t`` and ``t + dt`` the stock must change by
    ``dt`` times the sum of its declared inflows minus its declared outflows
    at ``t``, within ``tolerance`` (money unit).

    Returns:
        Cash stock -> largest absolute error.

    Raises:
        StockFlowError: names the stock, its declared flows and the first
            time at which the error exceeds the tolerance.
    """
    dt = _time_step(frame, dt)
    times = np.asarray(frame.index, dtype=float)
    where = ledger.where()
    out: dict[str, float] = {}
    for stock, owner in ledger.cash.items():
        ins = [f.name for f in ledger.flows.values() if f.payee == owner]
        outs = [f.name for f in ledger.flows.values() if f.payer == owner]
        level = _columns(frame, [stock], where)[:, 0]
        change, moved = _euler_steps(frame, level, ins, outs, where, dt)
        error = change - moved
        k = _violation(error, tolerance)
        if k is not None:
            flows = ", ".join([*(f"+'{n}'" for n in ins), *(f"-'{n}'" for n in outs)])
            raise StockFlowError(
                f"cash stock '{stock}' changed by {change[k]:.9g} from time {_fmt(times[k])} to "
                f"{_fmt(times[k + 1])}, but its declared flows ({flows}) moved {moved[k]:.9g} "
                f"(difference {error[k]:.3g}, tolerance {tolerance:g}); check for money flows "
                f"into '{stock}' missing from {where} and that every time step is saved"
            )
        out[stock] = float(np.max(np.abs(error))) if len(error) else 0.0
    return out


def check_ring(
    frame: pd.DataFrame, ledger: Ledger, tolerance: float = TOLERANCE, dt: float | None = None
) -> float:
    """Check that the money inside the ring changes only by its boundary flows.

    Returns:
        The largest absolute error (money unit).

    Raises:
        StockFlowError: names the ring's cash stocks, the boundary flows and
            the first time at which the error exceeds the tolerance.
    """
    dt = _time_step(frame, dt)
    times = np.asarray(frame.index, dtype=float)
    where = ledger.where()
    money = _columns(frame, ledger.cash, where).sum(axis=1)
    change, moved = _euler_steps(frame, money, ledger.inflows, ledger.outflows, where, dt)
    error = change - moved
    k = _violation(error, tolerance)
    if k is not None:
        stocks = " + ".join(f"'{s}'" for s in ledger.cash)
        flows = ", ".join(
            [*(f"+'{n}'" for n in ledger.inflows), *(f"-'{n}'" for n in ledger.outflows)]
        )
        raise StockFlowError(
            f"money inside the ring ({stocks}) changed by {change[k]:.9g} from time "
            f"{_fmt(times[k])} to {_fmt(times[k + 1])}, but the flows across its boundary "
            f"({flows}) moved {moved[k]:.9g} (difference {error[k]:.3g}, tolerance "
            f"{tolerance:g}); money is created or lost inside the ring"
        )
    return float(np.max(np.abs(error))) if len(error) else 0.0


def check_run(frame: pd.DataFrame, ledger: Ledger, tolerance: float = TOLERANCE) -> LedgerCheck:
    """Run :func:`check_stocks`, :func:`check_ring`,
    :func:`~pyloop.analysis.ledger.claims.check_claims`,
    :func:`~pyloop.analysis.ledger.claims.check_dues` and
    :func:`~pyloop.analysis.ledger.claims.check_net_worth`; return their
    errors (the first that fails raises :class:`StockFlowError`)."""
    stocks = check_stocks(frame, ledger, tolerance)
    ring = check_ring(frame, ledger, tolerance)
    return LedgerCheck(
        stocks,
        ring,
        tolerance,
        len(frame.index) - 1,
        claims=check_claims(frame, ledger, tolerance),
        dues=check_dues(frame, ledger, tolerance),
        net_worth=check_net_worth(frame, ledger, tolerance),
    )


@dataclass(frozen=True)
class Audit:
    """A run with its ledger, the checks it passed and its origin tracing."""

    result: "RunResult"
    ledger: Ledger
    check: LedgerCheck
    tracing: Tracing

    def who_paid(self, years: Iterable[float]) -> pd.DataFrame:
        """:func:`who_paid` of this run by the given years."""
        return who_paid(self.result, self.ledger, years, self.tracing)

    def figure_data(self, until: float) -> dict[str, Any]:
        """Keyword arguments of :func:`pyloop.plots.ledger_figure` for money
        moved from the start of the run to ``until`` (Year)."""
        q = self.ledger.questions
        if q is None:
            raise LedgerError(f"{self.ledger.where()} has no [questions]; name the payment to trace there")
        frame = self.result.frame
        return {
            "money": money_between(self.result, self.ledger, until),
            "payment_shares": self.tracing.shares(q.payment).loc[:until],
            "sale_shares": self.tracing.shares(q.round_trip_sale).loc[:until] if q.round_trip_sale else None,
            "payment": q.payment,
            "sale": q.round_trip_sale,
            "marked": self.ledger.round_trip_label,
            "sectors": self.ledger.sectors,
            "title": f"{self.result.model}, {self.result.name}: money moved {frame.index[0]:g}-{until:g}",
        }


def audit(
    model: "Model | str | os.PathLike[str]",
    scenario: str | None = None,
    policy: str | None = None,
    params: Mapping[str, float] | None = None,
    *,
    ledger: Ledger | None = None,
    tolerance: float = TOLERANCE,
) -> Audit:
    """Run a model and audit its money.

    Reads the model's ledger declaration (unless given) and checks it
    against the equations, runs the scenario (saving every step), checks
    the run's stock-flow consistency and traces the origins of every flow.

    Raises:
        LedgerError: a bad declaration.
        StockFlowError: a failed check (the message names flow, stock, time).
        PyloopError: any error of :func:`pyloop.run`.
    """
    from pyloop.engine import Model, load_model
    from pyloop.runner import run

    if not isinstance(model, Model):
        model = load_model(model)
    if ledger is None:
        ledger = load_ledger(model)
    else:
        check_structure(model, ledger)
    return audit_result(run(model, scenario, policy, params), ledger, tolerance)


def audit_result(result: "RunResult", ledger: Ledger, tolerance: float = TOLERANCE) -> Audit:
    """Audit the money of a finished run (saved at every step) against a
    declaration already checked against the model's equations.

    Raises:
        StockFlowError: a failed check (the message names flow, stock, time).
    """
    check = check_run(result.frame, ledger, tolerance)
    return Audit(result, ledger, check, trace_origins(result, ledger))
