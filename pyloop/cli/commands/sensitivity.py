"""``pyloop sensitivity``: sample the uncertain constants, run every sample,
write the ensemble and print its indices or percentiles and PRIM boxes."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pyloop.errors import PyloopError
from pyloop.engine import Model
from pyloop.cli.model_choice import load_chosen_model
from pyloop.text_format import format_bound

if TYPE_CHECKING:
    from pyloop.sensitivity.result import EnsembleResult


def check_something_to_sample(model: Model) -> None:
    """Raise a one-line error when a model has neither an uncertainty file
    nor a constant with a declared range (nothing to sample)."""
    from pyloop.declarations.paths import declaration_path
    from pyloop.declarations.uncertainty import read_uncertainty

    path = declaration_path(model, "uncertainty")
    if path.is_file():
        return
    spec = read_uncertainty(model)  # the default: ranged constants, final value of each stock
    missing = (
        "no constant with a declared [min,max] range" if not spec.parameters
        else "no stock whose final value could be the outcome" if not spec.outcomes
        else None
    )
    if missing:
        raise PyloopError(
            f"model '{model.name}' has no uncertainty file ('{path.name}' beside it, or "
            f"--uncertainty FILE) and {missing}; write one to say what to sample and measure"
        )


def sampled_line(label: str, result: "EnsembleResult", declared: Sequence[str]) -> str:
    """One line saying how many of the ``declared`` uncertain constants the
    ensemble of scenario ``label`` sampled and which it kept at one value
    (set by its scenario or policy, or declared only for other scenarios)."""
    sampled = set(result.spec.names)
    kept = [name for name in declared if name not in sampled]
    count = len(result.spec.names)
    line = f"{label}: {count} uncertain constant{'' if count == 1 else 's'} sampled"
    if kept:
        line += f"; fixed by the scenario or not declared for it: {', '.join(kept)}"
    return line


def study_sensitivity(args: argparse.Namespace) -> int:
    """Run the sensitivity study of ``--method`` under each ``--scenario``,
    write it into ``--out`` and print a summary per scenario."""
    import pandas as pd

    from pyloop.sensitivity.study import sensitivity_study

    if args.samples < 1:
        raise PyloopError(f"--samples must be at least 1, not {args.samples}")
    if args.workers is not None and args.workers < 1:
        raise PyloopError(f"--workers must be at least 1, not {args.workers}")
    model = load_chosen_model(args)
    check_something_to_sample(model)
    from pyloop.declarations.uncertainty import read_uncertainty

    declared = read_uncertainty(model, outcome_sets=["loops"] if args.loop_outcomes else ())
    extra = {"spec": declared} if args.loop_outcomes else {}
    if args.dask:
        executor = "dask"
    elif args.workers and args.workers > 1:
        executor = "processes"
    else:
        executor = "vectorised"
    study = sensitivity_study(
        model, args.method, args.samples, args.seed,
        scenarios=args.scenario or [None], policy=args.policy, out=args.out, before=args.before,
        executor=executor, workers=args.workers, dask_address=args.dask, resume=args.resume,
        overwrite=args.overwrite, series_format=args.series_format, **extra,
    )
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_rows", 200):
        for label, result in study.results.items():
            runs = len(result.samples)
            print(f"{label}: {len(result.outcomes)} of {runs} runs ({args.method}, seed {args.seed})")
            print(sampled_line(label, result, declared.names))
            if label in study.indices:
                print(study.indices[label].to_string(float_format=lambda x: f"{x:.3f}"))
            elif args.method == "mc":
                print(result.outcomes.describe(percentiles=[0.05, 0.5, 0.95]).T.to_string(
                    float_format=lambda x: f"{x:.4g}"))
            if label in study.boxes:
                box = study.boxes[label]
                print(f"PRIM box for '{box.condition}': coverage {box.coverage:.2f}, "
                      f"density {box.density:.2f}")
                for name, row in box.limits.iterrows():
                    span = row["max"] - row["min"]
                    print(f"  {name}: {format_bound(row['low'], span)} - {format_bound(row['high'], span)}")
    print(f"Wrote results to {args.out}")
    return 0
