"""SMOOTH, DELAY and TREND written out as the stocks they hide.

Stella and Simlin expand these functions into their internal stocks; so does
this module, so that loops through them are found and scored like any
other. A model is seen through :class:`ExpandedModel`, which has the same
``name``, ``path``, ``time``, ``variables`` and ``equations`` as the model
plus the internal stocks (and an auxiliary for a function used inside a
larger expression). For a variable ``Y`` (or ``Y smooth 1``, ... for a
function inside an expression) with input ``x``, time ``T``, initial value
``i`` and order ``n``:

* ``SMOOTH``/``SMOOTHI``/``SMOOTH3``/``SMOOTH3I``/``SMOOTH N``: stocks
  ``Y stage 1`` ... ``Y stage n``, each ``INTEG((previous - stage) / (T / n), i)``
  with ``previous`` the input for stage 1; ``Y = Y stage n``.
* ``DELAY1``/``DELAY1I``/``DELAY3``/``DELAY3I``/``DELAY N``: stocks
  ``Y stage k = INTEG(inflow - Y stage k / (T / n), i * T / n)`` with the
  input flowing into stage 1 and each stage's outflow into the next;
  ``Y = Y stage n / (T / n)``.
* ``TREND``: a stock ``Y average = INTEG((x - Y average) / T, x / (1 + i * T))``
  and ``Y = ZIDZ(x - Y average, T * ABS(Y average))`` (as PySD computes it).
* ``DELAY FIXED``: a stock ``Y pipeline = INTEG(x - Y, i * T)`` of the
  material in transit, and ``Y`` reads ``x`` delayed by ``T`` (a link from
  ``x`` to ``Y`` whose score is +1 whenever ``Y`` changes: the output moves
  exactly as the input did ``T`` earlier). The pipeline is on no loop: a
  stock cannot tell when what entered it leaves.

The internal stocks' values over a run are integrated from the recorded
inputs with the run's Euler step, as PySD does. The order of a delay or
smooth must be a number, and a delay's initial time at least
``order * TIME STEP``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np

from pyloop.errors import PyloopError
from pyloop.engine.expressions import is_stock, nodes, reference_name, syntax
from pyloop.engine.pysd_model import Equation, Model, Variable

__all__ = ["Builtin", "ExpandedModel", "LaggedReference", "expand_builtins", "stock_names"]


@dataclass(frozen=True)
class LaggedReference:
    """A reference to ``reference`` (a name as equations write it) as it was
    ``delay`` time units earlier, ``initial`` before that (DELAY FIXED)."""

    reference: str
    delay: Any
    initial: Any


@dataclass(frozen=True)
class Builtin:
    """One SMOOTH, DELAY, DELAY FIXED or TREND, written out.

    Attributes:
        kind: ``"SMOOTH"``, ``"DELAY"``, ``"DELAY FIXED"`` or ``"TREND"``.
        output: the variable holding the function's value.
        stocks: its internal stocks, first stage first.
        input, time, initial: the arguments (abstract syntax trees).
        order: the number of stages (1 for TREND and DELAY FIXED).
    """

    kind: str
    output: str
    stocks: tuple[str, ...]
    input: Any
    time: Any
    initial: Any
    order: int


_KINDS = {
    "SmoothStructure": "SMOOTH",
    "SmoothNStructure": "SMOOTH",
    "DelayStructure": "DELAY",
    "DelayNStructure": "DELAY",
    "TrendStructure": "TREND",
    "DelayFixedStructure": "DELAY FIXED",
}


def _ref(name: str) -> Any:
    return syntax().ReferenceStructure(reference_name(name))


def _arith(op: str, left: Any, right: Any) -> Any:
    return syntax().ArithmeticStructure(operators=[op], arguments=(left, right))


def _order(node: Any, owner: str) -> int:
    order = getattr(node, "order", 1)
    if isinstance(order, (int, float)) and float(order).is_integer() and order >= 1:
        return int(order)
    raise PyloopError(
        f"loop analysis needs the order of the delay or smooth in '{owner}' as a whole "
        "number, not an expression"
    )


class ExpandedModel:
    """A model seen with its SMOOTH, DELAY and TREND functions as stocks.

    Every attribute not listed here is the model's own.

    Attributes:
        model: the model.
        variables: the model's variables plus the internal ones (stocks, and
            auxiliaries for functions inside larger expressions).
        equations: every equation, the functions replaced by references to
            their stocks.
        builtins: the functions written out, inner ones first.
    """

    def __init__(self, model: Model):
        self.model = model
        known = {v.name for v in model.variables}
        self._taken = {reference_name(n) for n in known}
        self._variables: list[Variable] = []
        self._equations: dict[str, Equation] = {}
        self._builtins: list[Builtin] = []
        self._count: dict[str, int] = {}
        kinds = {v.name: v.kind for v in model.variables}
        equations = dict(model.equations)
        ae = syntax()
        for name, eq in model.equations.items():
            if kinds.get(name) not in ("stock", "flow", "aux"):
                continue
            if not any(type(n).__name__ in _KINDS for n in nodes(eq.ast)):
                continue
            if is_stock(eq.ast):
                flow = self._rewrite(eq.ast.flow, name, root=False)
                ast = ae.IntegStructure(flow, eq.ast.initial, eq.ast.non_negative)
                equations[name] = Equation(
                    name, ast, self._names(flow), eq.initial_references, eq.flows
                )
            else:
                ast = self._rewrite(eq.ast, name, root=True)
                equations[name] = Equation(name, ast, self._names(ast))
        equations.update(self._equations)
        self.variables = tuple(model.variables) + tuple(self._variables)
        self.equations: Mapping[str, Equation] = MappingProxyType(equations)
        self.builtins = tuple(self._builtins)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "model":  # not set up yet (copies)
            raise AttributeError(name)
        return getattr(self.model, name)

    # ------------------------------------------------------------ rewriting
    def _names(self, ast: Any) -> tuple[str, ...]:
        ae = syntax()
        by_ref = {reference_name(v.name): v.name for v in self.model.variables}
        by_ref.update({v.py_name: v.name for v in self.model.variables if v.py_name not in by_ref})
        by_ref.update({reference_name(v.name): v.name for v in self._variables})
        out = []
        for node in nodes(ast):
            if isinstance(node, ae.ReferenceStructure):
                out.append("Time" if node.reference == "time" else by_ref.get(node.reference, node.reference))
            elif isinstance(node, LaggedReference):
                out.append(by_ref.get(node.reference, node.reference))
                out.extend(self._names(node.delay))
        return tuple(dict.fromkeys(out))

    def _new(self, name: str, kind: str, ast: Any, comment: str, **extra: Any) -> str:
        if reference_name(name) in self._taken:
            raise PyloopError(
                f"cannot write out the function in '{name.rsplit(' ', 2)[0]}': the model "
                f"already has a variable '{name}'"
            )
        self._taken.add(reference_name(name))
        self._variables.append(
            Variable(name, reference_name(name), None, comment, kind, None, None)
        )
        if is_stock(ast):
            refs = self._names(ast.flow)
            self._equations[name] = Equation(name, ast, refs, self._names(ast.initial), {})
        else:
            self._equations[name] = Equation(name, ast, self._names(ast))
        return name

    def _rewrite(self, node: Any, owner: str, root: bool) -> Any:
        kind = _KINDS.get(type(node).__name__)
        if kind is None:
            if isinstance(node, (list, tuple)):
                return type(node)(self._rewrite(n, owner, False) for n in node)
            if hasattr(node, "__dataclass_fields__") and not isinstance(
                node, syntax().ReferenceStructure
            ):
                changed = {
                    f: self._rewrite(getattr(node, f), owner, False)
                    for f in node.__dataclass_fields__
                }
                return type(node)(**changed)
            return node
        x = self._rewrite(node.input, owner, False)
        for field_name in ("smooth_time", "delay_time", "average_time"):
            if hasattr(node, field_name):
                time = self._rewrite(getattr(node, field_name), owner, False)
                break
        initial = self._rewrite(
            node.initial_trend if kind == "TREND" else node.initial, owner, False
        )
        if root:
            output = owner
        else:
            word = kind.split()[0].lower()
            self._count[owner] = self._count.get(owner, 0) + 1
            output = f"{owner} {word} {self._count[owner]}"
        order = _order(node, owner) if kind in ("SMOOTH", "DELAY") else 1
        expression, stocks = self._expand(kind, output, x, time, initial, order)
        self._builtins.append(Builtin(kind, output, stocks, x, time, initial, order))
        if root:
            return expression
        self._new(output, "aux", expression, f"{kind} inside the equation of '{owner}'")
        return _ref(output)

    def _expand(
        self, kind: str, out: str, x: Any, time: Any, initial: Any, order: int
    ) -> tuple[Any, tuple[str, ...]]:
        ae = syntax()
        stage_time = time if order == 1 else _arith("/", time, float(order))
        if kind == "SMOOTH":
            names = [f"{out} stage {k}" for k in range(1, order + 1)]
            for k, name in enumerate(names):
                previous = x if k == 0 else _ref(names[k - 1])
                flow = _arith("/", _arith("-", previous, _ref(name)), stage_time)
                self._new(name, "stock", ae.IntegStructure(flow, initial, False),
                          f"stage {k + 1} of {order} of the SMOOTH of '{out}'")
            return _ref(names[-1]), tuple(names)
        if kind == "DELAY":
            names = [f"{out} stage {k}" for k in range(1, order + 1)]
            for k, name in enumerate(names):
                inflow = x if k == 0 else _arith("/", _ref(names[k - 1]), stage_time)
                flow = _arith("-", inflow, _arith("/", _ref(name), stage_time))
                start = _arith("/", _arith("*", initial, time), float(order))
                self._new(name, "stock", ae.IntegStructure(flow, start, False),
                          f"stage {k + 1} of {order} of the DELAY of '{out}'")
            return _arith("/", _ref(names[-1]), stage_time), tuple(names)
        if kind == "TREND":
            name = f"{out} average"
            flow = _arith("/", _arith("-", x, _ref(name)), time)
            start = _arith("/", x, _arith("+", 1.0, _arith("*", initial, time)))
            self._new(name, "stock", ae.IntegStructure(flow, start, False),
                      f"the average the TREND of '{out}' compares its input with")
            gap = _arith("-", x, _ref(name))
            scale = _arith("*", time, ae.CallStructure(ae.ReferenceStructure("abs"), (_ref(name),)))
            return ae.CallStructure(ae.ReferenceStructure("zidz"), (gap, scale)), (name,)
        # DELAY FIXED: the input needs a name of its own to be delayed
        if isinstance(x, ae.ReferenceStructure):
            source = x.reference
        else:
            source = reference_name(self._new(f"{out} input", "aux", x, f"input of the DELAY FIXED of '{out}'"))
        name = f"{out} pipeline"
        flow = _arith("-", syntax().ReferenceStructure(source), _ref(out))
        self._new(name, "stock", ae.IntegStructure(flow, _arith("*", initial, time), False),
                  f"material in the DELAY FIXED of '{out}'")
        return LaggedReference(source, time, initial), (name,)

    # ------------------------------------------------------------ values
    def internal_values(self, evaluator: Any) -> dict[str, np.ndarray]:
        """The internal variables' values over the run an evaluator holds,
        integrated with the run's Euler step from the recorded inputs; they
        are added to the evaluator's values as they are computed."""
        time, dt = evaluator.time, evaluator.dt
        n = len(time)
        out: dict[str, np.ndarray] = {}

        def value(ast: Any, where: str) -> np.ndarray:
            v = evaluator.evaluate(ast, evaluator.current(), time, where)
            return np.broadcast_to(np.asarray(v, dtype=float), time.shape).astype(float)

        for b in self.builtins:
            x = value(b.input, b.output)
            t = value(b.time, b.output)
            # PySD lowers the order of such a delay when it starts; the stages
            # here are fixed by the model's structure
            if b.kind == "DELAY" and b.order * dt > t[0] + 1e-12:
                raise PyloopError(
                    f"the {b.kind} in '{b.output}' has a time shorter than its order times "
                    f"TIME STEP ({b.order} x {dt:g}); loop analysis needs a longer time"
                )
            init = value(b.initial, b.output)[0]
            stages = np.zeros((b.order, n))
            if b.kind == "SMOOTH":
                stages[:, 0] = init
                for i in range(n - 1):
                    tau = t[i] / b.order if b.order != 1 else t[i]
                    prev = np.concatenate([[x[i]], stages[:-1, i]])
                    stages[:, i + 1] = stages[:, i] + dt * ((prev - stages[:, i]) / tau)
            elif b.kind == "DELAY":
                stages[:, 0] = init * t[0] / b.order
                for i in range(n - 1):
                    tau = t[i] / b.order if b.order != 1 else t[i]
                    outflow = stages[:, i] / tau
                    inflow = np.concatenate([[x[i]], outflow[:-1]])
                    stages[:, i + 1] = stages[:, i] + dt * (inflow - outflow)
            elif b.kind == "TREND":
                stages[0, 0] = x[0] / (1 + init * t[0])
                for i in range(n - 1):
                    stages[0, i + 1] = stages[0, i] + dt * ((x[i] - stages[0, i]) / t[i])
            else:  # DELAY FIXED: what entered and has not left yet
                lagged = _lag(x, t[0], dt, init)
                stages[0, 0] = init * t[0]
                stages[0, 1:] = stages[0, 0] + np.cumsum((x - lagged)[:-1] * dt)
            for name, row in zip(b.stocks, stages):
                out[name] = row
                evaluator.values[name] = row
            extra = [v.name for v in self._variables if v.kind == "aux" and v.name not in out]
            for name in extra:
                if all(r in evaluator.values or r == "Time" for r in self.equations[name].references):
                    out[name] = value(self.equations[name].ast, name)
                    evaluator.values[name] = out[name]
        return out


