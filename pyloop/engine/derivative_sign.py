"""The sign of an expression's derivative with respect to one variable, read
from the equation's structure and the signs of the co-factors in a run (the
structural polarity of a link)."""

from __future__ import annotations

from typing import Any

import numpy as np

from pyloop.engine.evaluator import ARITHMETIC, Evaluator
from pyloop.engine.expressions import ExpressionVisitor

__all__ = ["derivative_sign"]

#: Functions increasing in their one argument.
_INCREASING = ("exp", "sqrt", "ln", "integer", "arctan", "sinh", "tanh")


def _combine(a: Any, b: Any) -> Any:
    """Sign of a sum of two terms with signs ``a`` and ``b`` (0: no
    dependence, NaN: unknown)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    out = np.where(a == 0, b, np.where((b == 0) | (a == b), a, np.nan))
    return out


def _sgn(value: Any) -> Any:
    return np.sign(np.asarray(value, dtype=float))


def _monotony(y: Any) -> float:
    """+1 for a table that never falls, -1 for one that never rises, else NaN."""
    slope = np.diff(np.asarray(y, dtype=float))
    return 1.0 if (slope >= 0).all() else -1.0 if (slope <= 0).all() else np.nan


class _DerivativeSign(ExpressionVisitor):
    """Visitor computing :func:`derivative_sign` node by node."""

    def __init__(self, evaluator: Evaluator, cause: str, where: str):
        self.evaluator = evaluator
        self.cause = cause
        self.where = where

    def value(self, node: Any) -> Any:
        ev = self.evaluator
        return ev.evaluate(node, ev.current(), ev.time, self.where)

    def visit_number(self, node: Any) -> Any:
        return 0.0

    def visit_lagged(self, node: Any) -> Any:
        return 1.0 if self.evaluator.variable_name(node.reference) == self.cause else 0.0

    def visit_reference(self, node: Any) -> Any:
        ref = node.reference
        name = "Time" if ref == "time" else self.evaluator.variable_name(ref)
        return 1.0 if name == self.cause else 0.0

    def visit_arithmetic(self, node: Any) -> Any:
        d, value = self.visit, self.value
        ops, args = node.operators, node.arguments
        if len(args) == 1:
            return -d(args[0]) if ops[0] == "negative" else d(args[0])
        left_v, left_s = value(args[0]), d(args[0])
        for op, arg in zip(ops, args[1:]):
            right_v, right_s = value(arg), d(arg)
            if op in "+-":
                left_s = _combine(left_s, right_s if op == "+" else -np.asarray(right_s))
            elif op == "*":
                left_s = _combine(np.asarray(left_s) * _sgn(right_v), np.asarray(right_s) * _sgn(left_v))
            elif op == "/":
                left_s = _combine(np.asarray(left_s) * _sgn(right_v), -np.asarray(right_s) * _sgn(left_v))
            else:  # power: increasing in a positive base for a positive exponent
                left_s = _combine(
                    np.asarray(left_s) * _sgn(right_v),
                    np.asarray(right_s) * _sgn(np.log(np.abs(np.asarray(left_v, dtype=float)) + 1e-300)),
                )
            with np.errstate(all="ignore"):
                left_v = ARITHMETIC[op](left_v, right_v)
        return left_s

    def visit_call(self, node: Any) -> Any:
        func = node.function.reference if hasattr(node.function, "reference") else str(node.function)
        args = node.arguments
        signs = [self.visit(a) for a in args]
        if func in ("min", "max"):
            return _combine(signs[0], signs[1])
        if func in _INCREASING:
            return signs[0]
        if func == "abs":
            return np.asarray(signs[0]) * _sgn(self.value(args[0]))
        if func in ("xidz", "zidz"):
            a, b = self.value(args[0]), self.value(args[1])
            return _combine(np.asarray(signs[0]) * _sgn(b), -np.asarray(signs[1]) * _sgn(a))
        if func == "if_then_else":
            if np.any(np.asarray(signs[0]) != 0):
                return np.nan
            return _combine(signs[1], signs[2])
        name = self.evaluator.variable_name(func)
        table = None if name is None else self.evaluator.lookup_table(name)
        if table is not None:
            return np.asarray(signs[0]) * _monotony(table.y)
        return np.where(np.any([np.asarray(x) != 0 for x in signs]), np.nan, 0.0)

    def visit_inline_lookups(self, node: Any) -> Any:
        return np.asarray(self.visit(node.argument)) * _monotony(node.lookups.y)

    def visit_other(self, node: Any) -> Any:
        return np.nan


def derivative_sign(evaluator: Evaluator, ast: Any, cause: str, where: str) -> Any:
    """Sign of the derivative of ``ast`` with respect to ``cause`` at every
    step of the evaluator's run: +1, -1, 0 (no dependence) or NaN (the
    structure cannot tell). MIN and MAX count as increasing in every
    argument; the signs of co-factors are taken from the run.

    Args:
        evaluator: holds the run's values.
        ast: the expression (a stock's net flow, not its INTEG).
        cause: the variable the derivative is taken with respect to.
        where: the variable the expression belongs to, for messages.
    """
    return _DerivativeSign(evaluator, cause, where).visit(ast)
