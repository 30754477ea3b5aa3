"""One visual language: a loop, a scenario or a sector keeps its colour in
every figure; the reference run is drawn last and thicker; years read as
years in tables, text and axes; knockout figures keep the plausible runs
readable."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex

from pyloop.plots import comparison_figure, knockout_figure, loop_dominance_figure
from pyloop.plots.style import MAX_RUNS_PER_PANEL, colour_of, remember_order
from pyloop.report.document import html_table, ledger_display
from pyloop.text_format import format_number, format_share, format_year

SCIENTIFIC = re.compile(r"^-?\d(\.\d+)?e[+-]\d+$")
THOUSANDS_YEAR = re.compile(r"^[12],\d{3}(\.\d+)?\b")


def _line_colours(fig) -> dict[str, str]:
    """Colour of every labelled line of a figure, by label."""
    out: dict[str, str] = {}
    for ax in fig.axes:
        for line in ax.get_lines():
            label = line.get_label()
            if not label.startswith("_"):
                out.setdefault(label, to_hex(line.get_color()))
                assert out[label] == to_hex(line.get_color()), f"{label} has two colours in one figure"
    return out


def _patch_colours(fig) -> dict[str, str]:
    """Colour of every labelled stacked area of a figure, by loop id."""
    out: dict[str, str] = {}
    for ax in fig.axes:
        for area in ax.collections:
            label = area.get_label()
            if not label.startswith("_"):
                out[label.split(" ", 1)[0]] = to_hex(area.get_facecolor()[0])
    return out


# ------------------------------------------------------------ text format
@pytest.mark.parametrize(
    "value, text",
    [(2030, "2030"), (2030.0, "2030"), (2030.5, "2030.5"), (2027.25, "2027.25"),
     (2030.0625, "2030.0625"), (2029.999999, "2030"), (float("nan"), "")],
)
def test_format_year_known_answers(value, text):
    assert format_year(value) == text


def test_shares_and_numbers_never_look_like_scientific_years():
    assert format_share(0.25) == "25.0%"
    assert format_share(0.000697) == "0.07%"
    assert format_number(2034.0) == "2034"
    assert format_number(12345.6) == "12,346"
    assert format_number(0.5) == "0.5"


def test_report_tables_write_years_as_years():
    ledger = pd.DataFrame(
        {"year": [2027.0, 2030.0], "Compute Payments (B$)": [12.3, 4567.0], "End Users": [0.5, 0.000697],
         "via Chip Investment": [0.1, 0.2], "commitments / cash": [3.2, np.nan]}
    ).set_index("year")
    phases = pd.DataFrame({"from": [2025.0, 2027.5], "to": [2027.5, 2034.0], "polarity": ["R", "B"]})
    prim = pd.DataFrame({"parameter": ["Music Stops Year", "Leverage Limit"], "low": [2027.0, 1.5],
                         "high": [2031.0, 2.5]})
    calibration = pd.DataFrame({"check": ["contract start"], "target": [2025.0], "units": ["Year"],
                                "model": [2025.0]})
    cells = []
    for text in (html_table(ledger_display(ledger)), html_table(phases),
                 html_table(prim, floatfmt="{:,.4g}"), html_table(calibration, floatfmt="{:,.3g}"),
                 html_table(ledger.reset_index(), floatfmt="{:,.3g}")):
        cells += re.findall(r"<t[dh]>(.*?)</t[dh]>", text)
    assert not [c for c in cells if SCIENTIFIC.match(c) or THOUSANDS_YEAR.match(c)]
    for year in ("2025", "2027", "2027.5", "2030", "2031", "2034"):
        assert year in cells
    assert "0.07%" in cells and "50.0%" in cells
    assert "of which via Chip Investment" in cells


# ------------------------------------------------------------ colours
def test_colour_of_is_deterministic_and_follows_the_declared_order():
    assert colour_of("loop", "R1") != colour_of("loop", "R2")
    named = {colour_of("loop", k) for k in ("R1", "R2", "R3", "R4", "B1", "B2", "B3", "B4", "B5")}
    assert len(named) == 9
    assert colour_of("loop", "R1 Compute build-out") == colour_of("loop", "R1")
    assert colour_of("scenario", "some_new_scenario") == colour_of("scenario", "some_new_scenario")
    with pytest.raises(ValueError, match="unknown colour kind"):
        colour_of("planet", "Mars")


def test_each_loop_and_scenario_keeps_its_colour_in_every_figure(circular_model, circular_run):
    from pyloop.analysis.loops import score_run
    from pyloop.declarations.scenarios import load_scenarios

    remember_order("scenario", load_scenarios(circular_model).scenarios)
    loops = {}
    for scenario in ("baseline", "music_stops"):
        fig = loop_dominance_figure(score_run(circular_model, circular_run(scenario), report=100))
        loops[scenario] = _patch_colours(fig)
    shared = set(loops["baseline"]) & set(loops["music_stops"])
    assert "R1" in shared and len(shared) >= 3
    for loop in shared:
        assert loops["baseline"][loop] == loops["music_stops"][loop] == colour_of("loop", loop)

    variables = ["AI Lab Cash", "Cloud Market Value"]
    few = [circular_run(s) for s in ("baseline", "music_stops", "ai_boom")]
    other = [circular_run(s) for s in ("music_stops", "rate_shock", "baseline")]
    first, second = _line_colours(comparison_figure(few, variables)), _line_colours(comparison_figure(other, variables))
    for name in ("baseline", "music_stops"):
        assert first[name] == second[name] == colour_of("scenario", name)
    assert len({first["baseline"], first["music_stops"], first["ai_boom"]}) == 3


def test_the_reference_run_is_drawn_last_and_thicker(circular_run):
    runs = [circular_run("baseline"), circular_run("music_stops")]
    ax = comparison_figure(runs, ["AI Lab Cash"]).axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert ax.get_lines()[-1].get_label() == "baseline"
    assert lines["baseline"].get_linewidth() > lines["music_stops"].get_linewidth()
    assert "Year" in ax.get_xlabel()
    ax.figure.canvas.draw()
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert ticks and all(re.fullmatch(r"\d{4}(\.\d+)?", t) for t in ticks)


def test_many_runs_become_small_multiples(circular_run):
    names = ["baseline", "music_stops", "ai_boom", "ai_winter", "rate_shock", "build_delays"]
    assert len(names) > MAX_RUNS_PER_PANEL
    fig = comparison_figure([circular_run(n) for n in names], ["AI Lab Cash", "Cloud Market Value"])
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 2 * (len(names) - 1)
    for ax in visible:  # each panel: one run in colour over the reference
        labels = [line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")]
        assert len(labels) == 2 and labels[-1] == "baseline"


def test_an_impossible_knockout_does_not_crush_the_axis(circular_run):
    base = circular_run("baseline")
    wild = base.frame.copy()
    wild["AI Lab Cash"] = wild["AI Lab Cash"] * 1e6
    ok = base.frame.copy()
    ok["AI Lab Cash"] = ok["AI Lab Cash"] * 1.2

    class Run:
        def __init__(self, name, frame):
            self.name, self.frame, self.units, self.time_units = name, frame, base.units, base.time_units

    runs = {"base": base, "R1": Run("R1 off", wild), "B1": Run("B1 off", ok)}
    ax = knockout_figure(runs, ["AI Lab Cash"]).axes[0]
    high = ax.get_ylim()[1]
    assert high < 10 * max(ok["AI Lab Cash"].max(), base.frame["AI Lab Cash"].max())
    labels = [line.get_label() for line in ax.get_lines()]
    assert any(label.startswith("R1 off") and "clipped" in label for label in labels)
    assert labels[-1] == "base run"
    legend = ax.get_legend()
    assert legend is not None and legend.get_bbox_to_anchor().x0 >= ax.get_window_extent().x1 - 1
