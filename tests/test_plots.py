"""Comparison figures (pyloop.plots)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pytest

import pyloop
from pyloop.plots import comparison_figure, plot_variable, save_figure


@pytest.fixture(scope="module")
def results(cooling_model):
    return pyloop.run_many(cooling_model, ["baseline", "fast_cooling", "warm_room"])


def test_one_panel_per_variable_one_line_per_run(results):
    fig = comparison_figure(results, ["Teacup Temperature", "Heat Loss to Room"])
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 2
    assert axes[0].get_title() == "Teacup Temperature\n[Degrees Fahrenheit]"
    assert len(axes[0].get_lines()) == 3
    assert len(fig.legends) == 1
    assert [t.get_text() for t in fig.legends[0].get_texts()] == [
        "baseline", "fast_cooling", "warm_room"]


def test_grid_hides_unused_panels(results):
    fig = comparison_figure(results, ["Teacup Temperature"] * 4)
    assert len(fig.axes) == 6
    assert sum(ax.get_visible() for ax in fig.axes) == 4


def test_too_many_or_no_variables(results):
    with pytest.raises(pyloop.PyloopError, match="at most 9"):
        comparison_figure(results, ["Teacup Temperature"] * 10)
    with pytest.raises(pyloop.PyloopError, match="no variables"):
        comparison_figure(results, [])


def test_plot_variable_makes_its_own_axes(results, tmp_path):
    ax = plot_variable(results, "Teacup Temperature")
    assert len(ax.get_lines()) == 3
    save_figure(ax.figure, tmp_path / "one.png")
    assert (tmp_path / "one.png").read_bytes()[:4] == b"\x89PNG"


def test_plot_variable_uses_given_axes(results):
    fig, ax = plt.subplots()
    assert plot_variable(results, "Heat Loss to Room", ax=ax) is ax
    assert ax.get_xlabel() == "time [Minute]"
    plt.close(fig)


def test_a_run_plots_itself_on_given_axes(results):
    fig, ax = plt.subplots()
    try:
        drawn = results[0].plot(ax=ax, variable="Teacup Temperature")
        assert drawn is ax
        assert len(ax.get_lines()) == 1
        assert ax.get_title() == "Teacup Temperature\n[Degrees Fahrenheit]"
        assert results[0].plot().get_title().startswith(str(results[0].frame.columns[0]))
    finally:
        plt.close(fig)


def test_a_loop_analysis_plots_its_relative_scores(cooling_model):
    analysis = pyloop.analyze_loops(cooling_model, "baseline")
    ax = analysis.plot()
    assert ax.get_title().startswith(f"Loop dominance in run '{analysis.run}'")
    assert ax.get_ylim() == (-1.02, 1.02)


# ------------------------------------------------------------ sensitivity
def _ishigami_study(tmp_path):
    import shutil

    from conftest import MODELS
    from pyloop.sensitivity.study import sensitivity_study

    shutil.copyfile(MODELS / "ishigami.mdl", tmp_path / "ishigami.mdl")
    shutil.copyfile(MODELS / "ishigami.uncertainty.toml", tmp_path / "ishigami.uncertainty.toml")
    (tmp_path / "ishigami.scenarios.toml").write_text(
        "[scenarios.calm]\ndescription = 'B at 0.1.'\n"
        "[scenarios.strong]\ndescription = 'B at 0.3.'\n[scenarios.strong.constants]\nB = 0.3\n"
    )
    model = pyloop.load_model(tmp_path / "ishigami.mdl")
    return model, sensitivity_study(model, "mc", 30, 0, scenarios=["calm", "strong"], out=tmp_path / "out")


def test_the_fan_chart_draws_each_scenarios_deterministic_run(tmp_path):
    import numpy as np

    from pyloop.plots import fan_chart_figure
    from pyloop.sensitivity.result import percentile_bands

    model, study = _ishigami_study(tmp_path)
    variable = next(iter(study.results["calm"].series))
    panels = [(variable, "Dmnl", [(k, percentile_bands(r, variable), study.deterministic[k][variable])
                                  for k, r in study.results.items()])]
    fig = fan_chart_figure(panels, time_units=model.time.units)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert len(shown) == 2  # small multiples: one panel per scenario
    for ax, scenario in zip(shown, ["calm", "strong"]):
        assert ax.get_title() == f"{scenario}: {variable}" and ax.get_ylabel() == "[Dmnl]"
        lines = [line for line in ax.get_lines() if line.get_label() == "deterministic run"]
        assert len(lines) == 1 and lines[0] is ax.get_lines()[-1]  # drawn last
        assert lines[0].get_linewidth() > ax.get_lines()[0].get_linewidth()  # thicker than the median
        plain = pyloop.run(model, scenario).frame[variable]
        assert np.allclose(lines[0].get_ydata(), plain.to_numpy()) and np.allclose(lines[0].get_xdata(), plain.index)
    plt.close("all")


def test_sobol_bars_are_ranked_by_total_index_and_negative_estimates_clipped():
    import pandas as pd

    from pyloop.plots import sobol_figure

    index = pd.MultiIndex.from_product([["Y"], [f"P{i}" for i in range(14)]], names=["outcome", "parameter"])
    st = [0.05 * ((7 * i) % 14) for i in range(14)]
    s1 = [-0.02] * 13 + [-0.2]  # the last one's whole interval lies below 0
    table = pd.DataFrame({"S1": s1, "S1_conf": [0.03] * 14, "ST": st, "ST_conf": [0.01] * 14},
                         index=index)
    fig = sobol_figure(table, title="t")
    ax = fig.axes[0]
    names = [t.get_text() for t in ax.get_yticklabels()]
    want = table.loc["Y"]["ST"].sort_values(ascending=False, kind="stable").index[:10]
    assert names == list(want)  # ST descending, the ten largest only
    assert ax.get_legend_handles_labels()[1] == ["total ST", "first order S1"]  # total order first
    from matplotlib.container import BarContainer

    total, first = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert all(bar.get_width() == 0 for bar in first.patches)  # negative S1 drawn at 0
    assert [bar.get_width() for bar in total.patches] == sorted(st, reverse=True)[:10]
    assert "sampling noise" in fig.get_supxlabel()
    plt.close("all")


def test_prim_bounds_show_three_digits_of_the_sampled_range():
    # a box on a year must not read "2026 - 2027" nor "2,026.16"
    from pyloop.text_format import format_bound

    assert format_bound(2026.1586, 1.5) == "2026.16"
    assert format_bound(157.33, 250.0) == "157"
    assert format_bound(0.24056, 0.3) == "0.241"


def test_png_figures_are_saved_with_a_palette(tmp_path):
    # a chart fits in 256 colours: the palette PNG is a fraction of the
    # full-colour one, and reads back as the same picture size
    import matplotlib.pyplot as plt
    import numpy as np
    from PIL import Image

    from pyloop.plots import save_figure

    fig, ax = plt.subplots(figsize=(6, 4))
    for k in range(8):
        ax.plot(np.linspace(0, 10, 200), np.sin(np.linspace(0, 10, 200) + k), label=f"run {k}")
    ax.legend()
    save_figure(fig, tmp_path / "chart.png", dpi=110)
    fig.savefig(tmp_path / "full.png", dpi=110)
    plt.close(fig)
    with Image.open(tmp_path / "chart.png") as small, Image.open(tmp_path / "full.png") as full:
        assert small.mode == "P" and small.size == full.size
        assert len(small.getcolors(256)) <= 256
    assert (tmp_path / "chart.png").stat().st_size < 0.6 * (tmp_path / "full.png").stat().st_size


def test_an_event_that_never_happens_says_so():
    from pyloop.plots.fit import event_figure

    empty = event_figure("First contract cancellation", np.array([]), "Year")
    assert [t.get_text() for t in empty.axes[0].texts] == ["in no draw before the run ends"]
    drawn = event_figure("First contract cancellation", np.linspace(2029, 2034, 40), "Year")
    assert len(drawn.axes[0].texts) == 0 and len(drawn.axes[0].patches) > 0
