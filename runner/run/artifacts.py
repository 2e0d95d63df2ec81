"""What a run leaves in ``target/`` (paths in ``runner.run.paths``), written atomically.

- ``manifest.json``: models, sources, edges, fingerprints and physical names.
- ``run_results.json``: per model status, timing, rows, physical table, error; exports.
- ``compiled/<target>/<model path>``: the exact statements each model runs.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from runner.graph.dag import SOURCE_PREFIX
from runner.run.atomic import write_json, write_text
from runner.run.options import BuildOptions
from runner.run.results import BuildResult
from runner.run.session import Session
from runner.version import __version__


def write_compiled(session: Session) -> list[Path]:
    """Write each chosen model's exact statements to ``target/compiled/<target>/<model path>``
    (the ancestors compiled only for their physical names are not written)."""
    written = []
    for model in session.plan:
        if model.name not in session.plan.chosen:
            continue
        body = ";\n\n".join(model.statements) if model.statements else (
            f"-- ephemeral: inlined as a CTE into its consumers\n{model.select_sql}")
        path = session.paths.compiled / model.path
        write_text(path, body + ";\n" if model.statements else body + "\n")
        written.append(path)
    return written


def write_run_artifacts(session: Session, result: BuildResult, seconds: float,
                        options: BuildOptions) -> None:
    """``manifest.json`` and ``run_results.json`` of a build."""
    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    metadata = {"generated_at": now, "runner_version": __version__,
                "project": session.project.config.name, "target": session.target,
                "target_type": session.adapter.type}
    write_json(session.paths.manifest, manifest(session, metadata))
    write_json(session.paths.run_results, {
        "metadata": metadata, "elapsed_time": round(seconds, 3),
        "args": {"select": options.select, "exclude": options.exclude,
                 "full_refresh": options.full_refresh, "threads": options.threads},
        "results": [r.to_dict() for r in result.results],
        "exports": [e.to_dict() for e in result.exports],
        "dropped": result.dropped,
    })


def manifest(session: Session, metadata: dict[str, Any]) -> dict[str, Any]:
    """The manifest: models, sources, edges, fingerprints and physical names."""
    project, plan = session.project, session.plan
    models = {}
    for name in project.order():
        model, compiled = project.models[name], plan.get(name)
        parents = project.dag.parents(name)
        state = session.state.models.get(name)
        models[name] = {
            "path": model.path, "materialized": model.config.materialized,
            "tags": list(model.config.tags), "description": model.config.description,
            "columns": model.config.columns,
            "depends_on": {"models": [p for p in parents if not p.startswith(SOURCE_PREFIX)],
                           "sources": [p[len(SOURCE_PREFIX):] for p in parents
                                       if p.startswith(SOURCE_PREFIX)]},
            "fingerprint": compiled.fingerprint if compiled else None,
            "physical": compiled.physical if compiled else None,
            "current": state.current if state else None,
            "dataset_id": state.dataset_id if state else None,
            "compiled_path": f"target/compiled/{session.target}/{model.path}",
            "notes": [note.to_dict() for note in compiled.notes] if compiled else [],
        }
    sources = {name: {"identifier": s.identifier, "description": s.description,
                      "columns": s.columns} for name, s in project.config.sources.items()}
    return {"metadata": metadata, "models": models, "sources": sources,
            "edges": [list(e) for e in project.dag.edges()]}
