"""The money ledger: declarations, stock-flow checks, matrices, origin tracing.

The tiny ring (tests/models/tiny_ring.mdl) has three firms passing money
around with constant flows (B$/Year, defaults in brackets):

    Users  --Sales [1]------------> Lab
    Chip   --Chip Investment [1]--> Lab      (the round-trip flow)
    Lab    --Compute Payments [2]-> Cloud
    Lenders--Loans [1]------------> Cloud
    Cloud  --GPU Purchases [2]----> Chip
    Cloud  --Cloud Costs [0.5]----> Suppliers
    Cloud  --Debt Repayment [0.5]-> Lenders
    Buyers --Other Sales [1]------> Chip
    Chip   --Chip Costs [2]-------> Suppliers

Every firm starts with 10 B$; with the defaults each firm's inflows equal
its outflows, so every cash stock stays at 10 B$. TIME STEP is 1/8 Year.

Claims (B$; increase - decrease, B$/Year):
    Backlog          Lab -> Cloud      50 + (Signing [3] - Compute Payments [2]) t
    Cloud Debt       Cloud -> Lenders  20 + (Loans [1] - Debt Repayment [0.5]) t
    Compute Arrears  Lab -> Cloud       0 + Compute Arrears Accrual [0.5] t
The Lab owes Compute Payments Due [2.5] a year: it pays 2 (Compute
Payments) and leaves 0.5 unpaid (Compute Arrears Accrual).
"""

from __future__ import annotations

import shutil
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyloop
import pyloop.analysis.ledger as L
from pyloop.errors import PyloopError

from circular import MODEL_PATH
from conftest import MODELS

TINY = MODELS / "tiny_ring.mdl"
TINY_LEDGER = MODELS / "tiny_ring.ledger.toml"
DT = 0.125
RATES = [
    "Sales Rate",
    "Investment Rate",
    "Compute Rate",
    "Loan Rate",
    "GPU Rate",
    "Cloud Cost Rate",
    "Other Sales Rate",
    "Chip Cost Rate",
    "Repayment Rate",
    "Unpaid Compute Rate",
]
SCENARIOS = [
    "baseline",
    "music_stops",
    "ai_boom",
    "ai_winter",
    "rate_shock",
    "build_delays",
    "pledge_lapses",
]


@pytest.fixture(scope="module")
def tiny():
    return pyloop.load_model(TINY)


@pytest.fixture(scope="module")
def tiny_ledger(tiny):
    return L.load_ledger(tiny)


@pytest.fixture(scope="module")
def tiny_audit(tiny, tiny_ledger):
    return L.audit(tiny, ledger=tiny_ledger)


def _copy_ring(tmp_path, ledger_text=None, model_edit=None):
    """A copy of the tiny ring in tmp_path, optionally with a changed
    declaration or model text; returns the model path."""
    model = tmp_path / "tiny_ring.mdl"
    text = TINY.read_text()
    if model_edit is not None:
        old, new = model_edit
        assert old in text
        text = text.replace(old, new)
    model.write_text(text)
    ledger = TINY_LEDGER.read_text() if ledger_text is None else ledger_text
    (tmp_path / "tiny_ring.ledger.toml").write_text(ledger)
    return model


def _edit_ledger(old, new):
    text = TINY_LEDGER.read_text()
    assert old in text
    return text.replace(old, new)


# ------------------------------------------------------------- hand-computed
def test_first_steps_of_the_tiny_ring_match_hand_computation(tiny_audit):
    tr = tiny_audit.tracing
    # t = 0: every pool holds only its opening cash.
    now = tr.shares("Compute Payments", cumulative=False)
    assert now.loc[0.0, "Lab opening cash"] == 1.0
    # During the first step the Lab pays 2*dt of its own 10 B$ and receives
    # 1*dt from Users and 1*dt of the Chip's opening cash (marked, since it
    # crosses Chip Investment). At t = dt its pool of 10 B$ is therefore:
    lab_open = (10 - 2 * DT) / 10
    from_users = 1 * DT / 10
    from_chip = 1 * DT / 10
    row = now.loc[DT]
    assert row["Lab opening cash"] == pytest.approx(lab_open, abs=1e-15)
    assert row["Users"] == pytest.approx(from_users, abs=1e-15)
    assert row["Chip opening cash"] == pytest.approx(from_chip, abs=1e-15)
    assert row["Chip (round trip)"] == pytest.approx(from_chip, abs=1e-15)
    assert row["Lenders"] == 0 and row["Buyers"] == 0
    # Paid by t = 2 dt: one step of pure Lab opening cash, one with that mix.
    cum = tr.shares("Compute Payments").loc[2 * DT]
    assert cum["Lab opening cash"] == pytest.approx((1 + lab_open) / 2, abs=1e-15)
    assert cum["Users"] == pytest.approx(from_users / 2, abs=1e-15)
    assert cum["Chip (round trip)"] == pytest.approx(from_chip / 2, abs=1e-15)
    # The marked money reaches the Cloud during step 1 (2*dt * from_chip)
    # and leaves in GPU Purchases from t = 2 dt on: its share of the Cloud's
    # 10 B$ is then
    gpu = tr.shares("GPU Purchases", cumulative=False)
    assert gpu.loc[DT, "Chip (round trip)"] == 0
    assert gpu.loc[2 * DT, "Chip (round trip)"] == pytest.approx(2 * DT * from_chip / 10, abs=1e-15)
    # ... and the Cloud's pool at t = dt holds 2*dt of Lab opening cash and 1*dt from Lenders
    assert gpu.loc[DT, "Lab opening cash"] == pytest.approx(2 * DT / 10, abs=1e-15)
    assert gpu.loc[DT, "Lenders"] == pytest.approx(1 * DT / 10, abs=1e-15)