def _lag(x: np.ndarray, delay: float, dt: float, initial: float) -> np.ndarray:
    """``x`` delayed by ``delay`` (a whole number of steps, at least one, as
    PySD rounds it), ``initial`` before."""
    steps = max(int(round(delay / dt + 1e-6)), 1)
    out = np.empty_like(x)
    out[:steps] = initial
    out[steps:] = x[:-steps]
    return out


#: Attribute of a model that holds its expansion (a reference cycle the
#: garbage collector frees with the model).
_ATTRIBUTE = "_pyloop_expanded_builtins"


def expand_builtins(model: Any) -> Any:
    """The model seen with its SMOOTH, DELAY and TREND functions as stocks
    (:class:`ExpandedModel`, made once per model); a model that is already
    expanded, or any object that is not a :class:`Model`, is returned as is."""
    if not isinstance(model, Model):
        return model
    expanded = vars(model).get(_ATTRIBUTE)
    if expanded is None:
        expanded = ExpandedModel(model)
        setattr(model, _ATTRIBUTE, expanded)
    return expanded


def stock_names(stocks: Any, model: Any) -> tuple[str, ...]:
    """Stocks as a report names them: the internal stocks of a function as the
    function's variable once (``"Production (DELAY)"`` for ``Production
    stage 1`` ... ``stage 3``), other stocks as they are; sorted."""
    owner = {s: f"{b.output} ({b.kind})" for b in getattr(expand_builtins(model), "builtins", ()) for s in b.stocks}
    return tuple(sorted({owner.get(s, s) for s in stocks}))
