"""The loop analysis of a run: each scored loop and the :class:`LoopAnalysis`
holding the loop scores, relative scores and dominance phases."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from pyloop.errors import PyloopError
from pyloop.analysis.structure import Loop
from pyloop.declarations.catalogue import CatalogueLoop
from pyloop.analysis.loops.phases import Phase

__all__ = ["LoopAnalysis", "ScoredLoop"]


@dataclass(frozen=True)
class ScoredLoop(Loop):
    """A loop (:class:`pyloop.analysis.structure.Loop`) with its scores over a run.

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
        active_loops: how many of the ``total_loops`` have a non-zero loop
            score at some step of the run.
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
    active_loops: int = 0

    def loop(self, loop_id: str) -> ScoredLoop:
        """The reported loop with this id.

        Raises:
            PyloopError: unknown id.
        """
        for loop in self.loops:
            if loop.id == loop_id:
                return loop
        from pyloop.errors import suggest

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

    def plot(self, ax=None, top: int = 10):
        """Relative loop scores over time, reinforcing above the axis and
        balancing below, and return the Axes drawn on (see
        :func:`pyloop.plots.plot_relative_loop_scores`)."""
        from pyloop.plots import plot_relative_loop_scores

        return plot_relative_loop_scores(self, ax=ax, top=top)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: ``time``, ``loops`` (with ``relative_score``
        aligned with ``time``) and ``phases``."""

        def num(x: float) -> float | None:
            return float(x) if math.isfinite(x) else None

        return {
            "run": self.run,
            "mode": self.mode,
            "total_loops": self.total_loops,
            "active_loops": self.active_loops,
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
