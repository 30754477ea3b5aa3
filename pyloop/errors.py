"""Errors raised by pyloop.

Every error a user can cause is a :class:`PyloopError`. Its message is one
readable line that says what went wrong and what to do about it; the command
line prints it as ``pyloop: error: <message>`` without a traceback. The two
helpers at the end build the "did you mean" part of such messages.
"""

from __future__ import annotations

import re
from difflib import get_close_matches
from typing import Iterable

__all__ = [
    "PyloopError",
    "ModelFileError",
    "ScenarioError",
    "ParameterError",
    "SimulationError",
    "normalize_name",
    "suggest",
]


class PyloopError(Exception):
    """Base class of every error pyloop raises on purpose."""


class ModelFileError(PyloopError):
    """A model file is missing, of an unsupported kind, or cannot be translated."""


class ScenarioError(PyloopError):
    """A scenario file is malformed, or a scenario or policy name is unknown."""


class ParameterError(PyloopError):
    """A constant is unknown, has the wrong type, or lies outside its declared range."""


class SimulationError(PyloopError):
    """A simulation failed or produced a non-finite value (NaN or infinity)."""


def normalize_name(name: str) -> str:
    """Return the lookup key of a variable name.

    Lower case, with runs of spaces and underscores collapsed to one space,
    so ``"Teacup  Temperature"``, ``"teacup_temperature"`` and
    ``"TEACUP TEMPERATURE"`` all match.
    """
    return re.sub(r"[\s_]+", " ", name).strip().lower()


def suggest(name: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'X'?"`` for the closest choices, or ``""``.

    Matching ignores case, spaces and underscores.
    """
    choices = list(choices)
    by_key = {normalize_name(c): c for c in choices}
    keys = get_close_matches(normalize_name(name), list(by_key), n=3, cutoff=0.6)
    if not keys:
        return ""
    names = [f"'{by_key[k]}'" for k in keys]
    if len(names) == 1:
        return f"; did you mean {names[0]}?"
    return f"; did you mean {', '.join(names[:-1])} or {names[-1]}?"
