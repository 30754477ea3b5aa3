"""Global fit: pyloop's vectorised differential evolution against SciPy's plain one.

The same problem for both: the SIR test model, its two constants
``Contact Infectivity`` (0.1 to 1) and ``Duration`` (1 to 15 days) fitted to
15 noisy observations of ``Infectious`` (days 4 to 60, sd 5 % + 1 person,
drawn from a run with 0.3 and 5, noise seed 7); the same payoff (weighted
sum of squared standardised errors), the same seed and DE settings
(``popsize``, ``tol``, ``maxiter``), and an L-BFGS-B polish at the end.

- pyloop: ``pyloop.fitting.calibrate.global_fit``: ``differential_evolution(vectorized=True)``,
  each generation one PySD run for the whole population;
- SciPy plain: ``differential_evolution(vectorized=False, workers=1)``, one
  PySD run (``Model.simulate``, one loaded model) per evaluation.

Prints each optimiser's best payoff (they should agree within 1 %), its
evaluations and time, and the time per model evaluation.

Usage: python benchmarks/calibrate_optimisers.py [--popsize 15] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SIR = ROOT / "tests" / "fixtures" / "test-models" / "SIR" / "SIR.mdl"


def problem():
    import pyloop
    from pyloop.fitting.calibrate import FitParameter
    from pyloop.declarations.observations import observations_from_arrays

    model = pyloop.load_model(SIR)
    times = np.arange(4.0, 61.0, 4.0)
    frame = model.simulate({"Contact Infectivity": 0.3, "Duration": 5.0}, return_columns=["Infectious"])
    clean = np.interp(times, frame.index.to_numpy(dtype=float), frame["Infectious"].to_numpy(dtype=float))
    sd = 0.05 * clean + 1.0
    noisy = clean + np.random.default_rng(7).normal(0.0, sd)
    obs = observations_from_arrays(["Infectious"] * len(times), times, noisy, sd)
    params = (FitParameter("Contact Infectivity", 0.1, 1.0), FitParameter("Duration", 1.0, 15.0))
    return model, obs, params


def plain_scipy(model, obs, params, settings):
    """SciPy's serial DE, one ``Model.simulate`` per evaluation."""
    from scipy.optimize import differential_evolution

    from pyloop.fitting.calibrate import payoff

    names = [p.name for p in params]
    horizon = float(obs.time.max())
    calls = [0]

    def energy(x):
        calls[0] += 1
        frame = model.simulate(dict(zip(names, map(float, x))), return_columns=["Infectious"],
                               final_time=horizon)
        values = np.interp(obs.time, frame.index.to_numpy(dtype=float), frame["Infectious"].to_numpy(dtype=float))
        return float(payoff(values[None, :], obs)[0])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = differential_evolution(
            energy, [(p.low, p.high) for p in params], vectorized=False, workers=1, seed=settings.seed,
            popsize=settings.popsize, maxiter=settings.maxiter, tol=settings.tol, polish=True,
        )
    return res, calls[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--popsize", type=int, default=15)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.environ.setdefault("PYLOOP_CACHE_DIR", str(Path(tempfile.gettempdir()) / "pyloop-bench-cache"))
    from pyloop.fitting.calibrate import CalibrationSettings, Evaluator, global_fit

    model, obs, params = problem()
    settings = CalibrationSettings(seed=args.seed, popsize=args.popsize)

    with Evaluator(model, params) as evaluator:
        evaluator.payoff(np.array([[0.3, 5.0]]), obs)  # load the vectorised engine before timing
        start = time.perf_counter()
        fit = global_fit(evaluator, obs, settings, progress=False)
        t_vec = time.perf_counter() - start

    start = time.perf_counter()
    res, n_plain = plain_scipy(model, obs, params, settings)
    t_plain = time.perf_counter() - start

    per_vec = t_vec / fit.evaluations
    per_plain = t_plain / n_plain
    gap = abs(fit.payoff - res.fun) / abs(res.fun)
    print(f"SIR, 2 constants, {len(obs)} observations, seed {args.seed}, popsize {args.popsize} "
          f"(population {args.popsize * len(params)})")
    print(f"{'optimiser':<34} {'payoff':>10} {'evaluations':>12} {'time':>9} {'per evaluation':>15}")
    print(f"{'pyloop (vectorised DE)':<34} {fit.payoff:10.5f} {fit.evaluations:12d} {t_vec:8.2f}s "
          f"{1e3 * per_vec:13.3f}ms")
    print(f"{'scipy plain (serial DE)':<34} {res.fun:10.5f} {n_plain:12d} {t_plain:8.2f}s "
          f"{1e3 * per_plain:13.3f}ms")
    print(f"best values: pyloop {', '.join(f'{v:.5g}' for v in fit.x)}; scipy {', '.join(f'{v:.5g}' for v in res.x)}")
    print(f"payoff difference {100 * gap:.3f} % (goal: within 1 %): {'met' if gap <= 0.01 else 'NOT met'}")
    speed = per_plain / per_vec
    print(f"time per evaluation: vectorised is {speed:.1f}x faster (goal: 30x): "
          f"{'met' if speed >= 30 else 'NOT met'}")


if __name__ == "__main__":
    main()
