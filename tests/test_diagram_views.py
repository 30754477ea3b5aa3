"""The stock-and-flow diagram as a reader sees it: pipes attached to their
stocks and clouds, names that wrap at spaces only, readable colours, and an
SVG copy of every view (in the report and from ``pyloop diagram``)."""

from __future__ import annotations

import pytest
from circular import MODEL_PATH
from conftest import FIXTURES
from matplotlib.colors import to_rgb
from matplotlib.patches import FancyArrowPatch, Polygon

from pyloop import cli
from pyloop.engine.vensim_sketch import Item, View, read_sketch
from pyloop.plots import save_figure
from pyloop.plots.diagram import outline, pipe_ends, view_figure, wrap_name
from pyloop.report.document import Document

TEACUP = FIXTURES / "teacup" / "teacup.mdl"
MAX_SVG_BYTES = 500_000  # a view's SVG stays well under a megabyte


def _on_edge(point: tuple[float, float], item: Item, tolerance: float = 1.5) -> bool:
    """True when ``point`` lies on the outline of ``item`` (screen units)."""
    w, h = outline(item)
    dx, dy = abs(point[0] - item.x), abs(point[1] - item.y)
    on_side = abs(dx - w) <= tolerance and dy <= h + tolerance
    on_top = abs(dy - h) <= tolerance and dx <= w + tolerance
    return on_side or on_top


def _pipes(view: View):
    for arrow in view.arrows:
        if arrow.pipe:
            yield arrow, view.items[arrow.source], view.items[arrow.target]


def _luminance(colour) -> float:
    """WCAG relative luminance of a colour."""
    channels = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in to_rgb(colour)]
    return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]


def _contrast_on_white(colour) -> float:
    return 1.05 / (_luminance(colour) + 0.05)


def _view_with(title_word: str) -> View:
    """The first view of the main model whose title holds ``title_word``."""
    views = [v for v in read_sketch(MODEL_PATH) if title_word.lower() in v.title.lower()]
    if not views:
        pytest.skip(f"the main model has no view titled '{title_word}' at the moment")
    return views[0]


# ---------------------------------------------------------------- pipes
def test_teacup_pipe_runs_from_the_stock_edge_to_the_cloud_edge():
    (view,) = read_sketch(TEACUP)
    ends = {end.kind: pipe_ends(valve, end) for _, valve, end in _pipes(view)}
    stock = next(i for i in view.items.values() if i.stock)
    valve = next(i for i in view.items.values() if i.kind == "valve")
    # the box's right edge (centre 307 + half-width 40), level with the valve
    assert ends["variable"] == ((valve.x, valve.y), (stock.x + stock.width, valve.y))
    start, stop = ends["cloud"]
    assert start == (valve.x, valve.y)
    assert _on_edge(stop, next(i for i in view.items.values() if i.kind == "cloud"))
    assert stop[0] < 479 and stop[1] == 235  # the cloud's facing (left) side, not the stale point 441


def test_teacup_drawing_ends_each_pipe_on_its_box():
    (view,) = read_sketch(TEACUP)
    ax = view_figure(view).axes[0]
    line_ends = {tuple(map(float, xy)) for line in ax.get_lines() if line.get_label() == "pipe"
                 for xy in line.get_xydata()}
    arrowhead_tips = {tuple(map(float, xy)) for patch in ax.patches if isinstance(patch, Polygon)
                      for xy in patch.get_xy()}
    for arrow, valve, end in _pipes(view):
        _, stop = pipe_ends(valve, end)
        drawn = arrowhead_tips if arrow.head else line_ends
        assert any(abs(x - stop[0]) < 1e-6 and abs(y - stop[1]) < 1e-6 for x, y in drawn), (end.kind, stop)


def test_main_model_pipes_touch_their_stocks_and_clouds():
    views = [v for v in read_sketch(MODEL_PATH) if any(a.pipe for a in v.arrows)]
    assert views, "the main model draws no flow"
    checked = 0
    for view in views:
        for _, valve, end in _pipes(view):
            start, stop = pipe_ends(valve, end)
            assert start == (valve.x, valve.y)
            assert _on_edge(stop, end), (view.title, valve.flow, end.name or end.kind, stop)
            checked += 1
    assert checked >= 10


