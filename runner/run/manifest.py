"""``target/manifest.json`` in dbt's shape (manifest v12), so tools that read dbt artifacts
(orchestrators, catalogs, lineage) read ours.

Each model is a node ``model.<project>.<name>``, each source ``source.<project>.sources.<name>``
(project.yml's ``sources:`` block is one group), each export an exposure of type ``ml``
``exposure.<project>.<model>_<name>``; ``parent_map`` and ``child_map`` hold the DAG. dbt's
schema allows no key of its own at the top level, so what only the runner knows is under each
node's ``meta.runner`` (the extension key)::

    nodes["model.demo.m"]["meta"]["runner"]
    {"target": "local", "physical": "m__1a2b3c4d5e", "fingerprint": "1a2b3c4d5e",
     "current": "m__1a2b3c4d5e", "dataset_id": null, "notes": [],
     "inputs": {"fingerprint": "1a2b3c4d5e", "sql": ..., "config": ..., "generation": 0,
                "data": {...}, "parents": {...}}}
    sources["source.demo.sources.raw"]["meta"]["runner"]
    {"target": "local", "data_version": "file [...]"}

``lineage`` maps each result column to the sources' columns it derives from (``value``: what its
value is computed from; ``via``: join keys, filters, groupings; ``runner.compile.lineage``) and
``labels`` each labelled column to its data usage labels (the union over its lineage).
``inputs`` are the fingerprint's components (``runner.run.changes``; null for a model this
command did not compile, as its ``fingerprint`` is); an incremental model adds ``incremental``
(``time_column``, ``lookback`` in seconds, ``unique_key``). A source's column types, as the engine
gave them, are its columns' ``data_type`` (in the target's dialect); a model's are the Spark
types of its result. ``runner.run.recorded`` reads the source facts back for an offline
``runner compile``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sqlglot import exp

from destinations import ExportSpec
from runner.graph.dag import SOURCE_PREFIX
from runner.run.changes import inputs_of
from runner.run.recorded import EXTENSION
from runner.run.session import Session

MANIFEST_SCHEMA = "https://schemas.getdbt.com/dbt/manifest/v12.json"
SOURCE_GROUP = "sources"
_EMPTY = ("macros", "docs", "metrics", "groups", "selectors", "disabled", "group_map",
          "saved_queries", "semantic_models", "unit_tests")


def model_id(project: str, name: str) -> str:
    return f"model.{project}.{name}"


def test_id(project: str, name: str) -> str:
    """The unique id of data test ``name`` (``runner.compile.data_tests.data_test_name``)."""
    return f"test.{project}.{name}"


def source_id(project: str, name: str) -> str:
    return f"source.{project}.{SOURCE_GROUP}.{name}"


def export_id(project: str, model: str, name: str) -> str:
    """The exposure of export ``name`` of ``model``."""
    return f"exposure.{project}.{model}_{name}"


def node_id(project: str, dag_node: str) -> str:
    """The unique id of a DAG node (a model, or ``source:<name>``)."""
    if dag_node.startswith(SOURCE_PREFIX):
        return source_id(project, dag_node[len(SOURCE_PREFIX):])
    return model_id(project, dag_node)


def manifest(session: Session, metadata: dict[str, Any]) -> dict[str, Any]:
    """The manifest of ``session``'s project on its target (``metadata`` already made)."""
    name = session.project.config.name
    generations = session.state.generations()
    nodes = {model_id(name, m): _model_node(session, m, generations)
             for m in session.project.order()}
    sources = {source_id(name, s): _source_node(session, s)
               for s in session.project.config.sources}
    exposures = {export_id(name, spec.model, spec.name): _exposure(session, spec)
                 for spec in session.workspace.exports}
    parents: dict[str, list[str]] = {uid: [] for uid in sources}
    parents.update({uid: node["depends_on"]["nodes"] for uid, node in nodes.items()})
    parents.update({uid: node["depends_on"]["nodes"] for uid, node in exposures.items()})
    children: dict[str, list[str]] = {uid: [] for uid in parents}
    for child, ups in parents.items():
        for parent in ups:
            children[parent].append(child)
    return {"metadata": metadata, "nodes": nodes, "sources": sources, "exposures": exposures,
            "parent_map": parents, "child_map": {k: sorted(v) for k, v in children.items()},
            **{key: {} for key in _EMPTY}}


