"""Loops That Matter: link and loop scores, polarity, dominance, knockouts.

Scores are checked against Simlin's independent implementation (pysimlin),
which labels the change over [t - dt, t] with t, as pyloop does.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import pyloop
from pyloop.cli import main
from pyloop.errors import PyloopError
from pyloop.analysis.loops import (
    Evaluator,
    analyze_loops,
    dominance_phases,
    knockouts,
    link_scores,
    load_catalogue,
    polarity_phases,
    run_polarity,
    score_run,
)
from pyloop.analysis.structure import causal_structure

from conftest import MODELS

simlin = pytest.importorskip("simlin")

SMALL = ["logistic", "predator_prey", "two_stock"]


def ident(name: str) -> str:
    return name.lower().replace(" ", "_")


@pytest.fixture(scope="module")
def small():
    out = {}
    for name in SMALL:
        model = pyloop.load_model(MODELS / f"{name}.mdl")
        out[name] = (model, pyloop.run(model))
    return out


def simlin_scores(path):
    model = simlin.load(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = model.run(analyze_loops=True)
    with model.simulate(enable_ltm=True) as sim:
        sim.run_to_end()
        links = sim.get_links()
        loops = {k.id: (k, sim.get_loop_score(k.id)) for k in run.loops}
    return links, loops


def rel_diff(mine, theirs, floor=1e-9):
    """Relative difference; scores smaller than ``floor`` are compared in
    absolute terms, scaled by ``floor``."""
    ok = np.isfinite(mine) & np.isfinite(theirs)
    return np.abs(mine[ok] - theirs[ok]) / np.maximum(np.abs(theirs[ok]), floor)


# ------------------------------------------------------------------ evaluator
@pytest.mark.parametrize("name", SMALL)
def test_evaluator_reproduces_every_variable(small, name):
    model, result = small[name]
    ev = Evaluator(model, result.frame, model.time.time_step)
    for v in model.variables:
        if v.kind in ("stock", "flow", "aux"):
            want = result.frame[v.name].to_numpy()
            np.testing.assert_allclose(ev.value_of(v.name), want, rtol=1e-12, atol=1e-12)


def test_evaluator_reproduces_the_circular_model(circular_model, circular_run):
    result = circular_run("music_stops")
    ev = Evaluator(circular_model, result.frame, circular_model.time.time_step)
    checked = 0
    for v in circular_model.variables:
        if v.kind in ("stock", "flow", "aux"):
            want = result.frame[v.name].to_numpy()
            np.testing.assert_allclose(ev.value_of(v.name), want, rtol=1e-10, atol=1e-9)
            checked += 1
    assert checked == len([v for v in circular_model.variables if v.kind in ("stock", "flow", "aux")])


# ---------------------------------------------------------- against Simlin
@pytest.mark.parametrize("name", SMALL)
def test_link_loop_scores_and_polarity_match_simlin(small, name):
    model, result = small[name]
    analysis = score_run(model, result, report=100)
    links, theirs = simlin_scores(model.path)
    names = {ident(v.name): v.name for v in model.variables}
    compared = 0
    for link in links:
        key = (names.get(link.from_var), names.get(link.to_var))
        if link.score is None or key not in analysis.links:
            continue
        assert rel_diff(analysis.links[key], link.score).max(initial=0) < 1e-6, key
        compared += 1
    assert compared == len(analysis.links)
    assert analysis.mode == "exhaustive"
    assert len(theirs) == analysis.total_loops == len(analysis.loops)
    mine = {frozenset(ident(v) for v in k.variables): k for k in analysis.loops}
    for loop, raw in theirs.values():
        ours = mine[frozenset(loop.variables)]
        assert rel_diff(analysis.scores[ours.id].to_numpy(), raw).max() < 1e-6
        rel = analysis.relative[ours.id].to_numpy()
        assert rel_diff(rel, loop.behavior_time_series).max() < 1e-6
        assert ours.polarity == str(loop.polarity)


def test_a_step_that_switches_is_not_credited_to_the_cause():
    """Ceteris paribus holds time at t - dt too: in the step where the gate
    of ``Level * rate * STEP(1, Gate Time)`` opens, the change comes from
    the STEP, not from Level (as Simlin scores it)."""
    model = pyloop.load_model(MODELS / "gated_growth.mdl")
    result = pyloop.run(model)
    ev = Evaluator(model, result.frame, model.time.time_step)
    mine = link_scores(causal_structure(model), ev)
    links, _ = simlin_scores(model.path)
    theirs = {(k.from_var, k.to_var): np.asarray(k.score) for k in links if k.score is not None}
    gate = int(np.searchsorted(result.frame.index, 1.0))
    assert mine[("Level", "Gated Growth")][gate] == 0.0
    assert mine[("Level", "Gated Growth")][gate + 1] == pytest.approx(1.0)
    np.testing.assert_allclose(mine[("Level", "Gated Growth")], theirs[("level", "gated_growth")], atol=1e-12)
    np.testing.assert_allclose(mine[("Gated Growth", "Level")], theirs[("gated_growth", "level")], atol=1e-12)


def test_circular_link_scores_match_simlin(circular_model, circular_run):
    """pyloop scores Simlin's own run of the model: the two engines' runs
    agree to about 1e-12, but a link score divides by its effect's change
    over one step, which on this model can be 1e-7 of the effect's value,
    where that agreement leaves only five digits. On one run the scores
    must agree to six."""
    from pyloop.engine.simlin import run as simlin_run

    result = circular_run("music_stops")
    names = {ident(v.name): v.name for v in circular_model.variables}
    theirs_run = simlin_run(circular_model.path, result.constants, names)[result.frame.columns]
    np.testing.assert_allclose(theirs_run.to_numpy(), result.frame.to_numpy(), rtol=1e-6, atol=1e-9)
    structure = causal_structure(circular_model)
    ev = Evaluator(circular_model, theirs_run, circular_model.time.time_step)
    mine = link_scores(structure, ev)
    sm = simlin.load(circular_model.path)
    overrides = {ident(k): float(v) for k, v in result.constants.items()}
    with sm.simulate(overrides=overrides, enable_ltm=True) as sim:
        sim.run_to_end()
        links = sim.get_links()
    compared = 0
    for link in links:
        key = (names.get(link.from_var), names.get(link.to_var))
        if link.score is None or key not in mine:
            continue  # links from constants, Simlin's own net-flow nodes
        # a link that explains a millionth of its effect's change is found by
        # subtracting values that differ in their last digits: rounding alone
        # moves it by about 1e-13
        assert rel_diff(mine[key], link.score, floor=1e-6).max() < 1e-6, key
        compared += 1
    assert compared > 150


def test_logistic_dominance_switches_at_half_capacity(small):
    model, result = small["logistic"]
    analysis = score_run(model, result)
    phases = analysis.polarity_phases
    assert [p.polarity for p in phases] == ["R", "B"]
    assert "Births" in analysis.loop(phases[0].loops[0]).variables
    assert "Deaths" in analysis.loop(phases[1].loops[0]).variables
    population = result.frame["Population"]
    capacity = float(result.frame["Carrying Capacity"].iloc[0])
    crossing = float(population.index[np.argmax(population.to_numpy() >= capacity / 2)])
    assert abs(phases[1].start - crossing) <= model.time.time_step + 1e-9


@pytest.mark.parametrize("perception_time", [0.25, 2.0])
def test_adjustment_loop_scores_match_the_exponential_mode(perception_time):
    """Capital grows through a first-order perception of itself. Started on
    the growth mode of the Euler scheme, the perceived share r of capital is
    the same at every step, so the reinforcing loop scores 1/(1 - r) and the
    perception's adjustment loop -r/(1 - r), about -1/(g * tau): the faster
    the perception adjusts relative to the growth, the heavier its
    balancing score."""
    model = pyloop.load_model(MODELS / "tracked_growth.mdl")
    dt, rate = model.time.time_step, 0.6
    step = np.array([[1.0, dt * rate], [dt / perception_time, 1.0 - dt / perception_time]])
    values, vectors = np.linalg.eig(step)
    mode = vectors[:, np.argmax(values.real)].real
    r = mode[1] / mode[0]
    result = pyloop.run(model, params={"Perception Time": perception_time,
                                       "Initial Perceived Capital": 100 * r})
    analysis = score_run(model, result)
    growth = next(k for k in analysis.loops if "Investment" in k.variables)
    adjustment = next(k for k in analysis.loops if k.variables == ("Perceived Capital", "Perception Change"))
    scores = analysis.scores.iloc[1:]
    np.testing.assert_allclose(scores[growth.id], 1 / (1 - r), rtol=1e-9)
    np.testing.assert_allclose(scores[adjustment.id], -r / (1 - r), rtol=1e-9)
    np.testing.assert_allclose(analysis.relative[growth.id].iloc[1:], 1 / (1 + r), rtol=1e-9)
    assert (growth.polarity, adjustment.polarity) == ("R", "B")


def test_reinforcing_share_of_a_window(small):
    model, result = small["logistic"]
    analysis = score_run(model, result)
    switch = analysis.polarity_phases[1].start
    dt = model.time.time_step
    assert analysis.reinforcing_share(1.0, switch - dt) == {0: 1.0}
    assert analysis.reinforcing_share(switch, 30.0) == {0: 0.0}
    share = analysis.reinforcing_share(switch - 10 * dt, switch + 29 * dt)[0]
    assert share == pytest.approx(10 / 40)
    with pytest.raises(PyloopError, match="start before it ends"):
        analysis.reinforcing_share(5.0, 5.0)
    with pytest.raises(PyloopError, match="holds no time"):
        analysis.reinforcing_share(40.0, 50.0)


def test_relative_scores_are_shares_of_their_partition(small):
    model, result = small["predator_prey"]
    analysis = score_run(model, result)
    total = analysis.relative.abs().sum(axis=1).to_numpy()
    active = analysis.scores.abs().sum(axis=1).to_numpy() > 0
    np.testing.assert_allclose(total[active], 1.0, rtol=1e-12)
    assert (total[~active] == 0).all()
    assert (analysis.relative.iloc[0] == 0).all()  # no change before the first step


# ----------------------------------------------------------- named loops
def test_every_named_loop_is_found_with_its_polarity(circular_model, circular_run):
    catalogue = load_catalogue(circular_model)
    assert [e.id for e in catalogue] == ["R1", "R2", "R3", "R4", "B1", "B2", "B3", "B4", "B5"]
    structure = causal_structure(circular_model)
    seen_active = set()
    for scenario in ("baseline", "music_stops"):
        analysis = score_run(circular_model, circular_run(scenario))
        assert analysis.unmatched == ()
        for entry in catalogue:
            loop = analysis.loop(entry.id)
            assert loop.name == entry.name
            assert loop.structural_polarity == entry.polarity, entry.id
            for cause, effect in zip(loop.variables, loop.variables[1:] + loop.variables[:1]):
                structure.link(cause, effect)  # every step is a link of the model
            if loop.polarity_confidence > 0:  # active at some time in this run
                assert loop.polarity == entry.polarity, (scenario, entry.id)
                seen_active.add(entry.id)
    assert len(seen_active) >= 5


def test_catalogue_switches_are_constants_on_their_loops(circular_model):
    structure = causal_structure(circular_model)
    for entry in load_catalogue(circular_model):
        assert circular_model.variable(entry.switch).kind == "constant"
        assert any(effect in entry.variables for effect in
                   (k.effect for k in structure.links if k.cause == entry.switch)), entry.id


def test_knocking_out_r1_to_r3_shrinks_the_jumps_and_the_boom(circular_model):
    outputs = ["Cloud Market Value", "Chip Maker Market Value"]
    table, runs = knockouts(circular_model, "baseline", outputs=outputs, loops=["R1", "R2", "R3"])
    assert set(runs) == {"base", "R1", "R2", "R3"}
    assert list(table.index.get_level_values("loop").unique()) == ["R1", "R2", "R3"]
    all_off = {f"Switch {k}": 0 for k in ("R1 Circular Financing", "R2 Commitment Valuation",
                                           "R3 Sentiment Momentum")}
    base = runs["base"].frame
    off = pyloop.run(circular_model, "baseline", params=all_off).frame
    t_contract = float(circular_model.defaults["Contract Announcement Time"])
    t_pledge = float(circular_model.defaults["Pledge Announcement Time"])
    dt = circular_model.time.time_step

    def jump(frame, var, t):
        before = frame[var][frame.index <= t].iloc[-1]
        after = frame[var][frame.index <= t + 3 * dt].iloc[-1]
        return after - before

    assert jump(off, "Cloud Market Value", t_contract) < jump(base, "Cloud Market Value", t_contract)
    assert jump(off, "Chip Maker Market Value", t_pledge) <= jump(base, "Chip Maker Market Value", t_pledge)
    boom = base.index <= 2027.5
    rise = lambda f: f.loc[boom, "Cloud Market Value"].max() - f["Cloud Market Value"].iloc[0]
    assert rise(off) < rise(base)
    for lid in ("R1", "R2", "R3"):
        row = table.loc[(lid, "Cloud Market Value")]
        assert row["peak change"] == pytest.approx(row["knockout peak"] - row["base peak"])


def test_knockout_errors(circular_model):
    with pytest.raises(PyloopError, match="at least one output"):
        knockouts(circular_model, "baseline", outputs=[])
    with pytest.raises(PyloopError, match="unknown loop 'R9'"):
        knockouts(circular_model, "baseline", outputs=["AI Lab Cash"], loops=["R9"])


# ------------------------------------------------------------- unit pieces
def test_a_smooth_minimum_far_past_its_limit_keeps_its_polarity():
    """Release = L x / (1 + x^4)^(1/4) with x = Demand / L rises with Demand
    everywhere; far past the limit a small step in Demand moves Release by
    rounding alone (either way), which must not make the link's sign unknown."""
    from pyloop.analysis.loops.links import link_polarity

    model = pyloop.load_model(MODELS / "smooth_limit.mdl")
    result = pyloop.run(model)
    assert result.frame["Demand"].iloc[-1] / result.frame["Release Limit"].iloc[-1] > 1000
    ev = Evaluator(model, result.frame, model.time.time_step)
    assert link_polarity(causal_structure(model), ev, "Demand", "Release") == 1


