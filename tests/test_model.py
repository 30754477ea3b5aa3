"""Loading, caching, metadata and fresh state of pyloop.engine (load_model and Model)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyloop
from pyloop.errors import ModelFileError, ParameterError, SimulationError
from pyloop.engine import cache_root
from conftest import FIXTURES, MODELS


# ------------------------------------------------------------------- cache
def test_cache_root_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PYLOOP_CACHE_DIR", str(tmp_path / "a"))
    assert cache_root() == tmp_path / "a"
    monkeypatch.delenv("PYLOOP_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "pyloop"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "pyloop"


def test_translation_is_cached_and_renewed_on_change(cooling_copy, monkeypatch, tmp_path):
    monkeypatch.setenv("PYLOOP_CACHE_DIR", str(tmp_path / "cache"))
    first = pyloop.load_model(cooling_copy)
    assert first.translated
    py_file = first.translation
    assert py_file.is_file()
    stamp = py_file.stat().st_mtime_ns

    second = pyloop.load_model(cooling_copy)
    assert not second.translated
    assert second.cache_dir == first.cache_dir
    assert py_file.stat().st_mtime_ns == stamp

    cooling_copy.write_text(cooling_copy.read_text().replace("\n\t70\n", "\n\t75\n"))
    third = pyloop.load_model(cooling_copy)
    assert third.translated
    assert third.cache_dir != first.cache_dir
    assert third.defaults["Room Temperature"] == 75
    # no half-finished entries are left behind
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(".")]


def test_nothing_is_written_beside_the_model(cooling_copy):
    before = sorted(os.listdir(cooling_copy.parent))
    model = pyloop.load_model(cooling_copy)
    model.simulate()
    assert sorted(os.listdir(cooling_copy.parent)) == before
    assert cache_root() in model.cache_dir.parents


def test_failed_translation_leaves_no_cache_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("PYLOOP_CACHE_DIR", str(tmp_path / "cache"))
    bad = tmp_path / "broken.mdl"
    bad.write_text("{UTF-8}\nStock = INTEG (\n\t~ Widgets\n\t~ |\n")
    with pytest.raises(ModelFileError):
        pyloop.load_model(bad)
    assert list((tmp_path / "cache").iterdir()) == []


# ------------------------------------------------------------ file errors
def test_missing_model_file(tmp_path):
    with pytest.raises(ModelFileError, match=r"model file not found: .*nowhere\.mdl"):
        pyloop.load_model(tmp_path / "nowhere.mdl")


def test_unsupported_suffix(tmp_path):
    path = tmp_path / "model.txt"
    path.write_text("x")
    with pytest.raises(ModelFileError, match=r"unsupported model file 'model\.txt'.*\.mdl"):
        pyloop.load_model(path)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("broken.mdl", "{UTF-8}\nStock = INTEG (\n\t~ Widgets\n\t~ |\n"),
        ("garbage.mdl", "this is not a model )(*&^\n"),
        ("broken.xmile", "<xmile><model><variables><stock name='S'>"),
    ],
)
def test_unparsable_model_file(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ModelFileError, match=rf"cannot translate model file '{name}': \w+") as info:
        pyloop.load_model(path)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------- metadata
def test_metadata_is_plain_data(cooling_model):
    m = cooling_model
    assert m.name == "cooling"
    assert m.stocks == ("Teacup Temperature",)
    assert set(m.constants) == {"Characteristic Time", "Room Temperature"}
    assert dict(m.defaults) == {"Characteristic Time": 10, "Room Temperature": 70}
    t = m.time
    assert (t.initial_time, t.final_time, t.time_step, t.saveper) == (0, 30, 0.125, 0.125)
    assert t.units == "Minute"
    ct = m.variable("Characteristic Time")
    assert ct.kind == "constant"
    assert ct.units == "Minutes"
    assert ct.range == (1.0, 100.0)
    assert ct.py_name == "characteristic_time"
    assert "cool 1/e" in ct.comment
    assert m.variable("Room Temperature").range == (-459.67, None)
    assert m.variable("Heat Loss to Room").kind == "flow"
    assert m.variable("Teacup Temperature").kind == "stock"
    assert m.variable("Teacup Temperature").range is None
    assert m.variable("TIME STEP").kind == "control"


def test_names_resolve_in_any_spelling(cooling_model):
    for spelling in ("Teacup Temperature", "teacup_temperature", "TEACUP  temperature"):
        assert cooling_model.resolve_name(spelling) == "Teacup Temperature"
    assert cooling_model.resolve_name("Teapot") is None
    with pytest.raises(ParameterError, match=r"unknown variable 'Teacup Temprature'.*did you mean 'Teacup Temperature'"):
        cooling_model.variable("Teacup Temprature")


# ------------------------------------------------------------- simulation
def test_frame_shape_and_names(cooling_model):
    frame = cooling_model.simulate()
    assert frame.index.name == "time"
    assert frame.index.dtype == np.float64
    assert frame.index[0] == 0 and frame.index[-1] == 30
    assert len(frame) == 241
    assert list(frame.columns) == [
        "Characteristic Time",
        "Heat Loss to Room",
        "Room Temperature",
        "Teacup Temperature",
    ]
    only = cooling_model.simulate(return_columns=["teacup_temperature"])
    assert list(only.columns) == ["Teacup Temperature"]


def test_time_step_also_sets_saveper(cooling_model):
    half = cooling_model.simulate(time_step=0.0625)
    assert len(half) == 481
    assert np.allclose(np.diff(half.index), 0.0625)
    coarse = cooling_model.simulate(time_step=0.0625, saveper=1, final_time=10)
    assert list(coarse.index) == list(np.arange(0.0, 11.0))


def test_params_do_not_stick(cooling_model):
    default = cooling_model.simulate()
    changed = cooling_model.simulate({"Characteristic Time": 5}, final_time=10, time_step=0.5)
    assert (changed["Characteristic Time"] == 5).all()
    assert changed.index[-1] == 10
    again = cooling_model.simulate()
    assert (again["Characteristic Time"] == 10).all()
    assert again.index[-1] == 30
    assert again.equals(default)


def test_reset_matches_a_freshly_loaded_model(cooling_model):
    cooling_model.simulate({"Characteristic Time": 2, "Room Temperature": 20})
    cooling_model.simulate({"Room Temperature": 90})
    after = cooling_model.simulate()
    fresh = pyloop.load_model(MODELS / "cooling.mdl").simulate()
    assert after.equals(fresh)


def test_only_constants_can_be_set(cooling_model):
    with pytest.raises(ParameterError, match="'Teacup Temperature' is a stock, not a constant"):
        cooling_model.simulate({"Teacup Temperature": 3})


def test_failed_run_names_variable_and_time():
    model = pyloop.load_model(MODELS / "divide.mdl")
    with pytest.raises(SimulationError, match=r"in 'Ratio' at time 3: ZeroDivisionError"):
        model.simulate()
    # the model still runs afterwards
    ok = model.simulate({"Break Time": 10})
    assert ok.index[-1] == 5


def test_damaged_cache_entry_is_replaced(cooling_copy, monkeypatch, tmp_path):
    monkeypatch.setenv("PYLOOP_CACHE_DIR", str(tmp_path / "cache"))
    first = pyloop.load_model(cooling_copy)
    first.translation.unlink()
    with pytest.warns(UserWarning, match="'model.py' is missing; translating it again"):
        again = pyloop.load_model(cooling_copy)
    assert again.translated and again.translation.is_file()


def test_unwritable_cache_is_reported(cooling_copy, monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("PYLOOP_CACHE_DIR", str(blocker / "cache"))
    with pytest.raises(ModelFileError, match="cannot write the translation cache .*PYLOOP_CACHE_DIR"):
        pyloop.load_model(cooling_copy)


_settings = st.fixed_dictionaries(
    {},
    optional={
        "Characteristic Time": st.floats(1, 100),
        "Room Temperature": st.floats(-400, 400),
    },
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_settings, min_size=1, max_size=4))
def test_any_run_sequence_leaves_no_trace(cooling_model, sequence):
    fresh = pyloop.load_model(MODELS / "cooling.mdl")
    for params in sequence:
        cooling_model.simulate(params, final_time=5)
    last = sequence[-1]
    assert cooling_model.simulate(last).equals(fresh.simulate(last))
    assert cooling_model.simulate().equals(fresh.simulate())


@pytest.mark.parametrize("suffix", [".mdl", ".xmile"])
def test_equations_give_references_and_signed_flows(suffix):
    model = pyloop.load_model(FIXTURES / "SIR" / f"SIR{suffix}")
    n = model.resolve_name  # the XMILE file spells names in lower case
    eq = model.equations
    assert dict(eq[n("Infectious")].flows) == {n("Succumbing"): 1, n("Recovering"): -1}
    assert dict(eq[n("Susceptible")].flows) == {n("Succumbing"): -1}
    assert eq[n("Susceptible")].initial_references == (n("Total Population"),)
    assert set(eq[n("Succumbing")].references) == {
        n("Susceptible"),
        n("Infectious"),
        n("Total Population"),
        n("Contact Infectivity"),
    }
    assert set(eq) == {v.name for v in model.variables}


def test_equations_skip_function_names(tmp_path):
    path = tmp_path / "stepper.mdl"
    path.write_text(
        "{UTF-8}\nStock= INTEG (Inflow - Outflow, 1)\n\t~\tWidget\n\t~\ts\n\t|\n\n"
        "Inflow= STEP(Height, 2) + MAX(0, Stock)\n\t~\tWidget/Month\n\t~\ti\n\t|\n\n"
        "Outflow= Stock / Delay Time\n\t~\tWidget/Month\n\t~\to\n\t|\n\n"
        "Height= 3\n\t~\tWidget/Month\n\t~\th\n\t|\n\nDelay Time= 4\n\t~\tMonth\n\t~\td\n\t|\n\n"
        "INITIAL TIME = 0\n\t~\tMonth\n\t~\t\n\t|\nFINAL TIME = 5\n\t~\tMonth\n\t~\t\n\t|\n"
        "TIME STEP = 1\n\t~\tMonth\n\t~\t\n\t|\nSAVEPER = TIME STEP\n\t~\tMonth\n\t~\t\n\t|\n"
    )
    eq = pyloop.load_model(path).equations
    assert eq["Inflow"].references == ("Height", "Stock")
    assert dict(eq["Stock"].flows) == {"Inflow": 1, "Outflow": -1}


def test_time_settings_that_read_time_are_evaluated_in_every_run(tmp_path):
    """FINAL TIME, TIME STEP and SAVEPER that change with Time follow the run,
    and an INITIAL TIME that reads Time starts each run where the first did."""
    model_file = tmp_path / "clock.mdl"
    model_file.write_text(
        "{UTF-8}\nvar = Time\n~ Month\n~ The time.\n|\n"
        "FINAL TIME = IF THEN ELSE(Time < 5, 10, 8)\n~ Month\n~ Ends at 8 once past 5.\n|\n"
        "INITIAL TIME = IF THEN ELSE(Time < 3, 0, 0.2)\n~ Month\n~ Start.\n|\n"
        "SAVEPER = TIME STEP\n~ Month\n~ Every step.\n|\n"
        "TIME STEP = IF THEN ELSE(Time < 4, 1, 0.5)\n~ Month\n~ Halves after 4.\n|\n"
    )
    model = pyloop.load_model(model_file)
    first = model.simulate()
    times = [0.0, 1.0, 2.0, 3.0, 4.0, 4.5, 5.0, 5.5, 6.0, 6.5, 7.0, 7.5, 8.0]
    assert list(first.index) == times
    assert model.simulate().equals(first)
