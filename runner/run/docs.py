"""``runner docs``: a self-contained static site of the project, made by compiling it.

The site is ``index.html`` (the project's data embedded as JSON, so it opens from ``file://``)
next to the page's own script and style sheet, copied from ``runner/run/docs_site/``: nothing
is fetched from a network. It shows every model (description, tags, materialization, SQL as
written and as compiled for the target, columns with descriptions and types, data tests, the
last run's result, each column's lineage back to source columns and its data usage labels,
as the manifest records them), the sources, the exports and an interactive DAG laid out here
(``runner.graph.layout``). Nothing is built: the project is compiled as ``runner compile``
compiles it, and column types are read from the built relations only where the target is
connected anyway (DuckDB, PostgreSQL); elsewhere they are the compiler's Spark types or
unknown.

    >>> write_site(Path("."), BuildOptions())          # doctest: +SKIP
    PosixPath('target/docs/index.html')
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from runner.errors import RunnerError
from runner.graph.dag import SOURCE_PREFIX
from runner.graph.layout import layout
from runner.run.atomic import write_text
from runner.run.manifest import export_id, lineage_meta, model_id, test_id
from runner.run.options import BuildOptions
from runner.run.progress import Echo
from runner.run.session import Session, compile_session, open_workspace

ASSETS = Path(__file__).with_name("docs_site")
PAGE = "index.html"
DATA_MARK = "/*RUNNER_DOCS_DATA*/"


def write_site(root: Path, options: BuildOptions, out: Path | None = None,
               echo: Echo = print) -> Path:
    """Compile the project in ``root`` and write its site into ``out`` (default
    ``target/docs``); returns the page's path.

    Raises:
        ProjectError: the project does not load or compile.
    """
    workspace = open_workspace(root, options, echo)
    offline = workspace.compiles_offline
    session = compile_session(workspace, BuildOptions(target=options.target, vars=options.vars),
                              echo, offline=offline)
    try:
        data = site_data(session, connected=not offline)
    finally:
        session.adapter.close()
    folder = out if out is not None else session.paths.dir / "docs"
    return render(data, folder)


def render(data: dict[str, Any], folder: Path) -> Path:
    """Write ``data`` as the site into ``folder``; returns the page's path."""
    folder.mkdir(parents=True, exist_ok=True)
    for asset in sorted(ASSETS.iterdir()):
        if asset.is_file() and asset.name != PAGE:
            shutil.copyfile(asset, folder / asset.name)
    page = (ASSETS / PAGE).read_text(encoding="utf-8")
    # "</" could close the <script> element the JSON sits in
    embedded = json.dumps(data, sort_keys=True, separators=(",", ":")).replace("</", "<\\/")
    write_text(folder / PAGE, page.replace(DATA_MARK, embedded))
    return folder / PAGE


def site_data(session: Session, connected: bool) -> dict[str, Any]:
    """What the page shows, as plain JSON-ready data (``connected``: the adapter is open, so
    built models' column types can be read)."""
    project = session.project
    name = project.config.name
    results = _run_results(session.paths.run_results)
    models = {m: _model(session, m, lineage_meta(session, m), results, connected)
              for m in project.order()}
    box = layout(project.dag)
    nodes = [{"id": node, "kind": "source" if node.startswith(SOURCE_PREFIX) else "model",
              "name": node.removeprefix(SOURCE_PREFIX),
              "x": round(box.positions[node][0], 1), "y": round(box.positions[node][1], 1),
              "layer": box.layers[node]} for node in project.dag.order()]
    return {
        "project": name, "target": session.target, "adapter": session.adapter.type,
        "models": models,
        "sources": {s: _source(session, s) for s in sorted(project.config.sources)},
        "exports": [_export(spec, results.get(export_id(name, spec.model, spec.name)))
                    for spec in session.workspace.exports],
        "graph": {"nodes": nodes, "edges": [list(e) for e in project.dag.edges()],
                  "width": box.width, "height": box.height,
                  "node_width": box.node_width, "node_height": box.node_height},
        "run": results.get("", {}),
    }


