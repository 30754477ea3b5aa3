"""The report section "Against history" on the cooling-tea model with
synthetic observations."""

from __future__ import annotations

import io
import shutil

import numpy as np
import pandas as pd
import pytest

import pyloop
from conftest import MODELS
from pyloop.errors import PyloopError
from pyloop.report.document import Document
from pyloop.report.history_section import event_times, history_table, section_history
from pyloop.report.sections import collect_runs, default_sections
from pyloop.report.settings import Focus, ReportSettings

OBSERVED = "Teacup Temperature"
TIMES = np.arange(1.0, 20.0, 3.0)


@pytest.fixture
def cooling_with_history(tmp_path):
    """A copy of the cooling model with its scenarios and observations of
    the tea's temperature from a run with Characteristic Time 8 (noise sd 1)."""
    for name in ("cooling.mdl", "cooling.scenarios.toml"):
        shutil.copyfile(MODELS / name, tmp_path / name)
    model = pyloop.load_model(tmp_path / "cooling.mdl")
    frame = model.simulate({"Characteristic Time": 8.0}, return_columns=[OBSERVED])
    clean = np.interp(TIMES, frame.index.to_numpy(dtype=float), frame[OBSERVED].to_numpy(dtype=float))
    noisy = clean + np.random.default_rng(3).normal(0.0, 1.0, len(TIMES))
    pd.DataFrame({"variable": OBSERVED, "time": TIMES, "value": noisy, "sd": 1.0}).to_csv(
        tmp_path / "cooling.observations.csv", index=False
    )
    return model


def settings(quick: bool) -> ReportSettings:
    focus = Focus(
        scenarios=("baseline",),
        history_constants=("Characteristic Time",),
        history_events=(("Tea within 10 degrees of the room", "Room Gap Closed", "first above zero"),
                        ("Tea coolest", OBSERVED, "trough")),
    )
    return ReportSettings(scenarios=("baseline",), quick=quick, seed=1, focus=focus)


def build(model, tmp_path, quick: bool) -> tuple[Document, dict]:
    doc = Document(tmp_path / "doc")
    runs = collect_runs(model, settings(quick), lambda message: None)
    section_history(doc, model, runs, settings(quick))
    return doc, runs


def test_the_section_is_a_default_section():
    assert section_history in default_sections()


def test_the_history_table_holds_the_baseline_run_at_the_observation_times(cooling_with_history, tmp_path):
    doc, runs = build(cooling_with_history, tmp_path, quick=True)
    (anchor, title, body), = doc.sections
    assert (anchor, title) == ("history", "Against history")
    shown = pd.read_html(io.StringIO(body))[0]
    frame = runs["scenarios"][0].frame
    expected = np.interp(TIMES, frame.index.to_numpy(dtype=float), frame[OBSERVED].to_numpy(dtype=float))
    np.testing.assert_allclose(shown["time"].to_numpy(dtype=float), TIMES)
    np.testing.assert_allclose(shown["baseline"].to_numpy(dtype=float), expected, rtol=1e-3)
    # the baseline (Characteristic Time 10) is warmer than the tea observed (8)
    assert (shown["error %"].to_numpy(dtype=float)[1:] > 0).all()
    assert "does not calibrate" in body
    assert doc.figures == [f"history_{OBSERVED.lower().replace(' ', '_')}.png"]


def test_history_table_numbers_equal_the_run(cooling_with_history):
    from pyloop.declarations.observations import read_observations

    model = cooling_with_history
    obs = read_observations(model.path.with_name("cooling.observations.csv"), model)
    run = pyloop.run(model, "baseline")
    table = history_table(obs, run.frame)
    at_saved = run.frame[OBSERVED].loc[TIMES].to_numpy(dtype=float)  # every observation time is saved
    np.testing.assert_array_equal(table["baseline"].to_numpy(), at_saved)
    np.testing.assert_allclose(table["error %"], 100 * (at_saved - obs.value) / obs.value)
    assert list(table["within tolerance"]) == list(np.abs(at_saved - obs.value) <= 1.0)


def test_the_full_section_calibrates_and_forecasts_the_events(cooling_with_history, tmp_path, capsys):
    doc, _ = build(cooling_with_history, tmp_path, quick=False)
    (_, _, body), = doc.sections
    assert "Calibrated to the observations" in body
    assert "running the best fit and" in capsys.readouterr().err
    tables = pd.read_html(io.StringIO(body))
    constants = next(t for t in tables if "constant" in t.columns)
    best = float(constants.loc[0, "best"])
    assert best == pytest.approx(8.0, rel=0.1)
    forecast = next(t for t in tables if "event" in t.columns)
    # the events the model lacks are left out; the tea still cools when every run ends: no trough
    assert list(forecast["event"]) == ["Tea coolest"]
    assert forecast.loc[0, "share of draws"] == "0%"
    assert forecast.loc[0, "50 %"] == "never"
    assert "history_event_tea_coolest.png" in doc.figures
    assert "Tea coolest: its time in the 0% of the posterior draws in which it happens before the run ends" in body


def test_without_observations_the_section_says_so(tmp_path):
    shutil.copyfile(MODELS / "cooling.mdl", tmp_path / "cooling.mdl")
    model = pyloop.load_model(tmp_path / "cooling.mdl")
    doc = Document(tmp_path / "doc")
    runs = collect_runs(model, ReportSettings(), lambda message: None)
    section_history(doc, model, runs, ReportSettings())
    (_, _, body), = doc.sections
    assert "Not part of this report" in body and "cooling.observations.csv" in body


def test_event_times():
    times = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    series = np.array([[0, 5, 5], [0, 7, 7], [1, 3, 3], [2, 1, 2], [3, 2, 1]], dtype=float)
    np.testing.assert_array_equal(event_times(times, series, "first above zero"), [2.0, 0.0, 0.0])
    # a trough is the lowest point after the peak; a series rising to its end has none,
    # nor has one still falling when the run ends
    np.testing.assert_array_equal(event_times(times, series, "trough"), [np.nan, 3.0, np.nan])
    with pytest.raises(PyloopError, match="unknown event kind 'peak'"):
        event_times(times, series, "peak")


def test_the_forecast_row_says_never_and_gives_the_share_in_percent():
    from pyloop.report.history_section import _forecast_row

    draws = np.array([np.nan, 2030.0, 2031.0, np.nan])
    row = _forecast_row("First contract cancellation", np.nan, 2030.5, draws)
    assert row["baseline"] == "never" and row["calibrated"] == "2030.5"
    assert row["share of draws"] == "50%"
    assert row["50 %"] == "2030.5"
    assert _forecast_row("x", np.nan, np.nan, np.full(3, np.nan))["95 %"] == "never"
