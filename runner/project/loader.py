"""Load a whole project: config, models, macros, and the DAG their table references make.

``load(root)`` is the single entry point the CLI, tests and notebooks use; everything that can be
wrong with a project is found here, before any engine is touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlglot import exp

from runner.project.config import ProjectConfig, load_project
from runner.validation import did_you_mean
from runner.graph.dag import DAG, SOURCE_PREFIX, CycleError
from runner.errors import ProjectError
from runner.project.macros import Macro, expand, load_macros
from runner.project.model import Model, discover_models
from runner.project.parsing import position, reference_name, table_references
from runner.project.spark_rejects import check_functions


REFERENCE = "runner_reference"  # meta key: (position, DAG node) of a resolved table reference


@dataclass
class Project:
    """A loaded, validated project.

    Attributes:
        config: project.yml.
        models: models by name.
        macros: macros by name.
        queries: each model's query with macros and vars expanded.
        dag: models and sources (``source:<name>``) with ``upstream -> downstream`` edges.
        vars: the vars in effect (project.yml overridden by ``--vars``).
    """

    config: ProjectConfig
    models: dict[str, Model]
    macros: dict[str, Macro]
    queries: dict[str, exp.Query]
    dag: DAG
    vars: dict[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.config.root

    def model_parents(self, name: str) -> list[str]:
        """The models (not sources) ``name`` reads."""
        return [p for p in self.dag.parents(name) if not p.startswith(SOURCE_PREFIX)]

    def build_parents(self, name: str) -> list[str]:
        """The materialized models ``name`` needs built first: its model parents, looking
        through ephemeral ones (which are inlined, not built) to what they read."""
        return sorted(p for p in self._reads(name) if not p.startswith(SOURCE_PREFIX))

    def sources_read(self, name: str) -> list[str]:
        """The sources ``name`` reads, directly or through the ephemeral models it inlines."""
        return sorted(p[len(SOURCE_PREFIX):] for p in self._reads(name)
                      if p.startswith(SOURCE_PREFIX))

    def _reads(self, name: str) -> set[str]:
        """DAG parents of ``name`` with every ephemeral model replaced by its own parents."""
        found: set[str] = set()
        stack = list(self.dag.parents(name))
        while stack:
            parent = stack.pop()
            if parent in self.models and self.models[parent].config.materialized == "ephemeral":
                stack.extend(self.dag.parents(parent))
            else:
                found.add(parent)
        return found

    def order(self, names: set[str] | None = None) -> list[str]:
        """Models in build order (sources left out)."""
        return [n for n in self.dag.order(names) if n in self.models]


def load(root: Path, vars_override: dict[str, Any] | None = None) -> Project:
    """Load and check the project in ``root``.

    Raises:
        ProjectError: anything wrong in project.yml, a model, a macro, or the graph.
    """
    return assemble(load_project(root), vars_override)


def assemble(config: ProjectConfig, vars_override: dict[str, Any] | None = None) -> Project:
    """The project of a loaded ``config``: its models, macros and DAG (see ``load``)."""
    root = config.root
    vars_ = {**config.vars, **(vars_override or {})}
    models = discover_models(root, config.dialect)
    macros = load_macros(root, config.dialect)
    for name, model in models.items():
        if name in config.sources:
            raise ProjectError(f"model '{name}' has the name of a declared source; rename the "
                               "model file or the source", model.path)
    dag = DAG()
    for name in config.sources:
        dag.add_node(SOURCE_PREFIX + name)
    queries: dict[str, exp.Query] = {}
    for name, model in models.items():
        dag.add_node(name)
        if config.dialect == "spark":
            check_functions(model.query, model.text, model.path, {*macros, "var"})
        query = expand(model.query, macros, vars_, model.path, model.text)
        queries[name] = query
        for index, table in enumerate(table_references(query)):
            node = _resolve(table, model, models, config)
            table.meta[REFERENCE] = (index, node)  # survives copies: the compiler finds it again
            dag.add_edge(node, name)
    try:
        dag.check_acyclic()
    except CycleError as err:
        files = [models[n].path if n in models else n for n in err.path]
        raise ProjectError("dependency cycle: " + " -> ".join(files) + "; break it by moving "
                           "the shared logic into a model both read", files[0]) from None
    return Project(config=config, models=models, macros=macros, queries=queries, dag=dag,
                   vars=vars_)


def _resolve(table: exp.Table, model: Model, models: dict[str, Model],
             config: ProjectConfig) -> str:
    name = reference_name(table)
    if name in models:
        return name
    if name in config.sources:
        return SOURCE_PREFIX + name
    line, col = position(model.text, table)
    hint = did_you_mean(name, [*models, *config.sources])
    raise ProjectError(f"unknown table '{name}' — not a model or a declared source{hint}; "
                       "add a models/<name>.sql file or declare it under sources: in project.yml",
                       model.path, line, col)
