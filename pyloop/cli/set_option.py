"""``--set NAME=VALUE``: constants of the model set on the command line, read
from their text and, where a command needs them before running, checked
against the model."""

from __future__ import annotations

from pyloop.errors import PyloopError
from pyloop.engine import Model


def parse_settings(pairs: list[str] | None) -> dict[str, float]:
    """Constants from ``--set NAME=VALUE`` options, as written (names are
    checked against the model by :func:`checked_settings` or by
    :func:`pyloop.runner.plan_runs`)."""
    out: dict[str, float] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise PyloopError(f"--set takes NAME=VALUE, not '{pair}'")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise PyloopError(f"--set '{name.strip()}': '{value.strip()}' is not a number") from None
    return out


def checked_settings(model: Model, pairs: list[str] | None) -> dict[str, float]:
    """Constants from ``--set NAME=VALUE`` options, checked against the
    model (name, type and declared range) and keyed by canonical name."""
    from pyloop.runner import validate_constants

    return validate_constants(model, parse_settings(pairs), "--set")
