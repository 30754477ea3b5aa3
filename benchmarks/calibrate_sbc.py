"""Simulation-based calibration (Talts et al. 2018) of ``pyloop calibrate`` on SIR.

For each of ``--datasets`` draws of ``Contact Infectivity`` (0.1 to 1) and
``Duration`` (1 to 15 days) from their uniform priors: simulate the SIR test
model (its time step coarsened to 0.25 day so the study fits in minutes),
observe ``Infectious`` every 4 days up to day 60 with Gaussian noise (sd 5 %
of a reference run at the ranges' midpoints + 1 person, the same for every
dataset), fit it (global fit, then ``--samples`` MCMC steps
per walker) and record the rank of each true constant among ``--draws``
posterior draws spread evenly over the kept chain. If the posterior is
right, the ranks are uniform on 0..draws; the script prints a chi-square test
over ``--bins`` equal bins and a Kolmogorov-Smirnov test of the normalised
ranks against the uniform distribution, for each constant, and the time.

With ``--grid K ...`` it also prints, for those datasets, the posterior's
mean, sd and probability below the true value computed exactly on a grid
beside the chain's: a check of the sampler independent of the ranks.

Usage: python benchmarks/calibrate_sbc.py [--datasets 40] [--samples 400]
       [--draws 99] [--bins 5] [--seed 0] [--grid K ...]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SIR = ROOT / "tests" / "fixtures" / "test-models" / "SIR" / "SIR.mdl"
TRUE_RANGES = {"Contact Infectivity": (0.1, 1.0), "Duration": (1.0, 15.0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", type=int, default=40)
    ap.add_argument("--samples", type=int, default=400, help="MCMC steps per walker")
    ap.add_argument("--draws", type=int, default=99, help="posterior draws ranked against")
    ap.add_argument("--bins", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--grid", type=int, nargs="*", default=[], metavar="K",
                    help="also compare the posterior of dataset K (1, 2, ...) with the exact one on a grid")
    args = ap.parse_args()
    os.environ.setdefault("PYLOOP_CACHE_DIR", str(Path(tempfile.gettempdir()) / "pyloop-bench-cache"))
    from scipy import stats

    import pyloop
    from pyloop.fitting.calibrate import CalibrationSettings, FitParameter, calibrate
    from pyloop.declarations.observations import observations_from_arrays

    work = Path(tempfile.mkdtemp(prefix="pyloop-sbc-"))
    source = SIR.read_text().replace("TIME STEP  = 0.03125", "TIME STEP  = 0.25")
    (work / "SIR.mdl").write_text(source)
    model = pyloop.load_model(work / "SIR.mdl")
    params = tuple(FitParameter(n, lo, hi) for n, (lo, hi) in TRUE_RANGES.items())
    rng = np.random.default_rng(args.seed)
    times = np.arange(4.0, 61.0, 4.0)
    # the noise sd must not depend on the true constants (it would tell the
    # posterior about them): 5 % of a reference run at the ranges' midpoints + 1 person
    middle = {p.name: (p.low + p.high) / 2 for p in params}
    reference = model.simulate(middle, return_columns=["Infectious"])
    sd = 0.05 * np.abs(np.interp(times, reference.index.to_numpy(dtype=float),
                                 reference["Infectious"].to_numpy(dtype=float))) + 1.0
    ranks = {p.name: [] for p in params}
    started = time.perf_counter()
    for k in range(args.datasets):
        true = {p.name: float(rng.uniform(p.low, p.high)) for p in params}
        frame = model.simulate(true, return_columns=["Infectious"])
        clean = np.interp(times, frame.index.to_numpy(dtype=float), frame["Infectious"].to_numpy(dtype=float))
        obs = observations_from_arrays(["Infectious"] * len(times), times, clean + rng.normal(0.0, sd), sd)
        settings = CalibrationSettings(seed=args.seed + k, samples=args.samples)
        result = calibrate(model, obs, params, settings, progress=False)
        flat = result.chain.flat()
        picks = flat[np.linspace(0, len(flat) - 1, args.draws).round().astype(int)]
        for j, p in enumerate(params):
            ranks[p.name].append(int((picks[:, j] < true[p.name]).sum()))
        rhat = max(d["r_hat"] for d in result.diagnostics.values())
        print(f"dataset {k + 1:3d}: true " + ", ".join(f"{v:.4g}" for v in true.values())
              + "; ranks " + ", ".join(str(ranks[p.name][-1]) for p in params)
              + f"; max R-hat {rhat:.3f}; {time.perf_counter() - started:.0f} s", flush=True)
        if k + 1 in args.grid:
            exact_comparison(model, params, obs, flat, true)
    elapsed = time.perf_counter() - started
    print(f"\n{args.datasets} datasets, {args.samples} steps per walker, ranks among {args.draws} draws, "
          f"{elapsed:.0f} s ({elapsed / args.datasets:.1f} s per dataset)")
    for name, r in ranks.items():
        r = np.array(r)
        counts = np.histogram(r, bins=args.bins, range=(0, args.draws + 1))[0]
        chi2 = stats.chisquare(counts)
        ks = stats.kstest((r + 0.5) / (args.draws + 1), "uniform")
        print(f"{name}: rank counts in {args.bins} bins {counts.tolist()}; chi-square p = {chi2.pvalue:.3f}; "
              f"KS p = {ks.pvalue:.3f} ({'uniform at 5 %' if min(chi2.pvalue, ks.pvalue) >= 0.05 else 'NOT uniform at 5 %'})")


def exact_comparison(model, params, obs, flat: np.ndarray, true: dict[str, float], points: int = 301) -> None:
    """Print, for each constant, the mean, sd and probability below the true
    value of the exact posterior (on a ``points`` x ``points`` grid of the two
    ranges, one vectorised run of the payoff) beside those of the chain."""
    from pyloop.fitting.evaluation import Evaluator

    axes = [np.linspace(p.low, p.high, points) for p in params]
    grid = np.column_stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")])
    with Evaluator(model, params, {}) as evaluator:
        payoff = np.concatenate([evaluator.payoff(grid[i:i + 5000], obs) for i in range(0, len(grid), 5000)])
    weight = np.exp(-0.5 * (payoff - np.min(payoff)))
    weight /= weight.sum()
    for j, p in enumerate(params):
        mean = float(weight @ grid[:, j])
        sd = float(np.sqrt(weight @ (grid[:, j] - mean) ** 2))
        below = float(weight[grid[:, j] < true[p.name]].sum())
        print(f"    {p.name}: exact mean {mean:.5g}, sd {sd:.3g}, P(below true) {below:.3f}; chain "
              f"{flat[:, j].mean():.5g}, {flat[:, j].std():.3g}, {(flat[:, j] < true[p.name]).mean():.3f} "
              f"(grid spacing {axes[j][1] - axes[j][0]:.3g})", flush=True)


if __name__ == "__main__":
    main()
