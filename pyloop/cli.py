"""The ``pyloop`` command: list scenarios, run them, write results.

Argument parsing and printing only; the work is done by the other modules.
Every :class:`~pyloop.errors.PyloopError` becomes one line
``pyloop: error: <message>`` on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Callable, Sequence

from .errors import ModelFileError, PyloopError
from .model import Model, load_model
from .scenarios import load_scenarios

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


# ---------------------------------------------------------------- scenarios
def _cmd_scenarios(args: argparse.Namespace) -> int:
    path = _model_path(args.model)
    if not path.is_file():
        raise ModelFileError(f"model file not found: '{path}'; check --model")
    sf = load_scenarios(path)
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
def write_files(out: Path, writers: "dict[str, Callable[[Path], None]]") -> list[Path]:
    """Write files into the directory ``out`` all-or-nothing.

    Each writer gets a path in a temporary directory beside ``out``; the
    files are moved into ``out`` only when every writer succeeded, so on
    failure nothing new is left in ``out``.

    Args:
        out: target directory (created if needed).
        writers: file name -> function that writes that file at the path given.

    Returns:
        The paths written in ``out``.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    created_out = not out.exists()
    moved: list[Path] = []
    try:
        for name, write in writers.items():
            write(staging / name)
        out.mkdir(parents=True, exist_ok=True)
        for name in writers:
            dest = out / name
            os.replace(staging / name, dest)
            moved.append(dest)
    except BaseException:
        for dest in moved:
            dest.unlink(missing_ok=True)
        if created_out and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return moved


def _write_outputs(results, variables, out: Path) -> list[Path]:
    """Write one CSV per run and the comparison figure into ``out``, all-or-nothing."""
    from .plots import comparison_figure, save_figure

    writers: dict[str, Callable[[Path], None]] = {
        f"{r.name}.csv": (lambda path, r=r: r.frame.to_csv(path)) for r in results
    }
    if variables:
        writers["comparison.png"] = lambda path: save_figure(comparison_figure(results, variables), path)
    return write_files(out, writers)


def _settings(model: Model, pairs: list[str] | None) -> dict[str, float]:
    """Constants from ``--set NAME=VALUE`` options, checked against the
    model (name, type and declared range)."""
    from .runner import _validate

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


def _cmd_run(args: argparse.Namespace) -> int:
    import pandas as pd

    from .runner import key_variables, run_many, summary

    model = load_model(_model_path(args.model))
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
    from .errors import normalize_name
    from .simlin_engine import xmile_twin

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
    from .check import check_model

    model = load_model(_model_path(args.model))
    findings = check_model(model)
    failing = {"error", "warning"} if args.strict else {"error"}
    for severity in ("error", "warning"):
        group = [f for f in findings if f.severity == severity]
        if group:
            print(f"{len(group)} {severity}{'s' if len(group) != 1 else ''}:")
            for f in group:
                print(f"  {f.code} {f.variable or '(model)'}: {f.message}")
    bad = sum(f.severity in failing for f in findings)
    print(f"{model.name}: {len(findings)} finding{'s' if len(findings) != 1 else ''}, "
          f"{bad} failing{' (strict)' if args.strict else ''}")
    return 1 if bad else 0


def _cmd_diagram(args: argparse.Namespace) -> int:
    from .plots import save_figure, view_figure
    from .sketch import read_sketch

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
def _cmd_sensitivity(args: argparse.Namespace) -> int:
    import pandas as pd

    from .sensitivity import sensitivity_study

    if args.samples < 1:
        raise PyloopError(f"--samples must be at least 1, not {args.samples}")
    if args.workers is not None and args.workers < 1:
        raise PyloopError(f"--workers must be at least 1, not {args.workers}")
    model = load_model(_model_path(args.model))
    extra = {}
    if args.loop_outcomes:
        from .uncertainty import read_uncertainty

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
        **extra,
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

    from .report import ReportSettings, build_report, default_sections

    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    settings = ReportSettings(scenarios=tuple(args.scenario or ()), quick=args.quick, seed=args.seed)
    path = build_report(
        Path(args.out), _model_path(args.model), settings, progress=progress, extra_sections=default_sections()
    )
    print(f"Wrote {path} in {time.perf_counter() - started:.0f} s")
    return 0


