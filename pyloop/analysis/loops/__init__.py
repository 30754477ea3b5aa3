"""Feedback-loop dominance over a run: Loops That Matter.

Method (Schoenberg, Davidsen & Eberlein 2020, *System Dynamics Review*
36(2); flow-to-stock links as corrected by Schoenberg, Hayward & Eberlein
2023, *SDR* 39(2)). Every score at time ``t`` describes the change over the
step ``[t - dt, t]`` (the convention of Simlin); at the initial time every
score is 0.

* **Link score** of ``x -> z`` (``z`` an auxiliary or a flow): the partial
  change of ``z`` when only ``x`` moves, over the total change of ``z``,
  signed by the direction of that partial change relative to ``x``'s::

      D_x z = f(x(t), others(t - dt)) - z(t - dt)         (ceteris paribus)
      LS    = |D_x z / D z| * sign(D_x z / D x),  0 if D z = 0 or D x = 0

* **Link score** of a flow ``f`` into its stock ``S`` (2023 form): the
  change of the flow over the change of the stock's net flow, with the
  structural sign (+1 inflow, -1 outflow)::

      LS = sign * |D f / D net(S)|,  0 if D net(S) = 0

  A stock whose net flow is not a plain sum of flows is scored the same
  way through the instantaneous formula applied to its net-flow expression.
* **Loop score**: the product of the loop's link scores.
* **Relative loop score**: the loop score over the sum of the absolute loop
  scores of every loop in the same cycle partition (in ``[-1, 1]``).
* **Polarity** over the run: ``R`` or ``B`` when at least
  :data:`POLARITY_THRESHOLD` of the loop's activity (its absolute relative
  score summed over time) has that sign, otherwise ``U``; the confidence is
  the majority sign's share.
* **Dominance**: at each step the smallest set of loops (largest absolute
  relative score first) that holds at least half of the partition's absolute
  relative score; consecutive steps with the same set form a phase.

The equations are evaluated over whole time series at once by a small
interpreter of PySD's abstract syntax tree (:class:`Evaluator`): each link
costs one vectorised evaluation of its target's equation.

Named loops come from a catalogue beside the model (``X.loops.toml``): a loop
found matches an entry if it contains the entry's variables in the entry's
cyclic order; the shortest such loop wins. Entries with a ``switch``
constant support knockout runs (:func:`knockouts`, :func:`knockout_table`).

Modules: :mod:`~pyloop.engine.evaluator` (equations over whole time series),
:mod:`~pyloop.engine.builtins` (SMOOTH, DELAY and TREND written out as
stocks), :mod:`~pyloop.analysis.loops.links` (link scores and polarities),
:mod:`~pyloop.analysis.loops.scores` (loop scores and the analysis of a run),
:mod:`~pyloop.analysis.loops.results` (the analysis and its scored loops), :mod:`~pyloop.analysis.loops.phases` (polarity and dominance phases),
:mod:`~pyloop.analysis.loops.dominance` (which loops drive one variable),
:mod:`~pyloop.analysis.loops.modes` (Jacobian eigenvalues and their elasticities),
:mod:`~pyloop.declarations.catalogue` (named loops) and
:mod:`~pyloop.analysis.loops.knockout` (knockout runs).
"""

from __future__ import annotations

from pyloop.declarations.catalogue import CatalogueLoop, load_catalogue, match_catalogue
from pyloop.analysis.loops.dominance import (
    LoopGroup,
    VariableDominance,
    VariablePhase,
    analyze_variable,
    variable_dominance,
)
from pyloop.engine.evaluator import Evaluator, check_supported
from pyloop.analysis.loops.knockout import knockout_table, knockouts
from pyloop.analysis.loops.modes import ModePhase, Modes, jacobians, run_modes
from pyloop.analysis.loops.phases import POLARITY_THRESHOLD, Phase, dominance_phases, polarity_phases, run_polarity
from pyloop.analysis.loops.scores import (
    LoopAnalysis,
    ScoredLoop,
    analyze_loops,
    link_polarity,
    link_scores,
    loop_polarity,
    score_run,
    structure_and_loops,
)


__all__ = [
    "CatalogueLoop",
    "Evaluator",
    "LoopAnalysis",
    "LoopGroup",
    "ModePhase",
    "Modes",
    "Phase",
    "POLARITY_THRESHOLD",
    "ScoredLoop",
    "VariableDominance",
    "VariablePhase",
    "analyze_variable",
    "analyze_loops",
    "dominance_phases",
    "check_supported",
    "jacobians",
    "knockout_table",
    "knockouts",
    "link_polarity",
    "link_scores",
    "load_catalogue",
    "loop_polarity",
    "polarity_phases",
    "match_catalogue",
    "run_modes",
    "run_polarity",
    "score_run",
    "structure_and_loops",
    "variable_dominance",
]
