"""The named feedback loops of the AI circular-finance model (model spec,
section 5, version 2): every loop alive, escalation reinforcing, knockouts
safe in every scenario."""

from __future__ import annotations

import numpy as np
import pytest
from circular import (
    MODEL_PATH,
    negative_or_non_finite,
    non_negative_stocks,
    value_at,
)

import pyloop
from pyloop.analysis.loops import load_catalogue, score_run
from pyloop.engine.vectorised import NotVectorisable, VectorEngine

CATALOGUE = load_catalogue(MODEL_PATH)
LOOP_IDS = [loop.id for loop in CATALOGUE]
SCENARIOS = list(pyloop.load_scenarios(MODEL_PATH).scenarios)
#: Share of the time steps in which a live loop carries a non-zero score.
ALIVE_SHARE = 0.25
#: Share of the weekly points at which the escalation must accelerate.
ACCELERATING_SHARE = 0.60
ESCALATION_SWITCHES = ("Switch R1 Circular Financing", "Switch R2 Commitment Valuation", "Switch R3 Sentiment Momentum")


@pytest.fixture(scope="module")
def baseline_scores(circular_model, circular_run):
    """Loop scores (LTM) of the baseline run: one column per loop id."""
    return score_run(circular_model, circular_run("baseline")).scores


def test_the_catalogue_names_the_nine_loops_of_the_specification():
    assert LOOP_IDS == ["R1", "R2", "R3", "R4", "B1", "B2", "B3", "B4", "B5"]
    assert all(loop.switch for loop in CATALOGUE), "every named loop needs a switch"


@pytest.mark.parametrize("loop", CATALOGUE, ids=LOOP_IDS)
def test_every_named_loop_is_alive_in_the_baseline(baseline_scores, loop):
    assert loop.id in baseline_scores.columns, f"{loop.id} not found by the loop finder"
    score = baseline_scores[loop.id].to_numpy(dtype=float)
    active = np.isfinite(score) & (score != 0)
    share = active.mean()
    expected = 1 if loop.polarity == "R" else -1
    agreeing = (np.sign(score[active]) == expected).mean() if active.any() else 0.0
    problems = []
    if share < ALIVE_SHARE:
        problems.append(f"non-zero loop score in {share:.1%} of the steps (at least {ALIVE_SHARE:.0%} required)")
    if agreeing <= 0.5:
        problems.append(f"named polarity {loop.polarity} in only {agreeing:.1%} of its active steps")
    assert problems == [], f"{loop.id} {loop.name}: " + "; ".join(problems)


def test_escalation_is_reinforcing(circular_model, circular_run):
    """From the announcement until the commitments pass half of their 2026.5
    level, the weekly second difference is mostly positive (acceleration)."""
    frame = circular_run("baseline").frame
    total = frame["Total Lab Commitments"]
    start = circular_model.defaults["Contract Announcement Time"]
    half = 0.5 * value_at(frame, "Total Lab Commitments", 2026.5)
    after = total.loc[start:]
    passed = after.index[after.to_numpy() > half]
    assert len(passed), f"Total Lab Commitments never exceed half of their 2026.5 level ({half:.0f} B$)"
    end = float(passed[0])
    weeks = total.loc[start:end].to_numpy(dtype=float)
    assert len(weeks) >= 4, (
        f"commitments pass half of their 2026.5 level ({half:.0f} B$) at {end:.3f}, "
        f"too soon after the announcement ({start}) to show an acceleration"
    )
    second = np.diff(weeks, 2)
    share = (second > 0).mean()
    assert share >= ACCELERATING_SHARE, (
        f"weekly second difference of Total Lab Commitments positive in {share:.1%} of "
        f"{len(second)} points between {start} and {end:.3f} (at least {ACCELERATING_SHARE:.0%} required)"
    )


def test_switching_off_r1_to_r3_cuts_commitments_of_2027_by_40_percent(circular_run):
    base = value_at(circular_run("baseline").frame, "Total Lab Commitments", 2027.0)
    off = circular_run("baseline", **{switch: 0 for switch in ESCALATION_SWITCHES}).frame
    knocked = value_at(off, "Total Lab Commitments", 2027.0)
    assert knocked <= 0.6 * base, (
        f"R1-R3 off: Total Lab Commitments at 2027.0 = {knocked:.0f} B$ vs baseline {base:.0f} B$ "
        f"(cut {1 - knocked / base:.1%}, at least 40 % required)"
    )


def knockout_cases() -> list[tuple[str, str]]:
    """Every (scenario, loop id) pair: each named loop switched off alone."""
    return [(scenario, loop) for scenario in SCENARIOS for loop in LOOP_IDS]


@pytest.fixture(scope="module")
def knockout_batch(circular_model):
    """Every single-loop knockout in every scenario, in one vectorised run.

    Returns ``(cases, series)``: the (scenario, loop id) of each sample and,
    for each non-negative stock, an array of shape ``(time, sample)``. Falls
    back to one run per case if the model cannot run as a batch.
    """
    model = circular_model
    scenario_file = pyloop.load_scenarios(model)
    switches = {loop.id: loop.switch for loop in CATALOGUE}
    cases = knockout_cases()
    settings = []
    for scenario, loop in cases:
        constants = dict(scenario_file.resolve(scenario))
        constants[switches[loop]] = 0
        settings.append(constants)
    names = sorted({name for constants in settings for name in constants})
    values = {name: np.array([c.get(name, model.defaults[name]) for c in settings]) for name in names}
    stocks = list(non_negative_stocks(model))
    try:
        _, series = VectorEngine(model).run(values, stocks, len(cases))
    except NotVectorisable:
        frames = [pyloop.run(model, params=c, return_columns=stocks).frame for c in settings]
        series = {s: np.stack([f[s].to_numpy() for f in frames], axis=1) for s in stocks}
    return cases, series


def test_the_knockout_batch_matches_a_single_run(circular_model, knockout_batch):
    cases, series = knockout_batch
    index = cases.index(("music_stops", "B5"))
    single = pyloop.run(circular_model, "music_stops", params={"Switch B5 Funding Stress": 0}).frame
    for stock, values in series.items():
        ours = single[stock].to_numpy(dtype=float)
        scale = max(np.max(np.abs(ours)), 1e-12)
        error = np.max(np.abs(values[:, index] - ours)) / scale
        assert error < 1e-9, f"{stock}: batch and single run differ by {error:.2e} (relative)"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_knockout_keeps_every_stock_non_negative_and_finite(knockout_batch, scenario):
    cases, series = knockout_batch
    failures = {}
    for i, (case_scenario, loop) in enumerate(cases):
        if case_scenario != scenario:
            continue
        bad = negative_or_non_finite({s: v[:, i] for s, v in series.items()})
        if bad:
            failures[loop] = bad
    assert failures == {}, f"{scenario}: knockout -> stocks negative (minimum) or non-finite (nan): {failures}"
