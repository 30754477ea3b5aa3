"""The ``pyloop`` command: list scenarios, run them, write results.

Argument parsing and printing only; the work is done by the other modules.
Every :class:`~pyloop.errors.PyloopError` becomes one line
``pyloop: error: <message>`` on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import warnings
from pathlib import Path
from typing import Callable, Sequence

from pyloop.errors import ModelFileError, PyloopError
from pyloop.files import OutputError
from pyloop.files import write_file as _write_atomic
from pyloop.files import write_files
from pyloop.engine.pysd_model import Model, load_model
from pyloop.declarations.scenarios import load_scenarios

__all__ = ["main", "default_model_path", "DEFAULT_MODEL"]

#: The project's main model, relative to the repository root.
DEFAULT_MODEL = Path("models") / "ai_circular_finance.mdl"


def _repository_root() -> Path | None:
    """Nearest directory above the package (or else the working directory)
    that holds a ``pyproject.toml``."""
    for start in (Path(__file__).resolve().parent, Path.cwd()):
        for folder in (start, *start.parents):
            if (folder / "pyproject.toml").is_file():
                return folder
    return None


def default_model_path() -> Path:
    """The main model's path in the repository.

    Raises:
        ModelFileError: no repository root, or the model file is missing.
    """
    root = _repository_root()
    if root is None:
        raise ModelFileError(
            f"cannot find the repository root to locate {DEFAULT_MODEL.as_posix()}; "
            "pass --model PATH"
        )
    path = root / DEFAULT_MODEL
    if not path.is_file():
        raise ModelFileError(
            f"default model {DEFAULT_MODEL.as_posix()} not found in {root}; "
            "pass --model PATH to choose a model"
        )
    return path


def _model_path(arg: str | None) -> Path:
    return Path(arg) if arg else default_model_path()


def _load(args: argparse.Namespace) -> Model:
    """The model of ``--model``, with the declaration files named by
    ``--scenarios``, ``--loops``, ``--ledger``, ``--uncertainty`` and
    ``--checks`` in place of those beside it."""
    from pyloop.declarations.paths import KINDS

    named = {kind: getattr(args, kind, None) for kind in KINDS}
    return load_model(_model_path(args.model), declarations=named)


def _add_declaration_options(parser: argparse.ArgumentParser, *kinds: str) -> None:
    """``--scenarios FILE`` and the like: a declaration file to use instead
    of the model's own ``X.<kind>.toml``."""
    from pyloop.declarations.paths import KINDS, OPTIONS

    for kind in kinds:
        parser.add_argument(
            OPTIONS[kind],
            dest=kind,
            metavar="FILE",
            help=f"{KINDS[kind]} to use instead of X.{kind}.toml beside the model "
            "(so a copy of a model can use the original's)",
        )


# ---------------------------------------------------------------- scenarios
def _cmd_scenarios(args: argparse.Namespace) -> int:
    from pyloop.declarations.paths import check_declarations
    from pyloop.declarations.scenarios import read_scenario_file

    path = _model_path(args.model)
    if not path.is_file():
        raise ModelFileError(f"model file not found: '{path}'; check --model")
    named = check_declarations({"scenarios": args.scenarios}).get("scenarios")
    sf = read_scenario_file(named) if named else load_scenarios(path)
    if sf.path is None:
        print(f"{path.name}: no scenario file ({path.stem}.scenarios.toml); "
              "'pyloop run' runs the model's own defaults")
        return 0
    print(f"Scenarios in {sf.path.name}:")
    if not sf.scenarios:
        print("  (none)")
    width = max((len(n) for n in [*sf.scenarios, *sf.policies]), default=0)
    for s in sf.scenarios.values():
        parent = f" (extends {s.extends})" if s.extends else ""
        print(f"  {s.name:<{width}}  {s.description}{parent}")
    print("Policies:")
    if not sf.policies:
        print("  (none)")
    for p in sf.policies.values():
        print(f"  {p.name:<{width}}  {p.description}")
    if sf.key_variables:
        print("Key variables: " + ", ".join(sf.key_variables))
    return 0


# ---------------------------------------------------------------------- run
def _write_outputs(results, variables, out: Path) -> list[Path]:
    """Write one CSV per run and the comparison figure into ``out``, all-or-nothing."""
    from pyloop.plots import comparison_figure, save_figure

    writers: dict[str, Callable[[Path], None]] = {
        f"{r.name}.csv": (lambda path, r=r: r.frame.to_csv(path)) for r in results
    }
    if variables:
        writers["comparison.png"] = lambda path: save_figure(comparison_figure(results, variables), path)
    return write_files(out, writers)


