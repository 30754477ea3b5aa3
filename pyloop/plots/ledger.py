"""Figures of the money ledger: the alluvial diagram of money moved between
sectors and the origin shares of a traced payment."""

from __future__ import annotations

from typing import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pyloop.errors import PyloopError
from pyloop.plots.style import _new_figure, colour_of, remember_order, time_axis

__all__ = ["ledger_figure", "plot_money_flows", "plot_origin_shares"]


def _sector_palette(sectors: Sequence[str]) -> dict[str, str]:
    """Sector name -> colour (:func:`~pyloop.plots.style.colour_of`): the
    declared sector order fixes the colours, the same in every figure."""
    remember_order("sector", sectors)
    return {s: colour_of("sector", s) for s in sectors}


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
    time_axis(ax, t)
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
    handles: dict = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(list(handles.values()), list(handles), loc="outside lower center",
               ncols=min(len(handles), 4), fontsize=9, frameon=False)
    if title:
        fig.suptitle(title, fontsize=13)
    return fig
