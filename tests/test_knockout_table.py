"""The knockout table: each named loop switched off, per scenario, from the
API (:func:`pyloop.knockout_table`) and from ``pyloop loops --knockouts``."""

from __future__ import annotations

import json

import numpy as np
import pytest

import pyloop
from pyloop.cli import main
from pyloop.errors import PyloopError

from conftest import MODELS

TANK = MODELS / "quality" / "tank.mdl"

SCENARIOS = """
[meta]
key_variables = ["Outflow", "Water"]

[scenarios.small]
description = "A small tank."
[scenarios.small.constants]
"Capacity" = 50

[scenarios.fast]
description = "A fast drain."
[scenarios.fast.constants]
"Drain Time" = 2
"""


@pytest.fixture
def tank_scenarios(tmp_path):
    """A scenario file for tank.mdl, written outside the source tree."""
    path = tmp_path / "tank.scenarios.toml"
    path.write_text(SCENARIOS, encoding="utf-8")
    return path


def test_loop_analysis_names_import_from_pyloop():
    for name in ("analyze_variable", "variable_dominance", "run_modes", "knockout_table",
                 "VariableDominance", "VariablePhase", "LoopGroup", "Modes", "ModePhase"):
        assert name in pyloop.__all__, name
        obj = getattr(pyloop, name)
        assert obj.__module__.startswith("pyloop.analysis.loops."), name
        assert obj.__doc__ and len(obj.__doc__.split()) > 5, name
    from pyloop import analyze_variable, knockout_table, run_modes, variable_dominance  # noqa: F401


def test_every_scenario_and_loop_against_its_own_runs(tank_scenarios):
    model = pyloop.load_model(TANK, declarations={"scenarios": tank_scenarios})
    table = pyloop.knockout_table(model, ["Water"], ["small", "fast"])
    assert list(table.index.get_level_values("scenario").unique()) == ["small", "fast"]
    assert list(table.index.get_level_values("loop").unique()) == ["B1", "B2"]
    for scenario in ("small", "fast"):
        base = pyloop.run(model, scenario).frame["Water"].to_numpy()
        for lid, switch in (("B1", "Switch B1 Fill"), ("B2", "Switch B2 Drain")):
            off = pyloop.run(model, scenario, params={switch: 0}).frame["Water"].to_numpy()
            row = table.loc[(scenario, lid, "Water")]
            assert row["peak change"] == pytest.approx(off.max() - base.max())
            assert row["trough change"] == pytest.approx(off.min() - base.min())
            assert row["final change"] == pytest.approx(off[-1] - base[-1])
            assert row["final change %"] == pytest.approx(100 * (off[-1] - base[-1]) / abs(base[-1]))
    # the scenarios differ, so their tables do too
    assert not np.allclose(table.xs("small")["knockout final"], table.xs("fast")["knockout final"])


def test_unknown_scenario_fails_before_any_run(monkeypatch, tank_scenarios):
    import pyloop.analysis.loops.knockout as knockout

    model = pyloop.load_model(TANK, declarations={"scenarios": tank_scenarios})
    runs = []
    monkeypatch.setattr(knockout, "run_together", lambda *a, **k: runs.append(a) or pytest.fail("ran"))
    with pytest.raises(PyloopError, match="unknown scenario 'fsat'.*'fast'"):
        pyloop.knockout_table(model, ["Water"], ["small", "fsat"])
    assert runs == []


def test_progress_bar_counts_every_run(monkeypatch, capsys):
    import pyloop.analysis.loops.knockout as knockout

    bars = []
    make = knockout._progress_bar
    monkeypatch.setattr(knockout, "_progress_bar", lambda *a: bars.append(make(*a)) or bars[-1])
    pyloop.knockout_table(TANK, ["Water"], [None], progress=True)
    (bar,) = bars
    assert (bar.n, bar.total) == (3, 3)  # the base run and two knockouts
    assert "knockout runs" in capsys.readouterr().err
    pyloop.knockout_table(TANK, ["Water"], [None])  # not a terminal: no bar
    assert bars[-1] is None and capsys.readouterr().err == ""


def test_cli_prints_and_writes_the_knockout_table(tmp_path, capsys, tank_scenarios):
    out = tmp_path / "out"
    out.mkdir()
    target = out / "knockouts.json"
    code = main(["loops", "--model", str(TANK), "--scenarios", str(tank_scenarios),
                 "--knockouts", "--scenario", "small", "--scenario", "fast",
                 "--json", str(target)])
    assert code == 0
    text = capsys.readouterr().out
    assert "Scenario 'small':" in text and "Scenario 'fast':" in text
    assert text.count("B1 Filling off:") == 2 and text.count("B2 Draining off:") == 2
    data = json.loads(target.read_text())
    assert data["variables"] == ["Outflow", "Water"]  # the scenario file's key variables
    assert data["scenarios"] == ["small", "fast"]
    assert data["loops"] == {"B1": "Filling", "B2": "Draining"}
    assert len(data["knockouts"]) == 2 * 2 * 2
    model = pyloop.load_model(TANK, declarations={"scenarios": tank_scenarios})
    base = pyloop.run(model, "fast").frame["Outflow"]
    off = pyloop.run(model, "fast", params={"Switch B2 Drain": 0}).frame["Outflow"]
    (row,) = [r for r in data["knockouts"]
              if (r["scenario"], r["loop"], r["output"]) == ("fast", "B2", "Outflow")]
    assert row["peak change"] == pytest.approx(off.max() - base.max())
    assert row["trough change %"] is None or np.isfinite(row["trough change %"])
    assert sorted(p.name for p in out.iterdir()) == ["knockouts.json"]


def test_cli_knockouts_of_named_variables_under_the_defaults(capsys):
    assert main(["loops", "--model", str(TANK), "--knockouts", "--variables", "water seen"]) == 0
    text = capsys.readouterr().out
    assert "Scenario '(defaults)':" in text and "Water Seen" in text
    assert "Outflow" not in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--knockouts", "--scenario", "nope"], "unknown scenario 'nope'"),
        (["--knockouts", "--variables", "Watr"], "unknown variable 'Watr'.*'Water'"),
        (["--knockouts", "--modes"], "--knockouts cannot be combined with --modes"),
        (["--variables", "Water"], "--variables names the variables of the knockout table"),
        (["--scenario", "small", "--scenario", "fast"], "name one --scenario"),
    ],
)
def test_cli_knockout_errors_are_one_line(tmp_path, capsys, tank_scenarios, argv, message):
    import re

    target = tmp_path / "k.json"
    code = main(["loops", "--model", str(TANK), "--scenarios", str(tank_scenarios),
                 "--json", str(target), *argv])
    assert code == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and captured.err.startswith("pyloop: error: ")
    assert re.search(message, captured.err)
    assert captured.out == ""
    assert not target.exists()


def test_cli_model_without_switches(tmp_path, capsys):
    code = main(["loops", "--model", str(MODELS / "logistic.mdl"), "--knockouts",
                 "--variables", "Population", "--json", str(tmp_path / "k.json")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "has no loop catalogue with switches" in err and ".loops.toml" in err
    assert list(tmp_path.iterdir()) == []


def test_an_empty_list_of_loops_is_refused():
    with pytest.raises(PyloopError, match="name at least one loop to knock out"):
        pyloop.knockout_table(TANK, ["Water"], loops=[])
