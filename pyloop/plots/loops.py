"""Figures of loop dominance: relative loop scores, dominance phases,
knockout comparisons and what drives one variable."""

from __future__ import annotations

import math
from typing import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pyloop.errors import PyloopError
from pyloop.plots.style import (
    MAX_PANELS,
    REFERENCE_COLOUR,
    REFERENCE_WIDTH,
    RUN_WIDTH,
    _POLARITY_COLOURS,
    _new_figure,
    _title,
    _wrap,
    colour_of,
    time_axis,
)
from pyloop.text_format import format_number

__all__ = [
    "knockout_figure",
    "loop_dominance_figure",
    "plot_dominance_phases",
    "plot_knockouts",
    "plot_relative_loop_scores",
    "variable_dominance_figure",
]


def _loop_label(loop) -> str:
    return f"{loop.id} {loop.name}" if loop.name else f"{loop.id} ({loop.length} links)"


def plot_relative_loop_scores(analysis, ax: Axes | None = None, top: int = 10) -> Axes:
    """Relative loop scores over time as stacked areas: reinforcing loops
    above the axis, balancing loops below.

    Args:
        analysis: a :class:`~pyloop.analysis.loops.LoopAnalysis`.
        ax: axes to draw on; default a new figure's axes.
        top: how many loops to draw (named loops first, then the most
            active); the rest are summed into a grey "other loops" band.

    Returns:
        The axes drawn on.
    """
    if ax is None:
        ax = _new_figure(figsize=(9, 4.5)).add_subplot()
    rel = analysis.relative
    time = rel.index.to_numpy(dtype=float)
    shown = [k for k in analysis.loops if rel[k.id].abs().max() > 0][:top]
    if not shown:
        raise PyloopError(f"no loop is active in run '{analysis.run}'; nothing to plot")
    colours = [colour_of("loop", k.id) for k in shown]
    pos = [rel[k.id].clip(lower=0).to_numpy() for k in shown]
    neg = [rel[k.id].clip(upper=0).to_numpy() for k in shown]
    labels = [_loop_label(k) for k in shown]
    ax.stackplot(time, pos, colors=colours, labels=labels, linewidth=0)
    ax.stackplot(time, neg, colors=colours, linewidth=0)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylim(-1.02, 1.02)
    ax.set_ylabel("relative loop score [share, 1]\n(reinforcing > 0 > balancing)", fontsize=9)
    time_axis(ax, time)
    ax.set_title(
        f"Loop dominance in run '{analysis.run}' ({analysis.mode}, "
        f"shares of {analysis.total_loops} loops)",
        fontsize=10,
    )
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    return ax


def plot_dominance_phases(analysis, ax: Axes | None = None) -> Axes:
    """A strip of the dominance phases: red where reinforcing loops hold at
    least half of the loop activity, blue where balancing loops do, each
    long phase labelled with its strongest loop."""
    if ax is None:
        ax = _new_figure(figsize=(9, 1.2)).add_subplot()
    time = analysis.time
    span = float(time[-1] - time[0]) or 1.0
    dt = float(time[1] - time[0]) if len(time) > 1 else 0.0
    for p in analysis.polarity_phases:
        ax.axvspan(p.start, p.end + dt, color=_POLARITY_COLOURS.get(p.polarity, "grey"), alpha=0.8)
        if (p.end - p.start) > 0.08 * span and p.loops:
            ax.text((p.start + p.end) / 2, 0.5, f"{p.polarity}: {p.loops[0]}", ha="center",
                    va="center", fontsize=7, color="white")
    ax.set_xlim(time[0], time[-1])
    ax.set_yticks([])
    time_axis(ax, time)
    ax.set_ylabel("dominant", fontsize=8)
    from matplotlib.patches import Patch

    ax.legend(
        handles=[Patch(color=_POLARITY_COLOURS["R"], label="reinforcing"),
                 Patch(color=_POLARITY_COLOURS["B"], label="balancing")],
        loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False,
    )
    return ax


