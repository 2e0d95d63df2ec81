"""What a run leaves in ``target/`` (paths in ``runner.run.paths``), written atomically.

- ``manifest.json``: dbt's manifest v12 (``runner.run.manifest``).
- ``run_results.json``: dbt's run results v6: per model its status (``success``, ``no-op``,
  ``error``, ``skipped``), ``timing`` (compile, execute), ``thread_id``, ``execution_time``,
  ``relation_name`` (the physical table), ``compiled_code`` and ``adapter_response``
  (``rows_affected``, and where the engine has them ``query_id`` and ``dataset_id``; the versions
  the build dropped as ``dropped_versions``; for an incremental model ``incremental``: ``full``,
  ``watermark_before``, ``watermark_after``, ``rows_inserted``); after each model its data
  tests (``test.<project>.<name>``: ``status`` pass, fail, warn, error or skipped,
  ``failures``, ``compiled_code``; ``adapter_response`` names the model, column, severity,
  where it is declared and holds the sample of failing rows); per export a result of its exposure whose
  ``adapter_response`` holds the flow, run, records, bytes, files and landing path.
- ``compiled/<target>/<model path>``: the exact statements each chosen model runs, and
  ``compiled/<target>/tests/<test>.sql`` the query of each of their data tests.
"""

from __future__ import annotations

import datetime
import hashlib
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.run.atomic import write_json, write_text
from runner.run.data_tests import json_sample
from runner.run.manifest import MANIFEST_SCHEMA, export_id, manifest, model_id, test_id
from runner.run.options import BuildOptions
from runner.run.results import BuildResult, ModelResult, TestResult
from runner.run.session import Session
from runner.version import __version__

if TYPE_CHECKING:
    from destinations import ExportResult

RUN_RESULTS_SCHEMA = "https://schemas.getdbt.com/dbt/run-results/v6.json"
_STATUS = {"success": "success", "noop": "no-op", "error": "error", "skipped": "skipped"}


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
        text = body + ";\n" if model.statements else body + "\n"
        if _text_of(path) != text:  # a file that already says it is left as it is
            write_text(path, text)
        written.append(path)
    for tests in session.plan.tests.values():
        for test in tests:
            path = session.paths.compiled / "tests" / f"{test.name}.sql"
            what = ("the query audited on a scratch DuckDB" if test.kind == "no_leakage"
                    else "the failing rows")
            text = f"-- {test.kind} test of {test.model} ({test.path}:{test.line}): {what}" \
                   f"\n{test.sql};\n"
            if _text_of(path) != text:
                write_text(path, text)
            written.append(path)
    return written


