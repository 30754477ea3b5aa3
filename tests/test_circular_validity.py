"""Validity tests of the AI circular-finance model (model spec, section 9,
version 2)."""

from __future__ import annotations

import csv
import re

import numpy as np
import pytest
from circular import (
    CALIBRATION_CSV,
    CASH_STOCKS,
    MODEL_PATH,
    negative_or_non_finite,
    non_negative_stocks,
)

import pyloop
from pyloop.analysis.ledger import StockFlowError, check_run, load_ledger
from pyloop.analysis.loops import load_catalogue
from pyloop.validation.calibration import calibration_path, read_extremes
from pyloop.validation.quality import INTEGRATION_TOLERANCE, SOURCE_PATTERN

simlin = pytest.importorskip("simlin")

SCENARIO_FILE = pyloop.load_scenarios(MODEL_PATH)
SCENARIOS = list(SCENARIO_FILE.scenarios)
POLICIES = list(SCENARIO_FILE.policies)
KEY_OUTPUTS = SCENARIO_FILE.key_variables
SWITCHES = {loop.id: loop.switch for loop in load_catalogue(MODEL_PATH)}
EXTREMES = read_extremes(calibration_path(MODEL_PATH))
#: Stocks the specification (section 4) requires to stay non-negative.
SPECIFIED_NON_NEGATIVE = CASH_STOCKS + (
    "Cloud Debt",
    "Lender Arrears",
    "Compute Contract Backlog",
    "Other Provider Commitments",
    "Compute Arrears",
    "Other Compute Arrears",
    "Chip Maker Pledge",
    "Sites Under Preparation",
    "Buildings Under Construction",
    "Halls Being Fitted",
    "Operational Capacity",
    "AI Revenue Run Rate",
    "Investor Sentiment",
)
#: Largest relative difference between PySD and Simlin on any variable.
CROSS_ENGINE_TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def simlin_model():
    return simlin.load(MODEL_PATH)


def simlin_ident(name: str) -> str:
    """Simlin's canonical identifier of a Vensim name."""
    return re.sub(r"\s+", "_", name.strip().lower())


# --- structure and documentation ---------------------------------------------


def test_independent_unit_checker_finds_no_error(simlin_model):
    issues = simlin_model.check()
    assert issues == (), [issue.message for issue in issues]
    units = simlin_model.check_units()
    assert units == (), [getattr(issue, "message", issue) for issue in units]


def test_every_variable_is_documented_with_units(circular_model):
    missing = [v.name for v in circular_model.variables if v.kind != "control" and (not v.units or not v.comment)]
    assert missing == [], f"variables without units or comment: {missing}"


def test_every_constant_cites_a_source(circular_model):
    undocumented = [
        v.name for v in circular_model.variables if v.kind == "constant" and not SOURCE_PATTERN.search(v.comment or "")
    ]
    assert undocumented == [], f"constants whose comment names no source: {undocumented}"


def test_cited_calibration_rows_exist(circular_model):
    with open(CALIBRATION_CSV, newline="") as handle:
        rows = {row["id"] for row in csv.DictReader(handle)}
    unknown = [
        f"{v.name}: {row}"
        for v in circular_model.variables
        if v.kind == "constant"
        for row in sorted(set(re.findall(r"\b([SP]\d\d)\b", v.comment or "")) - rows)
    ]
    assert unknown == [], f"constants citing rows missing from calibration.csv: {unknown}"


def test_specified_stocks_are_declared_non_negative(circular_model):
    missing = sorted(set(SPECIFIED_NON_NEGATIVE) - set(non_negative_stocks(circular_model)))
    assert missing == [], f"stocks the specification keeps non-negative without a [0,?] range: {missing}"


def test_constant_ranges_hold_their_defaults(circular_model):
    outside = []
    for name, v in circular_model.constants.items():
        if v.range is not None:
            lo, hi = v.range
            value = circular_model.defaults[name]
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                outside.append(f"{name} = {value:g} not in [{lo}, {hi}]")
    assert outside == [], f"defaults outside their declared ranges: {outside}"


# --- extreme conditions ------------------------------------------------------


def test_the_four_extreme_conditions_of_the_specification_are_declared():
    assert sorted(EXTREMES) == sorted(
        ["zero revenue ceiling", "zero outside funding", "50 % interest", "ten-year construction"]
    )
    assert EXTREMES["50 % interest"] == {"Base Interest Rate": 0.5}
    assert EXTREMES["ten-year construction"] == {"Construction Time": 10}
    assert EXTREMES["zero revenue ceiling"] == {"AI Revenue Ceiling": 0}
    assert EXTREMES["zero outside funding"] and set(EXTREMES["zero outside funding"].values()) == {0}


