"""Feedback-loop dominance over a run: Loops That Matter.

Method (Schoenberg, Davidsen & Eberlein 2020, *System Dynamics Review*
36(2); flow-to-stock links as corrected by Schoenberg, Hayward & Eberlein
2023, *SDR* 39(2)). Every score at time ``t`` describes the change over the
step ``[t - dt, t]`` (the convention of Simlin); at the initial time every
score is 0.

* **Link score** of ``x -> z`` (``z`` an auxiliary or a flow): the partial
  change of ``z`` when only ``x`` moves, over the total change of ``z``,
  signed by the direction of that partial change relative to ``x``'s::

      D_x z = f(x(t), others(t - dt)) - z(t - dt)         (ceteris paribus)
      LS    = |D_x z / D z| * sign(D_x z / D x),  0 if D z = 0 or D x = 0

* **Link score** of a flow ``f`` into its stock ``S`` (2023 form): the
  change of the flow over the change of the stock's net flow, with the
  structural sign (+1 inflow, -1 outflow)::

      LS = sign * |D f / D net(S)|,  0 if D net(S) = 0

  A stock whose net flow is not a plain sum of flows is scored the same
  way through the instantaneous formula applied to its net-flow expression.
* **Loop score**: the product of the loop's link scores.
* **Relative loop score**: the loop score over the sum of the absolute loop
  scores of every loop in the same cycle partition (in ``[-1, 1]``).
* **Polarity** over the run: ``R`` or ``B`` when at least
  :data:`POLARITY_THRESHOLD` of the loop's activity (its absolute relative
  score summed over time) has that sign, otherwise ``U``; the confidence is
  the majority sign's share.
* **Dominance**: at each step the smallest set of loops (largest absolute
  relative score first) that holds at least half of the partition's absolute
  relative score; consecutive steps with the same set form a phase.

The equations are evaluated over whole time series at once by a small
interpreter of PySD's abstract syntax tree (:class:`Evaluator`): each link
costs one vectorised evaluation of its target's equation.

Named loops come from a catalogue beside the model (``X.loops.toml``): a loop
found matches an entry if it contains the entry's variables in the entry's
cyclic order; the shortest such loop wins. Entries with a ``switch``
constant support knockout runs (:func:`knockouts`).
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import PyloopError
from .model import Model
from .runner import RunResult, run
from .structure import DEFAULT_MAX_LOOPS, Loop, Structure, causal_structure, find_loops

__all__ = [
    "CatalogueLoop",
    "Evaluator",
    "LoopAnalysis",
    "Phase",
    "POLARITY_THRESHOLD",
    "ScoredLoop",
    "analyze_loops",
    "dominance_phases",
    "check_supported",
    "knockouts",
    "link_polarity",
    "link_scores",
    "load_catalogue",
    "loop_polarity",
    "polarity_phases",
    "match_catalogue",
    "run_polarity",
    "score_run",
]

#: Share of a loop's activity that must have one sign for the loop to be
#: called reinforcing (R) or balancing (B) over a run.
POLARITY_THRESHOLD = 0.95

#: Vensim's "small number" used by XIDZ/ZIDZ (as in PySD).
_SMALL = 1e-6


# ---------------------------------------------------------------- evaluator
def _ae():
    from .model import syntax

    return syntax()


_UNSUPPORTED = {
    "SmoothStructure": "SMOOTH",
    "SmoothNStructure": "SMOOTH N",
    "DelayStructure": "DELAY",
    "DelayNStructure": "DELAY N",
    "DelayFixedStructure": "DELAY FIXED",
    "TrendStructure": "TREND",
    "ForecastStructure": "FORECAST",
    "SampleIfTrueStructure": "SAMPLE IF TRUE",
    "GameStructure": "GAME",
    "AllocateAvailableStructure": "ALLOCATE AVAILABLE",
    "AllocateByPriorityStructure": "ALLOCATE BY PRIORITY",
    "GetDataStructure": "GET DATA",
    "GetLookupsStructure": "GET LOOKUPS",
    "DataStructure": "data",
    "SubscriptsReferenceStructure": "subscripts",
}


def _unsupported(construct: str, variable: str) -> PyloopError:
    return PyloopError(
        f"loop analysis does not support {construct} (in '{variable}'): its hidden "
        "stocks cannot be scored; write the structure out with explicit INTEG stocks"
    )


def check_supported(model: Model) -> None:
    """Raise :class:`PyloopError` naming the first construct (SMOOTH, DELAY,
    TREND, ...) and variable the loop analysis cannot score."""
    ae = _ae()

    def walk(node: Any, name: str) -> None:
        kind = type(node).__name__
        if kind in _UNSUPPORTED:
            raise _unsupported(_UNSUPPORTED[kind], name)
        if isinstance(node, ae.ReferenceStructure):
            if node.subscripts is not None:
                raise _unsupported("subscripts", name)
            return
        if isinstance(node, (list, tuple)):
            for item in node:
                walk(item, name)
        elif hasattr(node, "__dataclass_fields__"):
            for f in node.__dataclass_fields__:
                walk(getattr(node, f), name)

    kinds = {v.name: v.kind for v in model.variables}
    for name, eq in model.equations.items():
        if kinds.get(name) in ("stock", "flow", "aux"):
            walk(eq.ast, name)


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

_ARITH = {
    "+": np.add,
    "-": np.subtract,
    "*": np.multiply,
    "/": np.divide,
    "^": np.power,
}


class Evaluator:
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
        if check:
            check_supported(model)
        self.model = model
        self.dt = float(time_step)
        self.time = np.asarray(frame.index, dtype=float)
        self._name = {v.py_name: v.name for v in model.variables}
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
        ae = _ae()
        for name, eq in eqs.items():
            if isinstance(eq.ast, ae.LookupsStructure):
                self._lookups[name] = eq.ast

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

    def previous(self) -> Callable[[str], Any]:
        """Values at ``t - dt`` for ``t`` from the second step on."""
        get = self._get

        def prev(name: str) -> Any:
            v = get(name)
            return v[:-1] if isinstance(v, np.ndarray) else v

        return prev

    def partial(self, moving: str) -> Callable[[str], Any]:
        """Values at ``t - dt`` except ``moving`` at ``t`` (ceteris paribus)."""
        get = self._get

        def part(name: str) -> Any:
            v = get(name)
            if not isinstance(v, np.ndarray):
                return v
            return v[1:] if name == moving else v[:-1]

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
        ae = _ae()
        ev = self.evaluate
        if isinstance(ast, (int, float, np.number, bool)):
            return float(ast)
        if isinstance(ast, ae.ReferenceStructure):
            ref = ast.reference
            if ref == "time":
                return get("Time")
            if ast.subscripts is not None:
                raise _unsupported("subscripts", where)
            name = self._name.get(ref)
            if name is None:
                raise PyloopError(f"unknown name '{ref}' in the equation of '{where}'")
            return get(name)
        if isinstance(ast, ae.ArithmeticStructure):
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
                    value = _ARITH[op](value, ev(arg, get, time, where))
            return value
        if isinstance(ast, ae.LogicStructure):
            ops, args = ast.operators, ast.arguments
            if len(args) == 1:
                if ops[0] == ":NOT:":
                    return np.logical_not(ev(args[0], get, time, where))
                raise PyloopError(f"unknown operator {ops[0]!r} in '{where}'")
            value = ev(args[0], get, time, where)
            for op, arg in zip(ops, args[1:]):
                value = _COMPARE[op](value, ev(arg, get, time, where))
            return value
        if isinstance(ast, ae.CallStructure):
            return self._call(ast, get, time, where)
        if isinstance(ast, ae.InlineLookupsStructure):
            return self._lookup(ast.lookups, ev(ast.argument, get, time, where))
        if isinstance(ast, ae.InitialStructure):
            value = ev(ast.initial, self._get, self.time, where)
            return float(np.asarray(value).ravel()[0])
        kind = type(ast).__name__
        raise _unsupported(_UNSUPPORTED.get(kind, kind), where)

    def _lookup(self, table: Any, x: Any) -> Any:
        xs = np.asarray(table.x, dtype=float)
        ys = np.asarray(table.y, dtype=float)
        return np.interp(x, xs, ys)

    def _call(self, ast: Any, get: Callable[[str], Any], time: np.ndarray, where: str) -> Any:
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
        ae = _ae()
        if isinstance(eq.ast, ae.IntegStructure):
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
        return ast.flow if isinstance(ast, _ae().IntegStructure) else ast

    def net_flow(self, stock: str) -> np.ndarray:
        """A stock's net flow over the run."""
        out = self.evaluate(self.expression(stock), self._get, self.time, stock)
        return np.broadcast_to(np.asarray(out, dtype=float), self.time.shape)


