"""Shared helpers for the tests of the AI circular-finance model (version 2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
MODEL_PATH = REPO / "models" / "ai_circular_finance.mdl"
CALIBRATION_CSV = REPO / "models" / "calibration.csv"

CASH_STOCKS = ("AI Lab Cash", "Cloud Cash", "Chip Maker Cash")
#: The flows that add to the AI Lab's commitments (B$/Year).
SIGNING_FLOWS = ("Announced Contract Signing", "Ring Contract Signing", "Other Provider Signing")
#: Tolerance (in the stock's unit) below zero that still counts as non-negative.
NEGATIVE_TOLERANCE = -1e-9


def non_negative_stocks(model) -> tuple[str, ...]:
    """Every stock of ``model`` whose declared range starts at 0, by name."""
    return tuple(
        name for name in model.stocks if (model.variable(name).range or (None,))[0] == 0
    )


def time_step(frame) -> float:
    """The saved interval of a run (Year); runs save every time step."""
    return float(frame.index[1] - frame.index[0])


def step_of(frame, time: float) -> float:
    """The saved time nearest to ``time`` (Year)."""
    index = frame.index.values
    return float(index[np.argmin(np.abs(index - time))])


def value_at(frame, variable: str, time: float) -> float:
    """Value of ``variable`` at the saved time nearest to ``time``."""
    return float(frame.at[step_of(frame, time), variable])


def first_time(series, condition) -> float | None:
    """First time (Year) at which ``condition(series)`` holds, or None."""
    hits = series.index[condition(series)]
    return float(hits[0]) if len(hits) else None


def cumulative(frame, flow: str, until: float | None = None) -> float:
    """Euler integral of a flow (B$/Year) from the start to ``until`` (B$)."""
    total = cumulative_series(frame, [flow])
    return float(total.iloc[-1] if until is None else total.loc[:until].iloc[-1])


def cumulative_series(frame, flows: Sequence[str]):
    """Euler integral of the sum of ``flows`` (B$/Year) at every saved time (B$).

    The value at time ``t`` is what flowed over the steps before ``t``, as the
    stocks of the model see it.
    """
    rate = frame[list(flows)].sum(axis=1)
    return rate.shift(1, fill_value=0.0).cumsum() * time_step(frame)


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


def negative_or_non_finite(series: Mapping[str, np.ndarray]) -> dict[str, float]:
    """The arrays of ``series`` with a value below :data:`NEGATIVE_TOLERANCE`
    or not finite, mapped to their smallest value (NaN if non-finite)."""
    bad = {}
    for name, values in series.items():
        values = np.asarray(values, dtype=float)
        if not np.isfinite(values).all():
            bad[name] = float("nan")
        elif values.min() < NEGATIVE_TOLERANCE:
            bad[name] = float(values.min())
    return bad
