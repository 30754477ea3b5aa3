"""Figures of run results: one variable over time, a grid comparing runs,
and saving a figure to a file."""

from __future__ import annotations

import math
import os
from typing import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pyloop.errors import PyloopError
from pyloop.plots.style import (
    MAX_ELEMENTS,
    MAX_PANELS,
    MAX_RUNS_PER_PANEL,
    REFERENCE_RUN,
    REFERENCE_WIDTH,
    RUN_WIDTH,
    _new_figure,
    _title,
    _wrap,
    run_colour,
    time_axis,
)
from pyloop.comparison import variable_columns
from pyloop.runner import RunResult

__all__ = ["comparison_figure", "plot_variable", "save_figure", "small_multiples_figure"]


def _style(name: str) -> dict:
    """Colour, width and drawing order of a run's line."""
    reference = name == REFERENCE_RUN
    return dict(
        color=run_colour(name),
        linewidth=REFERENCE_WIDTH if reference else RUN_WIDTH,
        zorder=3 if reference else 2,
    )


def _ordered(results: Sequence[RunResult]) -> list[RunResult]:
    """The runs with the reference run last, so it is drawn over the others."""
    return sorted(results, key=lambda r: r.name == REFERENCE_RUN)


def plot_variable(
    results: Sequence[RunResult],
    variable: str,
    ax: Axes | None = None,
    highlight: str | None = None,
) -> Axes:
    """Draw one variable over time, one line per run (per element, for the
    first :data:`MAX_ELEMENTS` elements of a subscripted variable).

    Each run keeps its scenario's colour (:func:`~pyloop.plots.style.colour_of`);
    the reference run ``baseline`` is drawn last, thicker and in black.

    Args:
        results: runs that all have the variable's column(s).
        variable: variable name as in the model file.
        ax: axes to draw on; default a new figure's axes.
        highlight: draw only this run (and the reference run) in colour,
            the others thin and grey without a legend entry (one panel of
            small multiples).

    Returns:
        The axes drawn on. The title and the y label carry the variable's
        units; the x axis is time in the model's time unit, years written
        as years.
    """
    if ax is None:
        ax = _new_figure(figsize=(5, 3.5)).add_subplot()
    units = None
    title = variable
    for r in _ordered(results):
        columns = variable_columns(r.frame.columns, variable)
        if not columns:
            raise PyloopError(f"run '{r.name}' has no variable '{variable}' to plot")
        if len(columns) > MAX_ELEMENTS:
            title = f"{variable} (first {MAX_ELEMENTS} of {len(columns)} elements)"
        style = _style(r.name)
        background = highlight is not None and r.name not in (highlight, REFERENCE_RUN)
        if background:
            style = dict(color="#c8c8c8", linewidth=0.8, zorder=1)
        elif highlight is not None and r.name == highlight and r.name != REFERENCE_RUN:
            style.update(zorder=4, linewidth=1.8)  # over the thicker reference, which still shows
        for column in columns[:MAX_ELEMENTS]:
            label = r.name if column == variable else f"{r.name} {column[len(variable):]}"
            ax.plot(r.frame.index, r.frame[column], label=f"_{label}" if background else label, **style)
        units = units or r.units.get(columns[0])
    ax.set_title(_title(title, units), fontsize=10)
    ax.set_ylabel(f"[{units}]" if units else variable, fontsize=8)
    time_axis(ax, [], results[0].time_units if results else None)
    ax.tick_params(labelsize=8)
    ax.grid(True, alpha=0.3)
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4), useOffset=False)
    return ax


def _check(results: Sequence[RunResult], variables: list[str]) -> None:
    if not results:
        raise PyloopError("no runs to plot")
    if not variables:
        raise PyloopError("no variables to plot; name some key variables")
    if len(variables) > MAX_PANELS:
        raise PyloopError(
            f"{len(variables)} variables is too many for one figure; pick at most {MAX_PANELS}"
        )


def comparison_figure(results: Sequence[RunResult], variables: Sequence[str]) -> Figure:
    """A grid of small panels, one per variable, one line per run.

    Up to :data:`~pyloop.plots.style.MAX_RUNS_PER_PANEL` runs share a
    panel; more runs become small multiples (:func:`small_multiples_figure`).

    Args:
        results: the runs to compare (at least one).
        variables: up to :data:`MAX_PANELS` variable names; panel titles
            show each variable's units.

    Returns:
        The figure, with a single legend of run names below the panels.
    """
    variables = list(variables)
    _check(results, variables)
    if len(results) > MAX_RUNS_PER_PANEL:
        return small_multiples_figure(results, variables)
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
    given = {r.name: i for i, r in enumerate(results)}  # legend in the order given
    rank = [given.get(label.split(" ", 1)[0], len(given)) for label in labels]
    pairs = sorted(zip(rank, range(len(labels)), handles, labels))
    handles, labels = [h for *_, h, _ in pairs], [label for *_, label in pairs]
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


def small_multiples_figure(results: Sequence[RunResult], variables: Sequence[str]) -> Figure:
    """Many runs as small multiples: a row per variable, a column per run
    other than the reference; each panel shows its run in its colour over
    the reference run (black) and the other runs (thin grey), with the
    y range shared along the row.

    Args:
        results: the runs to compare (at least one).
        variables: up to :data:`MAX_PANELS` variable names.
    """
    variables = list(variables)
    _check(results, variables)
    columns = [r for r in results if r.name != REFERENCE_RUN] or list(results)
    nrows, ncols = len(variables), len(columns)
    fig = _new_figure(figsize=(2.4 * ncols + 0.6, 2.1 * nrows + 0.8))
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey="row")
    for i, variable in enumerate(variables):
        for j, r in enumerate(columns):
            ax = axes[i, j]
            plot_variable(results, variable, ax=ax, highlight=r.name)
            ax.set_title(r.name if i == 0 else "", fontsize=9, color=run_colour(r.name))
            if j:
                ax.set_ylabel("")
            else:
                units = r.units.get(variable)
                ax.set_ylabel(_title(_wrap(variable, 22), units), fontsize=8)
            if i < nrows - 1:
                ax.set_xlabel("")
            ax.tick_params(labelsize=7)
    reference = " (black: baseline)" if any(r.name == REFERENCE_RUN for r in results) else ""
    fig.suptitle(f"{results[0].model}: {len(results)} runs, one column per run{reference}", fontsize=12)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = 120) -> None:
    """Write ``fig`` to ``path`` (format from the suffix, e.g. ``.png``) at
    ``dpi`` dots per inch. In SVG, text stays text (searchable, selectable).
    A PNG is stored with a palette of at most 256 colours (a chart's flat
    colours and their anti-aliased edges fit; about a third of the bytes of
    full colour)."""
    import io

    from matplotlib import rc_context

    if str(path).lower().endswith(".png"):
        from PIL import Image

        buffer = io.BytesIO()
        fig.savefig(buffer, dpi=dpi, format="png")
        buffer.seek(0)
        with Image.open(buffer) as image:
            palette = image.convert("RGB").quantize(
                colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
            )
            palette.save(path, format="PNG", optimize=True)
        return
    with rc_context({"svg.fonttype": "none"}):
        fig.savefig(path, dpi=dpi)
