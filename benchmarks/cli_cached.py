"""Time ``pyloop run`` of the main model with an empty and with a warm cache.

The first command translates the model into a fresh cache directory; the
second finds the translation there and only runs. Both are whole commands
(interpreter start, imports, run, CSV and figure), timed from outside.

Usage::

    python benchmarks/cli_cached.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "ai_circular_finance.mdl"


def timed_run(cache: Path, out: Path) -> float:
    """Wall time (s) of one ``pyloop run baseline`` command."""
    env = dict(os.environ, PYLOOP_CACHE_DIR=str(cache))
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pyloop", "run", "baseline", "--model", str(MODEL), "--out", str(out)],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="pairs of commands to time (default 3)")
    args = parser.parse_args()
    cold, warm = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            cache, out = Path(tmp) / "cache", Path(tmp) / "out"
            cold.append(timed_run(cache, out))
            warm.append(timed_run(cache, out))
    c, w = statistics.median(cold), statistics.median(warm)
    print(f"pyloop run baseline, empty cache : {c:6.2f} s (median of {args.repeat})")
    print(f"pyloop run baseline, cached      : {w:6.2f} s (median of {args.repeat})")
    print(f"translation saved by the cache   : {c - w:6.2f} s ({c / w:.2f}x)")


if __name__ == "__main__":
    main()
