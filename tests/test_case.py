"""The case study: which models it applies to, and its names kept in pyloop."""

from __future__ import annotations

import pytest

import pyloop
from circular import MODEL_PATH


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
