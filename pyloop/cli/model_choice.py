"""Which model a command works on: the one named by ``--model``, or else the
case study's model in the repository (:data:`DEFAULT_MODEL`, the path of
:mod:`pyloop.case.ai_circular_finance`'s model relative to the repository
root), with the declaration files named by ``--scenarios`` and the like."""

from __future__ import annotations

import argparse
from pathlib import Path

from pyloop.errors import ModelFileError
from pyloop.engine import Model, load_model
from pyloop.case.ai_circular_finance import DEFAULT_MODEL

__all__ = ["DEFAULT_MODEL", "default_model_path", "load_chosen_model", "model_path", "repository_root"]


def repository_root() -> Path | None:
    """Nearest directory above the package (or else the working directory)
    that holds a ``pyproject.toml``."""
    for start in (Path(__file__).resolve().parent, Path.cwd()):
        for folder in (start, *start.parents):
            if (folder / "pyproject.toml").is_file():
                return folder
    return None


def default_model_path() -> Path:
    """The main model's path in the repository.

    Raises:
        ModelFileError: no repository root, or the model file is missing.
    """
    root = repository_root()
    if root is None:
        raise ModelFileError(
            f"cannot find the repository root to locate {DEFAULT_MODEL.as_posix()}; "
            "pass --model PATH"
        )
    path = root / DEFAULT_MODEL
    if not path.is_file():
        raise ModelFileError(
            f"default model {DEFAULT_MODEL.as_posix()} not found in {root}; "
            "pass --model PATH to choose a model"
        )
    return path


def model_path(arg: str | None) -> Path:
    """The path given to ``--model``, or the default model's."""
    return Path(arg) if arg else default_model_path()


def load_chosen_model(args: argparse.Namespace) -> Model:
    """The model of ``--model``, with the declaration files named by
    ``--scenarios``, ``--loops``, ``--ledger``, ``--uncertainty`` and
    ``--checks`` in place of those beside it."""
    from pyloop.declarations.paths import KINDS

    named = {kind: getattr(args, kind, None) for kind in KINDS}
    return load_model(model_path(args.model), declarations=named)
