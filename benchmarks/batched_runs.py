"""Runs that differ only in constants: one by one against together.

Times, on the main model with its translation cached, the report's 18
scenario and policy runs and the 32 extreme-condition runs of the validity
tests, first one by one (``run_plan``), then together in vectorised batches
(``run_together``), and prints the ratio and the largest relative
difference between the two; then the report's Sobol study (4,352 runs) in
batches of 500 and in the batch size pyloop now chooses.

Usage: python benchmarks/batched_runs.py
"""

from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import pyloop
from pyloop.case import for_model
from pyloop.declarations.paths import declaration_path
from pyloop.declarations.scenarios import load_scenarios
from pyloop.report import ReportSettings
from pyloop.runner import plan_runs, run_plan, run_together
from pyloop.sensitivity.study import sensitivity_study
from pyloop.validation.calibration import read_extremes

MODEL = Path(__file__).resolve().parents[1] / "models" / "ai_circular_finance.mdl"


def compare(label: str, model, plans) -> None:
    run_plan(model, plans[0])  # warm-up
    started = time.perf_counter()
    alone = [run_plan(model, p) for p in plans]
    one_by_one = time.perf_counter() - started
    started = time.perf_counter()
    together = run_together(model, plans)
    batched = time.perf_counter() - started
    worst = max(float(np.max(np.abs(a.frame.to_numpy() - b.frame.to_numpy())
                             / np.maximum(np.abs(a.frame.to_numpy()), 1e-12))) for a, b in zip(alone, together))
    print(f"{label} ({len(plans)} runs): one by one {one_by_one:.1f} s, together {batched:.1f} s "
          f"({one_by_one / batched:.1f}x); largest relative difference {worst:.1e}")


def main() -> None:
    warnings.simplefilter("ignore")
    model = pyloop.load_model(MODEL)
    sf = load_scenarios(model)
    focus = for_model(MODEL).report_settings(ReportSettings()).focus
    plans = plan_runs(model, list(sf.scenarios), scenarios=sf)
    for base in (n for n in focus.scenarios if n in sf.scenarios):
        plans += plan_runs(model, [base], scenarios=sf)
        plans += [plan_runs(model, [base], p, scenarios=sf)[0] for p in sf.policies]
    compare("scenario and policy runs of the report", model, plans)
    extremes = read_extremes(declaration_path(model, "calibration"))
    plans = [plan_runs(model, [n], params=c, scenarios=sf)[0] for c in extremes.values() for n in sf.scenarios]
    compare("extreme-condition runs", model, plans)
    for batch_size in (500, None):
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            sensitivity_study(model, "sobol", 256, 0, scenarios=["baseline"], out=out, keep_series=False,
                              progress=False, **({} if batch_size is None else {"batch_size": batch_size}))
            size = batch_size or "pyloop's choice"
            print(f"Sobol study (4,352 runs), batches of {size}: {time.perf_counter() - started:.1f} s", flush=True)


if __name__ == "__main__":
    main()
