"""Link scores and structural polarities of links and loops (Loops That Matter).

A link's score over a run measures how much of the change in its effect the
change in its cause explains; :func:`link_polarity` reads a link's sign from
the effect's equation (or, where the equation cannot tell, from a small step
in the cause).
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from pyloop.analysis.structure import Structure
from pyloop.engine.builtins import LaggedReference
from pyloop.engine.derivative_sign import derivative_sign
from pyloop.engine.evaluator import Evaluator

__all__ = ["link_polarity", "link_scores", "loop_polarity"]

#: Relative size of a change that floating-point rounding alone can make: a
#: small step in the cause that moves the effect by no more tells no sign
#: (a smooth minimum far on one side changes by a few units in the last place).
_ROUNDING = 1e-12


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
    # ceteris paribus: time is one of the inputs held at t - dt, so a STEP,
    # RAMP or PULSE that switches during the step is not credited to the cause
    tprev = time[:-1]
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
            partial = evaluator.evaluate(expr, evaluator.partial(cause), tprev, effect)
            dxz = np.asarray(partial, dtype=float) - evaluator.net_flow(effect)[:-1]
        else:
            z = evaluator.values[effect]
            dz = np.diff(z)
            expr = evaluator.expression(effect)
            if isinstance(expr, LaggedReference):  # DELAY FIXED: moves as its input did
                ds[1:] = np.where(dz == 0, 0.0, 1.0)
                out[(cause, effect)] = ds
                continue
            partial = evaluator.evaluate(expr, evaluator.partial(cause), tprev, effect)
            dxz = np.asarray(partial, dtype=float) - z[:-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            magnitude = np.abs(dxz / np.where(dz == 0, 1.0, dz))
            sign = np.sign(dxz / np.where(dx == 0, 1.0, dx))
        ds[1:] = np.where((dz == 0) | (dx == 0), 0.0, magnitude * sign)
        out[(cause, effect)] = ds
    return out


def link_polarity(structure: Structure, evaluator: "Evaluator", cause: str, effect: str) -> int:
    """Structural polarity of a link: +1, -1, or 0 when it cannot be told.

    A flow into a stock has its structural sign. Otherwise the sign of the
    derivative of the effect's equation with respect to the cause, read from
    the equation (MIN and MAX are increasing in every argument, whichever
    binds) with the co-factors' signs taken from the run, or, where the
    equation alone cannot tell (a ratio of terms that both rise with the
    cause), from a small step in the cause (a change within rounding tells
    nothing); it must be the same wherever it is defined.
    """
    link = structure.link(cause, effect)
    if link.kind == "flow" and link.sign:
        return link.sign
    expr = evaluator.expression(effect)
    signs = np.broadcast_to(
        np.asarray(derivative_sign(evaluator, expr, cause, effect), dtype=float), evaluator.time.shape
    ).copy()
    unknown = ~np.isfinite(signs)
    if unknown.any():  # not told by the structure: a small step in the cause
        x = np.asarray(evaluator.values[cause], dtype=float)
        h = 1e-6 * np.maximum(np.abs(x), 1e-6)
        get = evaluator.current()

        def bumped(name: str) -> Any:
            return x + h if name == cause else get(name)

        with np.errstate(all="ignore"):
            up = evaluator.evaluate(expr, bumped, evaluator.time, effect)
            base = evaluator.evaluate(expr, get, evaluator.time, effect)
        up = np.asarray(up, dtype=float)
        base = np.asarray(base, dtype=float)
        change = up - base
        rounding = _ROUNDING * np.maximum(np.abs(up), np.abs(base))
        numeric = np.broadcast_to(np.where(np.abs(change) <= rounding, 0.0, np.sign(change)), signs.shape)
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
