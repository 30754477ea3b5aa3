"""Sampling methods, one module each, and the registry that chooses them.

Every method keeps the contract of :mod:`pyloop.sensitivity.methods.base`;
:data:`METHODS` maps its name to its module, and :func:`method` looks one
up. A new method is a new module here plus its line in :data:`METHODS`.
"""

from __future__ import annotations

from types import ModuleType

from pyloop.errors import PyloopError
from pyloop.sensitivity.methods import mc, morris, sobol
from pyloop.sensitivity.methods.morris import morris_indices
from pyloop.sensitivity.methods.sobol import sobol_indices

__all__ = ["METHODS", "method", "morris_indices", "sobol_indices"]

#: Method name -> its module, in the order messages list them.
METHODS: dict[str, ModuleType] = {m.NAME: m for m in (mc, sobol, morris)}


def method(name: str) -> ModuleType:
    """The module of the method called ``name``.

    Raises:
        PyloopError: no such method.
    """
    if name not in METHODS:
        raise PyloopError(f"unknown method '{name}'; use one of {', '.join(METHODS)}")
    return METHODS[name]
