"""Command-line habits: --version, export's --format, help texts, values
outside a declared range (warned, refused with --strict), the quick report's
own folder."""

from __future__ import annotations

import re
import shutil
import textwrap
import warnings

import numpy as np
import pandas as pd
import pytest

import pyloop
from pyloop import cli
from pyloop.errors import ParameterError
from pyloop.runner import RangeWarning
from conftest import MODELS

COOLING = str(MODELS / "cooling.mdl")


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert re.fullmatch(r"pyloop \d+\.\d+\.\d+\S*\n", out), out
    assert out.split()[1] == pyloop.__version__


def test_export_without_a_format_writes_xmile(tmp_path, capsys):
    out = tmp_path / "cooling.xmile"
    assert cli.main(["export", "--model", COOLING, "--out", str(out)]) == 0
    assert "<xmile" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize("spelling", [["--format", "xmile"], ["--xmile"]])
def test_export_format_and_the_old_flag_both_work(tmp_path, spelling):
    out = tmp_path / "twin.xmile"
    assert cli.main(["export", *spelling, "--model", COOLING, "--out", str(out)]) == 0
    assert "<xmile" in out.read_text(encoding="utf-8")


def test_export_refuses_an_unknown_format(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["export", "--format", "json", "--model", COOLING, "--out", str(tmp_path / "x")])
    assert info.value.code == 2
    assert "invalid choice: 'json'" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def _help(command: str, capsys) -> str:
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_export_help_hides_the_old_flag(capsys):
    text = _help("export", capsys)
    usage, _, rest = text.partition("options:")
    assert "--format" in usage and "--xmile" not in usage
    assert "the deprecated flag --xmile means the same" in rest
    assert "--xmile" not in rest.replace("flag --xmile means", "")


@pytest.mark.parametrize("command, words", [
    ("check", "model file (.mdl or .xmile) to check"),
    ("diagram", "Vensim .mdl file whose sketch is drawn"),
    ("export", "Vensim .mdl file to export"),
])
def test_model_help_says_what_the_command_does_with_it(command, words, capsys):
    text = _help(command, capsys)
    model_help = text.split("--model PATH", 2)[-1]
    assert words in model_help
    assert "scenarios.toml" not in model_help.split("--", 1)[0]


def _cooling_with(tmp_path, text: str):
    shutil.copyfile(MODELS / "cooling.mdl", tmp_path / "cooling.mdl")
    (tmp_path / "cooling.scenarios.toml").write_text(textwrap.dedent(text))
    return pyloop.load_model(tmp_path / "cooling.mdl")


def test_value_outside_range_runs_with_a_recorded_warning(cooling_model):
    with pytest.warns(RangeWarning, match=r"value 500 for 'Characteristic Time' in params is outside its "
                      r"declared range \[1, 100\]"):
        result = pyloop.run(cooling_model, params={"Characteristic Time": 500})
    assert result.constants["Characteristic Time"] == 500
    assert len(result.warnings) == 1 and "outside its declared range [1, 100]" in result.warnings[0]


def test_value_inside_range_has_no_warning(cooling_model):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RangeWarning)
        result = pyloop.run(cooling_model, params={"Characteristic Time": 50})
    assert result.warnings == ()


def test_scenario_outside_range_warns_and_strict_refuses(tmp_path):
    model = _cooling_with(tmp_path, """
        [scenarios.slow.constants]
        "Characteristic Time" = 150
    """)
    with pytest.warns(RangeWarning, match="in scenario 'slow' is outside"):
        [result] = pyloop.run_many(model, ["slow"])
    assert result.warnings and "scenario 'slow'" in result.warnings[0]
    with pytest.raises(ParameterError, match=r"in scenario 'slow' is outside its declared range \[1, 100\]"):
        pyloop.run_many(model, ["slow"], strict=True)


def test_non_finite_value_is_refused_even_without_strict(cooling_model):
    with pytest.raises(ParameterError, match="finite"):
        pyloop.run(cooling_model, params={"Characteristic Time": float("nan")})


def test_cli_set_outside_range_warns_and_writes(tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["run", "--model", COOLING, "--out", str(out), "--set", "Characteristic Time=500"]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("pyloop: warning:")]
    assert len(lines) == 1 and "outside its declared range [1, 100]" in lines[0], err
    assert list(out.glob("*.csv"))


