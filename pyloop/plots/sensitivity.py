"""Figures of a sensitivity study: fan charts of percentile bands, Sobol and
Morris index bars, and PRIM boxes."""

from __future__ import annotations

import math

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pyloop.errors import PyloopError
from pyloop.plots.style import _new_figure, _title, colour_of, time_axis

__all__ = ["fan_chart", "fan_chart_figure", "sobol_figure", "morris_figure", "prim_figure"]


def fan_chart(bands, variable: str, units: str | None = None, label: str = "", ax: Axes | None = None) -> Axes:
    """Percentile bands of one variable over time (a fan chart).

    Args:
        bands: DataFrame indexed by time, one column per percentile (as from
            :func:`pyloop.sensitivity.ensemble.percentile_bands`); the outer pair, inner
            pair and middle column are drawn as shaded bands and a line.
        variable: the variable's name, for the title.
        units: the variable's units, for the title.
        label: what the bands come from (e.g. the scenario), for the legend.
        ax: axes to draw on; default a new figure's axes.
    """
    if ax is None:
        ax = _new_figure(figsize=(5, 3.5)).add_subplot()
    cols = list(bands.columns)
    t = bands.index.to_numpy(dtype=float)
    color = colour_of("scenario", label) if label else ax._get_lines.get_next_color()
    for k in range(len(cols) // 2):
        lo, hi = cols[k], cols[-1 - k]
        ax.fill_between(t, bands[lo], bands[hi], color=color, alpha=0.18 + 0.17 * k, linewidth=0,
                        label=f"{label} {lo:g}-{hi:g} %".strip())
    if len(cols) % 2:
        mid = cols[len(cols) // 2]
        ax.plot(t, bands[mid], color=color, linewidth=1.8, label=f"{label} median".strip())
    ax.set_title(_title(variable, units), fontsize=10)
    time_axis(ax, t)
    ax.tick_params(labelsize=8)
    ax.grid(True, alpha=0.3)
    return ax


def fan_chart_figure(panels, title: str = "") -> Figure:
    """A grid of fan charts.

    Args:
        panels: list of ``(variable, units, [(label, bands), ...])``; each
            panel draws the bands of every label (e.g. one per scenario).
        title: the figure's title.
    """
    if not panels:
        raise PyloopError("no series to draw; declare [bands] variables in the uncertainty file")
    n = len(panels)
    ncols = min(2, n)
    nrows = math.ceil(n / ncols)
    fig = _new_figure(figsize=(5.2 * ncols, 3.4 * nrows + 0.6))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (variable, units, series) in zip(axes, panels):
        for label, bands in series:
            fan_chart(bands, variable, units, label, ax=ax)
    for ax in axes[n:]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 3), fontsize=9, frameon=False)
    if title:
        fig.suptitle(title, fontsize=12)
    return fig


def _index_bars(table, columns, errors, labels, title: str, xlabel: str) -> Figure:
    outcomes = list(dict.fromkeys(table.index.get_level_values(0)))
    params = list(dict.fromkeys(table.index.get_level_values(1)))
    n = len(outcomes)
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig = _new_figure(figsize=(4.6 * ncols, 0.26 * len(params) * nrows + 1.4 * nrows + 0.5))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    height = 0.8 / len(columns)
    for k, (ax, outcome) in enumerate(zip(axes, outcomes)):
        part = table.loc[outcome].reindex(params)
        y = list(range(len(params)))
        for i, (col, err, lab) in enumerate(zip(columns, errors, labels)):
            vals = part[col].to_numpy(dtype=float)
            xerr = part[err].to_numpy(dtype=float) if err else None
            ax.barh([v + (i - (len(columns) - 1) / 2) * height for v in y], vals, height=height,
                    xerr=xerr, label=lab, error_kw={"elinewidth": 0.8, "capsize": 1.5})
        ax.set_yticks(y)
        ax.set_yticklabels(params if k % ncols == 0 else [], fontsize=8)
        ax.invert_yaxis()
        ax.set_title(outcome, fontsize=10)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(True, axis="x", alpha=0.3)
    for ax in axes[n:]:
        ax.set_visible(False)
    handles, labs = axes[0].get_legend_handles_labels()
    fig.legend(handles, labs, loc="outside lower center", ncols=len(labs), fontsize=9, frameon=False)
    fig.suptitle(title, fontsize=12)
    return fig


