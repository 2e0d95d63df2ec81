"""Compile models into the exact statements a target runs, and fingerprint them.

For each model, in dependency order: every table reference is replaced by the physical relation
it reads (an upstream model's current version ``<model>__<fingerprint>``, or a source's
identifier), ephemeral parents are inlined as CTEs, the query is rewritten for the target's
engine by ``runner.compile.dialect.translate`` (Spark semantics kept, or the construct refused here, before
anything runs). The run stage's materializations render each model's DDL from the result.

A model's fingerprint hashes its rendered SQL (which names its parents' physical versions, so a
change upstream changes every descendant's fingerprint), the parts of its config that change the
table, and a generation number that ``--full-refresh`` increments; and, for a model reading a
source whose data version is known, that version (new data, new version).

An incremental model is the exception: new data must be appended to its table, not make a new
version. So its physical name hashes its *structure* only: its SQL with each parent's physical
name replaced by that parent's structural hash (SQL, config and generation, recursively, never
data versions), its config and its generation. An edit to it or to any model upstream still
makes a new version (built in full); new source data does not. What it would otherwise have
hashed (the table-style fingerprint, data included) becomes its ``data_version``, which its
children fingerprint as they do a source's data version, so they rebuild when it can have
appended rows; it is None when a source it reads (at any depth) has no known version. Table
models keep their fingerprints: only children of incremental models gain an entry.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
import time
from collections.abc import Callable, Collection

from sqlglot import exp

from runner.adapters.base import Adapter
from runner.compile.dialect.approximate import INLINED, Note
from runner.compile.dialect.translate import translate
from runner.compile.dialect.rules import refuse
from runner.compile.dialect.spark_types import T, spark_type
from runner.compile.plan import CompiledModel, Plan
from runner.compile.workers import Ready, Workers
from runner.errors import ProjectError
from runner.graph.dag import SOURCE_PREFIX
from runner.project.cache import Cache
from runner.project.loader import REFERENCE, Project
from runner.project.model import Model
from runner.project.parsing import position, too_deep
from runner.validation import did_you_mean

FINGERPRINT_LENGTH = 10
# relations a query may read, by lower-cased name: (the name, its column types when asked)
Tables = dict[str, tuple[str, Callable[[], dict[str, exp.DataType]]]]


def compile_plan(project: Project, adapter: Adapter, chosen: set[str], *,
                 generations: dict[str, int] | None = None,
                 source_types: dict[str, dict[str, exp.DataType]] | None = None,
                 source_versions: dict[str, str] | None = None,
                 on_model: Callable[[str], None] | None = None,
                 cache: Cache | None = None) -> Plan:
    """Compile ``chosen`` and their ancestors for ``adapter``'s engine: the
    ancestors too, because fingerprints cascade (a model's physical name depends on its parents').

    Args:
        chosen: the models selected; a model outside them and their ancestors is not compiled,
            so a problem in an unrelated model does not block a selective build.
        generations: each model's refresh generation (``--full-refresh`` increments it).
        source_types: column types of the sources' tables by identifier; with them (and the
            types each model's result gets, passed on to its children) the dialect layer picks
            the rule that gives Spark's exact value and type.
        source_versions: a version of each source's data where one is known; a model reading a
            source (directly or through ephemeral parents) fingerprints its version, so new
            data rebuilds it and, through the physical names, everything downstream.

        on_model: called with each model's path as its compilation starts (progress).
        cache: the compile cache: a model whose compile key (``_compile_key``) it holds is
            not compiled again (its query is not even parsed).

    Raises:
        ProjectError: a construct that cannot be run faithfully on the target (file:line).
    """
    compiled: dict[str, CompiledModel] = {}
    keys: dict[str, str] = {}  # each compiled model's compile key
    shapes: dict[str, str] = {}  # each compiled model's result types, as the cache stores them
    spark_queries: dict[str, exp.Query] = {}  # ephemeral ones, resolved, in Spark SQL

    def spark_query(name: str) -> exp.Query:
        """An ephemeral model's resolved query, to inline (made when a child first needs it:
        a child found in the cache needs none)."""
        if name not in spark_queries:
            spark_queries[name] = _resolve_tables(project, name, compiled, spark_query)[0]
        return spark_queries[name]

    sources = {table: cols for table, cols in (source_types or {}).items()
               if "." not in table and cols}
    source_keys = {table: sorted((c, t.sql("spark")) for c, t in cols.items())
                   for table, cols in sources.items()}
    # what a query may read, by lower-cased name: (its name, its column types when asked: a
    # model's are made from the cache's form only if a child is compiled)
    types: Tables = _readable(sources)
    structure: dict[str, str] = {}  # each model's structural hash (see the module docstring)
    unversioned: dict[str, bool] = {}  # whether it reads a source without a data version
    wanted = None if chosen >= project.models.keys() else set(chosen) | {
        a for m in chosen for a in project.dag.upstream(m) if a in project.models}
    order = project.order(wanted)

    def finish(name: str, entry: Entry, started: float,
               result_types: dict[str, exp.DataType] | None = None) -> None:
        model = project.models[name]
        select_sql, stored, notes, reads = entry
        shapes[name] = repr(sorted(stored.items()))
        data = {s: source_versions[s] for s in project.sources_read(name)
                if source_versions and s in source_versions}
        parents = project.build_parents(name)
        data.update({p: compiled[p].data_version for p in parents if compiled[p].data_version})
        config, generation = model.config.fingerprint_items(), (generations or {}).get(name, 0)
        fingerprint = _fingerprint(select_sql, config, generation, data)
        structure[name] = _fingerprint(_structural(select_sql, parents, compiled, structure),
                                       config, generation, {})
        unversioned[name] = (any(s not in (source_versions or {})
                                 for s in project.sources_read(name))
                             or any(unversioned[p] for p in parents))
        data_version = None
        if model.config.incremental is not None:
            data_version = None if unversioned[name] else fingerprint
            fingerprint = structure[name]
        physical = None if model.config.materialized == "ephemeral" else f"{name}__{fingerprint}"
        compiled[name] = CompiledModel(
            name=name, path=model.path, materialized=model.config.materialized,
            fingerprint=fingerprint, physical=physical, select_sql=select_sql,
            parents=parents, reads=reads, ddl=model.config.ddl,
            notes=notes, stored_columns=stored, compile_timing=(started, time.time()),
            compile_key=keys[name], incremental=model.config.incremental,
            data_version=data_version)
        if result_types is not None:
            compiled[name]._columns = result_types  # made just now: no need to read them back
        if physical is not None and stored:
            types[physical] = (physical, lambda m=compiled[name]: m.columns)

    def compile_here(name: str) -> tuple[Entry, dict[str, exp.DataType]]:
        select_sql, result_types, notes, reads = _compile_model(
            project, name, adapter, compiled, types, spark_query)
        return (select_sql, _stored(result_types), notes, reads), result_types

    ready = Ready(project.dag, order)
    workers: Workers | None = None
    local = False  # compile every miss here from now on (no workers, or one had a problem)
    try:
        while ready or (workers is not None and workers.running):
            while ready and not (local and workers is not None and workers.running):
                name = ready.pop()
                started = time.time()
                if on_model is not None:
                    on_model(project.models[name].path)
                key = keys[name] = _compile_key(project, name, adapter, compiled, keys, shapes,
                                                source_keys)
                entry = cache.get(key) if cache is not None else None
                if entry is not None:
                    finish(name, entry, started)
                    ready.done(name)
                    continue
                if workers is None and not local:  # the first miss: are there enough to share?
                    adapter.known_functions()  # asked here, once: a worker never asks the engine
                    workers = Workers.start(len(order) - len(compiled), functools.partial(
                        _compile_one, project, adapter, _readable(sources)))
                    local = workers is None
                if local:
                    entry, result_types = compile_here(name)
                    if cache is not None:
                        cache.put(key, entry)
                    finish(name, entry, started, result_types)
                    ready.done(name)
                else:
                    workers.submit(name, started, _needs(project, name, compiled))
            if workers is not None and workers.running:
                for name, started, entry in workers.wait():
                    if entry is None:  # a problem: it is compiled again here, in order
                        local = True
                        ready.again(name)
                        continue
                    if cache is not None:
                        cache.put(keys[name], entry)
                    finish(name, entry, started)
                    ready.done(name)
    finally:
        if workers is not None:
            workers.stop()
    return Plan(compiled, set(chosen))


Entry = tuple[str, dict[str, "str | exp.DataType"], list[Note], set[str]]  # a cache entry


def _readable(sources: dict[str, dict[str, exp.DataType]]) -> Tables:
    return {table.lower(): (table, lambda cols=cols: cols) for table, cols in sources.items()}


def _needs(project: Project, name: str, compiled: dict[str, CompiledModel]
           ) -> dict[str, CompiledModel]:
    """What a worker needs to compile ``name``: its compiled parents, and through ephemeral
    ones (inlined) their parents, without what it does not read."""
    needed: dict[str, CompiledModel] = {}
    stack = project.model_parents(name)
    while stack:
        parent = stack.pop()
        if parent not in needed:
            needed[parent] = dataclasses.replace(compiled[parent], statements=[], notes=[],
                                                 _columns=None, compile_timing=None)
            if needed[parent].physical is None:
                stack.extend(project.model_parents(parent))
    return needed


def _compile_one(project: Project, adapter: Adapter, sources: Tables, name: str,
                 parents: dict[str, CompiledModel]) -> Entry | None:
    """In a worker: the model's compile entry, or None if it has a problem (the parent
    compiles it again and raises it)."""
    types = dict(sources)
    for parent in parents.values():
        if parent.physical is not None and parent.stored_columns:
            types[parent.physical] = (parent.physical, lambda m=parent: m.columns)
    inlined: dict[str, exp.Query] = {}

    def spark_query(ephemeral: str) -> exp.Query:
        if ephemeral not in inlined:
            inlined[ephemeral] = _resolve_tables(project, ephemeral, parents, spark_query)[0]
        return inlined[ephemeral]

    try:
        select_sql, result_types, notes, reads = _compile_model(
            project, name, adapter, parents, types, spark_query)
        return select_sql, _stored(result_types), notes, reads
    except Exception:  # noqa: BLE001 - raised again, by the parent, where it belongs
        return None
    finally:
        project.queries.forget(name)


def _compile_key(project: Project, name: str, adapter: Adapter,
                 compiled: dict[str, CompiledModel], keys: dict[str, str],
                 shapes: dict[str, str], source_keys: dict[str, list[tuple[str, str]]]) -> str:
    """What the model's compiled SQL, result types and notes depend on: its parse key (text,
    macros, vars, runner, sqlglot), the engine, the approximate-aggregate policy, and each
    table it reads: a built parent's physical name and result types (so a parent edited only
    in layout or comments compiles to the same SQL and its children are not compiled again),
    an ephemeral parent's compile key (it is inlined as written), a source's identifier and
    column types."""
    reads = []
    for parent in project.dag.parents(name):
        if parent.startswith(SOURCE_PREFIX):
            ident = project.config.sources[parent[len(SOURCE_PREFIX):]].identifier
            reads.append((parent, ident, source_keys.get(ident)))
        elif compiled[parent].physical is None:  # inlined: what it says, as written
            reads.append((parent, keys[parent]))
        else:  # read by name: only its physical version and result types matter
            reads.append((parent, compiled[parent].physical, shapes[parent]))
    return Cache.key("compile", project.keys[name],
                     adapter.type, adapter.dialect, adapter.runs_translated_sql,
                     project.config.approximate, reads)


def _stored(types: dict[str, exp.DataType]) -> dict[str, str | exp.DataType]:
    """Result types for the cache: as Spark type names where the name reads back as the same
    type (cheap to load), as the type itself otherwise."""
    stored: dict[str, str | exp.DataType] = {}
    for column, dtype in types.items():
        text = dtype.sql("spark")
        stored[column] = text if spark_type(text) == dtype else dtype
    return stored


def _compile_model(project: Project, name: str, adapter: Adapter,
                   compiled: dict[str, CompiledModel], types: Tables,
                   spark_query: Callable[[str], exp.Query]
                   ) -> tuple[str, dict[str, exp.DataType], list[Note], set[str]]:
    """The model's target SQL, result types, notes and the relations it reads."""
    model = project.models[name]
    query, reads = _resolve_tables(project, name, compiled, spark_query)
    schema = {types[r][0]: types[r][1]() for r in sorted(reads) if r in types} or None
    notes: list[Note] = []
    try:
        translated = translate(query, adapter.dialect, schema,
                               approximate=project.config.approximate, notes=notes)
        _check_unique_columns(translated.query, translated.columns)
    except ProjectError as err:
        raise err.at(model.path) from None
    except RecursionError:
        raise too_deep(model.path) from None
    _check_functions(translated.query, adapter, model, project.macros)
    result_types = {column: dtype for column, dtype in translated.columns or ()
                    if column and dtype is not None and not dtype.is_type(T.UNKNOWN)}
    return translated.sql, result_types, notes, reads


