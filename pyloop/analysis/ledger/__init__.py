"""Money accounting: who pays whom, stock-flow consistency, and who actually paid.

The ledger declaration of a model ``X.mdl`` is ``X.ledger.toml`` beside it.
It names the sectors (firms inside the ring, sectors outside it), the owner of
every cash stock, the payer and payee of every money flow, and the debtor and
creditor of every claim stock::

    [sectors]
    ring = ["AI Lab", "Cloud Provider", "Chip Maker"]
    outside = ["End Users", "Equity Investors", "Suppliers"]

    [cash]                      # cash stock -> owner (one per ring firm)
    "AI Lab Cash" = "AI Lab"

    [flows]                     # money flow (money/time) -> payer and payee
    "AI Revenue" = { payer = "End Users", payee = "AI Lab" }

    [claims]                    # claim stock -> debtor and creditor (optional)
    "Cloud Debt" = { debtor = "Cloud Provider", creditor = "Lenders" }

    [questions]                 # optional: what the who-paid report answers
    payment = "Compute Payments"
    round_trip = "Chip Maker Investment"
    round_trip_sale = "GPU Purchases"
    commitments = ["Contract Signing", "Pledge Announced"]

What this module computes from a finished run (a frame saved at every time
step, as :func:`pyloop.run` returns by default):

Matrices
    :func:`transaction_matrix` (flows by sector, payer negative, payee
    positive) and :func:`balance_sheet` (cash and claims by sector, assets
    positive, liabilities negative), both closed by a last row so that every
    column sums to zero, in the layout of stock-flow consistent models;
    :func:`sector_totals` gives each sector's net inflow and net financial
    worth.

Checks
    :func:`check_structure` compares the declaration with the model's
    equations (every flow into a cash stock declared, every declared flow used
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
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from pyloop.declarations.toml import read_toml
from pyloop.declarations.paths import declaration_path
from pyloop.errors import PyloopError, suggest

if TYPE_CHECKING:  # pragma: no cover
    from pyloop.engine.pysd_model import Model
    from pyloop.runner import RunResult

__all__ = [
    "Audit",
    "Claim",
    "Flow",
    "Ledger",
    "LedgerCheck",
    "LedgerError",
    "Questions",
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

#: Largest accepted accounting error, in the model's money unit (B$).
TOLERANCE = 1e-6

#: Closing row of :func:`transaction_matrix`.
CASH_CHANGE_ROW = "Change in cash"
#: Closing row of :func:`balance_sheet`.
NET_WORTH_ROW = "Balance (-net worth)"
#: Origin suffix of a ring firm's opening cash.
OPENING = "opening cash"
#: Column of :func:`who_paid` summing every firm's opening cash.
OPENING_COLUMN = "Opening cash"
#: Label suffix of money marked by the round-trip flow.
ROUND_TRIP = "(round trip)"

_TOP_KEYS = ("sectors", "cash", "flows", "claims", "questions")
_SECTOR_KEYS = ("ring", "outside")
_FLOW_KEYS = ("payer", "payee")
_CLAIM_KEYS = ("debtor", "creditor")
_QUESTION_KEYS = ("payment", "round_trip", "round_trip_sale", "commitments")


class LedgerError(PyloopError):
    """A ledger declaration is missing, malformed, or does not match its model."""


class StockFlowError(LedgerError):
    """A run is not stock-flow consistent with its ledger declaration."""


# --------------------------------------------------------------- declaration
@dataclass(frozen=True)
class Flow:
    """One money flow: ``name`` moves money from ``payer`` to ``payee``."""

    name: str
    payer: str
    payee: str


@dataclass(frozen=True)
class Claim:
    """One claim stock: a liability of ``debtor`` and an asset of ``creditor``."""

    stock: str
    debtor: str
    creditor: str


@dataclass(frozen=True)
class Questions:
    """What :func:`who_paid` reports.

    Attributes:
        payment: the payment whose origins are reported.
        round_trip: flow that marks the money crossing it (``None``: no mark).
        round_trip_sale: flow in which the marked share is the round-trip
            ratio (``None`` when ``round_trip`` is ``None``).
        commitments: flows (money/time) whose integral is the value of
            commitments announced.
    """

    payment: str
    round_trip: str | None = None
    round_trip_sale: str | None = None
    commitments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ledger:
    """A validated ledger declaration.

    Attributes:
        path: the file it was read from, or ``None``.
        ring: the firms inside the ring, in declared order.
        outside: the sectors outside the ring, in declared order.
        cash: cash stock -> owning ring firm.
        flows: flow name -> :class:`Flow`, in declared order.
        claims: claim stock -> :class:`Claim`, in declared order.
        questions: what the who-paid report answers, or ``None``.
    """

    path: Path | None
    ring: tuple[str, ...]
    outside: tuple[str, ...]
    cash: Mapping[str, str]
    flows: Mapping[str, Flow]
    claims: Mapping[str, Claim] = field(default_factory=dict)
    questions: Questions | None = None

    @property
    def sectors(self) -> tuple[str, ...]:
        """Every sector: the ring firms, then the outside sectors."""
        return self.ring + self.outside

    @property
    def cash_of(self) -> Mapping[str, str]:
        """Ring firm -> its cash stock."""
        return MappingProxyType({owner: stock for stock, owner in self.cash.items()})

    @property
    def internal_flows(self) -> tuple[str, ...]:
        """Flows between two ring firms."""
        return tuple(
            f.name for f in self.flows.values() if f.payer in self.ring and f.payee in self.ring
        )

    @property
    def inflows(self) -> tuple[str, ...]:
        """Flows into the ring from outside."""
        return tuple(
            f.name for f in self.flows.values() if f.payer not in self.ring and f.payee in self.ring
        )

    @property
    def outflows(self) -> tuple[str, ...]:
        """Flows out of the ring to outside."""
        return tuple(
            f.name for f in self.flows.values() if f.payer in self.ring and f.payee not in self.ring
        )

    @property
    def origins(self) -> tuple[str, ...]:
        """Origin labels of traced money: outside sectors that pay into the
        ring (in declared order), then each ring firm's opening cash."""
        payers = {self.flows[f].payer for f in self.inflows}
        return tuple(s for s in self.outside if s in payers) + tuple(
            f"{firm} {OPENING}" for firm in self.ring
        )

    @property
    def round_trip_label(self) -> str | None:
        """Label of money marked by the round-trip flow, e.g.
        ``"Chip Maker (round trip)"``; ``None`` without such a flow."""
        q = self.questions
        if q is None or q.round_trip is None:
            return None
        return f"{self.flows[q.round_trip].payer} {ROUND_TRIP}"

    def where(self) -> str:
        return f"'{self.path.name}'" if self.path is not None else "the ledger declaration"