def sobol_figure(indices, title: str = "Sobol indices") -> Figure:
    """Bars of first-order (S1) and total (ST) Sobol indices, one panel per outcome.

    Args:
        indices: DataFrame indexed by (outcome, parameter) with columns
            ``S1``, ``S1_conf``, ``ST``, ``ST_conf`` (as from
            :func:`pyloop.sensitivity.ensemble.sobol_indices`); error bars are the
            confidence half-widths.
    """
    return _index_bars(indices, ["S1", "ST"], ["S1_conf", "ST_conf"],
                       ["first order S1", "total ST"], title, "share of variance")


def morris_figure(indices, title: str = "Morris screening") -> Figure:
    """Bars of Morris mu* (with confidence) and sigma, one panel per outcome.

    Args:
        indices: DataFrame indexed by (outcome, parameter) with columns
            ``mu_star``, ``mu_star_conf`` and ``sigma`` (as from
            :func:`pyloop.sensitivity.ensemble.morris_indices`).
    """
    return _index_bars(indices, ["mu_star", "sigma"], ["mu_star_conf", None],
                       ["mu* (mean |effect|)", "sigma (spread of effects)"], title,
                       "effect over the whole range [outcome units]")


def prim_figure(box, title: str = "") -> Figure:
    """A PRIM box: its limits within the sampled ranges, and the trade-off.

    Args:
        box: a :class:`pyloop.sensitivity.discovery.PrimBox`.
        title: the figure's title; default the box's condition.
    """
    fig = _new_figure(figsize=(11, max(3.2, 0.42 * len(box.limits) + 1.8)))
    left, right = fig.subplots(1, 2, width_ratios=[1.3, 1])
    lim = box.limits
    names = list(lim.index)
    for i, name in enumerate(names):
        lo, hi, mn, mx = (float(lim.at[name, c]) for c in ("low", "high", "min", "max"))
        span = (mx - mn) or 1.0
        left.barh(i, 1.0, left=0.0, color="#ddd", height=0.6)
        left.barh(i, (hi - lo) / span, left=(lo - mn) / span, color="#2b6cb0", height=0.6)
        left.text(-0.02, i, f"{mn:.4g}", ha="right", va="center", fontsize=7, color="#555")
        left.text(1.02, i, f"{mx:.4g}", ha="left", va="center", fontsize=7, color="#555")
        left.text((lo - mn) / span + (hi - lo) / span / 2, i, f"{lo:.4g} - {hi:.4g}",
                  ha="center", va="center", fontsize=7.5, color="white", weight="bold")
    left.set_yticks(range(len(names)))
    left.set_yticklabels(names, fontsize=8)
    left.tick_params(axis="y", pad=34, length=0)
    left.invert_yaxis()
    left.set_xlim(-0.12, 1.12)
    left.set_xticks([0, 0.5, 1])
    left.set_xticklabels(["min", "", "max"], fontsize=8)
    left.set_title(
        f"box: coverage {box.coverage:.0%}, density {box.density:.0%}, mass {box.mass:.0%}", fontsize=10
    )
    tr = box.trajectory
    points = right.scatter(tr["coverage"], tr["density"], c=tr["res_dim"], cmap="viridis", s=18)
    right.plot(tr["coverage"], tr["density"], color="#999", linewidth=0.8, zorder=0)
    chosen = tr.loc[box.chosen]
    right.scatter([chosen["coverage"]], [chosen["density"]], s=120, facecolors="none", edgecolors="red",
                  linewidths=1.5, label="chosen box (before simplifying)")
    right.set_xlabel("coverage", fontsize=9)
    right.set_ylabel("density", fontsize=9)
    right.set_title("peeling trajectory", fontsize=10)
    right.grid(True, alpha=0.3)
    right.legend(fontsize=8, loc="lower left")
    fig.colorbar(points, ax=right, label="restricted parameters")
    fig.suptitle(title or box.condition, fontsize=12)
    return fig
