"""``build``: run the compiled plan over the DAG, then the exports, then record the artifacts.

The CLI and notebooks call the same function in-process::

    from runner import build, BuildOptions
    result = build(Path("."), BuildOptions(select=["+training_set"], threads=4))
    assert result.ok
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from runner.errors import RunError, RunnerError
from runner.run.artifacts import write_compiled, write_run_artifacts
from runner.run.bind import located
from runner.run.changes import inputs_of
from runner.run.data_tests import run_tests, skipped
from runner.run.durations import model_estimates
from runner.run.exports import run_build_exports
from runner.run.materialize import drop_old_versions, strategy
from runner.run.options import DEFAULT_THREADS, BuildOptions
from runner.run.events import EventLog
from runner.run.labels import LabelsFor, label_built
from runner.run.leakage import LeakageAudit
from runner.run.manifest import export_id
from runner.run.progress import BarFactory, Echo, Progress, ProgressOptions, summary
from runner.run.results import BuildResult, ModelResult
from runner.run.scheduler import run_dag
from runner.run.session import Session, locked_session


def build(root: str | Path, options: BuildOptions | None = None, echo: Echo = print,
          bar: BarFactory | None = None, events: EventLog | None = None,
          labels_for: LabelsFor | None = None) -> BuildResult:
    """Materialize the selected models in dependency order, then run the exports.

    ``echo`` takes each line of progress; ``bar`` (``runner.run.bar.terminal_bar`` in a
    terminal or a notebook) shows the models' progress as a bar, with the lines above it;
    ``events`` takes the machine-readable events (``runner.run.events``); ``labels_for``
    (model -> column -> data usage labels) has each built dataset labelled on a target on
    Platform (``runner.run.labels``); by default those are the labels derived through lineage
    from the sources' (project.yml's and, on Platform, their datasets'), and a project with no
    labels anywhere makes no label call for its models.

    Raises:
        ProjectError: the project or the options are wrong (nothing has run).
        RunError: the target cannot be reached, or the build was interrupted.
    """
    started = time.monotonic()
    options = options or BuildOptions()
    with locked_session(root, options, echo, events) as session:
        if labels_for is None and session.adapter.platform is not None and any(
                session.labels.values()):  # each built dataset gets its columns' derived labels
            labels_for = lambda name: session.labels.get(name, {})  # noqa: E731
        return _build(session, options, echo, started, ProgressOptions(
            verbose=options.verbose, heartbeat=options.heartbeat, bar=bar, events=events,
            project=session.project.config.name), labels_for)


def threads_for(session: Session, options: BuildOptions) -> int:
    """How many models run at once: ``--threads``, else the target's, capped by the engine."""
    adapter = session.adapter
    threads = options.threads or adapter.config.threads or DEFAULT_THREADS
    return min(threads, adapter.max_threads) if adapter.max_threads is not None else threads


def _build(session: Session, options: BuildOptions, echo: Echo, started: float,
           shown: ProgressOptions, labels_for: LabelsFor | None = None) -> BuildResult:
    project, adapter, plan = session.project, session.adapter, session.plan
    threads = threads_for(session, options)
    result = BuildResult(target=session.target)
    with adapter:
        write_compiled(session)
        for line in plan.note_lines():
            echo(f"Note: {line}")
        progress = Progress(echo, len(plan.selected), shown, queries=adapter.running_queries)
        progress.line(f"Running {len(plan.selected)} model(s) on target '{session.target}' "
                      f"({adapter.type}, {threads} thread(s))")
        with progress:
            results = _run_models(session, progress, threads, options, started, labels_for)
        result.results = [results[n] for n in plan.selected]
        if options.exports and session.workspace.exports:
            result.exports = run_build_exports(session, result.results, echo)
            _export_events(shown.events, shown.project, result)
        built = [r.name for r in result.results if r.status == "success"]
        if built and not any(e.status == "error" for e in result.exports):
            # after the exports: a failed export may still point at the previous version
            result.dropped = drop_old_versions(adapter, session.state,
                                               project.config.keep_versions, built)
        summary(result.results, time.monotonic() - started, echo)
        write_run_artifacts(session, result, time.monotonic() - started, options)
    if shown.events is not None:
        counts = {("no-op" if s == "noop" else s): sum(r.status == s for r in result.results)
                  for s in ("success", "noop", "error", "skipped")}
        shown.events.emit("finish", unique_id=None, status="success" if result.ok else "error",
                          counts=counts, elapsed_time=round(time.monotonic() - started, 3))
    return result


