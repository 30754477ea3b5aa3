"""Time until the worker processes of a killed ``pyloop sensitivity --workers 2`` end.

Starts the command on a model that runs one sample at a time (so it lasts
long enough), waits until its two workers run, kills the command with
SIGKILL and measures how long its workers outlive it (Linux: reads /proc).

Usage::

    python benchmarks/orphan_workers.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "tests" / "models" / "pulsed.mdl"


def _children(pid: int) -> set[int]:
    """Live processes whose parent is ``pid``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2:].split()
            if fields[0] != "Z" and int(fields[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat[stat.rfind(")") + 2] != "Z":
            alive.add(pid)
    return alive


def orphan_lifetime(folder: Path) -> float:
    """Seconds from SIGKILL of the command until its last worker is gone."""
    env = dict(os.environ, PYLOOP_CACHE_DIR=str(folder / "cache"))
    command = [sys.executable, "-m", "pyloop", "sensitivity", "--model", str(MODEL), "--samples", "3000",
               "--workers", "2", "--out", str(folder / "out")]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    while len(workers) < 2 and process.poll() is None:
        workers = _children(process.pid)
        time.sleep(0.05)
    time.sleep(1.0)  # let them start their batches
    process.send_signal(signal.SIGKILL)
    process.wait()
    start = time.perf_counter()
    while _alive(workers) and time.perf_counter() - start < 60:
        time.sleep(0.01)
    for pid in _alive(workers):  # should not happen: leave no process behind
        os.kill(pid, signal.SIGKILL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="kills to time (default 3)")
    args = parser.parse_args()
    times = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            times.append(orphan_lifetime(Path(tmp)))
    print(f"workers outlive a killed command by {statistics.median(times) * 1000:.0f} ms "
          f"(median of {args.repeat}; max {max(times) * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
