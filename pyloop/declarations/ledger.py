"""The ledger declaration of a model: reading ``X.ledger.toml`` and checking it
against the model's equations.

The ledger declaration of a model ``X.mdl`` is ``X.ledger.toml`` beside it.
It names the sectors (firms inside the ring, sectors outside it), the owner of
every cash stock, the payer and payee of every money flow, the debtor,
creditor and changing flows of every claim stock, what is due and how it is
settled, and the variables that are values rather than money, in the manner
of the transaction and balance-sheet tables of stock-flow consistent models
(Godley tables)::

    values = ["AI Lab Valuation"]  # optional: market values and valuations
                                   # (not money: never a flow, cash or claim;
                                   # a top-level key, before the first table)

    [sectors]
    ring = ["AI Lab", "Cloud Provider", "Chip Maker"]
    outside = ["End Users", "Equity Investors", "Suppliers"]

    [cash]                      # cash stock -> owner (one per ring firm)
    "AI Lab Cash" = "AI Lab"

    [flows]                     # money flow (money/time) -> payer and payee
    "AI Revenue" = { payer = "End Users", payee = "AI Lab" }

    [claims]                    # optional: claim stock (money) -> debtor,
                                # creditor and the flows (money/time) that
                                # raise and lower it: exactly the inflows
                                # and outflows of the stock's equation
    "Cloud Debt" = { debtor = "Cloud Provider", creditor = "Lenders", increase = ["Debt Issuance"], decrease = ["Debt Repayment"] }

    [dues]                      # optional: amount due (money/time) -> the
                                # flows that settle it; due = paid + unpaid
    "Compute Billing" = { paid = ["Compute Payments"], unpaid = ["Compute Arrears Accrual"] }

    [questions]                 # optional: what the who-paid report answers
    payment = "Compute Payments"
    round_trip = "Chip Maker Investment"
    round_trip_sale = "GPU Purchases"
    commitments = ["Announced Contract Signing", "Ring Contract Signing", "Pledge Announced"]

A flow that changes a claim may also be a money flow of ``[flows]`` (a
repayment lowers the debtor's cash and its debt) or a flow that moves no
cash (signing a contract, accruing arrears).

:func:`read_ledger` checks the file's shape;
:func:`~pyloop.declarations.ledger_structure.check_structure` compares it
with the model's equations; :func:`load_ledger` does both for a model. What
a declaration lets one compute from a run lives in
:mod:`pyloop.analysis.ledger`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from pyloop.declarations.toml import read_toml
from pyloop.declarations.paths import declaration_path
from pyloop.errors import PyloopError, normalize_name, suggest

if TYPE_CHECKING:  # pragma: no cover
    from pyloop.engine import Model

__all__ = [
    "Claim",
    "Due",
    "Flow",
    "Ledger",
    "LedgerError",
    "OPENING",
    "Questions",
    "ROUND_TRIP",
    "StockFlowError",
    "ledger_path",
    "load_ledger",
    "read_ledger",
]

#: Origin suffix of a ring firm's opening cash.
OPENING = "opening cash"
#: Label suffix of money marked by the round-trip flow.
ROUND_TRIP = "(round trip)"

_TOP_KEYS = ("values", "sectors", "cash", "flows", "claims", "dues", "questions")
_SECTOR_KEYS = ("ring", "outside")
_FLOW_KEYS = ("payer", "payee")
_CLAIM_KEYS = ("debtor", "creditor")
_CLAIM_FLOW_KEYS = ("increase", "decrease")
_DUE_KEYS = ("paid", "unpaid")
_QUESTION_KEYS = ("payment", "round_trip", "round_trip_sale", "commitments")


class LedgerError(PyloopError):
    """A ledger declaration is missing, malformed, or does not match its model."""


class StockFlowError(LedgerError):
    """A run is not stock-flow consistent with its ledger declaration."""


@dataclass(frozen=True)
class Flow:
    """One money flow: ``name`` moves money from ``payer`` to ``payee``."""

    name: str
    payer: str
    payee: str


@dataclass(frozen=True)
class Claim:
    """One claim stock (money): a liability of ``debtor`` and an asset of
    ``creditor``.

    Attributes:
        increase: the flows (money/time) that raise it, the inflows of its
            equation; ``None`` when not declared (an error once checked
            against the model).
        decrease: the flows (money/time) that lower it, its outflows.
    """

    stock: str
    debtor: str
    creditor: str
    increase: tuple[str, ...] | None = None
    decrease: tuple[str, ...] | None = None

    @property
    def flows(self) -> tuple[str, ...]:
        """Every declared flow that changes the claim."""
        return (self.increase or ()) + (self.decrease or ())


@dataclass(frozen=True)
class Due:
    """An amount due (money/time) and the flows that settle it: at every
    time ``due = sum(paid) + sum(unpaid)``, so no due amount disappears."""

    due: str
    paid: tuple[str, ...]
    unpaid: tuple[str, ...]


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
        dues: amount due -> :class:`Due`, in declared order.
        values: variables that are values, not money (valuations).
    """

    path: Path | None
    ring: tuple[str, ...]
    outside: tuple[str, ...]
    cash: Mapping[str, str]
    flows: Mapping[str, Flow]
    claims: Mapping[str, Claim] = field(default_factory=dict)
    questions: Questions | None = None
    dues: Mapping[str, Due] = field(default_factory=dict)
    values: tuple[str, ...] = ()

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
        model: a loaded :class:`~pyloop.engine.Model` or a model file path;
            the declaration is the one named when the model was loaded
            (``--ledger``), else ``X.ledger.toml`` beside ``X.mdl``.

    Raises:
        LedgerError: no declaration, or it is malformed (see
            :func:`read_ledger`). When a loaded model is given, also when the
            declaration does not match the model's equations (see
            :func:`~pyloop.declarations.ledger_structure.check_structure`).
    """
    from pyloop.declarations.ledger_structure import check_structure
    from pyloop.engine import Model

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
    entry: Any,
    keys: Sequence[str],
    what: str,
    where: str,
    sectors: Sequence[str],
    extra: Sequence[str] = (),
) -> tuple[str, str]:
    """The two sectors of a flow (payer, payee) or a claim (debtor, creditor);
    ``extra`` are the entry's other allowed keys."""
    if not isinstance(entry, dict):
        example = ", ".join(f'{key} = "..."' for key in keys)
        raise LedgerError(f"{what} in {where} must be a table {{ {example} }}")
    _unknown_keys(entry, (*keys, *extra), what, where)
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
    per claim (each claim declared once, none also a cash stock, no flow
    both raising and lowering it), a paid list per due, values that are
    neither flows nor stocks of the ledger, and questions that name
    declared flows.

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

    claims = _read_claims(data, cash, sectors, where)
    dues = _read_dues(data, where)

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
        dues=MappingProxyType(dues),
        values=_read_values(data, flows, cash, claims, dues, where),
    )


