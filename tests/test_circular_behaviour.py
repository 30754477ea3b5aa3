"""Expected behaviour of every scenario and policy (model spec, section 8)."""

from __future__ import annotations

import pytest

from circular import CASH_STOCKS, NON_NEGATIVE_STOCKS, cumulative, first_time, jump

SHOCK = 2027.0  # music_stops: equity appetite collapses


@pytest.fixture(scope="module")
def base(circular_run):
    return circular_run("baseline").frame


@pytest.fixture(scope="module")
def stops(circular_run):
    return circular_run("music_stops").frame


def test_baseline_keeps_every_cash_stock_non_negative(base):
    for stock in CASH_STOCKS:
        assert base[stock].min() >= 0, stock


def test_baseline_reaches_4_5_gw_by_about_2030(base):
    assert base.at[2030.0, "Operational Capacity"] == pytest.approx(4.5, rel=0.10)
    assert base["Operational Capacity"].max() == pytest.approx(4.5, rel=0.05)


def test_baseline_payments_at_full_delivery(base):
    full = base.loc[2030:, "Compute Payments"]
    assert 50 <= full.min() and full.max() <= 65


def test_baseline_never_cancels(base):
    assert base["Contract Cancellations"].max() == 0
    assert base["Compute Payment Arrears"].max() == 0


def test_music_stops_within_two_years(stops, base):
    window = stops.loc[SHOCK : SHOCK + 2]
    # the AI Lab runs out of cash: it can no longer pay its bills in full
    assert window["Lab Cash Sufficiency"].min() < 0.5
    assert window["AI Lab Cash"].iloc[-1] < 0.25 * base.at[SHOCK + 2, "AI Lab Cash"]
    began = first_time(stops["Contract Cancellations"], lambda s: s > 0)
    assert SHOCK < began <= SHOCK + 2
    later = SHOCK + 2
    assert stops.at[later, "Compute Contract Backlog"] <= 0.7 * base.at[later, "Compute Contract Backlog"]
    assert stops.at[later, "Cloud Market Value"] <= 0.7 * base.at[later, "Cloud Market Value"]
    assert stops.at[later, "GPU Purchases"] < 0.7 * base.at[later, "GPU Purchases"]


def test_music_stops_keeps_stocks_non_negative(stops):
    for stock in NON_NEGATIVE_STOCKS:
        assert stops[stock].min() >= 0, stock


def test_ai_boom_revenue_covers_payments_around_2029(circular_run, base):
    boom = circular_run("ai_boom").frame
    full_payments = base.loc[2030:, "Compute Payments"].max()
    covered = first_time(boom["AI Revenue"], lambda s: s >= full_payments)
    assert 2028.5 <= covered <= 2029.5
    assert boom["Contract Cancellations"].max() == 0
    base_covered = first_time(base["AI Revenue"], lambda s: s >= full_payments)
    assert base_covered > covered + 1


def test_ai_winter_cancels_later_than_music_stops(circular_run, stops):
    winter = circular_run("ai_winter").frame
    began = first_time(winter["Contract Cancellations"], lambda s: s > 0)
    assert began is not None
    assert began > first_time(stops["Contract Cancellations"], lambda s: s > 0)


def test_rate_shock_raises_interest_and_slows_building(circular_run, base):
    shock = circular_run("rate_shock").frame
    assert cumulative(shock, "Interest Payments", until=2030) > 1.1 * cumulative(
        base, "Interest Payments", until=2030
    )
    assert shock.at[2030.0, "Operational Capacity"] < base.at[2030.0, "Operational Capacity"]
    assert shock.at[2030.0, "Cloud Market Value"] < base.at[2030.0, "Cloud Market Value"]


