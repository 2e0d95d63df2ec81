"""Run every declared export that applies to the target just built.

:func:`run_exports` is the one entry point of the build: for each export it picks the
destination (local files, or a Flow Service flow on a Data Distiller target), and runs, plans
(``dry_run``) or deletes it. A failed export becomes a result with status ``error``; an export
that does not apply (another target, a model not built in this run, Flow Service on a local
engine) becomes ``skipped`` with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping

from destinations.base import BuiltDataset, ExportContext, ExportResult, result
from destinations.config import ExportSpec
from destinations.flow_service import FlowExport
from destinations.local import run_local
from destinations.state import ExportState
from runner.errors import RunnerError
from runner.platform.secrets import mask


def run_exports(specs: list[ExportSpec], datasets: Mapping[str, BuiltDataset],
                ctx: ExportContext, *, dry_run: bool = False, delete: bool = False,
                force: bool = False) -> list[ExportResult]:
    """Run (or plan, or delete) every export of ``specs`` that applies to ``ctx``'s target.

    Args:
        specs: the validated ``exports:`` of project.yml.
        datasets: the built models by name.
        ctx: the target, its open adapter and Platform client, the state folder, the echo sink.
        dry_run: return each export's plan of calls without making them.
        delete: remove what the exports created (flows and connections, local files).
        force: export a version again even when it is up to date (a new ``exportTime=``
            folder locally, a new ad hoc run of the existing flow on Flow Service).

    Returns:
        One ExportResult per spec, in order. A Flow Service export needs a target on
        Platform (``ctx.platform``, the adapter's Platform client); elsewhere it is skipped.
    """
    state = ExportState(ctx.state_dir)
    results = []
    for spec in specs:
        reason = _skip_reason(spec, datasets, ctx)
        if reason:
            results.append(result(spec, "skipped", reason))
            continue
        dataset = datasets[spec.model]
        if spec.is_local:
            results.append(run_local(spec, dataset, ctx, state, dry_run=dry_run, delete=delete,
                                     force=force))
            continue
        export = FlowExport(spec, dataset, ctx, state)
        try:
            outcome = (export.delete(dry_run) if delete else
                       export.plan(force) if dry_run else export.run(force))
        except RunnerError as exc:  # the state file itself, say
            outcome = result(spec, "error", str(exc))
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            outcome = result(spec, "error", mask(
                f"unexpected Flow Service response while exporting {spec.model}: "
                f"{type(exc).__name__}: {exc}", *export.secrets))
        results.append(outcome)
    return results


def _skip_reason(spec: ExportSpec, datasets: Mapping[str, BuiltDataset],
                 ctx: ExportContext) -> str | None:
    if spec.targets is not None and ctx.target_name not in spec.targets:
        return f"declared for target(s) {', '.join(spec.targets)}, not '{ctx.target_name}'"
    if spec.model not in datasets:
        return f"model {spec.model} was not built in this run"
    if not spec.is_local and ctx.platform is None:  # the target is not on Platform
        return (f"a {spec.type} export needs a data_distiller target; '{ctx.target_name}' is "
                f"{ctx.target_type} (use `type: local` to export locally)")
    return None
