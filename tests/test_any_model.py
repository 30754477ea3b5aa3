"""Commands on a model written elsewhere, and a copy of our model using our
declaration files (--scenarios, --loops, --ledger, --uncertainty, --checks)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

import pyloop
from circular import MODEL_PATH
from conftest import FIXTURES, MODELS, TESTS
from pyloop.validation.quality import check_model
from pyloop.cli import main
from pyloop.declarations.paths import KINDS, declaration_path
from pyloop.errors import PyloopError
from pyloop.comparison import variable_columns

TEACUP = str(FIXTURES / "teacup" / "teacup.mdl")
QUALITY = MODELS / "quality"
SUBSCRIPTED = TESTS / "fixtures" / "sdxorg-test-models" / "tests" / "subscript_1d_arrays" / "test_subscript_1d_arrays.mdl"
#: Our declaration files, by kind.
OURS = {kind: MODEL_PATH.with_name(f"{MODEL_PATH.stem}.{kind}.toml") for kind in KINDS}
OPTIONS = {"scenarios": "--scenarios", "loops": "--loops", "ledger": "--ledger",
           "uncertainty": "--uncertainty", "calibration": "--checks"}


def ours(*kinds):
    """Command-line options naming our declaration files of ``kinds``."""
    return [arg for kind in kinds for arg in (OPTIONS[kind], str(OURS[kind]))]


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pyloop: error: "), err
    return lines[0]


@pytest.fixture
def copy(tmp_path):
    """Our model copied to tmp_path as copy.mdl, without its declaration files."""
    target = tmp_path / "model" / "copy.mdl"
    target.parent.mkdir()
    shutil.copyfile(MODEL_PATH, target)
    return str(target)


# ----------------------------------------------------------- a plain model
def test_report_on_a_plain_model_says_which_sections_do_not_apply(tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", "--quick", "--model", TEACUP, "--out", str(out)]) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    for missing, option in [("teacup.scenarios.toml", "--scenarios"), ("teacup.loops.toml", "--loops"),
                            ("teacup.ledger.toml", "--ledger"), ("teacup.uncertainty.toml", "--uncertainty"),
                            ("teacup.calibration.toml", "--checks")]:
        assert f"no {missing} beside it, and no {option} FILE given" in page
    assert "no observations file (teacup.observations.csv beside it)" in page
    # policies, loops, ledger, sensitivity, calibration, history
    assert page.count("Not part of this report") == 6
    assert "Teacup Temperature" in page  # the run of its defaults, drawn and summarised
    assert "run of its own defaults" in page
    assert "music" not in page.lower()  # nothing of our model's story
    assert "check --profile generic" in page


def test_sensitivity_without_uncertainty_file_or_ranges_says_so(tmp_path, capsys):
    out = tmp_path / "sensitivity"
    assert main(["sensitivity", "--samples", "8", "--model", TEACUP, "--out", str(out)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "no uncertainty file ('teacup.uncertainty.toml' beside it, or --uncertainty FILE)" in line
    assert not out.exists()


def test_sensitivity_samples_declared_ranges_without_uncertainty_file(cooling_copy, tmp_path, capsys):
    out = tmp_path / "sensitivity"
    assert main(["sensitivity", "--samples", "8", "--model", str(cooling_copy), "--out", str(out)]) == 0
    samples = pd.read_csv(out / "mc" / "defaults" / "samples.csv")
    model = pyloop.load_model(cooling_copy)
    ranged = [v for v in model.constants.values() if v.range and None not in v.range]
    assert ranged
    for v in ranged:
        lo, hi = v.range
        assert samples[v.name].between(lo, hi).all()
        assert samples[v.name].nunique() == 8


def test_check_profiles_on_a_plain_model(capsys):
    assert main(["check", "--model", TEACUP]) == 1  # house rules: sources on constants
    out = capsys.readouterr().out
    assert "D002" in out and "(house profile)" in out and "--profile generic" in out
    assert main(["check", "--profile", "generic", "--model", TEACUP]) == 0
    out = capsys.readouterr().out
    assert "teacup: 0 findings, 0 failing (generic profile)" in out


@pytest.mark.parametrize(
    "file, house, generic",
    [
        ("tank_off_diagram.mdl", {"G001"}, set()),  # a house rule only
        ("tank_undeclared_flow.mdl", {"F001"}, {"F001"}),  # a real error in any model
        ("tank_buried_number.mdl", {"M001"}, set()),
    ],
)
def test_generic_profile_keeps_only_real_errors(file, house, generic):
    model = pyloop.load_model(QUALITY / file)
    assert {f.code for f in check_model(model)} >= house
    assert {f.code for f in check_model(model, profile="generic")} == generic


def test_unknown_profile_is_refused():
    with pytest.raises(PyloopError, match="unknown check profile 'strict'; use one of house, generic"):
        check_model(pyloop.load_model(TEACUP), profile="strict")


# ---------------------------------------------------- a subscripted model
def test_subscripted_variables_are_summarised_and_drawn_per_element(tmp_path, capsys):
    result = pyloop.run(pyloop.load_model(SUBSCRIPTED))
    columns = variable_columns(result.frame.columns, "Stock A")
    assert columns == [f"Stock A[Entry {i}]" for i in (1, 2, 3)]
    table = pyloop.summary([result], ["Stock A"])
    assert [v for _, v in table.index] == columns
    assert list(table["final"]) == [result.frame[c].iloc[-1] for c in columns]
    from pyloop.plots import plot_variable

    ax = plot_variable([result], "Stock A")
    assert len(ax.get_lines()) == 3
    assert main(["run", "--model", str(SUBSCRIPTED), "--out", str(tmp_path)]) == 0
    assert "Stock A[Entry 3]" in capsys.readouterr().out


# ------------------------------------------ a copy of our model, our files
def test_a_copy_without_our_files_has_no_scenarios(copy, tmp_path, capsys):
    assert main(["run", "baseline", "--model", copy, "--out", str(tmp_path / "out")]) == 2
    assert "unknown scenario 'baseline'" in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_a_copy_runs_our_scenarios_like_the_original(copy, tmp_path, capsys):
    args = ["run", "baseline", "music_stops", "--policy", "leverage_cap"]
    assert main([*args, "--out", str(tmp_path / "original")]) == 0
    assert main([*args, "--model", copy, *ours("scenarios"), "--out", str(tmp_path / "copy")]) == 0
    for name in ("baseline+leverage_cap.csv", "music_stops+leverage_cap.csv"):
        original = pd.read_csv(tmp_path / "original" / name, index_col="time")
        copied = pd.read_csv(tmp_path / "copy" / name, index_col="time")
        pd.testing.assert_frame_equal(copied, original)


def test_scenarios_command_reads_the_named_file(copy, capsys):
    assert main(["scenarios", "--model", copy, *ours("scenarios")]) == 0
    out = capsys.readouterr().out
    assert f"Scenarios in {OURS['scenarios'].name}" in out
    assert "music_stops" in out and "leverage_cap" in out


def test_a_copy_finds_our_named_loops(copy, capsys):
    args = ["loops", "--scenario", "baseline", "--top", "0"]
    assert main([*args, *ours("scenarios")]) == 0  # the original, with its own files
    original = capsys.readouterr().out
    assert main([*args, "--model", copy, *ours("scenarios", "loops")]) == 0
    copied = capsys.readouterr().out
    assert copied == original
    assert re.search(r"^R1\s", copied, re.MULTILINE)


def test_a_copy_traces_our_ledger(copy, capsys):
    args = ["ledger", "--scenario", "baseline", "--until", "2030"]
    assert main(args) == 0
    original = capsys.readouterr().out
    assert main([*args, "--model", copy, *ours("scenarios", "ledger")]) == 0
    assert capsys.readouterr().out == original
    assert main([*args[:1], "--model", copy]) == 2
    assert "copy.ledger.toml" in one_error_line(capsys.readouterr().err)


def test_a_copy_passes_our_house_checks_with_our_files(copy, capsys):
    assert main(["check", "--model", copy, *ours("scenarios", "loops", "ledger")]) == 0
    assert "copy: 0 findings, 0 failing (house profile)" in capsys.readouterr().out


def test_a_copy_samples_our_uncertainty_file(copy, tmp_path, capsys):
    args = ["sensitivity", "--samples", "4", "--scenario", "baseline"]
    assert main([*args, "--out", str(tmp_path / "original")]) == 0
    assert main([*args, "--model", copy, *ours("scenarios", "uncertainty"), "--out", str(tmp_path / "copy")]) == 0
    for name in ("samples.csv", "outcomes.csv"):
        original = pd.read_csv(tmp_path / "original" / "mc" / "baseline" / name)
        copied = pd.read_csv(tmp_path / "copy" / "mc" / "baseline" / name)
        pd.testing.assert_frame_equal(copied, original)


def test_a_copy_reports_with_every_one_of_our_files(copy, tmp_path, capsys):
    out = tmp_path / "report"
    options = ours("scenarios", "loops", "ledger", "uncertainty", "calibration")
    # the observations are read beside the model only
    shutil.copyfile(MODEL_PATH.with_name("ai_circular_finance.observations.csv"),
                    Path(copy).with_name("copy.observations.csv"))
    assert main(["report", "--quick", "--scenario", "baseline", "--model", copy, *options, "--out", str(out)]) == 0
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Not part of this report" not in page
    for title in ("Feedback loops: dominance and knockouts", "Who paid: the money ledger",
                  "Uncertainty and sensitivity", "Calibration", "Summary: the three questions"):
        assert f"<h2>{title}</h2>" in page
    summary = json.loads((out / "summary.json").read_text())
    assert summary["who_paid_2030"]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_named_file_that_does_not_exist_is_one_line(kind, copy, tmp_path, capsys):
    command = {"scenarios": "run", "loops": "loops", "ledger": "ledger",
               "uncertainty": "sensitivity", "calibration": "report"}[kind]
    missing = tmp_path / "nowhere.toml"
    out = tmp_path / "out"
    code = main([command, "--model", copy, OPTIONS[kind], str(missing), "--out", str(out)]
                if command in ("run", "sensitivity", "report")
                else [command, "--model", copy, OPTIONS[kind], str(missing)])
    assert code == 2
    line = one_error_line(capsys.readouterr().err)
    assert f"not found: '{missing}'; check the path given with {OPTIONS[kind]}" in line
    assert not out.exists()


def test_declaration_path_prefers_the_named_file(copy):
    model = pyloop.load_model(copy, declarations={"ledger": OURS["ledger"]})
    assert declaration_path(model, "ledger") == OURS["ledger"].resolve()
    assert declaration_path(model, "loops").name == "copy.loops.toml"
    assert declaration_path(copy, "scenarios").name == "copy.scenarios.toml"
    with pytest.raises(PyloopError, match="unknown declaration kind 'policies'"):
        declaration_path(model, "policies")
