"""The case study: which models it applies to, and its names kept in pyloop."""

from __future__ import annotations

import pytest

import pyloop
from circular import MODEL_PATH
from pyloop.errors import PyloopError


def test_our_model_is_the_case_and_a_plain_model_is_not(cooling_model):
    from pyloop.case import for_model
    from pyloop.case.ai_circular_finance import CASE

    assert for_model(MODEL_PATH) is CASE
    assert for_model(cooling_model) is None
    assert CASE.report_settings().focus.scenarios == ("baseline", "music_stops")
    assert CASE.sections()[-1] is CASE.summary


def test_case_names_from_pyloop_still_work_but_are_deprecated():
    from pyloop.case import ai_circular_finance

    with pytest.warns(DeprecationWarning, match="music_stops_before"):
        function = pyloop.music_stops_before
    assert function is ai_circular_finance.music_stops_before
    with pytest.warns(DeprecationWarning, match="DEFAULT_MODEL"):
        assert pyloop.DEFAULT_MODEL == ai_circular_finance.DEFAULT_MODEL
    with pytest.raises(AttributeError):
        pyloop.no_such_name


def test_escalation_ends_when_commitments_pass_half_their_mid_2026_value():
    import pandas as pd

    from pyloop.case.ai_circular_finance import escalation_window

    time = [2025.5 + 0.25 * i for i in range(9)]  # 2025.5 .. 2027.5
    commitments = pd.Series([100, 100, 300, 500, 700, 900, 1000, 1000, 1000], index=time, dtype=float)
    window = escalation_window(commitments, announced=2025.75)
    # half of the value at 2026.5 (700) is 350: first exceeded at 2026.25
    assert (window.label, window.start, window.end) == ("escalation", 2025.75, 2026.25)
    falling = pd.Series([1000, 900, 800, 700, 600, 500, 400, 300, 200], index=time, dtype=float)
    with pytest.raises(PyloopError, match=r"never exceed 50% of their value at 2026.5 \(300\) after 2027,"):
        escalation_window(falling, announced=2027.0)


def test_fall_ends_at_the_low_point_within_two_years():
    import pandas as pd

    from pyloop.case.ai_circular_finance import fall_window

    time = [2026.0 + 0.5 * i for i in range(9)]  # 2026 .. 2030
    value = pd.Series([10, 10, 8, 5, 4, 6, 7, 1, 9], index=time, dtype=float)
    window = fall_window(value, shock=2026.5)
    assert (window.label, window.start, window.end) == ("fall", 2026.5, 2028.0)  # not the later low of 2029.5
    rising = pd.Series(range(9), index=time, dtype=float)
    assert fall_window(rising, shock=2026.5).end == 2028.5  # no fall: the whole two years
    with pytest.raises(PyloopError, match=r"the shock at 2031 lies outside the run \(2026 to 2030\)"):
        fall_window(value, shock=2031)


def test_the_case_windows_come_from_the_model_and_its_runs(circular_model, circular_run):
    from pyloop.case.ai_circular_finance import CASE, KEY_VARIABLES, case_windows

    assert CASE.focus.loop_variables == KEY_VARIABLES
    base, stops = circular_run("baseline"), circular_run("music_stops")
    windows = case_windows(circular_model, {"baseline": base, "music_stops": stops})
    escalation, fall = windows["baseline"], windows["music_stops"]
    assert escalation.start == circular_model.defaults["Contract Announcement Time"]
    commitments = base.frame["Total Lab Commitments"]
    half = commitments.iloc[(abs(commitments.index - 2026.5)).argmin()] / 2
    assert commitments.loc[escalation.end] > half >= commitments.loc[: escalation.end].iloc[-2]
    assert fall.start == stops.constants["Equity Appetite Shock Time"]
    value = stops.frame["Cloud Market Value"].loc[fall.start : fall.start + 2]
    assert fall.end == value.idxmin()


def test_a_runaway_knockout_is_said_apart_from_the_strongest_change():
    import pandas as pd

    from pyloop.case.ai_circular_finance import _loops_answer
    from pyloop.report.loop_section import runaway_knockouts, strongest_knockout

    table = pd.DataFrame(
        {
            "loop": ["B4", "B4", "R3"],
            "variable": ["Backlog", "Cash", "Backlog"],
            "peak change": [2422.6, 0.1, -0.27],
            "trough change": [0.0, 0.0, 0.0],
            "final change": [0.0, 0.0, 0.0],
        }
    )
    assert runaway_knockouts(table) == {"B4": ["Backlog"]}
    assert strongest_knockout(table)["loop"] == "R3"
    numbers = {
        "runaway_knockouts": {"B4": {"baseline": ["Backlog"]}},
        "loop_names": {"B4": "Market saturation"},
        "strongest_knockout": {"scenario": "baseline", **strongest_knockout(table), "name": "Sentiment momentum"},
    }
    text = _loops_answer(numbers)
    assert "Switching off B4 Market saturation lets Backlog run away" in text
    assert "Of the other named loops, switching off R3 Sentiment momentum changes the most: it lowers the peak value of Backlog in baseline by 27 %." in text


def test_refit_fits_every_constant_marked_fitted_within_its_range(circular_model):
    from pyloop.case.refit import fitted_constants, rounded

    bounds = fitted_constants(circular_model)
    marked = [v.name for v in circular_model.variables
              if v.kind == "constant" and (v.comment or "").startswith("Fitted:")]
    assert sorted(bounds) == sorted(marked) and len(bounds) >= 8
    for name, (low, high) in bounds.items():
        assert low <= circular_model.defaults[name] <= high, name
    assert rounded(0.4567) == 0.46 and rounded(1.1567) == 1.16 and rounded(679.4) == 679