def _steady_state():
    """Origin mixes of the three pools once the opening cash has gone.

    In a steady state a pool's mix is the mix of its inflows (cash is
    constant, inflow = outflow):
        lab   = (1 * Users + 1 * chip) / 2
        cloud = (1 * Lenders + 2 * lab) / 3
        chip  = (1 * Buyers + 2 * cloud) / 3
    Solved by substitution, origin by origin:
        Users:   u_lab = (1 + u_chip)/2, u_chip = 4/9 u_lab  -> u_lab = 9/14
        Lenders: l_chip = 2/9 (1 + l_chip)                   -> l_chip = 2/7
        Buyers:  b_chip = 1/3 + 2/9 b_chip                   -> b_chip = 3/7
    Marked (crossed Chip Investment): everything the Chip invests is marked,
    so mark_lab = 1/2, mark_cloud = 2/3 * 1/2 = 1/3.
    """
    F = Fraction
    lab = {"Users": F(9, 14), "Lenders": F(1, 7), "Buyers": F(3, 14)}
    cloud = {"Users": F(3, 7), "Lenders": F(3, 7), "Buyers": F(1, 7)}
    chip = {"Users": F(2, 7), "Lenders": F(2, 7), "Buyers": F(3, 7)}
    for pool in (lab, cloud, chip):
        assert sum(pool.values()) == 1
    return lab, cloud, chip, F(1, 2), F(1, 3)


def test_tiny_ring_reaches_the_hand_computed_steady_state(tiny, tiny_ledger):
    audit = L.audit(tiny, params={"FINAL TIME": 300}, ledger=tiny_ledger)
    lab, cloud, chip, mark_lab, mark_cloud = _steady_state()
    tr = audit.tracing
    pay = tr.shares("Compute Payments", cumulative=False).iloc[-1]  # the Lab's mix
    gpu = tr.shares("GPU Purchases", cumulative=False).iloc[-1]  # the Cloud's mix
    costs = tr.shares("Chip Costs", cumulative=False).iloc[-1]  # the Chip's mix
    for shares, expected in ((pay, lab), (gpu, cloud), (costs, chip)):
        for origin, value in expected.items():
            assert shares[origin] == pytest.approx(float(value), abs=1e-9)
        assert shares[["Lab opening cash", "Cloud opening cash", "Chip opening cash"]].sum() < 1e-9
    assert pay["Chip (round trip)"] == pytest.approx(float(mark_lab), abs=1e-9)
    assert gpu["Chip (round trip)"] == pytest.approx(float(mark_cloud), abs=1e-9)
    # Chip Investment carries the Chip's origins, all of it marked.
    invest = tr.shares("Chip Investment", cumulative=False).iloc[-1]
    assert invest["Chip (round trip)"] == pytest.approx(1.0, abs=1e-12)
    assert invest["Buyers"] == pytest.approx(3 / 7, abs=1e-9)


def test_who_paid_on_the_tiny_ring(tiny_audit):
    table = tiny_audit.who_paid([1.0, 10.0])
    # Constant flows: by year Y, Compute Payments paid 2 Y, GPU Purchases 2 Y,
    # contracts signed 3 Y, money moved between firms (1 + 2 + 2) Y.
    assert table["Compute Payments (B$)"].tolist() == pytest.approx([2.0, 20.0])
    assert table["GPU Purchases (B$)"].tolist() == pytest.approx([2.0, 20.0])
    assert table["commitments (B$)"].tolist() == pytest.approx([3.0, 30.0])
    assert table["ring cash moved (B$)"].tolist() == pytest.approx([5.0, 50.0])
    assert table["commitments / cash"].tolist() == pytest.approx([0.6, 0.6])
    origins = ["Users", "Lenders", "Buyers", "Opening cash"]
    assert table[origins].sum(axis=1).tolist() == pytest.approx([1.0, 1.0])
    # Opening cash dominates early and fades as outside money comes in.
    assert table.loc[1.0, "Opening cash"] > table.loc[10.0, "Opening cash"] > 0
    assert 0 < table.loc[10.0, "round-trip ratio"] < 1 / 3


