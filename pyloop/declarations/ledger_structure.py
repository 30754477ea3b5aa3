"""Checking a ledger declaration against the model's equations: every
declared name is a variable of the right kind, every cash stock moves only
by declared money flows paid and received by the right sectors, and every
claim stock moves only by its declared increases and decreases."""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

from pyloop.declarations.ledger import Claim, Ledger, LedgerError, StockFlowError
from pyloop.errors import suggest

if TYPE_CHECKING:  # pragma: no cover
    from pyloop.engine import Model

__all__ = ["check_structure"]


def check_structure(model: "Model", ledger: Ledger) -> None:
    """Compare a declaration with the model's equations.

    Every declared flow, stock, due, value and commitment must be a variable
    of the model; cash and claim stocks must be stocks (INTEG) and declared
    flows (money flows, the flows of claims and dues) must not be, for a
    level cannot be a flow. Every flow in a cash stock's equation must be
    declared; every declared money flow must be used by its payer's cash
    stock as an outflow and by its payee's cash stock as an inflow. Every
    claim stock must declare ``increase`` and ``decrease``, exactly the
    inflows and the outflows of its equation.

    Raises:
        StockFlowError: names the flow, the stock and the declaration file.
        LedgerError: a declared name is not in the model (with suggestions),
            or is a variable of the wrong kind.
    """
    where = ledger.where()
    names = [v.name for v in model.variables]
    known = set(names)

    def exists(name: str, what: str, of: str = "") -> None:
        if name not in known:
            raise LedgerError(
                f"{what} '{name}'{of} in {where} is not a variable of model '{model.name}'"
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
    claim_flows = {n: c.stock for c in ledger.claims.values() for n in c.flows}
    for name, stock in claim_flows.items():
        exists(name, "flow", f" of claim stock '{stock}'")
    for due in ledger.dues.values():
        exists(due.due, "due")
        for name in (*due.paid, *due.unpaid):
            exists(name, "flow", f" of due '{due.due}'")
    due_flows = [n for d in ledger.dues.values() for n in (d.due, *d.paid, *d.unpaid)]
    for name in ledger.values:
        exists(name, "value")
    if ledger.questions is not None:
        for name in ledger.questions.commitments:
            exists(name, "commitment flow")
    for name in dict.fromkeys([*ledger.flows, *claim_flows, *due_flows]):
        if model.variable(name).kind == "stock":
            raise LedgerError(
                f"'{name}' in {where} is declared as a flow but is a stock of model "
                f"'{model.name}'; a level cannot be a flow: name the flows that change it"
            )

    _check_cash(model, ledger)
    for claim in ledger.claims.values():
        _check_claim(claim, dict(model.equations[claim.stock].flows), where)


def _check_cash(model: "Model", ledger: Ledger) -> None:
    """Every flow of a cash stock declared; every money flow used with the
    right sign by its payer's and its payee's cash stock."""
    where = ledger.where()
    equations = model.equations
    for stock in ledger.cash:
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


def _check_claim(claim: Claim, used: Mapping[str, int], where: str) -> None:
    """A claim stock's inflows are exactly its declared ``increase`` and its
    outflows exactly its declared ``decrease``."""
    stock = claim.stock
    if not used:
        raise StockFlowError(
            f"the equation of claim stock '{stock}' is not a plain sum of flows "
            f"(INTEG(inflow + ... - outflow - ...)); its changes cannot be accounted in {where}"
        )
    inflows = [name for name, sign in used.items() if sign > 0]
    outflows = [name for name, sign in used.items() if sign < 0]
    sides = (
        ("increase", claim.increase, inflows, "inflow"),
        ("decrease", claim.decrease, outflows, "outflow"),
    )
    for key, declared, actual, role in sides:
        if declared is None:
            listed = ", ".join(f'"{n}"' for n in actual)
            raise LedgerError(
                f"claim stock '{stock}' in {where} has no {key}; declare the flows that "
                f"{'raise' if key == 'increase' else 'lower'} it: {key} = [{listed}]"
            )
    for key, declared, actual, role in sides:
        for name in actual:
            if name not in declared:  # type: ignore[operator]
                raise StockFlowError(
                    f"flow '{name}' {'into' if role == 'inflow' else 'out of'} claim stock "
                    f"'{stock}' is not declared in its {key} in [claims] of {where}; add it"
                )
        for name in declared:  # type: ignore[union-attr]
            if name not in actual:
                other = "an outflow" if name in outflows else "an inflow" if name in inflows else None
                raise StockFlowError(
                    f"flow '{name}' declared in the {key} of claim stock '{stock}' in {where} is "
                    + (f"{other} of its equation" if other else "not in its equation")
                    + f"; its {role}s are: {', '.join(actual) or 'none'}"
                    + suggest(name, actual)
                )
