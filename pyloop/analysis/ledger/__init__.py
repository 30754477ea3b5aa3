"""Money accounting: who pays whom, stock-flow consistency, and who actually paid.

The ledger declaration of a model ``X.mdl`` is ``X.ledger.toml`` beside it
(read and checked by :mod:`pyloop.declarations.ledger`): it names the sectors,
the owner of every cash stock, the payer and payee of every money flow, and
the debtor and creditor of every claim stock.

What this package computes from a finished run (a frame saved at every time
step, as :func:`pyloop.run` returns by default):

Matrices
    :func:`transaction_matrix` (flows by sector, payer negative, payee
    positive) and :func:`balance_sheet` (cash and claims by sector, assets
    positive, liabilities negative), both closed by a last row so that every
    column sums to zero, in the layout of stock-flow consistent models;
    :func:`sector_totals` gives each sector's net inflow and net financial
    worth.

Checks
    :func:`check_structure` (in :mod:`pyloop.declarations.ledger`) compares
    the declaration with the model's equations (every flow into a cash stock declared, every declared flow used
    by its payer's and payee's cash stock with the right sign);
    :func:`check_stocks` and :func:`check_ring` compare a run with the
    declaration (each cash stock changes between saved times by its declared
    flows times the time step; the money inside the ring changes only by the
    flows across its boundary). Each raises :class:`StockFlowError` naming the
    flow or stock and the time.

Origin tracing
    :func:`trace_origins` labels the money in each ring firm's cash by where
    it entered the ring: an outside sector that paid into the ring (End
    Users, Equity Investors, Lenders, Other Customers) or the firm's opening
    cash ("AI Lab opening cash"). Each cash stock is a well-mixed pool: a
    payment made during a time step carries the payer's mix at the start of
    the step (Euler-consistent with the model, whose flows are also
    evaluated at the start of the step). Money that crosses the declared
    ``round_trip`` flow (the Chip Maker Investment) is marked too, keeping its
    origin; the marked part of a flow is shown as "Chip Maker (round trip)".
    :func:`who_paid` answers the headline questions from a tracing.

Everything is plain pandas/numpy data; nothing here draws or prints.

The package's modules: :mod:`~pyloop.analysis.ledger.tables` (matrices and
totals), :mod:`~pyloop.analysis.ledger.audit` (run checks and the audit),
:mod:`~pyloop.analysis.ledger.tracing` (origin tracing and who paid),
:mod:`~pyloop.analysis.ledger.runs` (reading a run's frame).
"""

from __future__ import annotations

from pyloop.declarations.ledger import (
    OPENING,
    ROUND_TRIP,
    Claim,
    Flow,
    Ledger,
    LedgerError,
    Questions,
    StockFlowError,
    check_structure,
    ledger_path,
    load_ledger,
    read_ledger,
)
from pyloop.analysis.ledger.runs import report_years
from pyloop.analysis.ledger.tables import (
    CASH_CHANGE_ROW,
    NET_WORTH_ROW,
    balance_sheet,
    money_between,
    sector_totals,
    transaction_matrix,
)
from pyloop.analysis.ledger.tracing import OPENING_COLUMN, Tracing, trace_origins, who_paid
from pyloop.analysis.ledger.audit import (
    TOLERANCE,
    Audit,
    LedgerCheck,
    audit,
    audit_result,
    check_ring,
    check_run,
    check_stocks,
)

__all__ = [
    "Audit",
    "CASH_CHANGE_ROW",
    "Claim",
    "Flow",
    "Ledger",
    "LedgerCheck",
    "LedgerError",
    "NET_WORTH_ROW",
    "OPENING",
    "OPENING_COLUMN",
    "Questions",
    "ROUND_TRIP",
    "StockFlowError",
    "TOLERANCE",
    "Tracing",
    "audit",
    "audit_result",
    "balance_sheet",
    "check_ring",
    "check_run",
    "check_stocks",
    "check_structure",
    "ledger_path",
    "load_ledger",
    "money_between",
    "read_ledger",
    "report_years",
    "sector_totals",
    "trace_origins",
    "transaction_matrix",
    "who_paid",
]
