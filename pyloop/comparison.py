"""Tables that set runs side by side: the columns of a variable, values
across runs, and start/min/max/final summaries. Runs are told apart by name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Sequence

import pandas as pd

from pyloop.errors import PyloopError, suggest

if TYPE_CHECKING:
    from pyloop.runner import RunResult

__all__ = ["compare", "summary", "variable_columns"]


def variable_columns(columns: Iterable[str], variable: str) -> list[str]:
    """The result columns holding a variable.

    A plain variable has one column named after it; a subscripted one has a
    column per element, named as PySD names them: ``"Stock A[One]"``, or
    ``"Stock A[One,X]"`` for two subscripts.

    Returns:
        The column names in order; empty when the variable has none.
    """
    columns = list(columns)
    if variable in columns:
        return [variable]
    prefix = variable + "["
    return [c for c in columns if c.startswith(prefix)]


def _check_variables(results: Sequence[RunResult], variables: Sequence[str]) -> None:
    for r in results:
        missing = [v for v in variables if not variable_columns(r.frame.columns, v)]
        if missing:
            raise PyloopError(
                f"run '{r.name}' has no column '{missing[0]}'"
                + suggest(missing[0], r.frame.columns)
            )


def _check_unique(results: Sequence[RunResult], what: str) -> None:
    """Refuse two runs with the same name: one would hide the other."""
    seen: set[str] = set()
    for r in results:
        if r.name in seen:
            raise PyloopError(
                f"{what} got two runs named '{r.name}'; give one of them another name "
                "(run(..., name=...)) or leave the duplicate out"
            )
        seen.add(r.name)


def compare(results: Sequence[RunResult], variables: Sequence[str]) -> pd.DataFrame:
    """Side-by-side values of some variables across runs.

    Runs are told apart by name; two runs with the same name are refused
    (runs that set different constants have different names, see
    :func:`pyloop.runner.run_name`).

    Returns:
        DataFrame indexed by time (union of all runs' times, model time
        units) with MultiIndex columns ``(run, variable)``.

    Raises:
        PyloopError: two runs share a name, or a run lacks a variable.
    """
    variables = list(variables)
    _check_unique(results, "compare")
    _check_variables(results, variables)
    frame = pd.concat(
        {r.name: r.frame[[c for v in variables for c in variable_columns(r.frame.columns, v)]]
         for r in results},
        axis=1,
        names=["run", "variable"],
    )
    frame.index.name = "time"
    return frame


def summary(results: Sequence[RunResult], variables: Sequence[str]) -> pd.DataFrame:
    """Start, minimum, maximum and final value of each variable in each run.

    Returns:
        DataFrame indexed by ``(run, variable)`` with columns ``start``,
        ``min``, ``max``, ``final`` (in the variable's units) and ``units``;
        a subscripted variable has a row per element (see
        :func:`variable_columns`).

    Raises:
        PyloopError: two runs share a name (see :func:`compare`), or a run
            lacks a variable.
    """
    variables = list(variables)
    _check_unique(results, "summary")
    _check_variables(results, variables)
    rows = []
    for r in results:
        for v in (c for name in variables for c in variable_columns(r.frame.columns, name)):
            s = r.frame[v]
            rows.append(
                {
                    "run": r.name,
                    "variable": v,
                    "start": s.iloc[0],
                    "min": s.min(),
                    "max": s.max(),
                    "final": s.iloc[-1],
                    "units": r.units.get(v) or "",
                }
            )
    columns = ["run", "variable", "start", "min", "max", "final", "units"]
    return pd.DataFrame(rows, columns=columns).set_index(["run", "variable"])

