"""Uncertain constants, scalar outcomes and seeded samples.

A model may declare its uncertainties in a TOML file beside it,
``X.uncertainty.toml`` for ``X.mdl``::

    [parameters."Maximum Revenue Growth Rate"]          # uniform over the Vensim range
    [parameters."Base Interest Rate"]
    min = 0.03                                          # uniform over [min, max]
    max = 0.08
    [parameters."Equity Appetite Shock Size"]
    distribution = "triangular"                         # over [min, max], peak at mode
    mode = 0.2
    [parameters."Construction Time"]
    distribution = "normal"                             # truncated to [min, max]
    mean = 1.25
    sd = 0.3
    [parameters."Equity Appetite Shock Time"]
    scenarios = ["music_stops"]                         # sampled only in these scenarios
    min = 2026
    max = 2027.5

    [outcomes."Minimum AI Lab Cash"]
    variable = "AI Lab Cash"
    statistic = "min"                  # min | max | final | mean | integral | first_time_above
    [outcomes."Music Stops Time"]
    variable = "Contract Cancellations"
    statistic = "first_time_above"
    threshold = 0                      # first saved time the variable exceeds it

    [bands]
    variables = ["AI Lab Cash", "Cloud Market Value"]   # time series kept for fan charts

    [outcome_sets.loops."R1 Dominance"]                 # opt-in outcomes (slower)
    statistic = "loop_dominance"                        # share of time loop R1 dominates
    loop = "R1"                                         # an id of the loop catalogue
    start = 2027                                        # optional window
    end = 2030

``min``/``max`` default to the constant's declared Vensim range, and must lie
inside it. ``scenarios`` (a list of scenario names of the model's scenario
file) samples a parameter only in those scenarios: elsewhere it keeps its
value (the model's, or the one the scenario sets). In the scenarios it
names it is sampled even when the scenario sets it, so a scenario's shock
can be studied around its own values; without ``scenarios`` a constant that
the chosen scenario sets stays fixed. A constant set by the policy always
stays fixed (see :meth:`UncertaintySpec.sampled_in`). Outcomes under ``[outcome_sets.<set>]`` are computed only when
the set is asked for (``read_uncertainty(..., outcome_sets=["loops"])``,
``pyloop sensitivity --loop-outcomes``). A model without such a file gets every constant with a finite
declared range as a uniform parameter, and the final value of every stock as
an outcome.

Samples drawn in the unit hypercube (:mod:`pyloop.sensitivity.sampling`)
are mapped to each parameter's distribution through its inverse CDF
(:meth:`UncertaintySpec.transform`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import numpy as np

from pyloop.declarations.toml import read_toml
from pyloop.declarations.paths import declaration_path
from pyloop.errors import ParameterError, PyloopError, suggest

__all__ = [
    "DISTRIBUTIONS",
    "STATISTICS",
    "Outcome",
    "Parameter",
    "UncertaintySpec",
    "as_table",
    "read_uncertainty",
    "uncertainty_path",
]

#: Distributions a parameter may have.
DISTRIBUTIONS = ("uniform", "triangular", "normal")

#: Statistics that turn one run's time series into a scalar outcome.
#: ``first_time_above``: first saved time the variable exceeds ``threshold``;
#: a run where it never does gets ``never`` (default FINAL TIME + 1 time unit).
#: ``integral``: left Riemann sum over the saved times (Euler's own sum when
#: SAVEPER equals TIME STEP). ``loop_dominance``: the share of the time
#: steps in a window (default the whole run) in which the named ``loop`` of
#: the model's loop catalogue belongs to the dominant set of its partition
#: (see :func:`pyloop.sensitivity.batch.loop_dominance_share`).
STATISTICS = ("min", "max", "final", "mean", "integral", "first_time_above", "loop_dominance")

#: The statistic computed from each run's loop scores rather than one variable.
LOOP_DOMINANCE = "loop_dominance"

_PARAM_KEYS = ("distribution", "min", "max", "mode", "mean", "sd", "scenarios")
_OUTCOME_KEYS = ("variable", "statistic", "threshold", "never", "description")
_LOOP_OUTCOME_KEYS = ("statistic", "loop", "start", "end", "description")
_TOP_KEYS = ("meta", "parameters", "outcomes", "outcome_sets", "bands")


@dataclass(frozen=True)
class Parameter:
    """One uncertain constant.

    Attributes:
        name: the constant's name in the model.
        distribution: one of :data:`DISTRIBUTIONS`.
        low: lower bound (the support's, or the truncation of a normal).
        high: upper bound.
        mode: peak of a triangular distribution.
        mean: mean of a normal distribution (before truncation).
        sd: standard deviation of a normal distribution.
        scenarios: the scenarios in which it is sampled (even when they set
            it), or ``None``: every scenario that does not set it.
    """

    name: str
    distribution: str
    low: float
    high: float
    mode: float | None = None
    mean: float | None = None
    sd: float | None = None
    scenarios: tuple[str, ...] | None = None

    def sampled_in(self, scenario: str | None, scenario_set: set[str], policy_set: set[str]) -> bool:
        """Whether the parameter is sampled in ``scenario`` (``None``: the
        model's defaults), given the constants the scenario and the policy set."""
        if self.name in policy_set:
            return False
        if self.scenarios is not None:
            return scenario in self.scenarios
        return self.name not in scenario_set

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Values at quantiles ``u`` (in [0, 1]) of this distribution."""
        u = np.asarray(u, dtype=float)
        width = self.high - self.low
        if self.distribution == "uniform":
            return self.low + u * width
        if self.distribution == "triangular":
            c = (self.mode - self.low) / width
            left = self.low + np.sqrt(u * width * (self.mode - self.low))
            right = self.high - np.sqrt((1 - u) * width * (self.high - self.mode))
            return np.where(u < c, left, right)
        from scipy.stats import truncnorm

        a = (self.low - self.mean) / self.sd
        b = (self.high - self.mean) / self.sd
        return np.clip(truncnorm.ppf(u, a, b, loc=self.mean, scale=self.sd), self.low, self.high)

    def describe(self) -> dict[str, Any]:
        """Plain data for a manifest."""
        out: dict[str, Any] = {"distribution": self.distribution, "min": self.low, "max": self.high}
        if self.mode is not None:
            out["mode"] = self.mode
        if self.mean is not None:
            out.update(mean=self.mean, sd=self.sd)
        if self.scenarios is not None:
            out["scenarios"] = list(self.scenarios)
        return out


@dataclass(frozen=True)
class Outcome:
    """A scalar summary of one run.

    Attributes:
        name: the outcome's name (a column of the outcomes table).
        variable: the model variable it summarises (``""`` for
            ``loop_dominance``).
        statistic: one of :data:`STATISTICS`.
        threshold: for ``first_time_above``.
        never: for ``first_time_above``: the value of a run in which the
            variable never exceeds the threshold; default FINAL TIME + 1.
        description: free text for tables and figures.
        loop: for ``loop_dominance``: the id of a loop of the model's loop
            catalogue (``"R1"``).
        start: for ``loop_dominance``: the window's start (default INITIAL TIME).
        end: for ``loop_dominance``: the window's end (default FINAL TIME).
    """

    name: str
    variable: str
    statistic: str
    threshold: float = 0.0
    never: float | None = None
    description: str = ""
    loop: str | None = None
    start: float | None = None
    end: float | None = None

    @property
    def is_loop(self) -> bool:
        """True for a ``loop_dominance`` outcome (computed from loop scores)."""
        return self.statistic == LOOP_DOMINANCE

    def describe(self) -> dict[str, Any]:
        if self.is_loop:
            return {"statistic": self.statistic, "loop": self.loop, "start": self.start, "end": self.end}
        out: dict[str, Any] = {"variable": self.variable, "statistic": self.statistic}
        if self.statistic == "first_time_above":
            out.update(threshold=self.threshold, never=self.never)
        return out


@dataclass(frozen=True)
class UncertaintySpec:
    """What varies, what is measured, and which series are kept.

    Attributes:
        parameters: the uncertain constants, in file order.
        outcomes: the scalar outcomes, in file order.
        bands: variables whose time series are kept for percentile bands.
        path: the file read, or ``None`` for the defaults.
        outcome_sets: names of every ``[outcome_sets.<set>]`` the file
            declares (whether or not their outcomes were included).
    """

    parameters: tuple[Parameter, ...]
    outcomes: tuple[Outcome, ...]
    bands: tuple[str, ...] = ()
    path: Path | None = None
    outcome_sets: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def problem(self) -> dict[str, Any]:
        """SALib problem over the unit hypercube (samples are mapped by :meth:`transform`)."""
        return {
            "num_vars": len(self.parameters),
            "names": self.names,
            "bounds": [[0.0, 1.0]] * len(self.parameters),
        }

    def transform(self, unit: np.ndarray) -> np.ndarray:
        """Map unit-hypercube samples (runs x parameters) to parameter values."""
        unit = np.asarray(unit, dtype=float)
        return np.column_stack([p.ppf(unit[:, j]) for j, p in enumerate(self.parameters)])

    def without(self, names: set[str]) -> "UncertaintySpec":
        """The same spec without the parameters called ``names``."""
        kept = tuple(p for p in self.parameters if p.name not in names)
        return UncertaintySpec(kept, self.outcomes, self.bands, self.path, self.outcome_sets)

    def only(self, names: Sequence[str]) -> "UncertaintySpec":
        """The same spec with only the parameters called ``names``, in that order."""
        by_name = {p.name: p for p in self.parameters}
        kept = tuple(by_name[n] for n in names if n in by_name)
        return UncertaintySpec(kept, self.outcomes, self.bands, self.path, self.outcome_sets)

    def sampled_in(
        self, scenario: str | None, scenario_set: Sequence[str] = (), policy_set: Sequence[str] = ()
    ) -> "UncertaintySpec":
        """The parameters sampled in ``scenario`` (see :meth:`Parameter.sampled_in`).

        Args:
            scenario: the scenario's name, ``None`` for the model's defaults.
            scenario_set: names of the constants the scenario sets.
            policy_set: names of the constants the policy sets.
        """
        scen, pol = set(scenario_set), set(policy_set)
        kept = tuple(p for p in self.parameters if p.sampled_in(scenario, scen, pol))
        return UncertaintySpec(kept, self.outcomes, self.bands, self.path, self.outcome_sets)


def uncertainty_path(model_path: str | os.PathLike[str]) -> Path:
    """The uncertainty file of a model: ``X.mdl`` -> ``X.uncertainty.toml``."""
    p = Path(model_path)
    return p.with_name(p.stem + ".uncertainty.toml")


def _number(value: Any, what: str, file: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ParameterError(f"{what} in '{file}' must be a finite number, not {value!r}")
    return float(value)


def _parameter(model: Any, name: str, body: Any, file: str) -> Parameter:
    if not isinstance(body, dict):
        raise PyloopError(f"[parameters.\"{name}\"] in '{file}' must be a table")
    for key in body:
        if key not in _PARAM_KEYS:
            raise PyloopError(
                f"unknown key '{key}' for parameter '{name}' in '{file}'; "
                f"allowed keys: {', '.join(_PARAM_KEYS)}"
            )
    resolved = model.resolve_name(name)
    var = model.variable(resolved) if resolved else None
    if var is None or var.kind != "constant":
        raise ParameterError(
            f"unknown parameter '{name}' in '{file}': not a constant of model '{model.name}'"
            + suggest(name, model.constants)
        )
    dist = body.get("distribution", "uniform")
    if dist not in DISTRIBUTIONS:
        raise PyloopError(
            f"unknown distribution '{dist}' for parameter '{name}' in '{file}'; "
            f"use one of {', '.join(DISTRIBUTIONS)}"
        )
    declared = var.range or (None, None)
    lo = body.get("min", declared[0])
    hi = body.get("max", declared[1])
    if lo is None or hi is None:
        raise ParameterError(
            f"parameter '{name}' in '{file}' has no finite range: give min and max, "
            "or declare a Vensim range [min,max] on the constant"
        )
    lo = _number(lo, f"min of '{name}'", file)
    hi = _number(hi, f"max of '{name}'", file)
    if not lo < hi:
        raise ParameterError(
            f"parameter '{var.name}' in '{file}' has an empty range [{lo:g}, {hi:g}]; "
            "min must be below max"
        )
    if (declared[0] is not None and lo < declared[0]) or (
        declared[1] is not None and hi > declared[1]
    ):
        raise ParameterError(
            f"range [{lo:g}, {hi:g}] of parameter '{var.name}' in '{file}' leaves its declared "
            f"range [{declared[0]:g}, {declared[1]:g}]; narrow it or widen the range in the model"
        )
    scenarios = _scenarios(model, name, body.get("scenarios"), file)
    mode = mean = sd = None
    if dist == "triangular":
        mode = _number(body.get("mode", (lo + hi) / 2), f"mode of '{name}'", file)
        if not lo <= mode <= hi:
            raise ParameterError(f"mode {mode:g} of '{var.name}' in '{file}' is outside [{lo:g}, {hi:g}]")
    if dist == "normal":
        if "mean" not in body or "sd" not in body:
            raise ParameterError(f"normal parameter '{var.name}' in '{file}' needs mean and sd")
        mean = _number(body["mean"], f"mean of '{name}'", file)
        sd = _number(body["sd"], f"sd of '{name}'", file)
        if sd <= 0:
            raise ParameterError(f"sd of '{var.name}' in '{file}' must be positive")
    return Parameter(var.name, dist, lo, hi, mode, mean, sd, scenarios)


def _scenarios(model: Any, name: str, value: Any, file: str) -> tuple[str, ...] | None:
    """The checked ``scenarios`` of parameter ``name`` (``None`` when not given)."""
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise PyloopError(
            f"scenarios of parameter '{name}' in '{file}' must be a non-empty list of scenario names"
        )
    from pyloop.declarations.scenarios import load_scenarios

    known = load_scenarios(model).scenarios
    for scenario in value:
        if scenario not in known:
            raise PyloopError(
                f"unknown scenario '{scenario}' in the scenarios of parameter '{name}' in '{file}'; "
                f"known scenarios: {', '.join(known) or 'none (the model has no scenario file)'}"
            )
    return tuple(dict.fromkeys(value))


def _allowed_keys(body: dict, allowed: Sequence[str], what: str, file: str) -> None:
    for key in body:
        if key not in allowed:
            raise PyloopError(
                f"unknown key '{key}' for {what} in '{file}'; allowed keys: {', '.join(allowed)}"
            )


def _loop_outcome(model: Any, name: str, body: dict, file: str, catalogue: dict) -> Outcome:
    _allowed_keys(body, _LOOP_OUTCOME_KEYS, f"loop outcome '{name}'", file)
    if "loop" not in body:
        raise PyloopError(f"loop outcome '{name}' in '{file}' needs a loop (an id of the loop catalogue)")
    if "catalogue" not in catalogue:
        from pyloop.analysis.loops import load_catalogue

        catalogue["catalogue"] = {e.id: e for e in load_catalogue(model)}
    named = catalogue["catalogue"]
    loop = str(body["loop"])
    if loop not in named:
        if not named:
            raise PyloopError(
                f"unknown loop '{loop}' for outcome '{name}' in '{file}': model '{model.name}' "
                "has no loop catalogue (X.loops.toml beside X.mdl)"
            )
        raise PyloopError(
            f"unknown loop '{loop}' for outcome '{name}' in '{file}'; the loop catalogue "
            f"names {', '.join(named)}" + suggest(loop, named)
        )
    t = model.time
    start = _number(body.get("start", t.initial_time), f"start of '{name}'", file)
    end = _number(body.get("end", t.final_time), f"end of '{name}'", file)
    if not t.initial_time <= start < end <= t.final_time:
        raise PyloopError(
            f"window [{start:g}, {end:g}] of outcome '{name}' in '{file}' must be non-empty and "
            f"inside the run [{t.initial_time:g}, {t.final_time:g}]"
        )
    return Outcome(
        name=name,
        variable="",
        statistic=LOOP_DOMINANCE,
        description=str(body.get("description", "")),
        loop=loop,
        start=start,
        end=end,
    )


def _outcome(model: Any, name: str, body: Any, file: str, catalogue: dict | None = None) -> Outcome:
    if not isinstance(body, dict):
        raise PyloopError(f"[outcomes.\"{name}\"] in '{file}' must be a table")
    if body.get("statistic") == LOOP_DOMINANCE:
        return _loop_outcome(model, name, body, file, {} if catalogue is None else catalogue)
    _allowed_keys(body, _OUTCOME_KEYS, f"outcome '{name}'", file)
    if "variable" not in body:
        raise PyloopError(f"outcome '{name}' in '{file}' needs a variable")
    variable = model.variable(str(body["variable"])).name
    statistic = body.get("statistic", "final")
    if statistic not in STATISTICS:
        raise PyloopError(
            f"unknown statistic '{statistic}' for outcome '{name}' in '{file}'; "
            f"use one of {', '.join(STATISTICS)}"
        )
    never = body.get("never")
    return Outcome(
        name=name,
        variable=variable,
        statistic=statistic,
        threshold=_number(body.get("threshold", 0.0), f"threshold of '{name}'", file),
        never=model.time.final_time + 1.0 if never is None else _number(never, f"never of '{name}'", file),
        description=str(body.get("description", "")),
    )


def _default_spec(model: Any) -> UncertaintySpec:
    params = []
    for var in model.constants.values():
        r = var.range
        if r and r[0] is not None and r[1] is not None and r[0] < r[1]:
            params.append(Parameter(var.name, "uniform", float(r[0]), float(r[1])))
    outcomes = tuple(Outcome(f"Final {s}", s, "final") for s in model.stocks)
    return UncertaintySpec(tuple(params), outcomes, tuple(model.stocks[:3]), None)


def read_uncertainty(
    model: Any,
    path: str | os.PathLike[str] | None = None,
    outcome_sets: Sequence[str] = (),
) -> UncertaintySpec:
    """The uncertainty spec of a loaded model.

    Args:
        model: a :class:`~pyloop.engine.Model`.
        path: the TOML file; default the one named when the model was
            loaded (``--uncertainty``), else ``X.uncertainty.toml`` beside it,
            or the defaults (every constant with a finite range, final value
            of every stock) when there is none.
        outcome_sets: names of ``[outcome_sets.<set>]`` tables whose outcomes
            are added after ``[outcomes]`` (opt-in outcomes, such as the
            slower ``loop_dominance`` ones).

    Raises:
        ParameterError: an unknown parameter, an empty or out-of-range
            range, a bad distribution setting.
        PyloopError: a malformed file, unknown key, outcome, outcome set,
            loop id or band variable.
    """
    outcome_sets = tuple(dict.fromkeys(outcome_sets))
    if path is None:
        path = declaration_path(model, "uncertainty")
        if not path.is_file():
            if outcome_sets:
                raise PyloopError(
                    f"no outcome set '{outcome_sets[0]}': model '{model.name}' has no "
                    f"uncertainty file '{path.name}'"
                )
            return _default_spec(model)
    path = Path(path)
    file = path.name
    data = read_toml(path, "uncertainty file")
    for key in data:
        if key not in _TOP_KEYS:
            raise PyloopError(
                f"unknown section '{key}' in '{file}'; allowed: {', '.join(_TOP_KEYS)}"
            )
    params = tuple(_parameter(model, n, b, file) for n, b in data.get("parameters", {}).items())
    if not params:
        raise PyloopError(f"'{file}' declares no [parameters]; add at least one uncertain constant")
    seen: set[str] = set()
    for p in params:
        if p.name in seen:
            raise PyloopError(f"parameter '{p.name}' appears twice in '{file}'")
        seen.add(p.name)
    catalogue: dict = {}
    outcomes = tuple(_outcome(model, n, b, file, catalogue) for n, b in data.get("outcomes", {}).items())
    if not outcomes:
        outcomes = _default_spec(model).outcomes
    sets = data.get("outcome_sets", {})
    if not isinstance(sets, dict) or not all(isinstance(v, dict) for v in sets.values()):
        raise PyloopError(f"[outcome_sets] in '{file}' must hold tables [outcome_sets.<set>.\"Name\"]")
    for wanted in outcome_sets:
        if wanted not in sets:
            raise PyloopError(
                f"no outcome set '{wanted}' in '{file}'; declared sets: {', '.join(sets) or 'none'}"
                + suggest(wanted, sets)
            )
        outcomes += tuple(_outcome(model, n, b, file, catalogue) for n, b in sets[wanted].items())
    names = [o.name for o in outcomes]
    for o in outcomes:
        if names.count(o.name) > 1:
            raise PyloopError(f"outcome '{o.name}' appears twice in '{file}'")
    bands = data.get("bands", {}).get("variables", [])
    if not isinstance(bands, list):
        raise PyloopError(f"[bands] variables in '{file}' must be a list of variable names")
    bands = tuple(model.variable(str(b)).name for b in bands)
    return UncertaintySpec(params, outcomes, bands, path, tuple(sets))


def as_table(spec: UncertaintySpec) -> Mapping[str, Any]:
    """Parameters and outcomes as plain data (for a manifest)."""
    return MappingProxyType(
        {
            "parameters": {p.name: p.describe() for p in spec.parameters},
            "outcomes": {o.name: o.describe() for o in spec.outcomes},
            "bands": list(spec.bands),
        }
    )