def _model_node(session: Session, name: str, generations: dict[str, int]) -> dict[str, Any]:
    project, target = session.project, session.target
    package = project.config.name
    model, compiled = project.models[name], session.plan.get(name)
    state = session.state.models.get(name)
    path = Path(model.path)
    relative = path.relative_to("models") if path.parts[0] == "models" else path
    config = model.config
    types = compiled.type_names if compiled else {}
    columns = {c: _column(c, config.columns.get(c, ""), types.get(c), "spark")
               for c in [*config.columns, *(t for t in types if t not in config.columns)]}
    built = config.materialized != "ephemeral"
    return {
        "database": None, "schema": "", "name": name, "resource_type": "model",
        "package_name": package, "path": relative.as_posix(),
        "original_file_path": model.path, "unique_id": model_id(package, name),
        "fqn": [package, *relative.parent.parts, name], "alias": name,
        "checksum": {"name": "sha256", "checksum": hashlib.sha256(model.text.encode())
                     .hexdigest()},
        "config": {"enabled": True, "materialized": config.materialized,
                   "tags": list(config.tags), "meta": {}},
        "tags": list(config.tags), "description": config.description, "columns": columns,
        "meta": {EXTENSION: {
            "target": target,
            "physical": compiled.physical if compiled else None,
            "fingerprint": compiled.fingerprint if compiled else None,
            "current": state.current if state else None,
            "dataset_id": state.dataset_id if state else None,
            "notes": [note.to_dict() for note in compiled.notes] if compiled else [],
            **({"incremental": {"time_column": config.incremental.time_column,
                                "lookback": config.incremental.lookback,
                                "unique_key": list(config.incremental.unique_key)}}
               if config.incremental else {}),
            "inputs": inputs_of(project, session.plan, name, generations,
                                session.source_versions).to_dict() if compiled else None,
            **lineage_meta(session, name)}},
        "relation_name": name if built else None, "raw_code": model.text, "language": "sql",
        "refs": [{"name": p} for p in project.dag.parents(name)
                 if not p.startswith(SOURCE_PREFIX)],
        "sources": [[SOURCE_GROUP, p[len(SOURCE_PREFIX):]] for p in project.dag.parents(name)
                    if p.startswith(SOURCE_PREFIX)],
        "depends_on": {"macros": [], "nodes": [node_id(package, p)
                                               for p in project.dag.parents(name)]},
        "compiled_path": f"target/compiled/{target}/{model.path}" if compiled else None,
        "compiled": compiled is not None,
        "compiled_code": compiled.select_sql if compiled else None,
    }


def lineage_meta(session: Session, name: str) -> dict[str, Any]:
    """The model's ``lineage`` and ``labels`` entries of ``meta.runner``."""
    lineage = session.lineage
    if lineage is None or name not in lineage.models:
        return {}
    labels = session.labels.get(name) or {}
    return {"lineage": {c: lineage.trace(name, c).to_dict() for c in lineage.columns(name)},
            "labels": {c: sorted(v) for c, v in labels.items()}}


def _source_node(session: Session, name: str) -> dict[str, Any]:
    source = session.project.config.sources[name]
    package = session.project.config.name
    types = session.source_types.get(source.identifier, {})
    dialect = session.adapter.dialect
    columns = {c: _column(c, source.columns.get(c, ""), types.get(c), dialect)
               for c in [*source.columns, *(t for t in types if t not in source.columns)]}
    runner: dict[str, Any] = {"target": session.target}
    if name in session.source_versions:
        runner["data_version"] = session.source_versions[name]
    return {
        "database": None, "schema": "", "name": name, "resource_type": "source",
        "package_name": package, "path": "project.yml", "original_file_path": "project.yml",
        "unique_id": source_id(package, name), "fqn": [package, SOURCE_GROUP, name],
        "source_name": SOURCE_GROUP, "source_description": "",
        "loader": "synthetic" if source.synthetic else "file" if source.path else "",
        "identifier": source.identifier, "description": source.description,
        "columns": columns, "meta": {EXTENSION: runner}, "relation_name": source.identifier,
    }


def _exposure(session: Session, spec: ExportSpec) -> dict[str, Any]:
    package = session.project.config.name
    return {
        "name": f"{spec.model}_{spec.name}", "resource_type": "exposure",
        "package_name": package, "path": "project.yml", "original_file_path": "project.yml",
        "unique_id": export_id(package, spec.model, spec.name), "fqn": [package, f"{spec.model}_{spec.name}"],
        "type": "ml", "owner": {}, "description": f"export of {spec.model} to {spec.type}",
        "meta": {EXTENSION: {"model": spec.model, "destination": spec.name, "type": spec.type,
                             "format": spec.format, "compression": spec.compression}},
        "depends_on": {"macros": [], "nodes": [model_id(package, spec.model)]},
        "refs": [{"name": spec.model}],
    }


def _column(name: str, description: str, data_type: exp.DataType | str | None,
            dialect: str) -> dict[str, Any]:
    """A manifest column; ``data_type`` a type, or its name in ``dialect`` already."""
    if isinstance(data_type, exp.DataType):
        data_type = data_type.sql(dialect=dialect)
    return {"name": name, "description": description, "meta": {}, "tags": [],
            "data_type": data_type}
