"""Load a whole project: config, models, macros, and the DAG their table references make.

``load(root)`` is the single entry point the CLI, tests and notebooks use; everything that can be
wrong with a project is found here, before any engine is touched.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlglot import exp

from runner.project.config import ProjectConfig, load_project
from runner.validation import did_you_mean
from runner.graph.dag import DAG, SOURCE_PREFIX, CycleError
from runner.errors import ProjectError
from runner.project.cache import Cache
from runner.project.data_tests import check_relationships
from runner.project.macros import Macro, expand, load_macros
from runner.project.model import Model, model_files, read_model
from runner.project.processes import worker_pool, workers
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
    queries: Queries
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
             cache: Cache | None = None, on_model: Callable[[str], None] | None = None
             ) -> Project:
    """The project of a loaded ``config``: its models, macros and DAG (see ``load``).

    With ``cache``, a model file whose text (with these macros and vars, this runner and
    sqlglot) was loaded before is not parsed: its config and table references come from the
    cache, and its query is parsed only if something reads it (a compile cache miss). Many
    files the cache does not know are parsed in worker processes (``runner.project.processes``);
    ``on_model`` is told each file read in this process as it starts (progress).
    """
    root = config.root
    vars_ = {**config.vars, **(vars_override or {})}
    macros = load_macros(root, config.dialect)
    context = (config.dialect, sorted((m.name, m.params, m.body.sql(), m.path, m.line)
                                      for m in macros.values()), sorted(vars_.items(), key=str))
    keys: dict[str, str] = {}
    entries: dict[str, Any] = {}
    models: dict[str, Model] = {}
    for rel, name, text in model_files(root):
        keys[name] = Cache.key("parse", rel, text, context)
        entry = entries[name] = cache.get(keys[name]) if cache is not None else None
        # a file the cache does not know gets its config when it is parsed (_parse)
        models[name] = Model(name, rel, text, entry["config"] if entry is not None else None,
                             config.dialect)
    for name, model in models.items():
        if name in config.sources:
            raise ProjectError(f"model '{name}' has the name of a declared source; rename the "
                               "model file or the source", model.path)
    queries = Queries(models, macros, vars_, config)
    misses = [name for name, entry in entries.items() if entry is None]
    for name, entry in _parse(misses, models, queries, on_model).items():
        entries[name] = entry
        if cache is not None:
            cache.put(keys[name], entry)
    kinds = {name: entries[name]["config"].materialized for name in models}
    for name, model in models.items():
        check_relationships(model.path, entries[name]["config"].data_tests, kinds,
                            config.sources)
    dag = DAG()
    for name in config.sources:
        dag.add_node(SOURCE_PREFIX + name)
    for name in models:
        dag.add_node(name)
    for name, model in models.items():
        for ref, line, col in entries[name]["refs"]:
            dag.add_edge(_resolve(ref, line, col, model, models, config), name)
    try:
        dag.check_acyclic()
    except CycleError as err:
        files = [models[n].path if n in models else n for n in err.path]
        raise ProjectError("dependency cycle: " + " -> ".join(files) + "; break it by moving "
                           "the shared logic into a model both read", files[0]) from None
    return Project(config=config, models=models, macros=macros, queries=queries, dag=dag,
                   vars=vars_, keys=keys, query_hashes={n: e["sql"] for n, e in entries.items()})


_LOADING: tuple[dict[str, Model], Queries] | None = None  # what a parse worker reads


def _parse(names: list[str], models: dict[str, Model], queries: Queries,
           on_model: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Parse the model files ``names`` (in path order) into parse cache entries: their config,
    table references and query hash. Many go to worker processes; the rest, and any a worker
    could not parse, are parsed here, config blocks and syntax first and references after, so
    the first problem in path order is the one raised, with or without workers."""
    global _LOADING
    found: dict[str, Any] = {}
    paused = gc.isenabled()
    gc.disable()  # parsing makes trees that live on: the collector would only walk them
    try:
        pool = worker_pool(len(names))
        if pool is not None:
            _LOADING = (models, queries)
            try:
                chunk = max(1, min(16, len(names) // (4 * workers())))  # small: Ctrl-C waits for one
                for name, entry in zip(names, pool.map(_parse_one, names, chunksize=chunk)):
                    if entry is not None:
                        found[name] = entry
                        models[name].config = entry["config"]
            except (BrokenProcessPool, OSError):  # a worker died: parse the rest here
                pass
            finally:  # on Ctrl-C too: what has not started is not waited for
                pool.shutdown(wait=True, cancel_futures=True)
                _LOADING = None
        rest = [name for name in names if name not in found]
        for name in rest:
            model = models[name]
            if on_model is not None:
                on_model(model.path)
            models[name] = read_model(model.text, model.path, name, model.dialect)
        for name in rest:
            if on_model is not None:
                on_model(models[name].path)
            found[name] = _entry(name, models, queries)
    finally:
        if paused:
            gc.enable()
    return found


def _entry(name: str, models: dict[str, Model], queries: Queries) -> dict[str, Any]:
    """The parse cache entry of a parsed model."""
    refs = queries.load(name)
    return {"config": models[name].config, "refs": refs, "sql": query_hash(queries[name])}


def _parse_one(name: str) -> dict[str, Any] | None:
    """In a worker: the model's parse entry, or None if it has a problem (the parent parses it
    again and raises it)."""
    assert _LOADING is not None
    models, queries = _LOADING
    model = models[name]
    try:
        models[name] = read_model(model.text, model.path, name, model.dialect)
        return _entry(name, models, queries)
    except Exception:  # noqa: BLE001 - raised again, by the parent, where it belongs
        return None
    finally:
        queries.forget(name)
        models[name] = model


class Queries(Mapping[str, exp.Query]):
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
        # the parsed tree is expanded in place: only this mapping keeps it
        query = expand(model.take_query(), self._macros, self._vars, model.path, model.text,
                       copy=False)
        refs = []
        for index, table in enumerate(table_references(query)):
            ref, (line, col) = reference_name(table), position(model.text, table)
            node = _resolve(ref, line, col, model, self._models, self._config)
            table.meta[REFERENCE] = (index, node)  # survives copies: the compiler finds it again
            refs.append((ref, line, col))
        self._queries[name] = query
        return refs

    def forget(self, name: str) -> None:
        """Drop the model's query (a worker keeps only what it returns)."""
        self._queries.pop(name, None)

    def take(self, name: str) -> exp.Query:
        """The model's query, handed over to be rewritten (made again if read later)."""
        query = self[name]
        del self._queries[name]
        return query

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
