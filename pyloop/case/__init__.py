"""The case study the toolkit ships with, kept apart from the generic code.

:func:`for_model` says which case, if any, a model belongs to; the case
then gives the report its focus and its own sections (see
:mod:`pyloop.case.ai_circular_finance`)::

    case = for_model(model)
    if case is not None:
        settings = case.report_settings(settings)
        sections = case.sections()
"""

from __future__ import annotations

from pathlib import Path

from pyloop.case.ai_circular_finance import CASE, Case
from pyloop.engine import Model

__all__ = ["CASES", "Case", "for_model"]

#: Every case study, tried in order by :func:`for_model`.
CASES = (CASE,)


def for_model(model: Model | str | Path) -> Case | None:
    """The case study a model (or model file) belongs to, or None."""
    return next((case for case in CASES if case.matches(model)), None)
