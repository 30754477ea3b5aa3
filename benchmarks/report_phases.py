"""Time every phase of the report on the main model, and its size on disk.

Usage: python benchmarks/report_phases.py [--quick] [--keep DIR]

Builds the report the README's main command builds (the case's sections
and focus) into a temporary folder, with the model's translation already
cached (one warm-up load before timing), and prints the wall time of each
phase (from one progress message to the next), the total, and the size of
the folder and of its largest parts.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pyloop
from pyloop.case import for_model
from pyloop.report import ReportSettings, build_report

MODEL = Path(__file__).resolve().parents[1] / "models" / "ai_circular_finance.mdl"


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="time the quick report instead of the full one")
    parser.add_argument("--keep", type=Path, help="write the report into this new folder and keep it")
    args = parser.parse_args()
    model = pyloop.load_model(MODEL)  # translation cached from here on
    case = for_model(MODEL)
    settings = case.report_settings(ReportSettings(quick=args.quick))
    phases: list[tuple[str, float]] = []

    def progress(message: str) -> None:
        phases.append((message, time.perf_counter()))

    with tempfile.TemporaryDirectory() as scratch:
        out = args.keep or Path(scratch) / "report"
        start = time.perf_counter()
        path = build_report(out, model, settings, progress=progress, extra_sections=case.sections())
        end = time.perf_counter()
        print(f"{'quick' if args.quick else 'full'} report of {model.name}: {end - start:.1f} s in all")
        marks = [("loading and setup", start)] + phases + [("(end)", end)]
        for (name, t0), (_, t1) in zip(marks, marks[1:]):
            print(f"  {t1 - t0:7.1f} s  {name}")
        folder = path.parent
        print(f"folder {_size(folder) / 1e6:.1f} MB:")
        parts = sorted(folder.iterdir(), key=_size, reverse=True)
        for part in parts[:6]:
            print(f"  {_size(part) / 1e6:7.1f} MB  {part.name}")


if __name__ == "__main__":
    main()
