"""Compile models into the exact statements a target runs, and fingerprint them.

For each model, in dependency order: every table reference is replaced by the physical relation
it reads (an upstream model's current version ``<model>__<fingerprint>``, or a source's
identifier), ephemeral parents are inlined as CTEs, the query is rewritten for the target's
engine by ``runner.dialect`` (Spark semantics kept, or the construct refused here, before
anything runs), and the DDL is rendered by the target's adapter.

A model's fingerprint hashes its rendered SQL (which names its parents' physical versions, so a
change upstream changes every descendant's fingerprint), the parts of its config that change the
table, and a generation number that ``--full-refresh`` increments.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from sqlglot import exp

from runner.adapters.base import Adapter
from runner.artifacts import TargetState
from runner.config import did_you_mean
from runner.errors import ProjectError
from runner.parsing import reference_name, table_references
from runner.project import Project

FINGERPRINT_LENGTH = 10


@dataclass
class CompiledModel:
    """A model ready to run on one target.

    Attributes:
        name, path, materialized: from the model.
        fingerprint: see the module docstring.
        physical: the relation the model is built into (None for ephemeral models).
        select: the target-ready query (project table names replaced).
        select_sql: ``select`` rendered in the target's dialect.
        statements: the DDL, in order: create the physical relation, then move the pointer.
        parents: the materialized models it reads (through inlined ephemeral ones).
    """

    name: str
    path: str
    materialized: str
    fingerprint: str
    physical: str | None
    select: exp.Query
    select_sql: str
    statements: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)


def compile_project(project: Project, adapter: Adapter, state: TargetState,
                    source_types: dict[str, dict[str, exp.DataType]] | None = None,
                    models: set[str] | None = None,
                    source_versions: dict[str, str] | None = None) -> dict[str, CompiledModel]:
    """Compile ``models`` (default: all) and their ancestors for ``adapter``'s engine: the
    ancestors too, because fingerprints cascade (a model's physical name depends on its parents').

    Args:
        models: the models wanted; a model outside them and their ancestors is not compiled, so
            a problem in an unrelated model does not block a selective build.
        source_versions: a version of each source's data where one is known; a model reading a
            source (directly or through ephemeral parents) fingerprints its version, so new
            data rebuilds it and, through the physical names, everything downstream.
        source_types: column types of the sources' tables by identifier; with them (and the
            types each model's result gets, passed on to its children) the dialect layer picks
            the rule that gives Spark's exact value and type.

    Raises:
        ProjectError: a construct that cannot be run faithfully on the target (file:line).
    """
    from runner.dialect import output_schema, to_target

    compiled: dict[str, CompiledModel] = {}
    spark_queries: dict[str, exp.Query] = {}  # resolved, in the project dialect (for inlining)
    types: dict[str, dict[str, exp.DataType]] = {
        table: cols for table, cols in (source_types or {}).items() if "." not in table and cols}
    wanted = None
    if models is not None:
        wanted = set(models) | {a for m in models for a in project.dag.upstream(m)
                                if a in project.models}
    for name in project.order(wanted):
        model = project.models[name]
        query = _resolve_tables(project, name, compiled, spark_queries)
        spark_queries[name] = query
        read = {reference_name(t) for t in table_references(query)}
        schema = {table: cols for table, cols in types.items() if table.lower() in read} or None
        try:
            target_query = to_target(query, adapter.dialect, schema)
            result_types = (output_schema(query, schema) if adapter.dialect != "spark" else {})
        except ProjectError as err:
            raise err.at(model.path) from None
        _check_functions(target_query, adapter, model.path)
        select_sql = target_query.sql(dialect=adapter.dialect)
        generation = state.get(name).generation
        data = {s: source_versions[s] for s in project.sources_read(name)
                if source_versions and s in source_versions}
        fingerprint = _fingerprint(select_sql, model.config.fingerprint_items(), generation, data)
        physical = None
        statements: list[str] = []
        if model.config.materialized != "ephemeral":
            physical = f"{name}__{fingerprint}"
            if model.config.materialized == "view":
                statements.append(adapter.create_view_sql(physical, target_query))
            else:
                statements.append(adapter.create_table_sql(physical, target_query,
                                                           model.config.ddl))
            statements.append(adapter.pointer_sql(name, physical))
        if physical is not None and result_types:
            types[physical] = result_types
        compiled[name] = CompiledModel(
            name=name, path=model.path, materialized=model.config.materialized,
            fingerprint=fingerprint, physical=physical, select=target_query,
            select_sql=select_sql, statements=statements, parents=project.build_parents(name))
    return compiled


def _resolve_tables(project: Project, name: str, compiled: dict[str, CompiledModel],
                    spark_queries: dict[str, exp.Query]) -> exp.Query:
    query = project.queries[name].copy()
    inline: list[str] = []
    for table in table_references(query):
        ref = reference_name(table)
        if ref in project.models:
            parent = compiled[ref]
            if parent.physical is None:
                if ref not in inline:
                    inline.append(ref)
                continue
            _replace(table, parent.physical)
        else:
            source = project.config.sources[ref]
            if source.identifier != table.name or len(table.parts) > 1:
                _replace(table, source.identifier)
    if inline:
        ctes = [exp.CTE(this=spark_queries[ref].copy(), alias=exp.TableAlias(
            this=exp.to_identifier(ref))) for ref in inline]
        existing = query.args.get("with_")
        if existing is not None:
            existing.set("expressions", [*ctes, *existing.expressions])
        else:
            query.set("with_", exp.With(expressions=ctes))
    return query


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


def _check_functions(query: exp.Expression, adapter: Adapter, path: str) -> None:
    """ProjectError at the first call of a function the engine does not have (a typo, a
    misnamed macro, or a Spark function with no local translation)."""
    known = adapter.known_functions()
    if known is None:
        return
    for node in query.find_all(exp.Anonymous):
        name = node.name.lower()
        if name and name not in known:
            line, col = node.meta.get("line"), node.meta.get("col")
            raise ProjectError(
                f"function '{node.name}' does not exist on {adapter.type} (target "
                f"'{adapter.name}'){did_you_mean(name, known)}; if it is a macro, define it "
                "in macros/, if it is a Spark function, it has no local translation yet",
                path, line, col)


def _fingerprint(select_sql: str, config: dict, generation: int, data: dict[str, str]) -> str:
    payload: dict[str, object] = {"sql": select_sql, "config": config, "generation": generation}
    if data:  # absent when no version is known, so such fingerprints stay as they were
        payload["data"] = data
    text = json.dumps(payload, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:FINGERPRINT_LENGTH]
