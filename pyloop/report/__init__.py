"""Assemble the report: one self-contained HTML file with its figures.

:mod:`~pyloop.report.build` writes the report into its folder,
:mod:`~pyloop.report.sections` holds the generic sections,
:mod:`~pyloop.report.document` the HTML document and
:mod:`~pyloop.report.settings` what a report covers. A case study adds its
own sections and focus (see :class:`~pyloop.report.settings.Focus`).
"""

from pyloop.report.build import MARKER, build_report
from pyloop.report.sections import Section, default_sections, equation_texts
from pyloop.report.settings import Focus, ReportSettings

__all__ = ["MARKER", "Focus", "ReportSettings", "Section", "build_report", "default_sections", "equation_texts"]
