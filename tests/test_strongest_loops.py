"""The strongest loops through a variable (strongest-path search), and their
use by per-variable dominance when a model has too many loops to enumerate."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import MODELS

import pyloop
from pyloop.analysis.loops import structure_and_loops, variable_dominance
from pyloop.analysis.loops.links import link_scores
from pyloop.analysis.loops.scores import loop_key, run_evaluator
from pyloop.analysis.loops.strongest import strongest_loops_through


@pytest.fixture(scope="module", params=[("two_stock.mdl", "Rookies"), ("predator_prey.mdl", "Prey")])
def case(request):
    name, variable = request.param
    model = pyloop.load_model(MODELS / name)
    structure, loops, mode = structure_and_loops(model, 10_000)
    assert mode == "exhaustive"
    evaluator = run_evaluator(model, pyloop.run(model))
    scores = link_scores(structure, evaluator)
    return model, structure, loops, scores, model.variable(variable).name


def _loop_score(variables, scores, t):
    return float(np.prod([scores[(a, b)][t] for a, b in zip(variables, variables[1:] + variables[:1])]))


def test_the_strongest_loop_of_each_step_is_found(case):
    model, structure, loops, scores, variable = case
    through = [c.variables for c in loops if variable in c.variables]
    n = len(next(iter(scores.values())))
    checked = 0
    for t in range(1, n):
        strengths = [abs(_loop_score(v, scores, t)) for v in through]
        if max(strengths) == 0:
            continue
        strongest = loop_key(through[int(np.argmax(strengths))])
        found = {loop_key(c.variables) for c in strongest_loops_through(structure, scores, variable, [t])}
        assert strongest in found, f"step {t}"
        checked += 1
    assert checked > n // 2


def test_only_real_loops_through_the_variable_and_never_a_known_one(case):
    model, structure, loops, scores, variable = case
    every = {loop_key(c.variables) for c in loops}
    n = len(next(iter(scores.values())))
    found = strongest_loops_through(structure, scores, variable, range(1, n))
    assert found and all(variable in c.variables and loop_key(c.variables) in every for c in found)
    assert [c.id for c in found] == [f"S{i + 1}" for i in range(len(found))]
    again = strongest_loops_through(structure, scores, variable, range(1, n), known=[c.variables for c in found])
    assert again == []


def test_discovery_mode_analysis_finds_the_strongest_loop_the_shortest_set_leaves_out():
    # four loops through Savings and Lending; the shortest loop through each
    # link covers every link with three of them and leaves out the strongest
    # (interest income and market loans)
    model = pyloop.load_model(MODELS / "crossed.mdl")
    strongest = loop_key(("Savings", "Market Loans", "New Loans", "Lending", "Interest Income", "Deposits"))
    shortest = {loop_key(c.variables) for c in structure_and_loops(model, 1)[1]}
    assert len(shortest) == 3 and strongest not in shortest
    result = pyloop.run(model)
    full = variable_dominance(model, result, "Savings")
    found = variable_dominance(model, result, "Savings", max_loops=1)
    assert found.mode == "discovery" and full.mode == "exhaustive"
    # one group (every loop passes through both stocks): with the strongest
    # loop found, the discovery analysis misses only the weakest loop
    (group,) = found.groups
    assert "S1" in group.loops
    weakest = full.groups[0].score - group.score
    assert np.all(np.abs(weakest[1:]) < 0.01 * np.abs(full.groups[0].score[1:]))