def test_matrices_of_the_tiny_ring(tiny_audit):
    frame, ledger = tiny_audit.result.frame, tiny_audit.ledger
    tm = L.transaction_matrix(frame, ledger).loc[1.0]
    assert tm.loc["Compute Payments", "Lab"] == -2.0
    assert tm.loc["Compute Payments", "Cloud"] == 2.0
    assert tm.loc["Chip Costs", "Suppliers"] == 2.0
    # Users put 1 B$/Year into the ring, Suppliers take 2.5; firms keep their cash.
    change = tm.loc[L.CASH_CHANGE_ROW]
    assert change["Users"] == 1.0 and change["Suppliers"] == -2.5 and change["Lab"] == 0.0
    bs = L.balance_sheet(frame, ledger).loc[2.0]
    # Backlog: 50 + (3 - 2) * 2 years, owed by the Lab to the Cloud.
    assert bs.loc["Backlog", "Lab"] == pytest.approx(-52.0)
    assert bs.loc["Backlog", "Cloud"] == pytest.approx(52.0)
    # Cloud: 10 cash + 52 backlog + 1 arrears - (20 + 0.5 * 2) debt.
    assert bs.loc[L.NET_WORTH_ROW, "Cloud"] == pytest.approx(-42.0)
    totals = L.sector_totals(frame, ledger).loc[2.0]
    assert totals.loc["Suppliers", "cumulative_net_inflow"] == pytest.approx(5.0)
    assert totals.loc["Lab", "net_worth"] == pytest.approx(10.0 - 52.0 - 1.0)


def test_money_between_integrates_each_flow(tiny_audit):
    table = L.money_between(tiny_audit.result, tiny_audit.ledger, until=4.0)
    assert table.loc["GPU Purchases", "amount"] == pytest.approx(8.0)
    assert table.loc["Sales", "crosses"] == "in"
    assert table.loc["Chip Costs", "crosses"] == "out"
    assert table.loc["Compute Payments", "crosses"] == "inside"
    with pytest.raises(L.LedgerError, match="year 11 is outside the run"):
        L.money_between(tiny_audit.result, tiny_audit.ledger, until=11.0)


# ------------------------------------------------------------ property tests
rates = st.lists(st.floats(0.0, 5.0, allow_nan=False), min_size=len(RATES), max_size=len(RATES))


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=rates)
def test_tracing_and_matrices_balance_for_any_flows(tiny, tiny_ledger, values):
    params = dict(zip(RATES, values))
    # 100 B$ each: no firm can run out within 10 years at these rates.
    params.update({"Lab Opening Cash": 100, "Cloud Opening Cash": 100, "Chip Opening Cash": 100})
    audit = L.audit(tiny, params=params, ledger=tiny_ledger)
    frame, tr = audit.result.frame, audit.tracing
    n_origins = len(tr.origins)
    for flow in tiny_ledger.flows:
        for cumulative in (False, True):
            shares = tr.shares(flow, cumulative=cumulative)
            assert np.allclose(shares.iloc[:, :n_origins].sum(axis=1), 1.0, atol=1e-12)
            assert (shares.to_numpy() >= -1e-12).all()
            marked = shares["Chip (round trip)"]
            assert ((marked >= -1e-12) & (marked <= 1 + 1e-12)).all()
        # money traced equals money paid, at every time
        paid = np.concatenate([[0.0], np.cumsum(frame[flow].to_numpy()[:-1] * DT)])
        traced = tr.amounts(flow).iloc[:, :n_origins].sum(axis=1).to_numpy()
        assert np.allclose(traced, paid, atol=1e-9)
    # each pool's labels add up to its cash
    for i, stock in enumerate(tr.pools):
        assert np.allclose(tr.held[:, i].sum(axis=(1, 2)), frame[stock], atol=1e-9)
    tm = L.transaction_matrix(frame, tiny_ledger)
    assert np.allclose(tm.sum(axis=1), 0.0, atol=1e-12)  # every row
    assert np.allclose(tm.groupby(level="time").sum(), 0.0, atol=1e-12)  # every column
    bs = L.balance_sheet(frame, tiny_ledger)
    claims = bs.xs("Backlog", level="row")
    assert np.allclose(claims.sum(axis=1), 0.0, atol=1e-12)
    assert np.allclose(bs.groupby(level="time").sum(), 0.0, atol=1e-9)


# -------------------------------------------------------- declaration errors
def test_missing_declaration_names_the_file(tmp_path):
    model = tmp_path / "tiny_ring.mdl"
    shutil.copyfile(TINY, model)
    with pytest.raises(
        L.LedgerError, match=r"no ledger declaration: write 'tiny_ring.ledger.toml'"
    ):
        L.load_ledger(model)


@pytest.mark.parametrize(
    "old, new, message",
    [
        (
            'payer = "Users"',
            'payer = "Usrs"',
            r"unknown sector 'Usrs' for the payer of flow 'Sales' in 'tiny_ring.ledger.toml'; did you mean 'Users'",
        ),
        (
            "[claims]",
            "[claim]",
            r"unknown key 'claim' in the top level of 'tiny_ring.ledger.toml'; did you mean 'claims'",
        ),
        (
            'payee = "Lab" }',
            'payee = "Lab", payr = "Users" }',
            r"unknown key 'payr' in flow 'Sales'.*did you mean 'payer'",
        ),
        (
            '"Chip Cash" = "Chip"',
            '"Chip Cash" = "Buyers"',
            r"cash stock 'Chip Cash' .* belongs to 'Buyers', which is outside the ring",
        ),
        (
            'payment = "Compute Payments"',
            'payment = "Compute Payment"',
            r"\[questions\] payment = 'Compute Payment' .* did you mean 'Compute Payments'",
        ),
        (
            '{ payer = "Users", payee = "Lab" }',
            '{ payer = "Lab", payee = "Lab" }',
            r"flow 'Sales' .* is paid by 'Lab' to itself",
        ),
        ("ring = [", "ring = 3\nold = [", r"unknown key 'old' in \[sectors\]"),
        ('"Cloud Cash" = "Cloud"\n', "", r"ring firm 'Cloud' has no cash stock in \[cash\]"),
        ("[flows]", "[flows", r"cannot read ledger declaration 'tiny_ring.ledger.toml'"),
    ],
)
def test_malformed_declarations_are_named(tmp_path, old, new, message):
    model = _copy_ring(tmp_path, _edit_ledger(old, new))
    with pytest.raises(L.LedgerError, match=message):
        L.load_ledger(model)


