"""Calibration to observed time series: observations, payoff, fit, posterior, CLI."""

from __future__ import annotations

import json
import re
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pyloop
from conftest import FIXTURES, MODELS
from pyloop import cli
from pyloop.errors import ParameterError
from pyloop.fitting.calibrate import (
    CalibrationSettings,
    Checkpoint,
    Evaluator,
    FitParameter,
    RHAT_LIMIT,
    calibrate,
    fit_parameters,
    payoff,
)
from pyloop.declarations.observations import ObservationError, observations_from_arrays, read_observations
from pyloop.declarations.scenarios import read_scenario_file

TEACUP = FIXTURES / "teacup" / "teacup.mdl"
SIR = FIXTURES / "SIR" / "SIR.mdl"


def synthetic(model, true, variable, times, sd, seed):
    """Observations of ``variable`` from a run with the constants ``true``,
    plus Gaussian noise of standard deviation ``sd`` (fixed seed)."""
    frame = model.simulate(true, return_columns=[variable])
    clean = np.interp(times, frame.index.to_numpy(dtype=float), frame[variable].to_numpy(dtype=float))
    sd = np.broadcast_to(np.asarray(sd, dtype=float), clean.shape)
    noisy = clean + np.random.default_rng(seed).normal(0.0, sd)
    return observations_from_arrays([variable] * len(times), times, noisy, sd)


def write_csv(path: Path, obs) -> Path:
    pd.DataFrame({"variable": obs.variable, "time": obs.time, "value": obs.value, "sd": obs.sd}).to_csv(
        path, index=False
    )
    return path


def assert_recovered(result, true):
    intervals = result.interval(5, 95)
    for name, value in true.items():
        assert result.best[name] == pytest.approx(value, rel=0.05), name
        low, high = intervals[name]
        assert low <= value <= high, (name, low, high)


# ----------------------------------------------------------- known answers
def test_fit_recovers_the_teacup_constants():
    model = pyloop.load_model(TEACUP)
    true = {"Characteristic Time": 12.0, "Room Temperature": 65.0}
    obs = synthetic(model, true, "Teacup Temperature", np.arange(1.0, 30.0, 2.0), 1.0, seed=1)
    params = (FitParameter("Characteristic Time", 2, 30), FitParameter("Room Temperature", 40, 90))
    result = calibrate(model, obs, params, CalibrationSettings(samples=200, seed=3), progress=False)
    assert_recovered(result, true)
    assert result.fit.payoff == pytest.approx(payoff(result.fitted[None, :], obs)[0])


def test_fit_recovers_the_sir_constants(tmp_path):
    # the SIR fixture with a coarser time step, so that the test stays short
    source = SIR.read_text()
    assert "TIME STEP  = 0.03125" in source
    path = tmp_path / "SIR.mdl"
    path.write_text(source.replace("TIME STEP  = 0.03125", "TIME STEP  = 0.25"))
    model = pyloop.load_model(path)
    true = {"Contact Infectivity": 0.3, "Duration": 5.0}
    times = np.arange(4.0, 61.0, 4.0)
    frame = model.simulate(true, return_columns=["Infectious"])
    sd = 0.05 * np.interp(times, frame.index, frame["Infectious"]) + 1.0
    obs = synthetic(model, true, "Infectious", times, sd, seed=7)
    params = (FitParameter("Contact Infectivity", 0.1, 1.0), FitParameter("Duration", 1.0, 15.0))
    settings = CalibrationSettings(samples=200, seed=3, popsize=10)
    result = calibrate(model, obs, params, settings, progress=False)
    assert_recovered(result, true)


# ------------------------------------------------------------------ payoff
def test_payoff_is_the_weighted_sum_of_squared_standardised_errors():
    obs = observations_from_arrays(["a", "a", "b"], [0, 1, 2], [1.0, 2.0, 3.0], [0.5, 1.0, 2.0], [1.0, 2.0, 0.0])
    model_values = np.array([[2.0, 2.0, 100.0], [1.0, 4.0, 3.0], [np.nan, 2.0, 3.0]])
    expected = [1 * (1 / 0.5) ** 2 + 0 + 0, 0 + 2 * (2 / 1) ** 2 + 0, np.inf]
    assert payoff(model_values, obs).tolist() == expected