def _name_list(entry: Mapping[str, Any], key: str, what: str, where: str) -> tuple[str, ...] | None:
    """The flow names listed under ``key`` of a claim or a due; ``None`` when
    the key is absent."""
    if key not in entry:
        return None
    value = entry[key]
    if not isinstance(value, list):
        raise LedgerError(
            f'the {key} of {what} in {where} must be a list of flow names, e.g. {key} = ["..."]'
        )
    names = tuple(_string(v, f"the {key} of {what}", where) for v in value)
    for name in names:
        if names.count(name) > 1:
            raise LedgerError(f"flow '{name}' is listed twice in the {key} of {what} in {where}")
    return names


def _read_claims(
    data: Mapping[str, Any], cash: Mapping[str, str], sectors: Sequence[str], where: str
) -> dict[str, Claim]:
    """The ``[claims]`` table: one debtor and a different creditor per claim
    stock, each stock declared once and none also a cash stock."""
    claims: dict[str, Claim] = {}
    declared: dict[str, str] = {normalize_name(stock): stock for stock in cash}
    for stock, entry in _table(data, "claims", where, required=False).items():
        what = f"claim stock '{stock}'"
        debtor, creditor = _two_parties(
            entry, _CLAIM_KEYS, what, where, sectors, extra=_CLAIM_FLOW_KEYS
        )
        if debtor == creditor:
            raise LedgerError(f"{what} in {where} is owed by '{debtor}' to itself")
        earlier = declared.get(normalize_name(stock))
        if earlier in cash:
            raise LedgerError(f"'{stock}' in {where} is declared both as cash and as a claim")
        if earlier is not None:
            raise LedgerError(
                f"{what} is declared twice in [claims] of {where} (also as '{earlier}'); "
                "declare each claim once"
            )
        declared[normalize_name(stock)] = stock
        increase = _name_list(entry, "increase", what, where)
        decrease = _name_list(entry, "decrease", what, where)
        for name in increase or ():
            if name in (decrease or ()):
                raise LedgerError(
                    f"flow '{name}' is both an increase and a decrease of {what} in {where}; "
                    "list it once, on the side its sign in the stock's equation says"
                )
        claims[stock] = Claim(stock, debtor, creditor, increase, decrease)
    return claims