def ledger_path(model_path: str | os.PathLike[str]) -> Path:
    """The ledger declaration of a model file: ``X.ledger.toml`` beside ``X.mdl``."""
    p = Path(model_path)
    return p.with_name(p.stem + ".ledger.toml")


def load_ledger(model: "Model | str | os.PathLike[str]") -> Ledger:
    """Read and validate the ledger declaration of a model.

    Args:
        model: a loaded :class:`~pyloop.engine.pysd_model.Model` or a model file path;
            the declaration is the one named when the model was loaded
            (``--ledger``), else ``X.ledger.toml`` beside ``X.mdl``.

    Raises:
        LedgerError: no declaration, or it is malformed (see
            :func:`read_ledger`). When a loaded model is given, also when the
            declaration does not match the model's equations (see
            :func:`check_structure`).
    """
    from pyloop.engine.pysd_model import Model

    source = model.path if isinstance(model, Model) else Path(model)
    path = declaration_path(model, "ledger")
    if not path.is_file():
        raise LedgerError(
            f"model '{source.name}' has no ledger declaration: write '{path.name}' beside it "
            "(sectors, cash stocks, flows with payer and payee)"
        )
    ledger = read_ledger(path)
    if isinstance(model, Model):
        check_structure(model, ledger)
    return ledger


