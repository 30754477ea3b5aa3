"""Limits and input checks: non-finite values, time settings, sizes, seeds,
undecodable files, the variable blamed for a non-finite run, unique run names."""

from __future__ import annotations

import math
import shutil
import textwrap

import pandas as pd
import pytest

import pyloop
from pyloop import cli
from pyloop.engine import limits
from pyloop.sensitivity.ensemble import run_ensemble
from pyloop.errors import ParameterError, PyloopError, ScenarioError, SimulationError
from pyloop.analysis.ledger import LedgerError, report_years
from pyloop.runner import MAX_NAME_BYTES, run_name
from pyloop.declarations.scenarios import read_scenario_file
from pyloop.declarations.uncertainty import read_uncertainty
from pyloop.sensitivity.sampling import sample
from conftest import MODELS

COOLING = str(MODELS / "cooling.mdl")
LOGISTIC = str(MODELS / "logistic.mdl")
NON_FINITE = [math.nan, math.inf, -math.inf]
TOO_MANY = 10**12  # samples no machine holds (terabytes of samples and series)


def _control(final: float, step: float, saveper: float, initial: float = 0) -> str:
    return textwrap.dedent(f"""\
        FINAL TIME  = {final}
        \t~\tYear
        \t~\tEnd.
        \t|

        INITIAL TIME  = {initial}
        \t~\tYear
        \t~\tStart.
        \t|

        SAVEPER  = {saveper}
        \t~\tYear
        \t~\tOutput interval.
        \t|

        TIME STEP  = {step}
        \t~\tYear
        \t~\tStep.
        \t|
    """)


def _variable(name: str, equation: str, units: str, comment: str) -> str:
    return f"{name}=\n\t{equation}\n\t~\t{units}\n\t~\t{comment}\n\t|\n\n"


@pytest.fixture(scope="module")
def overflow_model(tmp_path_factory):
    """Zeta Ratio = Gain / Gap overflows to +inf at time 1.75, when Gap falls
    to 1e-308; Amplified Ratio and Backlog Growth (computed from it, names
    sorting before it) turn +inf at the same step, the stock Accumulated
    (fed by Backlog Growth) one step later. Saved once a year, so the first
    saved row with +inf is time 2."""
    path = tmp_path_factory.mktemp("overflow") / "overflow.mdl"
    path.write_text(
        "{UTF-8}\n"
        + _variable("Zeta Ratio", "Gain / Gap", "1/Widgets", "Overflows once Gap is tiny.")
        + _variable("Gap", "Level * Scale", "Widgets", "A tiny quantity falling with Level.")
        + _variable("Scale", "1e-308", "Dmnl", "Makes Gap tiny.")
        + _variable("Amplified Ratio", "Zeta Ratio * Damping", "1/Widgets", "Computed from Zeta Ratio.")
        + _variable("Damping", "1e-300", "Dmnl", "Keeps Amplified Ratio small while finite.")
        + _variable("Backlog Growth", "Amplified Ratio", "1/(Widgets*Year)", "Flow from Amplified Ratio.")
        + _variable("Accumulated", "INTEG(Backlog Growth, 0)", "1/Widgets", "Stock fed by Backlog Growth.")
        + _variable("Gain", "2", "Dmnl", "A constant.")
        + _variable("Level", "INTEG(-1, 2.75)", "Widgets", "Falls by one per year; 1 at time 1.75.")
        + _control(final=2.5, step=0.25, saveper=1)
    )
    return pyloop.load_model(path)


# ------------------------------------------------------------- non-finite values
@pytest.mark.parametrize("value", NON_FINITE)
def test_non_finite_param_is_refused(cooling_model, value):
    with pytest.raises(
        ParameterError,
        match=rf"constant 'Characteristic Time' in params must be a finite number, not {value!r}",
    ):
        pyloop.run(cooling_model, params={"Characteristic Time": value})


def test_non_finite_time_setting_is_refused(cooling_model):
    with pytest.raises(ParameterError, match=r"constant 'FINAL TIME' in params must be a finite number, not inf"):
        pyloop.run(cooling_model, params={"FINAL TIME": math.inf})


def test_huge_integer_param_is_refused(cooling_model):
    with pytest.raises(ParameterError, match=r"'Characteristic Time' in params must be a finite number, not a \d+-bit"):
        pyloop.run(cooling_model, params={"Characteristic Time": 10**400})


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "+nan"])
def test_non_finite_scenario_value_is_refused(tmp_path, text):
    path = tmp_path / "m.scenarios.toml"
    path.write_text(f'[scenarios.hot.constants]\n"Room Temperature" = {text}\n')
    with pytest.raises(
        ParameterError, match=r"constant 'Room Temperature' in scenario 'hot' must be a finite number, not"
    ):
        read_scenario_file(path)


