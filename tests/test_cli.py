"""The pyloop command, in-process and as a subprocess."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import pyloop
from pyloop import cli
from conftest import MODELS

COOLING = str(MODELS / "cooling.mdl")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.mark.parametrize("command", [[], ["scenarios"], ["run"]])
def test_help_of_every_command(command, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([*command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: pyloop" in out
    if command == ["run"]:
        for option in ("--all", "--policy", "--model", "--out", "NAME"):
            assert option in out
    if command == []:
        assert "scenarios" in out and "run" in out


def test_every_option_has_help():
    parser = cli.build_parser()
    subparsers = parser._subparsers._group_actions[0]
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            assert action.help, f"{name}: {action.dest} has no help"


def test_bad_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["run", "--bogus"])
    assert info.value.code == 2


def test_scenarios_lists_descriptions(capsys):
    assert cli.main(["scenarios", "--model", COOLING]) == 0
    out = capsys.readouterr().out
    assert "fast_cooling" in out and "A thin cup: the tea cools twice as fast." in out
    assert "warm_room" in out and "(extends fast_cooling)" in out
    assert "lid" in out and "Put a lid on the cup" in out


def test_scenarios_without_file(cooling_copy, capsys):
    assert cli.main(["scenarios", "--model", str(cooling_copy)]) == 0
    assert "no scenario file" in capsys.readouterr().out


def test_run_writes_csvs_png_and_summary(tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main(["run", "baseline", "fast_cooling", "--policy", "lid", "--model", COOLING,
                     "--out", str(out)])
    assert code == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == ["baseline+lid.csv", "comparison.png", "fast_cooling+lid.csv"]

    direct = pyloop.run(COOLING, "fast_cooling", "lid").frame
    csv = pd.read_csv(out / "fast_cooling+lid.csv", index_col="time")
    assert list(csv.columns) == list(direct.columns)
    assert csv.index[0] == direct.index[0] and csv.index[-1] == direct.index[-1]
    pd.testing.assert_frame_equal(csv.iloc[[0, -1]], direct.iloc[[0, -1]], check_dtype=False)

    width, height = png_size(out / "comparison.png")
    assert 400 <= width <= 3000 and 300 <= height <= 3000

    printed = capsys.readouterr().out
    assert "fast_cooling+lid" in printed and "Teacup Temperature" in printed
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_run_all_and_default(tmp_path):
    out = tmp_path / "all"
    assert cli.main(["run", "--all", "--model", COOLING, "--out", str(out)]) == 0
    assert sorted(p.name for p in out.glob("*.csv")) == [
        "baseline.csv", "fast_cooling.csv", "warm_room.csv"]
    out = tmp_path / "default"
    assert cli.main(["run", "--model", COOLING, "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["comparison.png", "cooling.csv"]


def test_run_model_without_scenario_file(cooling_copy, tmp_path):
    out = tmp_path / "res"
    assert cli.main(["run", "--model", str(cooling_copy), "--out", str(out)]) == 0
    assert (out / "cooling.csv").is_file() and (out / "comparison.png").is_file()


def test_failure_leaves_no_file(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.csv").write_text("kept\n")
    code = cli.main(["run", "baseline", "fast_colling", "--model", COOLING, "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("pyloop: error: unknown scenario 'fast_colling'")
    assert "did you mean 'fast_cooling'?" in err and "Traceback" not in err
    assert [p.name for p in out.iterdir()] == ["old.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_failure_after_runs_leaves_no_file(tmp_path, capsys):
    shutil.copyfile(MODELS / "blowup.mdl", tmp_path / "blowup.mdl")
    (tmp_path / "blowup.scenarios.toml").write_text(
        '[scenarios.calm.constants]\nAmplifier = 1e-9\n'
        '[scenarios.wild]\ndescription = "explodes"\n'
    )
    out = tmp_path / "out"
    code = cli.main(["run", "--all", "--model", str(tmp_path / "blowup.mdl"), "--out", str(out)])
    assert code == 2
    assert "'Growth' became +inf at time 2" in capsys.readouterr().err
    assert not out.exists()


def test_missing_model(tmp_path, capsys):
    code = cli.main(["run", "--model", str(tmp_path / "none.mdl"), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "pyloop: error: model file not found" in capsys.readouterr().err


def test_default_model_missing_is_reported(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(cli.model_choice, "DEFAULT_MODEL", Path("models") / "no_such_model.mdl")
    assert cli.main(["scenarios"]) == 2
    err = capsys.readouterr().err
    assert "default model models/no_such_model.mdl not found" in err and "--model" in err


def test_subprocess_run(tmp_path):
    out = tmp_path / "sub"
    proc = subprocess.run(
        [sys.executable, "-m", "pyloop", "run", "warm_room", "--model", COOLING, "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert (out / "warm_room.csv").is_file()
    proc = subprocess.run(
        [sys.executable, "-m", "pyloop", "run", "nope", "--model", COOLING, "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("pyloop: error: unknown scenario 'nope'")
    assert "Traceback" not in proc.stderr


def test_unwritable_out_dir_is_reported(tmp_path, capsys):
    out = tmp_path / "taken"
    out.write_text("a file, not a directory")
    assert cli.main(["run", "--model", COOLING, "--out", str(out)]) == 2
    assert "pyloop: error: cannot write results to" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_set_overrides_constants_after_scenario_and_policy(tmp_path, capsys):
    out = tmp_path / "out"
    code = cli.main(["run", "warm_room", "--policy", "lid", "--model", COOLING, "--out", str(out),
                     "--set", "Characteristic Time=40", "--set", "room temperature = 60"])
    assert code == 0
    assert "Every run with Characteristic Time = 40, Room Temperature = 60" in capsys.readouterr().out
    assert [p.name for p in out.glob("*.csv")] == [
        "warm_room+lid+Characteristic_Time=40+Room_Temperature=60.csv"
    ]
    csv = pd.read_csv(out / "warm_room+lid+Characteristic_Time=40+Room_Temperature=60.csv", index_col="time")
    direct = pyloop.run(COOLING, params={"Characteristic Time": 40, "Room Temperature": 60}).frame
    np.testing.assert_allclose(csv["Teacup Temperature"], direct["Teacup Temperature"], rtol=1e-12)
    assert csv["Teacup Temperature"].iloc[-1] != pytest.approx(
        pyloop.run(COOLING, "warm_room", "lid").frame["Teacup Temperature"].iloc[-1]
    )


def test_run_checks_each_scenario_policy_and_set_once(tmp_path, monkeypatch):
    """Names and constants are checked once, before the first run, not again per run."""
    import pyloop.runner as runner

    owners = []
    check = runner.validate_constants

    def counted(model, values, owner, **options):
        owners.append(owner)
        return check(model, values, owner, **options)

    monkeypatch.setattr(runner, "validate_constants", counted)
    code = cli.main(["run", "baseline", "warm_room", "--policy", "lid", "--model", COOLING,
                     "--out", str(tmp_path / "out"), "--set", "Characteristic Time=40"])
    assert code == 0
    assert sorted(owners) == ["--set", "policy 'lid'", "scenario 'baseline'", "scenario 'warm_room'"]


@pytest.mark.parametrize(
    "setting, message",
    [
        ("Characteristic Time", "--set takes NAME=VALUE, not 'Characteristic Time'"),
        ("=5", "--set takes NAME=VALUE"),
        ("Characteristic Time=fast", "'fast' is not a number"),
        ("Characteristic Tim=5", "unknown constant 'Characteristic Tim' in --set; did you mean 'Characteristic Time'"),
        ("Characteristic Time=500", "outside its declared range \\[1, 100\\]"),
        ("Heat Loss to Room=1", "is a flow, not a constant"),
    ],
)
def test_bad_set_is_one_line_and_writes_nothing(tmp_path, capsys, setting, message):
    out = tmp_path / "out"
    assert cli.main(["run", "--model", COOLING, "--out", str(out), "--set", setting, "--strict"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(message, err), err
    assert not out.exists()
