"""Stock-flow matrices of a run: the transaction-flow matrix, the balance
sheet, each sector's totals and change of net financial worth, and the money
every flow moved."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd

from pyloop.declarations.ledger import Ledger
from pyloop.analysis.ledger.runs import _columns, _frame_of, _time_index, _time_step

if TYPE_CHECKING:  # pragma: no cover
    from pyloop.runner import RunResult

#: Closing row of :func:`transaction_matrix`.
CASH_CHANGE_ROW = "Change in cash"
#: Closing row of :func:`balance_sheet`.
NET_WORTH_ROW = "Balance (-net worth)"


def _closed_matrix(matrix: np.ndarray, times: pd.Index, rows: Sequence[str], sectors: Sequence[str]) -> pd.DataFrame:
    """Fill the last row of a (time, row, sector) matrix so that every column
    sums to zero, and lay it out as a DataFrame indexed by (time, row)."""
    n_t, n_rows, n_sectors = matrix.shape
    matrix[:, -1, :] = -matrix[:, :-1, :].sum(axis=1)
    matrix += 0.0  # no negative zeros in the output
    index = pd.MultiIndex.from_product([times.astype(float), list(rows)], names=["time", "row"])
    return pd.DataFrame(
        matrix.reshape(n_t * n_rows, n_sectors), index=index, columns=pd.Index(sectors, name="sector")
    )


def transaction_matrix(result: "RunResult | pd.DataFrame", ledger: Ledger) -> pd.DataFrame:
    """The transaction-flow matrix at every saved time (money/time).

    Rows are the declared flows, then the closing row ``"Change in cash"``;
    columns are the sectors. A payer's entry is minus the flow, the payee's
    plus the flow, so every flow row sums to zero. The closing row holds
    minus each sector's net inflow (an increase of cash is a use of funds),
    so every column sums to zero; for a ring firm it is minus the rate of
    change of its cash stock.

    Returns:
        DataFrame indexed by ``(time, row)``, one column per sector.
    """
    frame = _frame_of(result)
    where = ledger.where()
    values = _columns(frame, ledger.flows, where)  # (T, F)
    sectors = ledger.sectors
    col = {s: i for i, s in enumerate(sectors)}
    n_t, n_f = values.shape
    matrix = np.zeros((n_t, n_f + 1, len(sectors)))
    for i, f in enumerate(ledger.flows.values()):
        matrix[:, i, col[f.payer]] -= values[:, i]
        matrix[:, i, col[f.payee]] += values[:, i]
    return _closed_matrix(matrix, frame.index, [*ledger.flows, CASH_CHANGE_ROW], sectors)


def balance_sheet(result: "RunResult | pd.DataFrame", ledger: Ledger) -> pd.DataFrame:
    """The balance-sheet matrix at every saved time (money).

    Rows are the cash stocks (an asset of their owner), the claim stocks
    (an asset of the creditor, positive, and a liability of the debtor,
    negative, so every claim row sums to zero), then the closing row
    ``"Balance (-net worth)"`` holding minus each sector's net financial
    worth, so every column sums to zero. Cash rows sum to the cash held:
    cash is nobody's liability in the model.

    Returns:
        DataFrame indexed by ``(time, row)``, one column per sector.
    """
    frame = _frame_of(result)
    where = ledger.where()
    sectors = ledger.sectors
    col = {s: i for i, s in enumerate(sectors)}
    stocks = [*ledger.cash, *ledger.claims]
    values = _columns(frame, stocks, where)
    n_t, n_s = values.shape
    matrix = np.zeros((n_t, n_s + 1, len(sectors)))
    for i, (stock, owner) in enumerate(ledger.cash.items()):
        matrix[:, i, col[owner]] = values[:, i]
    for j, claim in enumerate(ledger.claims.values(), start=len(ledger.cash)):
        matrix[:, j, col[claim.creditor]] += values[:, j]
        matrix[:, j, col[claim.debtor]] -= values[:, j]
    return _closed_matrix(matrix, frame.index, [*stocks, NET_WORTH_ROW], sectors)


def sector_totals(result: "RunResult | pd.DataFrame", ledger: Ledger) -> pd.DataFrame:
    """Totals per sector at every saved time.

    Columns: ``net_inflow`` (money/time: what the sector receives minus
    what it pays), ``cumulative_net_inflow`` (money, Euler integral up to
    the time), ``assets``, ``liabilities`` and ``net_worth`` (money, from
    the balance sheet: cash and claims held, claims owed, their difference).

    Returns:
        DataFrame indexed by ``(time, sector)``.
    """
    frame = _frame_of(result)
    dt = _time_step(frame)
    tm = transaction_matrix(frame, ledger)
    bs = balance_sheet(frame, ledger)
    n_t, sectors = len(frame.index), list(ledger.sectors)
    net = -tm.xs(CASH_CHANGE_ROW, level="row").to_numpy()
    cumulative = _integral(net, dt)
    entries = bs.drop(index=NET_WORTH_ROW, level="row").to_numpy().reshape(n_t, -1, len(sectors))
    assets = np.where(entries > 0, entries, 0.0).sum(axis=1)
    liabilities = 0.0 - np.where(entries < 0, entries, 0.0).sum(axis=1)
    index = pd.MultiIndex.from_product(
        [frame.index.astype(float), sectors], names=["time", "sector"]
    )
    return pd.DataFrame(
        {
            "net_inflow": net.ravel(),
            "cumulative_net_inflow": cumulative.ravel(),
            "assets": assets.ravel(),
            "liabilities": liabilities.ravel(),
            "net_worth": (assets - liabilities).ravel(),
        },
        index=index,
    )


def _integral(rates: np.ndarray, dt: float) -> np.ndarray:
    """Euler integral from the first saved time to each saved time of
    rates saved at every step (rows: times)."""
    return np.vstack([np.zeros((1, rates.shape[1])), np.cumsum(rates[:-1] * dt, axis=0)])


def net_worth_change(result: "RunResult | pd.DataFrame", ledger: Ledger) -> pd.DataFrame:
    """Change of every sector's net financial worth since the first saved
    time (money), from the ledger's flows and claims.

    For a sector: the cash it received minus the cash it paid through the
    declared money flows (Euler integral, as the run integrates them), plus
    the change of the claims it holds, minus the change of the claims it
    owes. For a ring firm the cash part is also the change of its cash
    stock (see :func:`~pyloop.analysis.ledger.audit.check_stocks`). Every
    payment is one sector's receipt and every claim one sector's asset, so
    the columns sum to zero at every time.

    Returns:
        DataFrame indexed by time, one column per sector (ring firms, then
        the outside sectors).
    """
    frame = _frame_of(result)
    dt = _time_step(frame)
    sectors = list(ledger.sectors)
    col = {s: i for i, s in enumerate(sectors)}
    net = -transaction_matrix(frame, ledger).xs(CASH_CHANGE_ROW, level="row").to_numpy()
    change = _integral(net, dt)
    levels = _columns(frame, ledger.claims, ledger.where())
    for j, claim in enumerate(ledger.claims.values()):
        moved = levels[:, j] - levels[0, j]
        change[:, col[claim.creditor]] += moved
        change[:, col[claim.debtor]] -= moved
    return pd.DataFrame(
        change + 0.0,
        index=pd.Index(frame.index.astype(float), name="time"),
        columns=pd.Index(sectors, name="sector"),
    )


def money_between(
    result: "RunResult | pd.DataFrame", ledger: Ledger, until: float | None = None
) -> pd.DataFrame:
    """Money moved by every flow from the start of the run up to ``until``.

    The amount is the Euler integral ``sum(flow(t) * dt)`` over the steps
    that end by ``until`` (default: the end of the run).

    Returns:
        DataFrame indexed by flow with columns ``payer``, ``payee``,
        ``amount`` (money) and ``crosses`` (``"in"``, ``"out"`` or
        ``"inside"`` the ring).
    """
    frame = _frame_of(result)
    dt = _time_step(frame)
    j = _time_index(frame.index, until)
    values = _columns(frame, ledger.flows, ledger.where())[:j].sum(axis=0) * dt
    rows = []
    for f, amount in zip(ledger.flows.values(), values):
        crosses = (
            "inside"
            if f.name in ledger.internal_flows
            else ("in" if f.payee in ledger.ring else "out")
        )
        rows.append(
            {
                "flow": f.name,
                "payer": f.payer,
                "payee": f.payee,
                "amount": float(amount),
                "crosses": crosses,
            }
        )
    return pd.DataFrame(rows).set_index("flow")
