"""Shared drawing pieces of the figures: a new figure outside pyplot, axis
titles with units, wrapped labels, panel limits and the polarity colours.
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
