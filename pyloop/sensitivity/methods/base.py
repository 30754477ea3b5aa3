"""The contract every sampling method keeps, and the checks methods share.

A method is a module of :mod:`pyloop.sensitivity.methods` with:

- ``NAME``: its name on the command line and in manifests (``"sobol"``);
- ``INDEPENDENT``: True when its samples are independent draws, so that
  percentile bands and scenario discovery apply to its ensembles;
- ``HAS_INDICES``: True when ``analyze`` gives a table of indices, written
  to ``<NAME>.csv`` beside the ensemble;
- ``run_count(n, parameters)``: the runs of ``n`` base samples of
  ``parameters`` constants;
- ``check(spec, n)``: raise :class:`~pyloop.errors.PyloopError` when the
  method cannot sample ``n`` base samples of ``spec`` (after the checks every
  method shares, see :func:`pyloop.sensitivity.sampling.sample`);
- ``sample(spec, n, seed)``: samples in the unit hypercube, runs x parameters;
- ``analyze(result, outcomes=None)``: its table of indices of a finished
  ensemble, or ``None`` when the method has none;
- ``figure(table, title)``: the figure of that table (methods with indices).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pyloop.errors import PyloopError

if TYPE_CHECKING:
    from pyloop.sensitivity.result import EnsembleResult

__all__ = ["require_complete_ensemble"]


def require_complete_ensemble(result: "EnsembleResult", method: str) -> None:
    """Raise unless ``result`` was sampled with ``method`` and every run finished."""
    if result.method != method:
        raise PyloopError(
            f"{method} indices need an ensemble sampled with --method {method}, "
            f"not {result.method}"
        )
    if len(result.outcomes) != len(result.samples):
        raise PyloopError(
            f"the ensemble is incomplete ({len(result.outcomes)} of {len(result.samples)} runs); "
            "finish it with --resume"
        )
