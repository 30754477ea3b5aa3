"""Monte Carlo: independent uniform draws from ``numpy.random.default_rng(seed)``.

``n`` base samples make ``n`` runs. Monte Carlo has no indices of its own:
its ensembles feed percentile bands and scenario discovery.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

NAME = "mc"
INDEPENDENT = True
HAS_INDICES = False


def run_count(n: int, parameters: int) -> int:
    """Runs of ``n`` base samples: ``n``."""
    return n


def check(spec: Any, n: int) -> None:
    """Any positive ``n`` will do."""


def sample(spec: Any, n: int, seed: int) -> np.ndarray:
    """``n`` independent uniform draws in the unit hypercube."""
    return np.random.default_rng(seed).random((int(n), len(spec.parameters)))


def analyze(result: Any, outcomes: Iterable[str] | None = None) -> None:
    """No indices: Monte Carlo ensembles are summarised by bands instead."""
    return None
