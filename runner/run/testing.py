"""``runner test``: run the data tests of the selected models on what is already built.

The selection is compiled as for a build (so each test reads the version a build would point
at), nothing is built, and every selected model with tests must exist in that version: a model
never built, or edited since its last build, is a project error naming it and the build to run
(exit 2). Tests run on ``--threads`` threads; the result's exit code is 1 when an
error-severity test failed, and ``run_results.json`` holds one result per test::

    from runner.run.testing import run_data_tests
    result = run_data_tests(Path("."), BuildOptions(select=["training_set"]))
    [t.status for t in result.tests]     # pass | fail | warn | error
"""

from __future__ import annotations

import time
from pathlib import Path

from runner.errors import ProjectError
from runner.run.artifacts import write_compiled, write_run_artifacts
from runner.run.build import threads_for
from runner.run.data_tests import run_tests
from runner.run.events import EventLog
from runner.run.leakage import LeakageAudit
from runner.run.options import BuildOptions
from runner.run.progress import Echo, Progress, ProgressOptions, test_summary
from runner.run.results import BuildResult, ModelResult
from runner.run.scheduler import run_dag
from runner.run.session import Session, locked_session


def run_data_tests(root: str | Path, options: BuildOptions | None = None, echo: Echo = print,
                   events: EventLog | None = None) -> BuildResult:
    """Run the data tests of the selected models; each tested model is a ``noop`` result
    carrying its tests' results.

    Raises:
        ProjectError: the project is wrong, or a selected model with tests is not built in
            its current version.
        RunError: the target cannot be reached.
    """
    started = time.monotonic()
    options = options or BuildOptions()
    with locked_session(root, options, echo, events) as session, session.adapter:
        write_compiled(session)
        result = _run(session, options, echo, events)
        if result.tests:
            test_summary(result.tests, time.monotonic() - started, echo)
        write_run_artifacts(session, result, time.monotonic() - started, options, which="test")
    return result


def _run(session: Session, options: BuildOptions, echo: Echo, events: EventLog | None
         ) -> BuildResult:
    plan, adapter = session.plan, session.adapter
    tested = [name for name in plan.selected if plan.tests.get(name)]
    with adapter.listing():
        missing = [name for name in tested if not adapter.exists(plan[name].physical or name)]
    if missing:
        shown = ", ".join(f"{n} ({plan[n].path})" for n in missing)
        raise ProjectError(f"not built on target '{session.target}' as they are now: {shown}; "
                           f"`runner test` tests what is built: run `runner build -s "
                           f"{' '.join(missing)}` first")
    if not tested:
        echo("Nothing to test: no selected model declares data tests.")
        return BuildResult(session.target)
    threads = threads_for(session, options)
    progress = Progress(echo, len(tested), ProgressOptions(
        verbose=options.verbose, events=events, project=session.project.config.name))
    total = sum(len(plan.tests[n]) for n in tested)
    progress.line(f"Running {total} data test(s) of {len(tested)} model(s) on target "
                  f"'{session.target}' ({adapter.type}, {threads} thread(s))")
    results: dict[str, ModelResult] = {}
    audit = LeakageAudit(session.project, adapter, session.paths.cache,
                         options.sample).run_test

    def work(name: str) -> bool:
        outcome = ModelResult.of(plan[name], "noop", message="tested",
                                 tests=run_tests(plan.tests[name], adapter, audit))
        progress.tested(outcome)
        results[name] = outcome
        return True

    run_dag(tested, {}, work, threads=threads)
    return BuildResult(session.target, [results[n] for n in tested])
