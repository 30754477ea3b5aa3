"""Limits a run or an ensemble must respect, checked before it starts.

A request no machine can satisfy (a FINAL TIME of 1e9 years, a hundred
million samples) should fail at once with one line saying what to change,
not hang or end in a ``MemoryError``. This module holds those checks:

- :func:`check_time_settings`: INITIAL TIME before FINAL TIME, a positive
  TIME STEP, a SAVEPER that is a whole multiple of TIME STEP (PySD saves
  only at time steps), at most :data:`MAX_STEPS` integration steps, and
  saved output that fits in :func:`memory_budget`;
- :func:`check_memory`: an estimated size against :func:`memory_budget`.

The memory budget is a fixed share of the machine's physical memory (not of
the memory free at the moment), so the same request gets the same answer
on the same machine.
"""

from __future__ import annotations

import functools
import math
import os

from pyloop.errors import ParameterError, PyloopError, SimulationError

__all__ = [
    "BYTES_PER_SAVED_VALUE",
    "MAX_STEPS",
    "MEMORY_SHARE",
    "check_memory",
    "check_time_settings",
    "memory_budget",
    "physical_memory",
    "saved_rows",
]

#: Most integration steps one run may take.
MAX_STEPS = 10_000_000

#: Share of the physical memory one run or ensemble may plan to use.
MEMORY_SHARE = 0.5

#: Bytes one saved value costs while PySD runs: it collects every saved value
#: as a Python float in a list (about 40 bytes) and then copies the lists
#: into float64 columns (8 bytes).
BYTES_PER_SAVED_VALUE = 48

#: Relative tolerance of "SAVEPER is a whole multiple of TIME STEP".
_MULTIPLE_TOLERANCE = 1e-6


@functools.lru_cache(maxsize=1)
def physical_memory() -> int:
    """Bytes of physical memory of this machine (asked once per process)."""
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except ImportError:  # psutil comes with dask.distributed, but is optional
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def memory_budget() -> int:
    """Bytes a run or an ensemble may plan to use: :data:`MEMORY_SHARE` of
    :func:`physical_memory`."""
    return int(physical_memory() * MEMORY_SHARE)


def _size(nbytes: float) -> str:
    """A byte count for people: ``"3.2 GB"``."""
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if nbytes < 1000 or unit == "TB":
            return f"{nbytes:.0f} {unit}" if unit == "bytes" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    raise AssertionError("unreachable")


def check_memory(
    nbytes: float, what: str, advice: str, error: type[PyloopError] = SimulationError
) -> None:
    """Raise when ``nbytes`` exceeds :func:`memory_budget`.

    Args:
        nbytes: estimated size in bytes.
        what: what needs the memory, e.g. ``"1000000 runs"``.
        advice: what to do instead, e.g. ``"choose a smaller --samples"``.
        error: the exception class to raise.
    """
    budget = memory_budget()
    if nbytes > budget:
        raise error(
            f"{what} would need about {_size(nbytes)} of memory, more than the "
            f"{_size(budget)} ({MEMORY_SHARE:.0%} of this machine's memory) pyloop plans "
            f"to use; {advice}"
        )


def saved_rows(initial_time: float, final_time: float, saveper: float) -> int:
    """Saved times of a run from INITIAL TIME to FINAL TIME, one every
    ``saveper`` (model time units), both ends included."""
    return math.floor((final_time - initial_time) / saveper * (1 + _MULTIPLE_TOLERANCE)) + 1


def check_time_settings(
    initial_time: float,
    final_time: float,
    time_step: float,
    saveper: float,
    columns: int,
    where: str,
    rows: int | None = None,
) -> None:
    """Check a run's clock before it starts (all times in model time units).

    Args:
        initial_time: INITIAL TIME.
        final_time: FINAL TIME.
        time_step: TIME STEP.
        saveper: SAVEPER.
        columns: number of variables saved at each saved time.
        where: the run's model or name, for messages (``"model 'cooling'"``).
        rows: number of saved times when the run saves at chosen times;
            default one every ``saveper`` from INITIAL TIME to FINAL TIME.

    Raises:
        ParameterError: a non-finite setting, FINAL TIME not after INITIAL
            TIME, TIME STEP or SAVEPER not positive, SAVEPER smaller than
            TIME STEP or not a whole multiple of it.
        SimulationError: more than :data:`MAX_STEPS` steps, or saved output
            larger than :func:`memory_budget`.
    """
    named = {
        "INITIAL TIME": initial_time,
        "FINAL TIME": final_time,
        "TIME STEP": time_step,
        "SAVEPER": saveper,
    }
    for label, value in named.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ParameterError(f"{label} of {where} must be a finite number, not {value!r}")
    if not final_time > initial_time:
        raise ParameterError(
            f"FINAL TIME {final_time:g} of {where} is not after INITIAL TIME {initial_time:g}; "
            f"choose a FINAL TIME after {initial_time:g}"
        )
    for label in ("TIME STEP", "SAVEPER"):
        if not named[label] > 0:
            raise ParameterError(f"{label} of {where} must be positive, not {named[label]:g}")
    if saveper < time_step * (1 - _MULTIPLE_TOLERANCE):
        raise ParameterError(
            f"SAVEPER {saveper:g} of {where} is smaller than TIME STEP {time_step:g}; "
            "results are saved only at time steps, so make SAVEPER a multiple of TIME STEP"
        )
    ratio = saveper / time_step
    if abs(ratio - round(ratio)) > _MULTIPLE_TOLERANCE * ratio:
        raise ParameterError(
            f"SAVEPER {saveper:g} of {where} is not a whole multiple of TIME STEP "
            f"{time_step:g}; results are saved only at time steps, so choose SAVEPER "
            f"{round(ratio) * time_step:g} or another multiple of TIME STEP"
        )
    span = final_time - initial_time
    steps = span / time_step
    if steps > MAX_STEPS:
        raise SimulationError(
            f"{where} from {initial_time:g} to {final_time:g} with TIME STEP {time_step:g} "
            f"takes {steps:.3g} integration steps, more than the {MAX_STEPS:,} a run may take; "
            "choose an earlier FINAL TIME or a larger TIME STEP"
        )
    if rows is None:
        rows = saved_rows(initial_time, final_time, saveper)
    check_memory(
        rows * (columns + 1) * BYTES_PER_SAVED_VALUE,
        f"{where} saving {columns} variables at {rows:,} times",
        "choose an earlier FINAL TIME, a larger SAVEPER or fewer variables",
    )
