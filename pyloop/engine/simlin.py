"""Simlin, the independent engine; the only module that uses pysimlin.

Simlin reads the same ``.mdl`` as PySD but shares none of its code, so it
serves as a second opinion: its unit checker, its simulation (to cross-check
PySD's trajectories) and its XMILE writer (to make the model's XMILE twin).
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from pyloop.errors import ModelFileError, PyloopError, normalize_name

__all__ = [
    "TWIN_MARK",
    "file_digest",
    "run",
    "simlin_ident",
    "twin_source",
    "unit_problems",
    "xmile_twin",
]

_XMILE_NS = "http://docs.oasis-open.org/xmile/ns/XMILE/v1.0"
#: Start of the comment by which an XMILE twin names the file it was made from.
TWIN_MARK = "pyloop twin of "
#: XMILE built-ins Simlin writes, and the names PySD's XMILE reader knows.
_BUILTINS = {"DT": "time_step", "STARTTIME": "initial_time", "STOPTIME": "final_time"}


def _simlin() -> Any:
    try:
        import simlin
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise PyloopError("the independent engine needs pysimlin: pip install pysimlin") from exc
    return simlin


def _load(path: str | Path) -> Any:
    simlin = _simlin()
    try:
        return simlin.load(Path(path))
    except Exception as exc:
        raise ModelFileError(f"Simlin cannot read '{Path(path).name}': {exc}") from exc


def simlin_ident(name: str) -> str:
    """Simlin's canonical identifier of a model name (lower case, underscores)."""
    return re.sub(r"[\s_]+", "_", name.strip().lower())


def unit_problems(path: str | Path) -> list[tuple[str | None, str]]:
    """Unit problems Simlin's checker finds: ``(variable or None, message)``."""
    model = _load(path)
    problems = []
    for issue in model.check():
        if "unit" in issue.message.lower():
            message = " ".join(issue.message.split())
            # keep the explanation, not the equation echoed above it
            message = message.split(" -- ", 1)[-1] if " -- " in message else message
            problems.append((issue.variable, message))
    for issue in model.check_units():
        problems.append((issue.variable or None, " ".join(issue.message.split())))
    return problems


def run(path: str | Path, constants: Mapping[str, float], names: Mapping[str, str]) -> pd.DataFrame:
    """Simulate a model with Simlin.

    Args:
        path: the model file.
        constants: constant name -> value, in the constant's units.
        names: Simlin identifier -> the name to give its column (for example
            every variable of the PySD model); identifiers not listed keep
            Simlin's spelling.

    Returns:
        DataFrame indexed by time (model time units) with one column per
        variable.
    """
    model = _load(path)
    overrides = {simlin_ident(k): float(v) for k, v in constants.items()}
    try:
        results = model.run(overrides=overrides, analyze_loops=False).results
    except Exception as exc:
        raise PyloopError(f"Simlin failed to run '{Path(path).name}': {exc}") from exc
    frame = results.rename(columns=lambda c: names.get(c, c))
    frame.index = pd.Index(frame.index.to_numpy(dtype=float), name="time")
    return frame


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes, in hex."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def xmile_twin(path: str | Path, names: Mapping[str, str]) -> str:
    """The XMILE twin of a Vensim model, as text PySD reads correctly.

    Simlin writes the XMILE; this function then puts back the model's own
    variable names (Simlin writes lower-case identifiers), quotes the names
    of flows attached to stocks, renames the XMILE built-ins DT, STARTTIME
    and STOPTIME to the names PySD's reader knows, drops graphical-function
    scales PySD mis-reads when points are given, writes named lookup tables
    as standalone graphical functions called like functions (``T(x)`` for
    ``LOOKUP(T, x)``), and records the source
    file's name and SHA-256 in a comment, so a stale twin can be detected.

    Args:
        path: the ``.mdl`` file.
        names: normalised name (see :func:`pyloop.errors.normalize_name`) ->
            the name to write, for every variable of the model.
    """
    source = Path(path)
    raw = _load(source).project.to_xmile()
    ET.register_namespace("", _XMILE_NS)
    ET.register_namespace("isee", "http://iseesystems.com/XMILE")
    ET.register_namespace("simlin", "https://simlin.com/XMILE/v1.0")
    root = ET.fromstring(raw)

    def real(name: str) -> str:
        return names.get(normalize_name(name), name.replace("_", " "))

    for element in root.iter():
        tag = element.tag.rsplit("}", 1)[-1]
        if tag in ("stock", "flow", "aux", "gf") and "name" in element.attrib:
            element.set("name", real(element.get("name")))
        elif tag in ("inflow", "outflow") and element.text:
            element.text = f'"{real(element.text.strip())}"'
        elif tag == "eqn" and element.text:
            for old, new in _BUILTINS.items():
                element.text = re.sub(rf"\b{old}\b", new, element.text)
            # PySD calls a named graphical function like a function: T(x)
            element.text = re.sub(r"\bLOOKUP\(\s*(\w+)\s*,\s*", r"\1(", element.text)
        if tag == "gf" and element.find(f"{{{_XMILE_NS}}}xpts") is not None:
            scale = element.find(f"{{{_XMILE_NS}}}xscale")
            if scale is not None:
                element.remove(scale)
    for variables in root.iter(f"{{{_XMILE_NS}}}variables"):
        for aux in variables.findall(f"{{{_XMILE_NS}}}aux"):
            table = aux.find(f"{{{_XMILE_NS}}}gf")
            if table is not None and aux.find(f"{{{_XMILE_NS}}}eqn") is None:
                # a named lookup table: PySD reads it as a standalone <gf>
                aux.tag = f"{{{_XMILE_NS}}}gf"
                aux.remove(table)
                aux.extend(list(table))
                aux.attrib.update({k: v for k, v in table.attrib.items() if k != "name"})
    for model in root.iter(f"{{{_XMILE_NS}}}model"):
        for views in model.findall(f"{{{_XMILE_NS}}}views"):
            model.remove(views)  # the .mdl keeps the diagram; Simlin merges its views
    body = ET.tostring(root, encoding="unicode")
    mark = f"<!-- {TWIN_MARK}{source.name} sha256={file_digest(source)}; made by: pyloop export --xmile -->"
    return f'<?xml version="1.0" encoding="utf-8"?>\n{mark}\n{body}\n'


def twin_source(text: str) -> tuple[str, str] | None:
    """``(source file name, sha256)`` recorded in an XMILE twin, or None."""
    match = re.search(rf"{TWIN_MARK}(\S+) sha256=([0-9a-f]{{64}})", text)
    return (match.group(1), match.group(2)) if match else None
