"""B001 and B002 of `pyloop check`: branches that never switch and named
loops that are mostly off (pyloop.validation.liveness)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import pyloop
from conftest import MODELS
from pyloop.cli import main
from pyloop.validation.liveness import check_loop_activity, check_switching, zero_share
from pyloop.validation.quality import GENERIC_CODES, check_model

QUALITY = MODELS / "quality"
DEAD_BRANCH = QUALITY / "tank_dead_branch.mdl"
DEAD_LOOP = QUALITY / "tank_dead_loop.mdl"
NARROW_OUTLET = QUALITY / "tank_narrow_outlet.scenarios.toml"


def liveness(model):
    """(code, variable) of the B001 and B002 findings of every profile's checks."""
    return {(f.code, f.variable) for f in check_model(model) if f.code.startswith("B")}


@pytest.fixture(scope="module")
def dead_branch():
    return pyloop.load_model(DEAD_BRANCH)


def test_limit_that_never_binds_in_any_run_is_reported(dead_branch):
    findings = check_switching(dead_branch)
    assert [(f.code, f.severity, f.variable) for f in findings] == [("B001", "error", "Outflow")]
    assert findings[0].message == (
        "MIN(..., Outlet Capacity) always takes its first argument in every scenario and policy; "
        "a limit that never binds is a constant, not a loop"
    )


def test_limit_that_binds_in_one_scenario_is_not_reported():
    model = pyloop.load_model(DEAD_BRANCH, declarations={"scenarios": NARROW_OUTLET})
    assert check_switching(model) == []


def test_policy_that_makes_the_limit_bind_counts(tmp_path):
    scenarios = DEAD_BRANCH.with_suffix(".scenarios.toml").read_text()
    file = tmp_path / "tight.scenarios.toml"
    file.write_text(scenarios + '\n[policies.tight_outlet]\ndescription = "A tight outlet."\n'
                    '[policies.tight_outlet.constants]\n"Outlet Capacity" = 0.5\n')
    assert check_switching(pyloop.load_model(DEAD_BRANCH, declarations={"scenarios": file})) == []


def test_without_a_scenario_file_no_branch_is_followed(tmp_path):
    assert check_switching(_variant(tmp_path, MIN_OUTFLOW, MIN_OUTFLOW, scenarios=False)) == []


def _variant(tmp_path, old, new, scenarios=True):
    """A copy of tank_dead_branch.mdl with ``old`` replaced by ``new``, with
    (or without) its scenario file, and with its loop catalogue."""
    copy = tmp_path / DEAD_BRANCH.name
    text = DEAD_BRANCH.read_text()
    assert old in text
    copy.write_text(text.replace(old, new))
    for kind in ("scenarios", "loops") if scenarios else ("loops",):
        name = f"{DEAD_BRANCH.stem}.{kind}.toml"
        (tmp_path / name).write_text((QUALITY / name).read_text())
    return pyloop.load_model(copy)


MIN_OUTFLOW = "Switch B2 Drain * MIN(Water / Drain Time, Outlet Capacity)"


def test_if_that_never_flips_is_reported_and_a_lever_that_varies_is_not(tmp_path):
    model = _variant(
        tmp_path,
        MIN_OUTFLOW,
        "Switch B2 Drain * IF THEN ELSE(Water > Capacity, Outlet Capacity, Water / Drain Time)"
        " + 0 * MIN(Drain Time, Capacity)",
    )
    findings = check_switching(model)
    # MIN(Drain Time, Capacity) never switches either, but reads constants
    # only and Drain Time differs with the policy: a lever, not a limit
    assert [(f.code, f.variable) for f in findings] == [("B001", "Outflow")]
    assert findings[0].message == (
        "IF THEN ELSE(..., Outlet Capacity, ...) always takes its else branch (its condition is never true) "
        "in every scenario and policy; a switch that never flips is a constant, not a loop"
    )


def test_selector_over_constants_that_never_varies_is_reported(tmp_path):
    model = _variant(tmp_path, MIN_OUTFLOW, "IF THEN ELSE(Switch B2 Drain > 0, Water / Drain Time, 0)")
    findings = check_switching(model)
    assert [(f.code, f.variable) for f in findings] == [("B001", "Outflow")]
    assert findings[0].message.startswith(
        "IF THEN ELSE(..., ..., 0) always takes its then branch (its condition is always true)"
    )


def test_selector_off_every_named_loop_is_not_followed(tmp_path):
    model = _variant(
        tmp_path,
        "Outlet Capacity=",
        "Water Shown=\n\tMAX(Water, 0)\n\t~\tLiter\n\t~\tWater as a gauge shows it.\n\t|\n\nOutlet Capacity=",
    )
    assert [f.variable for f in check_switching(model)] == ["Outflow"]


def test_without_a_catalogue_any_feedback_loop_counts(tmp_path):
    model = _variant(tmp_path, MIN_OUTFLOW, MIN_OUTFLOW)
    (tmp_path / f"{DEAD_BRANCH.stem}.loops.toml").unlink()
    assert [(f.code, f.variable) for f in check_switching(model)] == [("B001", "Outflow")]


def test_named_loop_mostly_off_is_reported():
    findings = check_loop_activity(pyloop.load_model(DEAD_LOOP))
    assert [(f.code, f.severity, f.variable) for f in findings] == [("B002", "error", None)]
    assert re.fullmatch(
        r"B1 Filling scores zero in 8\d % of baseline steps; a MIN, MAX or IF on it probably never switches",
        findings[0].message,
    )


def test_named_loop_active_all_run_is_not_reported(dead_branch):
    assert check_loop_activity(dead_branch) == []


@pytest.mark.parametrize(
    "path, declarations, expected",
    [
        (QUALITY / "tank.mdl", None, set()),
        (DEAD_BRANCH, {"scenarios": NARROW_OUTLET}, set()),
        (DEAD_BRANCH, None, {("B001", "Outflow")}),
        (DEAD_LOOP, None, {("B002", None)}),
    ],
)
def test_house_and_generic_profiles_report_them(path, declarations, expected):
    model = pyloop.load_model(path, declarations=declarations)
    assert liveness(model) == expected
    generic = {(f.code, f.variable) for f in check_model(model, profile="generic") if f.code.startswith("B")}
    assert generic == expected


def test_generic_profile_keeps_both_codes():
    assert {"B001", "B002"} <= GENERIC_CODES


def test_check_command_lists_both_checks(capsys):
    assert main(["check", "--model", str(DEAD_LOOP)]) == 1
    out = capsys.readouterr().out
    assert "  B001: every MIN, MAX and IF THEN ELSE on a loop switches in some declared run: 0 findings" in out
    assert ("  B002: no named loop scores zero in more than three quarters of the baseline steps: "
            "1 finding") in out
    assert "B002 (model): B1 Filling scores zero in" in out


@pytest.mark.parametrize(
    "score, share",
    [
        ([0.0, 1.0, 2.0, 0.0, 0.0], 0.5),  # the initial step is left out
        ([0.0, 1e-15, 1.0, 1.0, 1.0], 0.25),  # below 1e-12 of the peak counts as zero
        ([0.0, 0.0, 0.0], 1.0),
        ([0.0, np.nan, 1.0], 0.0),  # not a number is not zero
    ],
)
def test_zero_share(score, share):
    assert zero_share(np.array(score)) == pytest.approx(share)
