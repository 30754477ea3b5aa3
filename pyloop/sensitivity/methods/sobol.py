"""Sobol indices: SALib's Saltelli scheme without second-order terms.

``n`` base samples (a power of two) of ``D`` parameters make ``n * (D + 2)``
runs; :func:`sobol_indices` gives first-order and total indices.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np
import pandas as pd

from pyloop.errors import PyloopError
from pyloop.sensitivity.methods.base import require_complete_ensemble

if TYPE_CHECKING:
    from pyloop.sensitivity.result import EnsembleResult

__all__ = ["sobol_indices"]

NAME = "sobol"
INDEPENDENT = False
HAS_INDICES = True


def run_count(n: int, parameters: int) -> int:
    """Runs of ``n`` base samples of ``parameters`` constants: ``n * (D + 2)``."""
    return n * (parameters + 2)


def check(spec: Any, n: int) -> None:
    """Raise unless ``n`` is a power of two."""
    if n & (n - 1):
        raise PyloopError(
            f"Sobol sampling needs a power of two as the number of samples, not {n}; "
            f"try {1 << max(int(n).bit_length() - 1, 0)} or {1 << int(n).bit_length()}"
        )


def sample(spec: Any, n: int, seed: int) -> np.ndarray:
    """Saltelli samples in the unit hypercube (SALib, seeded)."""
    from SALib.sample import sobol

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sobol.sample(spec.problem(), int(n), calc_second_order=False, seed=seed)


def sobol_indices(result: "EnsembleResult", outcomes: Iterable[str] | None = None) -> pd.DataFrame:
    """First-order and total Sobol indices (SALib) of each outcome.

    Returns:
        DataFrame indexed by (outcome, parameter) with columns ``S1``,
        ``S1_conf``, ``ST``, ``ST_conf`` (95 % bootstrap half-widths, seeded).
        An outcome that does not vary gets NaN.
    """
    from SALib.analyze import sobol

    require_complete_ensemble(result, NAME)
    rows = []
    for name in outcomes or result.outcomes.columns:
        y = result.outcomes[name].to_numpy(dtype=float)
        if np.ptp(y) == 0:
            for p in result.spec.names:
                rows.append((name, p, np.nan, np.nan, np.nan, np.nan))
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            si = sobol.analyze(result.spec.problem(), y, calc_second_order=False, seed=result.seed)
        for j, p in enumerate(result.spec.names):
            rows.append((name, p, si["S1"][j], si["S1_conf"][j], si["ST"][j], si["ST_conf"][j]))
    frame = pd.DataFrame(rows, columns=["outcome", "parameter", "S1", "S1_conf", "ST", "ST_conf"])
    return frame.set_index(["outcome", "parameter"])


analyze = sobol_indices


def figure(table: pd.DataFrame, title: str) -> Any:
    """Bar chart of the indices (:func:`pyloop.plots.sobol_figure`)."""
    from pyloop.plots import sobol_figure

    return sobol_figure(table, title=title)
