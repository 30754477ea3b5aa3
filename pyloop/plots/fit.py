"""Figures of a calibration: data, fitted run and posterior band.

Like :mod:`pyloop.plots`, figures are drawn on matplotlib's Agg canvas
without pyplot; these functions draw and compute nothing.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from pyloop.plots.style import _new_figure, _title, time_axis

__all__ = ["event_figure", "fit_figure"]


def fit_figure(
    variable: str,
    units: str | None,
    times: np.ndarray,
    fitted: np.ndarray | None,
    band: np.ndarray | None,
    obs_time: np.ndarray,
    obs_value: np.ndarray,
    obs_sd: np.ndarray,
    holdout: np.ndarray,
    time_units: str | None = None,
    holdout_after: float | None = None,
    baseline: tuple[np.ndarray, np.ndarray] | None = None,
    fitted_label: str = "best fit",
) -> Figure:
    """One observed variable: the observations (with +-1 sd bars), the
    best-fit run and the 5-95 % posterior band.

    Args:
        variable: the variable's name; ``units`` its units (or None).
        times: saved times of the runs (model time units).
        fitted: the best-fit series at ``times`` (None: not drawn).
        band: 5th and 95th percentile series (2 x times; None: not drawn).
        obs_time, obs_value, obs_sd: the observations of this variable.
        holdout: True for observations held out of the fit (drawn hollow).
        time_units: the model's time unit, for the x axis.
        holdout_after: the end of the fitted period (a dashed line), or None.
        baseline: ``(times, values)`` of an uncalibrated run drawn for
            comparison (grey), or None.
        fitted_label: the legend's name for ``fitted``.
    """
    fig = _new_figure(figsize=(6, 3.8))
    ax = fig.add_subplot()
    if band is not None:
        ax.fill_between(times, band[0], band[1], color="tab:blue", alpha=0.25, lw=0,
                        label="posterior 5-95 %")
    if baseline is not None:
        ax.plot(baseline[0], baseline[1], color="grey", lw=1.2, ls="--", label="baseline")
    if fitted is not None:
        ax.plot(times, fitted, color="tab:blue", lw=1.6, label=fitted_label)
    holdout = np.asarray(holdout, dtype=bool)
    for mask, style, label in ((~holdout, "o", "observed (fitted)"), (holdout, "o", "observed (held out)")):
        if mask.any():
            ax.errorbar(
                obs_time[mask], obs_value[mask], yerr=obs_sd[mask], fmt=style, ms=4, capsize=2,
                color="black", mfc="black" if label.endswith("(fitted)") else "white", lw=0.8,
                label=label,
            )
    if holdout_after is not None:
        ax.axvline(holdout_after, color="grey", ls="--", lw=0.8, label="end of fitted data")
    ax.set_title(_title(variable, units), fontsize=10)
    time_axis(ax, [], time_units)
    ax.legend(fontsize=8, frameon=False)
    return fig


def event_figure(label: str, event_times: np.ndarray, time_units: str | None = None) -> Figure:
    """Histogram of the time an event happens over posterior draws.

    Args:
        label: the event, for the title.
        event_times: the event's time in each draw where it happens
            (model time units; draws where it does not happen left out).
        time_units: the model's time unit, for the x axis.
    """
    fig = _new_figure(figsize=(6, 3.0))
    ax = fig.add_subplot()
    event_times = np.asarray(event_times, dtype=float)
    if len(event_times):
        ax.hist(event_times, bins=min(30, max(5, len(event_times) // 5)), color="tab:blue", alpha=0.7)
        for q, ls in ((5, ":"), (50, "-"), (95, ":")):
            ax.axvline(float(np.percentile(event_times, q)), color="black", ls=ls, lw=0.8)
    else:
        ax.text(0.5, 0.5, "in no draw before the run ends", transform=ax.transAxes, ha="center", va="center")
    ax.set_title(label, fontsize=10)
    ax.set_ylabel("posterior draws")
    time_axis(ax, [], time_units)
    return fig
