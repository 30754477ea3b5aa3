"""A loaded model: its variables, time settings and equations as plain data,
and its runs through PySD. Load one with
:func:`~pyloop.engine.translate.load_model`.

Fresh state per run
-------------------
PySD's ``run(params=...)`` is sticky: a constant set for one run keeps its
value in every later run, and so do ``final_time``/``time_step``/``saveper``.
Reloading the translated module for every run is correct but costs about as
much as a short simulation. :class:`Model` instead remembers the default value
of every constant and the default time settings when it loads, and before each
run it puts back the default of every constant the previous run changed and
passes all time settings explicitly. A run therefore never sees a value from
an earlier run, at a cost of a few dictionary operations.

Names
-----
Variables are named by their names in the model file ("Teacup Temperature").
Lookups are case-insensitive and treat spaces and underscores alike, so
PySD's Python names ("teacup_temperature") are accepted too.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from pyloop.engine.cache import MODULE_NAME, cache_root
from pyloop.engine.expressions import is_stock, reference_name, references, signed_flows
from pyloop.engine.limits import check_time_settings
from pyloop.engine.parse import VENSIM_SUFFIXES, XMILE_SUFFIXES, abstract_model, error_gist
from pyloop.engine.sanitise import neutral_text
from pyloop.errors import ModelFileError, ParameterError, SimulationError, normalize_name, suggest

__all__ = [
    "CONTROL_NAMES",
    "Equation",
    "Model",
    "TimeSettings",
    "Variable",
    "cache_root",
    "VENSIM_SUFFIXES",
    "XMILE_SUFFIXES",
]

#: Vensim names of the four time settings (Vensim's "control" variables).
CONTROL_NAMES = ("INITIAL TIME", "FINAL TIME", "TIME STEP", "SAVEPER")
_CONTROL_PY = ("initial_time", "final_time", "time_step", "saveper")


@dataclass(frozen=True)
class Variable:
    """One model variable, as plain data.

    Attributes:
        name: name in the model file, e.g. ``"Teacup Temperature"``.
        py_name: PySD's Python identifier, e.g. ``"teacup_temperature"``.
        units: units string from the model file, or ``None``.
        comment: documentation comment from the model file, or ``None``.
        kind: one of ``"stock"`` (an INTEG), ``"flow"`` (a variable that
            feeds a stock's rate), ``"aux"`` (any other computed variable,
            including SMOOTH/DELAY outputs), ``"constant"``, ``"lookup"``,
            ``"data"`` or ``"control"`` (INITIAL TIME, FINAL TIME,
            TIME STEP, SAVEPER).
        range: declared range ``(min, max)`` in the variable's units; either
            bound is ``None`` when the model leaves it open (``?``). The
            whole attribute is ``None`` when no range is declared.
        subscripts: subscript ranges of an arrayed variable, else ``None``.
    """

    name: str
    py_name: str
    units: str | None
    comment: str | None
    kind: str
    range: tuple[float | None, float | None] | None
    subscripts: tuple[str, ...] | None


@dataclass(frozen=True)
class TimeSettings:
    """The simulation clock, in the model's time unit.

    Attributes:
        initial_time: start of the simulation.
        final_time: end of the simulation.
        time_step: Euler integration step.
        saveper: interval between saved output rows.
        units: the time unit (from TIME STEP's units), or ``None``.
    """

    initial_time: float
    final_time: float
    time_step: float
    saveper: float
    units: str | None


@dataclass(frozen=True)
class Equation:
    """One variable's equation, as parsed from the model file.

    Attributes:
        name: the variable's name in the model file.
        ast: PySD's abstract syntax tree of the equation (for a stock, its
            ``IntegStructure``); ``None`` for the time settings.
        references: names of the variables the equation reads at each step,
            in the order they first appear (for a stock: those of its net
            flow; its initial value is in ``initial_references``).
        initial_references: names a stock's initial value reads; empty for
            other variables.
        flows: for a stock, ``flow name -> +1`` (inflow) or ``-1`` (outflow);
            empty otherwise, and empty too when the net flow is not a plain
            sum and difference of named flows.
    """

    name: str
    ast: Any
    references: tuple[str, ...]
    initial_references: tuple[str, ...] = ()
    flows: Mapping[str, int] = field(default_factory=dict)



def _exact_grid(times: np.ndarray, start: float, step: Any) -> np.ndarray:
    """The saved times as ``start + k * step``, where PySD's rounding of them
    (to a number of decimals set by the step) moved them off that grid.

    PySD rounds 1/256 Year to 7 decimals, so the saved times of such a run
    would not be evenly spaced by the step that produced them; every analysis
    that reads the step from the saved times needs them on the grid. Times
    already on it, and times that are not a grid at all, are returned as they
    are.
    """
    try:
        step = float(step() if callable(step) else step)
    except (TypeError, ValueError, ArithmeticError):
        return times
    if len(times) < 2 or step <= 0:
        return times
    grid = np.round(start + step * np.arange(len(times)), 12)
    if np.array_equal(grid, times) or np.max(np.abs(grid - times)) > 1e-6 * max(1.0, step):
        return times
    return grid


def _limits(limits: Any) -> tuple[float | None, float | None] | None:
    """Declared range from PySD's ``Limits`` entry; NaN bounds become None."""
    if not isinstance(limits, tuple) or len(limits) != 2:
        return None
    lo, hi = (
        None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
        for v in limits
    )
    if lo is None and hi is None:
        return None
    return (lo, hi)