def test_declared_name_missing_from_the_model_is_suggested(tmp_path):
    text = _edit_ledger('"Loans" =', '"Loan" =')
    model = pyloop.load_model(_copy_ring(tmp_path, text))
    with pytest.raises(
        L.LedgerError,
        match=r"flow 'Loan' in 'tiny_ring.ledger.toml' is not a variable .*did you mean 'Loans'",
    ):
        L.load_ledger(model)


# ----------------------------------------------------------- failing checks
def test_undeclared_flow_into_a_cash_stock_fails(tmp_path):
    text = _edit_ledger('"Chip Costs" = { payer = "Chip", payee = "Suppliers" }\n', "")
    model = pyloop.load_model(_copy_ring(tmp_path, text))
    with pytest.raises(
        L.StockFlowError,
        match=r"money flow 'Chip Costs' out of cash stock 'Chip Cash' is not declared in \[flows\]",
    ):
        L.load_ledger(model)


def test_declared_flow_unused_by_its_stock_fails(tmp_path):
    edit = (
        "Compute Payments + Loans - GPU Purchases - Cloud Costs",
        "Compute Payments + Loans - GPU Purchases",
    )
    model = pyloop.load_model(_copy_ring(tmp_path, model_edit=edit))
    with pytest.raises(
        L.StockFlowError,
        match=r"declared flow 'Cloud Costs' \(paid by 'Cloud' to 'Suppliers'\) is not used by the payer's cash stock 'Cloud Cash'",
    ):
        L.load_ledger(model)


def test_declared_flow_with_the_wrong_sign_fails(tmp_path):
    text = _edit_ledger(
        '"Loans" = { payer = "Lenders", payee = "Cloud" }',
        '"Loans" = { payer = "Cloud", payee = "Lenders" }',
    )
    model = pyloop.load_model(_copy_ring(tmp_path, text))
    with pytest.raises(
        L.StockFlowError,
        match=r"declared flow 'Loans' .* enters cash stock 'Cloud Cash' as an inflow, but the payer must see it as an outflow",
    ):
        L.load_ledger(model)


def test_cash_stock_not_a_plain_sum_of_flows_fails(tmp_path):
    edit = (
        "Sales + Chip Investment - Compute Payments",
        "Sales + Chip Investment - 0.5 * Compute Payments",
    )
    model = pyloop.load_model(_copy_ring(tmp_path, model_edit=edit))
    with pytest.raises(L.StockFlowError, match="cash stock 'Lab Cash' is not a plain sum of flows"):
        L.load_ledger(model)


def test_cash_stock_that_jumps_fails_the_stock_check(tiny_audit):
    frame = tiny_audit.result.frame.copy()
    frame.loc[frame.index >= 1.0, "Cloud Cash"] += 0.5
    with pytest.raises(
        L.StockFlowError,
        match=r"cash stock 'Cloud Cash' changed by 0\.5 from time 0\.875 to 1, but its declared flows \(.*'Compute Payments'.*\) moved 0",
    ):
        L.check_stocks(frame, tiny_audit.ledger)
    with pytest.raises(
        L.StockFlowError,
        match=r"money inside the ring .*'Cloud Cash'.* changed by 0\.5 from time 0\.875 to 1",
    ):
        L.check_ring(frame, tiny_audit.ledger)


def test_boundary_flow_off_by_a_little_fails_the_ring_check(tiny_audit):
    frame = tiny_audit.result.frame.astype(float)
    frame.loc[2.0, "Sales"] += 1e-4  # 1e-4 * dt = 1.25e-5 B$ > 1e-6 B$
    with pytest.raises(
        L.StockFlowError,
        match=r"money inside the ring .* from time 2 to 2\.125, but the flows across its boundary \(\+'Sales'",
    ):
        L.check_ring(frame, tiny_audit.ledger)
    frame.loc[2.0, "Sales"] -= 1e-4 - 1e-7  # 1.25e-8 B$ is within tolerance
    assert L.check_ring(frame, tiny_audit.ledger) < 1e-6


def test_a_run_saved_every_other_step_fails_the_stock_check(tmp_path):
    # Costs proportional to cash change every step; saved every other step
    # the stock no longer follows the saved flows.
    edit = ("Chip Costs=\n\tChip Cost Rate", "Chip Costs=\n\tChip Cash * Chip Cost Rate / 20")
    model_path = _copy_ring(tmp_path, model_edit=edit)
    text = model_path.read_text().replace(
        "SAVEPER  = \n        TIME STEP", "SAVEPER  = \n        0.25"
    )
    model_path.write_text(text)
    model = pyloop.load_model(model_path)
    ledger = L.load_ledger(model)  # the structure is right
    result = pyloop.run(model)
    with pytest.raises(
        L.StockFlowError,
        match=r"cash stock 'Chip Cash' changed by .* from time 0 to 0\.25.*every time step is saved",
    ):
        L.check_stocks(result.frame, ledger)


