"""The engines: PySD (translation, safety checks, the cache, runs), the vectorised
PySD runner, Simlin for cross-checks, and the one visitor over equations.
The only package that imports PySD or pysimlin.

* :mod:`~pyloop.engine.translate`: :func:`load_model`, translating a model
  file into the cache (:mod:`~pyloop.engine.cache`) after the safety checks
  (:mod:`~pyloop.engine.sanitise`, :mod:`~pyloop.engine.codecheck`);
* :mod:`~pyloop.engine.pysd_model`: the loaded :class:`Model` and its plain
  data (:class:`Variable`, :class:`TimeSettings`, :class:`Equation`);
* :mod:`~pyloop.engine.expressions`: the one walk over PySD's syntax tree
  of an equation (references, signed flows, numbers);
* :mod:`~pyloop.engine.evaluator` and :mod:`~pyloop.engine.derivative_sign`:
  equations evaluated over a whole run, and the signs of their derivatives;
* :mod:`~pyloop.engine.builtins`: SMOOTH, DELAY and TREND written out as stocks;
* :mod:`~pyloop.engine.vectorised`: many runs of one model at once;
* :mod:`~pyloop.engine.simlin`: the cross-check with Simlin.
"""

from pyloop.engine.cache import cache_root
from pyloop.engine.derivative_sign import derivative_sign
from pyloop.engine.evaluator import ARITHMETIC, Evaluator, check_supported
from pyloop.engine.expressions import numbers, reference_name, references, signed_flows
from pyloop.engine.parse import VENSIM_SUFFIXES, XMILE_SUFFIXES
from pyloop.engine.pysd_model import CONTROL_NAMES, Equation, Model, TimeSettings, Variable
from pyloop.engine.translate import load_model

__all__ = [
    "ARITHMETIC",
    "CONTROL_NAMES",
    "Equation",
    "Evaluator",
    "Model",
    "TimeSettings",
    "VENSIM_SUFFIXES",
    "Variable",
    "XMILE_SUFFIXES",
    "cache_root",
    "check_supported",
    "derivative_sign",
    "load_model",
    "numbers",
    "reference_name",
    "references",
    "signed_flows",
]
