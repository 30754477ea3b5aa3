"""Check a translated model's Python source before it is imported.

PySD turns a model file into a Python module, and importing that module runs
it. :mod:`pyloop.engine.sanitise` keeps model text out of the generated code; this
module is the second line of defence: it parses the generated source with
:mod:`ast` (which executes nothing) and accepts it only if it uses nothing
beyond what PySD's builder writes:

* imports only at the top, only of ``pathlib.Path``, numpy, xarray, scipy
  and PySD's own run-time modules;
* no statement kinds PySD never writes (classes, ``with``, ``try``,
  ``global``, ``del``, ``while``, ...);
* every bare expression statement is a string (a docstring) or PySD's
  ``_ext_name.add(...)``, so no model text can sneak in another call;
* every name read is defined in the module itself or is a harmless built-in
  (``eval``, ``exec``, ``open``, ``__import__``, ``getattr``, ``os`` ... are
  not);
* no attribute starting with ``_`` and no attribute outside the vocabulary
  of PySD's code templates (so ``Path(...).write_text`` or ``np.load`` are
  refused).
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import re
from functools import lru_cache

from pyloop.errors import ModelFileError

__all__ = ["check_translation"]

#: Modules a translated model may import (``from X import ...`` or ``import X``).
ALLOWED_MODULES = frozenset(
    {
        "pathlib",
        "numpy",
        "xarray",
        "scipy",
        "pysd",
        "pysd.py_backend.functions",
        "pysd.py_backend.statefuls",
        "pysd.py_backend.external",
        "pysd.py_backend.data",
        "pysd.py_backend.lookups",
        "pysd.py_backend.utils",
        "pysd.py_backend.allocation",
        "pysd.py_backend.model",
    }
)

#: From these modules only the names listed may be imported.
_ONLY_NAMES = {"pysd.py_backend.model": frozenset({"Macro"})}

#: Names a translated model may import from those modules.
_REFUSED_IMPORTS = frozenset({"load_modules"})  # returns source text to exec

#: Built-ins a translated model may call: pure functions and types only.
SAFE_BUILTINS = frozenset(
    {
        "abs", "all", "any", "bool", "dict", "enumerate", "float", "int", "isinstance",
        "len", "list", "map", "max", "min", "range", "reversed", "round", "set",
        "slice", "sorted", "str", "sum", "tuple", "zip", "True", "False", "None",
        "ValueError", "TypeError", "ZeroDivisionError",
    }
)

#: Names PySD's module header defines that start with two underscores.
_DUNDER_NAMES = frozenset({"__file__", "__data", "__pysd_version__", "__doc__"})

#: Syntax PySD's builder writes; anything else is refused.
_ALLOWED_NODES = (
    # statements
    ast.Module, ast.Expr, ast.Assign, ast.AugAssign, ast.FunctionDef, ast.Return,
    ast.For, ast.If, ast.Pass, ast.Import, ast.ImportFrom, ast.alias,
    # expressions
    ast.arguments, ast.arg, ast.keyword, ast.Lambda, ast.BinOp, ast.UnaryOp, ast.BoolOp,
    ast.Compare, ast.Call, ast.Attribute, ast.Subscript, ast.Slice, ast.Name, ast.Constant,
    ast.List, ast.Tuple, ast.Dict, ast.Set, ast.IfExp, ast.ListComp, ast.DictComp,
    ast.GeneratorExp, ast.comprehension, ast.Starred,
    # contexts and operators
    ast.expr_context, ast.operator, ast.unaryop, ast.boolop, ast.cmpop,
)

#: Attributes seen in PySD's output that its templates spell in code, not strings.
_EXTRA_ATTRIBUTES = frozenset(
    {
        "add", "exp", "final_time", "inf", "initial_time", "interp", "maximum", "minimum",
        "nan", "parent", "saveper", "sin", "time_step", "values", "loc", "sum", "prod",
        "min", "max", "reshape", "stats", "DataArray", "coords", "dims", "shape", "squeeze",
        "where", "isnan", "full", "ones", "zeros", "empty", "copy", "item", "astype",
        "dtype", "ndim", "size", "T", "transpose", "expand_dims", "broadcast_like",
        "linalg", "inv", "tile", "arange",
    }
)

_BUILDER_MODULES = (
    "pysd.builders.python.python_functions",
    "pysd.builders.python.python_expressions_builder",
    "pysd.builders.python.python_model_builder",
    "pysd.builders.python.subscripts",
    "pysd.builders.python.imports",
)

#: Attributes never allowed, whatever PySD's templates mention.
_REFUSED_ATTRIBUTES = frozenset(
    {
        "system", "popen", "spawn", "load", "loads", "save", "savez", "tofile", "fromfile",
        "open", "open_dataset", "to_netcdf", "write", "write_text", "write_bytes",
        "read_text", "read_bytes", "unlink", "rmdir", "mkdir", "touch", "chmod", "home",
        "cwd", "glob", "rglob", "iterdir", "ctypeslib", "f2py", "lib", "testing",
        "distutils", "import_module", "eval", "exec", "pickle", "to_pickle", "read_pickle",
    }
)


@lru_cache(maxsize=1)
def allowed_attributes() -> frozenset[str]:
    """Attribute names a translated model may use.

    The vocabulary of PySD's code templates (every ``.name`` inside the
    builder's string literals) plus the attributes its code spells directly;
    private, dunder and file-touching attributes are always refused.
    """
    found = set(_EXTRA_ATTRIBUTES)
    for name in _BUILDER_MODULES:
        try:
            source = inspect.getsource(importlib.import_module(name))
        except (ImportError, OSError, TypeError):
            continue
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.update(re.findall(r"\.([A-Za-z]\w*)", node.value))
    return frozenset(a for a in found if not a.startswith("_")) - _REFUSED_ATTRIBUTES


def _concrete(kinds: tuple[type, ...]) -> frozenset[type]:
    """The node classes in ``kinds`` with their subclasses (``ast.operator`` -> ``ast.Add``, ...)."""
    out: set[type] = set()
    todo = list(kinds)
    while todo:
        kind = todo.pop()
        out.add(kind)
        todo.extend(kind.__subclasses__())
    return frozenset(out)


_ALLOWED_TYPES = _concrete(_ALLOWED_NODES)
_BINDERS = (ast.FunctionDef, ast.arg, ast.alias)


def _problem(tree: ast.Module) -> str | None:
    """What in ``tree`` PySD's builder would not write, or None (one pass)."""
    attributes = allowed_attributes()
    defined = {"__file__"}  # set by the import system
    loaded: dict[str, int] = {}
    top_level = set(map(id, tree.body))
    for node in ast.walk(tree):
        kind = type(node)
        if kind is ast.Name:
            name = node.id
            if name.startswith("__") and name not in _DUNDER_NAMES:
                return f"the name '{name}' (line {node.lineno})"
            if type(node.ctx) is ast.Store:
                defined.add(name)
            else:
                loaded.setdefault(name, node.lineno)
        elif kind is ast.Attribute:
            if node.attr not in attributes:
                return f"the attribute '.{node.attr}' (line {node.lineno})"
        elif kind is ast.Call and _outside_folder(node):
            return f"a path outside the model's folder (line {node.lineno})"
        elif kind not in _ALLOWED_TYPES:
            return f"a '{kind.__name__}' statement (line {getattr(node, 'lineno', '?')})"
        elif kind is ast.Expr:
            if not _docstring_or_add(node.value):
                return f"an expression statement that is not a docstring (line {node.lineno})"
        elif kind is ast.FunctionDef:
            if node.name.startswith("__"):
                return f"the function name '{node.name}' (line {node.lineno})"
            defined.add(node.name)
        elif kind is ast.arg:
            defined.add(node.arg)
        elif kind is ast.Import or kind is ast.ImportFrom:
            problem = _import_problem(node, id(node) in top_level)
            if problem:
                return problem
            defined.update(a.asname or a.name.split(".")[0] for a in node.names)
    dangerous = set(dir(builtins)) - SAFE_BUILTINS
    outer = _macro_parameters(tree)
    for name, line in loaded.items():
        if name in defined:
            continue
        if name in dangerous:
            return f"the built-in '{name}' (line {line})"
        if name not in SAFE_BUILTINS and name not in outer:
            return f"the undefined name '{name}' (line {line})"
    return None