def _table(
    data: Mapping[str, Any], key: str, where: str, required: bool = True
) -> Mapping[str, Any]:
    value = data.get(key)
    if value is None:
        if required:
            raise LedgerError(f"{where} has no [{key}] table; add one")
        return {}
    if not isinstance(value, dict):
        raise LedgerError(f"'{key}' in {where} must be a table, not {type(value).__name__}")
    return value


def _unknown_keys(table: Mapping[str, Any], allowed: Sequence[str], what: str, where: str) -> None:
    for key in table:
        if key not in allowed:
            raise LedgerError(
                f"unknown key '{key}' in {what} of {where}"
                + (suggest(key, allowed) or f"; allowed keys: {', '.join(allowed)}")
            )


def _string(value: Any, what: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise LedgerError(f"{what} in {where} must be a non-empty string, not {value!r}")
    return value


def _sector(value: Any, what: str, where: str, sectors: Sequence[str]) -> str:
    name = _string(value, what, where)
    if name not in sectors:
        raise LedgerError(
            f"unknown sector '{name}' for {what} in {where}"
            + (suggest(name, sectors) or f"; declared sectors: {', '.join(sectors)}")
        )
    return name


def _two_parties(
    entry: Any, keys: Sequence[str], what: str, where: str, sectors: Sequence[str]
) -> tuple[str, str]:
    """The two sectors of a flow (payer, payee) or a claim (debtor, creditor)."""
    if not isinstance(entry, dict):
        example = ", ".join(f'{key} = "..."' for key in keys)
        raise LedgerError(f"{what} in {where} must be a table {{ {example} }}")
    _unknown_keys(entry, keys, what, where)
    for key in keys:
        if key not in entry:
            raise LedgerError(f'{what} in {where} has no {key}; add {key} = "<sector>"')
    first, second = keys
    return (
        _sector(entry[first], f"the {first} of {what}", where, sectors),
        _sector(entry[second], f"the {second} of {what}", where, sectors),
    )


def read_ledger(path: str | os.PathLike[str]) -> Ledger:
    """Read and validate a ledger declaration file (without a model).

    Checks the file's shape: known keys, declared sectors, a payer and a
    different payee for every flow of which at least one is a ring firm,
    exactly one cash stock per ring firm, a debtor and a different creditor
    per claim, and questions that name declared flows.

    Raises:
        LedgerError: the message names the file, the key and the closest
            valid names.
    """
    path = Path(path)
    where = f"'{path.name}'"
    data = read_toml(path, "ledger declaration", LedgerError)
    _unknown_keys(data, _TOP_KEYS, "the top level", where)

    sectors_t = _table(data, "sectors", where)
    _unknown_keys(sectors_t, _SECTOR_KEYS, "[sectors]", where)
    groups: dict[str, tuple[str, ...]] = {}
    for key in _SECTOR_KEYS:
        value = sectors_t.get(key)
        if not isinstance(value, list) or not value:
            raise LedgerError(
                f"[sectors] {key} in {where} must be a non-empty list of sector names"
            )
        names = tuple(_string(v, f"[sectors] {key}", where) for v in value)
        groups[key] = names
    ring, outside = groups["ring"], groups["outside"]
    sectors = ring + outside
    seen: set[str] = set()
    for name in sectors:
        if name in seen:
            raise LedgerError(f"sector '{name}' is declared twice in [sectors] of {where}")
        seen.add(name)

    cash: dict[str, str] = {}
    for stock, owner in _table(data, "cash", where).items():
        owner = _sector(owner, f"the owner of cash stock '{stock}'", where, sectors)
        if owner not in ring:
            raise LedgerError(
                f"cash stock '{stock}' in {where} belongs to '{owner}', which is outside the "
                f"ring; only ring firms ({', '.join(ring)}) hold traced cash"
            )
        if owner in cash.values():
            raise LedgerError(f"'{owner}' owns two cash stocks in [cash] of {where}; declare one")
        cash[stock] = owner
    for firm in ring:
        if firm not in cash.values():
            raise LedgerError(f"ring firm '{firm}' has no cash stock in [cash] of {where}; add one")

    flows: dict[str, Flow] = {}
    for name, entry in _table(data, "flows", where).items():
        what = f"flow '{name}'"
        payer, payee = _two_parties(entry, _FLOW_KEYS, what, where, sectors)
        if payer == payee:
            raise LedgerError(
                f"{what} in {where} is paid by '{payer}' to itself; payer and payee must differ"
            )
        if payer not in ring and payee not in ring:
            raise LedgerError(
                f"{what} in {where} goes from '{payer}' to '{payee}', both outside the ring; "
                "declare only flows that pay into, out of or inside the ring"
            )
        flows[name] = Flow(name, payer, payee)
    if not flows:
        raise LedgerError(f"[flows] in {where} is empty; declare the model's money flows")

    claims: dict[str, Claim] = {}
    for stock, entry in _table(data, "claims", where, required=False).items():
        what = f"claim stock '{stock}'"
        debtor, creditor = _two_parties(entry, _CLAIM_KEYS, what, where, sectors)
        if debtor == creditor:
            raise LedgerError(f"{what} in {where} is owed by '{debtor}' to itself")
        if stock in cash:
            raise LedgerError(f"'{stock}' in {where} is declared both as cash and as a claim")
        claims[stock] = Claim(stock, debtor, creditor)

    questions = None
    q = _table(data, "questions", where, required=False)
    if q:
        _unknown_keys(q, _QUESTION_KEYS, "[questions]", where)

        def declared_flow(key: str) -> str | None:
            if key not in q:
                return None
            name = _string(q[key], f"[questions] {key}", where)
            if name not in flows:
                raise LedgerError(
                    f"[questions] {key} = '{name}' in {where} is not a declared flow"
                    + (suggest(name, flows) or "; declare it in [flows]")
                )
            return name

        payment = declared_flow("payment")
        if payment is None:
            raise LedgerError(f"[questions] in {where} has no payment; name the payment to trace")
        round_trip = declared_flow("round_trip")
        sale = declared_flow("round_trip_sale")
        if (round_trip is None) != (sale is None):
            raise LedgerError(
                f"[questions] in {where} must give both round_trip and round_trip_sale, or neither"
            )
        if round_trip is not None and flows[round_trip].payer not in ring:
            raise LedgerError(
                f"[questions] round_trip = '{round_trip}' in {where} is paid by "
                f"'{flows[round_trip].payer}', outside the ring; name a flow paid by a ring firm"
            )
        commitments = q.get("commitments", [])
        if not isinstance(commitments, list):
            raise LedgerError(f"[questions] commitments in {where} must be a list of flow names")
        questions = Questions(
            payment=payment,
            round_trip=round_trip,
            round_trip_sale=sale,
            commitments=tuple(_string(c, "[questions] commitments", where) for c in commitments),
        )

    return Ledger(
        path=path,
        ring=ring,
        outside=outside,
        cash=MappingProxyType(cash),
        flows=MappingProxyType(flows),
        claims=MappingProxyType(claims),
        questions=questions,
    )


# ------------------------------------------------------------------- checks
def check_structure(model: "Model", ledger: Ledger) -> None:
    """Compare a declaration with the model's equations.

    Every declared flow, stock and commitment must be a variable of the
    model; every flow in a cash stock's equation must be declared; every
    declared flow must be used by its payer's cash stock as an outflow and
    by its payee's cash stock as an inflow.

    Raises:
        StockFlowError: names the flow, the stock and the declaration file.
        LedgerError: a declared name is not in the model (with suggestions).
    """
    where = ledger.where()
    names = [v.name for v in model.variables]
    known = set(names)

    def exists(name: str, what: str) -> None:
        if name not in known:
            raise LedgerError(
                f"{what} '{name}' in {where} is not a variable of model '{model.name}'"
                + suggest(name, names)
            )

    for name in ledger.flows:
        exists(name, "flow")
    for stock in [*ledger.cash, *ledger.claims]:
        exists(stock, "stock")
        kind = model.variable(stock).kind
        if kind != "stock":
            raise LedgerError(
                f"'{stock}' in {where} is a {kind} of model '{model.name}', not a stock"
            )
    if ledger.questions is not None:
        for name in ledger.questions.commitments:
            exists(name, "commitment flow")

    equations = model.equations
    for stock, owner in ledger.cash.items():
        used = dict(equations[stock].flows)
        if not used:
            raise StockFlowError(
                f"the equation of cash stock '{stock}' is not a plain sum of flows "
                f"(INTEG(inflow + ... - outflow - ...)); its money cannot be accounted in {where}"
            )
        for flow, sign in used.items():
            if flow not in ledger.flows:
                raise StockFlowError(
                    f"money flow '{flow}' {'into' if sign > 0 else 'out of'} cash stock "
                    f"'{stock}' is not declared in [flows] of {where}; declare its payer and payee"
                )
    for f in ledger.flows.values():
        for sector, expected, role in ((f.payer, -1, "payer"), (f.payee, +1, "payee")):
            stock = ledger.cash_of.get(sector)
            if stock is None:
                continue
            sign = dict(equations[stock].flows).get(f.name)
            if sign is None:
                raise StockFlowError(
                    f"declared flow '{f.name}' (paid by '{f.payer}' to '{f.payee}') is not used "
                    f"by the {role}'s cash stock '{stock}'; correct [flows] in {where} or the "
                    "stock's equation"
                )
            if sign != expected:
                raise StockFlowError(
                    f"declared flow '{f.name}' (paid by '{f.payer}' to '{f.payee}') enters cash "
                    f"stock '{stock}' as an {'inflow' if sign > 0 else 'outflow'}, but the "
                    f"{role} must see it as an {'inflow' if expected > 0 else 'outflow'}; "
                    f"correct the sign in the equation of '{stock}' or [flows] in {where}"
                )


def _columns(frame: pd.DataFrame, names: Iterable[str], where: str) -> np.ndarray:
    names = list(names)
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise LedgerError(
            f"the run has no column '{missing[0]}' declared in {where}"
            + suggest(missing[0], frame.columns)
        )
    return frame[names].to_numpy(dtype=float)


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


def _first_violation(error: np.ndarray, tolerance: float) -> int | None:
    bad = np.abs(error) > tolerance
    bad |= ~np.isfinite(error)
    return int(np.argmax(bad)) if bad.any() else None


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
    """

    stock_errors: Mapping[str, float]
    ring_error: float
    tolerance: float
    steps: int

    @property
    def max_error(self) -> float:
        return max([self.ring_error, *self.stock_errors.values()])


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
        net = _columns(frame, ins, where).sum(axis=1) - _columns(frame, outs, where).sum(axis=1)
        change, moved = np.diff(level), net[:-1] * dt
        error = change - moved
        k = _first_violation(error, tolerance)
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
    boundary = _columns(frame, ledger.inflows, where).sum(axis=1) - _columns(
        frame, ledger.outflows, where
    ).sum(axis=1)
    change, moved = np.diff(money), boundary[:-1] * dt
    error = change - moved
    k = _first_violation(error, tolerance)
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
    """Run :func:`check_stocks` and :func:`check_ring`; return their errors."""
    stocks = check_stocks(frame, ledger, tolerance)
    ring = check_ring(frame, ledger, tolerance)
    return LedgerCheck(stocks, ring, tolerance, len(frame.index) - 1)


# ----------------------------------------------------------------- matrices
def _frame_of(result: "RunResult | pd.DataFrame") -> pd.DataFrame:
    return result if isinstance(result, pd.DataFrame) else result.frame


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
    cumulative = np.vstack([np.zeros((1, len(sectors))), np.cumsum(net[:-1] * dt, axis=0)])
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


# ------------------------------------------------------------------ tracing
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


# -------------------------------------------------------------------- audit
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
    from pyloop.engine.pysd_model import Model, load_model
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
