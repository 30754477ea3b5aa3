"""Behaviour modes along a run: the Jacobian of the stock equations, its
eigenvalues, and the loops the dominant mode is most sensitive to.

* **Jacobian** ``J[i, j] = d net(S_i) / d S_j`` at every step, by central
  finite differences: each stock in turn is moved by ``h`` (relative step
  ``1e-6``) at every step at once, every auxiliary and flow is recomputed
  from the moved stocks in causal order, and the net flows are compared.
* **Eigenvalues** of ``J`` at every step (units 1/time): a positive real part
  grows, a negative one decays, an imaginary part oscillates with angular
  frequency ``|Im|``. The *dominant mode* of a step is the eigenvalue with
  the largest real part.
* **Eigenvalue elasticity** (Kampmann 2012, *SDR* 28(4); Kampmann & Oliva
  2006): the elasticity of an eigenvalue ``lambda`` to the gain ``g`` of a
  link is ``(g / lambda) d lambda / d g``. With ``w`` and ``v`` the left and
  right eigenvectors, ``d lambda = w' dJ v / (w' v)``, and the Jacobian is
  composed from the link gains (partial derivatives) as
  ``J = D + C (I - A)^-1 B`` (``A`` auxiliary-to-auxiliary, ``B``
  stock-to-auxiliary, ``C`` auxiliary-to-net-flow, ``D`` stock-to-net-flow
  gains), which gives every link's elasticity in one linear solve. A link's
  elasticity is the sum of the elasticities of the loops through it; the
  loop elasticities are the minimum-norm solution of that linear system over
  the loops scored (unique when they form an independent loop set).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import networkx as nx
import numpy as np

from pyloop.errors import PyloopError
from pyloop.engine import Model
from pyloop.runner import RunResult
from pyloop.analysis.structure import DEFAULT_MAX_LOOPS, Loop, Structure
from pyloop.engine.builtins import stock_names
from pyloop.declarations.catalogue import CatalogueLoop, load_catalogue
from pyloop.engine.evaluator import Evaluator
from pyloop.analysis.loops.scores import (
    loop_key,
    named_extra_loops,
    pin_catalogue,
    run_evaluator,
    structure_and_loops,
)

__all__ = [
    "ModePhase",
    "Modes",
    "jacobians",
    "link_elasticities",
    "link_gains",
    "loop_elasticities",
    "run_modes",
]

#: Relative size of the finite-difference step in a stock or a cause.
RELATIVE_STEP = 1e-6


def _order(structure: Structure) -> list[str]:
    """Auxiliaries and flows in causal order."""
    graph = structure.graph
    inner = graph.subgraph(n for n in graph if structure.kinds[n] != "stock")
    try:
        return list(nx.topological_sort(inner))
    except nx.NetworkXUnfeasible:
        raise PyloopError(
            f"model '{structure.model}' has a loop without a stock (simultaneous equations)"
        ) from None


def _steps(values: np.ndarray) -> np.ndarray:
    return RELATIVE_STEP * np.maximum(np.abs(values), 1.0)


def jacobians(structure: Structure, evaluator: Evaluator) -> np.ndarray:
    """The Jacobian of the net flows with respect to the stocks at every step.

    Returns:
        An array ``(steps, stocks, stocks)``: ``[t, i, j]`` is the change of
        stock ``structure.stocks[i]``'s net flow per unit of stock ``j``.
    """
    stocks = list(structure.stocks)
    order = _order(structure)
    time = evaluator.time
    base = evaluator.values

    def net_flows(moved: str, delta: np.ndarray) -> np.ndarray:
        values = dict(base)
        values[moved] = np.asarray(base[moved], dtype=float) + delta
        get = values.__getitem__
        for name in order:
            out = evaluator.evaluate(evaluator.expression(name), get, time, name)
            values[name] = np.broadcast_to(np.asarray(out, dtype=float), time.shape)
        return np.array(
            [
                np.broadcast_to(
                    np.asarray(evaluator.evaluate(evaluator.expression(s), get, time, s), dtype=float),
                    time.shape,
                )
                for s in stocks
            ]
        )

    out = np.zeros((len(time), len(stocks), len(stocks)))
    with np.errstate(all="ignore"):
        for j, s in enumerate(stocks):
            h = _steps(np.asarray(base[s], dtype=float))
            out[:, :, j] = ((net_flows(s, h) - net_flows(s, -h)) / (2 * h)).T
    return out


def link_gains(structure: Structure, evaluator: Evaluator) -> dict[tuple[str, str], np.ndarray]:
    """The gain (partial derivative of the effect, or of a stock's net flow,
    with respect to the cause) of every link among stocks, flows and
    auxiliaries at every step, by central finite differences."""
    time = evaluator.time
    out: dict[tuple[str, str], np.ndarray] = {}
    base = evaluator.values
    for link in structure.links:
        if link.kind == "constant":
            continue
        if link.kind == "flow" and link.sign:
            out[(link.cause, link.effect)] = np.full(len(time), float(link.sign))
            continue
        x = np.asarray(base[link.cause], dtype=float)
        h = _steps(x)
        expr = evaluator.expression(link.effect)

        def at(delta: np.ndarray) -> np.ndarray:
            values = dict(base)
            values[link.cause] = x + delta
            value = evaluator.evaluate(expr, values.__getitem__, time, link.effect)
            return np.broadcast_to(np.asarray(value, dtype=float), time.shape)

        with np.errstate(all="ignore"):
            out[(link.cause, link.effect)] = (at(h) - at(-h)) / (2 * h)
    return out


@dataclass(frozen=True)
class ModePhase:
    """An interval with one kind of dominant mode.

    Attributes:
        start, end: first and last time of the interval.
        kind: ``"growing"``, ``"decaying"`` or ``"sustained"`` (a real part
            within the tolerance of 0), prefixed by ``"oscillating, "`` for a
            complex eigenvalue.
        eigenvalue: the dominant eigenvalue at the interval's middle step
            (1/time).
        loops: ``(label, elasticity)`` of the loops with the largest
            absolute eigenvalue elasticity at that step, largest first.
    """

    start: float
    end: float
    kind: str
    eigenvalue: complex
    loops: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Modes:
    """The behaviour modes of a run.

    Attributes:
        run: the run's name.
        time: the run's times.
        stocks: the stocks, in the Jacobian's order.
        jacobian: ``(steps, stocks, stocks)`` (see :func:`jacobians`).
        eigenvalues: ``(steps, stocks)``, each step's eigenvalues sorted by
            decreasing real part (1/time).
        phases: intervals with one kind of dominant mode.
    """

    run: str
    time: np.ndarray = field(repr=False)
    stocks: tuple[str, ...]
    jacobian: np.ndarray = field(repr=False)
    eigenvalues: np.ndarray = field(repr=False)
    phases: tuple[ModePhase, ...]

    @property
    def dominant(self) -> np.ndarray:
        """The dominant eigenvalue (largest real part) at every step."""
        return self.eigenvalues[:, 0]

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON (complex numbers as ``[real, imaginary]``)."""
        return {
            "run": self.run,
            "stocks": list(self.stocks),
            "time": [float(t) for t in self.time],
            "dominant": [[float(z.real), float(z.imag)] for z in self.dominant],
            "phases": [
                {
                    "start": p.start,
                    "end": p.end,
                    "kind": p.kind,
                    "eigenvalue": [float(p.eigenvalue.real), float(p.eigenvalue.imag)],
                    "loops": [{"loop": k, "elasticity": e} for k, e in p.loops],
                }
                for p in self.phases
            ],
        }


