"""Origin tracing: where the money of every flow entered the ring, and who
paid the declared payment (see :func:`trace_origins`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable

import numpy as np
import pandas as pd

from pyloop.declarations.ledger import OPENING, Ledger, LedgerError
from pyloop.analysis.ledger.runs import _columns, _frame_of, _time_index, _time_step
from pyloop.errors import suggest

if TYPE_CHECKING:  # pragma: no cover
    from pyloop.runner import RunResult

#: Column of :func:`who_paid` summing every firm's opening cash.
OPENING_COLUMN = "Opening cash"


@dataclass(frozen=True)
class Tracing:
    """Where the money of every flow came from (see :func:`trace_origins`).

    Arrays are indexed by saved time (``time``), flow (``flows``) or pool
    (``pools``, the ring's cash stocks), origin (``origins``) and mark
    (0: unmarked, 1: crossed the round-trip flow; only 0 when there is no
    round-trip flow).

    Attributes:
        time: saved times.
        dt: time step.
        flows: declared flows.
        pools: the ring's cash stocks.
        origins: origin labels.
        round_trip_label: label of marked money, or ``None``.
        mix: ``(time, flow, origin, mark)`` fraction of each flow's money
            with each label at that time (rows sum to one).
        paid: ``(time, flow, origin, mark)`` money paid by each flow with
            each label from the start up to that time (zero at the start).
        held: ``(time, pool, origin, mark)`` money in each pool with each
            label.
    """

    time: np.ndarray
    dt: float
    flows: tuple[str, ...]
    pools: tuple[str, ...]
    origins: tuple[str, ...]
    round_trip_label: str | None
    mix: np.ndarray = field(repr=False)
    paid: np.ndarray = field(repr=False)
    held: np.ndarray = field(repr=False)

    def _flow(self, flow: str) -> int:
        if flow not in self.flows:
            raise LedgerError(f"no traced flow '{flow}'" + suggest(flow, self.flows))
        return self.flows.index(flow)

    def shares(self, flow: str, cumulative: bool = True) -> pd.DataFrame:
        """Origin shares of one flow over time (each row sums to one).

        Args:
            flow: a declared flow.
            cumulative: shares of the money paid from the start up to each
                time (``True``; the first row, before any payment, is the
                flow's instantaneous mix) or of the payment at each time.

        Returns:
            DataFrame indexed by time, one column per origin, plus, when a
            round-trip flow is declared, a last column with the share that
            is marked money (already counted in the origins).
        """
        i = self._flow(flow)
        mix = self.mix[:, i]
        if cumulative:
            paid = self.paid[:, i]
            total = paid.sum(axis=(1, 2))
            ok = total > 0
            mix = np.where(ok[:, None, None], paid / np.where(ok, total, 1.0)[:, None, None], mix)
        frame = pd.DataFrame(
            mix.sum(axis=2), index=pd.Index(self.time, name="time"), columns=list(self.origins)
        )
        if self.round_trip_label is not None:
            frame[self.round_trip_label] = mix[:, :, 1].sum(axis=1)
        return frame

    def amounts(self, flow: str) -> pd.DataFrame:
        """Money paid by one flow from the start up to each time, by origin.

        Returns:
            DataFrame indexed by time, one column per origin (money), plus
            the marked amount when a round-trip flow is declared.
        """
        i = self._flow(flow)
        paid = self.paid[:, i]
        frame = pd.DataFrame(
            paid.sum(axis=2), index=pd.Index(self.time, name="time"), columns=list(self.origins)
        )
        if self.round_trip_label is not None:
            frame[self.round_trip_label] = paid[:, :, 1].sum(axis=1)
        return frame

    def table(self) -> pd.DataFrame:
        """Every flow's origin shares in long form (for CSV).

        Returns:
            DataFrame with columns ``time``, ``flow``, ``origin``, ``share``
            (of the payment at that time), ``paid`` (money paid from the
            start up to that time with that origin) and ``cumulative_share``.
            The round-trip label appears as one more origin whose rows
            overlap the others.
        """
        parts = []
        for flow in self.flows:
            now = self.shares(flow, cumulative=False)
            cum = self.shares(flow, cumulative=True)
            paid = self.amounts(flow)
            for origin in now.columns:
                parts.append(
                    pd.DataFrame(
                        {
                            "time": self.time,
                            "flow": flow,
                            "origin": origin,
                            "share": now[origin].to_numpy(),
                            "paid": paid[origin].to_numpy(),
                            "cumulative_share": cum[origin].to_numpy(),
                        }
                    )
                )
        return pd.concat(parts, ignore_index=True)


def trace_origins(result: "RunResult | pd.DataFrame", ledger: Ledger) -> Tracing:
    """Trace every flow's money back to where it entered the ring.

    Method (proportional, well-mixed pools, Euler-consistent): each ring
    firm's cash stock is a pool holding money by label. At the start all of
    a firm's cash is labelled "<firm> opening cash". Money paid into the
    ring by an outside sector is labelled by that sector. During the step
    from ``t`` to ``t + dt`` each flow moves ``flow(t) * dt``; a payment by
    a ring firm carries the mix of its pool at ``t``; a payment by an
    outside sector carries that sector's label. Money that crosses the
    declared round-trip flow keeps its origin and is marked, and stays
    marked. A pool that is empty (or overdrawn) at ``t`` passes on the mix
    it last had. Because the labels of a pool always add up to its cash and
    every payment's shares add up to one, the money traced equals the money
    paid.

    Args:
        result: a finished run (saved at every time step) or its frame.
        ledger: the model's ledger declaration.

    Returns:
        A :class:`Tracing`.
    """
    frame = _frame_of(result)
    dt = _time_step(frame)
    where = ledger.where()
    flows = list(ledger.flows.values())
    rate = _columns(frame, ledger.flows, where)  # (T, F)
    pools = list(ledger.cash)
    cash = _columns(frame, pools, where)  # (T, P)
    origins = ledger.origins
    n_t, n_f, n_p, n_o = rate.shape[0], len(flows), len(pools), len(origins)
    q = ledger.questions
    round_trip = q.round_trip if q is not None else None
    n_g = 2 if round_trip is not None else 1
    pool_of = {ledger.cash[s]: i for i, s in enumerate(pools)}
    origin_of = {o: i for i, o in enumerate(origins)}

    # Per-flow incidence: payer pool (or -1), payee pool (or -1), outside origin (or -1).
    payer = np.array([pool_of.get(f.payer, -1) for f in flows])
    payee = np.array([pool_of.get(f.payee, -1) for f in flows])
    source = np.array(
        [origin_of.get(f.payer, -1) if f.payer not in ledger.ring else -1 for f in flows]
    )
    marks = np.array([f.name == round_trip for f in flows])

    moved = rate * dt  # (T, F) money moved during the step starting at each time
    # Money leaving each pool per step, and ring-to-ring transfer matrices
    # (payee pool x payer pool) for unmarked and marking flows.
    out_of = np.zeros((n_t, n_p))
    plain = np.zeros((n_t, n_p, n_p))
    marking = np.zeros((n_t, n_p, n_p))
    outside_in = np.zeros((n_t, n_p, n_o, n_g))
    for i in range(n_f):
        if payer[i] >= 0:
            out_of[:, payer[i]] += moved[:, i]
            if payee[i] >= 0:
                target = marking if marks[i] else plain
                target[:, payee[i], payer[i]] += moved[:, i]
        elif payee[i] >= 0:
            outside_in[:, payee[i], source[i], 0] += moved[:, i]

    held = np.zeros((n_t, n_p, n_o, n_g))
    pool_mix = np.zeros((n_t, n_p, n_o, n_g))
    for firm, p in pool_of.items():
        held[0, p, origin_of[f"{firm} {OPENING}"], 0] = cash[0, p]
        pool_mix[0, p, origin_of[f"{firm} {OPENING}"], 0] = 1.0
    scale = np.maximum(np.abs(cash).max(axis=0), 1.0) * 1e-12
    last = pool_mix[0].copy()
    for k in range(n_t):
        c = cash[k]
        ok = c > scale
        if ok.any():
            last[ok] = held[k, ok] / c[ok, None, None]
        pool_mix[k] = last
        if k == n_t - 1:
            break
        m = last
        new = held[k] - out_of[k, :, None, None] * m + outside_in[k]
        new += np.einsum("pq,qog->pog", plain[k], m)
        if n_g == 2:
            collapsed = np.zeros_like(m)
            collapsed[:, :, 1] = m.sum(axis=2)
            new += np.einsum("pq,qog->pog", marking[k], collapsed)
        held[k + 1] = new

    # Mix of every flow at every time.
    mix = np.zeros((n_t, n_f, n_o, n_g))
    for i in range(n_f):
        if payer[i] >= 0:
            m = pool_mix[:, payer[i]]
            if marks[i]:
                m = np.concatenate(
                    [np.zeros_like(m[..., :1]), m.sum(axis=2, keepdims=True)], axis=2
                )
            mix[:, i] = m
        else:
            mix[:, i, source[i], 0] = 1.0
    steps = moved[:-1, :, None, None] * mix[:-1]
    paid = np.concatenate([np.zeros((1, n_f, n_o, n_g)), np.cumsum(steps, axis=0)], axis=0)
    return Tracing(
        time=np.asarray(frame.index, dtype=float),
        dt=dt,
        flows=tuple(ledger.flows),
        pools=tuple(pools),
        origins=origins,
        round_trip_label=ledger.round_trip_label,
        mix=mix,
        paid=paid,
        held=held,
    )


def who_paid(
    result: "RunResult | pd.DataFrame",
    ledger: Ledger,
    years: Iterable[float],
    tracing: Tracing | None = None,
) -> pd.DataFrame:
    """The headline answers of the ledger's ``[questions]`` by given years.

    For each year ``Y`` (money moved from the start of the run up to ``Y``):

    - ``<payment> (B$)``: money paid by the traced payment;
    - one share column per origin (``"End Users"``, ``"Equity
      Investors"``, ...; the firms' opening cash summed as ``"Opening
      cash"``): the share of that money that entered the ring there; these
      sum to one;
    - ``via <round trip>``: the share of the payment that had crossed the
      round-trip flow (it is counted in the origins as well);
    - ``<round trip sale> (B$)`` and ``round-trip ratio``: the share of the
      sale paid with money that had earlier left its payee through the
      round-trip flow. For the AI ring: the share of the Chip Maker's GPU
      sales to the Cloud Provider that was the Chip Maker's own investment
      in the AI Lab coming back, through any path, as the well-mixed pools
      trace it;
    - ``commitments (B$)``: the integral of the commitment flows
      (contracts and pledges signed); ``ring cash moved (B$)``: money paid
      between ring firms; ``commitments / cash``: their ratio (NaN while no
      cash moved).

    Raises:
        LedgerError: the declaration has no ``[questions]``, a commitment
            flow is not in the run, or a year lies outside the run.
    """
    frame = _frame_of(result)
    q = ledger.questions
    if q is None:
        raise LedgerError(f"{ledger.where()} has no [questions]; name the payment to trace there")
    if tracing is None:
        tracing = trace_origins(frame, ledger)
    dt = tracing.dt
    firms = [o for o in tracing.origins if o.endswith(OPENING)]
    outside = [o for o in tracing.origins if not o.endswith(OPENING)]
    pay = tracing.shares(q.payment, cumulative=True)
    paid = tracing.amounts(q.payment)
    rate = _columns(frame, [*q.commitments, *ledger.internal_flows], ledger.where())
    n_c = len(q.commitments)
    commitments = np.concatenate([[0.0], np.cumsum(rate[:-1, :n_c].sum(axis=1) * dt)])
    ring_cash = np.concatenate([[0.0], np.cumsum(rate[:-1, n_c:].sum(axis=1) * dt)])
    rows = []
    for year in years:
        j = _time_index(frame.index, float(year))
        row: dict[str, float] = {
            "year": float(year),
            f"{q.payment} (B$)": float(paid.iloc[j, : len(tracing.origins)].sum()),
        }
        for o in outside:
            row[o] = float(pay.iloc[j][o])
        row[OPENING_COLUMN] = float(pay.iloc[j][firms].sum())
        if q.round_trip is not None:
            row[f"via {q.round_trip}"] = float(pay.iloc[j][tracing.round_trip_label])
            sale = tracing.amounts(q.round_trip_sale)
            total = float(sale.iloc[j, : len(tracing.origins)].sum())
            row[f"{q.round_trip_sale} (B$)"] = total
            row["round-trip ratio"] = (
                float(sale.iloc[j][tracing.round_trip_label]) / total if total > 0 else float("nan")
            )
        row["commitments (B$)"] = float(commitments[j])
        row["ring cash moved (B$)"] = float(ring_cash[j])
        row["commitments / cash"] = (
            float(commitments[j] / ring_cash[j]) if ring_cash[j] > 0 else float("nan")
        )
        rows.append(row)
    return pd.DataFrame(rows).set_index("year")
