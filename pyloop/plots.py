"""Figures of run results; the only module that uses matplotlib.

Functions take finished :class:`~pyloop.runner.RunResult` objects and draw;
they compute nothing. Each drawing function takes an optional ``ax`` and
returns what it drew on. New figures are drawn on matplotlib's Agg canvas
directly, without pyplot, so no display is needed and the caller's pyplot
state and backend are left alone.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Sequence

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .errors import PyloopError
from .runner import RunResult

if TYPE_CHECKING:
    from .sketch import View

__all__ = ["comparison_figure", "plot_variable", "save_figure", "view_figure", "MAX_PANELS"]

#: Most panels in one comparison figure.
MAX_PANELS = 9


def _new_figure(figsize: tuple[float, float]) -> Figure:
    """A figure of ``figsize`` inches on an Agg canvas, outside pyplot."""
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _title(variable: str, units: str | None) -> str:
    return f"{variable}\n[{units}]" if units else variable


def plot_variable(results: Sequence[RunResult], variable: str, ax: Axes | None = None) -> Axes:
    """Draw one variable over time, one line per run.

    Args:
        results: runs that all have a column ``variable``.
        variable: variable name as in the model file.
        ax: axes to draw on; default a new figure's axes.

    Returns:
        The axes drawn on. The title carries the variable's units; the
        x axis is time in the model's time unit.
    """
    if ax is None:
        ax = _new_figure(figsize=(5, 3.5)).add_subplot()
    units = None
    for r in results:
        if variable not in r.frame.columns:
            raise PyloopError(f"run '{r.name}' has no variable '{variable}' to plot")
        ax.plot(r.frame.index, r.frame[variable], label=r.name, linewidth=1.6)
        units = units or r.units.get(variable)
    ax.set_title(_title(variable, units), fontsize=10)
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


# ------------------------------------------------------------ diagram views
def _wrap(text: str, width: int) -> str:
    """Break a name into lines of about ``width`` characters."""
    import textwrap

    return "\n".join(textwrap.wrap(text, max(width, 6))) or text


def view_figure(view: "View", scale: float = 1 / 80) -> Figure:
    """Draw one view of a Vensim sketch as a stock-and-flow diagram.

    Stocks are boxes, flows are pipes with valves, clouds are sources and
    sinks outside the model, arrows are causal links with their polarity,
    shadow variables are grey and in angle brackets, loop symbols are red.

    Args:
        view: a :class:`pyloop.sketch.View`.
        scale: inches per Vensim screen unit.
    """
    from matplotlib.patches import Arc, Circle, FancyArrowPatch, Polygon, Rectangle

    items = view.items
    if not items:
        raise PyloopError(f"view '{view.title}' is empty")
    xs = [i.x for i in items.values()]
    ys = [i.y for i in items.values()]
    x0, x1, y0, y1 = min(xs) - 90, max(xs) + 110, min(ys) - 50, max(ys) + 50
    fig = Figure(figsize=((x1 - x0) * scale, (y1 - y0) * scale))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y1, y0)
    ax.axis("off")
    size = 7.2

    def half_box(item) -> tuple[float, float]:
        if item.kind == "valve":
            return 7.0, 7.0
        if item.kind == "variable" and item.stock:
            return item.width, item.height
        return item.width + 2, item.height + 2

    def edge(item, tx: float, ty: float) -> tuple[float, float]:
        w, h = half_box(item)
        dx, dy = tx - item.x, ty - item.y
        if dx == 0 and dy == 0:
            return item.x, item.y
        s = min(w / abs(dx) if dx else 1e9, h / abs(dy) if dy else 1e9)
        return item.x + dx * s, item.y + dy * s

    for arrow in view.arrows:
        a, b = items.get(arrow.source), items.get(arrow.target)
        if a is None or b is None:
            continue
        if arrow.pipe:
            px, py = (b.x, b.y) if arrow.control is None else arrow.control
            ax.plot([a.x, px], [a.y, py], color="#444", lw=3.2, solid_capstyle="butt", zorder=1)
            ax.plot([a.x, px], [a.y, py], color="white", lw=1.4, solid_capstyle="butt", zorder=1.1)
            if arrow.head:
                angle = math.atan2(py - a.y, px - a.x)
                hx, hy = px - 7 * math.cos(angle), py - 7 * math.sin(angle)
                ax.add_patch(Polygon([(px, py), (hx - 6 * math.sin(angle), hy + 6 * math.cos(angle)),
                                      (hx + 6 * math.sin(angle), hy - 6 * math.cos(angle))], color="#444", zorder=1.2))
            continue
        mx, my = arrow.control if arrow.control else ((a.x + b.x) / 2, (a.y + b.y) / 2)
        sx, sy = edge(a, mx, my)
        ex, ey = edge(b, mx, my)
        length = math.hypot(ex - sx, ey - sy) or 1.0
        bend = ((mx - (sx + ex) / 2) * -(ey - sy) + (my - (sy + ey) / 2) * (ex - sx)) / length
        style = f"arc3,rad={-2 * bend / length:.3f}" if arrow.control else "arc3,rad=0"
        ax.add_patch(
            FancyArrowPatch(
                (sx, sy), (ex, ey), connectionstyle=style, arrowstyle="-|>", mutation_scale=8, color="#1f4e9c", lw=0.8, zorder=2
            )
        )
        if arrow.polarity:
            ax.text(ex + (sx - ex) * 0.12, ey + (sy - ey) * 0.12 - 6, arrow.polarity, fontsize=8, color="#b00",
                    ha="center", va="center", zorder=4)
    for item in items.values():
        if item.kind == "variable":
            colour = "#888" if item.shadow else "black"
            label = f"<{item.name}>" if item.shadow else item.name
            if item.stock:
                ax.add_patch(Rectangle((item.x - item.width, item.y - item.height), 2 * item.width, 2 * item.height,
                                       fc="white", ec=colour, lw=1.2, zorder=3))
                ax.text(item.x, item.y, _wrap(label, int(item.width * 2 / 6.2)), ha="center", va="center",
                        fontsize=size, color=colour, zorder=4)
            else:
                ax.text(item.x, item.y, _wrap(label, 16), ha="center", va="center", fontsize=size, color=colour,
                        zorder=4, bbox=dict(fc="white", ec="none", pad=0.3, alpha=0.85))
        elif item.kind == "valve":
            ax.add_patch(Polygon([(item.x - 6, item.y - 7), (item.x + 6, item.y - 7), (item.x - 6, item.y + 7),
                                  (item.x + 6, item.y + 7)], closed=True, fc="white", ec="#444", lw=1, zorder=3))
        elif item.kind == "cloud":
            for dx, dy, r in ((-5, 0, 6), (4, -3, 6), (4, 4, 5), (0, 1, 6)):
                ax.add_patch(Circle((item.x + dx, item.y + dy), r, fc="white", ec="#444", lw=0.8, zorder=3))
            ax.add_patch(Circle((item.x, item.y), 5.5, fc="white", ec="none", zorder=3.1))
        elif item.kind == "loop":
            ax.add_patch(Arc((item.x, item.y), 30, 30, theta1=40, theta2=350, color="#b00", lw=1.2, zorder=3))
            ax.text(item.x, item.y, item.name, ha="center", va="center", fontsize=8, color="#b00", weight="bold", zorder=4)
        else:
            ax.text(item.x, item.y, item.name, ha="center", va="center", fontsize=8, color="#b00", style="italic", zorder=4)
    ax.text(x0 + 10, y0 + 20, view.title, fontsize=12, weight="bold", va="top")
    return fig