def _kind(z: complex, tolerance: float) -> str:
    growth = "growing" if z.real > tolerance else "decaying" if z.real < -tolerance else "sustained"
    return f"oscillating, {growth}" if abs(z.imag) > tolerance else growth


def link_elasticities(
    structure: Structure, jacobian: np.ndarray, gains: dict[tuple[str, str], np.ndarray], step: int
) -> tuple[complex, dict[tuple[str, str], complex]]:
    """The dominant eigenvalue at ``step`` and its elasticity to the gain of
    every link (see the module's description)."""
    stocks = list(structure.stocks)
    inner = [n for n in structure.causal_variables if structure.kinds[n] != "stock"]
    s_at = {s: i for i, s in enumerate(stocks)}
    a_at = {a: i for i, a in enumerate(inner)}
    values, right = np.linalg.eig(jacobian[step])
    k = int(np.argmax(values.real))
    lam = values[k]
    left_values, left = np.linalg.eig(jacobian[step].T)
    w = left[:, int(np.argmin(np.abs(left_values - lam)))]
    v = right[:, k]
    norm = w @ v
    n_a = len(inner)
    A = np.zeros((n_a, n_a))
    B = np.zeros((n_a, len(stocks)))
    C = np.zeros((len(stocks), n_a))
    for (cause, effect), g in gains.items():
        gain = float(g[step]) if np.isfinite(g[step]) else 0.0
        if effect in s_at and cause in a_at:
            C[s_at[effect], a_at[cause]] = gain
        elif effect in a_at and cause in a_at:
            A[a_at[effect], a_at[cause]] = gain
        elif effect in a_at and cause in s_at:
            B[a_at[effect], s_at[cause]] = gain
    inverse = np.linalg.inv(np.eye(n_a) - A) if n_a else np.zeros((0, 0))
    u = w @ C @ inverse  # row over auxiliaries
    z = inverse @ B @ v  # column over auxiliaries
    out: dict[tuple[str, str], complex] = {}
    for (cause, effect), g in gains.items():
        gain = float(g[step]) if np.isfinite(g[step]) else 0.0
        before = v[s_at[cause]] if cause in s_at else z[a_at[cause]]
        after = w[s_at[effect]] if effect in s_at else u[a_at[effect]]
        out[(cause, effect)] = after * gain * before / norm / lam if lam != 0 else 0.0
    return complex(lam), out