def test_run_polarity():
    assert run_polarity(np.array([0.0, 0.5, 0.2])) == ("R", 1.0)
    assert run_polarity(np.array([0.0, -0.5, -0.2])) == ("B", 1.0)
    pol, conf = run_polarity(np.array([0.5, -0.5]))
    assert (pol, conf) == ("U", 0.5)
    assert run_polarity(np.zeros(4)) == ("U", 0.0)
    pol, conf = run_polarity(np.array([0.97, -0.03]))
    assert pol == "R" and conf == pytest.approx(0.97)


def test_dominance_phases_take_the_smallest_set_and_merge_steps():
    rel = pd.DataFrame(
        {
            "A": [0.0, 0.6, 0.6, 0.3, 0.1],
            "B": [0.0, -0.3, -0.3, -0.3, -0.8],
            "C": [0.0, 0.1, 0.1, 0.4, 0.1],
        },
        index=pd.Index([0.0, 1.0, 2.0, 3.0, 4.0], name="time"),
    )
    phases = dominance_phases(rel)
    assert [(p.start, p.end, set(p.loops)) for p in phases] == [
        (1.0, 2.0, {"A"}),
        (3.0, 3.0, {"C", "A"}),
        (4.0, 4.0, {"B"}),
    ]
    assert [p.polarity for p in phases] == ["R", "R", "B"]
    by_sign = polarity_phases(rel)
    assert [(p.start, p.end, p.polarity) for p in by_sign] == [(1.0, 3.0, "R"), (4.0, 4.0, "B")]