def _read_dues(data: Mapping[str, Any], where: str) -> dict[str, Due]:
    """The ``[dues]`` table: every amount due with the flows that pay it and
    the flows that leave it unpaid."""
    dues: dict[str, Due] = {}
    for due, entry in _table(data, "dues", where, required=False).items():
        what = f"due '{due}'"
        if not isinstance(entry, dict):
            raise LedgerError(
                f'{what} in {where} must be a table {{ paid = ["..."], unpaid = ["..."] }}'
            )
        _unknown_keys(entry, _DUE_KEYS, what, where)
        lists = {}
        for key in _DUE_KEYS:
            names = _name_list(entry, key, what, where)
            if names is None:
                raise LedgerError(f'{what} in {where} has no {key}; add {key} = ["<flow>", ...]')
            lists[key] = names
        paid, unpaid = lists["paid"], lists["unpaid"]
        if not paid:
            raise LedgerError(f"the paid list of {what} in {where} is empty; name the flows that pay it")
        for name in (*paid, *unpaid):
            if name == due or (name in paid and name in unpaid):
                raise LedgerError(
                    f"flow '{name}' of {what} in {where} must be listed once, as paid or "
                    "unpaid, and differ from the due"
                )
        dues[due] = Due(due, paid, unpaid)
    return dues


def _read_values(
    data: Mapping[str, Any],
    flows: Mapping[str, Flow],
    cash: Mapping[str, str],
    claims: Mapping[str, Claim],
    dues: Mapping[str, Due],
    where: str,
) -> tuple[str, ...]:
    """The top-level ``values`` list: variables that are values, not money,
    and so never a flow, cash stock, claim stock or due of the ledger."""
    raw = data.get("values", [])
    if not isinstance(raw, list):
        raise LedgerError(
            f"'values' in {where} must be a list of variable names, written before the "
            "first [table]"
        )
    values = tuple(_string(v, "values", where) for v in raw)
    roles: dict[str, str] = {}
    for due in dues.values():
        roles.update({normalize_name(n): f"a flow of due '{due.due}'" for n in due.paid + due.unpaid})
        roles[normalize_name(due.due)] = "a due in [dues]"
    for claim in claims.values():
        roles.update({normalize_name(n): f"a flow of claim stock '{claim.stock}'" for n in claim.flows})
    roles.update({normalize_name(n): "a claim stock in [claims]" for n in claims})
    roles.update({normalize_name(n): "a cash stock in [cash]" for n in cash})
    roles.update({normalize_name(n): "a money flow in [flows]" for n in flows})
    for value in values:
        role = roles.get(normalize_name(value))
        if role is not None:
            raise LedgerError(
                f"value '{value}' in {where} is also declared as {role}; a value (a valuation, "
                "not money) never enters the ledger as a flow or a stock"
            )
    return values
