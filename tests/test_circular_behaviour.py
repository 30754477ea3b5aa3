"""Expected behaviour of every scenario and policy (model spec, sections 6
and 8, version 2). The constants are fitted to history, so these tests check
directions, tolerances and relations between runs, not fitted numbers."""

from __future__ import annotations

import numpy as np
import pytest
from circular import (
    MODEL_PATH,
    SIGNING_FLOWS,
    cumulative,
    cumulative_series,
    first_time,
    jump,
    negative_or_non_finite,
    non_negative_stocks,
    value_at,
)

import pyloop
from pyloop.analysis.loops import score_run

SCENARIO_FILE = pyloop.load_scenarios(MODEL_PATH)
SCENARIOS = list(SCENARIO_FILE.scenarios)
POLICIES = list(SCENARIO_FILE.policies)
#: How long after the equity shock music_stops must have played out (Year).
BUST_WINDOW = 2.0
#: "Well below baseline": at least this share lower (spec section 8).
BUST_DROP = 0.30


@pytest.fixture(scope="module")
def base(circular_run):
    return circular_run("baseline").frame


@pytest.fixture(scope="module")
def stops(circular_run):
    return circular_run("music_stops").frame


@pytest.fixture(scope="module")
def shock_window(circular_run):
    """The first two years after the equity shock of music_stops (Year, Year)."""
    shock = circular_run("music_stops").constants["Equity Appetite Shock Time"]
    return shock, shock + BUST_WINDOW


def total_compute_payments(frame):
    """Everything the AI Lab pays for compute, ring and Other Providers (B$/Year)."""
    return frame["Compute Payments"] + frame["Other Compute Payments"]


# --- one net decision on commitments (spec 4b) -------------------------------


def test_no_bust_announces_more_than_the_boom(base, stops):
    boom = cumulative_series(base, SIGNING_FLOWS)
    bust = cumulative_series(stops, SIGNING_FLOWS)
    excess = bust - boom
    worst, most = float(excess.idxmax()), float(excess.max())
    assert most <= 1e-9 * float(boom.abs().max()), (
        f"music_stops has signed {most:.1f} B$ more than baseline by {worst:.3f} "
        f"({bust[worst]:.0f} vs {boom[worst]:.0f} B$)"
    )


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_signing_and_cancelling_never_at_the_same_step(circular_run, scenario):
    frame = circular_run(scenario).frame
    both = (frame["New Commitments"] > 0) & (frame["Contract Cancellations"] > 0)
    assert not both.any(), (
        f"{scenario}: signing and cancelling together in {int(both.sum())} steps, first at "
        f"{first_time(both, lambda s: s):.3f}"
    )


# --- baseline ----------------------------------------------------------------


def test_baseline_keeps_every_stock_non_negative(circular_model, base):
    bad = negative_or_non_finite({s: base[s].to_numpy() for s in non_negative_stocks(circular_model)})
    assert bad == {}, f"baseline stocks below zero (minimum) or non-finite: {bad}"


def test_baseline_commitments_escalate_endogenously(circular_model, base):
    """Later contracts add to the announced one and the initial commitments."""
    start = base["Total Lab Commitments"].iloc[0]
    announced = circular_model.defaults["Initial Contract Value"]
    mid_2026 = value_at(base, "Total Lab Commitments", 2026.5)
    assert mid_2026 > start + announced, (
        f"Total Lab Commitments at 2026.5 = {mid_2026:.0f} B$, not above the initial "
        f"{start:.0f} B$ plus the announced {announced:.0f} B$"
    )


def test_baseline_first_contract_delivers_about_4_5_gw_by_2030(circular_model, base):
    contract = circular_model.defaults["Initial Contract Capacity"]
    capacity = value_at(base, "Operational Capacity", 2030.5)
    assert capacity >= 0.8 * contract, (
        f"Operational Capacity at 2030.5 = {capacity:.2f} GW, below 80 % of the contract's "
        f"{contract:g} GW"
    )