def test_stock_flow_errors_are_pyloop_errors():
    assert issubclass(L.StockFlowError, L.LedgerError)
    assert issubclass(L.LedgerError, PyloopError)


# ------------------------------------------------- claims, dues, net worth
def test_claims_dues_and_values_are_read(tiny_ledger):
    backlog = tiny_ledger.claims["Backlog"]
    assert (backlog.debtor, backlog.creditor) == ("Lab", "Cloud")
    assert backlog.increase == ("Signing",) and backlog.decrease == ("Compute Payments",)
    assert tiny_ledger.claims["Compute Arrears"].decrease == ()
    assert tiny_ledger.dues["Compute Payments Due"] == L.Due(
        "Compute Payments Due", ("Compute Payments",), ("Compute Arrears Accrual",)
    )
    assert tiny_ledger.values == ("Lab Valuation",)


def test_net_worth_of_the_tiny_ring_by_hand(tiny_audit):
    frame, ledger = tiny_audit.result.frame, tiny_audit.ledger
    worth = L.net_worth_change(frame, ledger)
    # By year 2 (flows in B$/Year, times 2 years):
    #   Lab:       cash 1 + 1 - 2 = 0; owes Backlog +2 and Arrears +1      -> -3
    #   Cloud:     cash 2 + 1 - 2 - 0.5 - 0.5 = 0; holds +2 +1, owes Debt +1 -> +2
    #   Chip:      cash 2 + 1 - 1 - 2 = 0                                   ->  0
    #   Users -2, Buyers -2; Lenders lend 2, are repaid 1, hold Debt +1     ->  0
    #   Suppliers: paid 0.5 + 2 a year                                      -> +5
    expected = {"Lab": -3, "Cloud": 2, "Chip": 0, "Users": -2, "Lenders": 0, "Buyers": -2, "Suppliers": 5}
    assert worth.loc[2.0].to_dict() == pytest.approx(expected, abs=1e-12)
    assert list(worth.columns) == list(ledger.sectors)
    assert (worth.loc[0.0] == 0).all()
    assert np.abs(worth.sum(axis=1)).max() < 1e-12  # sums to zero at every time
    # the same change as the balance sheet's net worth, whose closing row is -net worth
    closing = L.balance_sheet(frame, ledger).xs(L.NET_WORTH_ROW, level="row")
    ring = list(ledger.ring)
    assert np.allclose(-(closing - closing.iloc[0])[ring], worth[ring], atol=1e-12)
    check = tiny_audit.check
    assert check.claims == L.Largest(0.0, "Backlog", 0.0)
    assert check.dues.error == 0.0 and check.dues.name == "Compute Payments Due"
    assert check.net_worth.error < 1e-12 and check.net_worth.name is None
    assert check.max_error < L.TOLERANCE


def test_claim_stock_that_jumps_fails_the_claim_check(tiny_audit):
    frame = tiny_audit.result.frame.copy()
    frame.loc[frame.index >= 1.0, "Cloud Debt"] += 0.5
    with pytest.raises(
        L.StockFlowError,
        match=r"claim stock 'Cloud Debt' changed by 0\.5625 from time 0\.875 to 1, but its declared "
        r"increases and decreases \(\+'Loans', -'Debt Repayment'\) moved 0\.0625",
    ):
        L.check_claims(frame, tiny_audit.ledger)


def test_claim_changed_by_an_undeclared_flow_is_named(tmp_path):
    edit = ("Loans - Debt Repayment,", "Loans + Signing - Debt Repayment,")
    model = pyloop.load_model(_copy_ring(tmp_path, model_edit=edit))
    with pytest.raises(
        L.StockFlowError,
        match=r"flow 'Signing' into claim stock 'Cloud Debt' is not declared in its increase in "
        r"\[claims\] of 'tiny_ring.ledger.toml'",
    ):
        L.load_ledger(model)


