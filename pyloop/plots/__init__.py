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

from pyloop.errors import PyloopError
from pyloop.runner import RunResult, variable_columns

if TYPE_CHECKING:
    from pyloop.engine.vensim_sketch import View

__all__ = ["comparison_figure", "plot_variable", "save_figure", "view_figure", "MAX_PANELS",
           "fan_chart", "fan_chart_figure", "sobol_figure", "morris_figure", "prim_figure"]

#: Most panels in one comparison figure.
MAX_PANELS = 9
#: Most elements of a subscripted variable drawn in one panel.
MAX_ELEMENTS = 6


def _new_figure(figsize: tuple[float, float]) -> Figure:
    """A figure of ``figsize`` inches on an Agg canvas, outside pyplot."""
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _title(variable: str, units: str | None) -> str:
    return f"{variable}\n[{units}]" if units else variable


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


# ------------------------------------------------------------ sensitivity
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
    color = ax._get_lines.get_next_color()
    for k in range(len(cols) // 2):
        lo, hi = cols[k], cols[-1 - k]
        ax.fill_between(t, bands[lo], bands[hi], color=color, alpha=0.18 + 0.17 * k, linewidth=0,
                        label=f"{label} {lo:g}-{hi:g} %".strip())
    if len(cols) % 2:
        mid = cols[len(cols) // 2]
        ax.plot(t, bands[mid], color=color, linewidth=1.8, label=f"{label} median".strip())
    ax.set_title(_title(variable, units), fontsize=10)
    ax.set_xlabel("time", fontsize=9)
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


# ------------------------------------------------------------------- ledger
#: Colours of sectors by position: ring firms first, then outside sectors.
_SECTOR_COLOURS = (
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
    "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
)


def _sector_palette(sectors: Sequence[str]) -> dict[str, str]:
    """Sector name -> colour, stable for a given sector order."""
    return {s: _SECTOR_COLOURS[i % len(_SECTOR_COLOURS)] for i, s in enumerate(sectors)}


def _origin_colour(origin: str, palette: dict[str, str]) -> tuple[float, float, float]:
    """Colour of an origin label: its sector's colour; a firm's opening cash
    in a pale shade of the firm's colour."""
    from matplotlib.colors import to_rgb

    for sector, colour in palette.items():
        if origin == sector:
            return to_rgb(colour)
        if origin.startswith(sector + " "):
            r, g, b = to_rgb(colour)
            return (1 - 0.55 * (1 - r), 1 - 0.55 * (1 - g), 1 - 0.55 * (1 - b))
    return to_rgb("#999999")


def _money_sectors(money, sectors: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """Ring firms and outside sectors of a :func:`pyloop.analysis.ledger.money_between`
    table, in the order of ``sectors`` (default: of first appearance)."""
    ring: list[str] = []
    outside: list[str] = []
    for row in money.itertuples():
        payer_in = row.crosses in ("out", "inside")
        payee_in = row.crosses in ("in", "inside")
        for name, inside in ((row.payer, payer_in), (row.payee, payee_in)):
            target = ring if inside else outside
            if name not in ring and name not in outside:
                target.append(name)
    if sectors is not None:
        rank = {s: i for i, s in enumerate(sectors)}
        ring.sort(key=lambda s: rank.get(s, len(rank)))
        outside.sort(key=lambda s: rank.get(s, len(rank)))
    return ring, outside


def plot_money_flows(
    money,
    ax: Axes | None = None,
    title: str | None = None,
    units: str = "B$",
    sectors: Sequence[str] | None = None,
) -> Axes:
    """An alluvial diagram of the money moved between sectors.

    Args:
        money: table as from :func:`pyloop.analysis.ledger.money_between`: indexed by
            flow, columns ``payer``, ``payee``, ``amount``, ``crosses``.
        ax: axes to draw on; default a new figure's axes.
        title: axes title.
        units: money unit, for the labels.
        sectors: sector order (ring firms first) that fixes the order of the
            nodes and the colours; default the order of first appearance.

    Returns:
        The axes. Payers stand on the left (outside sectors paying into the
        ring, then the ring firms), payees on the right (ring firms, then
        outside sectors); each band is one flow, as thick as the money it
        moved and coloured by its payer.
    """
    from matplotlib.patches import PathPatch, Rectangle
    from matplotlib.path import Path as MPath

    if ax is None:
        ax = _new_figure(figsize=(10, 7)).add_subplot()
    money = money[money["amount"] > 0]
    if money.empty:
        raise PyloopError("no money moved; nothing to draw")
    ring, outside = _money_sectors(money, sectors)
    palette = _sector_palette(ring + outside)
    payers = [s for s in outside if s in set(money["payer"])] + [s for s in ring if s in set(money["payer"])]
    payees = [s for s in ring if s in set(money["payee"])] + [s for s in outside if s in set(money["payee"])]
    total = float(money["amount"].sum())
    gap = 0.025 * total
    height = total + gap * (max(len(payers), len(payees)) - 1)
    width = 0.035
    x_left, x_right = 0.0, 1.0

    def stack(nodes, column):
        sizes = {n: float(money.loc[money[column] == n, "amount"].sum()) for n in nodes}
        spare = height - sum(sizes.values()) - gap * (len(nodes) - 1)
        top = height - spare / 2
        tops = {}
        for n in nodes:
            tops[n] = top
            top -= sizes[n] + gap
        return sizes, tops

    left_size, left_top = stack(payers, "payer")
    right_size, right_top = stack(payees, "payee")
    left_rank = {n: i for i, n in enumerate(payers)}
    right_rank = {n: i for i, n in enumerate(payees)}
    # Within a node, order bands by the position of their other end.
    out_order = money.assign(r=money["payee"].map(right_rank)).sort_values("r", kind="stable")
    in_order = money.assign(r=money["payer"].map(left_rank)).sort_values("r", kind="stable")
    out_cursor, in_cursor = dict(left_top), dict(right_top)
    starts, ends = {}, {}
    for flow, row in out_order.iterrows():
        starts[flow] = out_cursor[row.payer]
        out_cursor[row.payer] -= row.amount
    for flow, row in in_order.iterrows():
        ends[flow] = in_cursor[row.payee]
        in_cursor[row.payee] -= row.amount

    x0, x1 = x_left + width, x_right - width
    xm = (x0 + x1) / 2
    for flow, row in money.iterrows():
        a, b, h = starts[flow], ends[flow], row.amount
        verts = [
            (x0, a), (xm, a), (xm, b), (x1, b),
            (x1, b - h), (xm, b - h), (xm, a - h), (x0, a - h), (x0, a),
        ]
        codes = [MPath.MOVETO, MPath.CURVE4, MPath.CURVE4, MPath.CURVE4,
                 MPath.LINETO, MPath.CURVE4, MPath.CURVE4, MPath.CURVE4, MPath.CLOSEPOLY]
        ax.add_patch(PathPatch(MPath(verts, codes), facecolor=palette[row.payer], alpha=0.45,
                               edgecolor="white", linewidth=0.5))
        if h >= 0.015 * total or (row.crosses == "inside" and h >= 0.004 * total):
            ax.text(x0 + 0.015, a - h / 2, f"{flow} {h:,.0f}", fontsize=7, va="center", ha="left",
                    color="#222", clip_on=True)

    for nodes, sizes, tops, x, side in (
        (payers, left_size, left_top, x_left, "left"),
        (payees, right_size, right_top, x_right - width, "right"),
    ):
        for n in nodes:
            ax.add_patch(Rectangle((x, tops[n] - sizes[n]), width, sizes[n], facecolor=palette[n],
                                   edgecolor="none"))
            tx = x - 0.012 if side == "left" else x + width + 0.012
            weight = "bold" if n in ring else "normal"
            ax.text(tx, tops[n] - sizes[n] / 2, f"{n}\n{sizes[n]:,.0f} {units}", fontsize=8.5,
                    ha="right" if side == "left" else "left", va="center", weight=weight)
    ax.text(x_left + width / 2, height * 1.015, "paid by", ha="center", va="bottom", fontsize=9, style="italic")
    ax.text(x_right - width / 2, height * 1.015, "paid to", ha="center", va="bottom", fontsize=9, style="italic")
    ax.set_xlim(-0.28, 1.28)
    ax.set_ylim(-0.01 * height, height * 1.06)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=11)
    return ax


def plot_origin_shares(
    shares,
    ax: Axes | None = None,
    title: str | None = None,
    marked: str | None = None,
    sectors: Sequence[str] | None = None,
) -> Axes:
    """Stacked areas of the origin shares of one flow over time.

    Args:
        shares: DataFrame indexed by time, one column per origin (rows sum
            to one), as from :meth:`pyloop.analysis.ledger.Tracing.shares`.
        ax: axes to draw on; default a new figure's axes.
        title: axes title.
        marked: a column drawn as a dashed line over the areas instead of an
            area (the round-trip share, already counted in the origins).
        sectors: sector order that fixes the colours (as in
            :func:`plot_money_flows`); default the order of the columns.

    Returns:
        The axes; shares in percent.
    """
    if ax is None:
        ax = _new_figure(figsize=(6, 3.5)).add_subplot()
    origins = [c for c in shares.columns if c != marked]
    if sectors is None:
        sectors = [o for o in origins if not any(o.startswith(p + " ") for p in origins if p != o)]
    palette = _sector_palette(list(sectors))
    t = shares.index.to_numpy(dtype=float)
    visible = [o for o in origins if shares[o].max() > 1e-6]
    ax.stackplot(t, *(100 * shares[o].to_numpy() for o in visible), labels=visible,
                 colors=[_origin_colour(o, palette) for o in visible], alpha=0.9, linewidth=0)
    if marked is not None and marked in shares.columns:
        ax.plot(t, 100 * shares[marked].to_numpy(), color="black", linestyle="--", linewidth=1.4,
                label=f"of which {marked}")
    ax.set_ylim(0, 100)
    ax.set_xlim(t[0], t[-1])
    ax.set_ylabel("share [%]", fontsize=9)
    ax.set_xlabel("time", fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def ledger_figure(money, payment_shares, sale_shares=None, *, payment: str = "payment",
                  sale: str | None = None, marked: str | None = None, title: str = "",
                  sectors: Sequence[str] | None = None) -> Figure:
    """The money ledger of one run on one page.

    Args:
        money: cumulative money between sectors (see :func:`plot_money_flows`).
        payment_shares: cumulative origin shares of the traced payment.
        sale_shares: cumulative origin shares of the round-trip sale, or None.
        payment: name of the traced payment, for the panel title.
        sale: name of the round-trip sale, for the panel title.
        marked: the round-trip column of the share tables, drawn as a line.
        title: figure title.
        sectors: sector order, ring firms first (fixes order and colours).

    Returns:
        A figure: the alluvial diagram on top, the origin shares below with
        one legend.
    """
    fig = _new_figure(figsize=(12, 11))
    grid = fig.add_gridspec(2, 2 if sale_shares is not None else 1, height_ratios=[1.6, 1])
    top = fig.add_subplot(grid[0, :])
    ring, outside = _money_sectors(money[money["amount"] > 0], sectors)
    sectors = ring + outside
    plot_money_flows(money, ax=top, title="Money moved between sectors", sectors=sectors)
    left = fig.add_subplot(grid[1, 0])
    plot_origin_shares(payment_shares, ax=left, marked=marked, sectors=sectors,
                       title=f"Where the money of {payment} came from (cumulative)")
    axes = [left]
    if sale_shares is not None:
        right = fig.add_subplot(grid[1, 1], sharey=left)
        plot_origin_shares(sale_shares, ax=right, marked=marked, sectors=sectors,
                           title=f"Where the money of {sale} came from (cumulative)")
        axes.append(right)
    handles, labels = {}, {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center",
               ncols=min(len(handles), 4), fontsize=9, frameon=False)
    if title:
        fig.suptitle(title, fontsize=13)
    return fig


__all__ += ["ledger_figure", "plot_money_flows", "plot_origin_shares"]


# ------------------------------------------------------------ loop dominance
#: Colours of reinforcing and balancing loops.
_POLARITY_COLOURS = {"R": "#c0392b", "B": "#2e86c1", "U": "#7f8c8d", "mixed": "#7f8c8d"}


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
    cmap = __import__("matplotlib").colormaps["tab20"]
    colours = [cmap(i % 20) for i in range(len(shown))]
    pos = [rel[k.id].clip(lower=0).to_numpy() for k in shown]
    neg = [rel[k.id].clip(upper=0).to_numpy() for k in shown]
    labels = [_loop_label(k) for k in shown]
    ax.stackplot(time, pos, colors=colours, labels=labels, linewidth=0)
    ax.stackplot(time, neg, colors=colours, linewidth=0)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylim(-1.02, 1.02)
    ax.set_ylabel("relative loop score\n(reinforcing > 0 > balancing)", fontsize=9)
    ax.set_xlabel("time", fontsize=9)
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
    ax.set_xlabel("time", fontsize=9)
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


def plot_knockouts(runs, variable: str, ax: Axes | None = None, catalogue=None) -> Axes:
    """One variable in a base run and in each knockout run.

    Args:
        runs: ``{"base": RunResult, loop id: RunResult, ...}`` as returned
            by :func:`pyloop.analysis.loops.knockouts`.
        variable: the variable to draw.
        ax: axes to draw on; default a new figure's axes.
        catalogue: catalogue entries by id, for loop names in the legend.
    """
    if ax is None:
        ax = _new_figure(figsize=(7, 4)).add_subplot()
    if "base" not in runs:
        raise PyloopError("knockout runs need a 'base' run to compare against")
    for key, r in runs.items():
        if variable not in r.frame.columns:
            raise PyloopError(f"run '{r.name}' has no variable '{variable}' to plot")
        if key == "base":
            label, style = "base run", dict(color="black", linewidth=2.2)
        else:
            name = catalogue[key].name if catalogue and key in catalogue else ""
            label, style = f"{key} off" + (f" ({name})" if name else ""), dict(linewidth=1.3)
        ax.plot(r.frame.index, r.frame[variable], label=label, **style)
    base = runs["base"]
    ax.set_title(_title(f"{variable}: loops knocked out", base.units.get(variable)), fontsize=10)
    ax.set_xlabel(f"time [{base.time_units}]" if base.time_units else "time", fontsize=9)
    ax.set_ylabel(base.units.get(variable) or variable, fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, frameon=False)
    return ax


def knockout_figure(runs, variables: Sequence[str], catalogue=None) -> Figure:
    """A panel per variable comparing the base run with each knockout."""
    variables = list(variables)
    if not variables or len(variables) > MAX_PANELS:
        raise PyloopError(f"give 1 to {MAX_PANELS} variables for a knockout figure")
    ncols = min(2, len(variables))
    nrows = math.ceil(len(variables) / ncols)
    fig = _new_figure(figsize=(6.5 * ncols, 4 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, v in zip(axes, variables):
        plot_knockouts(runs, v, ax=ax, catalogue=catalogue)
    for ax in axes[len(variables):]:
        ax.set_visible(False)
    return fig

__all__ += [
    "knockout_figure",
    "loop_dominance_figure",
    "plot_dominance_phases",
    "plot_knockouts",
    "plot_relative_loop_scores",
]


def variable_dominance_figure(dominance, values, top: int = 8) -> Figure:
    """A variable's trajectory coloured by the polarity of the loops driving
    it, with the loop groups' shares stacked beneath.

    Args:
        dominance: a :class:`~pyloop.analysis.loops.VariableDominance`.
        values: the variable's values over the run (a series or array
            aligned with ``dominance.time``).
        top: how many loop groups to draw; the rest form a grey band. A
            group's colour follows from its label, so a named loop has the
            same colour in every figure (unless two labels collide).

    Returns:
        The figure: the trajectory above (red where reinforcing groups hold
        at least half the variable's loop score, blue where balancing ones
        do, grey where no loop through it is active), the groups' signed
        shares below (reinforcing above the axis).
    """
    import zlib

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
    top_ax.set_title(
        f"What drives '{dominance.variable}' in run '{dominance.run}': red reinforcing, "
        "blue balancing",
        fontsize=10,
    )
    top_ax.grid(True, alpha=0.3)
    groups = [g for g in dominance.groups if np.abs(g.share).max() > 0]
    shown, rest = groups[:top], groups[top:]
    cmap = __import__("matplotlib").colormaps["tab20"]
    colours = []
    taken: set[int] = set()
    for g in shown:  # a group's colour follows from its label, so figures agree
        slot = zlib.crc32(g.label.encode("utf-8")) % 20
        while slot in taken and len(taken) < 20:
            slot = (slot + 1) % 20
        taken.add(slot)
        colours.append(cmap(slot))
    pos = [np.clip(g.share, 0, None) for g in shown]
    neg = [np.clip(g.share, None, 0) for g in shown]
    labels = [_wrap(g.label, 50) for g in shown]
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
    low_ax.set_ylabel("share of its loop score\n(reinforcing > 0 > balancing)", fontsize=9)
    low_ax.set_xlabel("time", fontsize=9)
    low_ax.grid(True, alpha=0.3)
    return fig


__all__ += ["variable_dominance_figure"]
