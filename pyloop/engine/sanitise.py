"""Treat a model file as untrusted input: limits on the file, and model text
kept out of the Python code PySD generates.

PySD copies a variable's documentation into a ``\"\"\"`` docstring without
escaping it, and pastes names, subscripts and file names between single
quotes in several places, so model text could end a string literal and
become code. :func:`neutralise` works on PySD's abstract model (parsed, not
yet translated): it blanks every documentation string and replaces, in
every other string (names, units, subscripts, lookup and data arguments),
the characters that could end or escape such a literal (single quotes,
backslashes, line breaks and other control characters) by harmless
stand-ins. Double quotes stay: PySD writes them only inside single quotes or
through ``repr``, so Vensim's quoted names ("Price/Earnings") keep their
spelling. The original names, units and comments are returned, to be shown
to the user instead of the neutralised ones.

:func:`read_model_bytes` refuses a file that is too large or not text before
any parser sees it.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

from pyloop.errors import ModelFileError

__all__ = [
    "SANITISER_VERSION",
    "DEFAULT_MAX_MODEL_MB",
    "max_model_bytes",
    "read_model_bytes",
    "neutralise",
    "neutral_text",
]

#: Changes whenever :func:`neutralise` changes what it writes; part of the
#: translation cache key, so a new sanitiser never reuses an old translation.
SANITISER_VERSION = "1"

#: Largest model file accepted, in megabytes (10**6 bytes), unless
#: ``$PYLOOP_MAX_MODEL_MB`` says otherwise.
DEFAULT_MAX_MODEL_MB = 20.0

# Stand-ins for the characters that could end or escape a string literal.
_STAND_INS = {ord("'"): "\u2019", ord("\\"): "/"}
_STAND_INS.update({c: " " for c in range(32)})
_STAND_INS[0x7F] = " "

# Control bytes that never occur in a text model file (tab, line feed,
# vertical tab, form feed and carriage return do).
_BINARY = re.compile(rb"[\x00-\x08\x0e-\x1f]")


def max_model_bytes() -> int:
    """Largest model file accepted, in bytes (``$PYLOOP_MAX_MODEL_MB``, default 20 MB).

    Raises:
        ModelFileError: the variable is set but is not a positive number.
    """
    text = os.environ.get("PYLOOP_MAX_MODEL_MB", "").strip()
    if not text:
        return int(DEFAULT_MAX_MODEL_MB * 1e6)
    try:
        megabytes = float(text)
    except ValueError:
        megabytes = float("nan")
    if not megabytes > 0 or megabytes == float("inf"):
        raise ModelFileError(
            f"PYLOOP_MAX_MODEL_MB must be a positive number of megabytes, not '{text}'; "
            "correct or unset it"
        )
    return int(megabytes * 1e6)


def read_model_bytes(source: Path) -> bytes:
    """The bytes of a model file, read once, if it is a plausible model file.

    Reads at most one byte more than the limit, so a huge file costs no
    memory.

    Raises:
        ModelFileError: the file is larger than :func:`max_model_bytes`, is
            binary (control bytes such as NUL), is not valid UTF-8 where
            the format requires it (XMILE, or a Vensim file starting with
            ``{UTF-8}``), or is an XMILE file with a document type
            declaration (which could pull in other files).
    """
    limit = max_model_bytes()
    try:
        with source.open("rb") as handle:
            # the size first, so a huge file is refused without reading it
            size = os.fstat(handle.fileno()).st_size
            data = b"" if size > limit else handle.read(limit + 1)
    except OSError as exc:
        raise ModelFileError(
            f"cannot read model file '{source}': {exc.strerror or exc}; check the path"
        ) from exc
    if size > limit or len(data) > limit:
        raise ModelFileError(
            f"model file '{source.name}' is larger than {limit / 1e6:g} MB; "
            "set PYLOOP_MAX_MODEL_MB to accept larger model files"
        )
    binary = _BINARY.search(data)
    if binary:
        raise ModelFileError(
            f"model file '{source.name}' is not a text file (byte 0x{binary.group()[0]:02x} "
            f"at offset {binary.start()}); pass a Vensim .mdl or XMILE file"
        )
    is_xmile = source.suffix.lower() != ".mdl"
    text = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    if is_xmile or text.lstrip().startswith(b"{UTF-8}"):
        try:
            text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ModelFileError(
                f"model file '{source.name}' is not valid UTF-8 (offset {exc.start}); "
                "save it as UTF-8 text"
            ) from None
    if is_xmile and re.search(rb"<!(DOCTYPE|ENTITY)", data, re.IGNORECASE):
        raise ModelFileError(
            f"XMILE file '{source.name}' declares a document type or entities, "
            "which XMILE files do not need; remove the <!DOCTYPE ...> declaration"
        )
    return data


def neutral_text(text: str) -> str:
    """``text`` with single quotes, backslashes and control characters replaced
    (the spelling a name has in the translation and in :class:`Model`)."""
    return text.translate(_STAND_INS)


class _Neutraliser:
    """Rewrites every string of an abstract model in place (see module doc)."""

    def __init__(self) -> None:
        self.originals: dict[str, str] = {}  # neutral text -> original text
        self._seen: set[int] = set()

    def string(self, text: str) -> str:
        safe = neutral_text(text)
        if safe != text:
            earlier = self.originals.setdefault(safe, text)
            if earlier != text:
                raise ModelFileError(
                    f"the model uses both '{earlier}' and '{text}', which pyloop cannot "
                    "tell apart safely; rename one of them"
                )
        return safe

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.string(value)
        if isinstance(value, list):
            value[:] = [self.value(v) for v in value]
            return value
        if isinstance(value, tuple):
            items = [self.value(v) for v in value]
            return type(value)(*items) if hasattr(value, "_fields") else tuple(items)
        if isinstance(value, (set, frozenset)):
            return type(value)(self.value(v) for v in value)
        if isinstance(value, dict):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            if id(value) not in self._seen:
                self._seen.add(id(value))
                for f in dataclasses.fields(value):
                    setattr(value, f.name, self.value(getattr(value, f.name)))
            return value
        return value  # numbers, None, paths, enums


def _comment(documentation: Any) -> str | None:
    """The comment PySD would show for a documentation string."""
    if not isinstance(documentation, str):
        return None
    return documentation.replace("\\", "\n").strip() or None


def neutralise(abstract_model: Any, folder: Path) -> dict[str, Any]:
    """Make PySD's abstract model safe to translate, in place.

    Args:
        abstract_model: ``get_abstract_model()`` of a parsed model file.
        folder: the folder PySD is to write into; every file it would write
            must lie inside it.

    Returns:
        ``{"names": {neutral: original}, "variables": {neutral name:
        {"units": ..., "comment": ...}}}`` with the original text of every
        string that changed and the units and comment of every variable of
        the main model, for showing to the user.

    Raises:
        ModelFileError: two different names become the same once
            neutralised, or a macro would be written outside ``folder``.
    """
    folder = folder.resolve()
    variables: dict[str, dict[str, str | None]] = {}
    for index, section in enumerate(abstract_model.sections):
        path = Path(section.path)
        if path.resolve().parent != folder:
            raise ModelFileError(
                f"refusing the model: its macro '{section.name}' would be written to "
                f"'{path.name}', outside the translation folder; rename the macro"
            )
        for element in section.elements:
            if index == 0:
                variables[neutral_text(element.name)] = {
                    "units": element.units or None,
                    "comment": _comment(element.documentation),
                }
            element.documentation = ""
    neutraliser = _Neutraliser()
    for section in abstract_model.sections:
        neutraliser.value(section)
    return {"names": neutraliser.originals, "variables": variables}
