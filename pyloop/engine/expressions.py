"""PySD's abstract syntax tree of an equation: the one place that walks it.

PySD parses every equation into a tree of dataclasses
(``ReferenceStructure``, ``ArithmeticStructure``, ``CallStructure``, ...).
This module owns every look at those classes: :class:`ExpressionVisitor`
dispatches on a node's type (as PySD's own Python builder does), and small
functions answer the questions the rest of the package asks of an equation:
the variables it reads (:func:`references`), a stock's signed flows
(:func:`signed_flows`), its numeric literals (:func:`numbers`), whether the
loop analysis can score it (:func:`unsupported_construct`). Code outside
:mod:`pyloop.engine` calls these and never imports PySD.
"""

from __future__ import annotations

from typing import Any, ClassVar, Iterable

import numpy as np

__all__ = [
    "ExpressionVisitor",
    "NUMBER_TYPES",
    "UNSUPPORTED_CONSTRUCTS",
    "is_lookup_table",
    "is_stock",
    "net_flow_expression",
    "nodes",
    "numbers",
    "reference_name",
    "references",
    "signed_flows",
    "syntax",
    "unsupported_construct",
]

#: Python types of a numeric literal in a syntax tree.
NUMBER_TYPES = (int, float, np.number, bool)

#: Constructs the loop analysis cannot score, by node class, with the name a
#: message gives them.
UNSUPPORTED_CONSTRUCTS = {
    "SmoothStructure": "SMOOTH",
    "SmoothNStructure": "SMOOTH N",
    "DelayStructure": "DELAY",
    "DelayNStructure": "DELAY N",
    "DelayFixedStructure": "DELAY FIXED",
    "TrendStructure": "TREND",
    "ForecastStructure": "FORECAST",
    "SampleIfTrueStructure": "SAMPLE IF TRUE",
    "GameStructure": "GAME",
    "AllocateAvailableStructure": "ALLOCATE AVAILABLE",
    "AllocateByPriorityStructure": "ALLOCATE BY PRIORITY",
    "GetDataStructure": "GET DATA",
    "GetLookupsStructure": "GET LOOKUPS",
    "DataStructure": "data",
    "SubscriptsReferenceStructure": "subscripts",
}


def syntax() -> Any:
    """PySD's module of abstract-syntax classes (``ArithmeticStructure``,
    ``ReferenceStructure``, ...), for the engine code that builds trees."""
    from pysd.translators.structures import abstract_expressions

    return abstract_expressions


class ExpressionVisitor:
    """Walk a syntax tree by node type.

    :meth:`visit` calls the method named in :attr:`HANDLERS` for the node's
    class (``visit_reference`` for a ``ReferenceStructure``, ...),
    :meth:`visit_number` for a numeric literal and :meth:`visit_other` for
    anything else; extra arguments are passed through. Subclasses define
    the handlers they need; those they leave out fall back to
    :meth:`visit_other`.
    """

    #: Handler method by node class name.
    HANDLERS: ClassVar[dict[str, str]] = {
        "ReferenceStructure": "visit_reference",
        "ArithmeticStructure": "visit_arithmetic",
        "LogicStructure": "visit_logic",
        "CallStructure": "visit_call",
        "InlineLookupsStructure": "visit_inline_lookups",
        "InitialStructure": "visit_initial",
        "IntegStructure": "visit_integ",
        "LookupsStructure": "visit_lookups",
        "LaggedReference": "visit_lagged",
    }

    def visit(self, node: Any, *args: Any) -> Any:
        """The result of the handler for ``node``'s type."""
        if isinstance(node, NUMBER_TYPES):
            return self.visit_number(node, *args)
        handler = getattr(self, self.HANDLERS.get(type(node).__name__, "visit_other"), None)
        if handler is None:
            return self.visit_other(node, *args)
        return handler(node, *args)

    def visit_number(self, node: Any, *args: Any) -> Any:
        """A numeric literal; by default handled as any other node."""
        return self.visit_other(node, *args)

    def visit_other(self, node: Any, *args: Any) -> Any:
        """A node no handler covers."""
        raise NotImplementedError(type(node).__name__)