def _settings(model: Model, pairs: list[str] | None) -> dict[str, float]:
    """Constants from ``--set NAME=VALUE`` options, checked against the
    model (name, type and declared range)."""
    from pyloop.runner import _validate

    out: dict[str, float] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise PyloopError(f"--set takes NAME=VALUE, not '{pair}'")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise PyloopError(f"--set '{name.strip()}': '{value.strip()}' is not a number") from None
    return _validate(model, out, "--set")


def _add_set_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        metavar="NAME=VALUE",
        action="append",
        help="set a constant of the model for this run, after scenario and policy "
        "(repeatable; quote names with spaces)",
    )


# Option types. A bad value raises PyloopError, which argparse lets through:
# main() prints it as one line "pyloop: error: ..." and exits 2, as for any user error.
def _seed(text: str) -> int:
    """``--seed``: a whole number from 0 to 2**32 - 1 (what numpy and SALib take)."""
    from pyloop.declarations.uncertainty import MAX_SEED

    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_SEED:
        raise PyloopError(f"--seed must be a whole number from 0 to {MAX_SEED}, not '{text}'")
    return value


def _at_least_one(option: str, minimum: int = 1) -> Callable[[str], int]:
    """The type of an option taking a whole number of at least ``minimum`` (a count)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise PyloopError(f"{option} must be a whole number, not '{text}'") from None
        if value < minimum:
            raise PyloopError(f"{option} must be at least {minimum}, not '{text}'")
        return value

    return parse


_samples = _at_least_one("--samples")
_workers = _at_least_one("--workers")


def _finite(option: str) -> Callable[[str], float]:
    """The type of an option taking a finite number (a time): nan and inf
    would pass every range check."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise PyloopError(f"{option} must be a finite number, not '{text}'")
        return value

    return parse


def _cmd_run(args: argparse.Namespace) -> int:
    import pandas as pd

    from pyloop.runner import key_variables, run_many, summary

    model = _load(args)
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
    settings = _settings(model, args.set)
    results = run_many(model, names, args.policy, scenarios=sf, params=settings)
    try:
        written = _write_outputs(results, variables, Path(args.out))
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
    if settings:
        print("Every run with " + ", ".join(f"{k} = {v:g}" for k, v in settings.items()))
    print(f"Wrote {len(written)} files to {args.out}")
    return 0


# ------------------------------------------------------- export, check, diagram
def _cmd_export(args: argparse.Namespace) -> int:
    from pyloop.errors import normalize_name
    from pyloop.engine.simlin import xmile_twin

    source = _model_path(args.model)
    if source.suffix.lower() != ".mdl":
        raise PyloopError(f"export reads a Vensim .mdl file, not '{source.name}'")
    model = load_model(source)
    text = xmile_twin(source, {normalize_name(v.name): v.name for v in model.variables})
    out = Path(args.out) if args.out else source.with_suffix(".xmile")
    _write_atomic(out, lambda path: path.write_text(text, encoding="utf-8"))
    print(f"Wrote {out} (XMILE twin of {source.name})")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from pyloop.validation.quality import GENERIC_CODES, check_model

    model = _load(args)
    findings = check_model(model, profile=args.profile)
    failing = {"error", "warning"} if args.strict else {"error"}
    for severity in ("error", "warning"):
        group = [f for f in findings if f.severity == severity]
        if group:
            print(f"{len(group)} {severity}{'s' if len(group) != 1 else ''}:")
            for f in group:
                print(f"  {f.code} {f.variable or '(model)'}: {f.message}")
    bad = sum(f.severity in failing for f in findings)
    print(f"{model.name}: {len(findings)} finding{'s' if len(findings) != 1 else ''}, "
          f"{bad} failing{' (strict)' if args.strict else ''} ({args.profile} profile)")
    if bad and args.profile == "house" and any(f.code not in GENERIC_CODES for f in findings):
        print("For a model not written to this project's conventions, --profile generic "
              "checks only real errors.")
    return 1 if bad else 0


def _cmd_diagram(args: argparse.Namespace) -> int:
    from pyloop.plots import save_figure, view_figure
    from pyloop.engine.vensim_sketch import read_sketch

    source = _model_path(args.model)
    views = read_sketch(source)
    if not views:
        raise PyloopError(f"'{source.name}' has no diagram (no Vensim sketch section)")
    writers: dict[str, Callable[[Path], None]] = {}
    for view in views:
        stem = "view_" + "_".join(view.title.lower().split())
        for suffix in args.format:
            writers[f"{stem}.{suffix}"] = lambda path, view=view: save_figure(view_figure(view), path, dpi=110)
    written = write_files(Path(args.out), writers)
    print(f"Wrote {len(written)} files to {args.out}")
    return 0


# -------------------------------------------------------------- sensitivity
def _check_something_to_sample(model: Model) -> None:
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


