"""Comparison figures (pyloop.plots)."""

from __future__ import annotations

import matplotlib.pyplot as plt
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
