"""The shape of the package: layers, module sizes and private names.

- import-linter's contracts (in ``pyproject.toml``): PySD and pysimlin are
  imported only by ``pyloop.engine``, matplotlib only by ``pyloop.plots``,
  and the generic toolkit never imports the case study ``pyloop.case``;
- no module of the package is over :data:`MAX_LINES` lines;
- no private name (``_name``) is imported from another package.
"""

from __future__ import annotations

import ast
import contextlib
import io
from pathlib import Path

import pytest

import pyloop
from conftest import TESTS

REPO = TESTS.parent
PACKAGE = REPO / "pyloop"
MAX_LINES = 600


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _room(module: str) -> str:
    """The package a module belongs to: ``pyloop.X`` for anything under
    ``pyloop/X/``; a top-level module is a room of its own."""
    return ".".join(module.split(".")[:2])


def _imported_privates(path: Path, source: str | None = None) -> list[tuple[int, str, str]]:
    """``(line, module, name)`` of every private name ``path`` (or ``source``,
    read as if it were ``path``) imports from pyloop."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    text = path.read_text() if source is None else source
    for node in ast.walk(ast.parse(text, str(path))):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package.split(".")
            base = base[: len(base) - (node.level - 1)]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        if not source.startswith("pyloop"):
            continue
        for alias in node.names:
            if alias.name.startswith("_") and not alias.name.startswith("__"):
                found.append((node.lineno, source, alias.name))
    return found


def test_import_contracts_hold():
    from importlinter.cli import lint_imports

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = lint_imports(config_filename=str(REPO / "pyproject.toml"), no_cache=True)
    assert code == 0, out.getvalue()


def test_the_contracts_name_every_package():
    """A new subpackage must be placed in the layers, or the contracts miss it."""
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    rooms = {_room(_module_name(p)) for p in _modules()} - {"pyloop"}
    for contract in config["contracts"]:
        covered = set(contract["source_modules"]) | {
            m for m in contract["forbidden_modules"] if m.startswith("pyloop")
        }
        allowed = {"pyloop.engine"} if "pysd" in contract["forbidden_modules"] else set()
        allowed |= {"pyloop.plots"} if "matplotlib" in contract["forbidden_modules"] else set()
        if "pyloop.case" in contract["forbidden_modules"]:
            allowed |= {"pyloop.cli", "pyloop.__main__", "pyloop.case"}
        assert rooms - allowed <= covered, (contract["name"], sorted(rooms - allowed - covered))


@pytest.mark.parametrize("path", _modules(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_no_module_is_too_long(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(REPO)} has {lines} lines; split it by job"


def test_no_private_name_crosses_a_package():
    crossing = [
        f"{path.relative_to(REPO)}:{line} imports {name} from {source}"
        for path in _modules()
        for line, source, name in _imported_privates(path)
        if _room(source) != _room(_module_name(path))
    ]
    assert not crossing, "\n".join(crossing)


def test_the_private_name_check_sees_relative_and_absolute_imports():
    fake = PACKAGE / "cli" / "x.py"
    source = "from ..engine.cache import _lock\nfrom pyloop.runner import _validate\nfrom .parser import _seed\n"
    found = _imported_privates(fake, source)
    assert [(s, n) for _, s, n in found] == [
        ("pyloop.engine.cache", "_lock"), ("pyloop.runner", "_validate"), ("pyloop.cli.parser", "_seed")
    ]
    assert [_room(s) != _room(_module_name(fake)) for _, s, _ in found] == [True, True, False]


def test_every_public_name_imports():
    for name in pyloop.__all__:
        if name in pyloop._DEPRECATED:  # still there, with a warning
            with pytest.warns(DeprecationWarning, match=f"pyloop.{name} is deprecated"):
                assert getattr(pyloop, name) is not None, name
        else:
            assert getattr(pyloop, name) is not None, name
