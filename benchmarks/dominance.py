"""Time per-variable dominance and the modes against the plain run, in one process.

Usage: python benchmarks/dominance.py [--repeat N] [--scenario NAME]

Prints the median time of a plain ``pyloop.run``, of
``variable_dominance`` for each of five key variables on its result, and of
``run_modes`` (the Jacobian over every step, its eigenvalues and the
eigenvalue elasticities of each mode phase), interleaved, with each one's
ratio to the plain run. The model's structure and loop enumeration are built
once before timing, as they depend on the model and not on the run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pyloop
from pyloop.analysis.loops import run_modes, structure_and_loops, variable_dominance

MODEL = Path(__file__).resolve().parents[1] / "models" / "ai_circular_finance.mdl"
KEY_VARIABLES = (
    "Compute Contract Backlog",
    "Operational Capacity",
    "Cloud Debt",
    "Investor Sentiment",
    "AI Lab Cash",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions (default 5)")
    parser.add_argument("--scenario", default="baseline", help="scenario (default baseline)")
    args = parser.parse_args()
    model = pyloop.load_model(MODEL)
    structure_and_loops(model, 10_000)
    result = pyloop.run(model, args.scenario)
    for name in KEY_VARIABLES:  # warm up
        variable_dominance(model, result, name)
    modes = run_modes(model, result)
    plain: list[float] = []
    per_variable: dict[str, list[float]] = {name: [] for name in KEY_VARIABLES}
    mode_times: list[float] = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        result = pyloop.run(model, args.scenario)
        plain.append(time.perf_counter() - t0)
        for name in KEY_VARIABLES:
            t0 = time.perf_counter()
            variable_dominance(model, result, name)
            per_variable[name].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        modes = run_modes(model, result)
        mode_times.append(time.perf_counter() - t0)
    p = statistics.median(plain)
    print(f"model {model.name}, run {args.scenario}, {len(result.frame)} steps, "
          f"{len(modes.stocks)} stocks, {len(modes.phases)} mode phases, {args.repeat} repeats")
    print(f"plain run                           {p * 1000:8.1f} ms")
    for name, times in per_variable.items():
        t = statistics.median(times)
        print(f"dominance {name:<26}{t * 1000:8.1f} ms  ratio {t / p:5.2f}")
    m = statistics.median(mode_times)
    print(f"modes (Jacobian, eigenvalues)       {m * 1000:8.1f} ms  ratio {m / p:5.2f}")


if __name__ == "__main__":
    main()
