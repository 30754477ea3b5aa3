"""Morris screening: SALib elementary effects on 4 levels.

``n`` trajectories of ``D`` parameters (at least two) make ``n * (D + 1)``
runs; :func:`morris_indices` gives the elementary-effect statistics.
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

__all__ = ["morris_indices"]

NAME = "morris"
INDEPENDENT = False
HAS_INDICES = True

#: Levels of the Morris grid.
LEVELS = 4


def run_count(n: int, parameters: int) -> int:
    """Runs of ``n`` trajectories of ``parameters`` constants: ``n * (D + 1)``."""
    return n * (parameters + 1)


def check(spec: Any, n: int) -> None:
    """Raise unless there are at least two parameters."""
    if len(spec.parameters) < 2:
        raise PyloopError("Morris screening needs at least two parameters")


def sample(spec: Any, n: int, seed: int) -> np.ndarray:
    """``n`` Morris trajectories in the unit hypercube (SALib, seeded)."""
    from SALib.sample import morris

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return morris.sample(spec.problem(), int(n), num_levels=LEVELS, seed=seed)


def morris_indices(result: "EnsembleResult", outcomes: Iterable[str] | None = None) -> pd.DataFrame:
    """Morris elementary-effect statistics (SALib) of each outcome.

    Effects are per unit of a parameter's quantile (0 to 1 across its
    range), so they compare across parameters.

    Returns:
        DataFrame indexed by (outcome, parameter) with columns ``mu``,
        ``mu_star``, ``sigma`` and ``mu_star_conf``.
    """
    from SALib.analyze import morris

    require_complete_ensemble(result, NAME)
    rows = []
    for name in outcomes or result.outcomes.columns:
        y = result.outcomes[name].to_numpy(dtype=float)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            si = morris.analyze(result.spec.problem(), result.unit, y, num_levels=LEVELS, seed=result.seed)
        for j, p in enumerate(result.spec.names):
            rows.append((name, p, si["mu"][j], si["mu_star"][j], si["sigma"][j], si["mu_star_conf"][j]))
    frame = pd.DataFrame(rows, columns=["outcome", "parameter", "mu", "mu_star", "sigma", "mu_star_conf"])
    return frame.set_index(["outcome", "parameter"])


analyze = morris_indices


def figure(table: pd.DataFrame, title: str) -> Any:
    """Chart of the elementary effects (:func:`pyloop.plots.morris_figure`)."""
    from pyloop.plots import morris_figure

    return morris_figure(table, title=title)
