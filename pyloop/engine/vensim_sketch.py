"""Read the diagram (the "sketch") of a Vensim ``.mdl`` file as plain data.

A Vensim file ends with a sketch section: one block per view, each a list
of objects in lines of comma-separated fields. The objects used here:

* ``10`` a variable: its name, position (x, y), half-width, half-height and
  shape bits (stocks are boxes); a *shadow* (ghost) copy of a variable that
  lives on another view has bit 1 of the field after the shape unset;
* ``11`` a valve, the tap of a flow; the flow's name is the variable that
  follows it in the file;
* ``12`` a comment: a cloud (a source or sink outside the model), a loop
  symbol or free text;
* ``1`` an arrow between two objects; a pipe (valve to stock or cloud) has
  thickness code 22.

Coordinates are Vensim's screen units (about a pixel, y pointing down).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pyloop.errors import ModelFileError

__all__ = ["Arrow", "Item", "View", "read_sketch"]

_SKETCH_START = "\\\\\\---///"
_SKETCH_END = "///---\\\\\\"
_VARIABLE = re.compile(r"10,(\d+),(.*?),(-?\d+),(-?\d+),(\d+),(\d+),(\d+),(\d+),")
_PIPE = 22
_CLOUD_TEXT = "48"


@dataclass(frozen=True)
class Item:
    """One object of a view.

    Attributes:
        id: the object's number within its view.
        kind: ``"variable"``, ``"valve"``, ``"cloud"``, ``"loop"`` (a loop
            symbol) or ``"text"``.
        x, y: centre, in Vensim screen units.
        width, height: half-width and half-height, in screen units.
        name: a variable's name, or the text of a comment or loop symbol.
        stock: True for a variable drawn as a stock (box).
        shadow: True for a shadow (ghost) copy of a variable placed on
            another view.
        flow: for a valve, the name of the flow it belongs to.
    """

    id: int
    kind: str
    x: float
    y: float
    width: float = 0.0
    height: float = 0.0
    name: str = ""
    stock: bool = False
    shadow: bool = False
    flow: str | None = None


@dataclass(frozen=True)
class Arrow:
    """An arrow or a pipe between two objects of a view.

    Attributes:
        source, target: ids of the objects it joins.
        pipe: True for a flow pipe (valve to stock or cloud), False for a
            causal link.
        polarity: ``"+"``, ``"-"`` or ``""`` as written on the arrow.
        control: a causal arrow's control point (x, y), or None when
            straight; for a pipe, the point where it ends.
        head: True when the pipe ends in an arrowhead (money or material
            flows into its target).
    """

    source: int
    target: int
    pipe: bool
    polarity: str = ""
    control: tuple[float, float] | None = None
    head: bool = False


@dataclass(frozen=True)
class View:
    """One view of the diagram.

    Attributes:
        title: the view's name.
        items: objects by id.
        arrows: arrows and pipes, in file order.
    """

    title: str
    items: dict[int, Item] = field(default_factory=dict)
    arrows: list[Arrow] = field(default_factory=list)

    def name_of(self, item_id: int) -> str | None:
        """Model variable an object stands for: a variable, or a valve's flow."""
        item = self.items.get(item_id)
        if item is None:
            return None
        if item.kind == "variable":
            return item.name
        if item.kind == "valve":
            return item.flow
        return None

    def links(self) -> set[tuple[str, str]]:
        """(cause, effect) pairs of variables joined by an arrow or a pipe."""
        pairs = set()
        for arrow in self.arrows:
            a, b = self.name_of(arrow.source), self.name_of(arrow.target)
            if a and b:
                pairs.add((a, b))
        return pairs


def _name(text: str) -> str:
    text = text.strip()
    if text.startswith('"') and text.endswith('"'):
        text = text[1:-1]
    return " ".join(text.replace("\\n", " ").split())


def read_sketch(path: str | Path) -> list[View]:
    """The views of a Vensim model file, in file order.

    Returns an empty list for a file with no sketch section.

    Raises:
        ModelFileError: the file cannot be read.
    """
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ModelFileError(f"cannot read model file '{path}': {exc.strerror or exc}") from exc
    start = text.find(_SKETCH_START)
    if start < 0:
        return []
    lines = text[start:].split(_SKETCH_END)[0].splitlines()
    views: list[View] = []
    current: View | None = None
    previous: Item | None = None
    k = 0
    while k < len(lines):
        line = lines[k]
        k += 1
        if line.startswith("*"):
            current = View(title=line[1:].strip())
            views.append(current)
            previous = None
            continue
        if current is None or not line[:1].isdigit():
            continue
        fields = line.split(",")
        kind_code = int(fields[0])
        if kind_code == 10:
            match = _VARIABLE.match(line)
            if match is None:
                continue
            uid, raw, x, y, w, h, shape, bits = match.groups()
            item = Item(
                id=int(uid),
                kind="variable",
                x=float(x),
                y=float(y),
                width=float(w),
                height=float(h),
                name=_name(raw),
                stock=(int(shape) & 3) == 3 and not int(shape) & 8,
                shadow=(int(bits) & 1) == 0,
            )
            if previous is not None and previous.kind == "valve" and int(shape) & 32:
                current.items[previous.id] = Item(**{**previous.__dict__, "flow": item.name})
        elif kind_code == 11:
            item = Item(id=int(fields[1]), kind="valve", x=float(fields[3]), y=float(fields[4]))
        elif kind_code == 12:
            body = fields[2]
            if int(fields[8]) & 4 and k < len(lines):  # the text is on the next line
                body = lines[k]
                k += 1
            if fields[2] == _CLOUD_TEXT and not int(fields[8]) & 4:
                kind = "cloud"
            elif int(fields[7]) == 5:
                kind = "loop"
            else:
                kind = "text"
            item = Item(
                id=int(fields[1]),
                kind=kind,
                x=float(fields[3]),
                y=float(fields[4]),
                width=float(fields[5]),
                height=float(fields[6]),
                name=_name(body) if kind != "cloud" else "",
            )
        elif kind_code == 1:
            points = re.findall(r"\((-?\d+),(-?\d+)\)", line)
            polarity = {43: "+", 45: "-"}.get(int(fields[6]), "") if fields[6].isdigit() else ""
            pipe = int(fields[7]) == _PIPE
            first = (float(points[0][0]), float(points[0][1])) if points else None
            current.arrows.append(
                Arrow(
                    source=int(fields[2]),
                    target=int(fields[3]),
                    pipe=pipe,
                    polarity=polarity,
                    control=first if (pipe or int(fields[4])) else None,
                    head=pipe and int(fields[4]) == 4,
                )
            )
            continue
        else:
            continue
        current.items[item.id] = item
        previous = item
    return views