def test_model_values_are_interpolated_between_saved_times(cooling_copy):
    model = pyloop.load_model(cooling_copy)
    times = np.array([0.3, 7.77, 29.9])
    obs = observations_from_arrays(["Teacup Temperature"] * 3, times, [0.0] * 3, [1.0] * 3)
    evaluator = Evaluator(model, (FitParameter("Characteristic Time", 1, 100),))
    values = evaluator.at(np.array([[5.0], [20.0]]), obs)
    for row, tau in zip(values, (5.0, 20.0)):
        frame = model.simulate({"Characteristic Time": tau}, return_columns=["Teacup Temperature"])
        expected = np.interp(times, frame.index.to_numpy(dtype=float), frame["Teacup Temperature"])
        np.testing.assert_allclose(row, expected, rtol=1e-12)


# ------------------------------------------------------- observation errors
@pytest.fixture(scope="module")
def cooling():
    return pyloop.load_model(MODELS / "cooling.mdl")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", r"'obs.csv' is empty"),
        ("\n\n", r"'obs.csv' is empty"),
        ("variable,time,value\n", r"has a header but no observations"),
        ("variable,value\nTeacup Temperature,3\n", r"has no column 'time'"),
        ("variable,time,value\nTeacup Temprature,1,100\n",
         r"row 2: unknown variable 'Teacup Temprature'; did you mean 'Teacup Temperature'"),
        ("variable,time,value\nTeacup Temperature,1,100\nTeacup Temperature,31,80\n",
         r"row 3: time 31 is outside the run \(0 to 30\)"),
        ("variable,time,value\nTeacup Temperature,1,warm\n", r"row 2: value 'warm' is not a number"),
        ("variable,time,value\nTeacup Temperature,1,nan\n", r"row 2: value 'nan' is not a number"),
        ("variable,time,value,sd\nTeacup Temperature,1,100,0\n", r"row 2: the error sd .* must be positive"),
        ("variable,time,value,rel_tol\nTeacup Temperature,1,0,0.1\n", r"row 2: the error sd .* must be positive"),
        ("variable,time,value,sd,rel_tol\nTeacup Temperature,1,100,1,0.1\n", r"both 'sd' and 'rel_tol'"),
        ("variable,time,value,weight\nTeacup Temperature,1,100,-1\n", r"weight -1 must not be negative"),
    ],
)
def test_bad_observation_files_are_one_clear_error(tmp_path, cooling, text, message):
    path = tmp_path / "obs.csv"
    path.write_text(text)
    with pytest.raises(ObservationError, match=message):
        read_observations(path, cooling)


def test_missing_observation_file(tmp_path, cooling):
    with pytest.raises(ObservationError, match=r"observations file not found: .*nowhere.csv'; check --data"):
        read_observations(tmp_path / "nowhere.csv", cooling)


def test_observations_are_read_with_their_sd_and_weight(tmp_path, cooling):
    path = tmp_path / "obs.csv"
    path.write_text("Variable,Time,Value,rel_tol,weight\nteacup_temperature,2.5,-120,0.1,2\n"
                    "Heat Loss to Room,0,11,0.5,0\n")
    obs = read_observations(path, cooling)
    assert obs.variable == ("Teacup Temperature", "Heat Loss to Room")
    assert obs.sd.tolist() == [12.0, 5.5]
    assert obs.weight.tolist() == [2.0, 0.0]
    assert obs.time.tolist() == [2.5, 0.0]


# ----------------------------------------------------------- parameter errors
@pytest.mark.parametrize(
    "option, message",
    [
        ("Charcteristic Time=1:20", r"unknown constant 'Charcteristic Time' in --param; did you mean 'Characteristic Time'\?"),
        ("Characteristic Time=1-20", r"write the range as LOW:HIGH, not '1-20'"),
        ("Characteristic Time=20:5", r"the range \[20, 5\] is empty"),
        ("Characteristic Time=0.5:20", r"leaves its declared range \[1, 100\]"),
        ("Characteristic Time=a:20", r"low 'a' is not a finite number"),
        ("Room Temperature", r"'Room Temperature' has no finite declared range; give one"),
        ("Teacup Temperature=1:2", r"unknown constant 'Teacup Temperature'"),
    ],
)
def test_bad_param_options(cooling, option, message):
    with pytest.raises(ParameterError, match=message):
        fit_parameters(cooling, [option])


