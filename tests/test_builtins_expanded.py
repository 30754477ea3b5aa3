"""SMOOTH, DELAY and TREND written out as stocks, so loops through them are
found and scored.

``tests/models/builtins.mdl`` uses SMOOTH, SMOOTH3 (inside a larger
expression), DELAY1, DELAY3, TREND and DELAY FIXED on feedback loops;
``builtins_explicit.mdl`` is the same model with every function but DELAY
FIXED written out by hand as INTEG stocks, under the names the expansion
gives them.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import pyloop
from pyloop.errors import PyloopError
from pyloop.analysis.loops import Evaluator, analyze_loops, score_run
from pyloop.engine import reference_name
from pyloop.analysis.structure import causal_structure

from conftest import MODELS, TESTS

SDXORG = [TESTS / "fixtures" / "sdxorg-test-models" / "tests", TESTS / "fixtures" / "sdxorg-test-models"]


@pytest.fixture(scope="module")
def pair():
    out = {}
    for name in ("builtins", "builtins_explicit"):
        model = pyloop.load_model(MODELS / f"{name}.mdl")
        result = pyloop.run(model)
        out[name] = (model, result, score_run(model, result, report=1000))
    return out


def test_functions_become_stocks_of_the_structure(pair):
    model, _, _ = pair["builtins"]
    structure = causal_structure(model)
    for stock in ("Production stage 1", "Production stage 3", "Reported Inventory stage 1",
                  "Expected Demand stage 1", "Target Inventory smooth 1 stage 3",
                  "Inventory Trend average", "Returns pipeline"):
        assert structure.kinds[stock] == "stock"
    assert structure.kinds["Target Inventory smooth 1"] == "aux"
    assert ("Production stage 3", "Production") in {(k.cause, k.effect) for k in structure.links}
    assert ("Returns input", "Returns") in {(k.cause, k.effect) for k in structure.links}


def test_evaluator_reproduces_every_variable_of_the_run(pair):
    model, result, _ = pair["builtins"]
    ev = Evaluator(model, result.frame, model.time.time_step)
    for v in model.variables:
        if v.kind in ("stock", "flow", "aux"):
            np.testing.assert_allclose(
                ev.value_of(v.name), result.frame[v.name].to_numpy(), rtol=1e-12, atol=1e-12,
                err_msg=v.name,
            )


def test_loops_and_scores_equal_the_explicit_twin(pair):
    _, _, mine = pair["builtins"]
    _, _, twin = pair["builtins_explicit"]
    assert mine.total_loops == twin.total_loops == len(mine.loops)
    ours = {k.variables: k for k in mine.loops}
    theirs = {k.variables: k for k in twin.loops}
    assert set(ours) == set(theirs)
    for variables, loop in ours.items():
        other = theirs[variables]
        a, b = mine.scores[loop.id].to_numpy(), twin.scores[other.id].to_numpy()
        assert (np.abs(a - b) / np.maximum(np.abs(b), 1e-9)).max() < 1e-9, variables
        ra, rb = mine.relative[loop.id].to_numpy(), twin.relative[other.id].to_numpy()
        assert np.abs(ra - rb).max() < 1e-9, variables
        assert loop.polarity == other.polarity


def test_delay_fixed_link_moves_with_its_output(pair):
    model, result, analysis = pair["builtins"]
    through = [k for k in analysis.loops if "Returns" in k.variables]
    assert through and all("Returns input" in k.variables for k in through)
    score = analysis.links[("Returns input", "Returns")]
    moved = np.diff(result.frame["Returns"].to_numpy()) != 0
    assert moved.any() and (~moved).any()
    assert np.array_equal(score[1:], np.where(moved, 1.0, 0.0))


def test_smooth_and_delay_scores_match_simlin(tmp_path):
    simlin = pytest.importorskip("simlin")
    text = (MODELS / "builtins.mdl").read_text()
    # Simlin runs DELAY FIXED as a first-order delay and scores TREND as one
    # node: compare the loops through SMOOTH, SMOOTH3, DELAY1 and DELAY3
    text = text.replace("DELAY FIXED(Shipments * Return Fraction, Return Time, 1)",
                        "Shipments * Return Fraction")
    text = text.replace("TREND(Inventory, Trend Time, 0)", "0 * Inventory")
    path = tmp_path / "no_trend.mdl"
    path.write_text(text)
    model = pyloop.load_model(path)
    analysis = score_run(model, pyloop.run(model), report=1000)
    sm = simlin.load(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = sm.run(analyze_loops=True)
    with sm.simulate(enable_ltm=True) as sim:
        sim.run_to_end()
        theirs = {k.id: (k, sim.get_loop_score(k.id)) for k in run.loops}
    own = {reference_name(v.name) for v in model.variables}
    by_names: dict[frozenset, list] = {}
    for loop in analysis.loops:
        names = frozenset(reference_name(v) for v in loop.variables if reference_name(v) in own)
        by_names.setdefault(names, []).append(loop)
    compared = 0
    for loop, raw in theirs.values():
        key = frozenset(v for v in loop.variables if not v.startswith("$"))
        if not any(v.startswith("$") for v in loop.variables):
            continue
        (match,) = by_names[key]
        mine = analysis.scores[match.id].to_numpy()
        assert (np.abs(mine - raw) / np.maximum(np.abs(raw), 1e-9)).max() < 1e-6, key
        compared += 1
    assert compared >= 4


def _fixture(name: str):
    for root in SDXORG:
        folder = root / name
        if folder.is_dir():
            return next(folder.glob("*.mdl"))
    pytest.skip(f"the SDXorg test model '{name}' is not in tests/fixtures")


@pytest.mark.parametrize("name", ["trend", "delay_fixed", "delay_parentheses"])
def test_sdxorg_models_are_reproduced(name):
    path = _fixture(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = pyloop.load_model(path)
        result = pyloop.run(model)
    ev = Evaluator(model, result.frame, model.time.time_step)
    for v in model.variables:
        if v.kind in ("stock", "flow", "aux"):
            np.testing.assert_allclose(
                ev.value_of(v.name), result.frame[v.name].to_numpy(), rtol=1e-12, atol=1e-12,
                err_msg=v.name,
            )


def test_order_must_be_a_number(tmp_path):
    text = (MODELS / "smoothed.mdl").read_text().replace(
        "SMOOTH(Level, 2)", "SMOOTH N(Level, 2, Level, 2 + STEP(1, 5))"
    )
    path = tmp_path / "variable_order.mdl"
    path.write_text(text)
    with pytest.raises(PyloopError, match="order of the delay or smooth in 'Smoothed Level'"):
        analyze_loops(path)


def test_delay_shorter_than_its_stages_is_refused(tmp_path):
    text = (MODELS / "smoothed.mdl").read_text().replace("SMOOTH(Level, 2)", "DELAY3(Level, 0.5)")
    path = tmp_path / "short_delay.mdl"
    path.write_text(text)
    with pytest.raises(PyloopError, match=r"DELAY in 'Smoothed Level' has a time shorter .*3 x 0.25"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PySD lowers the order, and says so
            analyze_loops(path)


def test_smoothed_model_finds_the_loop_through_the_smooth():
    analysis = analyze_loops(MODELS / "smoothed.mdl")
    variables = {k.variables for k in analysis.loops}
    assert ("Level", "Smoothed Level stage 1", "Smoothed Level", "Inflow") in variables
    assert ("Smoothed Level stage 1",) in variables


def test_sdxorg_smooth_with_a_changing_order_is_refused():
    path = _fixture("smooth")
    with pytest.raises(PyloopError, match="order of the delay or smooth in 'Smooth N output'"):
        causal_structure(pyloop.load_model(path))


def test_expansion_does_not_keep_its_model_alive():
    import gc
    import weakref

    model = pyloop.load_model(MODELS / "smoothed.mdl")
    causal_structure(model)
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None