@pytest.mark.parametrize(
    "old, new, error, message",
    [
        (
            'increase = ["Loans"]',
            'increase = ["Loan"]',
            L.LedgerError,
            r"flow 'Loan' of claim stock 'Cloud Debt' in 'tiny_ring.ledger.toml' is not a "
            r"variable .*did you mean 'Loans'",
        ),
        (
            'decrease = ["Debt Repayment"]',
            'decrease = ["Debt Repayment", "Cloud Costs"]',
            L.StockFlowError,
            r"flow 'Cloud Costs' declared in the decrease of claim stock 'Cloud Debt' .* is not in "
            r"its equation; its outflows are: Debt Repayment",
        ),
        (
            'increase = ["Loans"], decrease = ["Debt Repayment"]',
            'increase = ["Loans", "Debt Repayment"], decrease = []',
            L.StockFlowError,
            r"flow 'Debt Repayment' declared in the increase of claim stock 'Cloud Debt' .* is an "
            r"outflow of its equation; its inflows are: Loans",
        ),
        (
            'increase = ["Loans"], decrease',
            "decrease",
            L.LedgerError,
            r"claim stock 'Cloud Debt' in 'tiny_ring.ledger.toml' has no increase; declare the "
            r'flows that raise it: increase = \["Loans"\]',
        ),
        (
            'increase = ["Loans"]',
            'increase = ["Loans", "Lab Cash"]',
            L.LedgerError,
            r"'Lab Cash' in 'tiny_ring.ledger.toml' is declared as a flow but is a stock .*a level "
            r"cannot be a flow",
        ),
        (
            '"Sales" = { payer',
            '"Backlog" = { payer = "Users", payee = "Lab" }\n"Sales" = { payer',
            L.LedgerError,
            r"'Backlog' in 'tiny_ring.ledger.toml' is declared as a flow but is a stock",
        ),
        (
            'unpaid = ["Compute Arrears Accrual"]',
            'unpaid = ["Compute Arrear Accrual"]',
            L.LedgerError,
            r"flow 'Compute Arrear Accrual' of due 'Compute Payments Due' .* did you mean "
            r"'Compute Arrears Accrual'",
        ),
        (
            'values = ["Lab Valuation"]',
            'values = ["Lab Valuaton"]',
            L.LedgerError,
            r"value 'Lab Valuaton' in 'tiny_ring.ledger.toml' is not a variable .*did you mean "
            r"'Lab Valuation'",
        ),
    ],
)
def test_claim_and_due_declarations_are_checked_against_the_model(tmp_path, old, new, error, message):
    model = pyloop.load_model(_copy_ring(tmp_path, _edit_ledger(old, new)))
    with pytest.raises(error, match=message):
        L.load_ledger(model)


@pytest.mark.parametrize(
    "old, new, message",
    [
        (
            '{ debtor = "Lab", creditor = "Cloud", increase = ["Signing"]',
            '{ debtor = "Lab", creditor = "Lab", increase = ["Signing"]',
            r"claim stock 'Backlog' in 'tiny_ring.ledger.toml' is owed by 'Lab' to itself",
        ),
        (
            '{ debtor = "Lab", creditor = "Cloud", increase = ["Signing"]',
            '{ debtor = ["Lab", "Chip"], creditor = "Cloud", increase = ["Signing"]',
            r"the debtor of claim stock 'Backlog' in 'tiny_ring.ledger.toml' must be a non-empty "
            r"string, not \['Lab', 'Chip'\]",
        ),
        (
            '{ debtor = "Lab", creditor = "Cloud", increase = ["Signing"]',
            '{ creditor = "Cloud", increase = ["Signing"]',
            r'claim stock \'Backlog\' in \'tiny_ring.ledger.toml\' has no debtor; add debtor = "<sector>"',
        ),
        (
            '{ debtor = "Cloud", creditor = "Lenders"',
            '{ debtor = "Cloud", creditor = "Lendrs"',
            r"unknown sector 'Lendrs' for the creditor of claim stock 'Cloud Debt' .*did you mean 'Lenders'",
        ),
        (
            '"Cloud Debt" = { debtor',
            '"Backlog " = { debtor = "Cloud", creditor = "Lenders" }\n"Cloud Debt" = { debtor',
            r"claim stock 'Backlog ' is declared twice in \[claims\] of 'tiny_ring.ledger.toml' "
            r"\(also as 'Backlog'\)",
        ),
        (
            '"Cloud Debt" = { debtor',
            '"Chip Cash" = { debtor = "Cloud", creditor = "Lenders" }\n"Cloud Debt" = { debtor',
            r"'Chip Cash' in 'tiny_ring.ledger.toml' is declared both as cash and as a claim",
        ),
        (
            'increase = ["Loans"], decrease = ["Debt Repayment"]',
            'increase = ["Loans"], decrease = ["Loans"]',
            r"flow 'Loans' is both an increase and a decrease of claim stock 'Cloud Debt'",
        ),
        (
            'increase = ["Loans"]',
            'increase = "Loans"',
            r'the increase of claim stock \'Cloud Debt\' .* must be a list of flow names, e.g. '
            r'increase = \["..."\]',
        ),
        (
            'increase = ["Signing"]',
            'increse = ["Signing"]',
            r"unknown key 'increse' in claim stock 'Backlog'.*did you mean 'increase'",
        ),
        (
            '{ paid = ["Compute Payments"], unpaid',
            "{ unpaid",
            r"due 'Compute Payments Due' in 'tiny_ring.ledger.toml' has no paid",
        ),
        (
            'values = ["Lab Valuation"]',
            'values = ["Lab Valuation", "Loans"]',
            r"value 'Loans' in 'tiny_ring.ledger.toml' is also declared as a money flow in "
            r"\[flows\]; a value .* never enters the ledger as a flow or a stock",
        ),
        (
            'values = ["Lab Valuation"]',
            'values = ["Cloud Debt"]',
            r"value 'Cloud Debt' .* is also declared as a claim stock in \[claims\]",
        ),
        (
            'values = ["Lab Valuation"]',
            'values = ["Compute Arrears Accrual"]',
            r"value 'Compute Arrears Accrual' .* is also declared as a flow of claim stock "
            r"'Compute Arrears'",
        ),
    ],
)
def test_malformed_claims_dues_and_values_are_named(tmp_path, old, new, message):
    model = _copy_ring(tmp_path, _edit_ledger(old, new))
    with pytest.raises(L.LedgerError, match=message):
        L.load_ledger(model)