def test_param_alone_takes_the_declared_range(cooling):
    assert fit_parameters(cooling, ["characteristic time", "Room Temperature=60:75"]) == (
        FitParameter("Characteristic Time", 1.0, 100.0), FitParameter("Room Temperature", 60.0, 75.0)
    )


# --------------------------------------------------------------- the study
def test_holdout_fits_only_the_early_observations(cooling_copy):
    model = pyloop.load_model(cooling_copy)
    obs = synthetic(model, {"Characteristic Time": 8.0}, "Teacup Temperature", np.arange(1.0, 30.0, 3.0), 0.5, 2)
    params = (FitParameter("Characteristic Time", 1, 100),)
    result = calibrate(model, obs, params, CalibrationSettings(samples=40, seed=1, holdout_after=15),
                       progress=False)
    table = result.table()
    assert (table["set"] == np.where(obs.time > 15, "holdout", "fit")).all()
    early = table[table["set"] == "fit"]
    assert result.fit.payoff == pytest.approx((early["weight"] * early["standardised error"] ** 2).sum())
    scores = result.holdout_scores()
    late = table[table["set"] == "holdout"]
    assert scores["observations"] == len(late) == int((obs.time > 15).sum())
    assert scores["payoff"] == pytest.approx((late["standardised error"] ** 2).sum())
    with pytest.raises(pyloop.PyloopError, match=r"no observation after --holdout-after 40 to hold out"):
        calibrate(model, obs, params, CalibrationSettings(samples=4, holdout_after=40), progress=False)
    with pytest.raises(pyloop.PyloopError, match=r"no observation at or before --holdout-after 0\.5 to fit"):
        calibrate(model, obs, params, CalibrationSettings(samples=4, holdout_after=0.5), progress=False)


def test_short_chains_warn_about_r_hat(cooling_copy):
    model = pyloop.load_model(cooling_copy)
    obs = synthetic(model, {"Characteristic Time": 8.0}, "Teacup Temperature", np.arange(1.0, 30.0, 3.0), 0.5, 2)
    result = calibrate(model, obs, (FitParameter("Characteristic Time", 1, 100),),
                       CalibrationSettings(samples=6, seed=0), progress=False)
    r_hat = result.diagnostics["Characteristic Time"]["r_hat"]
    warned = any("R-hat of 'Characteristic Time'" in w for w in result.summary()["warnings"])
    assert warned == (not r_hat <= RHAT_LIMIT)


# ---------------------------------------------------------------- sampler
def test_range_student_t_is_a_t_density_in_logit_coordinates():
    from scipy import stats
    from pyloop.fitting.posterior import RangeStudentT

    rng = np.random.default_rng(0)
    points = 2.0 + 3.0 / (1 + np.exp(-rng.normal(0.3, 0.8, size=(500, 1))))  # inside [2, 5]
    low, high = np.array([2.0]), np.array([5.0])
    t = RangeStudentT(points, low, high, df=5, inflate=1.2)
    draws = t.draw(10_000, np.random.RandomState(1))
    assert np.all((draws > 2.0) & (draws < 5.0))
    x = np.linspace(2.01, 4.99, 50)[:, None]
    p = (x[:, 0] - 2.0) / 3.0
    u = np.log(p / (1 - p))
    scale = 1.2 * np.sqrt(np.cov(np.log((points[:, 0] - 2) / (5 - points[:, 0]))) + 1e-6)
    expected = stats.t.logpdf(u, 5, loc=t.mean[0], scale=scale) - np.log(3.0 * p * (1 - p))
    offset = t.log_density(x) - expected
    assert np.ptp(offset) < 1e-9  # the same density up to its normalising constant


