"""Seeded samples of an uncertainty spec, and the checks before an ensemble.

Samples are drawn in the unit hypercube by the chosen method
(:mod:`pyloop.sensitivity.methods`: numpy ``Generator`` for Monte Carlo,
SALib for Sobol and Morris, always from an explicit seed) and mapped to each
parameter's distribution by
:meth:`~pyloop.declarations.uncertainty.UncertaintySpec.transform`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyloop.declarations.uncertainty import UncertaintySpec
from pyloop.engine.limits import check_memory, check_time_settings
from pyloop.errors import PyloopError
from pyloop.sensitivity.methods import METHODS, method as find_method

__all__ = [
    "MAX_SEED",
    "METHODS",
    "check_count",
    "check_ensemble_size",
    "check_seed",
    "run_count",
    "sample",
]

#: Largest seed: numpy's legacy generator and SALib take seeds below 2**32.
MAX_SEED = 2**32 - 1

#: Copies of the samples an ensemble holds: unit samples, their values, and
#: the samples table of its result.
SAMPLE_COPIES = 3


def sample(spec: UncertaintySpec, method: str, n: int, seed: int) -> np.ndarray:
    """Seeded samples in the unit hypercube, one row per run.

    Args:
        spec: the parameters to sample.
        method: ``"mc"`` (``n`` independent uniform draws from
            ``numpy.random.default_rng(seed)``), ``"sobol"`` (SALib's Saltelli
            scheme without second-order terms: ``n * (D + 2)`` runs; ``n`` a
            power of two) or ``"morris"`` (SALib, ``n`` trajectories of
            ``D + 1`` runs on 4 levels); see :data:`METHODS`.
        n: base number of samples (at least 1).
        seed: the seed; the same seed gives the same samples.

    Returns:
        Array of shape (runs, D) in [0, 1]; map it with
        :meth:`UncertaintySpec.transform`.

    Raises:
        PyloopError: unknown method, ``n`` below 1, no parameters, a seed
            outside 0 to :data:`MAX_SEED`, a Sobol ``n`` that is not a power
            of two, or samples too large for memory
            (:func:`check_ensemble_size`).
    """
    chosen = find_method(method)
    check_count(n)
    if not spec.parameters:
        raise PyloopError("no uncertain parameters to sample")
    seed = check_seed(seed)
    check_samples_memory(spec, method, n)
    chosen.check(spec, n)
    return chosen.sample(spec, n, seed)


def check_seed(seed: Any) -> int:
    """Return ``seed`` as an int if it is a whole number from 0 to :data:`MAX_SEED`.

    Raises:
        PyloopError: any other value.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise PyloopError(f"the seed must be a whole number from 0 to {MAX_SEED}, not {seed!r}")
    return int(seed)


def check_count(n: Any) -> None:
    """Raise unless ``n`` (base samples) is a positive whole number."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise PyloopError(f"the number of samples must be a positive whole number, not {n!r}")


def run_count(method: str, n: int, parameters: int) -> int:
    """Runs of an ensemble of ``n`` base samples of ``parameters`` constants
    (see :func:`sample`); an unknown method counts ``n`` runs."""
    chosen = METHODS.get(method, METHODS["mc"])
    return chosen.run_count(n, parameters)


def check_samples_memory(
    spec: UncertaintySpec, method: str, n: int, per_run: int = 0, kept: str = ""
) -> None:
    """Raise when ``n`` samples, at ``per_run`` bytes per run besides the
    samples themselves, would not fit in memory (``kept``: what else is kept,
    for the message)."""
    runs = run_count(method, int(n), len(spec.parameters))
    nbytes = runs * (8 * SAMPLE_COPIES * len(spec.parameters) + per_run)
    check_memory(
        nbytes,
        f"{runs:,} runs of {len(spec.parameters)} parameters{kept}",
        f"choose fewer samples (--samples; {method} with {n:,} base samples makes {runs:,} runs)",
        error=PyloopError,
    )


def check_ensemble_size(model: Any, spec: UncertaintySpec, method: str, n: int, kept_times: int) -> None:
    """Check, before an ensemble starts, that it fits in memory.

    Every run's clock must pass :func:`pyloop.engine.limits.check_time_settings`;
    the samples (runs x parameters, held a few times over), the outcomes
    and the kept series (runs x band variables x ``kept_times``) must fit in
    :func:`pyloop.engine.limits.memory_budget`.

    Args:
        model: the loaded :class:`~pyloop.engine.Model`.
        spec: the ensemble's parameters, outcomes and bands.
        method: one of :data:`METHODS`.
        n: base number of samples.
        kept_times: saved times kept per band variable and run.

    Raises:
        PyloopError: the ensemble would not fit; the message suggests fewer
            samples.
        ParameterError, SimulationError: the model's time settings (see
            :func:`pyloop.engine.limits.check_time_settings`).
    """
    check_count(n)
    t = model.time
    watched = {o.variable for o in spec.outcomes if o.variable} | set(spec.bands)
    check_time_settings(
        t.initial_time, t.final_time, t.time_step, t.saveper, len(watched), f"model '{model.name}'"
    )
    # the outcomes table and the kept series, each read back once after writing
    per_run = 8 * 2 * (len(spec.outcomes) + len(spec.bands) * kept_times)
    kept = f" keeping {len(spec.bands)} series of {kept_times} times" if spec.bands else ""
    check_samples_memory(spec, method, n, per_run, kept)
