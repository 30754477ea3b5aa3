"""Time loop scoring of a full run against the plain run, in one process.

Usage: python benchmarks/loops_scoring.py [--repeat N] [--scenario NAME] [--max-loops N]

Prints the median time of a plain ``pyloop.run`` and of ``score_run`` on its
result (link scores of every feedback link, loop scores, relative scores,
polarity, dominance phases), interleaved, and their ratio (goal: at most 2).
The model's structure and loop enumeration are built once before timing, as
they depend on the model and not on the run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pyloop
from pyloop.analysis.loops import score_run, structure_and_loops

MODEL = Path(__file__).resolve().parents[1] / "models" / "ai_circular_finance.mdl"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10, help="timed repetitions (default 10)")
    parser.add_argument("--scenario", default="baseline", help="scenario (default baseline)")
    parser.add_argument("--max-loops", type=int, default=10_000,
                        help="most loops enumerated; 200000 scores every loop of the model "
                        "(default 10000: discovery mode)")
    args = parser.parse_args()
    model = pyloop.load_model(MODEL)
    structure_and_loops(model, args.max_loops)
    result = pyloop.run(model, args.scenario)
    score_run(model, result, max_loops=args.max_loops)  # warm up
    plain, scoring = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        result = pyloop.run(model, args.scenario)
        t1 = time.perf_counter()
        analysis = score_run(model, result, max_loops=args.max_loops)
        t2 = time.perf_counter()
        plain.append(t1 - t0)
        scoring.append(t2 - t1)
    p, s = statistics.median(plain), statistics.median(scoring)
    print(f"model {model.name}, run {args.scenario}, {len(result.frame)} steps, "
          f"{analysis.total_loops} loops scored ({analysis.mode}), {args.repeat} repeats")
    print(f"plain run      {p * 1000:8.1f} ms")
    print(f"loop scoring   {s * 1000:8.1f} ms")
    print(f"ratio          {s / p:8.2f}  (goal <= 2)")


if __name__ == "__main__":
    main()
