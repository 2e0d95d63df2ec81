"""``runner test --unit``: run the unit tests (``runner.project.unit_tests``) on in-memory DuckDB.

No target is touched and no credential read. Each test gets a fresh in-memory database: every
source the model needs (directly or upstream) is made as an empty table of its columns (a
synthetic source's generator schema, a ``path:`` file's columns, or the types the last build
recorded), then filled with the test's rows where it gives them; the model and its ancestors
are compiled as a build compiles them (macros, vars, ephemeral models inlined, the Spark to
DuckDB dialect layer, against those types); each ancestor is built on that data, except an
input the test gives, which holds the given rows in the columns and types a build gives it;
and the model's query runs. Its rows are compared with the expected ones over the columns
these name, as a multiset (``runner.run.row_diff``)::

    from runner.run.unit_tests import run_unit_tests
    run = run_unit_tests(Path("."), BuildOptions(select=["user_purchases"]))
    [(r.test.name, r.status) for r in run.results]    # pass | fail | error

A failing test is exit 1; a test file that is wrong (a key, a model, an input, a column, a value
that is not of its column's type) is a ProjectError at its file and line (exit 2).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlglot import exp

from runner.adapters import Adapter, adapter_class
from runner.compile.compiler import compile_plan
from runner.compile.plan import CompiledTest
from runner.errors import ProjectError, RunError
from runner.graph.dag import SOURCE_PREFIX
from runner.graph.selection import select
from runner.project.cache import Cache
from runner.project.config import SourceConfig
from runner.project.loader import Project
from runner.project.unit_tests import Rows, UnitTest, load_unit_tests
from runner.run.artifacts import data_test_result, write_run_results
from runner.run.events import EventLog
from runner.run.fixtures import Located, check_columns, typed_table
from runner.run.history import BuildHistory
from runner.run.options import BuildOptions
from runner.run.paths import TargetPaths
from runner.run.progress import check_lines, check_summary
from runner.run.recorded import known_sources
from runner.run.results import TestResult
from runner.run.row_diff import RowDiff, diff_rows
from runner.run.session import load
from runner.sources.prepare import check_source_file, synth_options

Echo = Callable[[str], None]


@dataclass
class UnitTestRun:
    """What ``runner test --unit`` did: one result per unit test, in file order."""

    results: list[TestResult]
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return 1 if any(r.status in ("fail", "error") for r in self.results) else 0


def run_unit_tests(root: str | Path, options: BuildOptions | None = None, echo: Echo = print,
                   events: EventLog | None = None) -> UnitTestRun:
    """Run the unit tests of the selected models (every one without ``--select``).

    Raises:
        ProjectError: the project or a unit test file is wrong (file:line).
    """
    started = time.monotonic()
    options = options or BuildOptions()
    project = load(root, options.vars)
    target, _ = project.config.target(options.target)
    paths = TargetPaths(project.root, target)
    tests = load_unit_tests(project, project.config.unit_test_paths)
    if options.select or options.exclude:
        chosen = select(options.select, options.exclude, project.dag, project.models,
                        BuildHistory(project, target, paths, options.state))
        tests = [t for t in tests if t.model in chosen]
    if not tests:
        folders = ", ".join(f"{f}/" for f in project.config.unit_test_paths)
        echo(f"Nothing to test: no unit test of the selected models (in {folders}).")
        return UnitTestRun([])
    echo(f"{time.strftime('%H:%M:%S')}  Running {len(tests)} unit test(s) on in-memory DuckDB")
    recorded = known_sources(paths.manifest, target, "duckdb")[0]
    projects: dict[str, Project] = {"{}": project}
    cache = Cache(paths.cache)
    results = []
    for test in tests:
        key = json.dumps(test.vars, sort_keys=True, default=str)
        if key not in projects:
            projects[key] = load(root, {**(options.vars or {}), **test.vars})
        result = run_unit_test(projects[key], test, cache, recorded)
        results.append(result)
        _report(result, echo, events, project.config.name)
    run = UnitTestRun(results, time.monotonic() - started)
    _summary(run, echo)
    write_run_results(paths.run_results, [_entry(project.config.name, r) for r in results],
                      run.seconds, {"which": "unit-test", "target": target,
                                    "select": options.select, "exclude": options.exclude,
                                    "vars": project.vars})
    return run


def run_unit_test(project: Project, test: UnitTest, cache: Cache | None = None,
                  recorded: dict[str, dict[str, exp.DataType]] | None = None) -> TestResult:
    """Run one unit test on a fresh in-memory DuckDB (see the module docstring)."""
    began, started_at = time.monotonic(), time.time()
    adapter = adapter_class("duckdb")("unit_test", {"type": "duckdb", "path": ":memory:"},
                                      project.root)
    given = {g.node: g.rows for g in test.given}
    with adapter:
        wanted = {test.model, *(n for n in project.dag.upstream(test.model) if n in project.models)}
        sources = sorted({s for n in wanted for s in project.sources_read(n)})
        for name in sources:
            source = project.config.sources[name]
            _source_table(project, adapter, source, given.get(SOURCE_PREFIX + name), test,
                          (recorded or {}).get(source.identifier))
        types = {project.config.sources[s].identifier:
                 adapter.column_types(project.config.sources[s].identifier) for s in sources}
        plan = compile_plan(project, adapter, {test.model}, source_types=types, cache=cache)
        model = plan[test.model]
        compiled = CompiledTest(name=test.name, model=test.model, kind="unit", column=None,
                                severity="error", path=test.path, line=test.line,
                                sql=model.select_sql)
        try:
            for parent in plan:
                if parent.built and parent.name != test.model:
                    _parent_table(adapter, parent.physical, parent.select_sql,
                                  given.get(parent.name), test, parent.name)
            actual = adapter.fetch_arrow(model.select_sql)
        except RunError as err:
            result = TestResult(compiled, "error", message=str(err))
        else:
            diff = _compare(actual, test)
            result = TestResult(compiled, "pass" if diff.ok else "fail", failures=diff.count,
                                sample=diff.records(), message=_message(diff, test, actual),
                                details=diff.lines())
    result.seconds, result.started_at, result.completed_at = (
        time.monotonic() - began, started_at, time.time())
    result.thread = threading.current_thread().name
    return result


def _source_table(project: Project, adapter: Adapter, source: SourceConfig, rows: Rows | None,
                  test: UnitTest, recorded: dict[str, exp.DataType] | None) -> None:
    """The source as an empty table of its columns, then the given rows."""
    table = _quoted(source.identifier)
    if "." in source.identifier:
        schema = source.identifier.rpartition(".")[0]
        adapter.execute(f"CREATE SCHEMA IF NOT EXISTS {_quoted(schema)}")
    if source.synthetic:
        from runner.sources import synth

        schema = synth.schemas(synth_options(project.config).tenant).get(source.synthetic)
        if schema is None:
            raise ProjectError(f"sources.{source.name}.synthetic: the generator makes "
                               f"{', '.join(sorted(synth.schemas()))}, not '{source.synthetic}'",
                               "project.yml")
        adapter.load_arrow({source.identifier: schema.empty_table()})
    elif source.path:
        check_source_file(project.root, source, adapter.file_suffixes)
        adapter.execute(adapter.file_view_sql("__runner_file", Path(source.path)))
        adapter.execute(f"CREATE TABLE {table} AS SELECT * FROM __runner_file LIMIT 0")
        adapter.execute("DROP VIEW __runner_file")
    elif recorded:
        columns = ", ".join(f"{_quoted(c)} {t.sql('duckdb')}" for c, t in recorded.items())
        adapter.execute(f"CREATE TABLE {table} ({columns})")
    elif rows is not None and rows.rows:  # no types known: DuckDB's reading of the values
        adapter.load_arrow({source.identifier: pa.Table.from_pylist(list(rows.rows))})
        return
    else:
        raise ProjectError(f"unit test '{test.name}': the columns of source '{source.name}' are "
                           "not known (it is neither synthetic: nor path:, and no build on the "
                           "target recorded them); give rows for it in the test, or run "
                           "`runner build` once", test.path, test.line)
    if rows is not None:
        _fill(adapter, source.identifier, rows, Located(test.path, rows.lines,
                                                        f"input {source.name}"))


def _parent_table(adapter: Adapter, physical: str | None, select_sql: str, rows: Rows | None,
                  test: UnitTest, name: str) -> None:
    """An ancestor built on the fixture data, or (given) its columns with the given rows."""
    assert physical is not None
    if rows is None:
        adapter.execute(f"CREATE TABLE {_quoted(physical)} AS {select_sql}")
        return
    adapter.execute(f"CREATE TABLE {_quoted(physical)} AS SELECT * FROM ({select_sql}) AS q "
                    "LIMIT 0")
    _fill(adapter, physical, rows, Located(test.path, rows.lines, f"input {name}"))


def _fill(adapter: Adapter, table: str, rows: Rows, where: Located) -> None:
    """Insert ``rows`` into ``table``, each value read as its column's type."""
    schema = adapter.fetch_arrow(f"SELECT * FROM {_quoted(table)} LIMIT 0").schema
    adapter.load_arrow({"__runner_rows": typed_table(rows.rows, schema, where)})
    adapter.execute(f"INSERT INTO {_quoted(table)} SELECT * FROM __runner_rows")
    adapter.execute("DROP TABLE __runner_rows")