class _GaussianPayoff:
    """Stands in for an Evaluator: the payoff of two constants is a sum of
    squared standardised errors, so the posterior is a Gaussian cut by the ranges."""

    parameters = (FitParameter("a", 0.0, 10.0), FitParameter("b", 0.0, 1.0))
    mean, sd = np.array([3.0, 0.05]), np.array([0.5, 0.1])

    def payoff(self, x, obs):
        return (((x - self.mean) / self.sd) ** 2).sum(axis=1)


def test_posterior_sampler_reproduces_a_known_posterior_against_a_bound():
    from scipy import stats
    from pyloop.fitting.posterior import diagnose, sample_posterior

    target = _GaussianPayoff()
    start = target.mean + 0.01 * np.random.default_rng(2).standard_normal((32, 2))
    start[:, 1] = np.abs(start[:, 1])
    chain = sample_posterior(target, None, start, steps=600, seed=4, progress=False).kept(0.5)
    draws = chain.flat()
    b = stats.truncnorm((0 - 0.05) / 0.1, (1 - 0.05) / 0.1, loc=0.05, scale=0.1)
    assert draws[:, 0].mean() == pytest.approx(3.0, abs=0.03)
    assert draws[:, 0].std() == pytest.approx(0.5, rel=0.05)
    assert draws[:, 1].mean() == pytest.approx(b.mean(), abs=0.005)
    assert draws[:, 1].std() == pytest.approx(b.std(), rel=0.05)
    assert max(d["r_hat"] for d in diagnose(chain, ["a", "b"]).values()) < RHAT_LIMIT
    assert chain.accepted.mean() / 600 > 0.3  # the proposal has adapted to the posterior


# -------------------------------------------------------------------- CLI
@pytest.fixture
def teacup_data(tmp_path):
    """A copy of the cooling model (with its scenario file) and noisy observations."""
    for name in ("cooling.mdl", "cooling.scenarios.toml"):
        shutil.copyfile(MODELS / name, tmp_path / name)
    model = pyloop.load_model(tmp_path / "cooling.mdl")
    true = {"Characteristic Time": 12.0, "Room Temperature": 65.0}
    obs = synthetic(model, true, "Teacup Temperature", np.arange(1.0, 30.0, 2.0), 1.0, seed=4)
    return tmp_path / "cooling.mdl", write_csv(tmp_path / "obs.csv", obs)


def calibrate_args(model, data, out, *extra):
    return ["calibrate", "--model", str(model), "--data", str(data), "--param", "Characteristic Time=2:30",
            "--param", "Room Temperature=40:90", "--samples", "60", "--seed", "5", "--out", str(out), *extra]


def test_cli_writes_a_scenario_that_run_accepts(teacup_data, tmp_path, capsys):
    model, data = teacup_data
    out = tmp_path / "fit"
    assert cli.main(calibrate_args(model, data, out, "--holdout-after", "20")) == 0
    printed = capsys.readouterr().out
    assert "Held out after 20:" in printed
    summary = json.loads((out / "summary.json").read_text())
    scenario_text = (out / "calibrated.scenarios.toml").read_text()
    calibrated = tomllib.loads(scenario_text)["scenarios"]["calibrated"]
    assert calibrated["extends"] == "baseline"
    assert calibrated["constants"] == summary["best"]
    assert summary["holdout"]["observations"] == 5
    table = pd.read_csv(out / "fit_table.csv")
    assert (table["within tolerance"] == (table["standardised error"].abs() <= 1)).all()
    samples = pd.read_csv(out / "posterior_samples.csv")
    assert list(samples.columns) == ["walker", "step", "Characteristic Time", "Room Temperature", "log_prob"]
    assert samples["step"].min() == summary["burn-in steps"] == 30
    # the scenario runs: appended to the model's own scenario file
    scenarios = model.with_name("cooling.scenarios.toml")
    scenarios.write_text(scenarios.read_text() + "\n" + scenario_text)
    assert read_scenario_file(scenarios).resolve("calibrated") == summary["best"]
    assert cli.main(["run", "calibrated", "--model", str(model), "--out", str(tmp_path / "run")]) == 0
    run = pd.read_csv(tmp_path / "run" / "calibrated.csv", index_col=0)
    fitted = np.interp(table["time"], run.index, run["Teacup Temperature"])
    np.testing.assert_allclose(table["fitted"], fitted, rtol=1e-9)
    assert not list(tmp_path.glob(".fit.calibrate-checkpoint"))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a + ["--param", "Room Temperatur=40:90"], r"unknown constant 'Room Temperatur' in --param"),
        (lambda a: a[:3] + ["--data", "missing.csv"] + a[5:], r"observations file not found"),
        (lambda a: a + ["--samples", "1"], r"--samples must be at least 2, not 1"),
        (lambda a: a + ["--samples", str(10**12)], r"a chain of 1000000000000 steps .* choose a smaller --samples"),
        (lambda a: a + ["--resume"], r"nothing to resume"),
        (lambda a: a + ["--holdout-after", "100"], r"no observation after --holdout-after 100"),
    ],
)
def test_cli_errors_are_one_line_and_write_nothing(teacup_data, tmp_path, capsys, change, message):
    model, data = teacup_data
    out = tmp_path / "fit"
    assert cli.main(change(calibrate_args(model, data, out))) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pyloop: error: ")
    assert re.search(message, err)
    assert not out.exists()
    assert not (tmp_path / ".fit.calibrate-checkpoint").exists()


