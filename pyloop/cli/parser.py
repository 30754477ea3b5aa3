"""The ``pyloop`` command's argument parser: every command's options, the
option types that check a value as it is parsed, and the options several
commands share (``--set``, ``--scenarios FILE`` and the like).

A value an option type refuses raises :class:`~pyloop.errors.PyloopError`,
which argparse lets through: ``main`` prints it as one line
``pyloop: error: ...`` and exits 2, as for any user error.
"""

from __future__ import annotations

import argparse
import math
from typing import Callable

from pyloop.errors import PyloopError
from pyloop.sensitivity.methods import METHODS
from pyloop.cli import model_choice
from pyloop.cli.commands.calibrate import calibrate_constants
from pyloop.cli.commands.check import check_quality
from pyloop.cli.commands.diagram import draw_diagram
from pyloop.cli.commands.export import export_xmile
from pyloop.cli.commands.ledger import audit_ledger
from pyloop.cli.commands.loops import analyse_loops
from pyloop.cli.commands.report import write_report
from pyloop.cli.commands.run import run_scenarios
from pyloop.cli.commands.scenarios import list_scenarios
from pyloop.cli.commands.sensitivity import study_sensitivity


def _seed(text: str) -> int:
    """``--seed``: a whole number from 0 to 2**32 - 1 (what numpy and SALib take)."""
    from pyloop.sensitivity.sampling import MAX_SEED

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


def _version() -> str:
    """pyloop's version, from the installed package's metadata when there is one."""
    from importlib import metadata

    try:
        return metadata.version("pyloop")
    except metadata.PackageNotFoundError:
        from pyloop import __version__

        return __version__


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



def _add_set_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        metavar="NAME=VALUE",
        action="append",
        help="set a constant of the model for this run, after scenario and policy "
        "(repeatable; quote names with spaces)",
    )


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
    p.set_defaults(func=calibrate_constants)