def _cmd_sensitivity(args: argparse.Namespace) -> int:
    import pandas as pd

    from pyloop.sensitivity.study import sensitivity_study

    if args.samples < 1:
        raise PyloopError(f"--samples must be at least 1, not {args.samples}")
    if args.workers is not None and args.workers < 1:
        raise PyloopError(f"--workers must be at least 1, not {args.workers}")
    model = _load(args)
    _check_something_to_sample(model)
    extra = {}
    if args.loop_outcomes:
        from pyloop.declarations.uncertainty import read_uncertainty

        extra["spec"] = read_uncertainty(model, outcome_sets=["loops"])
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
        overwrite=args.overwrite, **extra,
    )
    with pd.option_context("display.width", 200, "display.max_columns", 20, "display.max_rows", 200):
        for label, result in study.results.items():
            runs = len(result.samples)
            print(f"{label}: {len(result.outcomes)} of {runs} runs ({args.method}, seed {args.seed})")
            if label in study.indices:
                print(study.indices[label].to_string(float_format=lambda x: f"{x:.3f}"))
            elif args.method == "mc":
                print(result.outcomes.describe(percentiles=[0.05, 0.5, 0.95]).T.to_string(
                    float_format=lambda x: f"{x:.4g}"))
            if label in study.boxes:
                box = study.boxes[label]
                print(f"PRIM box for '{box.condition}': coverage {box.coverage:.2f}, "
                      f"density {box.density:.2f}")
                print(box.limits[["low", "high"]].to_string(float_format=lambda x: f"{x:.4g}"))
    print(f"Wrote results to {args.out}")
    return 0


# ------------------------------------------------------------------- report
def _cmd_report(args: argparse.Namespace) -> int:
    import time

    from pyloop.report import ReportSettings, build_report, default_sections

    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    settings = ReportSettings(scenarios=tuple(args.scenario or ()), quick=args.quick, seed=args.seed)
    path = build_report(
        Path(args.out), _load(args), settings, progress=progress, extra_sections=default_sections()
    )
    print(f"Wrote {path} in {time.perf_counter() - started:.0f} s")
    return 0


# -------------------------------------------------------------------- loops
def _cmd_loops(args: argparse.Namespace) -> int:
    import json

    from pyloop.analysis.loops import analyze_loops, run_modes, score_run, variable_dominance
    from pyloop.analysis.loops.scores import _structure_and_loops
    from pyloop.runner import run

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
    model = _load(args)
    settings = _settings(model, args.set)
    if args.knockouts:
        return _knockouts(args, model, settings)
    scenario = args.scenario[0] if args.scenario else None
    if args.window:
        start, end = args.window
        if not start < end:
            raise PyloopError(f"--window must start before it ends, not {start:g} to {end:g}")
        first, last = model.time.initial_time, settings.get("FINAL TIME", model.time.final_time)
        if start < first or end > last:
            raise PyloopError(
                f"--window {start:g} {end:g} lies outside the run ({first:g} to {last:g}); "
                "choose START and END inside it"
            )
    dominance = modes = None
    if args.variable or args.modes:
        if args.variable:
            model.variable(args.variable)  # an unknown name fails before the run
        _structure_and_loops(model, args.max_loops)
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
    table = analysis.table()
    print(  # the run's name carries the constants --set changed
        f"Loops of run '{analysis.run}' ({analysis.mode} mode: relative scores are "
        f"shares of {analysis.total_loops} loops, {analysis.active_loops} of them active)"
    )
    width = max([len(str(n)) for n in table["name"]] + [4])
    print(f"{'id':<7} {'name':<{width}} pol   conf  struct len  mean|rel|  variables")
    for lid, row in table.iterrows():
        print(
            f"{lid:<7} {row['name']:<{width}} {row['polarity']:<4} {row['confidence']:5.2f}  "
            f"{row['structural']:<6} {row['length']:<4} {row['mean |relative|']:9.3g}  "
            f"{row['variables']}"
        )
    if analysis.unmatched:
        print("Named loops not found: " + ", ".join(analysis.unmatched))
    print("\nDominance by polarity (R: reinforcing loops hold at least half):")
    for p in analysis.polarity_phases:
        print(f"  {p.start:9.4f} - {p.end:<9.4f} {p.polarity}  {', '.join(p.loops[:5])}")
    if args.window:
        start, end = args.window
        for part, share in analysis.reinforcing_share(start, end).items():
            stocks = sorted({s for k in analysis.loops if k.partition == part for s in k.stocks})
            print(
                f"\nReinforcing loops dominate {share:.0%} of the steps from {start:g} to {end:g} "
                f"(partition {part}, stocks {', '.join(stocks)})"
            )
    long = [p for p in analysis.phases if p.end - p.start >= args.min_phase]
    print(
        f"\nDominance phases (smallest set of loops holding half) lasting at least "
        f"{args.min_phase:g}: {len(long)} of {len(analysis.phases)}"
    )
    for p in long:
        print(f"  {p.start:9.4f} - {p.end:<9.4f} {p.polarity:<5} {', '.join(p.loops)}")
    if dominance is not None:
        print("\n" + _variable_report(dominance))
    if modes is not None:
        print("\n" + _modes_report(modes))
    try:
        if args.json:
            data = analysis.to_dict()
            if dominance is not None:
                data["variable"] = dominance.to_dict()
            if modes is not None:
                data["modes"] = modes.to_dict()
            _write_atomic(
                Path(args.json),
                lambda tmp: tmp.write_text(json.dumps(data, indent=1), encoding="utf-8"),
            )
            print(f"Wrote {args.json}")
        if args.plot:
            from pyloop.plots import loop_dominance_figure, save_figure

            if dominance is not None:
                from pyloop.plots import variable_dominance_figure

                fig = variable_dominance_figure(dominance, result.frame[dominance.variable])
            else:
                fig = loop_dominance_figure(analysis)
            _write_atomic(Path(args.plot), lambda tmp: save_figure(fig, tmp))
            print(f"Wrote {args.plot}")
    except OSError as exc:
        raise PyloopError(
            f"cannot write output: {exc.strerror or exc}; choose another path"
        ) from exc
    return 0