@pytest.mark.parametrize("pieces", [3, 7], ids=["in the burn-in", "after the burn-in"])
def test_an_interrupted_calibration_resumes_to_the_same_files(teacup_data, tmp_path, monkeypatch, pieces):
    model, data = teacup_data
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    assert cli.main(calibrate_args(model, data, whole)) == 0

    saved = Checkpoint.save_chain
    calls = []

    def interrupt(self, chain, state):
        saved(self, chain, state)
        calls.append(chain.steps)
        if len(calls) == pieces:
            raise KeyboardInterrupt

    monkeypatch.setattr(Checkpoint, "save_chain", interrupt)
    assert cli.main(calibrate_args(model, data, resumed)) == 130
    assert not resumed.exists()
    assert (tmp_path / ".resumed.calibrate-checkpoint" / "chain.npz").is_file()
    monkeypatch.setattr(Checkpoint, "save_chain", saved)
    # another seed is another problem: its checkpoint is not reused
    assert cli.main(calibrate_args(model, data, resumed, "--seed", "6", "--resume")) == 2
    assert cli.main(calibrate_args(model, data, resumed, "--resume")) == 0
    names = sorted(p.name for p in whole.iterdir())
    assert names == sorted(p.name for p in resumed.iterdir())
    for name in names:
        assert (whole / name).read_bytes() == (resumed / name).read_bytes(), name
    assert not (tmp_path / ".resumed.calibrate-checkpoint").exists()


def test_worker_processes_give_the_same_files(teacup_data, tmp_path):
    model, data = teacup_data
    here, there = tmp_path / "here", tmp_path / "there"
    assert cli.main(calibrate_args(model, data, here, "--samples", "10")) == 0
    assert cli.main(calibrate_args(model, data, there, "--samples", "10", "--workers", "2")) == 0
    for path in here.iterdir():
        assert path.read_bytes() == (there / path.name).read_bytes(), path.name


def test_walkers_default_to_at_least_thirty_two_and_are_even(cooling_copy):
    model = pyloop.load_model(cooling_copy)
    obs = synthetic(model, {"Characteristic Time": 8.0}, "Teacup Temperature", np.arange(1.0, 30.0, 3.0), 0.5, 2)
    params = (FitParameter("Characteristic Time", 1, 100), FitParameter("Room Temperature", 40, 90))
    default = calibrate(model, obs, params, CalibrationSettings(samples=4, seed=0), progress=False)
    assert default.summary()["walkers"] == 32  # max(32, 16 * 2)
    odd = calibrate(model, obs, params, CalibrationSettings(samples=4, seed=0, walkers=5), progress=False)
    assert odd.summary()["walkers"] == 6