# ------------------------------------------------------------------ errors
def test_unsupported_function_is_refused_with_its_variable():
    with pytest.raises(PyloopError, match=r"SAMPLE IF TRUE \(in 'Sampled Level'\)"):
        analyze_loops(MODELS / "sampled.mdl")


def test_catalogue_errors(tmp_path, small):
    model, _ = small["logistic"]
    bad = tmp_path / "bad.loops.toml"
    bad.write_text('[[loop]]\nid = "R1"\nname = "x"\npolarity = "Q"\nvariables = ["Births"]\n')
    with pytest.raises(PyloopError, match="polarity must be 'R' or 'B'"):
        load_catalogue(model, bad)
    bad.write_text('[[loop]]\nid = "R1"\nname = "x"\npolarity = "R"\nvariables = ["Birts"]\n')
    with pytest.raises(PyloopError, match="unknown variable 'Birts'.*'Births'"):
        load_catalogue(model, bad)
    with pytest.raises(PyloopError, match="loop catalogue not found"):
        load_catalogue(model, tmp_path / "none.toml")
    assert load_catalogue(model) == ()


def test_coarse_saving_is_refused(small):
    model, _ = small["logistic"]
    coarse = pyloop.run(model)
    coarse = type(coarse)(**{**coarse.__dict__, "frame": coarse.frame.iloc[::2]})
    with pytest.raises(PyloopError, match="not every time step"):
        score_run(model, coarse)