# --- music_stops -------------------------------------------------------------


def test_music_stops_drains_the_lab_cash_to_its_floor(circular_model, stops, shock_window):
    """Within two years the AI Lab's cash covers at most twice the minimum
    coverage of its bills (below one it pays in proportion)."""
    start, end = shock_window
    window = stops.loc[start:end]
    coverage = window["AI Lab Cash"] / (window["Lab Bills Due"] * circular_model.defaults["Minimum Cash Coverage"])
    assert coverage.min() <= 2, (
        f"AI Lab cash stays above {coverage.min():.2f} x its minimum cash coverage in "
        f"{start}..{end}"
    )


def test_music_stops_stretches_then_cancels(stops, shock_window):
    start, end = shock_window
    after = stops.loc[start:]
    stretched = first_time(after["Stretch Share"], lambda s: s > 0)
    cancelled = first_time(after["Contract Cancellations"], lambda s: s > 0)
    assert cancelled is not None and cancelled <= end, (
        f"no cancellation within two years of the shock ({start}): first at {cancelled}"
    )
    assert stretched is not None and stretched < cancelled, (
        f"cancellation at {cancelled:.3f} without stretching first (first stretch: {stretched})"
    )


def test_music_stops_leaves_arrears(stops, shock_window):
    start, end = shock_window
    window = stops.loc[start:end]
    arrears = (window["Compute Arrears"] + window["Other Compute Arrears"]).max()
    assert arrears > 0, f"no compute arrears within {start}..{end}"


@pytest.mark.parametrize("variable", ["Compute Contract Backlog", "Cloud Market Value"])
def test_music_stops_falls_well_below_baseline(base, stops, shock_window, variable):
    start, end = shock_window
    ratio = (stops.loc[start:end, variable] / base.loc[start:end, variable]).min()
    assert ratio <= 1 - BUST_DROP, (
        f"{variable} in music_stops stays above {ratio:.1%} of baseline in {start}..{end} "
        f"(at most {1 - BUST_DROP:.0%} required at some time)"
    )


def test_music_stops_cuts_the_chip_maker_sales_to_the_cloud(base, stops, shock_window):
    start, end = shock_window
    bust = stops.loc[start:end, "GPU Purchases"].sum()
    boom = base.loc[start:end, "GPU Purchases"].sum()
    assert bust < boom, f"GPU Purchases {start}..{end}: music_stops {bust:.1f} >= baseline {boom:.1f} (sum of rates)"


# --- other scenarios ---------------------------------------------------------


def test_ai_boom_revenue_covers_compute_payments_around_2029(circular_run):
    """From about 2029 the AI Lab's revenue covers all it pays for compute
    (ring and Other Providers) for at least a year."""
    boom = circular_run("ai_boom").frame
    covered = boom["AI Revenue"] >= total_compute_payments(boom)
    steps = round(1 / float(boom.index[1] - boom.index[0]))
    held = covered.rolling(steps).min().shift(-(steps - 1)) == 1
    since = first_time(held, lambda s: s)
    assert since is not None and 2027.5 <= since <= 2031, (
        f"ai_boom: revenue covers compute payments for a year from {since} "
        f"(expected within 2027.5..2031); at 2029: revenue {value_at(boom, 'AI Revenue', 2029):.0f}, "
        f"payments {float(total_compute_payments(boom).loc[2029.0]):.0f} B$/Year"
    )


def test_ai_boom_never_cancels(circular_run):
    cancelled = circular_run("ai_boom").frame["Contract Cancellations"]
    assert cancelled.max() == 0, (
        f"ai_boom cancels {cancelled.max():.1f} B$/Year, first at {first_time(cancelled, lambda s: s > 0):.3f}"
    )


def test_ai_winter_cancels_later_than_music_stops(circular_run, stops):
    winter = first_time(circular_run("ai_winter").frame["Contract Cancellations"], lambda s: s > 0)
    bust = first_time(stops["Contract Cancellations"], lambda s: s > 0)
    assert winter is not None, "ai_winter never cancels"
    assert bust is not None and winter > bust, f"first cancellation: ai_winter {winter:.3f}, music_stops {bust}"


