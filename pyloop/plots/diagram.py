"""The stock-and-flow diagram: one view of a Vensim sketch drawn as boxes,
pipes, valves, clouds and arrows."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pyloop.errors import PyloopError
from pyloop.plots.style import _wrap

if TYPE_CHECKING:
    from pyloop.engine.vensim_sketch import View

__all__ = ["view_figure"]


def view_figure(view: "View", scale: float = 1 / 80) -> Figure:
    """Draw one view of a Vensim sketch as a stock-and-flow diagram.

    Stocks are boxes, flows are pipes with valves, clouds are sources and
    sinks outside the model, arrows are causal links with their polarity,
    shadow variables are grey and in angle brackets, loop symbols are red.

    Args:
        view: a :class:`pyloop.engine.vensim_sketch.View`.
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