def _knockouts(args: argparse.Namespace, model: Model, settings: dict[str, float]) -> int:
    """``pyloop loops --knockouts``: print (and with --json write) the
    knockout table."""
    import json

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
    print(_knockout_report(table, names, units))
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
            _write_atomic(
                Path(args.json),
                lambda tmp: tmp.write_text(json.dumps(data, indent=1), encoding="utf-8"),
            )
        except OSError as exc:
            raise PyloopError(
                f"cannot write output: {exc.strerror or exc}; choose another path"
            ) from exc
        print(f"Wrote {args.json}")
    return 0


def _knockout_report(table, names: dict[str, str], units: dict[str, str | None]) -> str:
    """The knockout table as text: per scenario and loop, the change of each
    variable's peak, trough and final value (knockout minus base, in the
    variable's units and in percent of the base)."""

    def label(output: str) -> str:
        return f"{output} ({units[output]})" if units.get(output) else output

    def cell(change: float, percent: float) -> str:
        text = f"{change:+.4g}"
        return text + (f" ({percent:+.1f}%)" if math.isfinite(percent) else "")

    width = max([len(label(o)) for o in table.index.get_level_values("output")] + [8])
    lines = ["Knockouts: each named loop switched off in turn; change of each variable "
             "from the base run (knockout minus base)"]
    for scenario, per_scenario in table.groupby(level="scenario", sort=False):
        lines.append(f"\nScenario '{scenario}':")
        lines.append(f"    {'variable':<{width}}  {'peak':>22}  {'trough':>22}  {'final':>22}")
        for lid, per_loop in per_scenario.groupby(level="loop", sort=False):
            lines.append(f"  {lid} {names.get(lid, '')} off:")
            for (_, _, output), row in per_loop.iterrows():
                cells = [cell(row[f"{k} change"], row[f"{k} change %"])
                         for k in ("peak", "trough", "final")]
                lines.append(f"    {label(output):<{width}}  " + "  ".join(f"{c:>22}" for c in cells))
    return "\n".join(lines)


def _variable_report(dominance) -> str:
    """The per-variable dominance report as text."""

    def pct(x: float) -> str:
        return "n/a" if x != x else f"{x:.0%}"

    d = dominance
    start, end = d.window
    lines = [
        f"What drives '{d.variable}' from {start:g} to {end:g} (loops through it, "
        "grouped by the stocks they pass through):",
        f"  accelerates away (dX * d2X > 0) in {pct(d.behaviour_polarity)} of the steps",
        f"  reinforcing groups hold {pct(d.reinforcing_share)} of its loop score "
        "(steps weighted by |d2X|)",
        f"  the net loop score agrees with that behaviour in {pct(d.agreement)} of the "
        "weighted steps",
        "  Phases:",
    ]
    for p in d.phases:
        leads = ", ".join(f"{label} ({share:+.2f})" for label, share in zip(p.leading, p.shares))
        lines.append(f"    {p.start:9.4f} - {p.end:<9.4f} {p.polarity}  {leads}")
    lines.append("  Loop groups, strongest first:")
    for g in d.groups[:10]:
        lines.append(f"    {g.label}  [{', '.join(g.loops)}]")
    return "\n".join(lines)


def _modes_report(modes) -> str:
    """The mode phases as text: the dominant eigenvalue's kind, its value at
    the phase's middle step, and the loops it is most elastic to."""
    lines = [
        "Modes (dominant eigenvalue of the Jacobian, 1/time; loops by eigenvalue elasticity):"
    ]
    for p in modes.phases:
        z = p.eigenvalue
        value = f"{z.real:+.4g}" + (f" {z.imag:+.4g}i" if z.imag else "")
        loops = ", ".join(f"{label} ({e:+.2f})" for label, e in p.loops)
        lines.append(f"  {p.start:9.4f} - {p.end:<9.4f} {p.kind:<22} {value:<20} {loops}")
    return "\n".join(lines)


