"""Validity tests of the AI circular-finance model (model spec, section 9)."""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest

import pyloop
from circular import CALIBRATION_CSV, MODEL_PATH, NON_NEGATIVE_STOCKS
from pyloop.validation.calibration import calibration_path, read_extremes

simlin = pytest.importorskip("simlin")

SCENARIOS = ["baseline", "music_stops", "ai_boom", "ai_winter", "rate_shock", "build_delays", "pledge_lapses"]
POLICIES = ["mark_to_cash", "leverage_cap", "smaller_pledge", "staged_contracts"]


@pytest.fixture(scope="module")
def simlin_model():
    return simlin.load(MODEL_PATH)


def simlin_ident(name: str) -> str:
    """Simlin's canonical identifier of a Vensim name."""
    return re.sub(r"\s+", "_", name.strip().lower())


def test_independent_unit_checker_finds_no_error(simlin_model):
    issues = simlin_model.check()
    assert issues == (), [issue.message for issue in issues]
    assert simlin_model.check_units() == ()


def test_every_variable_is_documented(circular_model):
    missing = [
        v.name
        for v in circular_model.variables
        if v.kind != "control" and (not v.units or not v.comment)
    ]
    assert missing == []


def test_every_constant_cites_a_source_or_an_assumption(circular_model):
    with open(CALIBRATION_CSV, newline="") as handle:
        rows = {row["id"] for row in csv.DictReader(handle)}
    undocumented, unknown = [], []
    for v in circular_model.variables:
        if v.kind != "constant":
            continue
        cited = set(re.findall(r"\b([SP]\d\d)\b", v.comment))
        if "Assumption:" in v.comment or cited:
            unknown.extend(f"{v.name}: {c}" for c in cited - rows)
        elif "Loop switch" in v.comment or "Policy lever" in v.comment or "scenario" in v.comment:
            continue  # levers and scenario inputs default to "no change"
        else:
            undocumented.append(v.name)
    assert undocumented == []
    assert unknown == []


def test_non_negative_stocks_declare_it(circular_model):
    declared = {s for s in circular_model.stocks if (circular_model.variable(s).range or (None,))[0] == 0}
    assert declared == set(NON_NEGATIVE_STOCKS) | {"Perceived Cloud Market Value"}


def test_uncertain_constants_have_ranges_holding_their_defaults(circular_model):
    for name, v in circular_model.constants.items():
        if v.comment and "Assumption:" in v.comment and name not in ("Maximum Runway", "Minimum Indicated Sentiment", "Maximum Indicated Sentiment"):
            assert v.range is not None, name
        if v.range is not None:
            lo, hi = v.range
            value = circular_model.defaults[name]
            assert (lo is None or value >= lo) and (hi is None or value <= hi), name


EXTREMES = read_extremes(calibration_path(MODEL_PATH))


def test_the_four_extreme_conditions_of_the_specification_are_declared():
    assert EXTREMES == {
        "zero revenue ceiling": {"AI Revenue Ceiling": 0},
        "zero outside funding": {"Maximum Annual Dilution": 0, "Maximum Debt to Market Value": 0},
        "50 % interest": {"Base Interest Rate": 0.5},
        "ten-year construction": {"Construction Time": 10},
    }


@pytest.mark.parametrize("scenario", ["baseline", "music_stops"])
@pytest.mark.parametrize("case", sorted(EXTREMES))
def test_extreme_conditions(circular_run, case, scenario):
    frame = circular_run(scenario, **EXTREMES[case]).frame  # raises on NaN or inf
    for stock in NON_NEGATIVE_STOCKS:
        assert frame[stock].min() >= 0, stock


def test_extreme_conditions_behave_sensibly(circular_run):
    assert circular_run("baseline", **EXTREMES["zero revenue ceiling"]).frame["AI Revenue"].max() <= 10 + 1e-9
    no_funding = circular_run("baseline", **EXTREMES["zero outside funding"]).frame
    assert no_funding["Equity Raised"].max() == 0
    assert no_funding["Debt Issuance"].max() == 0
    slow = circular_run("baseline", **EXTREMES["ten-year construction"]).frame
    assert slow.at[2030.0, "Operational Capacity"] < 2.5


KEY_OUTPUTS = pyloop.load_scenarios(MODEL_PATH).key_variables


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_halving_time_step_moves_no_key_output_by_more_than_one_percent(circular_model, scenario):
    dt = circular_model.time.time_step
    coarse = pyloop.run(circular_model, scenario).frame
    fine = pyloop.run(circular_model, scenario, time_step=dt / 2).frame
    report_times = np.arange(2026.0, 2035.0 + 1e-9, 0.25)
    for variable in KEY_OUTPUTS:
        a = coarse.loc[report_times, variable].to_numpy()
        b = fine.loc[report_times, variable].to_numpy()
        scale = coarse[variable].abs().max()
        assert np.max(np.abs(a - b)) / scale < 0.01, variable


RING_INFLOWS = ["AI Revenue", "Equity Raised", "Legacy Cash Flow", "Debt Issuance", "Other GPU Sales"]
RING_OUTFLOWS = [
    "AI Lab Operating Costs",
    "Facility Capex",
    "Cloud Operating Costs",
    "Interest and Repayments",
    "Cloud Shareholder Returns",
    "Chip Production Costs",
    "Chip Maker Shareholder Returns",
]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_money_in_the_ring_changes_only_by_boundary_flows(circular_run, scenario):
    frame = circular_run(scenario).frame
    dt = float(frame.index[1] - frame.index[0])
    ring_cash = frame[["AI Lab Cash", "Cloud Cash", "Chip Maker Cash"]].sum(axis=1).to_numpy()
    boundary = (frame[RING_INFLOWS].sum(axis=1) - frame[RING_OUTFLOWS].sum(axis=1)).to_numpy()
    error = np.diff(ring_cash) - boundary[:-1] * dt
    assert np.max(np.abs(error)) < 1e-6


def _simlin_run(simlin_model, constants):
    overrides = {simlin_ident(k): float(v) for k, v in constants.items()}
    return simlin_model.run(overrides=overrides, analyze_loops=False).results


@pytest.mark.parametrize(
    "scenario,policy",
    [(s, None) for s in SCENARIOS] + [("music_stops", p) for p in POLICIES],
)
def test_pysd_and_simlin_agree(circular_run, simlin_model, scenario, policy):
    result = circular_run(scenario, policy)
    theirs = _simlin_run(simlin_model, result.constants)
    ours = result.frame
    np.testing.assert_allclose(theirs.index.to_numpy(), ours.index.to_numpy(), rtol=0, atol=1e-9)
    compared = 0
    for column in ours.columns:
        ident = simlin_ident(column)
        if ident not in theirs.columns:
            continue
        a = ours[column].to_numpy(dtype=float)
        b = theirs[ident].to_numpy(dtype=float)
        scale = max(np.max(np.abs(a)), 1e-12)
        assert np.max(np.abs(a - b)) / scale < 1e-6, column
        compared += 1
    assert compared > 150