# --------------------------------------------------------------------- cli
def test_cli_writes_json_and_plot(tmp_path, capsys):
    out_json, out_png = tmp_path / "loops.json", tmp_path / "loops.png"
    code = main(["loops", "--model", str(MODELS / "logistic.mdl"),
                 "--json", str(out_json), "--plot", str(out_png)])
    assert code == 0
    text = capsys.readouterr().out
    assert "Dominance by polarity" in text and "Population -> Births" in text
    data = json.loads(out_json.read_text())
    assert set(data) >= {"time", "loops", "phases"}
    for loop in data["loops"]:
        assert set(loop) >= {"id", "name", "polarity", "polarity_confidence", "variables",
                             "relative_score"}
        assert len(loop["relative_score"]) == len(data["time"])
    assert all(set(p) >= {"start", "end", "loops"} for p in data["phases"])
    assert out_png.stat().st_size > 10_000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loops.json", "loops.png"]


def test_cli_errors_are_one_line(tmp_path, capsys):
    code = main(["loops", "--model", str(MODELS / "sampled.mdl"), "--json", str(tmp_path / "x.json")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "SAMPLE IF TRUE" in err
    assert not (tmp_path / "x.json").exists()
    assert main(["loops", "--model", str(MODELS / "logistic.mdl"), "--scenario", "nope"]) == 2


def test_cli_prints_the_reinforcing_share_of_a_window(capsys):
    logistic = str(MODELS / "logistic.mdl")
    assert main(["loops", "--model", logistic, "--window", "0", "2"]) == 0
    out = capsys.readouterr().out
    assert "Reinforcing loops dominate 100% of the steps from 0 to 2" in out
    assert "stocks Population" in out
    # started above half the carrying capacity, balancing loops lead from the start
    assert main(["loops", "--model", logistic, "--window", "0", "2",
                 "--set", "Initial Population=600"]) == 0
    out = capsys.readouterr().out
    assert "Loops of run 'logistic+Initial_Population=600' (" in out
    assert "Reinforcing loops dominate 0% of the steps from 0 to 2" in out
    assert main(["loops", "--model", logistic, "--window", "3", "1"]) == 2
    assert "--window must start before it ends" in capsys.readouterr().err
    assert main(["loops", "--model", logistic, "--window", "40", "50"]) == 2
    err = capsys.readouterr()
    assert "lies outside the run (0 to 30)" in err.err and "Dominance" not in err.out


@pytest.mark.parametrize("scenario", ["baseline", "music_stops"])
def test_circular_loop_scores_match_simlin(circular_model, circular_run, scenario):
    """Simlin's exhaustive mode finds no loops on this model (its discovery
    gate; its discovery analysis is compared in the test below), so its link
    scores are multiplied along pyloop's loops; a flow's link to its stock
    passes through Simlin's net-flow node."""
    from pyloop.engine.simlin import simlin_ident

    result = circular_run(scenario)
    analysis = score_run(circular_model, result, report=100_000)
    assert len(analysis.loops) == analysis.total_loops
    sm = simlin.load(circular_model.path)
    overrides = {simlin_ident(k): float(v) for k, v in result.constants.items()}
    with sm.simulate(overrides=overrides, enable_ltm=True) as sim:
        sim.run_to_end()
        raw = {(k.from_var, k.to_var): np.asarray(k.score) for k in sim.get_links() if k.score is not None}
    names = {simlin_ident(v.name): v.name for v in circular_model.variables}
    theirs = {(names.get(a), names.get(b)): s for (a, b), s in raw.items()}
    for (a, b), s in raw.items():
        if b.endswith("_net_flow") and (b, b[: -len("_net_flow")]) in raw:
            theirs[(names.get(a), names.get(b[: -len("_net_flow")]))] = s * raw[(b, b[: -len("_net_flow")])]
    products = {k.id: np.prod([theirs[lk] for lk in k.links], axis=0) for k in analysis.loops}
    active = [k.id for k in analysis.loops if np.any(analysis.scores[k.id].to_numpy() != 0)]
    assert active == [lid for lid, p in products.items() if np.any(p != 0)]
    assert len(active) > 10
    assert analysis.active_loops == len(active)
    totals: dict[int, np.ndarray] = {}
    for k in analysis.loops:
        totals[k.partition] = totals.get(k.partition, 0) + np.abs(products[k.id])
    for k in analysis.loops:
        total = totals[k.partition]
        relative = np.where(total > 0, products[k.id] / np.where(total > 0, total, 1.0), 0.0)
        assert np.abs(analysis.relative[k.id].to_numpy() - relative).max() < 1e-9, k.id


@pytest.fixture(scope="module")
def discovery_model():
    """The circular model loaded on its own, so that the loops found on it
    are freed with this module's tests."""
    from circular import MODEL_PATH

    return pyloop.load_model(MODEL_PATH)


def simlin_full_analysis(path, constants):
    """Simlin's own loop analysis of a model with ``constants`` set: the
    loops it discovers, the strongest reported with their relative scores."""
    import dataclasses

    from pyloop.engine.simlin import simlin_ident

    sm = simlin.load(path)
    wanted = {simlin_ident(k): float(v) for k, v in constants.items()}
    with sm.edit() as (current, patch):
        for ident_, value in wanted.items():
            if ident_ in current and current[ident_].equation.strip() != repr(value):
                patch.upsert(dataclasses.replace(current[ident_], equation=repr(value)))
    return sm.analyze()


@pytest.mark.parametrize("scenario", ["baseline", "music_stops"])
def test_full_loop_analysis_matches_simlins_own(discovery_model, scenario):
    """The circular model has tens of millions of feedback loops: neither
    engine can enumerate them all. pyloop scores it in discovery mode;
    Simlin samples candidates and reports its strongest loops, each with its
    share of the partition's total over the loops it retained. What both
    must agree on: every loop Simlin reports is a loop of the model, it
    scores exactly when pyloop's link scores make it score, and the loops of
    a partition stand in the same proportions (shares of one total: their
    ratios are the ratios of the loop scores)."""
    from pyloop.engine.simlin import simlin_ident

    model = discovery_model
    result = pyloop.run(model, scenario)
    analysis = score_run(model, result, report=20)
    assert analysis.mode == "discovery"
    theirs = simlin_full_analysis(model.path, result.constants)
    assert theirs.analysis_error is None and not theirs.truncated
    assert not theirs.enumeration_complete and theirs.universe_loops is None
    assert len(theirs.loops) > 100
    structure = causal_structure(model)
    scores = link_scores(structure, Evaluator(model, result.frame, model.time.time_step))
    names = {simlin_ident(v.name): v.name for v in model.variables}
    strongest: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    compared = 0
    for loop in theirs.loops:
        # Simlin routes a flow to its stock through a '<stock>_net_flow' node
        variables = [names[v] for v in loop.variables if v in names]
        mine = np.prod([scores[(a, b)] for a, b in zip(variables, variables[1:] + variables[:1])], axis=0)
        share = np.asarray(loop.behavior_time_series, dtype=float)
        np.testing.assert_array_equal(mine != 0, share != 0, err_msg=str(loop.variables))
        if loop.partition not in strongest:  # Simlin lists the strongest first
            strongest[loop.partition] = (mine, share)
            continue
        ref_mine, ref_share = strongest[loop.partition]
        both = (ref_share != 0) & (share != 0)
        np.testing.assert_allclose(
            share[both] / ref_share[both], mine[both] / ref_mine[both], rtol=1e-7, err_msg=str(loop.variables)
        )
        compared += 1
    assert compared > 100