def test_non_finite_policy_value_is_refused(tmp_path):
    path = tmp_path / "m.scenarios.toml"
    path.write_text('[policies.lid.constants]\n"Characteristic Time" = inf\n')
    with pytest.raises(ParameterError, match=r"'Characteristic Time' in policy 'lid' must be a finite number, not inf"):
        read_scenario_file(path)


@pytest.mark.parametrize("key", ["min", "max"])
def test_non_finite_uncertainty_range_is_refused(cooling_model, tmp_path, key):
    path = tmp_path / "u.toml"
    path.write_text(f'[parameters."Characteristic Time"]\n{key} = nan\n')
    with pytest.raises(ParameterError, match=rf"{key} of 'Characteristic Time' in 'u.toml' must be a finite number, not nan"):
        read_uncertainty(cooling_model, path)


def test_cli_non_finite_set_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main(["run", "--model", COOLING, "--out", str(out), "--set", "Characteristic Time=nan"])
    assert code == 2
    err = capsys.readouterr().err
    assert err == "pyloop: error: constant 'Characteristic Time' in --set must be a finite number, not nan\n"
    assert not out.exists()


# ------------------------------------------------------------------ time settings
@pytest.mark.parametrize(
    "params, error, message",
    [
        ({"FINAL TIME": -5}, ParameterError, r"FINAL TIME -5 of run 'cooling\+FINAL_TIME=-5' is not after INITIAL TIME 0"),
        ({"FINAL TIME": 0}, ParameterError, r"FINAL TIME 0 of run .* is not after INITIAL TIME 0"),
        ({"TIME STEP": 0}, ParameterError, r"TIME STEP of run 'cooling\+TIME_STEP=0' must be positive, not 0"),
        ({"SAVEPER": 0}, ParameterError, r"SAVEPER of run .* must be positive, not 0"),
        ({"SAVEPER": 0.0625}, ParameterError, r"SAVEPER 0.0625 .* is smaller than TIME STEP 0.125"),
        ({"SAVEPER": 0.3}, ParameterError, r"SAVEPER 0.3 .* is not a whole multiple of TIME STEP 0.125; .*SAVEPER 0.25"),
        ({"FINAL TIME": 1e9}, SimulationError, r"takes 8e\+09 integration steps, more than the 10,000,000"),
    ],
)
def test_bad_time_settings_are_refused(cooling_model, params, error, message):
    with pytest.raises(error, match=message):
        pyloop.run(cooling_model, params=params)


def test_negative_time_step_argument_is_refused(cooling_model):
    with pytest.raises(ParameterError, match=r"TIME STEP of run 'cooling\+TIME_STEP=-0.5' must be positive, not -0.5"):
        pyloop.run(cooling_model, time_step=-0.5)
    with pytest.raises(ParameterError, match=r"TIME STEP of model 'cooling' must be positive, not -0.5"):
        cooling_model.simulate(time_step=-0.5)


def test_whole_multiple_saveper_is_accepted(cooling_model):
    frame = pyloop.run(cooling_model, params={"SAVEPER": 0.375}).frame
    assert frame.index[1] == 0.375 and frame.index[-1] == 30


def test_bad_model_defaults_are_refused(tmp_path):
    path = tmp_path / "backwards.mdl"
    path.write_text(
        "{UTF-8}\n" + _variable("Level", "INTEG(1, 0)", "Widgets", "Grows.")
        + _control(final=0, step=1, saveper=1, initial=10)
    )
    model = pyloop.load_model(path)
    with pytest.raises(ParameterError, match=r"FINAL TIME 0 of model 'backwards' is not after INITIAL TIME 10"):
        model.simulate()
    with pytest.raises(ParameterError, match=r"FINAL TIME 0 of run 'backwards' is not after INITIAL TIME 10"):
        pyloop.run(model)


def test_run_larger_than_memory_is_refused(cooling_model, monkeypatch):
    monkeypatch.setattr(limits, "MEMORY_SHARE", 1e-9)  # a machine with a few bytes to spare
    with pytest.raises(SimulationError, match=r"saving 1 variables at 241 times would need about .* of memory, "
                       r"more than the .*; choose an earlier FINAL TIME, a larger SAVEPER"):
        cooling_model.simulate(return_columns=["Teacup Temperature"])


