"""Run a model under named scenarios and policies; tidy the results.

A run applies, in order, the constants of a scenario (with its ``extends``
chain resolved), of a policy, and explicit ``params``; later values win.
Every constant is checked against the model before anything runs: the name
must be a constant of the model, the value a finite number; a value outside
the constant's declared range (a slider's bounds in Vensim) is run with a
warning, recorded in :attr:`RunResult.warnings`, and refused only with
``strict=True``; and the run's time settings are checked against
:mod:`pyloop.engine.limits`. After the run every value must be finite.

A run's name says what it ran: ``"<scenario>"`` (or the model's name), then
``"+<policy>"``, then ``"+<Constant>=<value>"`` for every constant set through
``params`` (see :func:`run_name`), so two different runs never share a name
(nor a CSV file on the command line).
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
import warnings
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from pyloop.errors import ParameterError, PyloopError, SimulationError, suggest
from pyloop.engine.limits import check_time_settings
from pyloop.engine import Model, load_model
from pyloop.declarations.scenarios import ScenarioFile, check_value, load_scenarios

__all__ = [
    "RunPlan",
    "RangeWarning",
    "RunResult",
    "TIME_KEYWORDS",
    "check_finite",
    "key_variables",
    "plan_runs",
    "run",
    "run_many",
    "run_plan",
    "run_plans",
    "run_together",
    "run_name",
    "validate_constants",
]

#: Time settings a scenario or ``params`` may set, mapped to
#: :meth:`Model.simulate` keywords.
TIME_KEYWORDS = {"FINAL TIME": "final_time", "TIME STEP": "time_step", "SAVEPER": "saveper"}

#: Most key variables taken from a model's stocks when none are declared.
MAX_KEY_VARIABLES = 9

#: Longest run name in bytes; a longer one ends in a hash of the full name
#: instead (a CSV file name must stay under the usual limit of 255 bytes).
MAX_NAME_BYTES = 200


@dataclass(frozen=True)
class RunResult:
    """One finished run.

    Attributes:
        name: run name: ``"<scenario>"``, ``"<scenario>+<policy>"``, or the
            model's name (with ``"+<policy>"``) when no scenario was given;
            then ``"+<Constant>=<value>"`` for each constant set through
            ``params`` (see :func:`run_name`).
        model: the model's name.
        scenario: scenario name, or ``None``.
        policy: policy name, or ``None``.
        constants: every constant (and time setting) the run changed from
            the model's defaults: name -> value in the constant's units.
        frame: results; index ``time`` in model time units, one column per
            variable named as in the model file.
        units: variable name -> units string (or ``None``) for every column.
        time_units: the model's time unit, or ``None``.
        warnings: one line per constant the run set outside its declared
            range (empty when every value was inside).
    """

    name: str
    model: str
    scenario: str | None
    policy: str | None
    constants: Mapping[str, float]
    frame: pd.DataFrame = field(repr=False)
    units: Mapping[str, str | None] = field(default_factory=dict, repr=False)
    time_units: str | None = None
    warnings: tuple[str, ...] = ()

    def plot(self, ax=None, variable: str | None = None):
        """Draw one variable over time (default the first column) and return
        the Axes drawn on (see :func:`pyloop.plots.plot_variable`)."""
        from pyloop.plots import plot_variable

        return plot_variable([self], variable or str(self.frame.columns[0]), ax=ax)


def _as_model(model: Model | str | os.PathLike[str]) -> Model:
    return model if isinstance(model, Model) else load_model(model)


class RangeWarning(UserWarning):
    """A constant was set outside its declared range (allowed unless strict)."""


def validate_constants(
    model: Model, values: Mapping[str, Any], owner: str, *, strict: bool = False,
    notes: list[str] | None = None,
) -> dict[str, float]:
    """Check constants set by ``owner`` (a scenario, a policy, ``params`` or
    ``--set``, named in error messages); return them keyed by canonical name,
    in the constants' units.

    A value outside the constant's declared range is a slider bound passed,
    not an error: its message is appended to ``notes`` (when given, else
    issued as a :class:`RangeWarning`) and the value kept; with ``strict``
    it is refused.

    Raises:
        ParameterError: unknown or non-constant name, wrong type, a value
            that is not finite, or (with ``strict``) a value outside the
            declared range.
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
        if var.kind == "control" and resolved not in TIME_KEYWORDS:
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
                where = f"value {value:g} for '{resolved}' in {owner} is outside its declared range {shown}"
                if strict:
                    raise ParameterError(
                        f"{where}; choose a value inside the range or widen the range in the model"
                    )
                message = f"{where} (running it anyway; refused with strict)"
                if notes is None:
                    warnings.warn(message, RangeWarning, stacklevel=2)
                elif message not in notes:
                    notes.append(message)
        out[resolved] = value
    return out


