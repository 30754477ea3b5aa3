"""Figures of run results; the only package that uses matplotlib.

Functions take finished :class:`~pyloop.runner.RunResult` objects and draw;
they compute nothing. Each drawing function takes an optional ``ax`` and
returns what it drew on. New figures are drawn on matplotlib's Agg canvas
directly, without pyplot, so no display is needed and the caller's pyplot
state and backend are left alone.

The figures are grouped by what they show: :mod:`~pyloop.plots.runs`,
:mod:`~pyloop.plots.diagram`, :mod:`~pyloop.plots.sensitivity`,
:mod:`~pyloop.plots.ledger`, :mod:`~pyloop.plots.loops` and
:mod:`~pyloop.plots.fit`; :mod:`~pyloop.plots.style` holds what they share.
"""

from pyloop.plots.diagram import view_figure
from pyloop.plots.ledger import ledger_figure, plot_money_flows, plot_origin_shares
from pyloop.plots.loops import (
    knockout_figure,
    loop_dominance_figure,
    plot_dominance_phases,
    plot_knockouts,
    plot_relative_loop_scores,
    variable_dominance_figure,
)
from pyloop.plots.runs import comparison_figure, plot_variable, save_figure
from pyloop.plots.sensitivity import fan_chart, fan_chart_figure, morris_figure, prim_figure, sobol_figure
from pyloop.plots.style import MAX_ELEMENTS, MAX_PANELS

#: The distribution the figures are drawn with (its version goes into a report's manifest).
PLOTTING_LIBRARY = "matplotlib"

__all__ = ["MAX_ELEMENTS", "PLOTTING_LIBRARY","comparison_figure", "plot_variable", "save_figure", "view_figure", "MAX_PANELS",
           "fan_chart", "fan_chart_figure", "sobol_figure", "morris_figure", "prim_figure",
           "ledger_figure", "plot_money_flows", "plot_origin_shares",
           "knockout_figure", "loop_dominance_figure", "plot_dominance_phases", "plot_knockouts",
           "plot_relative_loop_scores", "variable_dominance_figure"]
