"""``pyloop loops``: score a run's feedback loops and print the loop table and
the dominance phases; with ``--knockouts``, the knockout table instead."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from pyloop.errors import PyloopError
from pyloop.files import write_file
from pyloop.engine import Model
from pyloop.declarations.scenarios import load_scenarios
from pyloop.cli.model_choice import load_chosen_model
from pyloop.cli.set_option import checked_settings
from pyloop.cli.text import knockout_report, loops_report, modes_report, variable_report


def check_loop_options(args: argparse.Namespace) -> None:
    """Refuse option values and combinations ``pyloop loops`` cannot honour,
    before the model is loaded."""
    if args.max_loops < 1:
        raise PyloopError(f"--max-loops must be at least 1, not {args.max_loops}")
    if args.top < 0:
        raise PyloopError(f"--top must be 0 or more, not {args.top}")
    if args.knockouts:
        clash = [
            option
            for option, used in (("--variable", args.variable), ("--modes", args.modes),
                                 ("--window", args.window), ("--plot", args.plot))
            if used
        ]
        if clash:
            raise PyloopError(
                f"--knockouts cannot be combined with {', '.join(clash)}; run them separately"
            )
    elif args.variables:
        raise PyloopError("--variables names the variables of the knockout table; add --knockouts")
    elif args.scenario and len(args.scenario) > 1:
        raise PyloopError(
            "name one --scenario for the loop analysis (several only with --knockouts)"
        )


def check_window(model: Model, window: tuple[float, float], settings: dict[str, float]) -> None:
    """Refuse a ``--window`` (start, end in model time units) that is empty or
    lies outside the run."""
    start, end = window
    if not start < end:
        raise PyloopError(f"--window must start before it ends, not {start:g} to {end:g}")
    first, last = model.time.initial_time, settings.get("FINAL TIME", model.time.final_time)
    if start < first or end > last:
        raise PyloopError(
            f"--window {start:g} {end:g} lies outside the run ({first:g} to {last:g}); "
            "choose START and END inside it"
        )


def analyse_loops(args: argparse.Namespace) -> int:
    """Score the loops of one run and print them (with ``--variable``,
    ``--modes``, ``--window``: the further reports); write ``--json`` and
    ``--plot`` when asked."""
    from pyloop.analysis.loops import (
        analyze_loops,
        run_modes,
        score_run,
        structure_and_loops,
        variable_dominance,
    )
    from pyloop.runner import run

    check_loop_options(args)
    model = load_chosen_model(args)
    settings = checked_settings(model, args.set)
    if args.knockouts:
        return print_knockouts(args, model, settings)
    scenario = args.scenario[0] if args.scenario else None
    if args.window:
        check_window(model, args.window, settings)
    dominance = modes = None
    if args.variable or args.modes:
        if args.variable:
            model.variable(args.variable)  # an unknown name fails before the run
        structure_and_loops(model, args.max_loops)
        result = run(model, scenario, args.policy, settings)
        analysis = score_run(model, result, max_loops=args.max_loops, report=args.top)
        if args.variable:
            dominance = variable_dominance(
                model, result, args.variable, args.window, max_loops=args.max_loops
            )
        if args.modes:
            modes = run_modes(model, result, max_loops=args.max_loops)
    else:
        analysis = analyze_loops(
            model, scenario, args.policy, settings, max_loops=args.max_loops, report=args.top
        )
    if not analysis.total_loops:
        raise PyloopError(
            f"model '{model.name}' has no feedback loop (no variable depends on itself through "
            "the others), so there is no loop to score"
        )
    print(loops_report(analysis, args.window, args.min_phase))
    if dominance is not None:
        print("\n" + variable_report(dominance))
    if modes is not None:
        print("\n" + modes_report(modes))
    try:
        if args.json:
            data = analysis.to_dict()
            if dominance is not None:
                data["variable"] = dominance.to_dict()
            if modes is not None:
                data["modes"] = modes.to_dict()
            write_json(Path(args.json), data)
            print(f"Wrote {args.json}")
        if args.plot:
            from pyloop.plots import loop_dominance_figure, save_figure

            if dominance is not None:
                from pyloop.plots import variable_dominance_figure

                fig = variable_dominance_figure(dominance, result.frame[dominance.variable])
            else:
                fig = loop_dominance_figure(analysis)
            write_file(Path(args.plot), lambda tmp: save_figure(fig, tmp))
            print(f"Wrote {args.plot}")
    except OSError as exc:
        raise PyloopError(
            f"cannot write output: {exc.strerror or exc}; choose another path"
        ) from exc
    return 0


def write_json(path: Path, data) -> None:
    """Write ``data`` as indented JSON to ``path`` (all or nothing)."""
    write_file(path, lambda tmp: tmp.write_text(json.dumps(data, indent=1), encoding="utf-8"))


def print_knockouts(args: argparse.Namespace, model: Model, settings: dict[str, float]) -> int:
    """``pyloop loops --knockouts``: print (and with --json write) the
    knockout table."""
    from pyloop.analysis.loops import knockout_table, load_catalogue
    from pyloop.runner import key_variables

    if args.variables:
        outputs = list(dict.fromkeys(model.variable(v).name for v in args.variables))
    else:
        outputs = key_variables(model, load_scenarios(model))
    scenarios = args.scenario or [None]
    table = knockout_table(model, outputs, scenarios, policy=args.policy, params=settings)
    names = {e.id: e.name for e in load_catalogue(model)}
    units = {o: model.variable(o).units for o in outputs}
    print(knockout_report(table, names, units))
    if args.json:
        rows = [
            {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
            for row in table.reset_index().to_dict(orient="records")
        ]
        data = {
            "scenarios": list(dict.fromkeys(table.index.get_level_values("scenario"))),
            "loops": {lid: names.get(lid, "") for lid in table.index.get_level_values("loop").unique()},
            "variables": outputs,
            "knockouts": rows,
        }
        try:
            write_json(Path(args.json), data)
        except OSError as exc:
            raise PyloopError(
                f"cannot write output: {exc.strerror or exc}; choose another path"
            ) from exc
        print(f"Wrote {args.json}")
    return 0
