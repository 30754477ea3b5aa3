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
from .model import load_model
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
    results = run_many(model, names, args.policy, scenarios=sf)
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
    write_files(out.parent, {out.name: lambda path: path.write_text(text, encoding="utf-8")})
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``pyloop`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except PyloopError as exc:
        print(f"pyloop: error: {exc}", file=sys.stderr)
        return 2