def loop_dominance_figure(analysis, top: int = 10) -> Figure:
    """Relative loop scores (stacked, R above and B below the axis) over a
    strip of dominance phases, sharing the time axis."""
    fig = _new_figure(figsize=(11, 6))
    top_ax, strip = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [5, 1]})
    plot_relative_loop_scores(analysis, ax=top_ax, top=top)
    top_ax.set_xlabel("")
    plot_dominance_phases(analysis, ax=strip)
    return fig


def _plausible_range(values: dict, base_key: str, factor: float = 5.0) -> tuple[float, float] | None:
    """A y range that holds the base run and every knockout run whose span
    stays within ``factor`` times the base run's; ``None`` when all fit."""
    import numpy as np

    def span(v):
        finite = v[np.isfinite(v)]
        return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)

    lo, hi = span(values[base_key])
    width = max(hi - lo, abs(hi), abs(lo), 1e-12)
    plausible = [span(v) for v in values.values()]
    plausible = [(a, b) for a, b in plausible if a >= lo - factor * width and b <= hi + factor * width]
    every = [span(v) for v in values.values()]
    if len(plausible) == len(every):
        return None
    low, high = min(a for a, _ in plausible), max(b for _, b in plausible)
    pad = 0.05 * max(high - low, 1e-12)
    return low - pad, high + pad