# -------------------------------------------------------------------- loops
def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write one file all-or-nothing (see :func:`write_files`)."""
    write_files(path.parent, {path.name: write})


def _cmd_loops(args: argparse.Namespace) -> int:
    import json

    from .loops import analyze_loops

    if args.max_loops < 1:
        raise PyloopError(f"--max-loops must be at least 1, not {args.max_loops}")
    if args.top < 0:
        raise PyloopError(f"--top must be 0 or more, not {args.top}")
    model = load_model(_model_path(args.model))
    if args.window:
        start, end = args.window
        if not start < end:
            raise PyloopError(f"--window must start before it ends, not {start:g} to {end:g}")
        first, last = model.time.initial_time, model.time.final_time
        if end < first or start > last:
            raise PyloopError(
                f"--window {start:g} {end:g} lies outside the run ({first:g} to {last:g})"
            )
    settings = _settings(model, args.set)
    analysis = analyze_loops(
        model, args.scenario, args.policy, settings, max_loops=args.max_loops, report=args.top
    )
    table = analysis.table()
    changed = "".join(f", {k} = {v:g}" for k, v in settings.items())
    print(
        f"Loops of run '{analysis.run}'{changed} ({analysis.mode} mode: relative scores are "
        f"shares of {analysis.total_loops} loops)"
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
    try:
        if args.json:
            data = analysis.to_dict()
            _write_atomic(
                Path(args.json),
                lambda tmp: tmp.write_text(json.dumps(data, indent=1), encoding="utf-8"),
            )
            print(f"Wrote {args.json}")
        if args.plot:
            from .plots import loop_dominance_figure, save_figure

            fig = loop_dominance_figure(analysis)
            _write_atomic(Path(args.plot), lambda tmp: save_figure(fig, tmp))
            print(f"Wrote {args.plot}")
    except OSError as exc:
        raise PyloopError(
            f"cannot write output: {exc.strerror or exc}; choose another path"
        ) from exc
    return 0


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
    from . import ledger as lg

    model = load_model(_model_path(args.model))
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
        from .plots import ledger_figure, save_figure

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


# ------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``pyloop`` command."""
    parser = argparse.ArgumentParser(
        prog="pyloop",
        description="Run system-dynamics models (Vensim .mdl or XMILE) under named scenarios.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    model_help = (
        "model file (.mdl or .xmile); its scenarios are read from X.scenarios.toml "
        f"beside it (default: {DEFAULT_MODEL.as_posix()} in the repository)"
    )

    p = sub.add_parser(
        "scenarios",
        help="list the model's scenarios and policies",
        description="List the scenarios and policies in the model's scenario file, "
        "with their descriptions and what extends what.",
    )
    p.add_argument("--model", metavar="PATH", help=model_help)
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
        "declaration and the integration error. Exits 1 when an error is found.",
    )
    p.add_argument("--model", metavar="PATH", help=model_help)
    p.add_argument("--strict", action="store_true", help="treat warnings as errors")
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
        "Results are written as they arrive; --resume continues an interrupted run.",
    )
    p.add_argument("--method", choices=["mc", "sobol", "morris"], default="mc",
                   help="mc: Monte Carlo with percentile bands and PRIM scenario discovery; "
                   "sobol: Sobol indices (N*(D+2) runs); morris: Morris screening "
                   "(N*(D+1) runs) (default: mc)")
    p.add_argument("--samples", type=int, default=1000, metavar="N",
                   help="base number of samples; a power of two for sobol (default: 1000)")
    p.add_argument("--seed", type=int, default=0, metavar="N",
                   help="seed of the samples; the same seed gives the same results (default: 0)")
    p.add_argument("--workers", type=int, metavar="K",
                   help="run batches in K local worker processes (default: all in this "
                   "process, vectorised); with --dask local, the number of Dask workers")
    p.add_argument("--dask", metavar="ADDRESS",
                   help="run batches on a Dask cluster: a scheduler address "
                   "(tcp://host:8786) or 'local' for a local cluster")
    p.add_argument("--scenario", action="append", metavar="NAME",
                   help="scenario to run the ensemble under (repeatable; default: the "
                   "model's own defaults); constants it sets are not sampled")
    p.add_argument("--policy", metavar="NAME", help="policy applied in every scenario")
    p.add_argument("--before", type=float, default=2030.0, metavar="YEAR",
                   help="scenario discovery finds where the music stops before YEAR "
                   "(default: 2030)")
    p.add_argument("--model", metavar="PATH", help=model_help)
    p.add_argument("--out", metavar="DIR", default="sensitivity",
                   help="output directory (default: sensitivity)")
    p.add_argument("--resume", action="store_true",
                   help="continue the ensemble already in --out (same method, seed, "
                   "samples and uncertainty file) instead of starting again")
    p.add_argument("--loop-outcomes", action="store_true",
                   help="add the outcomes of [outcome_sets.loops] in the uncertainty file: "
                   "the share of time each named loop dominates (slower: every sample is "
                   "run and its loops scored one at a time)")
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
    p.add_argument("--seed", type=int, default=20250910, help="seed of every random sample (default 20250910)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser(
        "loops",
        help="find the feedback loops and which ones dominate a run",
        description="Run one scenario, score every feedback loop over the run "
        "(Loops That Matter), and print the loop table (id, name, polarity, length, "
        "variables) and the dominance phases. Named loops come from X.loops.toml "
        "beside the model.",
    )
    p.add_argument("--model", metavar="PATH", help=model_help)
    p.add_argument(
        "--scenario", metavar="NAME", help="scenario to run (default: the model's own defaults)"
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
        type=int,
        default=10_000,
        help="most loops to enumerate; a model with more is scored on its named loops and "
        "the shortest loop through every feedback link (default: 10000)",
    )
    p.add_argument(
        "--top",
        metavar="N",
        type=int,
        default=20,
        help="unnamed loops to list besides the named and the dominant ones (default: 20)",
    )
    p.add_argument(
        "--min-phase",
        metavar="T",
        type=float,
        default=0.25,
        help="list dominance phases lasting at least T time units (default: 0.25)",
    )
    p.add_argument(
        "--window",
        metavar=("START", "END"),
        nargs=2,
        type=float,
        help="also print the share of the steps from START to END in which reinforcing "
        "loops dominate",
    )
    _add_set_option(p)
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
        type=float,
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
    p.set_defaults(func=_cmd_ledger)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pyloop`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except PyloopError as exc:
        print(f"pyloop: error: {exc}", file=sys.stderr)
        return 2
