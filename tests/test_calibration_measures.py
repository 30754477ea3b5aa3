"""Measures, scalings and tolerances of declared reality checks beyond the
basic ones: integrals of flows, first times of a cumulated flow, changes
between two times, totals, factors and directions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pyloop.errors import PyloopError, ScenarioError
from pyloop.validation.calibration import Check, measure_checks, read_checks


@pytest.fixture
def frame():
    """A quarter-year grid: a pulse flow of 8 per year in the step at 1.0
    (area 2), a constant flow of 4, a stock and a second stock."""
    t = np.arange(0, 3.01, 0.25)
    pulse = np.where(np.isclose(t, 1.0), 8.0, 0.0)
    return pd.DataFrame(
        {"Pulse": pulse, "Flow": np.full_like(t, 4.0), "Stock": 10 + t, "Other": 2 * t},
        index=pd.Index(t, name="time"),
    )


def check(**kw):
    base = dict(label="c", sources=(), target=1.0, units="", measure="value", variable="Stock")
    return Check(**{**base, **kw})


def model_values(checks, frame, constants=None):
    return measure_checks(checks, frame, constants or {"Event": 1.1, "Scale": 4.0})["model"].tolist()


def test_integral_over_an_announcement_step_is_the_jump_it_gives(frame):
    assert model_values([check(measure="integral", variable="Pulse", at="Event")], frame) == [2.0]


def test_integral_over_a_span_and_per_another_flow(frame):
    checks = [
        check(measure="integral", variable="Flow", time=0.5, until=1.5),
        check(measure="integral", variable="Flow", at="Event", until=2.0),
        check(measure="integral", variable="Pulse", per="Flow", time=0.0, until=2.0),
    ]
    # [0.5, 1.5) is four steps of 0.25; [1.0, 2.0) also; 2 over 8
    assert model_values(checks, frame) == pytest.approx([4.0, 4.0, 0.25])


def test_first_cumulative_counts_the_steps_before_the_time(frame):
    # from the step at 1.0, a flow of 4 adds 1 per step: 1 by 1.25, 3 by 1.75
    checks = [
        check(measure="first_cumulative", variable="Flow", at="Event", threshold=1.0),
        check(measure="first_cumulative", variable="Flow", time=1.0, threshold=3.0),
        check(measure="first_cumulative", variable="Pulse", time=1.5, threshold=1.0),
    ]
    values = model_values(checks, frame)
    assert values[:2] == [1.25, 1.75]
    assert np.isnan(values[2])


def test_value_between_saved_times_is_the_next_saved_time(frame):
    assert model_values([check(measure="value", time=1.1)], frame) == [11.25]
    with pytest.raises(PyloopError, match="after the end of the run"):
        model_values([check(measure="value", time=4.0)], frame)


def test_growth_and_response_between_two_times(frame):
    checks = [
        check(measure="growth", time=0.0, until=2.0),
        check(measure="response", per="Other", time=1.0, until=3.0),
    ]
    assert model_values(checks, frame) == pytest.approx([0.2, 0.5])


def test_plus_and_scaling_by_variables_and_constants(frame):
    checks = [
        check(measure="value", time=2.0, plus=("Other",)),
        check(measure="value", time=2.0, multiply_by=("Other",), divide_by=("Scale",)),
        check(measure="integral", variable="Pulse", at="Event", divide_by=("Stock",)),
    ]
    # 12 + 4; 12 * 4 / 4; the pulse's 2 over the stock at its step, 11
    assert model_values(checks, frame) == pytest.approx([16.0, 12.0, 2 / 11])


def test_factor_tolerance_is_symmetric_in_ratio(frame):
    checks = [check(target=t, time=2.0, factor=1.5) for t in (8.1, 17.9, 7.9, 18.1)]
    table = measure_checks(checks, frame, {})
    assert table["passed"].tolist() == [True, True, False, False]
    assert table["error"].iloc[0] == pytest.approx(12 / 8.1)
    assert table["tolerance"].iloc[0] == 1.5


def test_direction_passes_on_the_sign_only(frame):
    checks = [
        check(measure="growth", time=0.0, until=2.0, target=5.0, direction=True),
        check(measure="growth", time=0.0, until=2.0, target=-0.1, direction=True),
    ]
    table = measure_checks(checks, frame, {})
    assert table["passed"].tolist() == [True, False]
    assert table["error"].tolist() == [0.0, 1.0]


def test_unknown_factor_is_named(frame):
    with pytest.raises(PyloopError, match="unknown variable 'Scael'.*did you mean 'Scale'"):
        model_values([check(multiply_by=("Scael",))], frame)


@pytest.mark.parametrize(
    "extra,message",
    [
        ('measure="growth"\n', "needs 'at'.*or 'time' and 'until'"),
        ('measure="first_cumulative"\n', "needs 'threshold'"),
        ('measure="max"\ndivide_by=["X"]\n', "takes no 'multiply_by' or 'divide_by'"),
        ('measure="value"\ntolerance=0.2\nfactor=1.5\n', "give one of .*not tolerance and factor"),
        ('measure="value"\nfactor=0.5\n', "'factor' must be above 1"),
        ('measure="value"\ndivid_by=["X"]\n', "unknown key 'divid_by'.*did you mean 'divide_by'"),
    ],
)
def test_bad_extended_checks(tmp_path, extra, message):
    path = tmp_path / "m.calibration.toml"
    path.write_text('[[checks]]\nlabel="x"\ntarget=1\nvariable="V"\n' + extra)
    with pytest.raises(ScenarioError, match=message):
        read_checks(path)


def test_reading_lists_and_single_names(tmp_path):
    path = tmp_path / "m.calibration.toml"
    path.write_text(
        '[[checks]]\nlabel="x"\ntarget=1\nvariable="V"\nmeasure="value"\nplus="W"\n'
        'divide_by=["A", "B"]\ndirection=true\n'
    )
    (read,) = read_checks(path)
    assert (read.plus, read.divide_by, read.direction) == (("W",), ("A", "B"), True)
