"""Named loops: the loop catalogue beside a model (``X.loops.toml``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from pyloop.declarations.toml import read_toml
from pyloop.declarations.paths import declaration_path
from pyloop.errors import PyloopError
from pyloop.engine import Model
from pyloop.analysis.structure import Loop, Structure


@dataclass(frozen=True)
class CatalogueLoop:
    """A named loop declared in a model's loop catalogue.

    Attributes:
        id: e.g. ``"R1"``.
        name: e.g. ``"Circular financing"``.
        polarity: expected polarity, ``"R"`` or ``"B"``.
        variables: variables of the loop in causal order (a loop matches if
            it contains them all in this cyclic order).
        switch: the constant that switches the loop off at 0, or None.
        description: free text, or ``""``.
    """

    id: str
    name: str
    polarity: str
    variables: tuple[str, ...]
    switch: str | None = None
    description: str = ""


def load_catalogue(
    model: Model | str | os.PathLike[str], path: str | os.PathLike[str] | None = None
) -> tuple[CatalogueLoop, ...]:
    """Read a model's loop catalogue (``X.loops.toml`` beside ``X.mdl``).

    Returns an empty tuple when the model has no catalogue and none is named.

    Raises:
        PyloopError: the file is malformed, or (given a loaded model) names a
            variable or switch the model does not have.
    """
    explicit = path is not None
    file = Path(path) if explicit else declaration_path(model, "loops")
    if not file.is_file():
        if explicit:
            raise PyloopError(f"loop catalogue not found: '{file}'")
        return ()
    data = read_toml(file, "loop catalogue")
    entries = data.get("loop")
    if not isinstance(entries, list) or not entries:
        raise PyloopError(f"loop catalogue '{file.name}' has no [[loop]] entries")
    out = []
    seen = set()
    for i, entry in enumerate(entries, start=1):
        where = f"loop #{i} of '{file.name}'"
        if not isinstance(entry, dict):
            raise PyloopError(f"{where} is not a table")
        missing = [k for k in ("id", "name", "polarity", "variables") if k not in entry]
        if missing:
            raise PyloopError(f"{where} lacks '{missing[0]}'")
        lid = str(entry["id"])
        if lid in seen:
            raise PyloopError(f"loop id '{lid}' appears twice in '{file.name}'")
        seen.add(lid)
        polarity = str(entry["polarity"]).upper()
        if polarity not in ("R", "B"):
            raise PyloopError(f"loop '{lid}' in '{file.name}': polarity must be 'R' or 'B'")
        variables = entry["variables"]
        if not isinstance(variables, list) or len(variables) < 1:
            raise PyloopError(f"loop '{lid}' in '{file.name}': variables must be a list of names")
        switch = entry.get("switch")
        if isinstance(model, Model):
            variables = [_resolve(model, v, f"loop '{lid}' in '{file.name}'") for v in variables]
            if switch is not None:
                switch = _resolve(model, switch, f"loop '{lid}' in '{file.name}'")
                if model.variable(switch).kind != "constant":
                    raise PyloopError(
                        f"switch '{switch}' of loop '{lid}' in '{file.name}' is not a constant"
                    )
        out.append(
            CatalogueLoop(
                id=lid,
                name=str(entry["name"]),
                polarity=polarity,
                variables=tuple(str(v) for v in variables),
                switch=None if switch is None else str(switch),
                description=str(entry.get("description", "")),
            )
        )
    return tuple(out)


def _resolve(model: Model, name: str, owner: str) -> str:
    resolved = model.resolve_name(str(name))
    if resolved is None:
        from pyloop.errors import suggest

        raise PyloopError(
            f"unknown variable '{name}' in {owner}"
            + suggest(str(name), (v.name for v in model.variables))
        )
    return resolved


def _in_cyclic_order(loop: Sequence[str], wanted: Sequence[str]) -> bool:
    """True if ``loop`` (a cycle) contains ``wanted`` in that cyclic order."""
    pos = {v: i for i, v in enumerate(loop)}
    if any(v not in pos for v in wanted):
        return False
    idx = [pos[v] for v in wanted]
    n = len(loop)
    turns = sum(((idx[(i + 1) % len(idx)] - idx[i]) % n) for i in range(len(idx)))
    return len(idx) == 1 or turns == n


def match_catalogue(
    loops: Sequence[Loop], catalogue: Sequence[CatalogueLoop]
) -> dict[str, Loop | None]:
    """Catalogue id -> the shortest loop containing the entry's variables in
    cyclic order (None when no loop does)."""
    out: dict[str, Loop | None] = {}
    for entry in catalogue:
        best = None
        for loop in loops:
            if _in_cyclic_order(loop.variables, entry.variables):
                if best is None or loop.length < best.length:
                    best = loop
        out[entry.id] = best
    return out


def catalogue_cycle(structure: Structure, entry: CatalogueLoop) -> tuple[str, ...] | None:
    """The entry's variables as a loop of the model, if each one links to the
    next in the causal graph; else None."""
    v = entry.variables
    for i in range(len(v)):
        if not structure.has_link(v[i], v[(i + 1) % len(v)]):
            return None
    return tuple(v)

