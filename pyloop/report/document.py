"""The HTML document of a report: its sections, embedded figures and tables.

A :class:`Document` collects sections (anchor, title, HTML body) and saves
each figure as PNG in ``figures/`` beside the page while embedding it;
:func:`render` turns the sections into one self-contained HTML page.
"""

from __future__ import annotations

import base64
import html
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["Document", "html_table", "ledger_display", "paragraph", "render"]


@dataclass
class Document:
    """Sections of the HTML document and the figures they embed."""

    folder: Path
    sections: list[tuple[str, str, str]] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)

    def figure(self, name: str, fig: Any, caption: str, zoomable: bool = False) -> str:
        """Save a figure of :mod:`pyloop.plots` as PNG and return its embedded HTML.

        With ``zoomable``, the figure is also saved as SVG in ``figures/``
        (text stays text), the picture links to it and the caption says so:
        for a drawing too detailed to read at page width.
        """
        from pyloop.plots import save_figure

        target = self.folder / "figures" / f"{name}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        save_figure(fig, target, dpi=110)
        self.figures.append(target.name)
        data = base64.b64encode(target.read_bytes()).decode("ascii")
        picture = f'<img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
        if zoomable:
            vector = target.with_suffix(".svg")
            save_figure(fig, vector)
            self.figures.append(vector.name)
            picture = f'<a href="figures/{html.escape(vector.name)}">{picture}</a>'
            caption = f"{caption} Open the SVG to zoom: click the picture."
        return f"<figure>{picture}<figcaption>{html.escape(caption)}</figcaption></figure>"

    def image(self, source: Path, name: str, caption: str) -> str:
        """Embed a PNG file already written (copied into ``figures/``)."""
        target = self.folder / "figures" / f"{name}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.resolve() != target.resolve():
            shutil.copyfile(source, target)
        self.figures.append(target.name)
        data = base64.b64encode(target.read_bytes()).decode("ascii")
        return (
            f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    def add(self, anchor: str, title: str, body: str, first: bool = False) -> None:
        """Add a section at the end (or, if ``first``, at the start)."""
        if first:
            self.sections.insert(0, (anchor, title, body))
        else:
            self.sections.append((anchor, title, body))


def html_table(frame: pd.DataFrame, floatfmt: str | None = None, index: bool = False) -> str:
    """A data frame as an HTML table.

    Numbers read as :mod:`pyloop.text_format` writes them: a column whose
    name says it holds years or times (``year``, ``from``, ``to``, ``peak
    time``, ...), and a row whose text cells say so (a unit ``Year``, a
    parameter named ``... Year``), show calendar years as years (``2030``,
    ``2030.5``); other numbers use ``floatfmt`` if given, else
    :func:`~pyloop.text_format.format_number`.
    """
    from pyloop.text_format import format_number, format_year, in_year_range, is_year_label

    def number(v: float) -> str:
        if floatfmt and v == v and not 1e3 <= abs(v) < 1e4:  # no '2,034' or '2.03e+03'
            return floatfmt.format(v)
        return format_number(v)

    shown = frame.copy()
    if index:
        shown = shown.reset_index()
    year_rows = [
        any(isinstance(c, str) and is_year_label(c) and len(c) < 80 for c in row)
        for row in shown.itertuples(index=False)
    ]
    columns = {}
    for position, name in enumerate(shown.columns):
        values = shown.iloc[:, position]
        year_column = is_year_label(str(name))
        cells = []
        for value, year_row in zip(values, year_rows):
            if isinstance(value, (bool, str)) or value is None:
                cells.append("" if value is None else value)
            elif isinstance(value, (int, float)) or hasattr(value, "dtype"):
                v = float(value)
                if (year_column or year_row) and in_year_range(v):
                    cells.append(format_year(v))
                else:
                    cells.append(number(v))
            else:
                cells.append(value)
        columns[position] = cells
    out = pd.DataFrame({i: cells for i, cells in columns.items()})
    out.columns = [str(c) for c in shown.columns]
    return out.to_html(index=False, border=0, classes="data", na_rep="", escape=True)


def ledger_display(table: pd.DataFrame) -> pd.DataFrame:
    """A who-paid table (index year, a column per quantity, as
    :func:`pyloop.analysis.ledger.who_paid` returns it) as the report shows
    it: one row per quantity, one column per year; amounts in B$, shares in
    percent, and the share that crossed the round trip (already counted in
    the origins above it) labelled "of which"."""
    from pyloop.text_format import format_number, format_share, format_year

    rows = []
    for column in table.columns:
        name = str(column)
        if "(B$)" in name or "/" in name:
            cells = [format_number(v) for v in table[column]]
        else:
            cells = [format_share(v) for v in table[column]]
        label = f"of which {name}" if name.startswith("via ") else name
        rows.append([label, *cells])
    header = ["by year", *(format_year(y) for y in table.index)]
    return pd.DataFrame(rows, columns=header)


def paragraph(text: str) -> str:
    """Plain text as an escaped HTML paragraph."""
    return f"<p>{html.escape(text)}</p>"


# ---------------------------------------------------------------- output
_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#1b1b1b;line-height:1.45}
h1{font-size:1.8em;margin-bottom:.2em}h2{border-bottom:2px solid #1f4e9c;padding-bottom:.2em;margin-top:2em}
nav ol{columns:2}figure{margin:1em 0}img{max-width:100%;height:auto;border:1px solid #ddd}
figcaption{font-size:.9em;color:#555}table.data{border-collapse:collapse;font-size:.85em;margin:.6em 0;width:100%}
table.data th,table.data td{border-bottom:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
table.data th{background:#f2f5fa}.answer{background:#f6f9ff;border-left:4px solid #1f4e9c;padding:.6em 1em;margin:1em 0}
.how{font-size:.9em;color:#555}details{margin:.6em 0}
@media print{nav{display:none}h2{page-break-before:always}details{display:block}img{border:none}}
"""


def render(doc: Document, title: str, subtitle: str) -> str:
    """The whole HTML page: title, subtitle, table of contents and the sections."""
    toc = "".join(f'<li><a href="#{a}">{html.escape(t)}</a></li>' for a, t, _ in doc.sections)
    body = "".join(f'<section id="{a}"><h2>{html.escape(t)}</h2>{b}</section>' for a, t, b in doc.sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p class=\"how\">{html.escape(subtitle)}</p>"
        f"<nav><h2>Contents</h2><ol>{toc}</ol></nav>{body}</body></html>\n"
    )
