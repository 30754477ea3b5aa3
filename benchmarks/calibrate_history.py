"""Calibrating the AI circular-finance model to its history: wall time and R-hat.

Runs ``pyloop calibrate`` on ``models/ai_circular_finance.mdl`` as a user
would (a fresh process, the translation cached), fitting the eight constants
of :data:`PARAMS` (their declared ranges) to the observations of
``models/ai_circular_finance.observations.csv``: differential evolution,
then the posterior sample. The constants are those the observations inform
(the Laplace approximation at the baseline puts each one's posterior sd
well inside its range, and the best fit sits inside every range).

Prints the wall time of the whole command, the largest R-hat and the
smallest effective sample size over the constants, the acceptance fraction
and the integrated autocorrelation times (the goal: R-hat below
1.05 for every constant within 3 minutes on 2 cores), and with
``--holdout-after`` the out-of-sample score of the later observations.

Usage: python benchmarks/calibrate_history.py [--samples 500] [--workers 2] [--holdout-after 2025.85]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "ai_circular_finance.mdl"

#: The constants fitted (each over its declared Vensim range).
PARAMS = (
    "Initial AI Revenue",
    "Maximum Revenue Growth Rate",
    "Base Interest Rate",
    "Reference Credit Spread",
    "Initial Contract Value",
    "Reference Commitment Multiple",
    "Construction Time",
    "Chip Maker Base Enterprise Value",
)


def command(samples: int, workers: int, out: Path, holdout_after: float | None) -> list[str]:
    """The ``pyloop calibrate`` command line of the benchmark."""
    args = [sys.executable, "-m", "pyloop", "calibrate", "--model", str(MODEL)]
    for name in PARAMS:
        args += ["--param", name]
    args += ["--samples", str(samples), "--workers", str(workers), "--out", str(out)]
    if holdout_after is not None:
        args += ["--holdout-after", str(holdout_after)]
    return args


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=None, help="MCMC steps per walker (default: pyloop's)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--holdout-after", type=float, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "fit"
        argv = command(args.samples or 0, args.workers, out, args.holdout_after)
        if args.samples is None:  # pyloop's default --samples
            i = argv.index("--samples")
            del argv[i:i + 2]
        print(" ".join(f'"{a}"' if " " in a else a for a in argv[1:]))
        started = time.perf_counter()
        subprocess.run(argv, check=True, cwd=ROOT)
        wall = time.perf_counter() - started
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        tau = autocorrelation_times(out / "posterior_samples.csv")
    r_hat = max(summary["r_hat"].values())
    ess = min(summary["ess"].values())
    print(f"wall time {wall:.1f} s; max R-hat {r_hat:.3f}; min ESS {ess:.0f}; payoff {summary['payoff']:.4g}; "
          f"{summary['walkers']} walkers x {summary['steps']} steps ({summary['burn-in steps']} burn-in); "
          f"{summary['global fit']['generations']} DE generations")
    print(f"acceptance fraction {summary['acceptance fraction']:.2f}; integrated autocorrelation time of the "
          f"kept steps {min(tau.values()):.1f}-{max(tau.values()):.1f} steps (emcee's estimate, per constant)")
    holdout = summary.get("holdout")
    if holdout:
        print(f"held out after {holdout['after']:g}: {holdout['observations']} observations, payoff "
              f"{holdout['payoff']:.4g}, {holdout['within tolerance']:.0%} within tolerance")
        for variable, score in holdout["variables"].items():
            print(f"  {variable}: rms standardised error {score['rms standardised error']:.3g}")


def autocorrelation_times(samples_csv: Path) -> dict[str, float]:
    """emcee's integrated autocorrelation time of each constant over the kept
    steps of ``posterior_samples.csv`` (walkers as an ensemble)."""
    import emcee
    import pandas as pd

    frame = pd.read_csv(samples_csv).sort_values(["step", "walker"])
    steps, walkers = frame["step"].nunique(), frame["walker"].nunique()
    chain = frame[list(PARAMS)].to_numpy().reshape(steps, walkers, len(PARAMS))
    return dict(zip(PARAMS, emcee.autocorr.integrated_time(chain, quiet=True)))


if __name__ == "__main__":
    main()
