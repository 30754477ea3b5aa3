"""The causal structure of a model: variables, stocks and flows, links, feedback loops.

Built from a loaded :class:`~pyloop.engine.Model`'s parsed equations, as plain
data. A *link* ``cause -> effect`` exists when the effect's equation reads the
cause at every step (for a stock: when its net flow reads it). Links that only
set a stock's initial value are left out, and so are the time settings.

Feedback loops are the elementary cycles of the graph of links (Johnson's
algorithm, through :func:`networkx.simple_cycles`). A model with many loops
can have an astronomical number of them, so :func:`find_loops` stops at
``max_loops``: it either raises, or (``on_limit="shortest"``) falls back to
the shortest loop through every link that lies on a cycle, a set that covers
every feedback link of the model with few loops.

Cycle partitions are the strongly connected components of the graph that
contain a stock: loops are only compared within their partition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import islice
from types import MappingProxyType
from typing import Mapping

import networkx as nx

from pyloop.errors import PyloopError
from pyloop.engine import Model

__all__ = [
    "DEFAULT_MAX_LOOPS",
    "Link",
    "Loop",
    "Structure",
    "causal_structure",
    "find_loops",
]

#: Most loops :func:`find_loops` enumerates unless told otherwise.
DEFAULT_MAX_LOOPS = 10_000

#: Variable kinds that take part in the causal graph.
_DYNAMIC_KINDS = ("stock", "flow", "aux")


@dataclass(frozen=True)
class Link:
    """One causal link ``cause -> effect``.

    Attributes:
        cause: name of the variable read.
        effect: name of the variable whose equation reads it.
        kind: ``"flow"`` for a flow (or any variable of a stock's net flow)
            into its stock, ``"aux"`` for every other link, ``"constant"``
            for a link from a constant (never part of a loop).
        sign: for a ``"flow"`` link, ``+1`` (inflow) or ``-1`` (outflow);
            ``0`` when the sign is not fixed by the structure (other links,
            or a net flow that is not a plain sum of named flows).
    """

    cause: str
    effect: str
    kind: str
    sign: int = 0


@dataclass(frozen=True)
class Loop:
    """One elementary feedback loop.

    Attributes:
        id: ``"L1"``, ``"L2"``, ... in order of length then variable names
            (named loops get their catalogue id in :mod:`pyloop.analysis.loops`).
        variables: the variables in causal order, each one's effect being
            the next (the last one acts on the first); rotated to start at
            the loop's alphabetically first stock.
        stocks: the stocks on the loop.
        partition: index of the loop's cycle partition in
            :attr:`Structure.partitions`.
    """

    id: str
    variables: tuple[str, ...]
    stocks: tuple[str, ...]
    partition: int

    @property
    def links(self) -> tuple[tuple[str, str], ...]:
        """The loop's links as ``(cause, effect)`` pairs, closing the loop."""
        v = self.variables
        return tuple((v[i], v[(i + 1) % len(v)]) for i in range(len(v)))

    @property
    def length(self) -> int:
        """Number of links (equal to the number of variables)."""
        return len(self.variables)


@dataclass(frozen=True)
class Structure:
    """The causal structure of a model.

    Attributes:
        model: the model's name.
        kinds: every variable's kind (``stock``, ``flow``, ``aux``,
            ``constant``, ``lookup``, ``data``), by name.
        stocks: names of the stocks.
        flows: for each stock, ``{flow: +1 or -1}`` (inflow or outflow);
            empty for a stock whose net flow is not a plain sum of flows.
        links: every link, sorted by effect then cause.
        partitions: cycle partitions, each a tuple of the stocks in one
            strongly connected component of the graph.
    """

    model: str
    kinds: Mapping[str, str]
    stocks: tuple[str, ...]
    flows: Mapping[str, Mapping[str, int]]
    links: tuple[Link, ...]
    partitions: tuple[tuple[str, ...], ...]
    _graph: nx.DiGraph = field(repr=False, compare=False)
    _component: Mapping[str, int] = field(repr=False, compare=False)

    @property
    def graph(self) -> nx.DiGraph:
        """A copy of the causal graph among stocks, flows and auxiliaries
        (constants left out); edges carry their :class:`Link` as ``link``."""
        return self._graph.copy()

    @property
    def causal_variables(self) -> tuple[str, ...]:
        """Every variable of the causal graph (stocks, flows, auxiliaries;
        constants left out), in the graph's order."""
        return tuple(self._graph)

    def has_link(self, cause: str, effect: str) -> bool:
        """Whether ``cause -> effect`` is an edge of the causal graph (links
        from constants are not)."""
        return self._graph.has_edge(cause, effect)

    def link(self, cause: str, effect: str) -> Link:
        """The link ``cause -> effect``.

        Raises:
            PyloopError: there is no such link.
        """
        data = self._graph.get_edge_data(cause, effect)
        if data is not None:
            return data["link"]
        for link in self.links:  # links from constants are not in the graph
            if link.cause == cause and link.effect == effect:
                return link
        raise PyloopError(f"no link '{cause}' -> '{effect}' in model '{self.model}'")

    def inputs(self, variable: str) -> tuple[str, ...]:
        """Variables (constants included) that ``variable``'s equation reads."""
        return tuple(link.cause for link in self.links if link.effect == variable)

    def partition_of(self, variable: str) -> int | None:
        """Index of the cycle partition holding ``variable``, or None if it lies
        on no feedback loop."""
        return self._component.get(variable)


def causal_structure(model: Model) -> Structure:
    """The causal structure of a loaded model, its SMOOTH, DELAY and TREND
    functions written out as stocks (:mod:`pyloop.engine.builtins`).

    Raises:
        PyloopError: the model has subscripted (arrayed) variables, which
            the loop analysis does not support, or a SMOOTH N or DELAY N
            whose order is not a number.
        ModelFileError: the model file cannot be parsed again.
    """
    from pyloop.engine.builtins import expand_builtins

    arrayed = [v.name for v in model.variables if v.subscripts]
    if arrayed:
        raise PyloopError(
            f"model '{model.name}' has subscripted variables ('{arrayed[0]}'); "
            "loop analysis supports scalar models only"
        )
    model = expand_builtins(model)
    kinds = {v.name: v.kind for v in model.variables if v.kind != "control"}
    equations = model.equations
    links: dict[tuple[str, str], Link] = {}
    flows: dict[str, Mapping[str, int]] = {}
    for name, kind in kinds.items():
        eq = equations.get(name)
        if eq is None or kind not in _DYNAMIC_KINDS:
            continue
        signs = dict(eq.flows) if kind == "stock" else {}
        if kind == "stock":
            flows[name] = MappingProxyType(signs)
        for cause in eq.references:
            if cause not in kinds or cause == name and kinds[cause] == "constant":
                continue  # Time, time settings
            if kinds[cause] == "constant":
                link = Link(cause, name, "constant")
            elif kind == "stock":
                link = Link(cause, name, "flow", signs.get(cause, 0))
            else:
                link = Link(cause, name, "aux")
            links[(cause, name)] = link
    ordered = tuple(sorted(links.values(), key=lambda k: (k.effect, k.cause)))

    graph = nx.DiGraph()
    graph.add_nodes_from(n for n, k in kinds.items() if k in _DYNAMIC_KINDS)
    for link in ordered:
        if link.kind != "constant":
            graph.add_edge(link.cause, link.effect, link=link)

    stocks = tuple(sorted(n for n, k in kinds.items() if k == "stock"))
    components = []
    for comp in nx.strongly_connected_components(graph):
        comp_stocks = tuple(sorted(s for s in comp if s in stocks))
        if len(comp) > 1 or any(graph.has_edge(n, n) for n in comp):
            components.append((comp_stocks, comp))
    components.sort(key=lambda c: (-len(c[1]), c[0]))
    component = {n: i for i, (_, comp) in enumerate(components) for n in comp}
    return Structure(
        model=model.name,
        kinds=MappingProxyType(kinds),
        stocks=stocks,
        flows=MappingProxyType(flows),
        links=ordered,
        partitions=tuple(c for c, _ in components),
        _graph=graph,
        _component=MappingProxyType(component),
    )


def _canonical(cycle: list[str], stocks: set[str]) -> tuple[str, ...]:
    """Rotate a cycle to start at its alphabetically first stock (else name)."""
    starts = [v for v in cycle if v in stocks] or cycle
    first = cycle.index(min(starts))
    return tuple(cycle[first:] + cycle[:first])


def _shortest_loops(graph: nx.DiGraph) -> list[list[str]]:
    """The shortest cycle through every edge that lies on a cycle."""
    found: dict[frozenset, list[str]] = {}
    seen: set[tuple[str, ...]] = set()
    for cause, effect in graph.edges:
        try:
            path = nx.shortest_path(graph, effect, cause)
        except nx.NetworkXNoPath:
            continue
        cycle = [cause] + path[:-1] if cause != effect else [cause]
        key = tuple(cycle)
        rotations = {tuple(cycle[i:] + cycle[:i]) for i in range(len(cycle))}
        if seen & rotations:
            continue
        seen.add(key)
        found[frozenset(rotations)] = cycle
    return list(found.values())


def find_loops(
    structure: Structure,
    max_loops: int = DEFAULT_MAX_LOOPS,
    on_limit: str = "error",
) -> tuple[Loop, ...]:
    """Every elementary feedback loop of a model.

    Args:
        structure: from :func:`causal_structure`.
        max_loops: most loops to enumerate (at least 1).
        on_limit: what to do when the model has more than ``max_loops``
            loops: ``"error"`` raises :class:`PyloopError`; ``"shortest"``
            returns instead the shortest loop through each link that lies on
            a loop (a discovery set covering every feedback link).

    Returns:
        Loops ordered by partition, then length, then variable names, with
        ids ``L1``, ``L2``, ...

    Raises:
        PyloopError: too many loops with ``on_limit="error"``, or bad
            arguments.
    """
    if on_limit not in ("error", "shortest"):
        raise PyloopError(f"on_limit must be 'error' or 'shortest', not {on_limit!r}")
    if not isinstance(max_loops, int) or max_loops < 1:
        raise PyloopError(f"max_loops must be a positive integer, not {max_loops!r}")
    graph = structure._graph
    cycles = list(islice(nx.simple_cycles(graph), max_loops + 1))
    if len(cycles) > max_loops:
        if on_limit == "error":
            raise PyloopError(
                f"model '{structure.model}' has more than {max_loops} feedback loops; "
                "raise max_loops, or use on_limit='shortest' to keep the shortest "
                "loop through each feedback link"
            )
        cycles = _shortest_loops(graph)
    stocks = set(structure.stocks)
    rows = []
    for cycle in cycles:
        variables = _canonical(list(cycle), stocks)
        partition = structure._component[variables[0]]
        on_loop = tuple(v for v in variables if v in stocks)
        rows.append((partition, len(variables), variables, on_loop))
    rows.sort()
    return tuple(
        Loop(id=f"L{i}", variables=v, stocks=s, partition=p)
        for i, (p, _, v, s) in enumerate(rows, start=1)
    )
