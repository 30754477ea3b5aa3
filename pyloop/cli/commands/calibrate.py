"""``pyloop calibrate``: fit constants to observed time series and print the
best fit, the posterior intervals and their diagnostics."""

from __future__ import annotations

import argparse
from pathlib import Path

from pyloop.errors import PyloopError
from pyloop.engine import load_model
from pyloop.declarations.scenarios import load_scenarios
from pyloop.cli.model_choice import model_path


def calibrate_constants(args: argparse.Namespace) -> int:
    """Calibrate the ``--param`` constants (extending the scenario 'baseline'
    when there is one) to ``--data``, write the results into ``--out`` and
    print a summary."""
    from pyloop.fitting.outputs import write_calibration
    from pyloop.fitting.calibrate import RHAT_LIMIT, CalibrationSettings, Checkpoint, calibrate, fit_parameters
    from pyloop.declarations.observations import observations_path, read_observations
    from pyloop.runner import validate_constants

    if args.workers is not None and args.workers < 1:
        raise PyloopError(f"--workers must be at least 1, not {args.workers}")
    if args.samples < 2:
        raise PyloopError(f"--samples must be at least 2, not {args.samples}")
    model = load_model(model_path(args.model))
    data = Path(args.data) if args.data else observations_path(model.path)
    obs = read_observations(data, model)
    parameters = fit_parameters(model, args.param)
    sf = load_scenarios(model)
    base, extends = {}, None
    if "baseline" in sf.scenarios:
        base, extends = validate_constants(model, sf.resolve("baseline"), "scenario 'baseline'"), "baseline"
    out = Path(args.out).resolve()
    checkpoints = out.parent / f".{out.name}.calibrate-checkpoint"  # kept until the files are written
    settings = CalibrationSettings(seed=args.seed, samples=args.samples, holdout_after=args.holdout_after)
    result = calibrate(
        model, obs, parameters, settings, base=base, extends=extends,
        checkpoint_dir=checkpoints, resume=args.resume,
        workers=args.workers, dask=args.dask,
    )
    written = write_calibration(out, model, result, data.name, workers=args.workers, dask=args.dask)
    Checkpoint(checkpoints, "").remove()
    fit_rows = int((~result.holdout).sum())
    print(f"Calibrated {len(parameters)} constant{'s' if len(parameters) != 1 else ''} of "
          f"'{model.name}' to {fit_rows} observations in {data.name}"
          + (f" (extending scenario '{extends}')" if extends else "")
          + f": payoff {result.fit.payoff:.6g}")
    intervals = result.interval()
    width = max(len(n) for n in result.names)
    print(f"  {'constant':<{width}}  {'best':>11}  {'posterior 5%':>12}  {'95%':>11}  R-hat   ESS")
    for name, value in result.best.items():
        lo, hi = intervals[name]
        d = result.diagnostics[name]
        flag = " !" if not d["r_hat"] <= RHAT_LIMIT else ""
        print(f"  {name:<{width}}  {value:11.5g}  {lo:12.5g}  {hi:11.5g}  {d['r_hat']:5.3f} "
              f"{d['ess']:5.0f}{flag}")
    print(f"Acceptance fraction {result.acceptance:.2f}; {result.chain.positions.shape[1]} walkers, "
          f"{result.total_steps} steps ({result.total_steps - result.chain.steps} burn-in)")
    scores = result.holdout_scores()
    if scores:
        print(f"Held out after {args.holdout_after:g}: {scores['observations']} observations, payoff "
              f"{scores['payoff']:.6g}, {scores['within tolerance']:.0%} within tolerance")
    for warning in result.warnings:
        print(f"warning: {warning}")
    print(f"Wrote {len(written)} files to {args.out}")
    return 0