def run_name(
    base: str, policy: str | None = None, constants: Mapping[str, float] | None = None
) -> str:
    """The name of a run: ``base``, ``"+<policy>"``, then ``"+<Constant>=<value>"``
    for every constant set, sorted by name.

    Names and values are written so the name is also a safe file name:
    runs of characters other than letters, digits, ``.``, ``_`` and ``-``
    become ``_``; a value is written in its shortest exact form
    (``2``, ``0.125``, ``1e-09``). The same constants always give the same
    name, whatever their order. A name longer than :data:`MAX_NAME_BYTES`
    bytes is cut and ends in a hash of the full name.

    Example: ``run_name("baseline", None, {"Construction Time": 2.0})`` is
    ``"baseline+Construction_Time=2"``.
    """
    parts = [base] + ([policy] if policy else [])
    for key in sorted(constants or {}):
        safe = re.sub(r"[^\w.-]+", "_", key).strip("_") or "_"
        parts.append(f"{safe}={_shortest(constants[key])}")
    name = "+".join(parts)
    if len(name.encode()) <= MAX_NAME_BYTES:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:12]
    cut = name.encode()[: MAX_NAME_BYTES - len(digest) - 1].decode(errors="ignore")
    return f"{cut}+{digest}"


def _shortest(value: float) -> str:
    """A number in its shortest exact form, without ``+`` (``2``, ``1e16``)."""
    text = repr(float(value))
    if text.endswith(".0"):
        text = text[:-2]
    return text.replace("e+", "e")