def _compare(actual: pa.Table, test: UnitTest) -> RowDiff:
    """The diff of the model's rows against the expected ones, over the columns they name."""
    names = {n.lower(): n for n in actual.column_names}
    where = Located(test.path, test.expect.lines, "expect")
    check_columns(test.expect.rows, list(names), where)
    columns = [c for c in names if any(c in r for r in test.expect.rows)] or list(names)
    schema = pa.schema([actual.schema.field(names[c]).with_name(c) for c in columns])
    expected = typed_table(test.expect.rows, schema, where).to_pylist()
    got = actual.select([names[c] for c in columns]).rename_columns(columns).to_pylist()
    return diff_rows(expected, got, columns)


def _message(diff: RowDiff, test: UnitTest, actual: pa.Table) -> str:
    counts = (f"{len(test.expect.rows)} row{'s' if len(test.expect.rows) != 1 else ''} "
              f"expected, {actual.num_rows} produced")
    return counts if diff.ok else f"{diff.summary()} ({counts})"


def _quoted(name: str) -> str:
    return ".".join(exp.to_identifier(p, quoted=True).sql("duckdb") for p in name.split("."))


def unit_test_id(project: str, result: TestResult) -> str:
    """dbt's unique id of a unit test: ``unit_test.<project>.<model>.<name>``."""
    return f"unit_test.{project}.{result.test.model}.{result.test.name}"


def _entry(project: str, result: TestResult) -> dict[str, Any]:
    """The test's run_results.json entry: a data test's shape, under its unit test id."""
    return {**data_test_result(project, result), "unique_id": unit_test_id(project, result)}


def _report(result: TestResult, echo: Echo, events: EventLog | None, project: str) -> None:
    test = result.test
    if events is not None:
        events.emit("test", unique_id=unit_test_id(project, result), model=test.model,
                    status=result.status, severity=test.severity, failures=result.failures,
                    execution_time=round(result.seconds, 3), message=result.message or None)
    count = f" {result.failures}" if result.failures else ""
    for line in check_lines(result, f"unit test {test.model}::{test.name}",
                            f"{result.status.upper()}{count} in {result.seconds:.2f}s",
                            f"{test.path}:{test.line}"):
        echo(line)


def _summary(run: UnitTestRun, echo: Echo) -> None:
    check_summary([(f"{r.test.model}::{r.test.name}: {r.test.path}:{r.test.line}", r)
                   for r in run.results],
                  f"Finished running {len(run.results)} unit test(s) in {run.seconds:.2f}s.",
                  "{n} unit test(s) failed:", "Unit tests", echo)
