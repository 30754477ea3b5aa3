"""Ensemble series at the size they deserve (Parquet by default, CSV on
request) and progress with counts on the report's sensitivity phase."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import pyloop
from pyloop.cli import main
from pyloop.errors import PyloopError
from pyloop.report import ReportSettings, build_report
from pyloop.report.sections import section_sensitivity
from pyloop.sensitivity.ensemble import load_ensemble, run_ensemble

from conftest import MODELS

KW = dict(method="mc", samples=40, seed=3, batch_size=10)


@pytest.fixture(scope="module")
def ishigami():
    return pyloop.load_model(MODELS / "ishigami.mdl")


def _series_from_file(frame: pd.DataFrame, variable: str) -> pd.DataFrame:
    part = frame[frame["variable"] == variable].drop(columns="variable")
    part = part.set_index(part["run"].astype(int)).drop(columns="run")
    return part.astype(float)


def test_series_are_parquet_by_default_and_match_the_run(ishigami, tmp_path):
    out = tmp_path / "ens"
    result = run_ensemble(ishigami, out=out, **KW)
    assert (out / "series.parquet").is_file()
    assert not (out / "series.csv").exists()
    frame = pd.read_parquet(out / "series.parquet")
    assert sorted(set(frame["run"])) == list(range(40))
    assert list(frame["run"]) == sorted(frame["run"])
    loaded = load_ensemble(out, ishigami)
    for variable, series in result.series.items():
        from_file = _series_from_file(frame, variable)
        assert np.array_equal(from_file.to_numpy(), series.to_numpy())
        assert np.array_equal(loaded.series[variable].to_numpy(), series.to_numpy())


def test_series_are_csv_on_request_and_match_parquet(ishigami, tmp_path):
    parquet = run_ensemble(ishigami, out=tmp_path / "pq", **KW)
    csv = run_ensemble(ishigami, out=tmp_path / "csv", series_format="csv", **KW)
    assert (tmp_path / "csv" / "series.csv").is_file()
    assert not (tmp_path / "csv" / "series.parquet").exists()
    frame = pd.read_csv(tmp_path / "csv" / "series.csv")
    loaded = load_ensemble(tmp_path / "csv", ishigami)
    assert set(csv.series) == set(parquet.series) and csv.series
    for variable, series in parquet.series.items():
        assert np.array_equal(_series_from_file(frame, variable).to_numpy(), series.to_numpy())
        assert np.array_equal(loaded.series[variable].to_numpy(), series.to_numpy())


def test_an_unknown_series_format_is_refused(ishigami, tmp_path):
    with pytest.raises(PyloopError, match="unknown series format 'feather'"):
        run_ensemble(ishigami, out=tmp_path / "ens", series_format="feather", **KW)
    assert not (tmp_path / "ens").exists()


def test_parquet_bytes_are_the_same_for_the_same_seed(ishigami, tmp_path):
    run_ensemble(ishigami, out=tmp_path / "a", **KW)
    run_ensemble(ishigami, out=tmp_path / "b", executor="serial", **KW)
    a, b = (tmp_path / "a" / "series.parquet").read_bytes(), (tmp_path / "b" / "series.parquet").read_bytes()
    assert a == b


@pytest.mark.parametrize("series_format", ["parquet", "csv"])
def test_resume_after_an_interruption_gives_the_same_files(ishigami, tmp_path, series_format):
    name = f"series.{series_format}"
    whole = run_ensemble(ishigami, out=tmp_path / "whole", series_format=series_format, **KW)
    part = run_ensemble(ishigami, out=tmp_path / "part", stop_after=2, series_format=series_format, **KW)
    assert len(part.outcomes) == 20
    assert sorted(set(load_ensemble(tmp_path / "part", ishigami).outcomes.index)) == list(range(20))
    resumed = run_ensemble(ishigami, out=tmp_path / "part", resume=True, series_format=series_format, **KW)
    assert len(resumed.outcomes) == 40
    assert (tmp_path / "part" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    for variable, series in whole.series.items():
        assert np.array_equal(resumed.series[variable].to_numpy(), series.to_numpy())
    # resuming a finished ensemble changes nothing
    again = run_ensemble(ishigami, out=tmp_path / "part", resume=True, series_format=series_format, **KW)
    assert (tmp_path / "part" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    assert len(again.outcomes) == 40


def test_cli_series_format_option(ishigami, tmp_path, capsys):
    out = tmp_path / "sens"
    code = main(["sensitivity", "--model", str(MODELS / "ishigami.mdl"), "--samples", "20",
                 "--series-format", "csv", "--out", str(out)])
    assert code == 0
    assert list(out.glob("mc/*/series.csv")) and not list(out.glob("mc/*/series.parquet"))


def test_the_report_sensitivity_phase_shows_counts(tmp_path, capsys):
    lines = []
    build_report(tmp_path / "report", MODELS / "ishigami.mdl", ReportSettings(quick=True, samples=30),
                 progress=lines.append, extra_sections=[section_sensitivity])
    err = capsys.readouterr().err
    assert "monte carlo fan charts" in " ".join(lines)  # the report's own phase line
    assert "monte carlo defaults" in err and "30/30" in err  # runs done of all, from tqdm
    assert "morris defaults" in err
    # the report keeps the bands it draws, not every run's series
    folder = tmp_path / "report" / "sensitivity"
    assert list(folder.glob("mc/*/bands_*.csv")) and list(folder.glob("mc/*/outcomes.csv"))
    assert not list(folder.glob("*/*/series.*"))