def _text_of(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def timestamp(seconds: float) -> str:
    """dbt's time format: ISO 8601 in UTC with microseconds and a ``Z``."""
    moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def write_run_artifacts(session: Session, result: BuildResult, seconds: float,
                        options: BuildOptions, which: str = "build") -> None:
    """``manifest.json`` and ``run_results.json`` of a build that has run for ``seconds``
    (``which="test"``: of ``runner test``, whose results are its data tests only)."""
    name = session.project.config.name
    started_at = time.time() - seconds
    base = {"generated_at": timestamp(started_at + seconds),
            "invocation_id": str(uuid.uuid4()), "invocation_started_at": timestamp(started_at),
            "env": {"runner_version": __version__}}
    write_json(session.paths.manifest, manifest(session, {
        "dbt_schema_version": MANIFEST_SCHEMA, **base, "project_name": name,
        "project_id": hashlib.md5(name.encode()).hexdigest(),  # noqa: S324 - dbt's id
        "adapter_type": session.adapter.type, "send_anonymous_usage_stats": False,
        "run_started_at": timestamp(started_at)}), compact=True)
    dropped: dict[str, list[str]] = {}
    for physical in result.dropped:
        dropped.setdefault(physical.rpartition("__")[0], []).append(physical)
    write_json(session.paths.run_results, {
        "metadata": {"dbt_schema_version": RUN_RESULTS_SCHEMA, **base},
        "elapsed_time": round(seconds, 3),
        "args": {"which": which, "target": session.target, "select": options.select,
                 "exclude": options.exclude, "vars": session.project.vars,
                 "full_refresh": options.full_refresh, "threads": options.threads,
                 "fail_fast": options.fail_fast, "exports": options.exports},
        "results": [*(entry for r in result.results for entry in (
                        *([_model_result(session, r, dropped.get(r.name, []))]
                          if which == "build" else []),
                        *(data_test_result(name, t) for t in r.tests))),
                    *(_export_result(name, e) for e in result.exports)],
    }, compact=True)


def write_run_results(path: Path, results: list[dict[str, Any]], seconds: float,
                      args: dict[str, Any]) -> None:
    """A ``run_results.json`` of a command that builds nothing on a target (``runner test
    --unit``, ``--leakage``): its ``results`` entries and ``args`` as given."""
    started_at = time.time() - seconds
    write_json(path, {
        "metadata": {"dbt_schema_version": RUN_RESULTS_SCHEMA,
                     "generated_at": timestamp(started_at + seconds),
                     "invocation_id": str(uuid.uuid4()),
                     "invocation_started_at": timestamp(started_at),
                     "env": {"runner_version": __version__}},
        "elapsed_time": round(seconds, 3), "args": args, "results": results}, compact=True)


def data_test_result(project: str, t: TestResult) -> dict[str, Any]:
    """A data test's entry in run_results.json (dbt's shape: ``status`` pass, fail, warn,
    error or skipped, ``failures``); what dbt keeps in the manifest's test node (the model,
    column, severity, where it is declared) and the sample rows are in ``adapter_response``."""
    test = t.test
    timing = ([_timing("execute", t.started_at, t.completed_at)]
              if t.started_at is not None and t.completed_at is not None else [])
    response = {"_message": t.message or t.status, "model": test.model, "kind": test.kind,
                "column": test.column, "severity": test.severity,
                "declared_at": f"{test.path}:{test.line}", "sample": json_sample(t.sample)}
    return {"unique_id": test_id(project, test.name), "status": t.status, "timing": timing,
            "thread_id": t.thread or "main", "execution_time": round(t.seconds, 3),
            "adapter_response": response, "message": t.message or None,
            "failures": t.failures, "compiled": True, "compiled_code": test.sql,
            "relation_name": None, "batch_results": None}


def _model_result(session: Session, r: ModelResult, dropped: list[str]) -> dict[str, Any]:
    compiled = session.plan.get(r.name)
    timing = []
    if compiled is not None and compiled.compile_timing is not None:
        timing.append(_timing("compile", *compiled.compile_timing))
    if r.started_at is not None and r.completed_at is not None:
        timing.append(_timing("execute", r.started_at, r.completed_at))
    response: dict[str, Any] = {"_message": _message(r), "rows_affected": r.rows}
    response.update({k: v for k, v in (("query_id", r.query_id), ("dataset_id", r.dataset_id))
                     if v is not None})
    if dropped:
        response["dropped_versions"] = dropped
    if r.increment is not None:
        response["incremental"] = r.increment
    if r.labels is not None:
        response["data_usage_labels"] = r.labels
    return {"unique_id": model_id(session.project.config.name, r.name),
            "status": _STATUS[r.status], "timing": timing, "thread_id": r.thread or "main",
            "execution_time": round(r.seconds, 3), "adapter_response": response,
            "message": r.message or None, "failures": None,
            "compiled": compiled is not None,
            "compiled_code": compiled.select_sql if compiled else None,
            "relation_name": r.physical, "batch_results": None}


def _message(r: ModelResult) -> str:
    if r.status == "success":
        return f"OK {r.done}"
    return r.message or r.status


def _timing(name: str, started: float, completed: float) -> dict[str, str]:
    return {"name": name, "started_at": timestamp(started), "completed_at": timestamp(completed)}


def _export_result(project: str, e: ExportResult) -> dict[str, Any]:
    details = {"flow_id": e.flow_id, "run_id": e.run_id, "records": e.records,
               "bytes": e.bytes, "files": e.files, "path": e.path,
               **({"labels": e.labels} if e.labels is not None else {})}
    return {"unique_id": export_id(project, e.model, e.destination),
            "status": "error" if e.status == "error" else
            "skipped" if e.status == "skipped" else "success",
            "timing": [], "thread_id": "main", "execution_time": 0.0,
            "adapter_response": {"_message": e.status, "export_status": e.status,
                                 "model": e.model, "destination": e.destination,
                                 "rows_affected": e.records, **details},
            "message": e.message or None, "failures": None, "compiled": False,
            "compiled_code": None, "relation_name": None, "batch_results": None}
