"""Runs under scenarios and policies, validation, and result tables."""

from __future__ import annotations

import shutil
import textwrap

import numpy as np
import pytest

import pyloop
from pyloop.errors import ParameterError, ScenarioError, SimulationError
from pyloop.runner import key_variables
from conftest import MODELS


def test_default_run_is_named_after_the_model(cooling_model):
    r = pyloop.run(cooling_model)
    assert r.name == "cooling" and r.scenario is None and r.policy is None
    assert dict(r.constants) == {}
    assert r.units["Teacup Temperature"] == "Degrees Fahrenheit"
    assert r.frame["Teacup Temperature"].iloc[0] == 180


def test_run_accepts_a_path():
    r = pyloop.run(MODELS / "cooling.mdl", "fast_cooling")
    assert r.name == "fast_cooling"


def test_scenario_then_policy_then_params(cooling_model):
    r = pyloop.run(cooling_model, "warm_room")
    assert r.name == "warm_room"
    assert dict(r.constants) == {"Characteristic Time": 5, "Room Temperature": 80}
    r = pyloop.run(cooling_model, "warm_room", "lid")
    assert r.name == "warm_room+lid"
    assert dict(r.constants) == {"Characteristic Time": 20, "Room Temperature": 80}
    r = pyloop.run(cooling_model, "warm_room", "lid", {"Characteristic Time": 40})
    assert r.constants["Characteristic Time"] == 40
    assert (r.frame["Characteristic Time"] == 40).all()
    assert (r.frame["Room Temperature"] == 80).all()
    r = pyloop.run(cooling_model, policy="lid")
    assert r.name == "cooling+lid"


def test_scenario_values_reach_the_simulation(cooling_model):
    base = pyloop.run(cooling_model, "baseline").frame["Teacup Temperature"]
    fast = pyloop.run(cooling_model, "fast_cooling").frame["Teacup Temperature"]
    assert fast.iloc[-1] < base.iloc[-1]
    # analytic solution of the cooling tea: T = R + (T0 - R) exp(-t / tau)
    t = base.index.to_numpy()
    exact = 70 + 110 * np.exp(-t / 10)
    assert np.allclose(base.to_numpy(), exact, rtol=0.01)


def test_time_settings_as_params(cooling_model):
    r = pyloop.run(cooling_model, params={"FINAL TIME": 5, "TIME STEP": 0.25})
    assert r.frame.index[-1] == 5 and len(r.frame) == 21
    assert len(pyloop.run(cooling_model).frame) == 241


def test_unknown_scenario_suggests_closest(cooling_model):
    with pytest.raises(ScenarioError, match=r"unknown scenario 'fast_colling' .*did you mean 'fast_cooling'\?"):
        pyloop.run(cooling_model, "fast_colling")


def test_unknown_scenario_without_close_match_lists_known(cooling_model):
    with pytest.raises(ScenarioError, match=r"known scenarios: baseline, fast_cooling, warm_room"):
        pyloop.run(cooling_model, "zzz")


def test_unknown_policy_suggests_closest(cooling_model):
    with pytest.raises(ScenarioError, match=r"unknown policy 'lidd' .*did you mean 'lid'\?"):
        pyloop.run(cooling_model, "baseline", "lidd")


def _model_with_scenarios(tmp_path, text):
    shutil.copyfile(MODELS / "cooling.mdl", tmp_path / "cooling.mdl")
    (tmp_path / "cooling.scenarios.toml").write_text(textwrap.dedent(text))
    return pyloop.load_model(tmp_path / "cooling.mdl")


def test_unknown_constant_in_scenario_file_suggests_closest(tmp_path):
    model = _model_with_scenarios(tmp_path, """
        [scenarios.chilly.constants]
        "Room Temprature" = 40
    """)
    with pytest.raises(
        ParameterError,
        match=r"unknown constant 'Room Temprature' in scenario 'chilly'; did you mean 'Room Temperature'\?",
    ):
        pyloop.run(model, "chilly")


def test_out_of_range_value(tmp_path):
    model = _model_with_scenarios(tmp_path, """
        [scenarios.slow.constants]
        "Characteristic Time" = 150
    """)
    with pytest.raises(
        ParameterError,
        match=r"value 150 for 'Characteristic Time' in scenario 'slow' is outside its declared range \[1, 100\]",
    ):
        pyloop.run(model, "slow", strict=True)