def _text(value: Any) -> str | None:
    """A doc cell as a string, or None for missing values."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def _culprit(exc: BaseException, py_to_name: Mapping[str, str]) -> str | None:
    """Name of the innermost model variable in an exception's traceback."""
    found = None
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_name
        if name in py_to_name:
            found = py_to_name[name]
        tb = tb.tb_next
    return found


class Model:
    """A loaded model: metadata as plain data and a :meth:`simulate` method.

    Create it with :func:`load_model`. Each :meth:`simulate` call starts from
    the model's own defaults plus the given constants; nothing carries over
    between runs.

    Attributes:
        name: file name without suffix, e.g. ``"teacup"``.
        path: absolute path of the model file.
        cache_dir: cache directory holding the translation.
        translation: the translated Python module (``cache_dir/model.py``),
            checked when this model was loaded.
        translated: True if this load translated the file, False if it
            reused a cached translation.
        variables: every variable, sorted by name.
        time: default :class:`TimeSettings`.
        declarations: declaration files named at load time, by kind; they
            replace the files beside the model (see :mod:`pyloop.declarations.paths`).
    """

    def __init__(
        self,
        engine: Any,
        *,
        source: Path,
        cache_dir: Path,
        translated: bool,
        declarations: Mapping[str, Path] | None = None,
        text: Mapping[str, Any] | None = None,
    ):
        self._engine = engine
        # original units, comments and names: the translation holds neutralised
        # ones; a name with a single quote or backslash keeps its neutral spelling,
        # and its original spelling is accepted by resolve_name
        self._names: Mapping[str, str] = dict((text or {}).get("names", {}))
        self._docs: Mapping[str, Mapping[str, Any]] = dict((text or {}).get("variables", {}))
        self.translation = cache_dir / MODULE_NAME
        self.declarations: Mapping[str, Path] = MappingProxyType(dict(declarations or {}))
        self.name = source.stem
        self.path = source
        self.cache_dir = cache_dir
        self.translated = translated
        self.variables: tuple[Variable, ...] = self._read_variables()
        self._by_name = {v.name: v for v in self.variables}
        self._lookup = {normalize_name(v.name): v.name for v in self.variables}
        for v in self.variables:
            self._lookup.setdefault(normalize_name(v.py_name), v.name)
        for neutral, original in self._names.items():  # names spelled as in the file
            if neutral in self._by_name:
                self._lookup.setdefault(normalize_name(original), neutral)
        self._py_to_name = {v.py_name: v.name for v in self.variables}
        t = engine.time
        units = self._by_name.get("TIME STEP")
        self.time = TimeSettings(
            initial_time=float(t.initial_time()),
            final_time=float(t.final_time()),
            time_step=float(t.time_step()),
            saveper=float(t.saveper()),
            units=units.units if units else None,
        )
        # The model's own clock functions, kept before any run replaces them:
        # a FINAL TIME, TIME STEP or SAVEPER that changes with Time or with a
        # constant is then evaluated during the run, as Vensim and PySD do.
        self._clock = {name: getattr(t, name) for name in ("final_time", "time_step", "saveper")}
        comps = engine.components
        self._defaults: dict[str, Any] = {
            v.py_name: copy.deepcopy(getattr(comps, v.py_name)())
            for v in self.variables
            if v.kind == "constant"
        }
        self._dirty: set[str] = set()
        self._equations: Mapping[str, Equation] | None = None
        self._default_columns = [
            v.name
            for v in self.variables
            if v.kind in ("stock", "flow", "aux", "constant", "data")
            and not engine.get_args(v.py_name)
        ]

    # ------------------------------------------------------------------ metadata
    def _read_variables(self) -> tuple[Variable, ...]:
        engine = self._engine
        doc = engine.doc
        deps = engine.dependencies
        flows: set[str] = set()
        for key, dep in deps.items():
            if key.startswith("_integ_") and isinstance(dep, dict):
                flows.update(k for k in dep.get("step", {}) if not k.startswith("_"))
        out = []
        for row in doc.itertuples(index=False):
            real, py = row[0], row[1]
            if py == "time":
                continue
            rtype, subtype = _text(row.Type), _text(row.Subtype)
            if py in _CONTROL_PY:
                kind = "control"
            elif rtype == "Stateful" and subtype == "Integ":
                kind = "stock"
            elif rtype == "Constant":
                kind = "constant"
            elif rtype == "Lookup":
                kind = "lookup"
            elif rtype == "Data":
                kind = "data"
            elif py in flows:
                kind = "flow"
            else:
                kind = "aux"
            subs = row.Subscripts
            original = self._docs.get(str(real))
            out.append(
                Variable(
                    name=str(real),
                    py_name=str(py),
                    units=_text(original.get("units") if original else row.Units),
                    comment=_text(original.get("comment") if original else row.Comment),
                    kind=kind,
                    range=_limits(row.Limits),
                    subscripts=tuple(subs) if isinstance(subs, (list, tuple)) and subs else None,
                )
            )
        return tuple(sorted(out, key=lambda v: v.name.lower()))

    @property
    def output_columns(self) -> tuple[str, ...]:
        """The variables a run returns by default: every stock, flow,
        auxiliary, constant and data variable (not lookups or controls)."""
        return tuple(self._default_columns)

    @property
    def stocks(self) -> tuple[str, ...]:
        """Names of the stocks (INTEG variables)."""
        return tuple(v.name for v in self.variables if v.kind == "stock")

    @property
    def constants(self) -> Mapping[str, Variable]:
        """Constants that a scenario may set, by name (time settings excluded)."""
        return MappingProxyType({v.name: v for v in self.variables if v.kind == "constant"})

    @property
    def defaults(self) -> Mapping[str, Any]:
        """Default value of every constant, by name, in the constant's units."""
        return MappingProxyType(
            {self._py_to_name[py]: copy.deepcopy(v) for py, v in self._defaults.items()}
        )

    def resolve_name(self, name: str) -> str | None:
        """Canonical name of a variable given any spelling, or None if unknown."""
        if name in self._by_name:
            return name
        return self._lookup.get(normalize_name(name))

    def variable(self, name: str) -> Variable:
        """The :class:`Variable` called ``name``.

        Raises:
            ParameterError: no such variable; the message suggests the
                closest names.
        """
        resolved = self.resolve_name(name)
        if resolved is None:
            raise ParameterError(
                f"unknown variable '{name}' in model '{self.name}'"
                + suggest(name, self._by_name)
            )
        return self._by_name[resolved]

    @property
    def equations(self) -> Mapping[str, Equation]:
        """Every variable's :class:`Equation`, by name (parsed once, on first use).

        Raises:
            ModelFileError: the model file changed or vanished since loading.
        """
        if self._equations is None:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    abstract = abstract_model(self.path)
            except Exception as exc:
                raise ModelFileError(
                    f"cannot parse model file '{self.path.name}': {error_gist(exc)}"
                ) from exc
            names = dict(self._py_to_name, time="Time")
            # equations read a variable by its name in lower case with underscores,
            # not by its Python name where PySD renamed it (a 'p' becomes 'p_1')
            names.update({reference_name(v.name): v.name for v in self.variables})
            equations: dict[str, Equation] = {}
            for section in abstract.sections[:1]:
                for element in section.elements:
                    for component in element.components[:1]:
                        name = neutral_text(element.name)  # as in self.variables
                        equations[name] = self._equation(name, component.ast, names)
            self._equations = MappingProxyType(equations)
        return self._equations

    @staticmethod
    def _equation(name: str, ast: Any, names: Mapping[str, str]) -> Equation:
        def named(refs: Iterable[str]) -> tuple[str, ...]:
            return tuple(dict.fromkeys(names.get(ref, ref) for ref in refs))

        if is_stock(ast):
            signs = signed_flows(ast.flow) or {}
            return Equation(
                name=name,
                ast=ast,
                references=named(references(ast.flow)),
                initial_references=named(references(ast.initial)),
                flows=MappingProxyType({names.get(ref, ref): sign for ref, sign in signs.items()}),
            )
        return Equation(name=name, ast=ast, references=named(references(ast)))

    # ---------------------------------------------------------------- simulation
    def simulate(
        self,
        params: Mapping[str, float] | None = None,
        return_columns: Iterable[str] | None = None,
        final_time: float | None = None,
        time_step: float | None = None,
        saveper: float | None = None,
        *,
        return_timestamps: Sequence[float] | None = None,
    ) -> pd.DataFrame:
        """Run the model from its defaults with some constants changed.

        Args:
            params: constant name -> value (in the constant's units). Only
                constants may be set; every other constant keeps its default.
            return_columns: variable names to return; default every stock,
                flow, auxiliary, constant and data variable.
            final_time: end time (model time units); default the model's.
            time_step: integration step (model time units); default the
                model's. Also sets ``saveper`` unless that is given, so
                halving the step keeps one output row per step.
            saveper: output interval (model time units); default
                ``time_step`` if given, else the model's SAVEPER.
            return_timestamps: save only at these times (model time
                units, on the time-step grid) instead of every ``saveper``.

        Returns:
            DataFrame indexed by time (float, model time units, named
            ``"time"``) with one column per variable, named as in the model
            file.

        Raises:
            ParameterError: unknown variable, a variable that is not a
                constant, or time settings no run can have (see
                :func:`pyloop.engine.limits.check_time_settings`).
            SimulationError: the integration raised an error, or the run
                would take too many steps or too much memory.
        """
        new: dict[str, Any] = {}
        for name, value in (params or {}).items():
            var = self.variable(name)
            if var.kind != "constant":
                raise ParameterError(
                    f"'{var.name}' is a {var.kind}, not a constant; only constants can be set"
                )
            if isinstance(value, float) and not math.isfinite(value):
                raise ParameterError(
                    f"constant '{var.name}' must be a finite number, not {value!r}"
                )
            new[var.py_name] = value
        if return_columns is None:
            columns = self._default_columns
        else:
            columns = [self.variable(c).name for c in return_columns]
        if time_step is not None and saveper is None:
            saveper = time_step
        clock = {
            name: self._clock[name] if value is None else value
            for name, value in (("final_time", final_time), ("time_step", time_step), ("saveper", saveper))
        }
        check_time_settings(
            self.time.initial_time,
            self.time.final_time if final_time is None else final_time,
            self.time.time_step if time_step is None else time_step,
            self.time.saveper if saveper is None else saveper,
            len(columns),
            f"model '{self.name}'",
            rows=None if return_timestamps is None else len(return_timestamps),
        )
        # put back the defaults the previous run changed, then apply this run's
        to_set = {py: self._defaults[py] for py in self._dirty if py not in new}
        to_set.update(new)
        self._dirty |= set(new)
        engine = self._engine
        # rewind the clock, so an INITIAL TIME that reads Time starts where a first run does
        engine.time.set_control_vars(initial_time=self.time.initial_time)
        try:
            frame = engine.run(
                params=to_set or None,
                return_columns=columns,
                **clock,
                return_timestamps=None if return_timestamps is None else list(return_timestamps),
            )
        except Exception as exc:
            where = _culprit(exc, self._py_to_name)
            at = engine.time()
            raise SimulationError(
                f"simulation of model '{self.name}' failed"
                + (f" in '{where}'" if where else "")
                + (f" at time {at:g}" if isinstance(at, (int, float)) else "")
                + f": {error_gist(exc)}"
            ) from exc
        self._dirty = set(new)
        times = np.asarray(frame.index, dtype=float)
        if return_timestamps is None:
            times = _exact_grid(times, self.time.initial_time, clock["saveper"])
        frame.index = pd.Index(times, name="time")
        return frame

    def evaluation_order(self, initial: bool = False) -> tuple[str, ...]:
        """Names of the variables in the order PySD computes them in one time step.

        PySD computes a variable when it is first read, after the variables
        its equation reads, so every variable comes after its inputs. A
        stock's value (and a SMOOTH's or DELAY's) is state carried from the
        previous step, so it reads nothing, except at the initial time
        (``initial=True``) where it reads its initial value's inputs.
        Independent variables keep the order of the translated model:
        first what the stocks' rates read, then the rest.
        """
        deps = self._engine.dependencies

        def reads(py: str) -> list[str]:
            found = deps.get(py) or {}
            if "step" in found and "initial" in found:  # a stateful element
                found = found["initial"] if initial else {}
            return [d for d in found if d in deps]

        roots: list[str] = []
        for element in self._engine._stateful_elements:
            step = (deps.get(element) or {}).get("step") or {}
            roots.extend(d for d in step if d in deps)
        roots.extend(deps)
        order: list[str] = []
        done: set[str] = set()
        for root in roots:
            if root in done:
                continue
            done.add(root)
            stack = [(root, iter(reads(root)))]
            while stack:  # depth first, a variable after everything it reads
                py, pending = stack[-1]
                child = next((d for d in pending if d not in done), None)
                if child is None:
                    stack.pop()
                    if py in self._py_to_name:
                        order.append(self._py_to_name[py])
                else:
                    done.add(child)
                    stack.append((child, iter(reads(child))))
        return tuple(order)

    def __repr__(self) -> str:
        return f"Model(name={self.name!r}, variables={len(self.variables)})"
