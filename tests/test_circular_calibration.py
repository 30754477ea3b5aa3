"""Reality checks of the AI circular-finance model (model spec, section 6).

Each test asserts a figure of the seed article or of the public record, with
the tolerance of the specification (10 % unless stated).
"""

from __future__ import annotations

import pytest

from circular import cumulative, first_time, jump

REL = 0.10


@pytest.fixture(scope="module")
def base(circular_run):
    return circular_run("baseline").frame


@pytest.fixture(scope="module")
def defaults(circular_model):
    return circular_model.defaults


def test_revenue_at_start_is_ten_billion(base):
    assert base["AI Revenue"].iloc[0] == pytest.approx(10, rel=REL)


def test_contract_of_300_billion_lands_at_its_announcement(base, defaults):
    announced = defaults["Contract Announcement Time"]
    assert announced == pytest.approx(2025.693, abs=1e-3)
    before, after = jump(base, "Compute Contract Backlog", announced)
    assert before == 0
    assert after == pytest.approx(300, rel=REL)
    # the backlog pays for 4.5 GW over the five-year contract
    _, capacity = jump(base, "Cloud Desired Capacity", announced)
    assert capacity == pytest.approx(4.5, rel=REL)


def test_contracted_payments_at_full_delivery(base, defaults):
    price = base["Compute Price per GW Year"].iloc[0]
    assert price == pytest.approx(13.3, rel=REL)
    assert price * defaults["Initial Contract Capacity"] == pytest.approx(60, rel=REL)


def test_payments_are_six_times_revenue_at_signing(base, defaults):
    _, ratio = jump(base, "Commitment to Revenue Ratio", defaults["Contract Announcement Time"])
    assert ratio == pytest.approx(6, rel=REL)


def test_gpus_per_gw(defaults):
    per_gw = defaults["GPUs per GW"]
    assert per_gw * 4.5 > 2.0  # over 2 million GPUs for 4.5 GW
    assert 4.0 <= per_gw * 10 <= 5.0  # 4 to 5 million for 10 GW


def test_pledge_of_100_billion_on_its_own_step(base, defaults):
    contract, pledge = defaults["Contract Announcement Time"], defaults["Pledge Announcement Time"]
    assert pledge == pytest.approx(2025.726, abs=1e-3)
    before, after = jump(base, "Chip Maker Pledge", pledge)
    assert before == 0
    assert after == pytest.approx(100, rel=REL)
    signal_c = first_time(base["Contract Announcement Signal"], lambda s: s > 0)
    signal_p = first_time(base["Pledge Announcement Signal"], lambda s: s > 0)
    assert signal_c < signal_p  # the two announcements land on different steps


def test_pledge_tranches_are_ten_billion_per_gw(base):
    # while the pledge lasts, every GW deployed releases 10 B$
    window = base.loc[2026.25:2027.5]
    ratio = window["Chip Maker Investment"] / window["Capacity Completion"]
    assert ratio.min() == pytest.approx(10, rel=1e-9)
    assert ratio.max() == pytest.approx(10, rel=1e-9)


def test_first_pledged_gw_online_in_second_half_of_2026(base):
    online = first_time(base["Operational Capacity"], lambda s: s >= 1.0)
    assert 2026.5 <= online <= 2027.0


def test_equity_round_of_2025(base):
    # the April round is the AI Lab's cash at the start; no other round is
    # needed in 2025
    assert base["AI Lab Cash"].iloc[0] == pytest.approx(40, rel=REL)
    assert cumulative(base, "Equity Raised", until=2026.0) == pytest.approx(0, abs=1e-9)


def test_cloud_market_value_jumps_36_percent_on_the_contract(base, defaults):
    before, after = jump(base, "Cloud Market Value", defaults["Contract Announcement Time"])
    assert before == pytest.approx(686, rel=REL)
    assert after == pytest.approx(933, rel=REL)
    assert after / before - 1 == pytest.approx(0.36, rel=REL)


def test_chip_maker_market_value_rises_4_percent_on_the_pledge(base, defaults):
    before, after = jump(base, "Chip Maker Market Value", defaults["Pledge Announcement Time"])
    assert before == pytest.approx(4290, rel=REL)
    assert after == pytest.approx(4460, rel=REL)
    assert after / before - 1 == pytest.approx(0.04, rel=REL)


def test_valuation_response_per_dollar_announced(base, defaults):
    contract, pledge = defaults["Contract Announcement Time"], defaults["Pledge Announcement Time"]
    mv0, mv1 = jump(base, "Cloud Market Value", contract)
    b0, b1 = jump(base, "Compute Contract Backlog", contract)
    assert (mv1 - mv0) / (b1 - b0) == pytest.approx(0.8, rel=REL)
    cmv0, cmv1 = jump(base, "Chip Maker Market Value", pledge)
    p0, p1 = jump(base, "Chip Maker Pledge", pledge)
    assert (cmv1 - cmv0) / (p1 - p0) == pytest.approx(1.7, rel=REL)