def loop_elasticities(
    loops: Sequence[Loop], links: dict[tuple[str, str], complex]
) -> np.ndarray:
    """Loop elasticities whose sums over each link's loops give the link
    elasticities (minimum-norm least squares; real parts)."""
    index = {lk: i for i, lk in enumerate(links)}
    incidence = np.zeros((len(index), len(loops)))
    for j, loop in enumerate(loops):
        for lk in loop.links:
            if lk in index:
                incidence[index[lk], j] = 1.0
    target = np.array([links[lk].real for lk in index])
    solution, *_ = np.linalg.lstsq(incidence, target, rcond=None)
    return solution


def run_modes(
    model: Model,
    result: RunResult,
    *,
    catalogue: Sequence[CatalogueLoop] | None = None,
    max_loops: int = DEFAULT_MAX_LOOPS,
    top: int = 3,
    tolerance: float = 1e-9,
) -> Modes:
    """Eigenvalues of a run's Jacobian and the loops that drive its dominant
    modes.

    Args:
        model: the model the run belongs to.
        result: a run with every variable returned and one row per step.
        catalogue: named loops; default the model's catalogue file.
        max_loops: as in :func:`score_run`.
        top: how many loops each phase names.
        tolerance: real and imaginary parts below this (1/time) count as 0
            when telling the kind of a mode.

    Raises:
        PyloopError: a model without stocks, or the errors of
            :func:`score_run`.
    """
    structure, cycles, _ = structure_and_loops(model, max_loops)
    if not structure.stocks:
        raise PyloopError(f"model '{model.name}' has no stocks, so no modes")
    evaluator = run_evaluator(model, result)
    time = evaluator.time
    jac = jacobians(structure, evaluator)
    finite = np.isfinite(jac).all(axis=(1, 2))
    eig = np.full((len(time), len(structure.stocks)), np.nan + 0j)
    values = np.linalg.eigvals(np.where(finite[:, None, None], jac, 0.0))
    order = np.argsort(-values.real, axis=1, kind="stable")
    eig[finite] = np.take_along_axis(values, order, axis=1)[finite]
    if catalogue is None:
        catalogue = load_catalogue(model)
    pinned, _ = pin_catalogue(structure, cycles, catalogue)
    cycles = list(cycles) + named_extra_loops(structure, cycles, pinned)
    named = {loop_key(v): lid for lid, v in pinned.items()}
    cat = {e.id: e for e in catalogue}

    def label(loop: Loop) -> str:
        lid = named.get(loop_key(loop.variables))
        if lid is not None:
            return f"{lid} {cat[lid].name}"
        return f"{loop.id} (through {', '.join(stock_names(loop.stocks, model))})"

    kinds = [_kind(z, tolerance) if finite[i] else "" for i, z in enumerate(eig[:, 0])]
    gains = None
    phases = []
    start = 0
    for i in range(1, len(time) + 1):
        if i == len(time) or kinds[i] != kinds[start]:
            if kinds[start]:
                if gains is None:
                    gains = link_gains(structure, evaluator)
                middle = (start + i - 1) // 2
                lam, links = link_elasticities(structure, jac, gains, middle)
                loops = list(cycles)
                elastic = loop_elasticities(loops, links) if loops else np.zeros(0)
                best = np.argsort(-np.abs(elastic), kind="stable")[:top]
                phases.append(
                    ModePhase(
                        float(time[start]),
                        float(time[i - 1]),
                        kinds[start],
                        lam,
                        tuple((label(loops[j]), float(elastic[j])) for j in best),
                    )
                )
            start = i
    return Modes(
        run=result.name,
        time=time,
        stocks=tuple(structure.stocks),
        jacobian=jac,
        eigenvalues=eig,
        phases=tuple(phases),
    )
