"""The emulator never imports the code it checks: no module of ``aep_emulator`` imports
``runner`` or ``destinations`` (a fake that reads the client's own tables cannot catch them)."""

from __future__ import annotations

import ast
from pathlib import Path

import aep_emulator

CHECKED = {"runner", "destinations"}
PACKAGE = Path(aep_emulator.__file__).parent


def imported_roots(source: str) -> set[str]:
    """The top-level names a module imports (``import x.y``, ``from x import y``,
    ``import_module("x.y")``); relative imports are the package's own."""
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", ""))
              in ("import_module", "__import__") and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            roots.add(node.args[0].value.split(".")[0])
    return roots


def test_the_walk_sees_every_import_form() -> None:
    source = ("import runner.errors\nfrom destinations.types import X\nfrom . import server\n"
              "import importlib\nimportlib.import_module('runner.platform')\n")
    assert imported_roots(source) == {"runner", "destinations", "importlib"}


def test_no_emulator_module_imports_runner_or_destinations() -> None:
    modules = sorted(PACKAGE.rglob("*.py"))
    assert len(modules) > 10  # the walk really found the package
    offenders = {str(m.relative_to(PACKAGE)): sorted(imported_roots(m.read_text()) & CHECKED)
                 for m in modules}
    assert {m: names for m, names in offenders.items() if names} == {}