def _export_events(events: EventLog | None, project: str, result: BuildResult) -> None:
    if events is None:
        return
    for e in result.exports:
        events.emit("export", unique_id=export_id(project, e.model, e.destination),
                          model=e.model, destination=e.destination, status=e.status,
                          message=e.message or None, path=e.path, records=e.records,
                          files=e.files)


def _run_models(session: Session, progress: Progress, threads: int, options: BuildOptions,
                started: float, labels_for: LabelsFor | None = None) -> dict[str, ModelResult]:
    """Each selected model through its materialization, over the DAG with ``threads``."""
    plan, adapter = session.plan, session.adapter
    results: dict[str, ModelResult] = {}
    audit = LeakageAudit(session.project, adapter, session.paths.cache,
                         options.sample).run_test

    def work(name: str) -> bool:
        model = plan[name]
        progress.queued(name, model.materialized)
        began, started_at = time.monotonic(), time.time()
        try:
            outcome = strategy(model.materialized).run(
                model, adapter, session.state, plan,
                on_build=lambda: progress.start(name, model.materialized))
        except Exception as err:  # noqa: BLE001 - reported per model, never fatal
            message = str(err) if isinstance(err, RunnerError) else (
                f"{type(err).__name__}: {err}")
            if isinstance(err, RunError):
                message = located(session, name, message) or message
            outcome = ModelResult.of(model, "error", message=message,
                                     seconds=time.monotonic() - began)
        if labels_for is not None:  # its dataset's labels, once it is built (or up to date)
            outcome = label_built(adapter, outcome, labels_for)
        outcome.started_at, outcome.completed_at = started_at, time.time()
        outcome.thread = threading.current_thread().name
        progress.finish(outcome)
        tests = plan.tests.get(name, [])
        outcome.tests = (run_tests(tests, adapter, audit) if outcome.ok
                         else skipped(tests, "the model failed"))
        progress.tested(outcome, passes=outcome.status != "noop")
        results[name] = outcome
        return outcome.tested  # a failed error-severity test skips the descendants too

    def on_skip(name: str, reason: str) -> None:
        model = plan[name]
        progress.skip(name, model.materialized, reason)
        failed = results.get(reason)
        why = ("fail-fast" if reason == "fail-fast" else
               f"upstream model '{reason}' failed a data test" if failed is not None
               and failed.ok else f"upstream model '{reason}' failed")
        results[name] = ModelResult.of(model, "skipped", fingerprint=None,
                                       message=f"skipped: {why}",
                                       tests=skipped(plan.tests.get(name, []), why))

    parents = {n: [*plan[n].parents, *(d for t in plan.tests.get(n, []) for d in t.depends_on)]
               for n in plan.selected}  # a relationships test waits for the model it reads
    duration = model_estimates(plan, session.state, plan.selected)  # the critical path's weights
    try:
        with adapter.listing():  # one catalog query for every model's up-to-date check
            run_dag(plan.selected, parents, work, threads=threads, fail_fast=options.fail_fast,
                    on_skip=on_skip, on_interrupt=adapter.cancel, duration=duration)
    except KeyboardInterrupt:
        _record_inputs(session, results)
        done = BuildResult(session.target, [results[n] for n in plan.selected if n in results])
        write_run_artifacts(session, done, time.monotonic() - started, options)
        raise RunError("interrupted: running statements were cancelled; every model kept "
                       "its last good version, and what finished is recorded in "
                       "target/run_results.json") from None
    _record_inputs(session, results)
    return results


def _record_inputs(session: Session, results: dict[str, ModelResult]) -> None:
    """Note in the target's state what each model's current version was built from
    (``runner.run.changes``, for ``runner plan``) and how long each model built now took; an
    up-to-date model whose record is current costs nothing."""
    generations, state = session.state.generations(), session.state
    inputs, seconds = {}, {}
    for name, result in results.items():
        if result.status == "success":
            seconds[name] = result.seconds
        if result.ok and (result.status == "success"
                          or state.get(name).inputs.get("fingerprint") != result.fingerprint):
            inputs[name] = inputs_of(session.project, session.plan, name, generations,
                                     session.source_versions).to_dict()
    state.record_inputs(inputs, seconds)