def test_run_many_checks_every_clock_before_the_first_run(tmp_path):
    shutil.copyfile(MODELS / "cooling.mdl", tmp_path / "cooling.mdl")
    (tmp_path / "cooling.scenarios.toml").write_text(
        '[scenarios.fine]\n[scenarios.late.constants]\n"FINAL TIME" = 1e12\n'
    )
    model = pyloop.load_model(tmp_path / "cooling.mdl")
    runs = []
    model_simulate = model.simulate
    model.simulate = lambda *a, **k: runs.append(1) or model_simulate(*a, **k)
    with pytest.raises(SimulationError, match=r"run 'late' from 0 to 1e\+12 .* integration steps"):
        pyloop.run_many(model, ["fine", "late"])
    assert runs == []


@pytest.mark.parametrize("setting", ["FINAL TIME=-5", "FINAL TIME=1e9", "SAVEPER=0.3"])
def test_cli_bad_time_setting_writes_nothing(tmp_path, capsys, setting):
    out = tmp_path / "out"
    out.mkdir()
    code = cli.main(["run", "--model", COOLING, "--out", str(out), "--set", setting])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("pyloop: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert list(out.iterdir()) == []


# -------------------------------------------------------- samples, seeds, windows
def test_sample_refuses_a_bad_seed(cooling_model):
    spec = read_uncertainty(cooling_model)
    for seed in (-1, 2**32, 1.5, True):
        with pytest.raises(PyloopError, match=r"the seed must be a whole number from 0 to 4294967295, not"):
            sample(spec, "mc", 4, seed)
    assert sample(spec, "mc", 4, 2**32 - 1).shape == (4, 1)


@pytest.mark.parametrize("method, runs_per_sample", [("mc", 0), ("sobol", 2), ("morris", 1)])
def test_ensemble_larger_than_memory_is_refused(tmp_path, method, runs_per_sample):
    model = pyloop.load_model(MODELS / "ishigami.mdl")
    d = len(read_uncertainty(model).parameters)
    runs = TOO_MANY * ((d + runs_per_sample) if runs_per_sample else 1)
    out = tmp_path / "ensemble"
    samples = 2**40 if method == "sobol" else TOO_MANY  # sobol takes powers of two
    runs = runs if method != "sobol" else samples * (d + 2)
    with pytest.raises(
        PyloopError, match=rf"^{runs:,} runs of {d} parameters.* would need about .* choose fewer samples"
    ):
        run_ensemble(model, method, samples, 0, out=out)
    assert not out.exists()


def test_cli_sensitivity_too_many_samples(tmp_path, capsys):
    out = tmp_path / "sens"
    code = cli.main(["sensitivity", "--model", COOLING, "--samples", str(TOO_MANY), "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("pyloop: error: 1,000,000,000,000 runs") and "choose fewer samples (--samples" in err
    assert not out.exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["sensitivity", "--seed", "-1"], "--seed must be a whole number from 0 to 4294967295, not '-1'"),
        (["sensitivity", "--seed", "4294967296"], "--seed must be a whole number from 0 to 4294967295, not '4294967296'"),
        (["sensitivity", "--seed", "1.5"], "--seed must be a whole number from 0 to 4294967295, not '1.5'"),
        (["report", "--seed", "-7"], "--seed must be a whole number from 0 to 4294967295, not '-7'"),
        (["sensitivity", "--samples", "0"], "--samples must be at least 1, not '0'"),
        (["sensitivity", "--samples", "-3"], "--samples must be at least 1, not '-3'"),
        (["sensitivity", "--samples", "1e3"], "--samples must be a whole number, not '1e3'"),
        (["ledger", "--until", "nan"], "--until must be a finite number, not 'nan'"),
        (["ledger", "--until", "inf"], "--until must be a finite number, not 'inf'"),
        (["loops", "--window", "nan", "5"], "--window must be a finite number, not 'nan'"),
    ],
)
def test_cli_bad_numbers_are_one_line_and_exit_2(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert cli.main([*argv, "--model", COOLING]) == 2
    assert capsys.readouterr().err == f"pyloop: error: {message}\n"
    assert list(tmp_path.iterdir()) == []


def test_window_must_lie_inside_the_run(capsys):
    assert cli.main(["loops", "--model", LOGISTIC, "--window", "10", "40"]) == 2
    assert "--window 10 40 lies outside the run (0 to 30)" in capsys.readouterr().err
    assert cli.main(["loops", "--model", LOGISTIC, "--window", "10", "40", "--set", "FINAL TIME=40"]) == 0


def test_until_must_be_finite():
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0]}, index=[0.0, 1.0, 2.0])
    with pytest.raises(LedgerError, match=r"year nan is not a finite number"):
        report_years(frame, math.nan)
    assert report_years(frame, 1.5) == [1.0, 1.5]


