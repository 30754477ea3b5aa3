"""Declared reality checks: reading, measuring, and the model passing them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from circular import MODEL_PATH
from pyloop.validation.calibration import Check, calibration_path, measure_checks, read_checks
from pyloop.errors import PyloopError, ScenarioError


@pytest.fixture
def frame():
    """Two variables on a quarter-year grid: a jump of 4 and 2 at t = 1."""
    t = np.arange(0, 3.01, 0.25)
    jump = (t > 1.0).astype(float)
    return pd.DataFrame({"Value": 10 + 4 * jump + t, "Cause": 2 * jump}, index=pd.Index(t, name="time"))


def check(**kw):
    base = dict(label="c", sources=(), target=1.0, units="", measure="value", variable="Value")
    return Check(**{**base, **kw})


def test_measures_on_a_known_frame(frame):
    checks = [
        check(measure="value", time="start", target=10),
        check(measure="value", time=2.0, target=16),
        check(measure="before", at="Event", target=10.75),
        check(measure="after", at="Event", target=15.25),
        check(measure="growth", at="Event", target=15.25 / 10.75 - 1),
        check(measure="response", at="Event", per="Cause", target=(15.25 - 10.75) / 2),
        check(measure="first", threshold=14.5, target=1.25, tolerance_abs=0.01),
        check(measure="max", time=1.0, target=17),
    ]
    # the event at t = 1.1 lands on the step at 1.0: before is 0.75, after 1.25
    table = measure_checks(checks, frame, {"Event": 1.1})
    np.testing.assert_allclose(table["model"], [c.target for c in checks], rtol=1e-12)
    assert table["passed"].all()


def test_a_value_outside_tolerance_fails(frame):
    table = measure_checks([check(target=11.2), check(target=11.0)], frame, {})
    assert table["passed"].tolist() == [False, True]
    assert table["error"].iloc[0] == pytest.approx(1.2 / 11.2)


def test_unknown_variable_is_named(frame):
    with pytest.raises(PyloopError, match="unknown variable 'Valeu'.*did you mean 'Value'"):
        measure_checks([check(variable="Valeu")], frame, {})


@pytest.mark.parametrize(
    "body,message",
    [
        ('[[checks]]\nlabel="x"\ntarget=1\nvariable="V"\nmeasure="median"\n', "measure must be one of"),
        ('[[checks]]\nlabel="x"\ntarget=1\nvariable="V"\nmeasure="value"\ntimes=2\n', "unknown key 'times'.*did you mean 'time'"),
        ('[[checks]]\nlabel="x"\ntarget=1\nvariable="V"\nmeasure="after"\n', "needs 'at'"),
        ('[[checks]]\nlabel="x"\nvariable="V"\nmeasure="value"\n', "missing 'target'"),
    ],
)
def test_bad_checks_file(tmp_path, body, message):
    path = tmp_path / "m.calibration.toml"
    path.write_text(body)
    with pytest.raises(ScenarioError, match=message):
        read_checks(path)


def test_every_declared_check_passes_on_the_baseline(circular_model, circular_run):
    checks = read_checks(calibration_path(MODEL_PATH))
    assert len(checks) >= 15
    run = circular_run("baseline")
    table = measure_checks(checks, run.frame, {**circular_model.defaults, **run.constants})
    failed = table.loc[~table["passed"], ["check", "target", "model"]]
    assert failed.empty, failed.to_string()
    sources = set(", ".join(table["sources"]).split(", "))
    assert {"S01", "S02", "S04", "S05", "S07", "S10", "S11", "S13", "S15"} <= sources