def _macro_parameters(tree: ast.Module) -> set[str]:
    """Names a macro module receives at run time: the values of its
    top-level ``_params = {"input": "input_1", ...}``."""
    names: set[str] = set()
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and [getattr(t, "id", None) for t in node.targets] == ["_params"]
            and isinstance(node.value, ast.Dict)
        ):
            names.update(
                v.value
                for v in node.value.values
                if isinstance(v, ast.Constant) and isinstance(v.value, str) and v.value.isidentifier()
            )
    return names


def _docstring_or_add(value: ast.expr) -> bool:
    """The two expression statements PySD writes: a docstring, and
    ``_ext_name.add(...)`` (another definition of an external object)."""
    if type(value) is ast.Constant:
        return isinstance(value.value, str)
    return (
        type(value) is ast.Call
        and type(value.func) is ast.Attribute
        and value.func.attr == "add"
        and type(value.func.value) is ast.Name
    )


def _outside_folder(call: ast.Call) -> bool:
    """True for ``x.joinpath(...)`` (how a model names its macro modules)
    with anything but plain file names."""
    if not (isinstance(call.func, ast.Attribute) and call.func.attr == "joinpath"):
        return False
    for arg in call.args:
        if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
            return True
        if "/" in arg.value or "\\" in arg.value or arg.value in ("", ".", ".."):
            return True
    return bool(call.keywords)


def _import_problem(node: ast.Import | ast.ImportFrom, top_level: bool) -> str | None:
    """What is wrong with an import statement, or None."""
    line = node.lineno
    if not top_level:
        return f"an import inside a function (line {line})"
    module = node.module if isinstance(node, ast.ImportFrom) else None
    if isinstance(node, ast.ImportFrom) and (node.level or module not in ALLOWED_MODULES):
        return f"an import from '{module}' (line {line})"
    for alias in node.names:
        if module is None and alias.name not in ALLOWED_MODULES:
            return f"an import of '{alias.name}' (line {line})"
        if (
            alias.name == "*"
            or alias.name in _REFUSED_IMPORTS
            or alias.name not in _ONLY_NAMES.get(module or "", {alias.name})
        ):
            return f"an import of '{module}.{alias.name}' (line {line})"
    return None


def check_translation(source: str, label: str) -> None:
    """Refuse translated Python source that PySD's builder would not write.

    Args:
        source: the text of a translated model module.
        label: the model file's name, for the message.

    Raises:
        ModelFileError: the source does not parse, or contains anything
            outside the vocabulary of PySD's generated code.
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError) as exc:
        raise ModelFileError(
            f"refusing model file '{label}': its translation is not valid Python "
            f"({type(exc).__name__}: {exc.msg if isinstance(exc, SyntaxError) else exc}); "
            "the model file may contain text crafted to become code"
        ) from None
    problem = _problem(tree)
    if problem:
        raise ModelFileError(
            f"refusing model file '{label}': its translation contains {problem}, "
            "which PySD does not generate; the model file may contain text crafted to become code"
        )