def _check_unique_columns(query: exp.Query,
                          columns: list[tuple[str, exp.DataType | None]] | None) -> None:
    """Spark's CREATE TABLE refuses a result with two columns of one name, in any case
    (COLUMN_ALREADY_EXISTS); DuckDB would rename the second, so it is refused here."""
    seen: set[str] = set()
    for column, _ in columns or ():
        if column and column.lower() in seen:
            named = [s for s in query.selects if s.alias_or_name.lower() == column.lower()]
            stars = [s for s in query.selects if s.is_star]
            where = named[1] if len(named) > 1 else (stars or [query])[0]
            raise refuse(where, f"the result has two columns named `{column}` (Spark's CREATE "
                                "TABLE rejects it: COLUMN_ALREADY_EXISTS); alias one of them, or "
                                "list the columns instead of *")
        seen.add(column.lower())


def _resolve_tables(project: Project, name: str, compiled: dict[str, CompiledModel],
                    spark_query: Callable[[str], exp.Query]) -> tuple[exp.Query, set[str]]:
    """The model's query (taken from the project, see ``Queries.take``; an ephemeral one's a
    copy) reading physical relations, with the ephemeral models it reads inlined as CTEs; and
    the relations it reads (lower-cased)."""
    # an ephemeral model's query is inlined into each child; another is compiled once
    query = (project.queries[name].copy() if project.models[name].config.materialized ==
             "ephemeral" else project.queries.take(name))
    inline: list[str] = []
    reads: set[str] = set()
    # the loader marked each table reference with its position and DAG node (kept by copy())
    marked = sorted((t.meta[REFERENCE], t) for t in query.find_all(exp.Table) if REFERENCE in t.meta)
    for (_, ref), table in marked:
        if not ref.startswith(SOURCE_PREFIX):
            parent = compiled[ref]
            if parent.physical is None:
                if ref not in inline:
                    inline.append(ref)
                continue
            _replace(table, parent.physical)
            reads.add(parent.physical)
        else:
            source = project.config.sources[ref[len(SOURCE_PREFIX):]]
            if source.identifier != table.name or len(table.parts) > 1:
                _replace(table, source.identifier)
            reads.add(source.identifier.lower())
    if inline:
        ctes = [exp.CTE(this=_inlined(spark_query(ref)), alias=exp.TableAlias(
            this=exp.to_identifier(ref))) for ref in inline]
        existing = query.args.get("with_")
        if existing is not None:
            existing.set("expressions", [*ctes, *existing.expressions])
        else:
            query.set("with_", exp.With(expressions=ctes))
        reads.update(r for ref in inline for r in compiled[ref].reads)
    return query, reads


