"""The causal structure: links, stocks and flows, loops, cycle partitions."""

from __future__ import annotations

import pytest

import pyloop
from pyloop.errors import PyloopError
from pyloop.analysis.structure import causal_structure, find_loops

from conftest import MODELS


@pytest.fixture(scope="module")
def logistic():
    return pyloop.load_model(MODELS / "logistic.mdl")


def test_stocks_flows_and_links(logistic):
    s = causal_structure(logistic)
    assert s.stocks == ("Population",)
    assert dict(s.flows["Population"]) == {"Births": 1, "Deaths": -1}
    assert s.link("Deaths", "Population").kind == "flow"
    assert s.link("Deaths", "Population").sign == -1
    assert s.link("Population", "Crowding").kind == "aux"
    assert s.link("Carrying Capacity", "Crowding").kind == "constant"
    # the initial value is not a causal link
    with pytest.raises(PyloopError, match="no link 'Initial Population' -> 'Population'"):
        s.link("Initial Population", "Population")
    assert set(s.inputs("Deaths")) == {"Population", "Birth Rate", "Crowding"}


def test_every_elementary_loop_found(logistic):
    s = causal_structure(logistic)
    loops = find_loops(s)
    assert {frozenset(k.variables) for k in loops} == {
        frozenset({"Population", "Births"}),
        frozenset({"Population", "Deaths"}),
        frozenset({"Population", "Crowding", "Deaths"}),
    }
    for loop in loops:
        assert loop.variables[0] == "Population"  # rotated to start at the stock
        for cause, effect in loop.links:
            assert s.link(cause, effect).kind in ("aux", "flow")
    assert s.partitions == (("Population",),)
    assert {k.partition for k in loops} == {0}


def test_loop_limit_errors_or_discovers(circular_model):
    s = causal_structure(circular_model)
    with pytest.raises(PyloopError, match="more than 50 feedback loops.*max_loops"):
        find_loops(s, max_loops=50)
    covering = find_loops(s, max_loops=50, on_limit="shortest")
    on_cycles = {
        (c, e)
        for c, e in s.graph.edges
        if s.partition_of(c) is not None and s.partition_of(c) == s.partition_of(e)
    }
    covered = {link for loop in covering for link in loop.links}
    assert on_cycles <= covered
    with pytest.raises(PyloopError, match="on_limit must be"):
        find_loops(s, on_limit="guess")
    with pytest.raises(PyloopError, match="max_loops must be a positive integer"):
        find_loops(s, max_loops=0)


def test_two_partitions(tmp_path):
    text = (MODELS / "logistic.mdl").read_text()
    extra = (
        "Tank= INTEG (\n\t-Drain,\n\t\t5)\n\t~\tLitre\n\t~\tA separate stock.\n\t|\n\n"
        "Drain=\n\tTank / 4\n\t~\tLitre/Year\n\t~\tIt drains.\n\t|\n\n"
    )
    path = tmp_path / "two_parts.mdl"
    path.write_text(text.replace("{UTF-8}\n", "{UTF-8}\n" + extra))
    s = causal_structure(pyloop.load_model(path))
    assert sorted(s.partitions) == [("Population",), ("Tank",)]
    assert s.partition_of("Drain") != s.partition_of("Births")
