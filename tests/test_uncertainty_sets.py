"""Scenario-specific uncertain parameters: the ``scenarios`` key of an
uncertainty file, and how it meets the constants a scenario sets."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import pyloop
from pyloop.declarations.uncertainty import read_uncertainty
from pyloop.errors import PyloopError
from pyloop.sensitivity.ensemble import load_ensemble, run_ensemble

from conftest import MODELS

SCENARIOS = """
[scenarios.calm]
description = "X1 at zero."
[scenarios.shock]
description = "X1 set high."
[scenarios.shock.constants]
X1 = 2.5
"""

SHOCK_ONLY = """
[parameters.X1]
scenarios = ["shock"]
min = 2
max = 3
[parameters.X2]
[outcomes."Final Y"]
variable = "Y"
statistic = "final"
"""


def _model(tmp_path, uncertainty: str):
    shutil.copyfile(MODELS / "ishigami.mdl", tmp_path / "ishigami.mdl")
    (tmp_path / "ishigami.scenarios.toml").write_text(SCENARIOS)
    (tmp_path / "ishigami.uncertainty.toml").write_text(uncertainty)
    return pyloop.load_model(tmp_path / "ishigami.mdl")


def test_a_parameter_declared_for_one_scenario_is_sampled_only_there(tmp_path):
    model = _model(tmp_path, SHOCK_ONLY)
    calm = run_ensemble(model, "mc", 40, seed=1, scenario="calm")
    shock = run_ensemble(model, "mc", 40, seed=1, scenario="shock", out=tmp_path / "shock")
    defaults = run_ensemble(model, "mc", 40, seed=1)
    assert list(calm.samples.columns) == ["X2"] == list(defaults.samples.columns)
    # the declaration wins over the scenario's own value (2.5): X1 varies
    x1 = shock.samples["X1"].to_numpy()
    assert 2 <= x1.min() < x1.max() <= 3 and np.ptp(x1) > 0.5
    assert "X1" not in shock.base
    # outside the scenario X1 keeps the model's value (0): sin(0) terms vanish
    x2 = calm.samples["X2"].to_numpy()
    assert np.allclose(calm.outcomes["Final Y"].to_numpy(), 7 * np.sin(x2) ** 2)
    # a stored ensemble is read back with the parameters it sampled
    again = load_ensemble(tmp_path / "shock", model)
    assert list(again.samples.columns) == ["X1", "X2"]


def test_a_constant_the_scenario_sets_stays_fixed_unless_declared_for_it(tmp_path):
    model = _model(tmp_path, "[parameters.X1]\n[parameters.X2]\n")
    shock = run_ensemble(model, "mc", 10, seed=1, scenario="shock")
    assert list(shock.samples.columns) == ["X2"]
    assert shock.base == {"X1": 2.5}


def test_an_unknown_scenario_name_is_one_clear_error(tmp_path):
    model = _model(tmp_path, '[parameters.X1]\nscenarios = ["shocks"]\n')
    with pytest.raises(PyloopError, match=r"unknown scenario 'shocks'.*'ishigami\.uncertainty\.toml'; "
                                          r"known scenarios: calm, shock"):
        read_uncertainty(model)


def test_scenarios_must_be_a_list_of_names(tmp_path):
    model = _model(tmp_path, '[parameters.X1]\nscenarios = "shock"\n')
    with pytest.raises(PyloopError, match="scenarios of parameter 'X1'.*non-empty list"):
        read_uncertainty(model)


def test_the_equity_shock_is_sampled_only_where_it_defines_the_scenario(circular_model):
    size, time = "Equity Appetite Shock Size", "Equity Appetite Shock Time"
    baseline = run_ensemble(circular_model, "mc", 12, seed=3, scenario="baseline")
    stops = run_ensemble(circular_model, "mc", 12, seed=3, scenario="music_stops")
    # baseline runs keep the model's default (no shock): neither sampled nor fixed
    assert size not in baseline.samples.columns and time not in baseline.samples.columns
    assert circular_model.defaults[size] == 0
    assert size not in baseline.base
    # music_stops samples both around its own values (0.7 at 2026.5)
    assert 0.5 <= stops.samples[size].min() < 0.7 < stops.samples[size].max() <= 0.9
    assert 2026.0 <= stops.samples[time].min() < 2026.5 < stops.samples[time].max() <= 2027.5
    assert not set(stops.base) & {size, time}


def test_the_command_says_per_scenario_what_it_samples_and_keeps(tmp_path, capsys):
    from pyloop.cli import main

    _model(tmp_path, SHOCK_ONLY)
    code = main(["sensitivity", "--model", str(tmp_path / "ishigami.mdl"), "--samples", "16",
                 "--scenario", "calm", "--scenario", "shock", "--out", str(tmp_path / "out")])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert "calm: 1 uncertain constant sampled; fixed by the scenario or not declared for it: X1" in lines
    assert "shock: 2 uncertain constants sampled" in lines