def test_open_range_bound(cooling_model):
    with pytest.raises(ParameterError, match=r"outside its declared range \[-459\.67, \?\]"):
        pyloop.run(cooling_model, params={"Room Temperature": -500}, strict=True)
    pyloop.run(cooling_model, params={"Room Temperature": 1e6})


@pytest.mark.parametrize("value", [True, "10", None, [1]])
def test_wrong_type_param(cooling_model, value):
    with pytest.raises(ParameterError, match=r"constant 'Characteristic Time' in params must be a number"):
        pyloop.run(cooling_model, params={"Characteristic Time": value})


def test_only_constants_may_be_set(cooling_model):
    with pytest.raises(ParameterError, match=r"'Heat Loss to Room' in params is a flow, not a constant"):
        pyloop.run(cooling_model, params={"Heat Loss to Room": 1})
    with pytest.raises(ParameterError, match=r"'INITIAL TIME' in params cannot be changed per run"):
        pyloop.run(cooling_model, params={"INITIAL TIME": 1})


def test_infinity_names_variable_and_time():
    model = pyloop.load_model(MODELS / "blowup.mdl")
    with pytest.raises(SimulationError, match=r"run 'blowup': 'Growth' became \+inf at time 2\b"):
        pyloop.run(model)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_nan_names_variable_and_time(tmp_path):
    path = tmp_path / "sqrt.mdl"
    path.write_text(textwrap.dedent("""\
        {UTF-8}
        Root=
        \tSQRT(Level)
        \t~\tDmnl
        \t~\tNaN once Level turns negative.
        \t|

        Level= INTEG (
        \t-1,
        \t\t2.5)
        \t~\tDmnl
        \t~\tFalls by one per year.
        \t|

        FINAL TIME  = 5
        \t~\tYear
        \t~\tEnd.
        \t|

        INITIAL TIME  = 0
        \t~\tYear
        \t~\tStart.
        \t|

        SAVEPER  = TIME STEP
        \t~\tYear
        \t~\tOutput interval.
        \t|

        TIME STEP  = 0.5
        \t~\tYear
        \t~\tStep.
        \t|
    """))
    model = pyloop.load_model(path)
    with pytest.raises(SimulationError, match=r"'Root' became NaN at time 3\b"):
        pyloop.run(model)


def test_run_many_compare_summary(cooling_model):
    results = pyloop.run_many(cooling_model, ["baseline", "fast_cooling", "baseline"], "lid")
    assert [r.name for r in results] == ["baseline+lid", "fast_cooling+lid"]
    table = pyloop.compare(results, ["Teacup Temperature", "Heat Loss to Room"])
    assert table.index.name == "time"
    assert list(table.columns.names) == ["run", "variable"]
    assert table.shape == (241, 4)
    assert table[("baseline+lid", "Teacup Temperature")].iloc[0] == 180
    s = pyloop.summary(results, ["Teacup Temperature"])
    assert list(s.columns) == ["start", "min", "max", "final", "units"]
    row = s.loc[("fast_cooling+lid", "Teacup Temperature")]
    frame = results[1].frame["Teacup Temperature"]
    assert row["start"] == 180 and row["max"] == 180
    assert row["final"] == frame.iloc[-1] == row["min"]
    assert row["units"] == "Degrees Fahrenheit"


def test_run_many_checks_names_first(cooling_model):
    with pytest.raises(ScenarioError, match="unknown scenario 'nope'"):
        pyloop.run_many(cooling_model, ["baseline", "nope"])


def test_compare_unknown_variable(cooling_model):
    results = [pyloop.run(cooling_model)]
    with pytest.raises(pyloop.PyloopError, match=r"no column 'Teacup Temp'.*did you mean 'Teacup Temperature'"):
        pyloop.compare(results, ["Teacup Temp"])


def test_key_variables(cooling_model, tmp_path):
    sf = pyloop.load_scenarios(cooling_model)
    assert key_variables(cooling_model, sf) == ["Teacup Temperature", "Heat Loss to Room"]
    assert key_variables(cooling_model, None) == ["Teacup Temperature"]
    model = _model_with_scenarios(tmp_path, '[meta]\nkey_variables = ["Teacup Temp"]\n')
    with pytest.raises(ParameterError, match=r"unknown key variable 'Teacup Temp'.*did you mean 'Teacup Temperature'"):
        key_variables(model, pyloop.load_scenarios(model))


