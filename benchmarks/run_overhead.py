"""Time pyloop's per-run overhead against a bare PySD run.

For each fixture model, compares the median wall time of

* ``bare``: ``run()`` of an already-loaded PySD model (same columns and
  time settings as pyloop uses), the reference;
* ``pyloop``: :func:`pyloop.run` (validation, fresh state, finiteness check);
* ``pyloop+params``: :func:`pyloop.run` alternating runs that set a
  constant (to its default value, so results stay comparable) with runs that
  do not, so every run takes the path that restores state;
* ``reload``: the alternative way to fresh state, ``model.reload()`` before
  each bare run.

Usage::

    python benchmarks/run_overhead.py [--repeat N]

Translations go to pyloop's usual cache (see ``PYLOOP_CACHE_DIR``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pysd

import pyloop

ROOT = Path(__file__).resolve().parent.parent
MODELS = [
    ROOT / "tests" / "fixtures" / "test-models" / "teacup" / "teacup.mdl",
    ROOT / "tests" / "fixtures" / "test-models" / "SIR" / "SIR.mdl",
    ROOT / "tests" / "models" / "cooling.mdl",
    ROOT / "models" / "ai_circular_finance.mdl",
]


def median_ms(fns: dict, repeat: int) -> dict:
    """Median wall time in milliseconds of each function in ``fns``.

    The functions are called in turn, round after round, so that drifts of
    the machine's speed affect them all alike.
    """
    times = {k: [] for k in fns}
    for fn in fns.values():
        fn()  # warm up
    for _ in range(repeat):
        for key, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    return {k: statistics.median(v) * 1e3 for k, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30, help="runs per measurement")
    args = parser.parse_args()

    print(f"{'model':<20} {'bare ms':>8} {'pyloop ms':>10} {'overhead':>9} "
          f"{'+params ms':>11} {'overhead':>9} {'reload ms':>10} {'overhead':>9}")
    for path in MODELS:
        if not path.is_file():
            continue
        model = pyloop.load_model(path)
        engine = pysd.load(str(model.translation))
        cols = list(model.simulate().columns)
        t = model.time
        const, changed = next(iter(model.defaults.items()))

        def bare():
            engine.run(return_columns=cols, final_time=t.final_time,
                       time_step=t.time_step, saveper=t.saveper)

        def reload_bare():
            engine.reload()
            bare()

        flip = [False]

        def with_params():
            flip[0] = not flip[0]
            pyloop.run(model, params={const: changed} if flip[0] else None)

        ms = median_ms(
            {"bare": bare, "pyloop": lambda: pyloop.run(model),
             "params": with_params, "reload": reload_bare},
            args.repeat,
        )
        b, p, q, r = ms["bare"], ms["pyloop"], ms["params"], ms["reload"]
        print(f"{model.name:<20} {b:8.2f} {p:10.2f} {100 * (p / b - 1):8.1f}% "
              f"{q:11.2f} {100 * (q / b - 1):8.1f}% {r:10.2f} {100 * (r / b - 1):8.1f}%")


if __name__ == "__main__":
    main()
