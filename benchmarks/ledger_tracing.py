"""Time the money ledger against the run it audits.

In one process, alternating the methods, takes the median wall time of

* ``run``: :func:`pyloop.run` of the baseline scenario (the reference);
* ``checks``: :func:`pyloop.analysis.ledger.check_stocks` and
  :func:`pyloop.analysis.ledger.check_ring` on that run;
* ``tracing``: :func:`pyloop.analysis.ledger.trace_origins` of that run;
* ``who paid``: :func:`pyloop.analysis.ledger.who_paid` for ten years, from the
  tracing;
* ``matrices``: :func:`pyloop.analysis.ledger.transaction_matrix` and
  :func:`pyloop.analysis.ledger.balance_sheet` at every saved time.

Goal: tracing a full baseline run costs less than the run itself.

Usage::

    python benchmarks/ledger_tracing.py [--repeat N] [--scenario NAME]

Translations go to pyloop's usual cache (see ``PYLOOP_CACHE_DIR``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pyloop
import pyloop.analysis.ledger as lg

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "ai_circular_finance.mdl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="timed rounds (default 20)")
    parser.add_argument("--scenario", default="baseline", help="scenario to run (default baseline)")
    args = parser.parse_args()

    model = pyloop.load_model(MODEL)
    ledger = lg.load_ledger(model)
    result = pyloop.run(model, args.scenario)
    tracing = lg.trace_origins(result, ledger)
    years = lg.report_years(result)
    methods = {
        "run": lambda: pyloop.run(model, args.scenario),
        "checks": lambda: (
            lg.check_stocks(result.frame, ledger),
            lg.check_ring(result.frame, ledger),
        ),
        "tracing": lambda: lg.trace_origins(result, ledger),
        "who paid": lambda: lg.who_paid(result, ledger, years, tracing),
        "matrices": lambda: (
            lg.transaction_matrix(result, ledger),
            lg.balance_sheet(result, ledger),
        ),
    }
    for method in methods.values():  # warm up
        method()
    times: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(args.repeat):
        for name, method in methods.items():
            start = time.perf_counter()
            method()
            times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(values) for name, values in times.items()}
    steps = len(result.frame.index) - 1
    print(
        f"{MODEL.name}, scenario {args.scenario}: {steps} steps, {len(ledger.flows)} flows, "
        f"{len(ledger.cash)} pools, {len(tracing.origins)} origins; medians of {args.repeat} rounds"
    )
    print("| | time | / run |")
    print("|---|---|---|")
    for name, value in median.items():
        print(f"| {name} | {value * 1e3:.2f} ms | {value / median['run']:.3f} |")
    ratio = median["tracing"] / median["run"]
    print(f"tracing / run = {ratio:.3f} (goal: below 1)")


if __name__ == "__main__":
    main()
