"""Figures of a sensitivity study: fan charts of percentile bands, Sobol and
Morris index bars, and PRIM boxes."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pyloop.errors import PyloopError
from pyloop.plots.style import _new_figure, colour_of, time_axis
from pyloop.text_format import format_bound

__all__ = ["fan_chart", "fan_chart_figure", "sobol_figure", "morris_figure", "prim_figure"]


#: Label of the deterministic run drawn over the bands.
DETERMINISTIC_LABEL = "deterministic run"
#: How the deterministic run is drawn: last, thicker than the median, dashed.
DETERMINISTIC_STYLE = {"color": "#111111", "linewidth": 2.4, "linestyle": (0, (5, 2)), "zorder": 5}


def fan_chart(bands, variable: str, units: str | None = None, label: str = "", ax: Axes | None = None,
              deterministic=None, title: str | None = None, time_units: str | None = None) -> Axes:
    """Percentile bands of one variable over time (a fan chart).

    Args:
        bands: DataFrame indexed by time, one column per percentile (as from
            :func:`pyloop.sensitivity.ensemble.percentile_bands`); the outer pair, inner
            pair and middle column are drawn as shaded bands and a line.
        variable: the variable's name, for the title.
        units: the variable's units, for the y axis.
        label: what the bands come from (e.g. the scenario): their colour,
            and the legend when ``title`` is not given.
        ax: axes to draw on; default a new figure's axes.
        deterministic: a Series indexed by time, the run with every constant
            at its value; drawn last, thicker, labelled "deterministic run".
        title: the panel's title; default the variable. When given, the
            legend entries name the percentiles only.
        time_units: the model's time unit, for the x axis (years get year
            ticks).
    """
    if ax is None:
        ax = _new_figure(figsize=(5, 3.5)).add_subplot()
    cols = list(bands.columns)
    t = bands.index.to_numpy(dtype=float)
    color = colour_of("scenario", label) if label else ax._get_lines.get_next_color()
    prefix = "" if title is not None else label
    for k in range(len(cols) // 2):
        lo, hi = cols[k], cols[-1 - k]
        ax.fill_between(t, bands[lo], bands[hi], color=color, alpha=0.18 + 0.17 * k, linewidth=0,
                        label=f"{prefix} {lo:g}-{hi:g} %".strip())
    if len(cols) % 2:
        mid = cols[len(cols) // 2]
        ax.plot(t, bands[mid], color=color, linewidth=1.8, label=f"{prefix} median".strip())
    if deterministic is not None:
        ax.plot(deterministic.index.to_numpy(dtype=float), deterministic.to_numpy(dtype=float),
                label=DETERMINISTIC_LABEL, **DETERMINISTIC_STYLE)
    ax.set_title(title if title is not None else variable, fontsize=10)
    if units:
        ax.set_ylabel(f"[{units}]", fontsize=9)
    time_axis(ax, t, time_units)
    ax.tick_params(labelsize=8)
    ax.grid(True, alpha=0.3)
    return ax


def fan_chart_figure(panels, title: str = "", time_units: str | None = None) -> Figure:
    """Fan charts as small multiples: one panel per scenario and variable.

    Args:
        panels: list of ``(variable, units, series)``, ``series`` a list of
            ``(label, bands)`` or ``(label, bands, deterministic)`` (one per
            scenario; ``deterministic`` a Series indexed by time or
            ``None``). With one label the variables fill a grid of two
            columns; with several, each variable is a row (one y scale) and
            each label a column.
        title: the figure's title.
        time_units: the model's time unit, for the x axes.
    """
    if not panels:
        raise PyloopError("no series to draw; declare [bands] variables in the uncertainty file")
    labels = list(dict.fromkeys(entry[0] for _v, _u, series in panels for entry in series))
    cells = []  # (row, column, variable, units, label, bands, deterministic)
    if len(labels) <= 1:
        ncols = min(2, len(panels))
        nrows = math.ceil(len(panels) / ncols)
        for i, (variable, units, series) in enumerate(panels):
            for entry in series:
                cells.append((i // ncols, i % ncols, variable, units, *_entry(entry)))
        fig = _new_figure(figsize=(5.2 * ncols, 3.4 * nrows + 0.6))
        axes = fig.subplots(nrows, ncols, squeeze=False)
    else:
        ncols, nrows = len(labels), len(panels)
        for row, (variable, units, series) in enumerate(panels):
            for entry in series:
                cells.append((row, labels.index(entry[0]), variable, units, *_entry(entry)))
        fig = _new_figure(figsize=(4.4 * ncols, 2.9 * nrows + 0.8))
        axes = fig.subplots(nrows, ncols, squeeze=False, sharey="row")
    used = set()
    for row, col, variable, units, label, bands, deterministic in cells:
        name = variable if len(labels) <= 1 else f"{label}: {variable}"
        fan_chart(bands, variable, units, label, ax=axes[row, col], deterministic=deterministic,
                  title=name, time_units=time_units)
        used.add((row, col))
    for (row, col), ax in np.ndenumerate(axes):
        if (row, col) not in used:
            ax.set_visible(False)
    handles, names = {}, []
    for ax in axes.ravel():
        for handle, name in zip(*ax.get_legend_handles_labels()):
            if name not in handles:
                handles[name] = handle
                names.append(name)
    fig.legend([handles[n] for n in names], names, loc="outside lower center", ncols=min(len(names), 4),
               fontsize=9, frameon=False)
    if title:
        fig.suptitle(title, fontsize=12)
    return fig


def _entry(entry) -> tuple:
    """``(label, bands, deterministic)`` of a series entry of two or three items."""
    label, bands, *rest = entry
    return label, bands, rest[0] if rest else None


def ranked_parameters(part, by: str, top: int | None = None) -> list[str]:
    """Parameters of one outcome's indices, largest ``by`` first (NaN last),
    at most ``top`` of them."""
    order = part[by].astype(float).sort_values(ascending=False, na_position="last", kind="stable")
    names = list(order.index)
    return names[:top] if top else names


def _index_bars(table, columns, errors, labels, title: str, xlabel: str, rank_by: str | None = None,
                top: int | None = None, clip_below: float | None = None, note: str = "") -> Figure:
    outcomes = list(dict.fromkeys(table.index.get_level_values(0)))
    params = list(dict.fromkeys(table.index.get_level_values(1)))
    shown = min(len(params), top) if top else len(params)
    n = len(outcomes)
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig = _new_figure(figsize=(5.2 * ncols, 0.3 * shown * nrows + 1.4 * nrows + 0.8))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    height = 0.8 / len(columns)
    for k, (ax, outcome) in enumerate(zip(axes, outcomes)):
        order = ranked_parameters(table.loc[outcome], rank_by, top) if rank_by else params
        part = table.loc[outcome].reindex(order)
        y = list(range(len(order)))
        for i, (col, err, lab) in enumerate(zip(columns, errors, labels)):
            vals = part[col].to_numpy(dtype=float)
            xerr = part[err].to_numpy(dtype=float) if err else None
            if clip_below is not None and xerr is not None:
                # a clipped estimate keeps its interval [estimate - conf, estimate + conf]
                # (widened to reach the bar drawn at the clip)
                shown = np.clip(vals, clip_below, None)
                xerr = np.vstack([np.maximum(shown - (vals - xerr), 0), np.maximum(vals + xerr - shown, 0)])
            if clip_below is not None:
                vals = np.clip(vals, clip_below, None)
            ax.barh([v + (i - (len(columns) - 1) / 2) * height for v in y], vals, height=height,
                    xerr=xerr, label=lab, error_kw={"elinewidth": 0.8, "capsize": 1.5})
        ax.set_yticks(y)
        ax.set_yticklabels(order if rank_by or k % ncols == 0 else [], fontsize=8)
        ax.invert_yaxis()
        ax.set_title(outcome, fontsize=10)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(True, axis="x", alpha=0.3)
    for ax in axes[n:]:
        ax.set_visible(False)
    handles, labs = axes[0].get_legend_handles_labels()
    fig.legend(handles, labs, loc="outside lower center", ncols=len(labs), fontsize=9, frameon=False)
    if note:
        fig.supxlabel(note, fontsize=8, color="#444")
    fig.suptitle(title, fontsize=12)
    return fig


#: How many parameters a Sobol panel shows (the CSV holds them all).
SOBOL_TOP = 10
#: The caption note of a Sobol figure on negative first-order estimates.
SOBOL_NOTE = ("Parameters ranked by total index ST (largest first). A first-order estimate below 0 is "
              "sampling noise (the true index is never negative): drawn at 0, its bar keeps its interval.")


def sobol_figure(indices, title: str = "Sobol indices", top: int | None = SOBOL_TOP) -> Figure:
    """Bars of total (ST) and first-order (S1) Sobol indices, one panel per
    outcome, parameters ranked by ST (largest first), at most ``top`` each.

    Args:
        indices: DataFrame indexed by (outcome, parameter) with columns
            ``S1``, ``S1_conf``, ``ST``, ``ST_conf`` (as from
            :func:`pyloop.sensitivity.ensemble.sobol_indices`); error bars are the
            95 % confidence half-widths. Estimates below 0 (sampling noise)
            are drawn at 0 with their whole interval, as the figure's note
            says.
        top: most parameters per panel (``None``: all).
    """
    return _index_bars(indices, ["ST", "S1"], ["ST_conf", "S1_conf"],
                       ["total ST", "first order S1"], title, "share of variance", rank_by="ST", top=top,
                       clip_below=0.0, note=SOBOL_NOTE)


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
        left.text(-0.02, i, format_bound(mn, span), ha="right", va="center", fontsize=7, color="#555")
        left.text(1.02, i, format_bound(mx, span), ha="left", va="center", fontsize=7, color="#555")
        left.text((lo - mn) / span + (hi - lo) / span / 2, i, f"{format_bound(lo, span)} - {format_bound(hi, span)}",
                  ha="center", va="center", fontsize=7.5, color="white", weight="bold")
    if not names:
        left.text(0.5, 0.5, "no restriction matters:\nno assumption separates the cases", ha="center",
                  va="center", fontsize=9, color="#555")
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
