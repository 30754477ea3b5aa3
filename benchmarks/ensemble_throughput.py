"""Throughput of ensemble executors on the AI circular-finance model.

One Monte Carlo experiment (seed 0, the model's uncertainty file) timed in
one run of this script:

- vectorised: every sample of the experiment in one PySD run (batches of 500);
- serial PySD runs that reuse one loaded model (``--serial`` samples timed,
  extrapolated to the whole experiment);
- a naive loop that builds a fresh PySD model per run (``--naive`` samples);
- pysimlin running the same ``.mdl`` sample by sample (``--simlin`` samples);
- EMA Workbench's PySD connector on ``--ema`` runs (its own sequential
  evaluator), against the vectorised executor on the same runs;
- parallel efficiency of 2 worker processes running samples one by one
  (``--parallel`` samples), and of 2 processes each running vectorised batches.

Usage: python benchmarks/ensemble_throughput.py [--samples 1000] [--serial 40]
       [--naive 10] [--simlin 40] [--ema 200] [--parallel 60]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "ai_circular_finance.mdl"


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--serial", type=int, default=40)
    ap.add_argument("--naive", type=int, default=10)
    ap.add_argument("--simlin", type=int, default=40)
    ap.add_argument("--ema", type=int, default=200)
    ap.add_argument("--parallel", type=int, default=60)
    args = ap.parse_args()
    os.environ.setdefault("PYLOOP_CACHE_DIR", str(Path(tempfile.gettempdir()) / "pyloop-bench-cache"))
    warnings.simplefilter("ignore")

    import pysd

    import pyloop
    from pyloop.declarations.uncertainty import read_uncertainty
    from pyloop.sensitivity.batch import Task, evaluate
    from pyloop.sensitivity.executors import iter_processes
    from pyloop.sensitivity.sampling import sample

    model = pyloop.load_model(MODEL)
    spec = read_uncertainty(model)
    values = spec.transform(sample(spec, "mc", args.samples, seed=0))
    names = spec.names
    task = Task(str(model.path), {}, tuple(names), spec.outcomes, spec.bands, 4)
    rows: list[tuple[str, int, float]] = []

    def params(i: int) -> dict[str, float]:
        return {n: float(values[i, j]) for j, n in enumerate(names)}

    # vectorised (engine built once, as a worker does)
    evaluate(task, values[:2], vectorise=True)
    t, _ = _timed(lambda: [evaluate(task, values[k : k + 500]) for k in range(0, len(values), 500)])
    rows.append(("vectorised (batches of 500)", len(values), t))

    # serial PySD runs reusing one loaded model
    t, _ = _timed(lambda: evaluate(task, values[: args.serial], vectorise=False))
    rows.append(("serial PySD, one loaded model", args.serial, t))

    # naive: a fresh PySD model per run
    py_file = model.translation

    def naive():
        for i in range(args.naive):
            fresh = pysd.load(str(py_file))
            fresh.run(params={model.variable(n).py_name: v for n, v in params(i).items()})

    t, _ = _timed(naive)
    rows.append(("naive: fresh PySD model per run", args.naive, t))

    # pysimlin sample by sample
    import simlin

    sim = simlin.load(str(MODEL))

    def simlin_runs():
        for i in range(args.simlin):
            sim.run(overrides=params(i), analyze_loops=False)

    t, _ = _timed(simlin_runs)
    rows.append(("pysimlin, sample by sample", args.simlin, t))

    # EMA Workbench's PySD connector vs vectorised on the same runs
    from ema_workbench import RealParameter, ScalarOutcome, SequentialEvaluator, ema_logging
    from ema_workbench.connectors.pysd_connector import PysdModel
    
    ema_logging.log_to_stderr(logging.ERROR)
    import shutil

    ema_dir = Path(tempfile.mkdtemp(prefix="pyloop-ema-"))  # EMA translates beside the .mdl
    shutil.copyfile(MODEL, ema_dir / MODEL.name)
    ema_model = PysdModel("circular", mdl_file=str(ema_dir / MODEL.name))
    ema_model.uncertainties = [RealParameter(p.name, p.low, p.high) for p in spec.parameters]
    ema_model.outcomes = [ScalarOutcome("AI Lab Cash", function=np.min)]
    ema_model.time_horizon = model.time.final_time

    def ema_runs():
        with SequentialEvaluator(ema_model) as evaluator:
            return evaluator.perform_experiments(args.ema)

    t_ema, _ = _timed(ema_runs)
    rows.append(("EMA Workbench PySD connector", args.ema, t_ema))
    t_vec_ema, _ = _timed(lambda: evaluate(task, values[: args.ema]))
    rows.append(("vectorised, same number of runs", args.ema, t_vec_ema))

    # parallel efficiency of 2 worker processes
    def pool(workers: int, vectorise: bool, count: int, batch: int):
        chunks = [(k, values[k : k + batch]) for k in range(0, count, batch)]
        start = time.perf_counter()
        list(iter_processes(task, chunks, workers, vectorise))
        return time.perf_counter() - start

    eff = {}
    for label, vectorise, count, batch in (
        ("serial runs", False, args.parallel, max(1, args.parallel // 8)),
        ("vectorised batches", True, len(values), 125),
    ):
        t1 = pool(1, vectorise, count, batch)
        t2 = pool(2, vectorise, count, batch)
        eff[label] = (count, t1, t2, t1 / (2 * t2))

    vec_rate = rows[0][1] / rows[0][2]
    print(f"{'method':<36} {'runs':>6} {'time s':>8} {'runs/s':>9} {'vectorised is':>14}")
    for name, n, t in rows:
        rate = n / t
        print(f"{name:<36} {n:>6} {t:>8.2f} {rate:>9.1f} {vec_rate / rate:>13.1f}x")
    print(f"EMA Workbench vs vectorised on {args.ema} runs: {t_ema / t_vec_ema:.1f}x")
    print("parallel efficiency of 2 worker processes (each pool loads the model once per worker, included):")
    for label, (n, t1, t2, e) in eff.items():
        print(f"  {label:<20} {n:>5} runs: 1 worker {t1:.2f} s, 2 workers {t2:.2f} s, efficiency {e:.0%}")


if __name__ == "__main__":
    sys.exit(main())
