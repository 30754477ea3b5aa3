"""The ledger declaration of a model: reading ``X.ledger.toml`` and checking it
against the model's equations.

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

:func:`read_ledger` checks the file's shape; :func:`check_structure`
compares it with the model's equations; :func:`load_ledger` does both for a
model. What a declaration lets one compute from a run lives in
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
from pyloop.errors import PyloopError, suggest

if TYPE_CHECKING:  # pragma: no cover
    from pyloop.engine import Model

__all__ = [
    "Claim",
    "Flow",
    "Ledger",
    "LedgerError",
    "OPENING",
    "Questions",
    "ROUND_TRIP",
    "StockFlowError",
    "check_structure",
    "ledger_path",
    "load_ledger",
    "read_ledger",
]

#: Origin suffix of a ring firm's opening cash.
OPENING = "opening cash"
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
        model: a loaded :class:`~pyloop.engine.Model` or a model file path;
            the declaration is the one named when the model was loaded
            (``--ledger``), else ``X.ledger.toml`` beside ``X.mdl``.

    Raises:
        LedgerError: no declaration, or it is malformed (see
            :func:`read_ledger`). When a loaded model is given, also when the
            declaration does not match the model's equations (see
            :func:`check_structure`).
    """
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


# ------------------------------------------------------ against the model
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
