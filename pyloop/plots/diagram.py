"""The stock-and-flow diagram: one view of a Vensim sketch drawn as boxes,
pipes, valves, clouds and arrows.

Coordinates are Vensim screen units (about a pixel, y pointing down); the
figure is ``scale`` inches per unit, so a view keeps its proportions.
"""

from __future__ import annotations

import math
import textwrap
from typing import TYPE_CHECKING

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from pyloop.errors import PyloopError

if TYPE_CHECKING:
    from pyloop.engine.vensim_sketch import Arrow, Item, View

__all__ = [
    "ARROW_COLOUR",
    "LOOP_COLOUR",
    "NAME_COLOUR",
    "PIPE_COLOUR",
    "SHADOW_COLOUR",
    "outline",
    "pipe_ends",
    "view_figure",
    "wrap_name",
]

NAME_COLOUR = "#1b1b1b"
"""Names and stock boxes of variables defined on the view (near-black)."""
SHADOW_COLOUR = "#555555"
"""Names and boxes of shadow variables, defined on another view (dark grey)."""
ARROW_COLOUR = "#1f4e9c"
"""Causal arrows (dark blue)."""
PIPE_COLOUR = "#333333"
"""Pipes, valves and clouds (dark grey)."""
LOOP_COLOUR = "#b00000"
"""Polarity signs, loop symbols and comments (dark red)."""

_FONT_SIZE = 7.2  # points
_CLOUD_HALF = (11.0, 9.0)  # half-width, half-height of a drawn cloud, screen units
_VALVE_HALF = (6.0, 7.0)
_CHAR_WIDTH = 5.2  # screen units per character of a name at _FONT_SIZE, with margin


