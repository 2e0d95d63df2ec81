"""The first-party import graph has no cycle and every import goes down the declared layers.

Every import counts: module level, inside functions, and under ``TYPE_CHECKING``. A module may
import its own layer or any layer below it, never one above. The layers, bottom to top, are the
stages of the pipeline (see the README's Development section).
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import networkx as nx
import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = {"runner": REPO / "runner", "destinations": REPO / "destinations"}

# Bottom to top. A module belongs to the longest prefix that names it.
LAYERS: list[tuple[str, ...]] = [
    ("runner.errors", "runner.version", "runner.crashpoints"),
    ("runner.validation",),
    ("runner.platform",),               # Adobe's REST client, credentials, secrets
    ("runner.graph.dag",),              # the DAG knows nothing of SQL
    ("runner.project",),                # stage 1: project.yml, models, macros
    ("runner.graph",),                  # stage 2: selection and rendering over a project
    ("runner.adapters",),               # one file per engine
    ("runner.sources",),                # local sources, data versions, the generator
    ("runner.compile",),                # stage 3: the compiled plan, the dialect layer
    ("destinations",),                  # exports, called only by the run stage
    ("runner.run",),                    # stage 4: sessions, build, materializations, state
    ("runner.cli",),
    ("runner",),                        # the public surface
]


def module_files(packages: dict[str, Path] = PACKAGES) -> dict[str, Path]:
    files = {}
    for package, folder in packages.items():
        for path in folder.rglob("*.py"):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join(parts)] = path
    return files


def imports_of(module: str, path: Path, known: set[str]) -> list[tuple[str, int]]:
    """First-party modules ``module`` imports anywhere in its file, with the line."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                     for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:  # `import a.b.c` of a function: its module
                name = name.rpartition(".")[0]
            if name and name != module:
                found.append((name, node.lineno))
    return found


def import_graph(packages: dict[str, Path] = PACKAGES) -> nx.DiGraph:
    files = module_files(packages)
    graph = nx.DiGraph()
    graph.add_nodes_from(files)
    for module, path in files.items():
        for target, line in imports_of(module, path, set(files)):
            graph.add_edge(module, target, line=line)
    return graph


def layer(module: str) -> int:
    matches = [(len(prefix), index) for index, names in enumerate(LAYERS) for prefix in names
               if module == prefix or module.startswith(prefix + ".")]
    assert matches, f"{module} is in no layer: add it to LAYERS"
    return max(matches)[1]


def test_the_graph_is_read_whole() -> None:
    graph = import_graph()
    assert {"runner.run.build", "runner.compile.dialect.duckdb", "destinations.run"} <= set(graph)
    # function-level and TYPE_CHECKING imports count too
    assert graph.has_edge("runner.run.results", "destinations")  # TYPE_CHECKING only


def test_no_import_cycles() -> None:
    graph = import_graph()
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, "import cycles: " + "; ".join(" -> ".join([*c, c[0]]) for c in cycles)


def test_imports_go_down_the_layers() -> None:
    upward = upward_imports(import_graph())
    assert not upward, "imports against the layer order:\n" + "\n".join(upward)


def upward_imports(graph: nx.DiGraph) -> list[str]:
    return [f"{a} (layer {layer(a)}) imports {b} (layer {layer(b)}) at line {d['line']}"
            for a, b, d in graph.edges(data=True) if layer(b) > layer(a)]


def test_the_check_catches_a_cycle_added_back(tmp_path) -> None:
    """On a copy of the tree with one function-level import added (destinations -> the run
    stage, the cycle this layout removed), both checks fail and name it."""
    copy = {name: tmp_path / name for name in PACKAGES}
    for name, folder in PACKAGES.items():
        shutil.copytree(folder, copy[name], ignore=shutil.ignore_patterns("__pycache__"))
    run_py = copy["destinations"] / "run.py"
    run_py.write_text(run_py.read_text(encoding="utf-8")
                      + "\n\ndef _late():\n    from runner.run.build import build\n")
    graph = import_graph(copy)
    assert any({"destinations.run", "runner.run.build"} <= set(c) for c in nx.simple_cycles(graph))
    assert any(line.startswith("destinations.run (layer 9) imports runner.run.build (layer 10)")
               for line in upward_imports(graph))


@pytest.mark.parametrize("module", ["runner.errors", "runner.validation",
                                    "runner.platform.secrets"])
def test_leaves_import_alone(module) -> None:
    """Errors, validation helpers and secrets import no other part of the runner but errors."""
    graph = import_graph()
    assert set(graph.successors(module)) <= {"runner.errors"}
