"""Per-variable loop dominance: which loops drive one variable."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import pyloop
from pyloop.cli import main
from pyloop.errors import PyloopError
from pyloop.analysis.loops import analyze_loops, analyze_variable, score_run, variable_dominance
from pyloop.analysis.structure import causal_structure

from conftest import MODELS


@pytest.fixture(scope="module")
def logistic():
    model = pyloop.load_model(MODELS / "logistic.mdl")
    return model, pyloop.run(model)


def test_stock_beside_the_loop_does_not_hide_the_growth():
    path = MODELS / "tracked_beside.mdl"
    partition = analyze_loops(path).reinforcing_share(0, 10)
    assert max(partition.values()) < 0.1  # the report's fast adjustment leads the partition
    capital = analyze_variable(path, "Capital", (0, 10))
    assert capital.reinforcing_share > 0.9
    assert capital.behaviour_polarity == 1.0  # exponential growth accelerates away throughout
    assert capital.agreement > 0.9
    assert [p.polarity for p in capital.phases] == ["R"]
    # the report's own adjustment loop does not pass through Capital
    assert all("Capital" in g.stocks for g in capital.groups)


def test_growing_stock_with_its_perception_on_the_loop():
    capital = analyze_variable(MODELS / "tracked_growth.mdl", "Capital")
    assert capital.reinforcing_share > 0.9
    assert capital.groups[0].label == "loop through Capital, Perceived Capital"


def test_logistic_switch_lands_at_half_capacity(logistic):
    model, result = logistic
    dominance = variable_dominance(model, result, "population")
    assert [p.polarity for p in dominance.phases] == ["R", "B"]
    population = result.frame["Population"].to_numpy()
    half = model.defaults["Carrying Capacity"] / 2
    crossing = result.frame.index[np.argmax(population >= half)]
    assert abs(dominance.phases[1].start - crossing) <= model.time.time_step + 1e-9


def test_groups_sum_the_loop_scores_so_twins_net_out(logistic):
    model, result = logistic
    dominance = variable_dominance(model, result, "Population")
    analysis = score_run(model, result, report=100)
    (group,) = dominance.groups  # every loop passes through Population only
    assert sorted(group.loops) == sorted(analysis.scores.columns)
    np.testing.assert_allclose(group.score, analysis.scores.sum(axis=1).to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(dominance.net, group.score, rtol=1e-12)
    assert set(np.unique(np.round(group.share[1:], 12))) <= {-1.0, 1.0}


def test_window_weights_and_behaviour(logistic):
    model, result = logistic
    early = variable_dominance(model, result, "Population", (0, 8))
    late = variable_dominance(model, result, "Population", (12, 30))
    assert early.reinforcing_share == 1.0 and early.behaviour_polarity == 1.0
    assert late.reinforcing_share == 0.0 and late.behaviour_polarity == 0.0
    assert early.agreement == late.agreement == 1.0
    assert early.window == (0.0, 8.0)


def test_named_loops_are_labelled_by_the_catalogue(tmp_path):
    shutil.copyfile(MODELS / "tracked_beside.mdl", tmp_path / "beside.mdl")
    (tmp_path / "beside.loops.toml").write_text(
        '[[loop]]\nid = "R1"\nname = "Investment growth"\npolarity = "R"\n'
        'variables = ["Capital", "Investment"]\n'
    )
    capital = analyze_variable(tmp_path / "beside.mdl", "Capital")
    labels = {g.label for g in capital.groups}
    assert labels == {"R1 Investment growth", "loop through Capital, Reported Capital"}
    assert all(p.leading for p in capital.phases)
    assert not any(label.startswith("L") for p in capital.phases for label in p.leading)


def test_errors(logistic):
    model, result = logistic
    with pytest.raises(PyloopError, match="unknown variable 'Popul'.*'Population'"):
        variable_dominance(model, result, "Popul")
    with pytest.raises(PyloopError, match="'Birth Rate' is a constant, not a variable"):
        variable_dominance(model, result, "Birth Rate")
    with pytest.raises(PyloopError, match="the window must start before it ends"):
        variable_dominance(model, result, "Population", (5, 1))
    with pytest.raises(PyloopError, match="holds no time of run"):
        variable_dominance(model, result, "Population", (40, 50))


def test_variable_on_no_loop_is_refused():
    with pytest.raises(PyloopError, match="'Target Workforce' lies on no feedback loop of model"):
        analyze_variable(MODELS / "two_stock.mdl", "target workforce")


def test_one_letter_names(tmp_path):
    path = tmp_path / "letters.mdl"
    path.write_text(
        "{UTF-8}\nx= INTEG (\n\tf,\n\t\t1)\n\t~\tWidget\n\t~\tA stock.\n\t|\n\n"
        "f=\n\tp * x - e * x * x\n\t~\tWidget/Year\n\t~\tNet growth.\n\t|\n\n"
        "p=\n\t0.5\n\t~\t1/Year\n\t~\tGrowth.\n\t|\n\n"
        "e=\n\t0.01\n\t~\t1/(Widget*Year)\n\t~\tCrowding.\n\t|\n\n"
        "FINAL TIME  = 10\n\t~\tYear\n\t~\tEnd.\n\t|\n\nINITIAL TIME  = 0\n\t~\tYear\n\t~\tStart.\n\t|\n\n"
        "SAVEPER  = TIME STEP\n\t~\tYear\n\t~\tSaving.\n\t|\n\nTIME STEP  = 0.25\n\t~\tYear\n\t~\tStep.\n\t|\n"
    )
    model = pyloop.load_model(path)
    links = {(k.cause, k.effect) for k in causal_structure(model).links}
    assert {("p", "f"), ("e", "f"), ("x", "f"), ("f", "x")} <= links
    analysis = analyze_loops(model)
    assert [k.variables for k in analysis.loops] == [("x", "f")]
    assert analysis.loops[0].polarity == "U"  # reinforcing while small, balancing later
    assert variable_dominance(model, pyloop.run(model), "x").groups[0].loops == ("L1",)


def test_cli_prints_and_writes_the_variable_report(tmp_path, capsys):
    out_json, out_png = tmp_path / "loops.json", tmp_path / "capital.png"
    code = main(["loops", "--model", str(MODELS / "tracked_beside.mdl"), "--variable", "capital",
                 "--window", "0", "5", "--json", str(out_json), "--plot", str(out_png)])
    assert code == 0
    text = capsys.readouterr().out
    assert "What drives 'Capital' from 0 to 5" in text
    assert "reinforcing groups hold 100% of its loop score" in text
    data = json.loads(out_json.read_text())["variable"]
    assert data["variable"] == "Capital" and data["window"] == [0.0, 5.0]
    assert data["reinforcing_share"] == 1.0
    assert {g["label"] for g in data["groups"]} == {
        "loop through Capital", "loop through Capital, Reported Capital"}
    assert all(len(g["share"]) == len(data["time"]) for g in data["groups"])
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out_png.stat().st_size > 10_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["capital.png", "loops.json"]


def test_cli_refuses_an_unknown_variable_before_running(tmp_path, capsys):
    out_json = tmp_path / "loops.json"
    code = main(["loops", "--model", str(MODELS / "logistic.mdl"), "--variable", "Popul",
                 "--json", str(out_json)])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("pyloop: error: unknown variable 'Popul'") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_figure_colours_the_trajectory_by_polarity(logistic):
    from pyloop.plots import variable_dominance_figure

    model, result = logistic
    dominance = variable_dominance(model, result, "Population")
    fig = variable_dominance_figure(dominance, result.frame["Population"])
    top, low = fig.axes[:2]
    colours = {line.get_color() for line in top.get_lines()}
    assert {"#c0392b", "#2e86c1"} <= colours
    red = [line for line in top.get_lines() if line.get_color() == "#c0392b"][0]
    assert red.get_xdata().max() <= dominance.phases[0].end + 1e-9
    assert low.get_legend().get_texts()[0].get_text() == dominance.groups[0].label


def test_figure_title_fits_inside_the_figure(logistic):
    # the title names the variable and the run; it must not be cut at the
    # figure's edge when the legend widens the figure's content
    from pyloop.plots import variable_dominance_figure

    model, result = logistic
    dominance = variable_dominance(model, result, "Population")
    fig = variable_dominance_figure(dominance, result.frame["Population"])
    fig.canvas.draw()
    title = fig.get_suptitle()
    assert title.startswith("What drives 'Population'")
    box = fig._suptitle.get_window_extent()
    assert 0 <= box.x0 and box.x1 <= fig.bbox.width