def test_rate_shock_raises_the_interest_burden(circular_run, base):
    shock = circular_run("rate_shock").frame
    ours, theirs = cumulative(shock, "Interest Due", until=2030), cumulative(base, "Interest Due", until=2030)
    assert ours > theirs, f"interest due by 2030: rate_shock {ours:.1f} B$ <= baseline {theirs:.1f} B$"


def test_rate_shock_slows_building(circular_run, base):
    shock = value_at(circular_run("rate_shock").frame, "Operational Capacity", 2030)
    assert shock < value_at(base, "Operational Capacity", 2030), (
        f"Operational Capacity at 2030: rate_shock {shock:.3f} GW >= baseline "
        f"{value_at(base, 'Operational Capacity', 2030):.3f} GW"
    )


def test_rate_shock_strengthens_the_leverage_loop(circular_model, circular_run, base):
    shocked = circular_run("rate_shock")
    strength = {
        name: float(np.abs(score_run(circular_model, run).scores["B3"]).mean())
        for name, run in (("rate_shock", shocked), ("baseline", circular_run("baseline")))
    }
    spread = (shocked.frame["Credit Spread"].mean(), base["Credit Spread"].mean())
    assert strength["rate_shock"] > strength["baseline"] or spread[0] > spread[1], (
        f"B3 mean |loop score|: rate_shock {strength['rate_shock']:.3g} vs baseline "
        f"{strength['baseline']:.3g}; mean Credit Spread {spread[0]:.4f} vs {spread[1]:.4f}"
    )


def test_build_delays_postpone_payments_and_tranches(circular_model, circular_run, base):
    slow = circular_run("build_delays").frame
    paid, planned = cumulative(slow, "Compute Payments", until=2029), cumulative(base, "Compute Payments", until=2029)
    assert paid < planned, f"compute payments by 2029: build_delays {paid:.1f} >= baseline {planned:.1f} B$"
    # the first tranche: the pledge paid out for the first GW deployed
    tranche = circular_model.defaults["Pledge per GW"] * 1.0
    first = [
        first_time(cumulative_series(f, ["Chip Maker Investment"]), lambda s: s >= tranche) for f in (slow, base)
    ]
    assert first[1] is not None, f"the baseline never pays a first tranche of {tranche:g} B$"
    assert first[0] is None or first[0] > first[1], (
        f"first tranche ({tranche:g} B$ paid): build_delays {first[0]}, baseline {first[1]}"
    )


def test_pledge_lapse_needs_more_outside_equity(circular_run, base):
    lapse = circular_run("pledge_lapses").frame
    equity = cumulative(lapse, "Equity Raised", until=2030), cumulative(base, "Equity Raised", until=2030)
    vendor = cumulative(lapse, "Chip Maker Investment", until=2030), cumulative(base, "Chip Maker Investment", until=2030)
    assert equity[0] > equity[1], f"equity raised by 2030: pledge_lapses {equity[0]:.1f} <= baseline {equity[1]:.1f} B$"
    assert vendor[0] < vendor[1], f"Chip Maker Investment by 2030: pledge_lapses {vendor[0]:.1f} >= baseline {vendor[1]:.1f} B$"


def test_pledge_converts_into_a_stake_and_the_pledge_ends(circular_run):
    result = circular_run("pledge_converts")
    frame, lapse = result.frame, result.constants["Pledge Lapse Time"]
    assert frame["Chip Maker Stake Purchase"].max() > 0, "no stake purchased when the pledge converts"
    before = value_at(frame, "Chip Maker Pledge", lapse)
    left = value_at(frame, "Chip Maker Pledge", lapse + 1)
    assert left < 1e-3, f"Chip Maker Pledge a year after the lapse ({lapse}): {left:.4f} B$ of {before:.1f} B$ left"
    assert frame.loc[lapse:, "Chip Maker Pledge"].diff().max() <= 1e-12, "the pledge grows after its lapse date"