# --------------------------------------------------------------------- ledger
def _ledger_table(table) -> str:
    """The who-paid table as text: one row per quantity, one column per year;
    shares in percent, amounts in B$."""
    lines = []
    years = [f"{y:g}" for y in table.index]
    width = max(len(c) for c in table.columns)
    lines.append(f"{'by year':<{width}}  " + "  ".join(f"{y:>8}" for y in years))
    for column in table.columns:
        if "(B$)" in column:
            cells = [f"{v:8.1f}" for v in table[column]]
        elif "/" in column:
            cells = [f"{v:8.2f}" for v in table[column]]
        else:
            cells = [f"{100 * v:7.1f}%" for v in table[column]]
        lines.append(f"{column:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)


def _cmd_ledger(args: argparse.Namespace) -> int:
    import pyloop.analysis.ledger as lg

    model = _load(args)
    ledger = lg.load_ledger(model)  # checked against the equations before running
    if ledger.questions is None:
        raise PyloopError(
            f"{ledger.where()} has no [questions]; name the payment to trace there"
        )
    audit = lg.audit(model, args.scenario, args.policy, ledger=ledger)
    result, check, tracing = audit.result, audit.check, audit.tracing
    years = lg.report_years(result, args.until)
    table = audit.who_paid(years)
    q = ledger.questions
    until = years[-1]
    print(
        f"Ledger checks passed for run '{result.name}' ({check.steps} steps): every cash stock "
        f"follows its declared flows (largest error {max(check.stock_errors.values()):.2g} B$), "
        f"money in the ring changes only by its boundary flows (largest error "
        f"{check.ring_error:.2g} B$); tolerance {check.tolerance:g} B$."
    )
    print(f"\nWho paid for {q.payment} (money moved from {result.frame.index[0]:g} to each year):")
    print(_ledger_table(table))
    written: list[Path] = []
    if args.csv:
        money = lg.money_between(result, ledger, until)
        writers = {
            "who_paid.csv": lambda path: table.to_csv(path),
            "money_between.csv": lambda path: money.to_csv(path),
            "transaction_matrix.csv": lambda path: lg.transaction_matrix(result, ledger).to_csv(path),
            "balance_sheet.csv": lambda path: lg.balance_sheet(result, ledger).to_csv(path),
            "sector_totals.csv": lambda path: lg.sector_totals(result, ledger).to_csv(path),
            "origin_shares.csv": lambda path: tracing.table().to_csv(path, index=False),
        }
        try:
            written += write_files(Path(args.csv), writers)
        except OSError as exc:
            raise PyloopError(
                f"cannot write CSVs to '{args.csv}': {exc.strerror or exc}; choose another --csv DIR"
            ) from exc
    if args.plot:
        from pyloop.plots import ledger_figure, save_figure

        target = Path(args.plot)
        fig = ledger_figure(**audit.figure_data(until))
        try:
            _write_atomic(target, lambda path: save_figure(fig, path))
        except (OSError, ValueError) as exc:
            raise PyloopError(
                f"cannot write the figure '{args.plot}': {exc}; choose another --plot FILE "
                "(.png, .pdf or .svg)"
            ) from exc
        written.append(target)
    if written:
        files = "file" if len(written) == 1 else "files"
        print(f"\nWrote {len(written)} {files}: " + ", ".join(str(p) for p in written))
    return 0


# ---------------------------------------------------------------- calibrate
def _cmd_calibrate(args: argparse.Namespace) -> int:
    from pyloop.fitting.outputs import write_calibration
    from pyloop.fitting.calibrate import RHAT_LIMIT, CalibrationSettings, Checkpoint, calibrate, fit_parameters
    from pyloop.declarations.observations import read_observations
    from pyloop.runner import _validate

    if args.workers is not None and args.workers < 1:
        raise PyloopError(f"--workers must be at least 1, not {args.workers}")
    if args.samples < 2:
        raise PyloopError(f"--samples must be at least 2, not {args.samples}")
    model = load_model(_model_path(args.model))
    data = Path(args.data) if args.data else model.path.with_name(model.path.stem + ".observations.csv")
    obs = read_observations(data, model)
    parameters = fit_parameters(model, args.param)
    sf = load_scenarios(model)
    base, extends = {}, None
    if "baseline" in sf.scenarios:
        base, extends = _validate(model, sf.resolve("baseline"), "scenario 'baseline'"), "baseline"
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


def _add_calibrate_parser(sub: "argparse._SubParsersAction", model_help: str) -> None:
    p = sub.add_parser(
        "calibrate",
        help="fit constants to observed time series (best fit and posterior)",
        description="Fit constants of the model to observed time series: a global fit "
        "(differential evolution on the payoff, the weighted sum of squared standardised "
        "errors) and a posterior sample (emcee, uniform priors on the ranges) with R-hat and "
        "effective sample size. Writes the best fit as a scenario, a fit table, the posterior "
        "samples, a JSON summary and one figure per observed variable into --out, all or nothing.",
    )
    p.add_argument("--model", metavar="PATH", help=model_help)
    p.add_argument("--data", metavar="FILE",
                   help="observations CSV with columns variable, time, value and optional sd "
                   "(or rel_tol) and weight (default: X.observations.csv beside the model)")
    p.add_argument("--param", metavar="NAME[=LOW:HIGH]", action="append",
                   help="constant to fit, with its range or (NAME alone) its declared range "
                   "(repeatable; default: the parameters of X.uncertainty.toml)")
    p.add_argument("--samples", type=_samples, default=1000, metavar="N",
                   help="MCMC steps per walker; the first half is burn-in (default: 1000)")
    p.add_argument("--seed", type=_seed, default=0, metavar="N",
                   help="seed of the fit and the sampler; the same seed gives the same files (default: 0)")
    p.add_argument("--workers", type=_workers, metavar="K",
                   help="split every population over K local processes (default: one vectorised run "
                   "in this process); with --dask local, the number of Dask workers")
    p.add_argument("--dask", metavar="ADDRESS",
                   help="split every population over a Dask cluster: a scheduler address or 'local'")
    p.add_argument("--holdout-after", type=_finite("--holdout-after"), metavar="T",
                   help="fit only observations at or before time T; report the errors on the later "
                   "ones (out of sample)")
    p.add_argument("--out", metavar="DIR", default="calibration",
                   help="output directory (default: calibration)")
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted calibration for --out (same model, data, "
                   "parameters and settings); gives the same files as an uninterrupted run")
    p.set_defaults(func=_cmd_calibrate)


# ------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``pyloop`` command."""
    parser = argparse.ArgumentParser(
        prog="pyloop",
        description="Run system-dynamics models (Vensim .mdl or XMILE) under named scenarios.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    model_help = (
        "model file (.mdl or .xmile); the files describing it (X.scenarios.toml and the "
        f"like) are read from beside it (default: {DEFAULT_MODEL.as_posix()} in the repository)"
    )

    p = sub.add_parser(
        "scenarios",
        help="list the model's scenarios and policies",
        description="List the scenarios and policies in the model's scenario file, "
        "with their descriptions and what extends what.",
    )
    p.add_argument("--model", metavar="PATH", help=model_help)
    _add_declaration_options(p, "scenarios")
    p.set_defaults(func=_cmd_scenarios)

    p = sub.add_parser(
        "run",
        help="run scenarios and write CSVs, a comparison figure and a summary",
        description="Run the named scenarios (or the model's defaults when none is "
        "named). Writes one CSV per run and comparison.png into the output "
        "directory, and prints a summary of the key variables. Nothing is "
        "written unless every run succeeds.",
    )
    p.add_argument("names", nargs="*", metavar="NAME", help="scenario to run (repeatable)")
    p.add_argument("--all", action="store_true", help="run every scenario in the scenario file")
    p.add_argument("--policy", metavar="NAME", help="policy to apply to every run")
    p.add_argument("--model", metavar="PATH", help=model_help)
    p.add_argument(
        "--out",
        metavar="DIR",
        default="results",
        help="directory for the CSVs and comparison.png (default: results)",
    )
    _add_set_option(p)
    _add_declaration_options(p, "scenarios")
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser(
        "export",
        help="write the XMILE twin of a Vensim model",
        description="Write the XMILE twin of a .mdl model (written by Simlin, normalised so "
        "that PySD reads it), recording the .mdl's name and SHA-256 so a stale twin is detected.",
    )
    p.add_argument("--xmile", action="store_true", required=True, help="write XMILE (the only format)")
    p.add_argument("--model", metavar="PATH", help=model_help)
    p.add_argument("--out", metavar="FILE", help="output file (default: the model's path with .xmile)")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser(
        "check",
        help="check units, documentation, numbers, diagram, loops and integration",
        description="Check a model's quality: units (with an independent checker), comments and "
        "sources, numbers buried in equations, the diagram, the loop catalogue, the money "
        "declaration and the integration error. Exits 1 when an error is found. --profile generic "
        "checks a model written elsewhere for real errors only.",
    )
    p.add_argument("--model", metavar="PATH", help=model_help)
    p.add_argument("--strict", action="store_true", help="treat warnings as errors")
    p.add_argument(
        "--profile",
        choices=["house", "generic"],
        default="house",
        help="house (default): every check, including this project's conventions (units and a "
        "comment on every variable, a source on every constant, no buried numbers, every "
        "variable on the diagram, a switch on every named loop); generic: only real errors "
        "(unit inconsistencies, loops or money flows declared but not in the model, "
        "integration error), for a model written elsewhere",
    )
    _add_declaration_options(p, "scenarios", "loops", "ledger")
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser(
        "diagram",
        help="draw every view of the model's diagram",
        description="Draw each view of a Vensim model's diagram (its sketch) as a picture.",
    )
    p.add_argument("--model", metavar="PATH", help=model_help)
    p.add_argument("--out", metavar="DIR", default="diagrams", help="output directory (default: diagrams)")
    p.add_argument(
        "--format",
        metavar="EXT",
        nargs="+",
        default=["png", "svg"],
        choices=["png", "svg", "pdf"],
        help="picture formats (default: png svg)",
    )
    p.set_defaults(func=_cmd_diagram)

    p = sub.add_parser(
        "sensitivity",
        help="Monte Carlo bands, Sobol or Morris indices and scenario discovery",
        description="Sample the uncertain constants declared in X.uncertainty.toml beside the "
        "model (default: uniform over their Vensim ranges), run every sample and write "
        "samples and outcomes as CSV, tables and figures into the output directory. "
        "Results are written as they arrive; --resume continues an interrupted run, "
        "--overwrite replaces an earlier one.",
    )
    p.add_argument("--method", choices=["mc", "sobol", "morris"], default="mc",
                   help="mc: Monte Carlo with percentile bands and PRIM scenario discovery; "
                   "sobol: Sobol indices (N*(D+2) runs); morris: Morris screening "
                   "(N*(D+1) runs) (default: mc)")
    p.add_argument("--samples", type=_samples, default=1000, metavar="N",
                   help="base number of samples; a power of two for sobol (default: 1000)")
    p.add_argument("--seed", type=_seed, default=0, metavar="N",
                   help="seed of the samples; the same seed gives the same results (default: 0)")
    p.add_argument("--workers", type=_workers, metavar="K",
                   help="run batches in K local worker processes (default: all in this "
                   "process, vectorised); with --dask local, the number of Dask workers")
    p.add_argument("--dask", metavar="ADDRESS",
                   help="run batches on a Dask cluster: a scheduler address "
                   "(tcp://host:8786) or 'local' for a local cluster")
    p.add_argument("--scenario", action="append", metavar="NAME",
                   help="scenario to run the ensemble under (repeatable; default: the "
                   "model's own defaults); constants it sets are not sampled")
    p.add_argument("--policy", metavar="NAME", help="policy applied in every scenario")
    p.add_argument("--before", type=_finite("--before"), default=2030.0, metavar="YEAR",
                   help="scenario discovery finds where the music stops before YEAR "
                   "(default: 2030)")
    p.add_argument("--model", metavar="PATH", help=model_help)
    p.add_argument("--out", metavar="DIR", default="sensitivity",
                   help="output directory (default: sensitivity)")
    p.add_argument("--resume", action="store_true",
                   help="continue the ensemble already in --out (same method, seed, "
                   "samples and uncertainty file) instead of starting again")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an ensemble already in --out (only its own files; the "
                   "earlier one is restored if this run fails)")
    p.add_argument("--loop-outcomes", action="store_true",
                   help="add the outcomes of [outcome_sets.loops] in the uncertainty file: "
                   "the share of time each named loop dominates (slower: every sample is "
                   "run and its loops scored one at a time)")
    _add_declaration_options(p, "scenarios", "uncertainty", "loops")
    p.set_defaults(func=_cmd_sensitivity)
    p = sub.add_parser(
        "report",
        help="run everything and write the report (HTML with its figures)",
        description="Run every scenario and policy, the loop analysis, the money ledger and a "
        "sensitivity study, and write one self-contained report.html (figures embedded and "
        "also saved as PNG). The report appears only when complete; an existing output "
        "folder is replaced only if it holds an earlier report.",
    )
    p.add_argument("--model", metavar="PATH", help=model_help)
    p.add_argument("--out", metavar="DIR", default="report", help="output folder (default: report)")
    p.add_argument(
        "--scenario", metavar="NAME", action="append", help="scenario to report (repeatable; default: all)"
    )
    p.add_argument("--quick", action="store_true", help="smaller sensitivity study, fewer policy runs")
    p.add_argument("--seed", type=_seed, default=20250910, help="seed of every random sample (default 20250910)")
    _add_declaration_options(p, "scenarios", "loops", "ledger", "uncertainty", "calibration")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser(
        "loops",
        help="find the feedback loops and which ones dominate a run",
        description="Run one scenario, score every feedback loop over the run "
        "(Loops That Matter), and print the loop table (id, name, polarity, length, "
        "variables) and the dominance phases. Named loops come from X.loops.toml "
        "beside the model. With --knockouts, print instead what switching each named "
        "loop off changes.",
    )
    p.add_argument("--model", metavar="PATH", help=model_help)
    p.add_argument(
        "--scenario",
        metavar="NAME",
        action="append",
        help="scenario to run (default: the model's own defaults; repeatable with --knockouts)",
    )
    p.add_argument("--policy", metavar="NAME", help="policy to apply to the run")
    p.add_argument("--json", metavar="FILE", help="also write the analysis as JSON to FILE")
    p.add_argument(
        "--plot",
        metavar="FILE",
        help="also draw relative loop scores and dominance phases to FILE (.png, .pdf, .svg)",
    )
    p.add_argument(
        "--max-loops",
        metavar="N",
        type=_at_least_one("--max-loops"),
        default=10_000,
        help="most loops to enumerate; a model with more is scored on its named loops and "
        "the shortest loop through every feedback link (default: 10000)",
    )
    p.add_argument(
        "--top",
        metavar="N",
        type=_at_least_one("--top", minimum=0),
        default=20,
        help="unnamed loops to list besides the named and the dominant ones (default: 20)",
    )
    p.add_argument(
        "--min-phase",
        metavar="T",
        type=_finite("--min-phase"),
        default=0.25,
        help="list dominance phases lasting at least T time units (default: 0.25)",
    )
    p.add_argument(
        "--window",
        metavar=("START", "END"),
        nargs=2,
        type=_finite("--window"),
        help="also print the share of the steps from START to END in which reinforcing "
        "loops dominate (with --variable: the window of the per-variable report)",
    )
    p.add_argument(
        "--variable",
        metavar="NAME",
        help="also report which loops drive NAME: its behaviour, the reinforcing share of "
        "the loops through it and the leading loops of each phase (with --plot: draw it)",
    )
    p.add_argument(
        "--modes",
        action="store_true",
        help="also report the behaviour modes: the dominant eigenvalue of the stocks' "
        "Jacobian over the run and the loops it is most sensitive to",
    )
    p.add_argument(
        "--knockouts",
        action="store_true",
        help="instead of scoring loops, switch each named loop with a switch constant off "
        "in turn and print the change of each variable's peak, trough and final value, per "
        "--scenario (one run per loop and scenario, plus each scenario's base run)",
    )
    p.add_argument(
        "--variables",
        metavar="NAME",
        nargs="+",
        action="extend",
        help="with --knockouts: the variables to compare (default: the key variables of the "
        "scenario file)",
    )
    _add_set_option(p)
    _add_declaration_options(p, "scenarios", "loops")
    p.set_defaults(func=_cmd_loops)

    p = sub.add_parser(
        "ledger",
        help="check the model's money accounting and trace who actually paid",
        description="Run one scenario, check stock-flow consistency against the ledger "
        "declaration X.ledger.toml beside the model (every flow into a cash stock declared "
        "with its payer and payee; every cash stock and the money inside the ring change "
        "only by their flows), trace where the money of every flow entered the ring, and "
        "print who paid the traced payment by each year. A failed check ends with one "
        "line naming the flow, stock and time, and exit status 2.",
    )
    p.add_argument("--model", metavar="PATH", help=model_help)
    p.add_argument(
        "--scenario", metavar="NAME", help="scenario to run (default: the model's own defaults)"
    )
    p.add_argument("--policy", metavar="NAME", help="policy to apply to the run")
    p.add_argument(
        "--until",
        metavar="YEAR",
        type=_finite("--until"),
        help="report money moved up to YEAR (default: the end of the run); the table "
        "has one column per whole year up to it",
    )
    p.add_argument(
        "--csv",
        metavar="DIR",
        help="also write who_paid, money_between, transaction_matrix, balance_sheet, "
        "sector_totals and origin_shares CSVs into DIR (all or nothing)",
    )
    p.add_argument(
        "--plot",
        metavar="FILE",
        help="also draw the money moved between sectors and the origin shares to FILE "
        "(.png, .pdf, .svg)",
    )
    _add_declaration_options(p, "scenarios", "ledger")
    p.set_defaults(func=_cmd_ledger)
    _add_calibrate_parser(sub, model_help)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pyloop`` command; returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
    except PyloopError as exc:  # an option's value failed its type's check
        print(f"pyloop: error: {exc}", file=sys.stderr)
        return 2
    previous = _interrupt_on_sigterm()
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return args.func(args)
    except PyloopError as exc:
        print(f"pyloop: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file error no command turned into its own message
        where = f"'{exc.filename}'" if exc.filename else "a file"
        print(f"pyloop: error: cannot access {where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pyloop: interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Print a warning as one line ``pyloop: warning: <message>``, without the
    source file and line Python would show."""
    print(f"pyloop: warning: {message}", file=sys.stderr)


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _interrupt_on_sigterm():
    """Make SIGTERM raise KeyboardInterrupt (so clean-ups in ``finally`` run);
    returns the previous handler, or None where signals cannot be set."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_interrupt)
