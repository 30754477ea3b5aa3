"""Evaluate a model's equations over whole time series at once (an
interpreter of PySD's abstract syntax tree, built on
:class:`~pyloop.engine.expressions.ExpressionVisitor`), for the link scores."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd

from pyloop.errors import PyloopError
from pyloop.engine.pysd_model import Model
from pyloop.engine.builtins import ExpandedModel, LaggedReference, _lag, expand_builtins
from pyloop.engine.expressions import (
    UNSUPPORTED_CONSTRUCTS,
    ExpressionVisitor,
    is_lookup_table,
    is_stock,
    net_flow_expression,
    reference_name,
    unsupported_construct,
)

__all__ = ["ARITHMETIC", "Evaluator", "check_supported"]

#: Vensim's "small number" used by XIDZ/ZIDZ (as in PySD).
_SMALL = 1e-6


def _unsupported(construct: str, variable: str) -> PyloopError:
    return PyloopError(
        f"loop analysis does not support {construct} (in '{variable}'): its hidden "
        "stocks cannot be scored; write the structure out with explicit INTEG stocks"
    )


def check_supported(model: Model) -> None:
    """Raise :class:`PyloopError` naming the first construct (FORECAST,
    SAMPLE IF TRUE, subscripts, ...) and variable the loop analysis cannot
    score; SMOOTH, DELAY and TREND are written out as stocks first
    (:mod:`pyloop.engine.builtins`)."""
    model = expand_builtins(model)
    kinds = {v.name: v.kind for v in model.variables}
    for name, eq in model.equations.items():
        if kinds.get(name) in ("stock", "flow", "aux"):
            construct = unsupported_construct(eq.ast)
            if construct is not None:
                raise _unsupported(construct, name)


def _step(t, dt, value, start):
    return value * ((t + dt / 2) > start)


def _pulse(t, dt, start, width):
    width = np.where(np.asarray(width) == 0, dt / 2, width)  # PySD: width 0 -> one step
    return ((start - _SMALL <= t) & (t < start + width)).astype(float)


def _ramp(t, dt, slope, start, finish=None):
    final = t if finish is None else np.minimum(finish, t)
    return (t + _SMALL > start) * slope * (final - start)


def _xidz(a, b, x):
    b = np.asarray(b, dtype=float)
    small = np.abs(b) < _SMALL
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(small, x, a / np.where(small, 1.0, b))


def _zidz(a, b):
    return _xidz(a, b, 0.0)


_SIMPLE = {
    "abs": np.abs,
    "exp": np.exp,
    "sqrt": np.sqrt,
    "ln": np.log,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "arcsin": np.arcsin,
    "arccos": np.arccos,
    "arctan": np.arctan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "min": np.minimum,
    "max": np.maximum,
    "power": np.power,
    "log": lambda a, b: np.log(a) / np.log(b),
    "integer": np.trunc,
    "modulo": np.mod,
    "quantum": lambda a, b: np.where(np.asarray(b) <= 0, a, b * np.trunc(np.asarray(a) / b)),
    "xidz": _xidz,
    "zidz": _zidz,
}

_COMPARE = {
    "=": np.equal,
    "<>": np.not_equal,
    ">=": np.greater_equal,
    ">": np.greater,
    "<=": np.less_equal,
    "<": np.less,
    ":AND:": np.logical_and,
    ":OR:": np.logical_or,
}

#: NumPy function of each binary arithmetic operator in an equation.
ARITHMETIC = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
    "^": np.power,
}


class Evaluator(ExpressionVisitor):
    """Evaluate a model's equations over whole time series at once.

    Args:
        model: the loaded model.
        frame: a run of the model with one row per time step (every stock,
            flow, auxiliary and constant as a column).
        time_step: the run's integration step.
        check: first check that every equation can be evaluated (see
            :func:`check_supported`).

    The values of the run are the evaluator's memory: ``values[name]`` is a
    numpy array over time (a float for a constant). :meth:`evaluate`
    evaluates an expression given a function that returns each variable's
    values; :meth:`current`, :meth:`previous` and :meth:`partial` build the
    usual ones.
    """

    def __init__(self, model: Model, frame: pd.DataFrame, time_step: float, check: bool = True):
        model = expand_builtins(model)
        if check:
            check_supported(model)
        self.model = model
        self.dt = float(time_step)
        self.time = np.asarray(frame.index, dtype=float)
        self._name = {v.py_name: v.name for v in model.variables}
        self._name.update({reference_name(v.name): v.name for v in model.variables})
        self._kind = {v.name: v.kind for v in model.variables}
        eqs = model.equations
        self.equations = eqs
        values: dict[str, Any] = {}
        for v in model.variables:
            if v.kind == "control":
                continue
            if v.name in frame.columns:
                col = frame[v.name].to_numpy(dtype=float)
                values[v.name] = float(col[0]) if v.kind == "constant" else col
        values.update(
            {
                "INITIAL TIME": float(self.time[0]),
                "FINAL TIME": float(self.time[-1]),
                "TIME STEP": self.dt,
                "SAVEPER": self.dt,
                "Time": self.time,
            }
        )
        self.values = values
        self._lookups: dict[str, Any] = {}
        for name, eq in eqs.items():
            if is_lookup_table(eq.ast):
                self._lookups[name] = eq.ast
        if isinstance(model, ExpandedModel):
            model.internal_values(self)

    # -------------------------------------------------------- environments
    def _get(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise PyloopError(
                f"the run has no values of '{name}'; run the model with every variable returned"
            ) from None

    def current(self) -> Callable[[str], Any]:
        """Values over the whole run."""
        return self._get

    def variable_name(self, reference: str) -> str | None:
        """The variable an equation's reference (a Python or reference
        name, see :func:`~pyloop.engine.expressions.reference_name`) reads,
        or None for an unknown name."""
        return self._name.get(reference)

    def lookup_table(self, name: str) -> Any:
        """The lookup table of the variable called ``name`` (its ``x`` and
        ``y`` points), or None when ``name`` is not a lookup."""
        return self._lookups.get(name)

    def previous(self) -> Callable[[str], Any]:
        """Values at ``t - dt`` for ``t`` from the second step on."""
        get = self._get

        def prev(name: str) -> Any:
            v = get(name)
            return v[:-1] if isinstance(v, np.ndarray) else v

        prev.lag_slice = slice(None, -1)  # type: ignore[attr-defined]
        return prev

    def partial(self, moving: str) -> Callable[[str], Any]:
        """Values at ``t - dt`` except ``moving`` at ``t`` (ceteris paribus)."""
        get = self._get

        def part(name: str) -> Any:
            v = get(name)
            if not isinstance(v, np.ndarray):
                return v
            return v[1:] if name == moving else v[:-1]

        part.moving = moving  # type: ignore[attr-defined]
        return part

    # ------------------------------------------------------------ evaluate
    def evaluate(self, ast: Any, get: Callable[[str], Any], time: np.ndarray, where: str) -> Any:
        """Value of ``ast`` with variables from ``get`` at times ``time``.

        Args:
            ast: a PySD abstract syntax tree (not a stock's IntegStructure:
                pass its ``flow``).
            get: variable name -> values.
            time: the times the values belong to (for STEP, RAMP, PULSE, Time).
            where: the variable the expression belongs to, for messages.
        """
        return self.visit(ast, get, time, where)

    def visit_number(self, ast: Any, get: Callable[[str], Any], time: np.ndarray, where: str) -> Any:
        return float(ast)

    def visit_reference(self, ast: Any, get: Callable[[str], Any], time: np.ndarray, where: str) -> Any:
        ref = ast.reference
        if ref == "time":
            return get("Time")
        if ast.subscripts is not None:
            raise _unsupported("subscripts", where)
        name = self._name.get(ref)
        if name is None:
            raise PyloopError(f"unknown name '{ref}' in the equation of '{where}'")
        return get(name)

    def visit_arithmetic(self, ast: Any, get: Callable[[str], Any], time: np.ndarray, where: str) -> Any:
        ev = self.evaluate
        ops, args = ast.operators, ast.arguments
        if len(args) == 1:
            value = ev(args[0], get, time, where)
            if ops[0] == "negative":
                return -value
            if ops[0] == "positive":
                return value
            raise PyloopError(f"unknown operator {ops[0]!r} in '{where}'")
        if ops and ops[-1] == "^" and all(op == "^" for op in ops):
            value = ev(args[-1], get, time, where)
            for arg in reversed(args[:-1]):
                value = np.power(ev(arg, get, time, where), value)
            return value
        value = ev(args[0], get, time, where)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            for op, arg in zip(ops, args[1:]):
                value = ARITHMETIC[op](value, ev(arg, get, time, where))
        return value

    def visit_logic(self, ast: Any, get: Callable[[str], Any], time: np.ndarray, where: str) -> Any:
        ev = self.evaluate
        ops, args = ast.operators, ast.arguments
        if len(args) == 1:
            if ops[0] == ":NOT:":
                return np.logical_not(ev(args[0], get, time, where))
            raise PyloopError(f"unknown operator {ops[0]!r} in '{where}'")
        value = ev(args[0], get, time, where)
        for op, arg in zip(ops, args[1:]):
            value = _COMPARE[op](value, ev(arg, get, time, where))
        return value

    def visit_inline_lookups(self, ast: Any, get: Callable[[str], Any], time: np.ndarray, where: str) -> Any:
        return self._lookup(ast.lookups, self.evaluate(ast.argument, get, time, where))

    def visit_initial(self, ast: Any, get: Callable[[str], Any], time: np.ndarray, where: str) -> Any:
        value = self.evaluate(ast.initial, self._get, self.time, where)
        return float(np.asarray(value).ravel()[0])

    def visit_other(self, ast: Any, get: Callable[[str], Any], time: np.ndarray, where: str) -> Any:
        kind = type(ast).__name__
        raise _unsupported(UNSUPPORTED_CONSTRUCTS.get(kind, kind), where)

    def visit_lagged(
        self, ast: LaggedReference, get: Callable[[str], Any], time: np.ndarray, where: str
    ) -> Any:
        """A DELAY FIXED output over the steps ``get`` stands for: the whole
        run, the previous steps, or (moving its input) the current ones."""
        name = self._name.get(ast.reference, ast.reference)
        source = np.broadcast_to(np.asarray(self._get(name), dtype=float), self.time.shape)
        delay = np.asarray(self.evaluate(ast.delay, self._get, self.time, where), dtype=float)
        initial = np.asarray(self.evaluate(ast.initial, self._get, self.time, where), dtype=float)
        lagged = _lag(source, float(delay.ravel()[0]), self.dt, float(initial.ravel()[0]))
        part = getattr(get, "lag_slice", None)
        if part is None and hasattr(get, "moving"):
            part = slice(1, None) if get.moving == name else slice(None, -1)
        return lagged if part is None else lagged[part]

    def _lookup(self, table: Any, x: Any) -> Any:
        xs = np.asarray(table.x, dtype=float)
        ys = np.asarray(table.y, dtype=float)
        return np.interp(x, xs, ys)

    def visit_call(self, ast: Any, get: Callable[[str], Any], time: np.ndarray, where: str) -> Any:
        func = ast.function.reference if hasattr(ast.function, "reference") else str(ast.function)
        args = ast.arguments
        if func == "if_then_else":
            cond = self.evaluate(args[0], get, time, where)
            a = self.evaluate(args[1], get, time, where)
            b = self.evaluate(args[2], get, time, where)
            return np.where(cond, a, b)
        values = [self.evaluate(a, get, time, where) for a in args]
        if func in _SIMPLE:
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                return _SIMPLE[func](*values)
        if func == "step":
            return _step(time, self.dt, *values)
        if func == "ramp" or func == "Xramp":
            return _ramp(time, self.dt, *values)
        if func == "pulse":
            return _pulse(time, self.dt, *values)
        name = self._name.get(func)
        if name is not None and name in self._lookups:
            return self._lookup(self._lookups[name], values[0])
        raise PyloopError(
            f"loop analysis does not support the function {func.upper()} (in '{where}')"
        )

    def value_of(self, name: str) -> np.ndarray:
        """Recompute ``name`` over the whole run from its equation (a stock:
        by Euler integration from its recorded initial value)."""
        eq = self.equations[name]
        if is_stock(eq.ast):
            net = np.broadcast_to(
                self.evaluate(eq.ast.flow, self._get, self.time, name), self.time.shape
            )
            start = self._get(name)[0]
            return start + np.concatenate([[0.0], np.cumsum(net[:-1] * self.dt)])
        out = self.evaluate(eq.ast, self._get, self.time, name)
        return np.broadcast_to(np.asarray(out, dtype=float), self.time.shape).copy()

    def expression(self, name: str) -> Any:
        """The expression a link into ``name`` is scored on: the equation,
        or a stock's net flow."""
        ast = self.equations[name].ast
        return net_flow_expression(ast)

    def net_flow(self, stock: str) -> np.ndarray:
        """A stock's net flow over the run."""
        out = self.evaluate(self.expression(stock), self._get, self.time, stock)
        return np.broadcast_to(np.asarray(out, dtype=float), self.time.shape)