def test_cli_set_outside_range_with_strict_is_one_error_line(tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["run", "--model", COOLING, "--out", str(out), "--strict",
                     "--set", "Characteristic Time=500"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pyloop: error: value 500"), err
    assert not out.exists()


def test_user_guide_scenario_example_runs(circular_model):
    """The user guide's chip_glut example sets a value a Vensim user would
    type, below its declared range; it runs, with a warning."""
    with pytest.warns(RangeWarning, match=r"'GPU Cost per GW' in params is outside its declared range"):
        result = pyloop.run(circular_model, "baseline", params={"GPU Cost per GW": 23},
                            final_time=circular_model.time.initial_time + 1)
    assert result.constants["GPU Cost per GW"] == 23 and len(result.warnings) == 1


@pytest.mark.parametrize("argv, folder", [
    (["report", "--quick"], "report-quick"),
    (["report"], "report"),
    (["report", "--quick", "--out", "mine"], "mine"),
])
def test_quick_report_has_its_own_default_folder(argv, folder, monkeypatch, tmp_path, cooling_model):
    import pyloop.report
    from pyloop.cli.commands import report as command

    seen = []

    def fake_build(out, model, settings, progress=None, extra_sections=()):
        seen.append((out, settings.quick))
        return out / "report.html"

    monkeypatch.setattr(pyloop.report, "build_report", fake_build)
    monkeypatch.setattr(command, "load_chosen_model", lambda args: cooling_model)
    monkeypatch.chdir(tmp_path)
    assert cli.main([*argv, "--model", COOLING]) == 0
    assert [(str(out), quick) for out, quick in seen] == [(folder, "--quick" in argv)]


def test_quick_report_help_names_its_folder(capsys):
    assert "report-quick" in _help("report", capsys)


def _tank_with_twin(tmp_path):
    """A copy of the quality fixture tank.mdl with its XMILE twin beside it."""
    source = tmp_path / "tank.mdl"
    shutil.copyfile(MODELS / "quality" / "tank.mdl", source)
    assert cli.main(["export", "--model", str(source)]) == 0
    return source


def test_check_lists_every_check_with_its_count(tmp_path, capsys):
    source = _tank_with_twin(tmp_path)
    capsys.readouterr()
    assert cli.main(["check", "--model", str(source)]) == 0
    out = capsys.readouterr().out
    for codes in ("U001 and U002", "D001 and D002", "M001", "G001 and G002", "L001 and L002", "F001",
                  "I001", "X001"):
        assert re.search(rf"^  {codes}: .+: 0 findings$", out, re.M), out
    assert "X001: the XMILE twin beside a .mdl records the .mdl's current SHA-256: 0 findings" in out


def test_check_flags_a_stale_twin(tmp_path, capsys):
    source = _tank_with_twin(tmp_path)
    source.write_text(source.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    capsys.readouterr()
    assert cli.main(["check", "--model", str(source)]) == 1
    out = capsys.readouterr().out
    assert re.search(r"^  X001: .+: 1 finding$", out, re.M), out
    assert "X001 (model): the XMILE twin tank.xmile was made from an earlier version of tank.mdl" in out
    assert cli.main(["check", "--profile", "generic", "--model", str(source)]) == 1


def test_check_ignores_an_xmile_that_is_no_twin(tmp_path, capsys):
    source = tmp_path / "tank.mdl"
    shutil.copyfile(MODELS / "quality" / "tank.mdl", source)
    (tmp_path / "tank.xmile").write_text("<xmile/>", encoding="utf-8")
    assert cli.main(["check", "--model", str(source)]) == 0
    assert re.search(r"^  X001: .+: 0 findings$", capsys.readouterr().out, re.M)


def test_run_saves_the_chosen_variables_every_saveper(tmp_path, capsys):
    out = tmp_path / "out"
    assert cli.main(["run", "--model", COOLING, "--out", str(out), "--variables", "teacup temperature",
                     "--saveper", "1"]) == 0
    frame = pd.read_csv(out / "cooling.csv", index_col=0)
    assert list(frame.columns) == ["Teacup Temperature"]
    assert list(frame.index[:3]) == [0.0, 1.0, 2.0] and len(frame) == 31
    summary = capsys.readouterr().out
    assert "Teacup Temperature" in summary and "Heat Loss to Room" not in summary


@pytest.mark.parametrize("fmt", ["parquet", "xlsx"])
def test_run_writes_the_chosen_format(tmp_path, fmt):
    out = tmp_path / "out"
    assert cli.main(["run", "--model", COOLING, "--out", str(out), "--format", fmt]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["comparison.png", f"cooling.{fmt}"]
    frame = pd.read_parquet(out / "cooling.parquet") if fmt == "parquet" else pd.read_excel(
        out / "cooling.xlsx", index_col=0, engine="openpyxl")
    expected = pyloop.run(COOLING).frame
    np.testing.assert_allclose(frame["Teacup Temperature"].to_numpy(),
                               expected["Teacup Temperature"].to_numpy(), rtol=1e-12)


@pytest.mark.parametrize("argv, message", [
    (["--variables", "Teacup Temprature"],
     r"unknown variable 'Teacup Temprature' in --variables; did you mean 'Teacup Temperature'"),
    (["--saveper", "0.3"], r"--saveper must be a positive multiple of TIME STEP 0\.125, not 0\.3"),
    (["--saveper", "0"], r"--saveper must be a positive multiple of TIME STEP 0\.125, not 0"),
    (["--saveper", "nan"], r"--saveper must be a finite number, not 'nan'"),
])
def test_bad_run_saving_options_are_one_line(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    assert cli.main(["run", "--model", COOLING, "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(message, err), err
    assert not out.exists()