def test_a_due_that_leaks_fails_and_names_the_time(tmp_path):
    # From year 3 on, 0.2 B$/Year of what is due is neither paid nor left unpaid.
    edit = (
        "Compute Arrears Accrual=\n\tCompute Payments Due - Compute Payments",
        "Compute Arrears Accrual=\n\tCompute Payments Due - Compute Payments - STEP(0.2, 3)",
    )
    model = pyloop.load_model(_copy_ring(tmp_path, model_edit=edit))
    ledger = L.load_ledger(model)  # the structure is right
    with pytest.raises(
        L.StockFlowError,
        match=r"due 'Compute Payments Due' is 2\.5 at time 3, but its paid and unpaid flows "
        r"\('Compute Payments' \+ 'Compute Arrears Accrual'\) sum to 2\.3: 0\.025 of it disappears",
    ):
        L.audit(model, ledger=ledger)


def test_net_worth_that_cannot_be_summed_fails_at_the_worst_time(tiny_audit):
    frame = tiny_audit.result.frame.copy()
    frame.loc[3.0, "Sales"] = np.nan
    with pytest.raises(
        L.StockFlowError,
        match=r"net financial worth of all sectors changed by nan from time 0 to 3\.125 \(worst time",
    ):
        L.check_net_worth(frame, tiny_audit.ledger)


def test_claims_without_declared_flows_cannot_be_checked_along_a_run(tmp_path, tiny_audit):
    text = _edit_ledger(', increase = ["Signing"], decrease = ["Compute Payments"]', "")
    path = tmp_path / "tiny_ring.ledger.toml"
    path.write_text(text)
    ledger = L.read_ledger(path)  # without the model, the flows may be missing
    assert ledger.claims["Backlog"].increase is None
    with pytest.raises(L.LedgerError, match=r"claim stock 'Backlog' .* declares no increase or decrease"):
        L.check_claims(tiny_audit.result.frame, ledger)


# ------------------------------------------------------------------ our model
@pytest.fixture(scope="module")
def circular_ledger(circular_model):
    return L.load_ledger(circular_model)


def test_declaration_of_our_model(circular_model, circular_ledger):
    from pyloop.analysis.structure import causal_structure

    ledger = circular_ledger
    assert ledger.ring == ("AI Lab", "Cloud Provider", "Chip Maker")
    # every flow in or out of a firm's cash is declared with that firm as
    # payee (inflow) or payer (outflow), and no other flow names the firm
    structure = causal_structure(circular_model)
    for stock, firm in ledger.cash.items():
        moves = {k.cause: k.sign for k in structure.links if k.effect == stock and k.kind == "flow"}
        assert moves and set(moves.values()) == {1, -1}, stock
        declared = {f.name: (1 if f.payee == firm else -1) for f in ledger.flows.values() if firm in (f.payer, f.payee)}
        assert declared == moves, stock
    assert ledger.flows["Chip Maker Investment"] == L.Flow("Chip Maker Investment", "Chip Maker", "AI Lab")
    # a claim is raised and lowered by exactly the flows of its stock
    assert {"Cloud Debt", "Compute Contract Backlog", "Chip Maker Pledge", "Compute Arrears"} <= set(ledger.claims)
    for stock, claim in ledger.claims.items():
        moves = {k.cause: k.sign for k in structure.links if k.effect == stock and k.kind == "flow"}
        assert {n: 1 for n in claim.increase} | {n: -1 for n in claim.decrease} == moves, stock
    assert ledger.claims["Compute Arrears"].debtor == "AI Lab"
    assert ledger.claims["Compute Arrears"].creditor == "Cloud Provider"
    assert ledger.claims["Cloud Debt"].creditor == "Lenders"
    ring = set(ledger.ring)
    assert set(ledger.internal_flows) == {
        f.name for f in ledger.flows.values() if f.payer in ring and f.payee in ring
    }
    assert {"Chip Maker Investment", "Compute Payments", "GPU Purchases"} <= set(ledger.internal_flows)
    assert ledger.origins[:4] == (
        "End Users",
        "Equity Investors",
        "Lenders",
        "Other Customers",
    )
    assert ledger.round_trip_label == "Chip Maker (round trip)"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_scenario_passes_the_checks(circular_run, circular_ledger, scenario):
    frame = circular_run(scenario).frame
    stocks = L.check_stocks(frame, circular_ledger)
    assert set(stocks) == {"AI Lab Cash", "Cloud Cash", "Chip Maker Cash"}
    assert max(stocks.values()) < L.TOLERANCE
    assert L.check_ring(frame, circular_ledger) < L.TOLERANCE