@pytest.mark.parametrize("scenario", ["baseline", "music_stops"])
@pytest.mark.parametrize("case", sorted(EXTREMES))
def test_extreme_conditions(circular_model, circular_run, case, scenario):
    frame = circular_run(scenario, **EXTREMES[case]).frame  # raises on an error of the run
    bad = negative_or_non_finite({s: frame[s].to_numpy() for s in non_negative_stocks(circular_model)})
    assert bad == {}, f"{case} in {scenario}: stocks below zero (minimum) or non-finite: {bad}"
    assert np.isfinite(frame.to_numpy(dtype=float)).all(), f"{case} in {scenario}: non-finite values"


# --- integration error -------------------------------------------------------


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_halving_time_step_moves_no_key_output_by_more_than_one_percent(circular_model, circular_run, scenario):
    dt = circular_model.time.time_step
    coarse = circular_run(scenario).frame
    fine = pyloop.run(circular_model, scenario, time_step=dt / 2, return_columns=KEY_OUTPUTS).frame
    report_times = np.arange(2026.0, 2035.0 + 1e-9, 0.25)
    moved = {}
    for variable in KEY_OUTPUTS:
        a = coarse.loc[report_times, variable].to_numpy()
        b = fine.loc[report_times, variable].to_numpy()
        scale = max(float(coarse[variable].abs().max()), 1e-12)
        change = float(np.max(np.abs(a - b)) / scale)
        if change >= INTEGRATION_TOLERANCE:
            moved[variable] = round(change, 4)
    assert moved == {}, f"{scenario}: halving TIME STEP moves (share of scale) {moved}"


# --- conservation of money and claims ---------------------------------------


@pytest.fixture(scope="module")
def ledger(circular_model):
    return load_ledger(circular_model)


@pytest.mark.parametrize(
    "scenario,policy", [(s, None) for s in SCENARIOS] + [("baseline", p) for p in POLICIES]
)
def test_money_and_claims_are_conserved(circular_run, ledger, scenario, policy):
    """Cash, ring boundary, claims, dues and net worth (the ledger's checks)."""
    frame = circular_run(scenario, policy).frame
    try:
        check = check_run(frame, ledger)
    except StockFlowError as error:
        pytest.fail(f"{scenario}+{policy}: {error}")
    assert check.max_error < check.tolerance, f"{scenario}+{policy}: ledger error {check.max_error:.3g}"
    assert set(check.stock_errors) == set(CASH_STOCKS)


# --- cross-engine ------------------------------------------------------------


def cross_engine_cases() -> list[tuple[str, str | None, str | None]]:
    """(scenario, policy, loop switched off) of every cross-engine comparison."""
    cases: list[tuple[str, str | None, str | None]] = [(s, None, None) for s in SCENARIOS]
    cases += [("baseline", p, None) for p in POLICIES]
    cases += [(s, None, loop) for s in ("baseline", "music_stops") for loop in SWITCHES]
    return cases


@pytest.mark.parametrize(
    "scenario,policy,knockout",
    cross_engine_cases(),
    ids=["-".join(x for x in case if x) for case in cross_engine_cases()],
)
def test_pysd_and_simlin_agree(circular_run, simlin_model, scenario, policy, knockout):
    params = {SWITCHES[knockout]: 0} if knockout else {}
    result = circular_run(scenario, policy, **params)
    overrides = {simlin_ident(k): float(v) for k, v in result.constants.items()}
    theirs = simlin_model.run(overrides=overrides, analyze_loops=False).results
    ours = result.frame
    np.testing.assert_allclose(theirs.index.to_numpy(), ours.index.to_numpy(), rtol=0, atol=1e-9)
    differ = {}
    compared = 0
    for column in ours.columns:
        ident = simlin_ident(column)
        if ident not in theirs.columns:
            continue
        a = ours[column].to_numpy(dtype=float)
        b = theirs[ident].to_numpy(dtype=float)
        scale = max(float(np.max(np.abs(a))), 1e-12)
        error = float(np.max(np.abs(a - b)) / scale)
        if not error < CROSS_ENGINE_TOLERANCE:
            differ[column] = error
        compared += 1
    assert compared >= 0.9 * len(ours.columns), f"Simlin returns only {compared} of PySD's {len(ours.columns)} variables"
    assert differ == {}, f"PySD and Simlin differ (relative): {differ}"
