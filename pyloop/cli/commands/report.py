"""``pyloop report``: run everything and write the report. Here the case
study a model belongs to is chosen (see :func:`pyloop.case.for_model`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pyloop.cli.model_choice import load_chosen_model


def write_report(args: argparse.Namespace) -> int:
    """Build the report of the model into ``--out``, printing progress on
    stderr; a case study's model gets the case's focus and sections."""
    import time

    from pyloop.case import for_model
    from pyloop.report import ReportSettings, build_report, default_sections

    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    settings = ReportSettings(scenarios=tuple(args.scenario or ()), quick=args.quick, seed=args.seed)
    model = load_chosen_model(args)
    case = for_model(model)  # our model gets its case study's focus and summary
    if case is not None:
        settings = case.report_settings(settings)
    sections = case.sections() if case is not None else default_sections()
    out = Path(args.out) if args.out else Path("report-quick" if args.quick else "report")
    path = build_report(out, model, settings, progress=progress, extra_sections=sections)
    print(f"Wrote {path} in {time.perf_counter() - started:.0f} s")
    return 0