# --------------------------------------------------------------- undecodable files
def test_non_utf8_scenario_file(cooling_copy, capsys):
    scenarios = cooling_copy.with_name("cooling.scenarios.toml")
    scenarios.write_bytes('[scenarios.caf\u00e9]\ndescription = "caf\u00e9"\n'.encode("latin-1"))
    with pytest.raises(
        ScenarioError,
        match=r"cannot read scenario file 'cooling.scenarios.toml': byte 0xe9 at offset 14 is not UTF-8 text; "
        "save the file as UTF-8",
    ):
        pyloop.list_scenarios(cooling_copy)
    assert cli.main(["scenarios", "--model", str(cooling_copy)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pyloop: error: cannot read scenario file") and err.count("\n") == 1


def test_utf16_uncertainty_file(cooling_model, tmp_path):
    path = tmp_path / "cooling.uncertainty.toml"
    path.write_text('[parameters."Characteristic Time"]\n', encoding="utf-16")
    with pytest.raises(PyloopError, match=r"cannot read uncertainty file 'cooling.uncertainty.toml': byte 0xff at offset 0"):
        read_uncertainty(cooling_model, path)


def test_non_utf8_ledger_and_loop_files(tmp_path):
    from pyloop.analysis.ledger import LedgerError, read_ledger
    from pyloop.analysis.loops import load_catalogue

    latin = '# caf\u00e9\n'.encode("latin-1")
    (tmp_path / "x.ledger.toml").write_bytes(latin)
    (tmp_path / "x.loops.toml").write_bytes(latin)
    with pytest.raises(LedgerError, match=r"cannot read ledger declaration 'x.ledger.toml': byte 0xe9 at offset 5"):
        read_ledger(tmp_path / "x.ledger.toml")
    with pytest.raises(PyloopError, match=r"cannot read loop catalogue 'x.loops.toml': byte 0xe9 at offset 5"):
        load_catalogue(tmp_path / "x.mdl", tmp_path / "x.loops.toml")


def test_deeply_nested_toml(tmp_path):
    path = tmp_path / "deep.scenarios.toml"
    path.write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(ScenarioError, match=r"cannot read scenario file 'deep.scenarios.toml': .*nest too deeply"):
        read_scenario_file(path)


# ------------------------------------------------------- which variable went first
def test_evaluation_order_puts_inputs_first(overflow_model):
    order = overflow_model.evaluation_order()
    chain = ["Level", "Gap", "Zeta Ratio", "Amplified Ratio", "Backlog Growth"]
    assert [order.index(n) for n in chain] == sorted(order.index(n) for n in chain)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize(
    "options",
    [
        {"params": {"SAVEPER": 0.25}},  # saved every step: three variables turn +inf at 1.75
        {},  # saved yearly: at time 2 the stock fed by them is +inf too
        {"return_columns": ["Accumulated", "Level"]},  # only the stock is kept
    ],
)
def test_non_finite_names_the_upstream_variable(overflow_model, options):
    with pytest.raises(SimulationError) as info:
        pyloop.run(overflow_model, **options)
    message = str(info.value)
    assert "'Zeta Ratio' became +inf at time 1.75" in message
    for downstream in ("Accumulated", "Amplified Ratio", "Backlog Growth"):
        assert f"'{downstream}'" not in message


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_non_finite_counts_the_variables_it_spoiled(overflow_model):
    with pytest.raises(SimulationError, match=r"at time 1.75, the first of 3 variables non-finite then"):
        pyloop.run(overflow_model, params={"SAVEPER": 0.25})


def test_division_by_zero_names_the_dividing_variable(tmp_path):
    path = tmp_path / "zero.mdl"
    path.write_text(
        "{UTF-8}\n"
        + _variable("Zeta Ratio", "Gain / Level", "1/Widgets", "Divides by zero at time 3.")
        + _variable("Amplified Ratio", "Zeta Ratio * Gain", "1/Widgets", "Computed from Zeta Ratio.")
        + _variable("Backlog Growth", "Amplified Ratio", "1/(Widgets*Year)", "Flow from Amplified Ratio.")
        + _variable("Accumulated", "INTEG(Backlog Growth, 0)", "1/Widgets", "Stock.")
        + _variable("Gain", "2", "Dmnl", "A constant.")
        + _variable("Level", "INTEG(-1, 3)", "Widgets", "Reaches zero at time 3.")
        + _control(final=5, step=0.25, saveper=1)
    )
    with pytest.raises(SimulationError, match=r"failed in 'Zeta Ratio' at time 3: ZeroDivisionError"):
        pyloop.run(pyloop.load_model(path))


# ------------------------------------------------------------------- run names
def test_run_with_params_carries_them_in_its_name(cooling_model):
    base = pyloop.run(cooling_model, "baseline")
    custom = pyloop.run(cooling_model, "baseline", params={"Characteristic Time": 2.0})
    assert custom.name == "baseline+Characteristic_Time=2"
    both = pyloop.run(cooling_model, "baseline", "lid", {"Room Temperature": 60, "characteristic time": 0.5e1})
    again = pyloop.run(cooling_model, "baseline", "lid", {"characteristic_time": 5, "Room Temperature": 60.0})
    assert both.name == again.name == "baseline+lid+Characteristic_Time=5+Room_Temperature=60"
    table = pyloop.compare([base, custom], ["Teacup Temperature"])
    assert list(table.columns.get_level_values("run")) == ["baseline", "baseline+Characteristic_Time=2"]
    assert table.iloc[-1, 0] != table.iloc[-1, 1]


@pytest.mark.parametrize("combine", [pyloop.compare, pyloop.summary])
def test_runs_with_one_name_are_refused(cooling_model, combine):
    first = pyloop.run(cooling_model, "baseline")
    other = pyloop.run(cooling_model, "fast_cooling", name="baseline")
    with pytest.raises(PyloopError, match=rf"{combine.__name__} got two runs named 'baseline'; give one of them another name"):
        combine([first, other], ["Teacup Temperature"])


def test_run_names_are_safe_file_names():
    assert run_name("m", None, {"Rate/Year (x)": 0.5, "Tiny": 1e-9, "Huge": 1e16}) == (
        "m+Huge=1e16+Rate_Year_x=0.5+Tiny=1e-09"
    )
    long = run_name("m", "p", {f"Constant number {i}": i / 7 for i in range(40)})
    other = run_name("m", "p", {f"Constant number {i}": i / 7 + (i == 39) for i in range(40)})
    assert len(long.encode()) <= MAX_NAME_BYTES and long != other
    assert not set("/\\: ") & set(long)


def test_cli_set_runs_get_their_own_file(tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["run", "baseline", "--model", COOLING, "--out", str(out), "--set", "Characteristic Time=20"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["baseline+Characteristic_Time=20.csv", "comparison.png"]
    csv = pd.read_csv(out / "baseline+Characteristic_Time=20.csv", index_col="time")
    assert (csv["Characteristic Time"] == 20).all()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_non_finite_initial_value_names_its_source(tmp_path):
    path = tmp_path / "start.mdl"
    path.write_text(
        "{UTF-8}\n"
        + _variable("Start", "Gain / Gap", "Widgets", "Overflows to +inf at once.")
        + _variable("Gap", "1e-308", "Dmnl", "Tiny.")
        + _variable("Gain", "2", "Widgets", "A constant.")
        + _variable("Aaa Level", "INTEG(1, Start)", "Widgets", "Starts at Start.")
        + _variable("Aab Reading", "Aaa Level * 2", "Widgets", "Reads the stock.")
        + _control(final=2, step=0.5, saveper=1)
    )
    with pytest.raises(SimulationError, match=r"'Start' became \+inf at time 0, the first of 3 variables"):
        pyloop.run(pyloop.load_model(path))


def test_simulate_refuses_non_finite_constants(cooling_model):
    with pytest.raises(ParameterError, match=r"constant 'Room Temperature' must be a finite number, not -inf"):
        cooling_model.simulate({"Room Temperature": -math.inf})


@pytest.mark.parametrize(
    "argv, message",
    [
        (["loops", "--top", "-1"], "--top must be at least 0, not '-1'"),
        (["loops", "--max-loops", "0"], "--max-loops must be at least 1, not '0'"),
        (["loops", "--min-phase", "nan"], "--min-phase must be a finite number, not 'nan'"),
        (["sensitivity", "--workers", "0"], "--workers must be at least 1, not '0'"),
        (["sensitivity", "--before", "inf"], "--before must be a finite number, not 'inf'"),
        (["calibrate", "--samples", "-3"], "--samples must be at least 1, not '-3'"),
        (["calibrate", "--workers", "two"], "--workers must be a whole number, not 'two'"),
        (["calibrate", "--holdout-after", "nan"], "--holdout-after must be a finite number, not 'nan'"),
    ],
)
def test_counts_and_times_on_the_command_line(argv, message, capsys, tmp_path):
    assert cli.main([*argv, "--model", str(MODELS / "cooling.mdl")]) == 2
    err = capsys.readouterr().err
    assert err == f"pyloop: error: {message}\n"