# ---------------------------------------------------------------- names and colours
def test_names_wrap_at_spaces_only_in_a_narrow_box():
    stock = Item(id=1, kind="variable", x=100, y=100, width=20, height=30, name="Buildings Under Construction",
                 stock=True)
    ax = view_figure(View(title="Narrow", items={1: stock})).axes[0]
    (label,) = [t.get_text() for t in ax.texts if "Buildings" in t.get_text()]
    assert label.split("\n") == ["Buildings", "Under", "Construction"]
    assert wrap_name("<Buildings Under Construction>", 8).split("\n") == ["<Buildings", "Under", "Construction>"]
    assert wrap_name("Long-Term Debt-Ratio", 6).split("\n") == ["Long-Term", "Debt-Ratio"]


def test_every_name_of_the_main_model_keeps_its_words_whole():
    view = _view_with("overview")
    words = {word for item in view.items.values() for word in f"<{item.name}> {item.name}".split()}
    words |= set(view.title.split())
    ax = view_figure(view).axes[0]
    for text in ax.texts:
        for line in text.get_text().split("\n"):
            for word in line.split():
                assert word in words, f"broken word '{word}'"


def test_text_is_readable_and_shadows_are_distinguishable():
    from pyloop.plots.diagram import NAME_COLOUR, SHADOW_COLOUR

    view = _view_with("ai lab")
    assert any(i.shadow for i in view.items.values()) and any(
        i.kind == "variable" and not i.shadow for i in view.items.values())
    ax = view_figure(view).axes[0]
    text_colours = {text.get_color() for text in ax.texts}
    assert {NAME_COLOUR, SHADOW_COLOUR} <= text_colours
    for colour in text_colours:
        assert _contrast_on_white(colour) >= 4.5, colour  # WCAG AA for text
    assert _contrast_on_white(SHADOW_COLOUR) < _contrast_on_white(NAME_COLOUR) - 5  # visibly lighter
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    assert arrows
    for arrow in arrows:
        assert _contrast_on_white(arrow.get_edgecolor()) >= 3.0  # WCAG AA for graphics


# ---------------------------------------------------------------- SVG
def test_report_figure_links_to_a_zoomable_svg(tmp_path):
    (view,) = read_sketch(TEACUP)
    doc = Document(tmp_path)
    zoomable = doc.figure("view_view_1", view_figure(view), "View: View 1.", zoomable=True)
    assert '<a href="figures/view_view_1.svg"><img' in zoomable
    assert "open the svg to zoom" in zoomable.lower()
    svg = tmp_path / "figures" / "view_view_1.svg"
    assert svg.read_text(encoding="utf-8").lstrip().startswith("<?xml")
    assert ">Heat Loss to Room</text>" in svg.read_text(encoding="utf-8")  # text stays text: searchable
    plain = doc.figure("plain", view_figure(view), "Plain.")
    assert "<a " not in plain and not (tmp_path / "figures" / "plain.svg").exists()
    assert doc.figures == ["view_view_1.png", "view_view_1.svg", "plain.png"]


def test_every_view_of_the_main_model_makes_a_modest_svg(tmp_path):
    views = [v for v in read_sketch(MODEL_PATH) if v.items]
    assert views
    for view in views:
        path = tmp_path / f"{view.title}.svg"
        save_figure(view_figure(view), path)
        assert path.stat().st_size < MAX_SVG_BYTES, (view.title, path.stat().st_size)


def test_diagram_command_writes_the_formats_asked_for(tmp_path, capsys):
    svg_only = tmp_path / "svg"
    assert cli.main(["diagram", "--model", str(TEACUP), "--out", str(svg_only), "--format", "svg"]) == 0
    assert sorted(p.name for p in svg_only.iterdir()) == ["view_view_1.svg"]
    assert "Heat Loss to Room" in (svg_only / "view_view_1.svg").read_text(encoding="utf-8")
    both = tmp_path / "default"
    assert cli.main(["diagram", "--model", str(TEACUP), "--out", str(both)]) == 0
    assert sorted(p.name for p in both.iterdir()) == ["view_view_1.png", "view_view_1.svg"]
    assert "Wrote 2 files" in capsys.readouterr().out


def test_diagram_command_refuses_an_unknown_format(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["diagram", "--model", str(TEACUP), "--out", str(tmp_path / "x"), "--format", "gif"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'gif'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_report_diagram_section_links_every_view_to_its_svg(tmp_path):
    import pyloop
    from pyloop.report.sections import section_diagrams

    doc = Document(tmp_path)
    section_diagrams(doc, pyloop.load_model(TEACUP), {}, settings=None)
    ((anchor, _, body),) = doc.sections
    assert anchor == "diagram"
    assert '<a href="figures/view_view_1.svg">' in body and "Open the SVG to zoom" in body
    assert (tmp_path / "figures" / "view_view_1.svg").stat().st_size < MAX_SVG_BYTES
