"""PySD adapter: run many parameter sets in one PySD simulation.

Every sampled constant is replaced by a numpy array holding one value per
sample, so each equation is evaluated once per time step for the whole batch
instead of once per sample. This is the only module besides
:mod:`pyloop.engine.pysd_model` that touches PySD, and it uses PySD internals (the
translated module's namespace, ``Model._config_simulation``, the Euler step
and the constant cache), pinned to the PySD version in ``pyproject.toml``.

Array-safe helpers
------------------
A translated model calls a few PySD helpers that branch in Python and so
accept only scalars (``if_then_else``, ``xidz``, ``zidz``), and some
equations wrap values in ``float(...)``. :class:`VectorEngine` loads its own
copy of the translated module (separate from the :class:`~pyloop.engine.pysd_model.Model`
it came from) and replaces those names in that module's namespace with
equivalents that compute the same values element-wise. Helpers not listed in
:data:`ARRAY_SAFE` (``pulse``, ``ramp``, delays with Python branching, ...)
are left alone; if they fail on arrays the run raises
:class:`NotVectorisable`, and callers fall back to one run per sample.
"""

from __future__ import annotations

import warnings
from typing import Any, Mapping, Sequence

import numpy as np
import pysd
from pysd.py_backend import functions as _pysd_functions

from pyloop.errors import PyloopError, SimulationError
from pyloop.engine.pysd_model import Model, _exact_grid

__all__ = ["ARRAY_SAFE", "NotVectorisable", "VectorEngine"]

_SMALL = _pysd_functions.SMALL_VENSIM


class NotVectorisable(PyloopError):
    """The model cannot run with array-valued constants; run samples one by one."""


def _float(x: Any) -> Any:
    """``float(x)`` for scalars; arrays pass through as float arrays."""
    if isinstance(x, np.ndarray) and x.ndim > 0:
        return x.astype(float, copy=False)
    return float(x)


def _xidz(numerator: Any, denominator: Any, x: Any) -> Any:
    """Vensim XIDZ, element-wise when the denominator is an array."""
    if isinstance(denominator, np.ndarray) and denominator.ndim > 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(np.abs(denominator) < _SMALL, x, numerator / denominator)
    return _pysd_functions.xidz(numerator, denominator, x)


def _zidz(numerator: Any, denominator: Any) -> Any:
    """Vensim ZIDZ, element-wise when the denominator is an array."""
    if isinstance(denominator, np.ndarray) and denominator.ndim > 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(np.abs(denominator) < _SMALL, 0.0, numerator / denominator)
    return _pysd_functions.zidz(numerator, denominator)


def _if_then_else(condition: Any, val_if_true: Any, val_if_false: Any) -> Any:
    """Vensim IF THEN ELSE; both branches are evaluated only when samples disagree."""
    if isinstance(condition, np.ndarray) and condition.ndim > 0:
        if condition.all():
            return val_if_true()
        if not condition.any():
            return val_if_false()
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(condition, val_if_true(), val_if_false())
    return _pysd_functions.if_then_else(condition, val_if_true, val_if_false)


#: Names replaced in the translated module's namespace.
ARRAY_SAFE = {
    "float": _float,
    "xidz": _xidz,
    "zidz": _zidz,
    "if_then_else": _if_then_else,
}


class VectorEngine:
    """A private PySD instance of a model that runs a whole batch at once.

    Args:
        model: the loaded model (its translation in the cache is reused).
    """

    def __init__(self, model: Model):
        self.model = model
        py_file = model.translation
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._engine = pysd.load(str(py_file))
        namespace = self._engine.components._components.__dict__
        for name, replacement in ARRAY_SAFE.items():
            if name == "float" or name in namespace:
                namespace[name] = replacement
        self._defaults = {model.variable(n).py_name: v for n, v in model.defaults.items()}
        self._set: set[str] = set()

    def _apply(self, values: Mapping[str, Any]) -> None:
        """Set constants (by Python name) to scalars or arrays; restore the rest."""
        engine = self._engine
        restore = {py: self._defaults[py] for py in self._set if py not in values}
        scalars = {py: v for py, v in values.items() if np.ndim(v) == 0}
        arrays = {py: np.asarray(v, dtype=float) for py, v in values.items() if np.ndim(v) > 0}
        # PySD's own setter for the bookkeeping (dependencies, caches) ...
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            engine.set_components({**restore, **scalars, **{py: 0.0 for py in arrays}})
        # ... then the placeholders of array constants return their arrays
        for py, arr in arrays.items():
            placeholder = getattr(engine.components, py)

            def constant(value: np.ndarray = arr) -> np.ndarray:
                return value

            constant.__name__ = py
            constant.__dict__.update(getattr(placeholder, "__dict__", {}))
            engine.components._set_component(py, constant)
        self._set = set(values)

    def run(
        self,
        values: Mapping[str, Any],
        columns: Sequence[str],
        size: int,
        final_time: float | None = None,
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Simulate a batch.

        Args:
            values: constant name -> scalar (same for every sample) or array
                of ``size`` values (one per sample).
            columns: variables to return.
            size: number of samples in the batch.
            final_time: end time; default the model's.

        Returns:
            ``(times, series)``: the saved times and, per column, an array of
            shape ``(len(times), size)``.

        Raises:
            NotVectorisable: an equation failed on arrays, or produced an
                array of the wrong shape.
            SimulationError: a non-finite value (checked by the caller).
        """
        model = self.model
        engine = self._engine
        py_values = {model.variable(n).py_name: v for n, v in values.items()}
        py_columns = [model.variable(c).py_name for c in columns]
        t = model.time
        try:
            self._apply(py_values)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                engine._stepper_mode = False
                engine._config_simulation(
                    None, list(columns), None, "original",
                    t.final_time if final_time is None else final_time,
                    t.time_step, t.saveper, True, progress=False,
                )
            getters = [getattr(engine.components, py) for py in py_columns]
            times: list[float] = []
            rows: list[list[Any]] = []
            clock = engine.time
            stocks = list(engine._dynamicstateful_elements)
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                while clock.in_bounds():
                    if clock.in_return():
                        times.append(clock.round())
                        rows.append([g() for g in getters])
                    # PySD's Euler step, one stock at a time (an object array
                    # of mixed scalars and arrays cannot hold them all)
                    dt = clock.time_step()
                    rates = [s.ddt() for s in stocks]
                    for s, rate in zip(stocks, rates):
                        s.update(s.state + rate * dt)
                    clock.update(clock() + dt)
                    engine.clean_caches()
                if clock.in_return():
                    times.append(clock.round())
                    rows.append([g() for g in getters])
        except (TypeError, ValueError) as exc:
            raise NotVectorisable(
                f"model '{model.name}' cannot run with array-valued constants "
                f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
            ) from exc
        except Exception as exc:  # any other failure of an equation
            raise SimulationError(
                f"vectorised simulation of model '{model.name}' failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        finally:
            try:
                engine._remove_constant_cache()
            except Exception:  # nothing was cached if configuration failed
                engine._constant_funcs.clear()
        series: dict[str, np.ndarray] = {}
        for j, name in enumerate(columns):
            try:
                col = np.stack([np.broadcast_to(np.asarray(r[j], dtype=float), (size,)) for r in rows])
            except ValueError as exc:
                raise NotVectorisable(
                    f"model '{model.name}': '{name}' does not have one value per sample"
                ) from exc
            series[name] = col
        # on the exact grid of SAVEPER, as serial runs are (PySD rounds the clock)
        return _exact_grid(np.asarray(times, dtype=float), t.initial_time, t.saveper), series
