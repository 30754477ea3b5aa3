"""Figures of run results: one variable over time, a grid comparing runs,
and saving a figure to a file."""

from __future__ import annotations

import math
import os
from typing import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pyloop.errors import PyloopError
from pyloop.plots.style import MAX_ELEMENTS, MAX_PANELS, _new_figure, _title
from pyloop.runner import RunResult, variable_columns

__all__ = ["comparison_figure", "plot_variable", "save_figure"]


def plot_variable(results: Sequence[RunResult], variable: str, ax: Axes | None = None) -> Axes:
    """Draw one variable over time, one line per run (per element, for the
    first :data:`MAX_ELEMENTS` elements of a subscripted variable).

    Args:
        results: runs that all have the variable's column(s).
        variable: variable name as in the model file.
        ax: axes to draw on; default a new figure's axes.

    Returns:
        The axes drawn on. The title carries the variable's units; the
        x axis is time in the model's time unit.
    """
    if ax is None:
        ax = _new_figure(figsize=(5, 3.5)).add_subplot()
    units = None
    title = variable
    for r in results:
        columns = variable_columns(r.frame.columns, variable)
        if not columns:
            raise PyloopError(f"run '{r.name}' has no variable '{variable}' to plot")
        if len(columns) > MAX_ELEMENTS:
            title = f"{variable} (first {MAX_ELEMENTS} of {len(columns)} elements)"
        for column in columns[:MAX_ELEMENTS]:
            label = r.name if column == variable else f"{r.name} {column[len(variable):]}"
            ax.plot(r.frame.index, r.frame[column], label=label, linewidth=1.6)
        units = units or r.units.get(columns[0])
    ax.set_title(_title(title, units), fontsize=10)
    time_units = results[0].time_units if results else None
    ax.set_xlabel(f"time [{time_units}]" if time_units else "time", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(True, alpha=0.3)
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4), useOffset=False)
    return ax


def comparison_figure(results: Sequence[RunResult], variables: Sequence[str]) -> Figure:
    """A grid of small panels, one per variable, one line per run.

    Args:
        results: the runs to compare (at least one).
        variables: up to :data:`MAX_PANELS` variable names; panel titles
            show each variable's units.

    Returns:
        The figure, with a single legend of run names below the panels.
    """
    variables = list(variables)
    if not results:
        raise PyloopError("no runs to plot")
    if not variables:
        raise PyloopError("no variables to plot; name some key variables")
    if len(variables) > MAX_PANELS:
        raise PyloopError(
            f"{len(variables)} variables is too many for one figure; pick at most {MAX_PANELS}"
        )
    n = len(variables)
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig = _new_figure(figsize=(4.2 * ncols, 3.0 * nrows + 0.8))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    flat = axes.ravel()
    for ax, variable in zip(flat, variables):
        plot_variable(results, variable, ax=ax)
    for ax in flat[n:]:
        ax.set_visible(False)
    handles, labels = flat[0].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="outside lower center",
        ncols=min(len(labels), 4),
        fontsize=9,
        frameon=False,
    )
    model = results[0].model
    fig.suptitle(f"{model}: {len(results)} run{'s' if len(results) != 1 else ''}", fontsize=12)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = 120) -> None:
    """Write ``fig`` to ``path`` (format from the suffix, e.g. ``.png``) at
    ``dpi`` dots per inch. In SVG, text stays text (searchable, selectable)."""
    from matplotlib import rc_context

    with rc_context({"svg.fonttype": "none"}):
        fig.savefig(path, dpi=dpi)