def nodes(ast: Any, skip_function_names: bool = True) -> Iterable[Any]:
    """Every node of a syntax tree, depth first, parents before children,
    literals included.

    With ``skip_function_names`` the name of a called function (a
    ``CallStructure``'s ``function``) is not visited: it names no variable.
    """
    todo = [ast]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, (list, tuple)):
            todo.extend(reversed(node))
        elif type(node).__name__ == "CallStructure" and skip_function_names:
            todo.append(node.arguments)
        elif hasattr(node, "__dataclass_fields__"):
            todo.extend(getattr(node, name) for name in reversed(list(node.__dataclass_fields__)))


def reference_name(name: str) -> str:
    """How a parsed equation refers to the variable called ``name``: its name
    in lower case with spaces as underscores (PySD's Python name can differ,
    e.g. ``p_1`` for a variable ``p`` that clashes with a reserved word)."""
    return name.lower().replace(" ", "_")


def _is_reference(node: Any) -> bool:
    return type(node).__name__ == "ReferenceStructure"


def references(ast: Any) -> list[str]:
    """Reference names (see :func:`reference_name`) of every variable a
    syntax tree reads, in order of appearance, repeats included."""
    return [node.reference for node in nodes(ast) if _is_reference(node)]


def numbers(ast: Any) -> list[float]:
    """Every numeric literal in a syntax tree (booleans excepted), in order."""
    return [
        float(node)
        for node in nodes(ast)
        if isinstance(node, (int, float)) and not isinstance(node, bool)
    ]


def signed_flows(flow: Any) -> dict[str, int] | None:
    """``{reference name: sign}`` of a net flow written as a sum of named flows.

    Returns None when the expression is anything else (a product, a call, a
    literal), which the caller reports as "no plain flows".
    """
    kind = type(flow).__name__
    if kind == "ReferenceStructure":
        return {flow.reference: 1}
    if kind != "ArithmeticStructure":
        return None
    if flow.operators == ["negative"]:
        inner = signed_flows(flow.arguments[0])
        return None if inner is None else {k: -v for k, v in inner.items()}
    if any(op not in "+-" for op in flow.operators):
        return None
    signs: dict[str, int] = {}
    operators = ["+"] + list(flow.operators)
    for op, arg in zip(operators, flow.arguments):
        sign = 1 if op == "+" else -1
        if _is_reference(arg):
            signs[arg.reference] = signs.get(arg.reference, 0) + sign
        elif type(arg).__name__ == "ArithmeticStructure" and arg.operators == ["negative"]:
            inner = arg.arguments[0]
            if not _is_reference(inner):
                return None
            signs[inner.reference] = signs.get(inner.reference, 0) - sign
        else:
            return None
    return signs


def is_stock(ast: Any) -> bool:
    """True for a stock's equation (an INTEG: ``flow`` and ``initial``)."""
    return type(ast).__name__ == "IntegStructure"


def is_lookup_table(ast: Any) -> bool:
    """True for a lookup table's equation (``x`` and ``y`` points)."""
    return type(ast).__name__ == "LookupsStructure"


def net_flow_expression(ast: Any) -> Any:
    """The expression a variable's value changes with: a stock's net flow,
    any other equation itself."""
    return ast.flow if is_stock(ast) else ast


def unsupported_construct(ast: Any) -> str | None:
    """Name of the first construct in a syntax tree that the loop analysis
    cannot score (``"FORECAST"``, ``"subscripts"``, ...), or None."""
    for node in nodes(ast, skip_function_names=False):
        kind = type(node).__name__
        if kind in UNSUPPORTED_CONSTRUCTS:
            return UNSUPPORTED_CONSTRUCTS[kind]
        if kind == "ReferenceStructure" and node.subscripts is not None:
            return "subscripts"
    return None
