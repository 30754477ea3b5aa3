"""Figures of a calibration: data, fitted run and posterior band.

Like :mod:`pyloop.plots`, figures are drawn on matplotlib's Agg canvas
without pyplot; these functions draw and compute nothing.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from pyloop.plots.style import _new_figure, _title, time_axis

__all__ = ["fit_figure"]


def fit_figure(
    variable: str,
    units: str | None,
    times: np.ndarray,
    fitted: np.ndarray,
    band: np.ndarray,
    obs_time: np.ndarray,
    obs_value: np.ndarray,
    obs_sd: np.ndarray,
    holdout: np.ndarray,
    time_units: str | None = None,
    holdout_after: float | None = None,
) -> Figure:
    """One observed variable: the observations (with +-1 sd bars), the
    best-fit run and the 5-95 % posterior band.

    Args:
        variable: the variable's name; ``units`` its units (or None).
        times: saved times of the runs (model time units).
        fitted: the best-fit series at ``times``.
        band: 5th and 95th percentile series (2 x times).
        obs_time, obs_value, obs_sd: the observations of this variable.
        holdout: True for observations held out of the fit (drawn hollow).
        time_units: the model's time unit, for the x axis.
        holdout_after: the end of the fitted period (a dashed line), or None.
    """
    fig = _new_figure(figsize=(6, 3.8))
    ax = fig.add_subplot()
    ax.fill_between(times, band[0], band[1], color="tab:blue", alpha=0.25, lw=0,
                    label="posterior 5-95 %")
    ax.plot(times, fitted, color="tab:blue", lw=1.6, label="best fit")
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
