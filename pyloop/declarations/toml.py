"""Read the TOML data files that sit beside a model (scenarios, loops,
ledger, checks, uncertainty) with one kind of error message."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pyloop.errors import PyloopError

__all__ = ["read_toml"]


def read_toml(path: str | os.PathLike[str], what: str, error: type[PyloopError] = PyloopError) -> dict[str, Any]:
    """The contents of a TOML file.

    Args:
        path: the file.
        what: what the file is, for messages (e.g. ``"scenario file"``).
        error: the exception class to raise.

    Raises:
        error: the file is missing, unreadable, not UTF-8 text, or not
            valid TOML; the message names the file and, for bad TOML, the
            line.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise error(f"{what} not found: '{path}'") from None
    except OSError as exc:
        raise error(f"cannot read {what} '{path.name}': {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"cannot read {what} '{path.name}': {exc}") from None
    except UnicodeDecodeError as exc:  # TOML files are UTF-8 by definition
        raise error(
            f"cannot read {what} '{path.name}': byte 0x{exc.object[exc.start]:02x} at offset "
            f"{exc.start} is not UTF-8 text; save the file as UTF-8"
        ) from None
    except RecursionError:  # tomllib recurses once per level of nested arrays
        raise error(f"cannot read {what} '{path.name}': its arrays or tables nest too deeply") from None
