"""Uncertainty studies: sampling, ensembles on executors, their stored
files, sensitivity indices and scenario discovery.

- :mod:`~pyloop.sensitivity.methods`: one module per sampling method (``mc``,
  ``sobol``, ``morris``) and the registry :data:`METHODS`;
- :mod:`~pyloop.sensitivity.sampling`: seeded samples and the size checks;
- :mod:`~pyloop.sensitivity.batch`: what one batch runs and returns;
- :mod:`~pyloop.sensitivity.executors`: where batches run (:class:`Executor`);
- :mod:`~pyloop.sensitivity.store`: the files of an ensemble and resuming them;
- :mod:`~pyloop.sensitivity.result`: :class:`EnsembleResult` and bands;
- :mod:`~pyloop.sensitivity.ensemble`: :func:`run_ensemble`, tying them together;
- :mod:`~pyloop.sensitivity.discovery`: scenario discovery (PRIM);
- :mod:`~pyloop.sensitivity.study`: the study behind ``pyloop sensitivity``.
"""

from pyloop.sensitivity.batch import Task, evaluate
from pyloop.sensitivity.discovery import PrimBox, discover, music_stops_before
from pyloop.sensitivity.ensemble import run_ensemble
from pyloop.sensitivity.executors import EXECUTORS, Executor, make_executor
from pyloop.sensitivity.methods import METHODS, morris_indices, sobol_indices
from pyloop.sensitivity.result import EnsembleResult, load_ensemble, percentile_bands
from pyloop.sensitivity.sampling import MAX_SEED, check_seed, run_count, sample
from pyloop.sensitivity.study import SensitivityStudy, sensitivity_study

__all__ = [
    "EXECUTORS",
    "MAX_SEED",
    "METHODS",
    "EnsembleResult",
    "Executor",
    "PrimBox",
    "SensitivityStudy",
    "Task",
    "check_seed",
    "discover",
    "evaluate",
    "load_ensemble",
    "make_executor",
    "morris_indices",
    "music_stops_before",
    "percentile_bands",
    "run_count",
    "run_ensemble",
    "sample",
    "sensitivity_study",
    "sobol_indices",
]
