"""Shared helpers for the tests of the AI circular-finance model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
MODEL_PATH = REPO / "models" / "ai_circular_finance.mdl"
CALIBRATION_CSV = REPO / "models" / "calibration.csv"

CASH_STOCKS = ("AI Lab Cash", "Cloud Cash", "Chip Maker Cash")
NON_NEGATIVE_STOCKS = CASH_STOCKS + (
    "Cloud Debt",
    "Compute Contract Backlog",
    "Chip Maker Pledge",
    "Capacity Under Construction",
    "Operational Capacity",
    "Compute Payment Arrears",
    "AI Revenue Run Rate",
    "Investor Sentiment",
)


def step_of(frame, time: float) -> float:
    """The saved time nearest to ``time`` (Year)."""
    index = frame.index.values
    return float(index[np.argmin(np.abs(index - time))])


def first_time(series, condition) -> float | None:
    """First time (Year) at which ``condition(series)`` holds, or None."""
    hits = series.index[condition(series)]
    return float(hits[0]) if len(hits) else None


def cumulative(frame, flow: str, until: float | None = None) -> float:
    """Euler integral of a flow (B$/Year) over the run, in B$."""
    dt = float(frame.index[1] - frame.index[0])
    values = frame[flow] if until is None else frame.loc[:until, flow].iloc[:-1]
    return float(values.sum() * dt)


def jump(frame, variable: str, at: float) -> tuple[float, float]:
    """Values of ``variable`` one step before and one step after time ``at``.

    An announcement is a flow during the step that contains its date; the
    stocks it feeds move at the next saved time.
    """
    index = frame.index.values
    dt = index[1] - index[0]
    before = index[index < at - dt / 2][-1]
    after = index[index >= at - dt / 2][1]
    return float(frame.at[before, variable]), float(frame.at[after, variable])
