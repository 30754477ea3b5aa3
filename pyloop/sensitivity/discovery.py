"""Scenario discovery: the parameter box in which a condition holds (PRIM).

PRIM (Friedman and Fisher 1999) peels a box around the samples where a
condition holds ("the music stops before 2029"), trading coverage (share
of all such runs that fall inside the box) for density (share of the runs in
the box for which it holds). EMA Workbench's implementation
(``ema_workbench.analysis.prim``, installed with ``pyloop[bench]``) is used
when it is installed; otherwise a plain peeling PRIM of this module (same
objective: the highest mean after each peel, ``peel_alpha`` of the runs per
peel, no pasting).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pyloop.errors import PyloopError

__all__ = ["PrimBox", "discover", "music_stops_before", "quasi_p_values"]


@dataclass(frozen=True)
class PrimBox:
    """A box found by PRIM, and the trajectory that led to it.

    Attributes:
        limits: index parameter; columns ``low``, ``high`` (the box),
            ``min``, ``max`` (the sampled range) and ``quasi_p`` (see
            :func:`quasi_p_values`); only the restrictions that matter
            (see ``simplify`` of :func:`discover`).
        coverage: share of the cases of interest inside the box.
        density: share of the runs inside the box that are cases of interest.
        mass: share of all runs inside the box.
        trajectory: one row per peel: ``coverage``, ``density``, ``mass``,
            ``res_dim`` (restricted parameters).
        chosen: the row of ``trajectory`` the box is.
        engine: ``"ema_workbench"`` or ``"pyloop"``.
        condition: what the cases of interest are, in words.
    """

    limits: pd.DataFrame
    coverage: float
    density: float
    mass: float
    trajectory: pd.DataFrame
    chosen: int
    engine: str
    condition: str = ""


def _own_prim(x: pd.DataFrame, y: np.ndarray, peel_alpha: float, mass_min: float):
    values = x.to_numpy(dtype=float)
    n, d = values.shape
    lims = [np.column_stack([values.min(axis=0), values.max(axis=0)])]
    inside = np.ones(n, dtype=bool)
    total = y.sum()
    rows = [(1.0, y.mean(), 1.0, 0)]
    while inside.sum() / n > mass_min:
        best = None
        for j in range(d):
            col = values[inside, j]
            for side, q in ((0, np.quantile(col, peel_alpha)), (1, np.quantile(col, 1 - peel_alpha))):
                keep = inside & ((values[:, j] >= q) if side == 0 else (values[:, j] <= q))
                if keep.sum() == inside.sum() or keep.sum() / n < mass_min or not keep.any():
                    continue
                mean = y[keep].mean()
                if best is None or mean > best[0]:
                    best = (mean, j, side, q, keep)
        if best is None or best[0] <= y[inside].mean():
            break
        mean, j, side, q, keep = best
        inside = keep
        box = lims[-1].copy()
        box[j, side] = q
        lims.append(box)
        res = int(np.sum((box[:, 0] > lims[0][:, 0]) | (box[:, 1] < lims[0][:, 1])))
        rows.append((y[inside].sum() / total, mean, inside.sum() / n, res))
    trajectory = pd.DataFrame(rows, columns=["coverage", "density", "mass", "res_dim"])
    return trajectory, [pd.DataFrame(b.T, index=["low", "high"], columns=x.columns) for b in lims]


def _ema_prim(x: pd.DataFrame, y: np.ndarray, threshold: float, peel_alpha: float, mass_min: float):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.getLogger("EMA").setLevel(logging.ERROR)
        from ema_workbench.analysis import prim
        finder = prim.Prim(x, y, threshold=threshold, peel_alpha=peel_alpha, mass_min=mass_min)
        box = finder.find_box()
    traj = box.peeling_trajectory
    trajectory = traj[["coverage", "density", "mass", "res_dim"]].reset_index(drop=True)
    lims = [pd.DataFrame(b.to_numpy(dtype=float), index=["low", "high"], columns=x.columns) for b in box.box_lims]
    return trajectory, lims


def _inside(x: pd.DataFrame, box: pd.DataFrame, restricted: list[str]) -> np.ndarray:
    inside = np.ones(len(x), dtype=bool)
    for c in restricted:
        col = x[c].to_numpy()
        inside &= (col >= box.at["low", c]) & (col <= box.at["high", c])
    return inside


def _simplify(x: pd.DataFrame, y: np.ndarray, box: pd.DataFrame, restricted: list[str], tol: float) -> list[str]:
    """Drop restrictions, the least useful first, while the box's density
    stays within ``tol`` (absolute) of the density with all of them."""
    restricted = list(restricted)
    start = y[_inside(x, box, restricted)].mean()
    while tol > 0 and len(restricted) > 1:
        densities = {c: y[_inside(x, box, [r for r in restricted if r != c])].mean() for c in restricted}
        weakest = max(densities, key=densities.get)
        if start - densities[weakest] > tol:
            break
        restricted.remove(weakest)
    return restricted


def quasi_p_values(x: pd.DataFrame, y: np.ndarray, box: pd.DataFrame, restricted: list[str]) -> dict[str, float]:
    """One-sided binomial quasi-p value of each restriction of a box (as in
    EMA Workbench): the chance of at least as many cases of interest inside
    the box if the restriction were dropped and its runs had the density of
    the box without it. A large value: the restriction may be chance."""
    from scipy.stats import binom

    inside = _inside(x, box, restricted)
    hits, runs = int(y[inside].sum()), int(inside.sum())
    out = {}
    for c in restricted:
        wider = _inside(x, box, [r for r in restricted if r != c])
        out[c] = float(binom.sf(hits - 1, runs, y[wider].mean())) if runs else 1.0
    return out


def discover(
    samples: pd.DataFrame,
    condition: np.ndarray | pd.Series,
    threshold: float = 0.8,
    peel_alpha: float = 0.05,
    mass_min: float = 0.05,
    engine: str = "auto",
    description: str = "",
    simplify: float = 0.05,
    significance: float = 0.05,
) -> PrimBox:
    """Find the parameter box in which ``condition`` mostly holds.

    Args:
        samples: parameter values, one row per run.
        condition: True for the runs of interest, one per row of ``samples``.
        threshold: the box chosen is the one of highest coverage whose
            density reaches ``threshold`` (else the densest box).
        peel_alpha: share of the runs removed by each peel.
        mass_min: smallest share of runs a box may hold.
        engine: ``"ema_workbench"``, ``"pyloop"`` or ``"auto"`` (EMA
            Workbench when installed).
        simplify: then drop restrictions, one at a time and the one whose
            removal costs least density first, while the box's density stays
            within this (absolute) of PRIM's box, so the box names only the
            parameters that matter (PRIM's last peels often shave a few runs
            off many parameters); 0 keeps them all. ``coverage``, ``density``
            and ``mass`` are those of the final box; ``limits`` gives each
            kept restriction's quasi-p value (:func:`quasi_p_values`).
        significance: then drop, the least significant first, the
            restrictions whose quasi-p value is at least this (restrictions
            that chance alone would explain), even when the box then
            loses density: a box of significant restrictions at lower density
            says the cases are not confined to a simple box; 1 keeps them. When none is
            left, no assumption separates the cases: ``limits`` is empty
            and the box holds every run.

    Raises:
        PyloopError: lengths differ, or no run or every run meets the condition.
    """
    y = np.asarray(condition, dtype=bool)
    if len(y) != len(samples):
        raise PyloopError(f"{len(y)} conditions for {len(samples)} samples")
    if not y.any() or y.all():
        raise PyloopError(
            f"scenario discovery needs runs on both sides of the condition; "
            f"{int(y.sum())} of {len(y)} runs meet it"
        )
    x = samples.reset_index(drop=True).astype(float)
    if engine == "auto":
        from importlib.util import find_spec

        engine = "ema_workbench" if find_spec("ema_workbench") is not None else "pyloop"
    if engine == "ema_workbench":
        trajectory, lims = _ema_prim(x, y, threshold, peel_alpha, mass_min)
    elif engine == "pyloop":
        trajectory, lims = _own_prim(x, y, peel_alpha, mass_min)
    else:
        raise PyloopError(f"unknown PRIM engine '{engine}'; use ema_workbench, pyloop or auto")
    dense = trajectory.index[trajectory["density"] >= threshold]
    chosen = int(trajectory.loc[dense, "coverage"].idxmax()) if len(dense) else int(trajectory["density"].idxmax())
    box = lims[chosen].copy()
    full = lims[0]
    restricted = [c for c in x.columns if box.at["low", c] > full.at["low", c] or box.at["high", c] < full.at["high", c]]
    restricted = _simplify(x, y, box, restricted, simplify)
    quasi = quasi_p_values(x, y, box, restricted)
    while significance < 1 and restricted and max(quasi.values()) >= significance:
        restricted.remove(max(quasi, key=quasi.get))
        quasi = quasi_p_values(x, y, box, restricted)
    limits = pd.DataFrame(
        {
            "low": [box.at["low", c] for c in restricted],
            "high": [box.at["high", c] for c in restricted],
            "min": [full.at["low", c] for c in restricted],
            "max": [full.at["high", c] for c in restricted],
            "quasi_p": [quasi[c] for c in restricted],
        },
        index=pd.Index(restricted, name="parameter"),
    )
    inside = _inside(x, box, restricted)
    return PrimBox(
        limits=limits,
        coverage=float(y[inside].sum() / y.sum()),
        density=float(y[inside].mean()),
        mass=float(inside.mean()),
        trajectory=trajectory,
        chosen=chosen,
        engine=engine,
        condition=description,
    )


def music_stops_before(result, year: float, outcome: str = "Music Stops Time", **kwargs) -> PrimBox:
    """The box of parameters in which ``outcome`` (a time) comes before ``year``.

    Args:
        result: an :class:`~pyloop.sensitivity.ensemble.EnsembleResult`.
        year: the year, in the model's time unit.
        outcome: the outcome holding the time the music stops.
        **kwargs: passed to :func:`discover`.
    """
    if outcome not in result.outcomes.columns:
        raise PyloopError(
            f"no outcome '{outcome}' in the ensemble; outcomes: {', '.join(result.outcomes.columns)}"
        )
    runs = result.outcomes.index
    times = result.outcomes[outcome].to_numpy(dtype=float)
    return discover(
        result.samples.loc[runs],
        times < year,
        description=f"{outcome} before {year:g}",
        **kwargs,
    )