def _inlined(query: exp.Query) -> exp.Query:
    """A copy of an ephemeral model's query to inline, marked so its notes stay its own."""
    body = query.copy()
    body.meta[INLINED] = True
    return body


def _replace(table: exp.Table, relation: str) -> None:
    """Point ``table`` at ``relation``, keeping the name the query uses as its alias."""
    alias = table.args.get("alias")
    new = exp.to_table(relation)
    new.set("alias", alias.copy() if alias is not None else exp.TableAlias(
        this=exp.to_identifier(table.name)))
    for key in ("joins", "laterals", "pivots", "hints", "version", "when"):
        if table.args.get(key):
            new.set(key, table.args[key])
    table.replace(new)


def _check_functions(query: exp.Expression, adapter: Adapter, model: Model,
                     macros: Collection[str]) -> None:
    """ProjectError at the first call of a function the engine does not have (a typo, a
    misnamed macro, or a Spark function with no local translation); the suggestion looks at
    the project's macros before the engine's functions."""
    known = adapter.known_functions()
    if known is None:
        return
    for node in query.find_all(exp.Anonymous):
        name = node.name.lower()
        if name and name not in known:
            line, col = position(model.text, node)
            hint = did_you_mean(name, macros) or did_you_mean(name, known)
            raise ProjectError(
                f"function '{node.name}' does not exist on {adapter.type} (target "
                f"'{adapter.name}'){hint}; if it is a macro, define it "
                "in macros/, if it is a Spark function, it has no local translation yet",
                model.path, line, col)


def _structural(select_sql: str, parents: list[str], compiled: dict[str, CompiledModel],
                structure: dict[str, str]) -> str:
    """``select_sql`` with each parent's physical name (which hashes its data versions) replaced
    by the parent's structural hash."""
    names = {compiled[p].physical: f"{p}@{structure[p]}" for p in parents if compiled[p].physical}
    if not names:
        return select_sql
    return _PHYSICAL.sub(lambda m: names.get(m.group(0), m.group(0)), select_sql)


_PHYSICAL = re.compile(rf"\b\w+__[0-9a-f]{{{FINGERPRINT_LENGTH}}}\b")  # a model's version name


def _fingerprint(select_sql: str, config: dict, generation: int, data: dict[str, str]) -> str:
    payload: dict[str, object] = {"sql": select_sql, "config": config, "generation": generation}
    if data:  # absent when no version is known, so such fingerprints stay as they were
        payload["data"] = data
    text = json.dumps(payload, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:FINGERPRINT_LENGTH]
