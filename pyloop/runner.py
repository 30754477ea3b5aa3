"""Run a model under named scenarios and policies; tidy the results.

A run applies, in order, the constants of a scenario (with its ``extends``
chain resolved), of a policy, and explicit ``params``; later values win.
Every constant is checked against the model before anything runs: the name
must be a constant of the model, the value a number inside the constant's
declared range. After the run every value must be finite.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .errors import ParameterError, PyloopError, SimulationError, suggest
from .model import Model, load_model
from .scenarios import ScenarioFile, check_value, load_scenarios

__all__ = [
    "RunResult",
    "compare",
    "key_variables",
    "run",
    "run_many",
    "summary",
]

#: Time settings a scenario or ``params`` may set, mapped to
#: :meth:`Model.simulate` keywords.
_TIME_KEYWORDS = {"FINAL TIME": "final_time", "TIME STEP": "time_step", "SAVEPER": "saveper"}

#: Most key variables taken from a model's stocks when none are declared.
MAX_KEY_VARIABLES = 9


@dataclass(frozen=True)
class RunResult:
    """One finished run.

    Attributes:
        name: run name: ``"<scenario>"``, ``"<scenario>+<policy>"``, or the
            model's name (with ``"+<policy>"``) when no scenario was given.
        model: the model's name.
        scenario: scenario name, or ``None``.
        policy: policy name, or ``None``.
        constants: every constant (and time setting) the run changed from
            the model's defaults: name -> value in the constant's units.
        frame: results; index ``time`` in model time units, one column per
            variable named as in the model file.
        units: variable name -> units string (or ``None``) for every column.
        time_units: the model's time unit, or ``None``.
    """

    name: str
    model: str
    scenario: str | None
    policy: str | None
    constants: Mapping[str, float]
    frame: pd.DataFrame = field(repr=False)
    units: Mapping[str, str | None] = field(default_factory=dict, repr=False)
    time_units: str | None = None


def _as_model(model: Model | str | os.PathLike[str]) -> Model:
    return model if isinstance(model, Model) else load_model(model)


def _validate(model: Model, values: Mapping[str, Any], owner: str) -> dict[str, float]:
    """Check constants set by ``owner``; return them keyed by canonical name.

    Raises:
        ParameterError: unknown or non-constant name, wrong type, or a value
            outside the declared range.
    """
    out: dict[str, float] = {}
    constants = model.constants
    for name, value in values.items():
        resolved = model.resolve_name(name)
        if resolved is None:
            raise ParameterError(
                f"unknown constant '{name}' in {owner}"
                + (suggest(name, constants) or f"; model '{model.name}' has no such constant")
            )
        var = model.variable(resolved)
        if var.kind == "control" and resolved not in _TIME_KEYWORDS:
            raise ParameterError(f"'{resolved}' in {owner} cannot be changed per run")
        if var.kind not in ("constant", "control"):
            raise ParameterError(
                f"'{resolved}' in {owner} is a {var.kind}, not a constant; "
                "only constants can be set"
            )
        check_value(value, resolved, owner)
        if var.range is not None:
            lo, hi = var.range
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                shown = f"[{'?' if lo is None else f'{lo:g}'}, {'?' if hi is None else f'{hi:g}'}]"
                raise ParameterError(
                    f"value {value:g} for '{resolved}' in {owner} is outside its declared "
                    f"range {shown}; choose a value inside the range or widen the range "
                    "in the model"
                )
        out[resolved] = value
    return out


def _check_finite(frame: pd.DataFrame, run_name: str) -> None:
    """Raise :class:`SimulationError` at the first NaN or infinite value."""
    values = frame.to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(values)
    if not bad.any():
        return
    row = int(np.argmax(bad.any(axis=1)))
    col = int(np.argmax(bad[row]))
    value = values[row, col]
    what = "NaN" if np.isnan(value) else ("+inf" if value > 0 else "-inf")
    raise SimulationError(
        f"run '{run_name}': '{frame.columns[col]}' became {what} at time "
        f"{frame.index[row]:g}; look for a division by zero or runaway growth there"
    )


def run(
    model: Model | str | os.PathLike[str],
    scenario: str | None = None,
    policy: str | None = None,
    params: Mapping[str, float] | None = None,
    *,
    scenarios: ScenarioFile | None = None,
    return_columns: Iterable[str] | None = None,
    final_time: float | None = None,
    time_step: float | None = None,
    name: str | None = None,
) -> RunResult:
    """Run a model once.

    Args:
        model: a loaded :class:`Model` or a model file path.
        scenario: scenario name from the model's scenario file, or ``None``
            for the model's own defaults.
        policy: policy name from the scenario file, or ``None``.
        params: extra constants (name -> value in the constant's units),
            applied last. ``"FINAL TIME"``, ``"TIME STEP"`` and ``"SAVEPER"``
            may be set here too.
        scenarios: the scenario file to use; default the model's own
            (``X.scenarios.toml`` beside ``X.mdl``).
        return_columns: variables to keep; default all of them.
        final_time: end time in model time units; default the model's.
        time_step: integration step in model time units (also sets the
            output interval); default the model's.
        name: run name; default built from scenario and policy.

    Returns:
        A :class:`RunResult`.

    Raises:
        ScenarioError: unknown scenario or policy (with a suggestion).
        ParameterError: unknown constant (with a suggestion), wrong type, or
            a value outside the constant's declared range.
        SimulationError: the run failed or produced NaN or infinity.
    """
    model = _as_model(model)
    if scenarios is None and (scenario is not None or policy is not None):
        scenarios = load_scenarios(model)
    constants: dict[str, float] = {}
    if scenario is not None:
        scenarios.scenario(scenario)  # raises with a suggestion if unknown
        constants.update(_validate(model, scenarios.resolve(scenario), f"scenario '{scenario}'"))
    if policy is not None:
        pol = scenarios.policy(policy)
        constants.update(_validate(model, pol.constants, f"policy '{policy}'"))
    if params:
        constants.update(_validate(model, params, "params"))
    if name is None:
        name = scenario or model.name
        if policy is not None:
            name = f"{name}+{policy}"

    timing = {"final_time": final_time, "time_step": time_step, "saveper": None}
    plain: dict[str, float] = {}
    for key, value in constants.items():
        if key in _TIME_KEYWORDS:
            kw = _TIME_KEYWORDS[key]
            if timing[kw] is None:
                timing[kw] = value
        else:
            plain[key] = value
    if timing["time_step"] is not None and timing["saveper"] is None:
        timing["saveper"] = timing["time_step"]

    frame = model.simulate(plain, return_columns=return_columns, **timing)
    _check_finite(frame, name)
    units = {c: _units(model, c) for c in frame.columns}
    return RunResult(
        name=name,
        model=model.name,
        scenario=scenario,
        policy=policy,
        constants=MappingProxyType(dict(constants)),
        frame=frame,
        units=MappingProxyType(units),
        time_units=model.time.units,
    )


def _units(model: Model, column: str) -> str | None:
    base = column.split("[", 1)[0]
    resolved = model.resolve_name(base)
    return model.variable(resolved).units if resolved else None


def _progress(items: Sequence[Any], enabled: bool | None) -> Iterable[Any]:
    """Wrap ``items`` in a tqdm bar on stderr when enabled (default: stderr is a TTY)."""
    if enabled is None:
        enabled = len(items) > 1 and sys.stderr.isatty()
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc="runs", unit="run", file=sys.stderr, leave=False)


def run_many(
    model: Model | str | os.PathLike[str],
    names: Iterable[str | None],
    policy: str | None = None,
    *,
    scenarios: ScenarioFile | None = None,
    return_columns: Iterable[str] | None = None,
    progress: bool | None = None,
    params: Mapping[str, float] | None = None,
) -> list[RunResult]:
    """Run several scenarios (each with the same policy, if given).

    All names and constants are checked before the first run, so a typo
    fails fast.

    Args:
        model: a loaded :class:`Model` or a model file path.
        names: scenario names; ``None`` stands for the model's defaults.
        policy: policy applied to every run, or ``None``.
        scenarios: the scenario file; default the model's own.
        params: constants set in every run, after scenario and policy.
        return_columns: variables to keep; default all.
        progress: show a progress bar on stderr; default only when stderr
            is a terminal and there is more than one run.

    Returns:
        One :class:`RunResult` per name, in order.
    """
    model = _as_model(model)
    names = list(dict.fromkeys(names))
    if scenarios is None:
        scenarios = load_scenarios(model)
    for n in names:
        if n is not None:
            scenarios.scenario(n)
    if policy is not None:
        scenarios.policy(policy)
    if params:
        _validate(model, params, "params")
    return [
        run(model, n, policy, params, scenarios=scenarios, return_columns=return_columns)
        for n in _progress(names, progress)
    ]


def key_variables(
    model: Model, scenarios: ScenarioFile | None = None, limit: int = MAX_KEY_VARIABLES
) -> list[str]:
    """Variables worth comparing across runs.

    The scenario file's ``[meta] key_variables`` if declared, else the model's
    stocks; at most ``limit`` names.

    Raises:
        ParameterError: a declared key variable is not in the model.
    """
    declared = scenarios.key_variables if scenarios is not None else ()
    if declared:
        out = []
        for name in declared:
            resolved = model.resolve_name(name)
            if resolved is None:
                raise ParameterError(
                    f"unknown key variable '{name}' in [meta] of "
                    f"'{scenarios.path.name if scenarios.path else '?'}'"
                    + suggest(name, (v.name for v in model.variables))
                )
            out.append(resolved)
        return out[:limit]
    return list(model.stocks[:limit])


def _check_variables(results: Sequence[RunResult], variables: Sequence[str]) -> None:
    for r in results:
        missing = [v for v in variables if v not in r.frame.columns]
        if missing:
            raise PyloopError(
                f"run '{r.name}' has no column '{missing[0]}'"
                + suggest(missing[0], r.frame.columns)
            )


def compare(results: Sequence[RunResult], variables: Sequence[str]) -> pd.DataFrame:
    """Side-by-side values of some variables across runs.

    Returns:
        DataFrame indexed by time (union of all runs' times, model time
        units) with MultiIndex columns ``(run, variable)``.
    """
    variables = list(variables)
    _check_variables(results, variables)
    frame = pd.concat(
        {r.name: r.frame[variables] for r in results}, axis=1, names=["run", "variable"]
    )
    frame.index.name = "time"
    return frame


def summary(results: Sequence[RunResult], variables: Sequence[str]) -> pd.DataFrame:
    """Start, minimum, maximum and final value of each variable in each run.

    Returns:
        DataFrame indexed by ``(run, variable)`` with columns ``start``,
        ``min``, ``max``, ``final`` (in the variable's units) and ``units``.
    """
    variables = list(variables)
    _check_variables(results, variables)
    rows = []
    for r in results:
        for v in variables:
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
