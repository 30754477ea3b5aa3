"""``pyloop run``: run scenarios, write one CSV per run and a comparison
figure, print a summary of the key variables.

The scenario names, the policy and the ``--set`` constants are checked once,
by :func:`pyloop.runner.plan_runs`, before the first run."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import pandas as pd

from pyloop.errors import PyloopError
from pyloop.files import OutputError, write_files
from pyloop.declarations.scenarios import load_scenarios
from pyloop.cli.model_choice import load_chosen_model
from pyloop.cli.set_option import parse_settings


#: ``--format`` -> how one run's frame is written to a path.
TABLE_WRITERS: dict[str, Callable[[pd.DataFrame, Path], None]] = {
    "csv": lambda frame, path: frame.to_csv(path),
    "parquet": lambda frame, path: frame.to_parquet(path, engine="pyarrow"),
    "xlsx": lambda frame, path: frame.to_excel(path, sheet_name="run", engine="openpyxl"),
}


def write_outputs(results, variables, out: Path, fmt: str = "csv") -> list[Path]:
    """Write one table per run (``fmt``: csv, parquet or xlsx) and the
    comparison figure into ``out``, all-or-nothing."""
    from pyloop.plots import comparison_figure, save_figure

    write = TABLE_WRITERS[fmt]
    writers: dict[str, Callable[[Path], None]] = {
        f"{r.name}.{fmt}": (lambda path, r=r: write(r.frame, path)) for r in results
    }
    if variables:
        writers["comparison.png"] = lambda path: save_figure(comparison_figure(results, variables), path)
    return write_files(out, writers)


def chosen_variables(model, names: list[str]) -> list[str]:
    """The variables named by ``--variables``, by canonical name; an unknown
    name raises :class:`PyloopError` with the closest names."""
    from pyloop.errors import suggest

    known = [v.name for v in model.variables if v.kind != "control"]
    chosen = []
    for name in names:
        resolved = model.resolve_name(name)
        if resolved is None or resolved not in known:
            raise PyloopError(f"unknown variable '{name}' in --variables"
                              + (suggest(name, known) or f"; model '{model.name}' has no such variable"))
        if resolved not in chosen:
            chosen.append(resolved)
    return chosen


def checked_saveper(model, saveper: float) -> float:
    """``--saveper``: a positive whole multiple of the model's TIME STEP
    (model time units); otherwise :class:`PyloopError`."""
    step = model.time.time_step
    ratio = saveper / step
    if not (saveper > 0 and math.isfinite(saveper) and abs(ratio - round(ratio)) <= 1e-9 * max(1.0, ratio)):
        raise PyloopError(f"--saveper must be a positive multiple of TIME STEP {step:g}, not {saveper:g}")
    return saveper


def run_scenarios(args: argparse.Namespace) -> int:
    """Run the named scenarios (every one with ``--all``; the model's defaults
    when none is named), write the results into ``--out`` and print a summary."""
    import pandas as pd

    from pyloop.comparison import summary
    from pyloop.runner import key_variables, plan_runs, run_plans

    model = load_chosen_model(args)
    sf = load_scenarios(model)
    from pyloop.plots.style import remember_order

    remember_order("scenario", sf.scenarios)  # each scenario keeps its colour in every figure
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
    # checked before the (possibly long) runs
    variables = chosen_variables(model, args.variables) if args.variables else key_variables(model, sf)
    saveper = checked_saveper(model, args.saveper) if args.saveper is not None else None
    plans = plan_runs(model, names, args.policy, parse_settings(args.set), scenarios=sf, params_owner="--set",
                      strict=args.strict, saveper=saveper,
                      return_columns=variables if args.variables else None)
    results = run_plans(model, plans)
    try:
        written = write_outputs(results, variables, Path(args.out), args.format)
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
