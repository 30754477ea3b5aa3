"""Parse a model file with PySD (without translating it) and describe PySD's
errors in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["VENSIM_SUFFIXES", "XMILE_SUFFIXES", "abstract_model", "error_gist"]

VENSIM_SUFFIXES = (".mdl",)
XMILE_SUFFIXES = (".xmile", ".xml", ".stmx")


def abstract_model(source: Path) -> Any:
    """PySD's abstract model of a model file (parsed, not translated)."""
    if source.suffix.lower() in VENSIM_SUFFIXES:
        from pysd.translators.vensim.vensim_file import VensimFile

        parsed = VensimFile(source)
    else:
        from pysd.translators.xmile.xmile_file import XmileFile

        parsed = XmileFile(source)
    parsed.parse()
    return parsed.get_abstract_model()


def error_gist(exc: BaseException) -> str:
    """One short line describing an exception raised by PySD or its parsers."""
    text = str(exc).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = lines[0].rstrip(".") if lines else ""
    gist = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    if len(gist) > 200:
        gist = gist[:197] + "..."
    source = getattr(exc, "text", None)  # parsers keep the text they failed on
    if isinstance(source, str) and source.strip():
        snippet = " ".join(source.split())
        snippet = snippet if len(snippet) <= 80 else snippet[:77] + "..."
        gist += f' (in "{snippet}")'
    return gist