def plot_knockouts(runs, variable: str, ax: Axes | None = None, catalogue=None) -> Axes:
    """One variable in a base run and in each knockout run.

    Each knocked-out loop keeps its colour (:func:`~pyloop.plots.style.colour_of`);
    the base run is drawn last, black and thicker. A knockout whose values
    run far beyond the others (more than five times the base run's span
    away) does not set the y range: it is cut at the panel's edge and its
    legend entry says "clipped". The legend stands outside the data.

    Args:
        runs: ``{"base": RunResult, loop id: RunResult, ...}`` as returned
            by :func:`pyloop.analysis.loops.knockouts`.
        variable: the variable to draw.
        ax: axes to draw on; default a new figure's axes.
        catalogue: catalogue entries by id, for loop names in the legend.
    """
    import numpy as np

    if ax is None:
        ax = _new_figure(figsize=(8, 4)).add_subplot()
    if "base" not in runs:
        raise PyloopError("knockout runs need a 'base' run to compare against")
    values = {}
    for key, r in runs.items():
        if variable not in r.frame.columns:
            raise PyloopError(f"run '{r.name}' has no variable '{variable}' to plot")
        values[key] = r.frame[variable].to_numpy(dtype=float)
    limits = _plausible_range(values, "base")
    for key in [k for k in runs if k != "base"] + ["base"]:
        r = runs[key]
        v = values[key]
        if key == "base":
            label = "base run"
            style = dict(color=REFERENCE_COLOUR, linewidth=REFERENCE_WIDTH, zorder=3)
        else:
            name = catalogue[key].name if catalogue and key in catalogue else ""
            label = f"{key} off" + (f" ({name})" if name else "")
            style = dict(color=colour_of("loop", key), linewidth=RUN_WIDTH, zorder=2)
        finite = v[np.isfinite(v)]
        clipped = limits is not None and finite.size and (finite.min() < limits[0] or finite.max() > limits[1])
        if clipped:
            label += f", clipped (reaches {format_number(finite.min() if finite.min() < limits[0] else finite.max())})"
            style["linestyle"] = "--"
        ax.plot(r.frame.index, v, label=label, **style)
    if limits is not None:
        ax.set_ylim(*limits)
    base = runs["base"]
    units = base.units.get(variable)
    ax.set_title(_title(f"{variable}: loops knocked out", units), fontsize=10)
    time_axis(ax, base.frame.index.to_numpy(dtype=float), base.time_units)
    ax.set_ylabel(f"{_wrap(variable, 28)} [{units}]" if units else variable, fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    return ax


def knockout_figure(runs, variables: Sequence[str], catalogue=None) -> Figure:
    """A panel per variable comparing the base run with each knockout."""
    variables = list(variables)
    if not variables or len(variables) > MAX_PANELS:
        raise PyloopError(f"give 1 to {MAX_PANELS} variables for a knockout figure")
    ncols = min(2, len(variables))
    nrows = math.ceil(len(variables) / ncols)
    fig = _new_figure(figsize=(8.5 * ncols, 4 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, v in zip(axes, variables):
        plot_knockouts(runs, v, ax=ax, catalogue=catalogue)
    for ax in axes[len(variables):]:
        ax.set_visible(False)
    return fig


def _legend_label(group, stocks: int = 3) -> str:
    """A loop group's legend entry: its catalogued loops, or at most
    ``stocks`` of its stocks and how many more."""
    what, found, through = group.label.partition(" through ")
    names = through.split(", ")
    if group.names or not found or len(names) <= stocks:
        return group.label
    return f"{what} through {', '.join(names[:stocks])} and {len(names) - stocks} more stocks"


def variable_dominance_figure(dominance, values, top: int = 8) -> Figure:
    """A variable's trajectory coloured by the polarity of the loops driving
    it, with the loop groups' shares stacked beneath.

    Args:
        dominance: a :class:`~pyloop.analysis.loops.VariableDominance`.
        values: the variable's values over the run (a series or array
            aligned with ``dominance.time``).
        top: how many loop groups to draw; the rest form a grey band. A
            group's colour is its first loop's colour
            (:func:`~pyloop.plots.style.colour_of`), the same in every figure.

    Returns:
        The figure: the trajectory above (red where reinforcing groups hold
        at least half the variable's loop score, blue where balancing ones
        do, grey where no loop through it is active), the groups' signed
        shares below (reinforcing above the axis).
    """
    import numpy as np

    time = np.asarray(dominance.time, dtype=float)
    y = np.asarray(values, dtype=float)
    fig = _new_figure(figsize=(9, 6.5))
    top_ax, low_ax = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1.2, 1]})
    top_ax.plot(time, y, color=_POLARITY_COLOURS["U"], linewidth=1)
    for p in dominance.phases:
        inside = (time >= p.start - 1e-9) & (time <= p.end + 1e-9)
        first = max(int(np.argmax(inside)) - 1, 0)
        span = slice(first, int(np.nonzero(inside)[0][-1]) + 1)
        top_ax.plot(time[span], y[span], color=_POLARITY_COLOURS[p.polarity], linewidth=2.2)
    start, end = dominance.window
    top_ax.axvspan(start, end, color="#f4d03f", alpha=0.12, linewidth=0)
    top_ax.set_ylabel(dominance.variable, fontsize=9)
    # a figure title: constrained layout keeps it inside the figure, where an
    # axes title as wide as the axes and the legend would be cut
    fig.suptitle(
        f"What drives '{dominance.variable}' in run '{dominance.run}': red reinforcing, "
        "blue balancing",
        fontsize=10,
    )
    top_ax.grid(True, alpha=0.3)
    groups = [g for g in dominance.groups if np.abs(g.share).max() > 0]
    shown, rest = groups[:top], groups[top:]
    # one colour per loop in every figure: a named group's first catalogued
    # loop (its label starts with the id), else the group's first loop
    colours = [colour_of("loop", g.label if g.names else g.loops[0]) for g in shown]
    pos = [np.clip(g.share, 0, None) for g in shown]
    neg = [np.clip(g.share, None, 0) for g in shown]
    labels = [_wrap(_legend_label(g), 50) for g in shown]
    if rest:
        other = np.sum([g.share for g in rest], axis=0)
        pos.append(np.clip(other, 0, None))
        neg.append(np.clip(other, None, 0))
        colours.append("#bbbbbb")
        labels.append(f"{len(rest)} other groups")
    if pos:
        low_ax.stackplot(time, pos, colors=colours, labels=labels, linewidth=0)
        low_ax.stackplot(time, neg, colors=colours, linewidth=0)
        low_ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    low_ax.axhline(0, color="black", linewidth=0.8)
    low_ax.set_ylim(-1.02, 1.02)
    low_ax.set_ylabel("share of its loop score [1]\n(reinforcing > 0 > balancing)", fontsize=9)
    time_axis(low_ax, time)
    low_ax.grid(True, alpha=0.3)
    return fig