def wrap_name(name: str, width: int) -> str:
    """Break a name into lines of about ``width`` characters, at spaces only.

    A word longer than ``width`` stays whole on a line of its own: a name is
    never cut inside a word or at a hyphen. The lines are balanced: the
    fewest lines ``width`` allows, the longest as short as that number
    permits (no long first line over a lone last word).
    """

    def wrap(w: int) -> list[str]:
        return textwrap.wrap(name, w, break_long_words=False, break_on_hyphens=False)

    width = max(width, 6)
    lines = wrap(width)
    for narrower in range(max(len(name) // max(len(lines), 1), 1), width):
        if len(wrap(narrower)) == len(lines):
            lines = wrap(narrower)
            break
    return "\n".join(lines) or name


def outline(item: Item) -> tuple[float, float]:
    """Half-width and half-height (screen units) of what is drawn for an object:
    the box of a stock, the shape of a valve or cloud, the text of a name."""
    if item.kind == "valve":
        return _VALVE_HALF
    if item.kind == "cloud":
        return _CLOUD_HALF
    if item.kind == "variable" and item.stock:
        return item.width, item.height
    return item.width + 2, item.height + 2


def _toward(item: Item, tx: float, ty: float) -> tuple[float, float]:
    """Where the line from an object's centre toward (tx, ty) leaves its outline."""
    w, h = outline(item)
    dx, dy = tx - item.x, ty - item.y
    if dx == 0 and dy == 0:
        return item.x, item.y
    s = min(w / abs(dx) if dx else math.inf, h / abs(dy) if dy else math.inf)
    return item.x + dx * s, item.y + dy * s


def pipe_ends(valve: Item, end: Item) -> tuple[tuple[float, float], tuple[float, float]]:
    """The two ends of the half-pipe from a valve to a stock or cloud.

    The pipe starts at the valve's centre and stops on the facing edge of
    the stock's box or the cloud's outline: straight across when the valve
    is level with the box (a horizontal pipe), straight up or down when it
    is in line with it (a vertical pipe), else toward the box's centre. The
    point Vensim stores for the pipe is not used, as it can be stale.
    """
    w, h = outline(end)
    dx, dy = end.x - valve.x, end.y - valve.y
    if abs(dy) <= h and abs(dx) > w:
        stop = (end.x - math.copysign(w, dx), valve.y)
    elif abs(dx) <= w and abs(dy) > h:
        stop = (valve.x, end.y - math.copysign(h, dy))
    else:
        stop = _toward(end, valve.x, valve.y)
    return (valve.x, valve.y), stop


def _draw_pipe(ax, start: tuple[float, float], stop: tuple[float, float], head: bool) -> None:
    from matplotlib.patches import Polygon

    (ax0, ay0), (px, py) = start, stop
    angle = math.atan2(py - ay0, px - ax0)
    if head:  # the pipe stops at the arrowhead's base, the tip touches the edge
        px, py = px - 7 * math.cos(angle), py - 7 * math.sin(angle)
    for colour, width, z in ((PIPE_COLOUR, 3.2, 1), ("white", 1.4, 1.1)):
        ax.plot([ax0, px], [ay0, py], color=colour, lw=width, solid_capstyle="butt", zorder=z, label="pipe")
    if head:
        tip = stop
        ax.add_patch(Polygon([tip, (px - 6 * math.sin(angle), py + 6 * math.cos(angle)),
                              (px + 6 * math.sin(angle), py - 6 * math.cos(angle))], color=PIPE_COLOUR, zorder=1.2))


def _draw_arrow(ax, a: Item, b: Item, arrow: Arrow) -> None:
    from matplotlib.patches import FancyArrowPatch

    mx, my = arrow.control if arrow.control else ((a.x + b.x) / 2, (a.y + b.y) / 2)
    sx, sy = _toward(a, mx, my)
    ex, ey = _toward(b, mx, my)
    length = math.hypot(ex - sx, ey - sy) or 1.0
    bend = ((mx - (sx + ex) / 2) * -(ey - sy) + (my - (sy + ey) / 2) * (ex - sx)) / length
    style = f"arc3,rad={-2 * bend / length:.3f}" if arrow.control else "arc3,rad=0"
    ax.add_patch(FancyArrowPatch((sx, sy), (ex, ey), connectionstyle=style, arrowstyle="-|>", mutation_scale=8,
                                 color=ARROW_COLOUR, lw=0.9, zorder=2))
    if arrow.polarity:
        ax.text(ex + (sx - ex) * 0.12, ey + (sy - ey) * 0.12 - 6, arrow.polarity, fontsize=8, color=LOOP_COLOUR,
                ha="center", va="center", zorder=4)


def _draw_item(ax, item: Item) -> None:
    from matplotlib.patches import Arc, Circle, Polygon, Rectangle

    x, y = item.x, item.y
    if item.kind == "variable":
        colour = SHADOW_COLOUR if item.shadow else NAME_COLOUR
        label = f"<{item.name}>" if item.shadow else item.name
        if item.stock:
            ax.add_patch(Rectangle((x - item.width, y - item.height), 2 * item.width, 2 * item.height,
                                   fc="white", ec=colour, lw=1.2, ls="--" if item.shadow else "-", zorder=3))
            ax.text(x, y, wrap_name(label, int(item.width * 2 / 6.2)), ha="center", va="center",
                    fontsize=_FONT_SIZE, color=colour, zorder=4)
        else:
            ax.text(x, y, wrap_name(label, max(16, int(item.width * 2 / _CHAR_WIDTH))), ha="center", va="center",
                    fontsize=_FONT_SIZE, color=colour, zorder=4, bbox={"fc": "white", "ec": "none", "pad": 0.3, "alpha": 0.85})
    elif item.kind == "valve":
        w, h = _VALVE_HALF
        ax.add_patch(Polygon([(x - w, y - h), (x + w, y - h), (x - w, y + h), (x + w, y + h)], closed=True,
                             fc="white", ec=PIPE_COLOUR, lw=1, zorder=3))
    elif item.kind == "cloud":  # four puffs filling the outline
        for dx, dy, r in ((-5, 0, 6), (5, -3, 6), (6, 4, 5), (0, 3, 6)):
            ax.add_patch(Circle((x + dx, y + dy), r, fc="white", ec=PIPE_COLOUR, lw=0.8, zorder=3))
        ax.add_patch(Circle((x, y), 5.5, fc="white", ec="none", zorder=3.1))
    elif item.kind == "loop":
        ax.add_patch(Arc((x, y), 30, 30, theta1=40, theta2=350, color=LOOP_COLOUR, lw=1.2, zorder=3))
        ax.text(x, y, item.name, ha="center", va="center", fontsize=8, color=LOOP_COLOUR, weight="bold", zorder=4)
    else:
        ax.text(x, y, item.name, ha="center", va="center", fontsize=8, color=LOOP_COLOUR, style="italic", zorder=4)


def view_figure(view: View, scale: float = 1 / 80) -> Figure:
    """Draw one view of a Vensim sketch as a stock-and-flow diagram.

    Stocks are boxes, flows are pipes with valves, clouds are sources and
    sinks outside the model, arrows are causal links with their polarity,
    shadow variables are dark grey, in dashed boxes and in angle brackets,
    loop symbols are red. Names are near-black on white.

    Args:
        view: a :class:`pyloop.engine.vensim_sketch.View`.
        scale: inches per Vensim screen unit.
    """
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
    for arrow in view.arrows:
        a, b = items.get(arrow.source), items.get(arrow.target)
        if a is None or b is None:
            continue
        if arrow.pipe and "valve" in (a.kind, b.kind):
            valve, end = (a, b) if a.kind == "valve" else (b, a)
            _draw_pipe(ax, *pipe_ends(valve, end), arrow.head)
        else:
            _draw_arrow(ax, a, b, arrow)
    for item in items.values():
        _draw_item(ax, item)
    ax.text(x0 + 10, y0 + 20, view.title, fontsize=12, weight="bold", va="top", color=NAME_COLOUR)
    return fig
