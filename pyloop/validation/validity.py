"""Validity tests of a model's structure and behaviour (Sterman 2000, ch. 21;
Barlas 1996), measured on finished runs: model quality, the cross-engine
comparison, non-negative stocks, extreme conditions and money conservation.
"""

from __future__ import annotations

import sys
import warnings
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from pyloop.declarations.paths import declaration_path, has_declarations
from pyloop.declarations.scenarios import ScenarioFile
from pyloop.engine import Model
from pyloop.errors import PyloopError
from pyloop.comparison import variable_columns
from pyloop.runner import RangeWarning, RunResult, plan_runs, run_together

__all__ = ["validity_tests"]


def _lowest(frame: pd.DataFrame, stock: str) -> float:
    """Smallest value of a stock (of any element, if subscripted)."""
    return float(frame[variable_columns(frame.columns, stock)].min().min())


def validity_tests(
    model: Model,
    results: Sequence[RunResult],
    scenario_file: ScenarioFile,
    names: Sequence[str],
    ring_errors: Mapping[str, float] | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Run the validity tests and return one row per test.

    Args:
        model: the model.
        results: its scenario runs.
        scenario_file: the scenarios the runs come from.
        names: the scenario names run (the extreme-condition runs repeat them).
        ring_errors: largest ring conservation error (B$) of each audited
            scenario, from the money ledger; no conservation row without it.
        progress: a progress bar on stderr with the tests' runs done and the
            time left (None: when stderr is a terminal).

    Returns:
        Columns ``test``, ``result`` (pass, FAIL, not run, or a count of
        errors) and ``detail``.
    """
    from tqdm import tqdm

    from pyloop.validation.calibration import read_extremes

    checks = declaration_path(model, "calibration")
    extremes = read_extremes(checks) if checks.is_file() else {}
    # the quality gate (with its halved-step runs) counts as one step
    bar = tqdm(total=1 + len(results) + len(extremes) * len(names), desc="validity tests", unit="run",
               file=sys.stderr, leave=False, disable=None if progress is None else not progress)
    try:
        return pd.DataFrame(_validity_rows(model, results, scenario_file, names, ring_errors, extremes, bar))
    finally:
        bar.close()


def _validity_rows(model, results, scenario_file, names, ring_errors, extremes, bar) -> list[dict]:
    """The rows of :func:`validity_tests`, advancing ``bar`` by one per run."""
    from pyloop.engine.simlin import run as simlin_run
    from pyloop.engine.simlin import simlin_ident
    from pyloop.validation.quality import check_model

    rows = []
    # a model without any of our declaration files is judged by the generic profile only
    profile = "house" if has_declarations(model) else "generic"
    try:
        findings = check_model(model, profile=profile)
        errors = [f for f in findings if f.severity == "error"]
        quality = {
            "result": "pass" if not errors else f"{len(errors)} error(s)",
            "detail": "; ".join(f"{f.code} {f.variable or ''} {f.message}" for f in findings[:5]) or "no finding",
        }
    except PyloopError as exc:  # e.g. a model the unit checker cannot read: say so, do not fail the report
        quality = {"result": "not run", "detail": str(exc)}
    bar.update(1)
    rows.append(
        {
            "test": f"Model quality (pyloop check --profile {profile}: units by Simlin"
            + (", documentation, buried numbers, diagram" if profile == "house" else "")
            + ", loops, integration error)",
            **quality,
        }
    )
    idents = {simlin_ident(v.name): v.name for v in model.variables}
    worst = 0.0
    try:
        other_times = []  # runs for which the engines save different times
        for result in results:
            other = simlin_run(model.path, result.constants, idents)
            bar.update(1)
            times = result.frame.index.intersection(other.index)
            if len(times) < len(result.frame.index) or len(times) < len(other.index):
                other_times.append(result.name)
            for column in result.frame.columns:
                if column in other.columns and len(times):
                    a = result.frame.loc[times, column].to_numpy(dtype=float)
                    scale = max(float(np.max(np.abs(a))), 1e-12)
                    b = other.loc[times, column].to_numpy(dtype=float)
                    worst = max(worst, float(np.max(np.abs(a - b))) / scale)
        cross = {
            "result": "pass" if worst < 1e-6 and not other_times else "FAIL",
            "detail": f"largest difference {worst:.1e} of a variable's range (limit 1e-6)"
            + (f"; the engines save different times in {', '.join(other_times)}" if other_times else ""),
        }
    except PyloopError as exc:  # a model Simlin cannot read or run: say so, do not fail the report
        cross = {"result": "not run", "detail": str(exc)}
    rows.append({"test": "Cross-engine: PySD and Simlin on the same model file, every scenario", **cross})
    stocks = [s for s in model.stocks if (model.variable(s).range or (None, None))[0] == 0]
    negative = [
        (r.name, s, _lowest(r.frame, s))
        for r in results
        for s in stocks
        if _lowest(r.frame, s) < -1e-9
    ]
    rows.append(
        {
            "test": "No stock declared non-negative ([0,?]) falls below zero in any scenario",
            "result": "pass" if not negative else "FAIL",
            "detail": "; ".join(f"{n}: {s} {v:.3g}" for n, s, v in negative[:5]) or f"{len(stocks)} stocks checked",
        }
    )
    if extremes:
        failures = []
        cases, plans = [], []
        for case, constants in extremes.items():
            for name in names:
                try:
                    with warnings.catch_warnings():  # an extreme is outside a range by design
                        warnings.simplefilter("ignore", RangeWarning)
                        [plan] = plan_runs(model, [name], params=constants, scenarios=scenario_file)
                except PyloopError as exc:
                    failures.append(f"{case}, {name}: {exc}")
                    bar.update(1)
                    continue
                cases.append((case, name))
                plans.append(plan)
        # every extreme run in one vectorised run: they differ only in constants
        for (case, name), result in zip(cases, run_together(model, plans)):
            bar.update(1)
            if isinstance(result, PyloopError):
                failures.append(f"{case}, {name}: {result}")
                continue
            low = [s for s in stocks if _lowest(result.frame, s) < -1e-9]
            if low:
                failures.append(f"{case}, {name}: {', '.join(low)} below zero")
        rows.append(
            {
                "test": "Extreme conditions: " + "; ".join(extremes),
                "result": "pass" if not failures else "FAIL",
                "detail": "; ".join(failures[:5]) or f"{len(extremes) * len(names)} runs without NaN, error or negative stock",
            }
        )
    if ring_errors:
        worst = max(ring_errors.values())
        rows.append(
            {
                "test": "Conservation: money in the ring changes only by the flows across its boundary",
                "result": "pass",
                "detail": f"largest error {worst:.1g} B$ in {', '.join(ring_errors)} (tolerance 1e-6 B$)",
            }
        )
    return rows