# --- policies ----------------------------------------------------------------


def test_mark_to_cash_limits_the_announcement_jump(circular_run, circular_model):
    frame = circular_run("baseline", "mark_to_cash").frame
    before, after = jump(frame, "Cloud Market Value", circular_model.defaults["Contract Announcement Time"])
    assert after / before - 1 <= 0.05, f"Cloud Market Value jumps {after / before - 1:.1%} at the announcement"


def test_leverage_cap_keeps_debt_capacity_under_the_cash_flow_cap(circular_run, base):
    capped = circular_run("baseline", "leverage_cap").frame
    over = capped["Debt Capacity"] - capped["Cash Flow Debt Cap"]
    assert float(over.max()) <= 1e-9, f"Debt Capacity exceeds the cash-flow cap by {over.max():.2f} B$ at {float(over.idxmax()):.3f}"
    assert capped["Cloud Debt"].max() <= base["Cloud Debt"].max(), (
        f"peak Cloud Debt with the cap {capped['Cloud Debt'].max():.1f} > without {base['Cloud Debt'].max():.1f} B$"
    )


def test_smaller_pledge_halves_tranches_per_gw(circular_model, circular_run, base):
    def per_gw(frame):
        deploying = frame["Deployment Seen by Chip Maker"] > 0
        # where what is left of the pledge does not limit the tranches (the
        # release is within 0.1 % of what is due)
        unlimited = frame["Tranche Release"] >= 0.999 * frame["Tranche Due"]
        rows = frame[deploying & unlimited]
        return (rows["Tranche Release"] / rows["Deployment Seen by Chip Maker"]).median()

    halved, full = per_gw(circular_run("baseline", "smaller_pledge").frame), per_gw(base)
    assert halved == pytest.approx(0.5 * full, rel=1e-3), f"tranche per GW: {halved:.3f} vs baseline {full:.3f} B$/GW"


def test_staged_contracts_keep_commitments_under_the_revenue_limit(circular_run, circular_model):
    frame = circular_run("baseline", "staged_contracts").frame.loc[circular_model.defaults["Contract Announcement Time"]:]
    over = frame["Total Lab Commitments"] - frame["Staged Commitment Limit"]
    worst = float(over.idxmax())
    assert float(over.max()) <= 1e-9 * float(frame["Staged Commitment Limit"].max()), (
        f"Total Lab Commitments {frame.at[worst, 'Total Lab Commitments']:.0f} B$ above the staged limit "
        f"{frame.at[worst, 'Staged Commitment Limit']:.0f} B$ at {worst:.3f}"
    )


@pytest.mark.parametrize("policy", POLICIES)
def test_policies_combine_with_music_stops(circular_model, circular_run, policy):
    result = circular_run("music_stops", policy)
    assert result.name == f"music_stops+{policy}"
    bad = negative_or_non_finite({s: result.frame[s].to_numpy() for s in non_negative_stocks(circular_model)})
    assert bad == {}, f"music_stops+{policy}: stocks below zero (minimum) or non-finite: {bad}"


# --- knockout of B5 (spec 9) -------------------------------------------------


def test_b5_off_moves_the_shortfall_to_stretching_or_arrears(circular_model, circular_run):
    frame = circular_run("music_stops", **{"Switch B5 Funding Stress": 0}).frame
    assert frame["Contract Cancellations"].max() == 0, (
        f"B5 off: {frame['Contract Cancellations'].max():.1f} B$/Year cancelled"
    )
    stretched = frame["Stretch Share"].max()
    arrears = (frame["Compute Arrears"] + frame["Other Compute Arrears"]).max()
    assert stretched > 0 or arrears > 0, "B5 off: the shortfall shows up neither as stretching nor as arrears"
    bad = negative_or_non_finite({s: frame[s].to_numpy() for s in non_negative_stocks(circular_model)})
    assert bad == {}, f"B5 off: stocks below zero (minimum) or non-finite: {bad}"