# -------------------------------------------------------------- link scores
def _diff(values: Any, n: int) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.ndim:
        return np.diff(values)
    return np.zeros(n - 1)


def link_scores(
    structure: Structure, evaluator: Evaluator, links: Iterable[tuple[str, str]] | None = None
) -> dict[tuple[str, str], np.ndarray]:
    """Link score of every link (or of ``links``) over the run.

    Returns:
        ``{(cause, effect): scores}``, each array aligned with the run's
        time (0 at the first step).
    """
    time = evaluator.time
    n = len(time)
    tnow = time[1:]
    if links is None:
        links = [(k.cause, k.effect) for k in structure.links if k.kind != "constant"]
    links = list(links)
    net_cache: dict[str, np.ndarray] = {}
    out: dict[tuple[str, str], np.ndarray] = {}
    for cause, effect in links:
        link = structure.link(cause, effect)
        ds = np.zeros(n)
        dx = _diff(evaluator.values.get(cause), n)
        if link.kind == "flow":
            if effect not in net_cache:
                net_cache[effect] = np.diff(evaluator.net_flow(effect))
            dnet = net_cache[effect]
            if link.sign:
                with np.errstate(divide="ignore", invalid="ignore"):
                    ratio = np.where(dnet == 0, 0.0, dx / np.where(dnet == 0, 1.0, dnet))
                ds[1:] = link.sign * np.abs(ratio)
                out[(cause, effect)] = ds
                continue
            dz = dnet
            expr = evaluator.expression(effect)
            partial = evaluator.evaluate(expr, evaluator.partial(cause), tnow, effect)
            dxz = np.asarray(partial, dtype=float) - evaluator.net_flow(effect)[:-1]
        else:
            z = evaluator.values[effect]
            dz = np.diff(z)
            expr = evaluator.expression(effect)
            partial = evaluator.evaluate(expr, evaluator.partial(cause), tnow, effect)
            dxz = np.asarray(partial, dtype=float) - z[:-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            magnitude = np.abs(dxz / np.where(dz == 0, 1.0, dz))
            sign = np.sign(dxz / np.where(dx == 0, 1.0, dx))
        ds[1:] = np.where((dz == 0) | (dx == 0), 0.0, magnitude * sign)
        out[(cause, effect)] = ds
    return out


def _combine(a: Any, b: Any) -> Any:
    """Sign of a sum of two terms with signs ``a`` and ``b`` (0: no
    dependence, NaN: unknown)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    out = np.where(a == 0, b, np.where((b == 0) | (a == b), a, np.nan))
    return out


def _sgn(value: Any) -> Any:
    return np.sign(np.asarray(value, dtype=float))


def _dsign(ev: "Evaluator", ast: Any, cause: str, where: str) -> Any:
    """Sign of the derivative of ``ast`` with respect to ``cause`` at every
    step, from the structure (MIN and MAX count as increasing in every
    argument) and the signs of the co-factors in the run."""
    ae = _ae()
    get, time = ev._get, ev.time

    def value(node: Any) -> Any:
        return ev.evaluate(node, get, time, where)

    def d(node: Any) -> Any:
        return _dsign(ev, node, cause, where)

    if isinstance(ast, (int, float, np.number, bool)):
        return 0.0
    if isinstance(ast, ae.ReferenceStructure):
        name = "Time" if ast.reference == "time" else ev._name.get(ast.reference)
        return 1.0 if name == cause else 0.0
    if isinstance(ast, ae.ArithmeticStructure):
        ops, args = ast.operators, ast.arguments
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
                left_v = _ARITH[op](left_v, right_v)
        return left_s
    if isinstance(ast, ae.CallStructure):
        func = ast.function.reference if hasattr(ast.function, "reference") else str(ast.function)
        args = ast.arguments
        signs = [d(a) for a in args]
        if func in ("min", "max"):
            return _combine(signs[0], signs[1])
        if func in ("exp", "sqrt", "ln", "integer", "arctan", "sinh", "tanh"):
            return signs[0]
        if func == "abs":
            return np.asarray(signs[0]) * _sgn(value(args[0]))
        if func in ("xidz", "zidz"):
            a, b = value(args[0]), value(args[1])
            return _combine(np.asarray(signs[0]) * _sgn(b), -np.asarray(signs[1]) * _sgn(a))
        if func == "if_then_else":
            if np.any(np.asarray(signs[0]) != 0):
                return np.nan
            return _combine(signs[1], signs[2])
        name = ev._name.get(func)
        if name is not None and name in ev._lookups:
            slope = np.diff(np.asarray(ev._lookups[name].y, dtype=float))
            mono = 1.0 if (slope >= 0).all() else -1.0 if (slope <= 0).all() else np.nan
            return np.asarray(signs[0]) * mono
        return np.where(np.any([np.asarray(x) != 0 for x in signs]), np.nan, 0.0)
    if isinstance(ast, ae.InlineLookupsStructure):
        slope = np.diff(np.asarray(ast.lookups.y, dtype=float))
        mono = 1.0 if (slope >= 0).all() else -1.0 if (slope <= 0).all() else np.nan
        return np.asarray(d(ast.argument)) * mono
    return np.nan


def link_polarity(structure: Structure, evaluator: "Evaluator", cause: str, effect: str) -> int:
    """Structural polarity of a link: +1, -1, or 0 when it cannot be told.

    A flow into a stock has its structural sign. Otherwise the sign of the
    derivative of the effect's equation with respect to the cause, read from
    the equation (MIN and MAX are increasing in every argument, whichever
    binds) with the co-factors' signs taken from the run, or, where the
    equation alone cannot tell (a ratio of terms that both rise with the
    cause), from a small step in the cause; it must be the same wherever it
    is defined.
    """
    link = structure.link(cause, effect)
    if link.kind == "flow" and link.sign:
        return link.sign
    expr = evaluator.expression(effect)
    signs = np.broadcast_to(
        np.asarray(_dsign(evaluator, expr, cause, effect), dtype=float), evaluator.time.shape
    ).copy()
    unknown = ~np.isfinite(signs)
    if unknown.any():  # not told by the structure: a small step in the cause
        x = np.asarray(evaluator.values[cause], dtype=float)
        h = 1e-6 * np.maximum(np.abs(x), 1e-6)
        get = evaluator._get

        def bumped(name: str) -> Any:
            return x + h if name == cause else get(name)

        with np.errstate(all="ignore"):
            up = evaluator.evaluate(expr, bumped, evaluator.time, effect)
            base = evaluator.evaluate(expr, get, evaluator.time, effect)
        numeric = np.broadcast_to(np.sign(np.asarray(up, dtype=float) - base), signs.shape)
        signs[unknown] = np.where(numeric[unknown] == 0, 0.0, numeric[unknown])
    known = signs[np.isfinite(signs) & (signs != 0)]
    if known.size and (known > 0).all() and np.isfinite(signs).all():
        return 1
    if known.size and (known < 0).all() and np.isfinite(signs).all():
        return -1
    return 0


def loop_polarity(
    structure: Structure, evaluator: "Evaluator", variables: Sequence[str]
) -> str:
    """Structural polarity of a loop: ``"R"``, ``"B"``, or ``"U"`` when a
    link's polarity cannot be told."""
    sign = 1
    for i, cause in enumerate(variables):
        sign *= link_polarity(structure, evaluator, cause, variables[(i + 1) % len(variables)])
    return "U" if sign == 0 else "R" if sign > 0 else "B"


# ---------------------------------------------------------------- catalogue
@dataclass(frozen=True)
class CatalogueLoop:
    """A named loop declared in a model's loop catalogue.

    Attributes:
        id: e.g. ``"R1"``.
        name: e.g. ``"Circular financing"``.
        polarity: expected polarity, ``"R"`` or ``"B"``.
        variables: variables of the loop in causal order (a loop matches if
            it contains them all in this cyclic order).
        switch: the constant that switches the loop off at 0, or None.
        description: free text, or ``""``.
    """

    id: str
    name: str
    polarity: str
    variables: tuple[str, ...]
    switch: str | None = None
    description: str = ""


def load_catalogue(
    model: Model | str | os.PathLike[str], path: str | os.PathLike[str] | None = None
) -> tuple[CatalogueLoop, ...]:
    """Read a model's loop catalogue (``X.loops.toml`` beside ``X.mdl``).

    Returns an empty tuple when the model has no catalogue and none is named.

    Raises:
        PyloopError: the file is malformed, or (given a loaded model) names a
            variable or switch the model does not have.
    """
    model_path = Path(model.path if isinstance(model, Model) else model)
    explicit = path is not None
    file = Path(path) if explicit else model_path.with_name(model_path.stem + ".loops.toml")
    if not file.is_file():
        if explicit:
            raise PyloopError(f"loop catalogue not found: '{file}'")
        return ()
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PyloopError(f"cannot read loop catalogue '{file.name}': {exc}") from exc
    entries = data.get("loop")
    if not isinstance(entries, list) or not entries:
        raise PyloopError(f"loop catalogue '{file.name}' has no [[loop]] entries")
    out = []
    seen = set()
    for i, entry in enumerate(entries, start=1):
        where = f"loop #{i} of '{file.name}'"
        if not isinstance(entry, dict):
            raise PyloopError(f"{where} is not a table")
        missing = [k for k in ("id", "name", "polarity", "variables") if k not in entry]
        if missing:
            raise PyloopError(f"{where} lacks '{missing[0]}'")
        lid = str(entry["id"])
        if lid in seen:
            raise PyloopError(f"loop id '{lid}' appears twice in '{file.name}'")
        seen.add(lid)
        polarity = str(entry["polarity"]).upper()
        if polarity not in ("R", "B"):
            raise PyloopError(f"loop '{lid}' in '{file.name}': polarity must be 'R' or 'B'")
        variables = entry["variables"]
        if not isinstance(variables, list) or len(variables) < 1:
            raise PyloopError(f"loop '{lid}' in '{file.name}': variables must be a list of names")
        switch = entry.get("switch")
        if isinstance(model, Model):
            variables = [_resolve(model, v, f"loop '{lid}' in '{file.name}'") for v in variables]
            if switch is not None:
                switch = _resolve(model, switch, f"loop '{lid}' in '{file.name}'")
                if model.variable(switch).kind != "constant":
                    raise PyloopError(
                        f"switch '{switch}' of loop '{lid}' in '{file.name}' is not a constant"
                    )
        out.append(
            CatalogueLoop(
                id=lid,
                name=str(entry["name"]),
                polarity=polarity,
                variables=tuple(str(v) for v in variables),
                switch=None if switch is None else str(switch),
                description=str(entry.get("description", "")),
            )
        )
    return tuple(out)


def _resolve(model: Model, name: str, owner: str) -> str:
    resolved = model.resolve_name(str(name))
    if resolved is None:
        from .errors import suggest

        raise PyloopError(
            f"unknown variable '{name}' in {owner}"
            + suggest(str(name), (v.name for v in model.variables))
        )
    return resolved


def _in_cyclic_order(loop: Sequence[str], wanted: Sequence[str]) -> bool:
    """True if ``loop`` (a cycle) contains ``wanted`` in that cyclic order."""
    pos = {v: i for i, v in enumerate(loop)}
    if any(v not in pos for v in wanted):
        return False
    idx = [pos[v] for v in wanted]
    n = len(loop)
    turns = sum(((idx[(i + 1) % len(idx)] - idx[i]) % n) for i in range(len(idx)))
    return len(idx) == 1 or turns == n


def match_catalogue(
    loops: Sequence[Loop], catalogue: Sequence[CatalogueLoop]
) -> dict[str, Loop | None]:
    """Catalogue id -> the shortest loop containing the entry's variables in
    cyclic order (None when no loop does)."""
    out: dict[str, Loop | None] = {}
    for entry in catalogue:
        best = None
        for loop in loops:
            if _in_cyclic_order(loop.variables, entry.variables):
                if best is None or loop.length < best.length:
                    best = loop
        out[entry.id] = best
    return out


def _catalogue_cycle(structure: Structure, entry: CatalogueLoop) -> tuple[str, ...] | None:
    """The entry's variables as a loop, if each one links to the next."""
    v = entry.variables
    graph = structure._graph
    for i in range(len(v)):
        if not graph.has_edge(v[i], v[(i + 1) % len(v)]):
            return None
    return tuple(v)


# ------------------------------------------------------------ loop scoring
@dataclass(frozen=True)
class ScoredLoop(Loop):
    """A loop (:class:`pyloop.structure.Loop`) with its scores over a run.

    Attributes:
        id: catalogue id (``"R1"``) for a named loop, else ``"L<n>"``.
        name: catalogue name, or ``""``.
        polarity: ``"R"``, ``"B"`` or ``"U"`` over the run.
        polarity_confidence: share of the loop's activity with the
            majority sign (0 for a loop that is never active).
        structural_polarity: ``"R"`` or ``"B"`` from the signs of its
            links (see :func:`link_polarity`), ``"U"`` if one is unknown.
        expected_polarity: the catalogue's polarity, or None.
    """

    name: str
    polarity: str
    polarity_confidence: float
    structural_polarity: str = "U"
    expected_polarity: str | None = None


@dataclass(frozen=True)
class Phase:
    """An interval in which one set of loops dominates a cycle partition.

    Attributes:
        start: first time of the interval.
        end: last time of the interval.
        loops: ids of the dominant loops, strongest first.
        partition: the cycle partition's index.
        polarity: ``"R"`` if every dominant loop's mean relative score over
            the phase is positive, ``"B"`` if every one is negative, else
            ``"mixed"``.
    """

    start: float
    end: float
    loops: tuple[str, ...]
    partition: int
    polarity: str


@dataclass(frozen=True)
class LoopAnalysis:
    """Loop dominance of one run.

    Attributes:
        run: the run's name.
        time: the run's times.
        loops: the loops reported, named loops first (catalogue order),
            then the others by decreasing mean absolute relative score.
        scores: loop scores, index ``time``, one column per loop id.
        relative: relative loop scores, same shape.
        phases: dominance phases, by partition then time
            (:func:`dominance_phases`).
        polarity_phases: intervals of reinforcing or balancing dominance
            (:func:`polarity_phases`).
        links: link scores ``{(cause, effect): array}`` of every link on a
            reported loop.
        mode: ``"exhaustive"`` (every loop of the model scored) or
            ``"discovery"`` (too many loops: a covering subset scored, and
            relative scores are shares of that subset).
        total_loops: number of loops the relative scores are shares of.
        catalogue: the catalogue entries, by id.
        unmatched: catalogue ids no loop matched.
    """

    run: str
    time: np.ndarray = field(repr=False)
    loops: tuple[ScoredLoop, ...]
    scores: pd.DataFrame = field(repr=False)
    relative: pd.DataFrame = field(repr=False)
    phases: tuple[Phase, ...]
    polarity_phases: tuple[Phase, ...]
    links: Mapping[tuple[str, str], np.ndarray] = field(repr=False)
    mode: str
    total_loops: int
    catalogue: Mapping[str, CatalogueLoop] = field(default_factory=dict, repr=False)
    unmatched: tuple[str, ...] = ()

    def loop(self, loop_id: str) -> ScoredLoop:
        """The reported loop with this id.

        Raises:
            PyloopError: unknown id.
        """
        for loop in self.loops:
            if loop.id == loop_id:
                return loop
        from .errors import suggest

        raise PyloopError(
            f"no loop '{loop_id}' in the analysis of run '{self.run}'"
            + suggest(loop_id, [k.id for k in self.loops])
        )

    def table(self) -> pd.DataFrame:
        """One row per loop: id, name, polarity, confidence, length, variables."""
        rows = [
            {
                "id": k.id,
                "name": k.name,
                "polarity": k.polarity,
                "confidence": k.polarity_confidence,
                "structural": k.structural_polarity,
                "length": k.length,
                "mean |relative|": float(np.abs(self.relative[k.id].to_numpy()).mean()),
                "variables": " -> ".join(k.variables),
            }
            for k in self.loops
        ]
        return pd.DataFrame(rows).set_index("id")

    def reinforcing_share(self, start: float, end: float) -> dict[int, float]:
        """Share of the steps in ``[start, end]`` in which reinforcing loops
        dominate, per cycle partition (:func:`polarity_phases`).

        Steps where no loop of a partition is active count for neither
        polarity; a partition without an active step in the window is left
        out.

        Raises:
            PyloopError: ``start`` not before ``end``, or a window that
                holds no time of the run.
        """
        if not start < end:
            raise PyloopError(f"the window must start before it ends, not {start:g} to {end:g}")
        inside = (self.time >= start - 1e-9) & (self.time <= end + 1e-9)
        if not inside.any():
            raise PyloopError(
                f"the window {start:g} to {end:g} holds no time of run '{self.run}' "
                f"({self.time[0]:g} to {self.time[-1]:g})"
            )
        reinforcing: dict[int, int] = {}
        labelled: dict[int, int] = {}
        for p in self.polarity_phases:
            steps = int((inside & (self.time >= p.start - 1e-9) & (self.time <= p.end + 1e-9)).sum())
            if steps:
                labelled[p.partition] = labelled.get(p.partition, 0) + steps
                if p.polarity == "R":
                    reinforcing[p.partition] = reinforcing.get(p.partition, 0) + steps
        return {part: reinforcing.get(part, 0) / n for part, n in sorted(labelled.items())}

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: ``time``, ``loops`` (with ``relative_score``
        aligned with ``time``) and ``phases``."""

        def num(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        return {
            "run": self.run,
            "mode": self.mode,
            "total_loops": self.total_loops,
            "time": [float(t) for t in self.time],
            "loops": [
                {
                    "id": k.id,
                    "name": k.name,
                    "polarity": k.polarity,
                    "polarity_confidence": k.polarity_confidence,
                    "structural_polarity": k.structural_polarity,
                    "expected_polarity": k.expected_polarity,
                    "length": k.length,
                    "variables": list(k.variables),
                    "stocks": list(k.stocks),
                    "partition": k.partition,
                    "relative_score": [num(x) for x in self.relative[k.id].to_numpy()],
                }
                for k in self.loops
            ],
            "phases": [
                {
                    "start": p.start,
                    "end": p.end,
                    "loops": list(p.loops),
                    "partition": p.partition,
                    "polarity": p.polarity,
                }
                for p in self.phases
            ],
            "polarity_phases": [
                {
                    "start": p.start,
                    "end": p.end,
                    "polarity": p.polarity,
                    "loops": list(p.loops[:10]),
                    "partition": p.partition,
                }
                for p in self.polarity_phases
            ],
            "unmatched": list(self.unmatched),
        }


def run_polarity(relative: np.ndarray, threshold: float = POLARITY_THRESHOLD) -> tuple[str, float]:
    """Polarity over a run from a relative loop score series.

    Returns:
        ``(polarity, confidence)``: the majority sign's share of
        ``sum |relative|``; polarity ``"R"``/``"B"`` when that share reaches
        ``threshold``, else ``"U"``; ``("U", 0.0)`` for a loop never active.
    """
    r = np.nan_to_num(np.asarray(relative, dtype=float))
    pos = float(np.abs(r[r > 0]).sum())
    neg = float(np.abs(r[r < 0]).sum())
    total = pos + neg
    if total == 0:
        return "U", 0.0
    share = max(pos, neg) / total
    if share < threshold:
        return "U", share
    return ("R" if pos >= neg else "B"), share


def dominance_phases(
    relative: pd.DataFrame, partitions: Mapping[str, int] | None = None, share: float = 0.5
) -> tuple[Phase, ...]:
    """Dominance phases from relative loop scores.

    Args:
        relative: index time, one column per loop.
        partitions: loop id -> partition (default: all in partition 0).
        share: the share of the absolute relative score the dominant set
            must hold (default one half).

    Returns:
        At each step the smallest set of loops (strongest first) whose
        absolute relative scores add up to at least ``share`` of the
        partition's total; consecutive steps with the same set are merged.
        Steps where no loop is active belong to no phase.
    """
    partitions = partitions or {c: 0 for c in relative.columns}
    time = np.asarray(relative.index, dtype=float)
    out: list[Phase] = []
    for part in sorted(set(partitions.values())):
        cols = [c for c in relative.columns if partitions.get(c) == part]
        if not cols:
            continue
        values = np.nan_to_num(relative[cols].to_numpy(dtype=float))
        mag = np.abs(values)
        order = np.argsort(-mag, axis=1, kind="stable")
        sorted_mag = np.take_along_axis(mag, order, axis=1)
        total = sorted_mag.sum(axis=1)
        cum = np.cumsum(sorted_mag, axis=1)
        sets: list[tuple[str, ...]] = []
        for i in range(len(time)):
            if total[i] <= 0:
                sets.append(())
                continue
            k = int(np.searchsorted(cum[i], share * total[i] * (1 - 1e-12))) + 1
            sets.append(tuple(cols[j] for j in order[i, :k]))
        start = 0
        for i in range(1, len(time) + 1):
            if i == len(time) or set(sets[i]) != set(sets[start]):
                if sets[start]:
                    block = values[start:i][:, [cols.index(c) for c in sets[start]]]
                    means = block.mean(axis=0)
                    pol = "R" if (means > 0).all() else "B" if (means < 0).all() else "mixed"
                    strongest = tuple(
                        c for _, c in sorted(zip(-np.abs(means), sets[start]))
                    )
                    out.append(Phase(float(time[start]), float(time[i - 1]), strongest, part, pol))
                start = i
    return tuple(out)


def polarity_phases(
    relative: pd.DataFrame, partitions: Mapping[str, int] | None = None
) -> tuple[Phase, ...]:
    """Intervals in which reinforcing or balancing loops dominate.

    At each step the reinforcing share is the sum of the positive relative
    scores over the sum of all absolute relative scores of the partition;
    the step is ``"R"`` when that share is at least one half, else ``"B"``.
    Consecutive steps with the same label form a phase, whose ``loops`` are
    the loops of that polarity ordered by their mean absolute relative score
    over the phase. Steps where no loop is active belong to no phase.
    """
    partitions = partitions or {c: 0 for c in relative.columns}
    time = np.asarray(relative.index, dtype=float)
    out: list[Phase] = []
    for part in sorted(set(partitions.values())):
        cols = [c for c in relative.columns if partitions.get(c) == part]
        values = np.nan_to_num(relative[cols].to_numpy(dtype=float))
        pos = np.where(values > 0, values, 0).sum(axis=1)
        total = np.abs(values).sum(axis=1)
        label = np.where(total <= 0, "", np.where(pos >= 0.5 * total, "R", "B"))
        start = 0
        for i in range(1, len(time) + 1):
            if i == len(time) or label[i] != label[start]:
                if label[start]:
                    block = values[start:i]
                    signed = block if label[start] == "R" else -block
                    mean = np.where(signed > 0, signed, 0).mean(axis=0)
                    order = [cols[j] for j in np.argsort(-mean, kind="stable") if mean[j] > 0]
                    out.append(
                        Phase(float(time[start]), float(time[i - 1]), tuple(order), part, str(label[start]))
                    )
                start = i
    return tuple(out)


def _loop_products(
    loops: Sequence[tuple[str, ...]], scores: Mapping[tuple[str, str], np.ndarray], n: int
) -> np.ndarray:
    out = np.empty((len(loops), n))
    for i, v in enumerate(loops):
        prod = np.ones(n)
        for j in range(len(v)):
            prod = prod * scores[(v[j], v[(j + 1) % len(v)])]
        out[i] = prod
    return out


_CACHE: "weakref.WeakKeyDictionary[Model, dict]" = None  # type: ignore[assignment]


def _enumerate(structure: Structure, max_loops: int) -> tuple[tuple[Loop, ...], str]:
    try:
        return find_loops(structure, max_loops=max_loops, on_limit="error"), "exhaustive"
    except PyloopError as exc:
        if "feedback loops" not in str(exc):
            raise
        return find_loops(structure, max_loops=max_loops, on_limit="shortest"), "discovery"


def _structure_and_loops(model: Model, max_loops: int) -> tuple[Structure, tuple[Loop, ...], str]:
    """The model's structure and loops, computed once per model object."""
    global _CACHE
    import weakref

    if _CACHE is None:
        _CACHE = weakref.WeakKeyDictionary()
    entry = _CACHE.setdefault(model, {})
    if "structure" not in entry:
        entry["structure"] = causal_structure(model)
        check_supported(model)
    if max_loops not in entry:
        entry[max_loops] = _enumerate(entry["structure"], max_loops)
    return (entry["structure"], *entry[max_loops])


def score_run(
    model: Model,
    result: RunResult,
    *,
    catalogue: Sequence[CatalogueLoop] | None = None,
    max_loops: int = DEFAULT_MAX_LOOPS,
    report: int = 20,
    structure: Structure | None = None,
) -> LoopAnalysis:
    """Loop dominance of a finished run.

    Args:
        model: the model the run belongs to.
        result: a run of ``model`` with every variable returned and one row
            per time step.
        catalogue: named loops; default the model's catalogue file.
        max_loops: the most loops enumerated; a model with more is scored in
            discovery mode (the named loops plus the shortest loop through
            every feedback link, relative scores as shares of those).
        report: how many unnamed loops to report besides the named ones
            (those with the largest mean absolute relative score, plus every
            loop in a dominance phase).
        structure: the model's causal structure, if already built.

    Raises:
        PyloopError: unsupported constructs (SMOOTH, DELAY, ...), a run
            saved at a coarser interval than its time step, or a run
            without every variable.
    """
    if structure is None:
        structure, cycles, mode = _structure_and_loops(model, max_loops)
    else:
        check_supported(model)
        cycles, mode = _enumerate(structure, max_loops)
    if catalogue is None:
        catalogue = load_catalogue(model)
    frame = result.frame
    time = np.asarray(frame.index, dtype=float)
    if len(time) < 3:
        raise PyloopError(f"run '{result.name}' has fewer than 3 time steps to score")
    dt = float(result.constants.get("TIME STEP", model.time.time_step))
    steps = np.diff(time)
    if not np.allclose(steps, dt, rtol=1e-9, atol=1e-12):
        raise PyloopError(
            f"run '{result.name}' is saved every {steps[0]:g}, not every time step "
            f"({dt:g}); loop scores need every step (set SAVEPER = TIME STEP)"
        )
    evaluator = Evaluator(model, frame, dt, check=False)
    n = len(time)

    # named loops: pinned as written when they close, else matched
    pinned: dict[str, tuple[str, ...]] = {}
    unmatched: list[str] = []
    for entry in catalogue:
        exact = _catalogue_cycle(structure, entry)
        if exact is not None:
            pinned[entry.id] = exact
    matched = match_catalogue(cycles, [e for e in catalogue if e.id not in pinned])
    for lid, loop in matched.items():
        if loop is None:
            unmatched.append(lid)
        else:
            pinned[lid] = loop.variables

    def key(variables: Sequence[str]) -> tuple[str, ...]:
        i = variables.index(min(variables))
        return tuple(variables[i:]) + tuple(variables[:i])

    by_key = {key(c.variables): c for c in cycles}
    extra: list[Loop] = []
    if mode == "discovery":
        stocks = set(structure.stocks)
        for lid, vars_ in pinned.items():
            if key(vars_) not in by_key:
                loop = Loop(
                    id=lid,
                    variables=vars_,
                    stocks=tuple(v for v in vars_ if v in stocks),
                    partition=structure.partition_of(vars_[0]) or 0,
                )
                extra.append(loop)
                by_key[key(vars_)] = loop
    every = list(cycles) + extra
    needed = {lk for c in every for lk in c.links}
    scores = link_scores(structure, evaluator, sorted(needed))

    names = {key(v): lid for lid, v in pinned.items()}
    n_parts = max(len(structure.partitions), 1)
    if len(every) > 2000:
        index = {lk: i for i, lk in enumerate(sorted(needed))}
        stack = np.array([scores[lk] for lk in sorted(needed)])
        zero = (stack == 0).astype(float)
        with np.errstate(divide="ignore"):
            log_abs = np.where(stack == 0, 0.0, np.log(np.abs(stack)))
        totals, strongest = _scan_all_loops(every, index, log_abs, zero, n_parts, report * 5)
        candidates = list(dict.fromkeys([by_key[k] for k in names] + strongest))
    else:
        candidates = every
        totals = None
    raw = _loop_products([c.variables for c in candidates], scores, n)
    if totals is None:
        totals = np.zeros((n_parts, n))
        for i, c in enumerate(candidates):
            totals[c.partition] += np.abs(raw[i])
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.array(
            [
                np.where(totals[c.partition] > 0, raw[i] / np.where(totals[c.partition] > 0, totals[c.partition], 1.0), 0.0)
                for i, c in enumerate(candidates)
            ]
        ).reshape(len(candidates), n)

    ids = [names.get(key(c.variables), c.id) for c in candidates]
    rel_frame = pd.DataFrame(rel.T, index=pd.Index(time, name="time"), columns=ids)
    part_map = {lid: c.partition for lid, c in zip(ids, candidates)}
    phases = dominance_phases(rel_frame, part_map)

    # choose the loops to report
    order = [i for i in range(len(candidates)) if ids[i] in pinned]
    order.sort(key=lambda i: [e.id for e in catalogue].index(ids[i]))
    in_phase = {lid for p in phases for lid in p.loops}
    mean_abs = np.abs(rel).mean(axis=1)
    rest = [i for i in np.argsort(-mean_abs, kind="stable") if ids[i] not in pinned]
    chosen = [i for i in rest if ids[i] in in_phase]
    chosen += [i for i in rest if ids[i] not in in_phase][: max(report - len(chosen), 0)]
    chosen = order + sorted(chosen, key=lambda i: -mean_abs[i])

    cat = {e.id: e for e in catalogue}
    reported = []
    for i in chosen:
        c = candidates[i]
        pol, conf = run_polarity(rel[i])
        entry = cat.get(ids[i])
        reported.append(
            ScoredLoop(
                id=ids[i],
                name=entry.name if entry else "",
                variables=c.variables,
                stocks=c.stocks,
                partition=c.partition,
                polarity=pol,
                polarity_confidence=conf,
                structural_polarity=loop_polarity(structure, evaluator, c.variables),
                expected_polarity=entry.polarity if entry else None,
            )
        )
    keep = [ids[i] for i in chosen]
    raw_frame = pd.DataFrame(raw.T, index=pd.Index(time, name="time"), columns=ids)[keep]
    link_keep = {lk for r in reported for lk in r.links}
    return LoopAnalysis(
        run=result.name,
        time=time,
        loops=tuple(reported),
        scores=raw_frame,
        relative=rel_frame[keep],
        phases=phases,
        polarity_phases=polarity_phases(rel_frame, part_map),
        links=MappingProxyType({lk: scores[lk] for lk in link_keep}),
        mode=mode,
        total_loops=len(every),
        catalogue=MappingProxyType(cat),
        unmatched=tuple(unmatched),
    )


def _scan_all_loops(
    loops: Sequence[Loop],
    index: Mapping[tuple[str, str], int],
    log_abs: np.ndarray,
    zero: np.ndarray,
    n_partitions: int,
    count: int,
    chunk: int = 4096,
) -> tuple[np.ndarray, list[Loop]]:
    """One pass over every loop, chunk by chunk, with each loop's |score|
    computed as exp(sum of log |link score|).

    Returns:
        The sum of |loop score| per partition and time step, and the
        ``count`` loops with the largest peak |loop score| plus each step's
        strongest loop.
    """
    from scipy import sparse

    n = log_abs.shape[1]
    totals = np.zeros((n_partitions, n))
    parts = np.array([c.partition for c in loops])
    best: list[tuple[float, int]] = []
    step_best = np.full(n, -np.inf)
    step_arg = np.full(n, -1)
    for start in range(0, len(loops), chunk):
        block = loops[start : start + chunk]
        rows, cols = [], []
        for r, c in enumerate(block):
            for lk in c.links:
                rows.append(r)
                cols.append(index[lk])
        inc = sparse.csr_matrix(
            (np.ones(len(rows)), (rows, cols)), shape=(len(block), log_abs.shape[0])
        )
        logs = np.where((inc @ zero) > 0, -np.inf, inc @ log_abs)
        mags = np.exp(logs)
        bp = parts[start : start + chunk]
        for p in np.unique(bp):
            totals[p] += mags[bp == p].sum(axis=0)
        peak = logs.max(axis=1)
        for r in np.argsort(-peak)[:count]:
            best.append((float(peak[r]), start + int(r)))
        arg = logs.argmax(axis=0)
        val = logs[arg, np.arange(n)]
        better = val > step_best
        step_best[better] = val[better]
        step_arg[better] = start + arg[better]
    best.sort(reverse=True)
    picked = [i for _, i in best[:count]] + [int(i) for i in step_arg if i >= 0]
    return totals, [loops[i] for i in dict.fromkeys(picked)]


def analyze_loops(
    model: Model | str | os.PathLike[str],
    scenario: str | None = None,
    policy: str | None = None,
    params: Mapping[str, float] | None = None,
    *,
    catalogue: Sequence[CatalogueLoop] | None = None,
    max_loops: int = DEFAULT_MAX_LOOPS,
    report: int = 20,
) -> LoopAnalysis:
    """Run a model (scenario, policy, constants as :func:`pyloop.run`) and
    analyse its loop dominance (:func:`score_run`)."""
    from .model import load_model

    model = model if isinstance(model, Model) else load_model(model)
    _structure_and_loops(model, max_loops)  # unsupported constructs fail before the run
    result = run(model, scenario, policy, params)
    return score_run(model, result, catalogue=catalogue, max_loops=max_loops, report=report)


def knockouts(
    model: Model | str | os.PathLike[str],
    scenario: str | None = None,
    policy: str | None = None,
    outputs: Sequence[str] = (),
    *,
    loops: Sequence[str] | None = None,
    catalogue: Sequence[CatalogueLoop] | None = None,
    params: Mapping[str, float] | None = None,
) -> tuple[pd.DataFrame, dict[str, RunResult]]:
    """Switch each named loop off in turn and measure what changes.

    Args:
        model: a loaded model or a model file.
        scenario, policy, params: the run every knockout starts from.
        outputs: variables to compare (at least one).
        loops: catalogue ids to knock out; default every loop with a switch.
        catalogue: default the model's catalogue.

    Returns:
        ``(table, runs)``: the table has one row per ``(loop, output)`` with
        the base run's and the knockout run's peak (maximum) and final value
        and their changes (knockout minus base, and relative to the base);
        ``runs`` maps ``"base"`` and each loop id to its run.

    Raises:
        PyloopError: no outputs, an unknown loop id, or a loop without a
            switch; the usual run errors.
    """
    from .model import load_model

    model = model if isinstance(model, Model) else load_model(model)
    outputs = [model.variable(o).name for o in outputs]
    if not outputs:
        raise PyloopError("name at least one output variable to compare knockouts on")
    cat = {e.id: e for e in (load_catalogue(model) if catalogue is None else catalogue)}
    if loops is None:
        loops = [lid for lid, e in cat.items() if e.switch]
        if not loops:
            raise PyloopError(f"model '{model.name}' has no loop catalogue with switches")
    for lid in loops:
        if lid not in cat:
            from .errors import suggest

            raise PyloopError(f"unknown loop '{lid}'" + suggest(lid, cat))
        if not cat[lid].switch:
            raise PyloopError(f"loop '{lid}' has no switch constant to knock it out")
    base = run(model, scenario, policy, params, return_columns=outputs)
    runs = {"base": base}
    rows = []
    for lid in loops:
        knocked = dict(params or {})
        knocked[cat[lid].switch] = 0
        name = f"{base.name}-{lid}"
        runs[lid] = run(model, scenario, policy, knocked, return_columns=outputs, name=name)
        for out in outputs:
            b = base.frame[out].to_numpy(dtype=float)
            k = runs[lid].frame[out].to_numpy(dtype=float)
            row = {"loop": lid, "output": out}
            for label, fb, fk in (("peak", b.max(), k.max()), ("final", b[-1], k[-1])):
                row[f"base {label}"] = fb
                row[f"knockout {label}"] = fk
                row[f"{label} change"] = fk - fb
                row[f"{label} change %"] = 100 * (fk - fb) / abs(fb) if fb else float("nan")
            rows.append(row)
    table = pd.DataFrame(rows).set_index(["loop", "output"])
    return table, runs
