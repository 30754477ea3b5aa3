"""How numbers read in tables, printed text and figure axes: years as
years, shares as percents, other numbers compact.

One module without matplotlib, so the report's tables, the command line's
text and the figures' axes all write a year the same way:

- a whole year is written as four digits, ``2030`` (never ``2,030`` or
  ``2.03e+03``);
- a time between years keeps its decimals, up to four (a step of 1/16
  year is ``2030.0625``), without a thousands separator and with trailing
  zeros dropped: ``2030.5`` is the middle of 2030;
- a share (a fraction of one) is written in percent, ``0.000697`` as
  ``0.07%``.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = [
    "YEAR_RANGE",
    "format_bound",
    "format_number",
    "format_share",
    "format_year",
    "is_year_label",
]

#: Values (in years) that a year-labelled cell is written as a year within.
YEAR_RANGE = (1000.0, 3000.0)

_YEAR_WORDS = re.compile(r"\b(years?|time|from|to|until|when|date)\b", re.IGNORECASE)


def format_year(value: float) -> str:
    """A time in years as text: ``2030`` for a whole year, ``2030.5`` for
    a time between years (at most four decimals, trailing zeros dropped),
    ``""`` for NaN."""
    value = float(value)
    if math.isnan(value):
        return ""
    if math.isinf(value):
        return "end" if value > 0 else "start"
    text = f"{round(value, 4):.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def format_bound(value: float, span: float) -> str:
    """A bound of a range ``span`` wide (a PRIM box's limit, in the
    parameter's units): decimals enough for three digits of the span, no
    thousands separator, so bounds on years read ``2026.16`` (never ``2026``
    nor ``2,026.16``) and bounds on hundreds read ``157``."""
    span = abs(float(span))
    decimals = max(0, 2 - math.floor(math.log10(span))) if span and math.isfinite(span) else 2
    return f"{float(value):.{decimals}f}"


def format_share(value: float, digits: int = 1) -> str:
    """A fraction of one as a percent: ``0.25`` -> ``"25.0%"``; very small
    shares keep two significant digits (``0.000697`` -> ``"0.07%"``)."""
    value = float(value)
    if math.isnan(value):
        return ""
    pct = 100.0 * value
    if pct != 0 and abs(pct) < 10 ** -digits:
        return f"{pct:.2g}%"
    return f"{pct:.{digits}f}%"


def format_number(value: Any) -> str:
    """A plain number, compact: four significant digits below 10 000,
    whole numbers with thousands separators above (never a year-like
    ``2,034`` or ``2.03e+03`` for values under 10 000)."""
    value = float(value)
    if math.isnan(value):
        return ""
    if abs(value) >= 1e4 and abs(value) < 1e15:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def is_year_label(label: Any) -> bool:
    """Whether a column or row label says its values are years or times
    (``year``, ``time``, ``from``, ``to``, ``until``, ``Year``, ``peak
    time``, ...)."""
    return isinstance(label, str) and bool(_YEAR_WORDS.search(label.replace("_", " ")))


def in_year_range(value: Any) -> bool:
    """Whether a number could be a calendar year (within :data:`YEAR_RANGE`)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return False
    return YEAR_RANGE[0] <= v <= YEAR_RANGE[1]
