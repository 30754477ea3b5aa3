"""Where a model's declaration files are.

A model ``X.mdl`` may have five declaration files beside it, one per kind:
``X.scenarios.toml`` (scenarios and policies), ``X.loops.toml`` (the named
feedback loops), ``X.ledger.toml`` (the money ledger),
``X.uncertainty.toml`` (uncertain constants and outcomes) and
``X.calibration.toml`` (calibration checks and extreme conditions).

A file named when the model is loaded (``load_model(path,
declarations={"scenarios": FILE})``, or ``--scenarios FILE`` on the command
line) replaces the one beside the model, so a copy of a model under another
name, or in another folder, can use the original's files.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from pyloop.errors import PyloopError

__all__ = ["KINDS", "OPTIONS", "beside", "check_declarations", "declaration_path", "has_declarations"]

#: Declaration kinds, each with what its file holds.
KINDS: Mapping[str, str] = MappingProxyType(
    {
        "scenarios": "scenario file",
        "loops": "loop catalogue",
        "ledger": "ledger declaration",
        "uncertainty": "uncertainty file",
        "calibration": "checks file",
    }
)

#: The command-line option naming each kind's file.
OPTIONS: Mapping[str, str] = MappingProxyType(
    {
        "scenarios": "--scenarios",
        "loops": "--loops",
        "ledger": "--ledger",
        "uncertainty": "--uncertainty",
        "calibration": "--checks",
    }
)


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise PyloopError(f"unknown declaration kind '{kind}'; use one of {', '.join(KINDS)}")
    return kind


def beside(model_path: str | os.PathLike[str], kind: str) -> Path:
    """The declaration file of ``kind`` beside a model file:
    ``X.mdl`` -> ``X.<kind>.toml``."""
    p = Path(model_path)
    return p.with_name(f"{p.stem}.{_kind(kind)}.toml")


def declaration_path(model: Any, kind: str) -> Path:
    """The declaration file of ``kind`` for a model.

    Args:
        model: a loaded :class:`~pyloop.engine.Model` (whose explicitly named
            files win) or a model file path.
        kind: one of :data:`KINDS`.

    Returns:
        The file named when the model was loaded, else ``X.<kind>.toml``
        beside the model (which may not exist).
    """
    explicit = getattr(model, "declarations", {}).get(_kind(kind))
    if explicit is not None:
        return Path(explicit)
    return beside(getattr(model, "path", model), kind)


def has_declarations(model: Any) -> bool:
    """True when the model has at least one declaration file (named or beside it)."""
    return any(declaration_path(model, kind).is_file() for kind in KINDS)


def check_declarations(files: Mapping[str, str | os.PathLike[str] | None] | None) -> dict[str, Path]:
    """Named declaration files, checked to exist: kind -> absolute path.

    Entries whose value is ``None`` are left out.

    Raises:
        PyloopError: an unknown kind, or a file that does not exist.
    """
    out: dict[str, Path] = {}
    for kind, path in (files or {}).items():
        if path is None:
            continue
        what = KINDS[_kind(kind)]
        file = Path(path)
        if not file.is_file():
            raise PyloopError(
                f"{what} not found: '{file}'; check the path given with {OPTIONS[kind]}"
            )
        out[kind] = file.resolve()
    return out
