"""Load a whole project: config, models, macros, and the DAG their table references make.

``load(root)`` is the single entry point the CLI, tests and notebooks use; everything that can be
wrong with a project is found here, before any engine is touched.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlglot import exp

from runner.project.config import ProjectConfig, load_project
from runner.validation import did_you_mean
from runner.graph.dag import DAG, SOURCE_PREFIX, CycleError
from runner.errors import ProjectError
from runner.project.cache import Cache
from runner.project.macros import Macro, expand, load_macros
from runner.project.model import Model, ModelConfig, discover_models
from runner.project.parsing import position, query_hash, reference_name, table_references
from runner.project.spark_rejects import check_functions


REFERENCE = "runner_reference"  # meta key: (position, DAG node) of a resolved table reference


@dataclass
class Project:
    """A loaded, validated project.

    Attributes:
        config: project.yml.
        models: models by name.
        macros: macros by name.
        queries: each model's query with macros and vars expanded (made when first read).
        dag: models and sources (``source:<name>``) with ``upstream -> downstream`` edges.
        vars: the vars in effect (project.yml overridden by ``--vars``).
        keys: each model's parse key: its text, the macros, the vars, this runner and
            sqlglot (what the compile cache builds on).
        query_hashes: a hash of what each model's query computes (``query_hash``: layout and
            comments never change it).
    """

    config: ProjectConfig
    models: dict[str, Model]
    macros: dict[str, Macro]
    queries: Mapping[str, exp.Query]
    dag: DAG
    vars: dict[str, Any] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    query_hashes: dict[str, str] = field(default_factory=dict)

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


def assemble(config: ProjectConfig, vars_override: dict[str, Any] | None = None,
             cache: Cache | None = None) -> Project:
    """The project of a loaded ``config``: its models, macros and DAG (see ``load``).

    With ``cache``, a model file whose text (with these macros and vars, this runner and
    sqlglot) was loaded before is not parsed: its config and table references come from the
    cache, and its query is parsed only if something reads it (a compile cache miss).
    """
    root = config.root
    vars_ = {**config.vars, **(vars_override or {})}
    macros = load_macros(root, config.dialect)
    context = (config.dialect, sorted((m.name, m.params, m.body.sql(), m.path, m.line)
                                      for m in macros.values()), sorted(vars_.items(), key=str))
    entries: dict[str, tuple[str, Any]] = {}  # path -> (key, cached entry or None)

    def known(path: str, text: str) -> ModelConfig | None:
        key = Cache.key("parse", path, text, context)
        entry = cache.get(key) if cache is not None else None
        entries[path] = (key, entry)
        return entry["config"] if entry is not None else None

    models = discover_models(root, config.dialect, known)
    for name, model in models.items():
        if name in config.sources:
            raise ProjectError(f"model '{name}' has the name of a declared source; rename the "
                               "model file or the source", model.path)
    dag = DAG()
    for name in config.sources:
        dag.add_node(SOURCE_PREFIX + name)
    queries = _Queries(models, macros, vars_, config)
    keys: dict[str, str] = {}
    hashes: dict[str, str] = {}
    for name, model in models.items():
        dag.add_node(name)
        key, entry = entries[model.path]  # discover_models asked known() of every file
        keys[name] = key
        if entry is not None:
            refs = [tuple(ref) for ref in entry["refs"]]
            hashes[name] = entry["sql"]
        else:
            refs = queries.load(name)
            hashes[name] = query_hash(queries[name])
            if cache is not None:
                cache.put(key, {"config": model.config, "refs": refs, "sql": hashes[name]})
        for ref, line, col in refs:
            dag.add_edge(_resolve(ref, line, col, model, models, config), name)
    try:
        dag.check_acyclic()
    except CycleError as err:
        files = [models[n].path if n in models else n for n in err.path]
        raise ProjectError("dependency cycle: " + " -> ".join(files) + "; break it by moving "
                           "the shared logic into a model both read", files[0]) from None
    return Project(config=config, models=models, macros=macros, queries=queries, dag=dag,
                   vars=vars_, keys=keys, query_hashes=hashes)


class _Queries(Mapping[str, exp.Query]):
    """Each model's query with macros and vars expanded and its table references marked
    (``REFERENCE``: position and DAG node, kept by copies), made when first read."""

    def __init__(self, models: dict[str, Model], macros: dict[str, Macro],
                 vars_: dict[str, Any], config: ProjectConfig) -> None:
        self._models, self._macros, self._vars, self._config = models, macros, vars_, config
        self._queries: dict[str, exp.Query] = {}

    def load(self, name: str) -> list[tuple[str, int | None, int | None]]:
        """Parse, check and expand the model's query; its table references as (name, line,
        col), in order."""
        model = self._models[name]
        if self._config.dialect == "spark":
            check_functions(model.query, model.text, model.path, {*self._macros, "var"})
        query = expand(model.query, self._macros, self._vars, model.path, model.text)
        refs = []
        for index, table in enumerate(table_references(query)):
            ref, (line, col) = reference_name(table), position(model.text, table)
            node = _resolve(ref, line, col, model, self._models, self._config)
            table.meta[REFERENCE] = (index, node)  # survives copies: the compiler finds it again
            refs.append((ref, line, col))
        self._queries[name] = query
        return refs

    def __getitem__(self, name: str) -> exp.Query:
        if name not in self._queries:
            if name not in self._models:
                raise KeyError(name)
            self.load(name)
        return self._queries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._models)

    def __len__(self) -> int:
        return len(self._models)


def _resolve(name: str, line: int | None, col: int | None, model: Model,
             models: dict[str, Model], config: ProjectConfig) -> str:
    if name in models:
        return name
    if name in config.sources:
        return SOURCE_PREFIX + name
    hint = did_you_mean(name, [*models, *config.sources])
    raise ProjectError(f"unknown table '{name}' — not a model or a declared source{hint}; "
                       "add a models/<name>.sql file or declare it under sources: in project.yml",
                       model.path, line, col)
