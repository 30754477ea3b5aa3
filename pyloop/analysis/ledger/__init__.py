"""Money accounting: who pays whom, stock-flow consistency, and who actually paid.

The ledger declaration of a model ``X.mdl`` is ``X.ledger.toml`` beside it
(read and checked by :mod:`pyloop.declarations.ledger`): it names the sectors,
the owner of every cash stock, the payer and payee of every money flow, the
debtor, creditor and changing flows of every claim stock, and what is due
and how it is settled.

What this package computes from a finished run (a frame saved at every time
step, as :func:`pyloop.run` returns by default):

Matrices
    :func:`transaction_matrix` (flows by sector, payer negative, payee
    positive) and :func:`balance_sheet` (cash and claims by sector, assets
    positive, liabilities negative), both closed by a last row so that every
    column sums to zero, in the layout of stock-flow consistent models;
    :func:`sector_totals` gives each sector's net inflow and net financial
    worth, :func:`net_worth_change` the change of each sector's net
    financial worth since the start (cash received minus paid, plus claims
    held minus owed).

Checks
    :func:`check_structure` (in :mod:`pyloop.declarations.ledger_structure`)
    compares the declaration with the model's equations (every flow into a
    cash stock declared, every declared flow used by its payer's and payee's
    cash stock with the right sign, every claim stock's inflows and outflows
    exactly its declared increases and decreases);
    :func:`check_stocks` and :func:`check_ring` compare a run with the
    declaration (each cash stock changes between saved times by its declared
    flows times the time step; the money inside the ring changes only by the
    flows across its boundary); :func:`check_claims` (each claim stock
    changes by its declared increases and decreases), :func:`check_dues`
    (every due is paid or left unpaid, none disappears) and
    :func:`check_net_worth` (the net financial worth of all sectors sums to
    zero) complete them; :func:`check_run` runs them all. Each raises
    :class:`StockFlowError` naming the flow or stock and the time.

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
:mod:`~pyloop.analysis.ledger.claims` (claims, dues and net worth checks),
:mod:`~pyloop.analysis.ledger.tracing` (origin tracing and who paid),
:mod:`~pyloop.analysis.ledger.runs` (reading a run's frame).
"""

from __future__ import annotations

from pyloop.declarations.ledger import (
    OPENING,
    ROUND_TRIP,
    Claim,
    Due,
    Flow,
    Ledger,
    LedgerError,
    Questions,
    StockFlowError,
    ledger_path,
    load_ledger,
    read_ledger,
)
from pyloop.declarations.ledger_structure import check_structure
from pyloop.analysis.ledger.runs import report_years
from pyloop.analysis.ledger.tables import (
    CASH_CHANGE_ROW,
    NET_WORTH_ROW,
    balance_sheet,
    money_between,
    net_worth_change,
    sector_totals,
    transaction_matrix,
)
from pyloop.analysis.ledger.tracing import OPENING_COLUMN, Tracing, trace_origins, who_paid
from pyloop.analysis.ledger.claims import Largest, check_claims, check_dues, check_net_worth
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
    "Due",
    "Flow",
    "Ledger",
    "LedgerCheck",
    "LedgerError",
    "Largest",
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
    "check_claims",
    "check_dues",
    "check_net_worth",
    "check_ring",
    "check_run",
    "check_stocks",
    "check_structure",
    "ledger_path",
    "load_ledger",
    "money_between",
    "net_worth_change",
    "read_ledger",
    "report_years",
    "sector_totals",
    "trace_origins",
    "transaction_matrix",
    "who_paid",
]
