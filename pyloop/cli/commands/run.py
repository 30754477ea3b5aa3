"""``pyloop run``: run scenarios, write one CSV per run and a comparison
figure, print a summary of the key variables.

The scenario names, the policy and the ``--set`` constants are checked once,
by :func:`pyloop.runner.plan_runs`, before the first run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

from pyloop.errors import PyloopError
from pyloop.files import OutputError, write_files
from pyloop.declarations.scenarios import load_scenarios
from pyloop.cli.model_choice import load_chosen_model
from pyloop.cli.set_option import parse_settings


def write_outputs(results, variables, out: Path) -> list[Path]:
    """Write one CSV per run and the comparison figure into ``out``, all-or-nothing."""
    from pyloop.plots import comparison_figure, save_figure

    writers: dict[str, Callable[[Path], None]] = {
        f"{r.name}.csv": (lambda path, r=r: r.frame.to_csv(path)) for r in results
    }
    if variables:
        writers["comparison.png"] = lambda path: save_figure(comparison_figure(results, variables), path)
    return write_files(out, writers)


def run_scenarios(args: argparse.Namespace) -> int:
    """Run the named scenarios (every one with ``--all``; the model's defaults
    when none is named), write the results into ``--out`` and print a summary."""
    import pandas as pd

    from pyloop.runner import key_variables, plan_runs, run_plans, summary

    model = load_chosen_model(args)
    sf = load_scenarios(model)
    if args.all and args.names:
        raise PyloopError("give scenario names or --all, not both")
    if args.all:
        names = list(sf.scenarios)
        if not names:
            names = [None]
    elif args.names:
        names = args.names
    else:
        names = [None]
    variables = key_variables(model, sf)  # checked before the (possibly long) runs
    plans = plan_runs(model, names, args.policy, parse_settings(args.set), scenarios=sf, params_owner="--set")
    results = run_plans(model, plans)
    try:
        written = write_outputs(results, variables, Path(args.out))
    except OutputError as exc:
        raise PyloopError(
            f"cannot write results to '{args.out}': {exc.reason}; choose another directory with --out"
        ) from exc
    except OSError as exc:
        raise PyloopError(
            f"cannot write results to '{args.out}': {exc.strerror or exc}; "
            "choose another directory with --out"
        ) from exc
    if variables:
        table = summary(results, variables)
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print(table.to_string(float_format=lambda x: f"{x:.4g}"))
    settings = plans[0].params
    if settings:
        print("Every run with " + ", ".join(f"{k} = {v:g}" for k, v in settings.items()))
    print(f"Wrote {len(written)} files to {args.out}")
    return 0
