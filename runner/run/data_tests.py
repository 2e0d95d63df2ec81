"""Run a model's data tests on the target: count the failing rows, show the first few.

Each compiled test (``runner.compile.data_tests``) is a query returning the failing rows; it
runs as ``SELECT COUNT(*) FROM (<test>)`` and, only when rows fail, ``SELECT * FROM (<test>)
LIMIT 5`` for the sample. A test passes when no row fails; otherwise it fails (severity
``error``: its model's descendants are skipped) or warns (``warn``). A query the engine refuses
is an ``error`` of that test, never of the run. A ``no_leakage`` test is the point-in-time
audit of its model (``runner.run.leakage``), not a query on the target.
"""

from __future__ import annotations

import datetime
import decimal
import threading
import time
from collections.abc import Callable
from typing import Any

from runner.adapters.base import Adapter
from runner.compile.plan import CompiledTest
from runner.errors import RunnerError
from runner.run.results import TestResult


Audit = Callable[[CompiledTest], TestResult]  # runs a no_leakage test (runner.run.leakage)


def run_tests(tests: list[CompiledTest], adapter: Adapter, audit: Audit) -> list[TestResult]:
    """Each test's result, in order (a test whose query fails is an ``error`` result)."""
    return [run_test(test, adapter, audit) for test in tests]


def run_test(test: CompiledTest, adapter: Adapter, audit: Audit) -> TestResult:
    """Run one test: its count, and the sample when rows fail; a ``no_leakage`` test through
    ``audit``."""
    began, started_at = time.monotonic(), time.time()
    try:
        if test.kind == "no_leakage":
            result = audit(test)
        else:
            (count,), = adapter.fetch(test.count_sql)
            failures = int(count)
            sample = adapter.fetch_arrow(test.sample_sql).to_pylist() if failures else []
            status = "pass" if not failures else "warn" if test.severity == "warn" else "fail"
            result = TestResult(test, status, failures=failures, sample=sample,
                                message=_message(test, failures, sample))
    except Exception as err:  # noqa: BLE001 - reported as the test's result, never fatal
        message = str(err) if isinstance(err, RunnerError) else f"{type(err).__name__}: {err}"
        result = TestResult(test, "error", message=message)
    result.seconds, result.started_at, result.completed_at = (
        time.monotonic() - began, started_at, time.time())
    result.thread = threading.current_thread().name
    return result


def skipped(tests: list[CompiledTest], why: str) -> list[TestResult]:
    """The results of tests that did not run (their model failed or was skipped)."""
    return [TestResult(test, "skipped", message=f"skipped: {why}") for test in tests]


def failure_lines(result: TestResult) -> list[str]:
    """What a failed, warned or erroring test shows under its line: where it is declared,
    the count (or the error) and the sample rows, one line each."""
    test = result.test
    where = f"{test.path}:{test.line}"
    if result.status == "error":
        return [f"{where}: {result.message}"]
    if result.details:  # a no_leakage test: each changed column's counts
        return [f"{where}: {result.message}", *(f"  {line}" for line in result.details)]
    shown = len(result.sample)
    head = f"{where}: {result.message}" + (f"; the first {shown}:" if shown and shown < (
        result.failures or 0) else ":" if shown else "")
    return [head, *("  " + ", ".join(f"{k}={_shown(v)}" for k, v in row.items())
                    for row in result.sample)]


def _message(test: CompiledTest, failures: int, sample: list[dict[str, Any]]) -> str:
    if not failures:
        return "no failing rows"
    if test.kind == "row_count" and sample:
        return f"{sample[0].get('row_count')} rows, expected {test.expects}"
    return f"{failures} failing row{'s' if failures != 1 else ''}"


def json_sample(sample: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sample rows in JSON's types (run_results.json): dates as ISO text, decimals as text."""
    return [{str(k): _json(v) for k, v in row.items()} for row in sample]


def _json(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (datetime.date, datetime.datetime, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    return str(value)


def failure_summary(result: TestResult) -> str:
    """One line: where the test is declared and what it found."""
    return f"{result.test.path}:{result.test.line}: {result.message}"


def _shown(value: Any) -> str:
    return "NULL" if value is None else repr(value) if isinstance(value, str) else str(value)
