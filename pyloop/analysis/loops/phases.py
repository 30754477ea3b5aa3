"""Polarity and dominance phases from relative loop scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd


#: Share of a loop's activity that must have one sign for the loop to be
#: called reinforcing (R) or balancing (B) over a run.
POLARITY_THRESHOLD = 0.95


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