def test_build_delays_postpone_payments_and_tranches(circular_run, base):
    slow = circular_run("build_delays").frame
    assert cumulative(slow, "Compute Payments", until=2029) < 0.85 * cumulative(
        base, "Compute Payments", until=2029
    )
    first_gw = first_time(slow["Operational Capacity"], lambda s: s >= 1)
    assert first_gw > first_time(base["Operational Capacity"], lambda s: s >= 1) + 0.25
    tranche = lambda f: first_time(f["Chip Maker Investment"].cumsum(), lambda s: s * (1 / 64) >= 20)
    assert tranche(slow) > tranche(base)


def test_pledge_lapse_needs_more_outside_equity(circular_run, base):
    lapse = circular_run("pledge_lapses").frame
    assert cumulative(lapse, "Chip Maker Investment") < 0.4 * cumulative(base, "Chip Maker Investment")
    assert cumulative(lapse, "Equity Raised") > cumulative(base, "Equity Raised")
    assert lapse.loc[2027.9:, "Chip Maker Pledge"].max() < 1e-3


def test_mark_to_cash_limits_the_announcement_jump(circular_run, circular_model):
    frame = circular_run("baseline", "mark_to_cash").frame
    before, after = jump(frame, "Cloud Market Value", circular_model.defaults["Contract Announcement Time"])
    assert after / before - 1 <= 0.05


def test_leverage_cap_stops_borrowing_above_the_cap(circular_run, base):
    capped = circular_run("baseline", "leverage_cap").frame
    cap = 6 * capped["Cloud Operating Cash Flow"].clip(lower=0)
    above = capped["Cloud Debt"] >= cap
    assert above.any()
    assert capped.loc[above, "Debt Issuance"].max() == 0
    assert capped["Cloud Debt"].max() < base["Cloud Debt"].max()


def test_smaller_pledge_halves_vendor_financing_per_gw(circular_run):
    frame = circular_run("baseline", "smaller_pledge").frame
    window = frame.loc[2026.25:2027.5]
    ratio = window["Chip Maker Investment"] / window["Capacity Completion"]
    assert ratio.min() == pytest.approx(5, rel=1e-9)


def test_staged_contracts_cap_commitments_by_revenue(circular_run, circular_model):
    frame = circular_run("baseline", "staged_contracts").frame
    _, signed = jump(frame, "Compute Contract Backlog", circular_model.defaults["Contract Announcement Time"])
    revenue = frame.loc[:2025.7, "AI Revenue"].iloc[-1]
    assert signed == pytest.approx(10 * revenue, rel=0.01)
    assert signed < 300


@pytest.mark.parametrize("policy", ["mark_to_cash", "leverage_cap", "smaller_pledge", "staged_contracts"])
@pytest.mark.parametrize("scenario", ["baseline", "music_stops"])
def test_policies_combine_with_scenarios(circular_run, scenario, policy):
    result = circular_run(scenario, policy)
    assert result.name == f"{scenario}+{policy}"
    for stock in CASH_STOCKS:
        assert result.frame[stock].min() >= 0, stock


def test_switching_off_r1_to_r3_shrinks_jumps_and_boom(circular_run, circular_model, base):
    off = circular_run(
        "baseline",
        **{
            "Switch R1 Circular Financing": 0,
            "Switch R2 Commitment Valuation": 0,
            "Switch R3 Sentiment Momentum": 0,
        },
    ).frame
    t = circular_model.defaults["Contract Announcement Time"]
    b0, b1 = jump(base, "Cloud Market Value", t)
    o0, o1 = jump(off, "Cloud Market Value", t)
    assert o1 - o0 < 0.1 * (b1 - b0)
    assert off.loc[2026:2028, "Cloud Market Value"].max() < base.loc[2026:2028, "Cloud Market Value"].max()
    assert cumulative(off, "Chip Maker Investment") == 0


def test_b5_off_moves_the_shortfall_to_arrears(circular_run):
    frame = circular_run("music_stops", **{"Switch B5 Funding Stress": 0}).frame
    assert frame["Contract Cancellations"].max() == 0
    assert frame["Compute Payment Arrears"].iloc[-1] > 10
    for stock in NON_NEGATIVE_STOCKS:
        assert frame[stock].min() >= 0, stock
