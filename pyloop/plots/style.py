"""Shared drawing pieces of the figures: a new figure outside pyplot, axis
titles with units, wrapped labels, panel limits, the polarity colours, the
one colour map of loops, scenarios and sectors, and year ticks.

Colours: :func:`colour_of` gives a named loop, a scenario or a sector the
same colour in every figure of the report and the command line. Names whose
order is known (the loop catalogue, the scenario file, the ledger's
sectors; see :func:`remember_order`) take the palette's colours in that
order; any other name takes a colour from a stable hash of its name, so a
name never changes colour between figures or runs. The palette is Paul
Tol's colour-blind-safe "muted" set, followed by the Okabe-Ito colours.
"""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: Most panels in one comparison figure.
MAX_PANELS = 9
#: Most elements of a subscripted variable drawn in one panel.
MAX_ELEMENTS = 6

#: Colours of reinforcing and balancing loops.
_POLARITY_COLOURS = {"R": "#c0392b", "B": "#2e86c1", "U": "#7f8c8d", "mixed": "#7f8c8d"}


#: Colour-blind-safe palette (Tol "muted", then Okabe-Ito), in the order names take it.
PALETTE = (
    "#332288", "#cc6677", "#117733", "#ddcc77", "#88ccee", "#882255", "#44aa99", "#999933",
    "#aa4499", "#e69f00", "#0072b2", "#d55e00", "#009e73", "#56b4e9", "#cc79a7", "#f0e442",
)
#: Kinds of names that keep one colour across figures.
KINDS = ("loop", "scenario", "sector")
#: The reference run: drawn last, thicker and in black.
REFERENCE_RUN = "baseline"
REFERENCE_COLOUR = "#000000"
#: Line widths of the reference run and of the other runs, in points.
REFERENCE_WIDTH = 2.6
RUN_WIDTH = 1.4
#: More runs than this are drawn as small multiples rather than one tangle.
MAX_RUNS_PER_PANEL = 5

_DEFAULT_LOOPS = ("R1", "R2", "R3", "R4", "B1", "B2", "B3", "B4", "B5")
_ORDERS: dict[str, list[str]] = {"loop": list(_DEFAULT_LOOPS), "scenario": [], "sector": []}


def remember_order(kind: str, names) -> None:
    """Fix the colours of ``names`` of one ``kind`` (``"loop"``,
    ``"scenario"`` or ``"sector"``) in the order given: catalogue order for
    loops, scenario-file order for scenarios, declared order for sectors.
    Names already known keep their colour; new ones take the next free
    palette colours."""
    if kind not in _ORDERS:
        raise ValueError(f"unknown colour kind {kind!r}; use one of {', '.join(KINDS)}")
    known = _ORDERS[kind]
    for name in names:
        if kind == "scenario" and name == REFERENCE_RUN:
            continue
        if str(name) not in known and len(known) < len(PALETTE):
            known.append(str(name))


def colour_of(kind: str, name: str) -> str:
    """The colour (``#rrggbb``) of a loop id, scenario or sector ``name``.

    A name whose order is known (see :func:`remember_order`) takes the
    palette colour of its position; any other name takes a colour from a
    stable hash (CRC-32) of its text, the same in every process. The
    reference scenario ``baseline`` is black. A run name
    such as ``music_stops+leverage_cap`` is a name of its own; a loop label
    such as ``"R1 Compute build-out"`` is coloured by its id ``R1``.
    """
    import zlib

    if kind not in _ORDERS:
        raise ValueError(f"unknown colour kind {kind!r}; use one of {', '.join(KINDS)}")
    name = str(name)
    if kind == "loop":
        name = name.split(" ", 1)[0]
    if kind == "scenario" and name == REFERENCE_RUN:
        return REFERENCE_COLOUR
    known = _ORDERS[kind]
    if name in known:
        return PALETTE[known.index(name)]
    free = [c for c in PALETTE[len(known):]] or list(PALETTE)
    return free[zlib.crc32(f"{kind}:{name}".encode("utf-8")) % len(free)]


def run_colour(name: str) -> str:
    """The colour of a run: its scenario's colour (:func:`colour_of`; the
    reference run is black)."""
    return colour_of("scenario", name)


def year_axis(ax, axis: str = "x", units: str | None = "Year") -> None:
    """Tick labels of a time axis written as years (``2030``, never
    ``2.03e+03`` or ``2,030``), and the axis labelled with its units."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    from pyloop.text_format import format_year

    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_formatter(FuncFormatter(lambda v, _pos: format_year(v)))
    target.set_major_locator(MaxNLocator(nbins="auto", steps=[1, 2, 2.5, 5, 10]))
    label = f"time [{units}]" if units else "time"
    if axis == "x":
        ax.set_xlabel(label, fontsize=9)
    else:
        ax.set_ylabel(label, fontsize=9)


def time_axis(ax, time, units: str | None = None) -> None:
    """Label a time axis with its units; a time unit of years, or calendar
    times (within :data:`pyloop.text_format.YEAR_RANGE`) when the unit is not
    known, get year ticks (:func:`year_axis`)."""
    from pyloop.text_format import in_year_range

    calendar = units is None and len(time) > 0 and in_year_range(time[0])
    if (units and units.lower().startswith("year")) or calendar:
        year_axis(ax, "x", units or "Year")
    else:
        ax.set_xlabel(f"time [{units}]" if units else "time", fontsize=9)


def _new_figure(figsize: tuple[float, float]) -> Figure:
    """A figure of ``figsize`` inches on an Agg canvas, outside pyplot."""
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _title(variable: str, units: str | None) -> str:
    return f"{variable}\n[{units}]" if units else variable


def _wrap(text: str, width: int) -> str:
    """Break a name into lines of about ``width`` characters."""
    import textwrap

    return "\n".join(textwrap.wrap(text, max(width, 6))) or text
