"""The export step: the one place the run hands built datasets to ``destinations``."""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from destinations import BuiltDataset, ExportContext, ExportResult, ExportSpec, run_exports
from runner.compile.lineage import ProjectLineage
from runner.project.labels import SourceLabels
from runner.run.label_policy import judge, override_message, refusal_message
from runner.run.progress import Echo
from runner.run.results import ModelResult
from runner.run.session import Session, Workspace, workspace_lineage


def run_build_exports(session: Session, results: list[ModelResult], echo: Echo
                      ) -> list[ExportResult]:
    """Export the models this build produced or found up to date and whose error-severity
    data tests passed; one line per export."""
    datasets = {r.name: BuiltDataset(model=r.name, relation=r.physical or r.name,
                                     fingerprint=r.fingerprint or "", dataset_id=r.dataset_id)
                for r in results if r.tested}  # never one whose error test failed
    exported = _guarded(session.workspace, datasets, echo, session.lineage, session.labels,
                        session.source_labels)
    untested = {r.name for r in results if r.ok and not r.tested}
    for export in exported:
        if export.status != "skipped":
            echo(export_line(export))
        elif export.model in untested:
            echo(f"export {export.model} -> {export.destination}: skipped (an error-severity "
                 f"data test of {export.model} failed)")
    return exported


def export_current(workspace: Workspace, datasets: Mapping[str, BuiltDataset], echo: Echo, *,
                   dry_run: bool = False, delete: bool = False, force: bool = False
                   ) -> list[ExportResult]:
    """``runner export``: export the given current versions (the adapter is open)."""
    if delete:  # removing what an export made is never refused
        return run_exports(workspace.exports, dict(datasets), export_context(workspace, echo),
                           dry_run=dry_run, delete=delete, force=force)
    lineage, labels, given = workspace_lineage(workspace, platform=True)
    return _guarded(workspace, datasets, echo, lineage, labels, given, dry_run=dry_run,
                    force=force)


def _guarded(workspace: Workspace, datasets: Mapping[str, BuiltDataset], echo: Echo,
             lineage: ProjectLineage | None, labels: dict[str, dict[str, frozenset[str]]],
             source_labels: SourceLabels, **kw: bool) -> list[ExportResult]:
    """``run_exports`` of the exports the label policy allows; each refused one an error
    result in its place (nothing of it runs), each override printed and recorded."""
    refused: dict[int, ExportResult] = {}
    records: dict[int, dict] = {}
    allowed: list[ExportSpec] = []
    for index, spec in enumerate(workspace.exports):
        applies = ((spec.targets is None or workspace.target in spec.targets)
                   and spec.model in datasets)
        verdict = judge(spec, labels, lineage, source_labels) if applies and lineage else None
        if verdict is not None and verdict.refused:
            refused[index] = ExportResult(spec.model, spec.name, "error",
                                          refusal_message(spec, verdict), labels=verdict.record())
            continue
        if verdict is not None and verdict.allowed:
            echo(override_message(spec, verdict))
            records[index] = verdict.record()
        allowed.append(spec)
    ran = iter(run_exports(allowed, dict(datasets), export_context(workspace, echo), **kw))
    results = []
    for index in range(len(workspace.exports)):
        if index in refused:
            results.append(refused[index])
            continue
        outcome = next(ran)
        if index in records:
            outcome.labels = records[index]
        results.append(outcome)
    return results


def export_context(workspace: Workspace, echo: Echo) -> ExportContext:
    """The ``destinations.ExportContext`` of a workspace (its adapter open)."""
    adapter = workspace.adapter
    return ExportContext(adapter=adapter, target_name=workspace.target,
                         target_type=adapter.type, project_root=workspace.project.root,
                         state_dir=workspace.paths.dir, platform=adapter.platform, echo=echo,
                         project_name=workspace.project.config.name,
                         variant=vars_variant(workspace.project.config.vars,
                                              workspace.project.vars))


_SAFE = re.compile(r"[A-Za-z0-9_.,=+-]{1,64}")


def vars_variant(defaults: Mapping[str, Any], effective: Mapping[str, Any]) -> str:
    """The vars that differ from project.yml's, as a name for a folder and a flow: '' when
    none does, ``k=v,...`` when that is short and plain, else ``vars-<hash>`` of them.

    >>> vars_variant({"as_of_date": "2026-04-30"}, {"as_of_date": "2026-05-01"})
    'as_of_date=2026-05-01'
    """
    changed = {k: v for k, v in sorted(effective.items())
               if k not in defaults or defaults[k] != v}
    if not changed:
        return ""
    label = ",".join(f"{k}={_text(v)}" for k, v in changed.items())
    if _SAFE.fullmatch(label):
        return label
    digest = hashlib.sha256(json.dumps(changed, sort_keys=True, default=str).encode())
    return f"vars-{digest.hexdigest()[:10]}"


def _text(value: Any) -> str:
    if isinstance(value, (datetime.date, str)):
        return str(value)
    return json.dumps(value, sort_keys=True, default=str)


def export_line(export: ExportResult) -> str:
    """One line per export result, the same in ``runner build`` and ``runner export``."""
    detail = f": {export.message}" if export.message else ""
    return f"export {export.model} -> {export.destination}: {export.status}{detail}"