def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``pyloop`` command."""
    parser = argparse.ArgumentParser(
        prog="pyloop",
        description="Run system-dynamics models (Vensim .mdl or XMILE) under named scenarios.",
    )
    parser.add_argument("--version", action="version", version=f"pyloop {_version()}",
                        help="print pyloop's version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    model_help = (
        "model file (.mdl or .xmile); the files describing it (X.scenarios.toml and the "
        f"like) are read from beside it (default: {model_choice.DEFAULT_MODEL.as_posix()} in the repository)"
    )

    p = sub.add_parser(
        "scenarios",
        help="list the model's scenarios and policies",
        description="List the scenarios and policies in the model's scenario file, "
        "with their descriptions and what extends what.",
    )
    p.add_argument("--model", metavar="PATH", help=model_help)
    _add_declaration_options(p, "scenarios")
    p.set_defaults(func=list_scenarios)

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
    p.add_argument("--variables", metavar="NAME", nargs="+", action="extend",
                   help="variables to save, draw and summarise (default: every variable saved; "
                   "the key variables of the scenario file drawn and summarised)")
    p.add_argument("--saveper", type=_finite("--saveper"), metavar="T",
                   help="save a row every T time units, a positive multiple of TIME STEP "
                   "(default: the model's SAVEPER)")
    p.add_argument("--format", choices=["csv", "parquet", "xlsx"], default="csv",
                   help="file format of each run's table (default: csv)")
    p.add_argument("--strict", action="store_true",
                   help="refuse a value outside a constant's declared range (by default it runs, "
                   "with a warning: declared ranges are slider bounds)")
    _add_declaration_options(p, "scenarios")
    p.set_defaults(func=run_scenarios)
    p = sub.add_parser(
        "export",
        help="write the XMILE twin of a Vensim model",
        description="Write the XMILE twin of a .mdl model (written by Simlin, normalised so "
        "that PySD reads it), recording the .mdl's name and SHA-256 so a stale twin is detected.",
    )
    p.add_argument("--format", choices=["xmile"], default="xmile",
                   help="format to write: xmile, the only one (default: xmile); the deprecated "
                   "flag --xmile means the same")
    p.add_argument("--xmile", dest="format", action="store_const", const="xmile",
                   help=argparse.SUPPRESS)  # deprecated spelling of --format xmile
    p.add_argument("--model", metavar="PATH",
                   help="Vensim .mdl file to export (default: "
                   f"{model_choice.DEFAULT_MODEL.as_posix()} in the repository)")
    p.add_argument("--out", metavar="FILE", help="output file (default: the model's path with .xmile)")
    p.set_defaults(func=export_xmile)

    p = sub.add_parser(
        "check",
        help="check units, documentation, numbers, diagram, loops and integration",
        description="Check a model's quality: units (with an independent checker), comments and "
        "sources, numbers buried in equations, the diagram, the loop catalogue, the money "
        "declaration and the integration error. Exits 1 when an error is found. --profile generic "
        "checks a model written elsewhere for real errors only.",
    )
    p.add_argument("--model", metavar="PATH",
                   help="model file (.mdl or .xmile) to check; its loop, ledger and scenario "
                   "files (X.loops.toml and the like) are read from beside it, and a .mdl's "
                   "XMILE twin beside it is checked for staleness (default: "
                   f"{model_choice.DEFAULT_MODEL.as_posix()} in the repository)")
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
    p.set_defaults(func=check_quality)

    p = sub.add_parser(
        "diagram",
        help="draw every view of the model's diagram",
        description="Draw each view of a Vensim model's diagram (its sketch) as a picture: "
        "view_<title>.png for a page, view_<title>.svg to open in a browser and zoom.",
    )
    p.add_argument("--model", metavar="PATH",
                   help="Vensim .mdl file whose sketch is drawn (default: "
                   f"{model_choice.DEFAULT_MODEL.as_posix()} in the repository)")
    p.add_argument("--out", metavar="DIR", default="diagrams", help="output directory (default: diagrams)")
    p.add_argument(
        "--format",
        metavar="EXT",
        nargs="+",
        default=["png", "svg"],
        choices=["png", "svg", "pdf"],
        help="picture formats, one or more of: png (for a page), svg (zooms without blurring; "
        "the text stays text), pdf (default: png svg)",
    )
    p.set_defaults(func=draw_diagram)

    p = sub.add_parser(
        "sensitivity",
        help="Monte Carlo bands, Sobol or Morris indices and scenario discovery",
        description="Sample the uncertain constants declared in X.uncertainty.toml beside the "
        "model (default: uniform over their Vensim ranges), run every sample and write "
        "samples and outcomes as CSV, tables and figures into the output directory. "
        "Results are written as they arrive; --resume continues an interrupted run, "
        "--overwrite replaces an earlier one.",
    )
    p.add_argument("--method", choices=list(METHODS), default="mc",
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
    p.add_argument("--series-format", choices=("parquet", "csv"), default="parquet",
                   help="file format of the kept series of each ensemble (default: parquet; "
                   "outcomes and samples are always CSV)")
    _add_declaration_options(p, "scenarios", "uncertainty", "loops")
    p.set_defaults(func=study_sensitivity)
    p = sub.add_parser(
        "report",
        help="run everything and write the report (HTML with its figures)",
        description="Run every scenario and policy, the loop analysis, the money ledger and a "
        "sensitivity study, and write one self-contained report.html (figures embedded and "
        "also saved as PNG). The report appears only when complete; an existing output "
        "folder is replaced only if it holds an earlier report.",
    )
    p.add_argument("--model", metavar="PATH", help=model_help)
    p.add_argument("--out", metavar="DIR",
                   help="output folder (default: report, or report-quick with --quick)")
    p.add_argument(
        "--scenario", metavar="NAME", action="append", help="scenario to report (repeatable; default: all)"
    )
    p.add_argument("--quick", action="store_true",
                   help="smaller sensitivity study, fewer policy runs; written to report-quick "
                   "unless --out is given, so a quick report never replaces a full one")
    p.add_argument("--seed", type=_seed, default=20250910, help="seed of every random sample (default 20250910)")
    _add_declaration_options(p, "scenarios", "loops", "ledger", "uncertainty", "calibration")
    p.set_defaults(func=write_report)

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
    p.set_defaults(func=analyse_loops)

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
        "sector_totals, net_worth_change and origin_shares CSVs into DIR (all or nothing)",
    )
    p.add_argument(
        "--plot",
        metavar="FILE",
        help="also draw the money moved between sectors and the origin shares to FILE "
        "(.png, .pdf, .svg)",
    )
    _add_declaration_options(p, "scenarios", "ledger")
    p.set_defaults(func=audit_ledger)
    _add_calibrate_parser(sub, model_help)
    return parser