def _non_finite_rows(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The frame's values and the mask of its non-finite ones."""
    values = frame.to_numpy(dtype=float, na_value=np.nan)
    return values, ~np.isfinite(values)


def _first_step(
    model: Model, frame: pd.DataFrame, row: int, params: Mapping[str, float], timing: Mapping[str, Any]
) -> tuple[float, dict[str, float]] | None:
    """Time and non-finite values of every variable at the first time step at
    which any variable is non-finite, or None when that cannot be found.

    ``row`` is the first saved row with a non-finite value; the run is
    repeated up to it, with every variable saved at each time step after
    the saved row before it (the model is deterministic, so it goes
    non-finite at the same step).
    """
    step = timing["time_step"] if timing["time_step"] is not None else model.time.time_step
    start = model.time.initial_time
    bad_time = float(frame.index[row])
    if row == 0:
        times = [bad_time]
    else:
        before = float(frame.index[row - 1])
        times = [before + k * step for k in range(1, int(round((bad_time - before) / step)) + 1)]
    try:
        fine = model.simulate(
            params,
            final_time=max(times[-1], start + step),
            time_step=step,
            saveper=step,
            return_timestamps=times,
        )
    except PyloopError:
        return None
    values, bad = _non_finite_rows(fine)
    if not bad.any():
        return None
    first = int(np.argmax(bad.any(axis=1)))
    return float(fine.index[first]), {
        c: float(v) for c, v, b in zip(fine.columns, values[first], bad[first]) if b
    }


def check_finite(
    model: Model,
    frame: pd.DataFrame,
    run_name: str,
    params: Mapping[str, float],
    timing: Mapping[str, Any],
) -> None:
    """Raise :class:`SimulationError` naming the variable that became NaN or
    infinite first.

    "First" means the earliest time step at which any variable is
    non-finite (the saved rows only bound it, so the run is repeated at
    every step near it, see :func:`_first_step`) and, of the variables
    non-finite then, the one PySD computes first
    (:meth:`Model.evaluation_order`): the cause rather than the variables
    computed from it.
    """
    values, bad = _non_finite_rows(frame)
    if not bad.any():
        return
    row = int(np.argmax(bad.any(axis=1)))
    found = _first_step(model, frame, row, params, timing)
    if found is None:  # fall back on the saved row
        found = float(frame.index[row]), {
            c: float(v) for c, v, b in zip(frame.columns, values[row], bad[row]) if b
        }
    time, culprits = found
    order = model.evaluation_order(initial=time <= model.time.initial_time)
    rank = {name: i for i, name in enumerate(order)}
    column = min(culprits, key=lambda c: rank.get(c.split("[", 1)[0], len(rank)))
    value = culprits[column]
    what = "NaN" if np.isnan(value) else ("+inf" if value > 0 else "-inf")
    others = len(culprits) - 1
    raise SimulationError(
        f"run '{run_name}': '{column}' became {what} at time {time:g}"
        + (f", the first of {others + 1} variables non-finite then" if others else "")
        + "; look for a division by zero or runaway growth there"
    )


def _split_timing(
    constants: Mapping[str, float], final_time: float | None = None, time_step: float | None = None
) -> tuple[dict[str, float], dict[str, float | None]]:
    """Split a run's constants into plain constants and :meth:`Model.simulate`
    time keywords (``None``: the model's own); explicit arguments win."""
    timing = {"final_time": final_time, "time_step": time_step, "saveper": None}
    plain: dict[str, float] = {}
    for key, value in constants.items():
        if key in TIME_KEYWORDS:
            kw = TIME_KEYWORDS[key]
            if timing[kw] is None:
                timing[kw] = value
        else:
            plain[key] = value
    if timing["time_step"] is not None and timing["saveper"] is None:
        timing["saveper"] = timing["time_step"]
    return plain, timing


def _check_clock(
    model: Model, timing: Mapping[str, float | None], columns: Sequence[str] | None, name: str
) -> None:
    """Check a run's time settings before it starts (see
    :func:`pyloop.engine.limits.check_time_settings`)."""
    t = model.time
    chosen = {k: v for k, v in timing.items() if v is not None}
    check_time_settings(
        t.initial_time,
        chosen.get("final_time", t.final_time),
        chosen.get("time_step", t.time_step),
        chosen.get("saveper", t.saveper),
        len(columns) if columns is not None else len(model.variables),
        f"run '{name}'",
    )


@dataclass(frozen=True)
class RunPlan:
    """A run checked against the model and ready to start (see :func:`plan_runs`).

    Attributes:
        name, scenario, policy: as in :class:`RunResult`.
        constants: every constant and time setting the run changes, checked,
            by canonical name (as in :class:`RunResult`).
        params: the constants among them set through ``params``.
        return_columns, final_time, time_step: as given to :func:`run`, or ``None``.
        warnings: values outside a declared range the run will use.
    """

    name: str
    scenario: str | None
    policy: str | None
    constants: Mapping[str, float]
    params: Mapping[str, float]
    return_columns: tuple[str, ...] | None = None
    final_time: float | None = None
    time_step: float | None = None
    warnings: tuple[str, ...] = ()


def plan_runs(
    model: Model, names: Iterable[str | None], policy: str | None = None,
    params: Mapping[str, float] | None = None, *, scenarios: ScenarioFile | None = None,
    return_columns: Iterable[str] | None = None, params_owner: str = "params",
    final_time: float | None = None, time_step: float | None = None, name: str | None = None,
    strict: bool = False, saveper: float | None = None,
) -> list[RunPlan]:
    """Check several runs (each scenario of ``names``, with the same policy
    and ``params``) before any starts: every name, constant and clock, each
    once. ``params_owner`` names the source of ``params`` in error messages
    (``"--set"`` on the command line); the other arguments are those of
    :func:`run`, ``name`` for a single run; ``saveper`` is the interval
    between saved rows in model time units (default the model's SAVEPER;
    it does not change the runs' names). Raises as :func:`run` does; a
    value outside a declared range is warned about once (a
    :class:`RangeWarning`) and recorded in the plans that use it."""
    names = list(dict.fromkeys(names))
    if scenarios is None and (policy is not None or any(n is not None for n in names)):
        scenarios = load_scenarios(model)
    for n in names:
        if n is not None:
            scenarios.scenario(n)  # raises with a suggestion if unknown
    shared: list[str] = []
    fixed = (validate_constants(model, scenarios.policy(policy).constants, f"policy '{policy}'",
                                strict=strict, notes=shared) if policy else {})
    explicit = validate_constants(model, params, params_owner, strict=strict, notes=shared) if params else {}
    timed = (("FINAL TIME", final_time), ("TIME STEP", time_step))
    named = {**explicit, **{key: value for key, value in timed if value is not None}}
    columns = tuple(return_columns) if return_columns is not None else None
    plans = []
    told: list[str] = []
    for n in names:
        notes = list(shared)
        constants = (validate_constants(model, scenarios.resolve(n), f"scenario '{n}'", strict=strict, notes=notes)
                     if n is not None else {})
        constants.update(fixed)
        constants.update(explicit)
        if saveper is not None:
            constants["SAVEPER"] = saveper
        plan = RunPlan(name if name is not None else run_name(n or model.name, policy, named), n, policy,
                       MappingProxyType(constants), MappingProxyType(explicit), columns, final_time, time_step,
                       tuple(notes))
        _check_clock(model, _split_timing(constants, final_time, time_step)[1], columns, plan.name)
        plans.append(plan)
        told.extend(note for note in notes if note not in told)
    for note in told:
        warnings.warn(note, RangeWarning, stacklevel=3)
    return plans


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
    strict: bool = False,
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
        name: run name; default built from scenario, policy, ``params``,
            ``final_time`` and ``time_step`` by :func:`run_name`.
        strict: refuse a value outside a constant's declared range; by
            default it runs, with a :class:`RangeWarning` and a line in
            :attr:`RunResult.warnings`.

    Returns:
        A :class:`RunResult`.

    Raises:
        ScenarioError: unknown scenario or policy (with a suggestion).
        ParameterError: unknown constant (with a suggestion), wrong type, a
            value that is not finite (or, with ``strict``, lies outside the
            constant's declared range), or time settings no run can have
            (:func:`pyloop.engine.limits.check_time_settings`).
        SimulationError: the run failed, produced NaN or infinity (the
            message names the variable that did so first), or would take
            too many steps or too much memory.
    """
    model = _as_model(model)
    [plan] = plan_runs(model, [scenario], policy, params, scenarios=scenarios, return_columns=return_columns,
                       final_time=final_time, time_step=time_step, name=name, strict=strict)
    return run_plan(model, plan)


def run_plan(model: Model, plan: RunPlan) -> RunResult:
    """Run a planned run (see :func:`plan_runs`) without checking it again;
    raises :class:`SimulationError` as :func:`run` does."""
    plain, timing = _split_timing(plan.constants, plan.final_time, plan.time_step)
    columns = list(plan.return_columns) if plan.return_columns is not None else None
    result = _result(model, plan, model.simulate(plain, return_columns=columns, **timing), plain, timing)
    if isinstance(result, SimulationError):
        raise result
    return result


#: Most runs :func:`run_together` puts in one vectorised run (bounds its memory).
TOGETHER_BATCH = 32


def run_together(model: Model, plans: Sequence[RunPlan], raise_failure: bool = False) -> list[Any]:
    """Run plans that differ only in constants, up to :data:`TOGETHER_BATCH` at a
    time in one vectorised PySD run: each plan's :class:`RunResult` (its own run's
    values, to rounding) or the :class:`SimulationError` its own run would raise
    (the first one raised, with ``raise_failure``). Plans with their own clock or
    columns, a model that cannot run on arrays or a failing batch run one by one."""
    from pyloop.engine.vectorised import NotVectorisable, VectorEngine

    if len(plans) > TOGETHER_BATCH or raise_failure:
        pieces = [plans[k:k + TOGETHER_BATCH] for k in range(0, len(plans), TOGETHER_BATCH)]
        results = [result for piece in pieces for result in run_together(model, piece)]
        failure = next((r for r in results if isinstance(r, SimulationError)), None)
        if raise_failure and failure is not None:
            raise failure
        return results
    splits = [_split_timing(p.constants, p.final_time, p.time_step) for p in plans]
    clock, defaults = model.time, model.defaults
    keys = sorted({k for plain, _ in splits for k in plain})
    clocks = {(t["final_time"], t["time_step"] or clock.time_step, t["saveper"] or clock.saveper) for _, t in splits}
    if (len(plans) < 2 or len(clocks) > 1 or next(iter(clocks))[1:] != (clock.time_step, clock.saveper)
            or len({p.return_columns for p in plans}) > 1 or any(np.ndim(defaults[k]) for k in keys)):
        return [_alone(model, p) for p in plans]
    values = {k: np.array([plain.get(k, defaults[k]) for plain, _ in splits], dtype=float) for k in keys}
    columns = list(plans[0].return_columns or model.output_columns)
    try:
        times, series = VectorEngine(model).run(values, columns, len(plans), final_time=splits[0][1]["final_time"])
    except (NotVectorisable, SimulationError):  # each run then fails, or not, on its own
        return [_alone(model, p) for p in plans]
    index = pd.Index(times, name="time")
    return [_result(model, plan, pd.DataFrame({c: series[c][:, i] for c in columns}, index=index), *split)
            for i, (plan, split) in enumerate(zip(plans, splits))]


def _result(model: Model, plan: RunPlan, frame: pd.DataFrame, plain: Mapping[str, float],
            timing: Mapping[str, Any]) -> RunResult | SimulationError:
    """The run's result from its frame, or the error of a non-finite value in it."""
    try:
        check_finite(model, frame, plan.name, plain, timing)
    except SimulationError as exc:
        return exc
    units = MappingProxyType({c: _units(model, c) for c in frame.columns})
    return RunResult(plan.name, model.name, plan.scenario, plan.policy, plan.constants, frame, units,
                     model.time.units, plan.warnings)


def _alone(model: Model, plan: RunPlan) -> RunResult | SimulationError:
    try:
        return run_plan(model, plan)
    except SimulationError as exc:
        return exc


def _units(model: Model, column: str) -> str | None:
    base = column.split("[", 1)[0]
    resolved = model.resolve_name(base)
    return model.variable(resolved).units if resolved else None


def run_plans(model: Model, plans: Sequence[RunPlan], progress: bool | None = None) -> list[RunResult]:
    """Run planned runs in order (see :func:`plan_runs`), with a tqdm bar on
    stderr when ``progress`` (default: more than one run and stderr is a TTY)."""
    if progress is None:
        progress = len(plans) > 1 and sys.stderr.isatty()
    if progress:
        from tqdm import tqdm

        plans = tqdm(plans, desc="runs", unit="run", file=sys.stderr, leave=False)
    return [run_plan(model, plan) for plan in plans]


def run_many(
    model: Model | str | os.PathLike[str],
    names: Iterable[str | None],
    policy: str | None = None,
    *,
    scenarios: ScenarioFile | None = None,
    return_columns: Iterable[str] | None = None,
    progress: bool | None = None,
    params: Mapping[str, float] | None = None,
    strict: bool = False,
) -> list[RunResult]:
    """Run several scenarios (each with the same policy, if given).

    All names and constants are checked before the first run, so a typo
    fails fast (see :func:`plan_runs`).

    Args:
        model: a loaded :class:`Model` or a model file path.
        names: scenario names; ``None`` stands for the model's defaults.
        policy: policy applied to every run, or ``None``.
        scenarios: the scenario file; default the model's own.
        params: constants set in every run, after scenario and policy.
        return_columns: variables to keep; default all.
        progress: show a progress bar on stderr; default only when stderr
            is a terminal and there is more than one run.
        strict: refuse values outside a declared range (see :func:`run`).

    Returns:
        One :class:`RunResult` per name, in order.
    """
    model = _as_model(model)
    if scenarios is None:
        scenarios = load_scenarios(model)
    plans = plan_runs(model, names, policy, params, scenarios=scenarios, return_columns=return_columns,
                      strict=strict)
    return run_plans(model, plans, progress)


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