@pytest.mark.parametrize("scenario", ["baseline", "music_stops"])
def test_who_paid_on_our_model_is_sane(circular_run, circular_ledger, scenario):
    result = circular_run(scenario)
    table = L.who_paid(result, circular_ledger, [2027, 2030, 2035])
    origins = ["End Users", "Equity Investors", "Lenders", "Other Customers", "Opening cash"]
    shares = table[origins + ["via Chip Maker Investment", "round-trip ratio"]]
    assert ((shares >= 0) & (shares <= 1)).all().all()
    assert np.allclose(table[origins].sum(axis=1), 1.0, atol=1e-9)
    paid = table["Compute Payments (B$)"]
    assert paid.is_monotonic_increasing and paid.iloc[0] > 0
    # money paid by the traced flows matches the run's own integral
    frame = result.frame
    until = frame.loc[:2030.0, "Compute Payments"].iloc[:-1]
    assert table.loc[2030.0, "Compute Payments (B$)"] == pytest.approx(
        until.sum() * (frame.index[1] - frame.index[0])
    )
    # the contract and the pledge (400 B$) are announced in 2025
    assert table.loc[2027.0, "commitments (B$)"] >= 400
    assert table.loc[2027.0, "commitments / cash"] > 1


def test_music_stops_leaves_less_equity_in_the_bills(circular_run, circular_ledger):
    base = L.who_paid(circular_run("baseline"), circular_ledger, [2035])
    stops = L.who_paid(circular_run("music_stops"), circular_ledger, [2035])
    assert stops.loc[2035.0, "Equity Investors"] < base.loc[2035.0, "Equity Investors"]
    assert stops.loc[2035.0, "Compute Payments (B$)"] < base.loc[2035.0, "Compute Payments (B$)"]


def test_declaration_sits_beside_the_model():
    assert L.ledger_path(MODEL_PATH) == MODEL_PATH.with_name("ai_circular_finance.ledger.toml")
    assert L.ledger_path(MODEL_PATH).is_file()


# ----------------------------------------------------------------------- CLI
def test_cli_ledger_prints_checks_and_table_and_writes_files(tmp_path, capsys):
    from pyloop.cli import main

    out, plot = tmp_path / "csv", tmp_path / "fig" / "ledger.png"
    code = main(
        ["ledger", "--model", str(TINY), "--until", "4", "--csv", str(out), "--plot", str(plot)]
    )
    text = capsys.readouterr().out
    assert code == 0
    assert "Ledger checks passed for run 'tiny_ring' (80 steps, tolerance 1e-06 B$)" in text
    for check in (
        "cash stocks follow their declared flows: largest error 0 B$",
        "claim stocks follow their declared increases and decreases: largest error 0 B$ (Backlog",
        "dues are paid or left unpaid, none disappears: largest error 0 B$ (Compute Payments Due",
        "net financial worth of all sectors sums to zero: largest error 0 B$",
    ):
        assert check in text
    assert "Who paid for Compute Payments" in text
    header = next(line for line in text.splitlines() if line.startswith("by year"))
    assert header.split()[2:] == ["1", "2", "3", "4"]
    assert "commitments / cash" in text and "0.60" in text
    names = {p.name for p in out.iterdir()}
    assert names == {
        "who_paid.csv",
        "money_between.csv",
        "transaction_matrix.csv",
        "balance_sheet.csv",
        "sector_totals.csv",
        "net_worth_change.csv",
        "origin_shares.csv",
    }
    who = pd.read_csv(out / "who_paid.csv", index_col="year")
    assert who.loc[4.0, "Compute Payments (B$)"] == pytest.approx(8.0)
    money = pd.read_csv(out / "money_between.csv", index_col="flow")
    assert money.loc["Loans", "amount"] == pytest.approx(4.0)
    worth = pd.read_csv(out / "net_worth_change.csv", index_col="time")
    assert worth.loc[4.0, "Suppliers"] == pytest.approx(10.0)
    shares = pd.read_csv(out / "origin_shares.csv")
    assert set(shares.columns) == {"time", "flow", "origin", "share", "paid", "cumulative_share"}
    assert plot.stat().st_size > 10_000
    assert not [p for p in tmp_path.rglob(".*")]  # no temporary leftovers


def test_cli_ledger_failure_is_one_line_and_writes_nothing(tmp_path, capsys):
    from pyloop.cli import main

    model = _copy_ring(
        tmp_path, _edit_ledger('"Loans" = { payer = "Lenders", payee = "Cloud" }\n', "")
    )
    out = tmp_path / "csv"
    code = main(
        ["ledger", "--model", str(model), "--csv", str(out), "--plot", str(tmp_path / "x.png")]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith(
        "pyloop: error: money flow 'Loans' into cash stock 'Cloud Cash' is not declared"
    )
    assert not out.exists() and not (tmp_path / "x.png").exists()
    code = main(["ledger", "--model", str(TINY), "--until", "12", "--csv", str(out)])
    assert code == 2
    assert "year 12 is outside the run (0 to 10)" in capsys.readouterr().err
    assert not out.exists()


def test_cli_ledger_documents_every_option(capsys):
    from pyloop.cli import main

    with pytest.raises(SystemExit):
        main(["ledger", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option, words in [
        ("--model PATH", "model file"),
        ("--scenario NAME", "scenario to run"),
        ("--policy NAME", "policy to apply"),
        ("--until YEAR", "money moved up to YEAR"),
        ("--csv DIR", "all or nothing"),
        ("--plot FILE", "origin shares"),
    ]:
        assert option in text and words in text