def _model(session: Session, name: str, extension: dict[str, Any],
           results: dict[str, dict[str, Any]], connected: bool) -> dict[str, Any]:
    project = session.project
    package = project.config.name
    model, compiled = project.models[name], session.plan.get(name)
    config = model.config
    built = _built_types(session, name) if connected else {}
    spark = compiled.type_names if compiled else {}
    names = [*(built or spark), *config.columns]  # the result's order; declared-only after
    labels, lineage = extension.get("labels") or {}, extension.get("lineage") or {}
    columns = [{"name": c, "description": config.columns.get(c, ""),
                "type": built.get(c) or spark.get(c),
                "type_from": "built" if c in built else "compiled" if c in spark else None,
                "labels": list(labels.get(c, [])), "lineage": lineage.get(c)}
               for c in dict.fromkeys(names)]
    return {
        "name": name, "path": model.path, "description": config.description,
        "tags": list(config.tags), "materialized": config.materialized,
        "sql": model.text,
        "compiled": compiled.select_sql if compiled else None,
        # as they run (no re-layout: sqlglot's pretty printing costs ~0.1 s a model, minutes
        # at 1,000); the compiled query inside them is a NUL the page puts back (half the size)
        "statements": [s.replace(compiled.select_sql, "\0") if compiled.select_sql else s
                       for s in compiled.statements] if compiled else [],
        "physical": compiled.physical if compiled else None,
        "current": session.state.get(name).current,
        "notes": compiled.note_lines() if compiled else [],
        "columns": columns,
        "tests": [{"name": t.name, "kind": t.kind, "column": t.column, "severity": t.severity,
                   "declared_at": f"{t.path}:{t.line}", "sql": t.sql,
                   "last_run": results.get(test_id(package, t.name))}
                  for t in session.plan.tests.get(name, [])],
        "parents": project.dag.parents(name),
        "children": project.dag.children(name),
        "last_run": results.get(model_id(package, name)),
    }


def _built_types(session: Session, name: str) -> dict[str, str]:
    """A built model's column types, read from its relation (in the target's dialect)."""
    if not session.state.get(name).current:
        return {}
    adapter = session.adapter
    try:
        types = adapter.column_types(name)
    except RunnerError:  # not there after all (dropped by hand): the types stay unknown
        return {}
    return {c: t.sql(dialect=adapter.dialect) for c, t in types.items()}


def _source(session: Session, name: str) -> dict[str, Any]:
    source = session.project.config.sources[name]
    types = session.source_types.get(source.identifier, {})
    dialect = session.adapter.dialect
    columns = [{"name": c, "description": source.columns.get(c, ""),
                "type": types[c].sql(dialect=dialect) if c in types else None}
               for c in dict.fromkeys([*source.columns, *types])]
    return {"name": name, "identifier": source.identifier, "description": source.description,
            "loader": "synthetic" if source.synthetic else "file" if source.path else "",
            "path": source.path, "columns": columns,
            "data_version": session.source_versions.get(name),
            "children": session.project.dag.children(SOURCE_PREFIX + name)}


def _export(spec: Any, result: dict[str, Any] | None) -> dict[str, Any]:
    return {"model": spec.model, "name": spec.name, "type": spec.type, "format": spec.format,
            "compression": spec.compression, "params": dict(spec.params),
            "schedule": str(spec.schedule) if spec.schedule else None,
            "targets": list(spec.targets) if spec.targets else None, "last_run": result}


def _run_results(path: Path) -> dict[str, dict[str, Any]]:
    """The last run's result of each node by unique id, and its summary under ``""``."""
    run = _read_json(path)
    if not isinstance(run, dict):
        return {}
    found: dict[str, dict[str, Any]] = {}
    for entry in run.get("results", []):
        response = entry.get("adapter_response") or {}
        found[entry["unique_id"]] = {
            "status": entry.get("status"), "seconds": entry.get("execution_time"),
            "rows": response.get("rows_affected"), "message": entry.get("message"),
            "timing": {t["name"]: [t["started_at"], t["completed_at"]]
                       for t in entry.get("timing", [])}}
    args = run.get("args") or {}
    found[""] = {"generated_at": (run.get("metadata") or {}).get("generated_at"),
                 "elapsed": run.get("elapsed_time"), "which": args.get("which"),
                 "target": args.get("target")}
    return found


def _read_json(path: Path) -> Any:
    """A JSON artifact, or None when it is missing or unreadable (the site goes without)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