def test_progress_bar_goes_to_stderr(cooling_model, capsys):
    pyloop.run_many(cooling_model, ["baseline", "fast_cooling"], progress=True)
    captured = capsys.readouterr()
    assert "runs" in captured.err and captured.out == ""
    pyloop.run_many(cooling_model, ["baseline", "fast_cooling"])  # not a terminal here
    assert capsys.readouterr().err == ""


@pytest.fixture
def fine_cooling(tmp_path):
    """cooling.mdl at TIME STEP 1/256, whose saved times PySD rounds to 7 decimals."""
    text = (MODELS / "cooling.mdl").read_text(encoding="utf-8").replace("TIME STEP  = 0.125", "TIME STEP  = 0.00390625")
    path = tmp_path / "fine_cooling.mdl"
    path.write_text(text, encoding="utf-8")
    return pyloop.load_model(path)


def test_a_step_of_1_256_keeps_every_saved_time_on_its_grid(fine_cooling):
    # the run's times must still be evenly spaced by the step, so that loop
    # scores and the ledger can read the step from them
    model = fine_cooling
    frame = pyloop.run(model, final_time=2.0).frame
    steps = np.diff(frame.index.to_numpy())
    assert np.all(steps == 0.00390625)
    assert frame.index[-1] == 2.0
    from pyloop.analysis.loops.scores import run_evaluator

    assert run_evaluator(model, pyloop.run(model, final_time=2.0)).time[1] == 0.00390625


def test_a_batch_at_a_step_of_1_256_keeps_the_times_of_a_single_run(fine_cooling):
    # the vectorised engine reads PySD's clock, rounded to 7 decimals; its
    # times must be those of a single run, or integrals over them drift
    from pyloop.engine.vectorised import VectorEngine

    model = fine_cooling
    single = pyloop.run(model, final_time=2.0).frame
    times, _ = VectorEngine(model).run({}, [model.variables[0].name], 3, final_time=2.0)
    assert np.array_equal(times, single.index.to_numpy())


def test_validity_tests_show_their_runs_on_a_progress_bar(cooling_model, capsys):
    from pyloop.validation.validity import validity_tests

    scenarios = pyloop.load_scenarios(cooling_model)
    names = list(scenarios.scenarios)
    results = [pyloop.run(cooling_model, name) for name in names]
    table = validity_tests(cooling_model, results, scenarios, names, progress=True)
    err = capsys.readouterr().err
    # counted: the quality gate, then one Simlin run per scenario
    assert "validity tests:" in err and f"0/{1 + len(names)} " in err and "run/s" in err
    assert len(table) == 3
    validity_tests(cooling_model, results, scenarios, names, progress=False)
    assert capsys.readouterr().err == ""


def test_runs_together_equal_runs_of_their_own(cooling_model, monkeypatch):
    import pyloop.runner as runner
    from pyloop.runner import plan_runs, run_plan, run_together

    monkeypatch.setattr(runner, "TOGETHER_BATCH", 2)  # two batches: the second holds one run
    plans = plan_runs(cooling_model, ["baseline"]) + plan_runs(cooling_model, ["fast_cooling", "baseline"], "lid")
    assert plans[0].constants != plans[1].constants  # the vectorised batch differs in a constant
    alone_calls = []
    alone = runner._alone
    monkeypatch.setattr(runner, "_alone", lambda model, plan: alone_calls.append(plan.name) or alone(model, plan))
    together = run_together(cooling_model, plans)
    assert alone_calls == [plans[2].name]  # only the batch of one ran on its own
    for plan, result in zip(plans, together):
        alone = run_plan(cooling_model, plan)
        assert result.name == alone.name and result.constants == alone.constants
        assert list(result.frame.columns) == list(alone.frame.columns)
        np.testing.assert_array_equal(result.frame.index.to_numpy(), alone.frame.index.to_numpy())
        np.testing.assert_allclose(result.frame.to_numpy(), alone.frame.to_numpy(), rtol=1e-12, atol=0)
    assert not np.allclose(together[0].frame.to_numpy(), together[1].frame.to_numpy())  # lid or not


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_a_run_that_fails_together_fails_alone_and_spares_the_others():
    from pyloop.runner import plan_runs, run_together

    model = pyloop.load_model(MODELS / "divide.mdl")
    plans = [plan_runs(model, [None], params={"Break Time": t})[0] for t in (3.25, 3.0)]
    finite, failed = run_together(model, plans)
    assert np.isfinite(finite.frame.to_numpy()).all()
    assert isinstance(failed, SimulationError)
    assert "'Ratio' became +inf at time 3" in str(failed)
