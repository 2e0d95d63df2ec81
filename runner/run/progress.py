"""Progress of a run: dbt-style lines and the end-of-run summary, written to a caller-supplied
sink, or a progress bar (``runner.run.bar``) with the lines above it in a terminal.

Lines (output that is not a terminal, the default)::

    12:00:01  1 of 9 START table model stg_events ............................... [RUN]
    12:00:04  1 of 9 OK created table stg_events__1a2b3c4d5e ..................... [OK 42 rows in 3.10s]
    12:00:31  still running table model training_set (query 4f9c...): 30s elapsed
    12:00:40  8 of 9 up to date (NO-OP; --verbose lists each)

A model found up to date prints nothing unless ``verbose``; their count is one line once the
run ends. A model running longer than ``heartbeat`` seconds gets a line every ``heartbeat``
seconds naming its query id where the engine has one (``Adapter.running_queries``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from runner.run.events import EventLog
from runner.run.options import DEFAULT_HEARTBEAT
from runner.run.data_tests import failure_lines, failure_summary
from runner.run.results import ModelResult, TestResult

Echo = Callable[[str], None]
WIDTH = 72


class Bar(Protocol):
    """A progress bar: counts, elapsed time and ETA, with lines written above it."""

    def write(self, line: str) -> None: ...
    def advance(self, text: str) -> None: ...
    def running(self, text: str) -> None: ...
    def close(self) -> None: ...


BarFactory = Callable[[int, str, str], Bar]  # (total, description, unit) -> Bar


@dataclass(frozen=True)
class ProgressOptions:
    """How a run reports: ``verbose`` prints a line for each up-to-date model too, a model
    running longer than ``heartbeat`` seconds is named every ``heartbeat`` seconds, ``bar``
    (given by the CLI when stdout is a terminal, or by a notebook) makes the progress bar,
    ``events`` takes the machine-readable events (``runner.run.events``) and ``project`` names
    their unique ids."""

    verbose: bool = False
    heartbeat: float = DEFAULT_HEARTBEAT
    bar: BarFactory | None = None
    events: EventLog | None = None
    project: str = ""


class Progress:
    """Thread-safe reporter of one run's models; a context manager that runs the heartbeat.

    Args:
        echo: where lines go when there is no bar.
        total: the models the run runs.
        options: verbosity, heartbeat, bar.
        queries: the engine's running query ids by model (``Adapter.running_queries``).
    """

    def __init__(self, echo: Echo, total: int, options: ProgressOptions = ProgressOptions(),
                 queries: Callable[[], dict[str, str]] = dict) -> None:
        self._echo, self._total, self._options, self._queries = echo, total, options, queries
        self._index: dict[str, int] = {}
        self._running: dict[str, tuple[str, float, int]] = {}  # name -> kind, start, beats
        self._noop = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._bar: Bar | None = None  # made on entering: lines before it are plain

    def line(self, text: str) -> None:
        with self._lock:
            self._write(f"{time.strftime('%H:%M:%S')}  {text}")

    def _write(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text)
        else:
            self._echo(text)

    def _dots(self, left: str, right: str) -> str:
        return f"{left} {'.' * max(3, WIDTH - len(left))} {right}"

    def _number(self, name: str) -> int:
        with self._lock:
            return self._index.setdefault(name, len(self._index) + 1)

    def queued(self, name: str, kind: str) -> None:
        """``name`` was handed to a worker: numbered and timed. Its START line waits for
        ``start`` (it may be up to date), unless ``verbose``."""
        n = self._number(name)
        with self._lock:
            self._running[name] = (kind, time.monotonic(), 0)
        self._event("start", name, kind, index=n, total=self._total)
        if self._options.verbose:
            self.line(self._dots(f"{n} of {self._total} START {kind} model {name}", "[RUN]"))

    def start(self, name: str, kind: str) -> None:
        """``name`` starts building (its CREATE runs)."""
        n = self._number(name)
        if self._bar is not None:
            self._bar.running(name)
        elif not self._options.verbose:
            self.line(self._dots(f"{n} of {self._total} START {kind} model {name}", "[RUN]"))

    def finish(self, result: ModelResult) -> None:
        with self._lock:
            self._running.pop(result.name, None)
            self._noop += result.status == "noop"
        self._finished(result)
        if self._bar is not None:
            self._bar.advance(result.name)
        n = self._index.get(result.name, 0)
        prefix = f"{n} of {self._total}"
        took = f"in {result.seconds:.2f}s"
        if result.status == "success":
            rows = f"{result.rows:,} rows " if result.rows is not None else ""
            query = f" query {result.query_id}" if result.query_id else ""
            left = f"{prefix} OK {result.done}{query}"
            self.line(self._dots(left, f"[OK {rows}{took}]"))
        elif result.status == "noop":
            if self._options.verbose:
                self.line(self._dots(f"{prefix} NO-OP {result.name}: {result.message}",
                                     f"[UP TO DATE {took}]"))
        else:
            self.line(self._dots(f"{prefix} ERROR {result.materialized} model {result.name}",
                                 f"[ERROR {took}]"))

    def tested(self, result: ModelResult, passes: bool = True) -> None:
        """A line for each data test of the model that ran (a pass only with ``passes`` or
        ``verbose``), with where it is declared, the count and the first failing rows under a
        failure or a warning."""
        for test in result.tests:
            if test.status == "skipped":
                continue
            if self._options.events is not None:
                self._options.events.emit(
                    "test", unique_id=f"test.{self._options.project}.{test.name}",
                    model=result.name, status=test.status, severity=test.test.severity,
                    failures=test.failures, execution_time=round(test.seconds, 3),
                    message=test.message or None)
            if test.status == "pass" and not (passes or self._options.verbose):
                continue
            label = _TEST_LABELS[test.status]
            count = f" {test.failures}" if test.failures else ""
            lines = [] if test.status == "pass" else failure_lines(test)
            with self._lock:
                stamp = time.strftime("%H:%M:%S")
                self._write(f"{stamp}  " + self._dots(f"{label} test {test.name}",
                                                     f"[{label}{count} in {test.seconds:.2f}s]"))
                for line in lines:
                    self._write(f"{' ' * len(stamp)}    {line}")

    def skip(self, name: str, kind: str, reason: str) -> None:
        n = self._number(name)
        if self._bar is not None:
            self._bar.advance(name)
        why = "fail-fast" if reason == "fail-fast" else f"upstream {reason} failed"
        self._event("finish", name, kind, status="skipped", relation=None, rows=None,
                    query_id=None, dataset_id=None, execution_time=0.0,
                    message=f"skipped: {why}")
        self.line(self._dots(f"{n} of {self._total} SKIP {kind} model {name} ({why})", "[SKIP]"))

    def _event(self, event: str, name: str, kind: str, **fields: object) -> None:
        if self._options.events is not None:
            self._options.events.emit(event, unique_id=f"model.{self._options.project}.{name}",
                                      model=name, materialized=kind, **fields)

    def _finished(self, r: ModelResult) -> None:
        status = "no-op" if r.status == "noop" else r.status
        self._event("finish", r.name, r.materialized, status=status, relation=r.physical,
                    rows=r.rows, query_id=r.query_id, dataset_id=r.dataset_id,
                    execution_time=round(r.seconds, 3), message=r.message or None)
        if r.status == "error":
            self._event("error", r.name, r.materialized, message=r.message)

    def beat(self, now: float) -> None:
        """A heartbeat line for each model running past its next multiple of ``heartbeat``."""
        every = self._options.heartbeat
        with self._lock:
            due = []
            for name, (kind, began, beats) in self._running.items():
                if now - began >= every * (beats + 1):
                    self._running[name] = (kind, began, int((now - began) // every))
                    due.append((name, kind, now - began))
        if not due:
            return
        queries = self._queries()
        for name, kind, elapsed in due:
            query = f" (query {queries[name]})" if name in queries else ""
            self._event("heartbeat", name, kind, elapsed=round(elapsed, 1),
                        query_id=queries.get(name))
            self.line(f"still running {kind} model {name}{query}: {_duration(elapsed)} elapsed")

    def _heartbeat(self) -> None:
        tick = min(1.0, self._options.heartbeat / 4)
        while not self._stop.wait(tick):
            self.beat(time.monotonic())

    def __enter__(self) -> Progress:
        if self._options.bar is not None and self._total:
            self._bar = self._options.bar(self._total, "models", "model")
        if self._options.heartbeat > 0:
            self._thread = threading.Thread(target=self._heartbeat, name="runner-heartbeat",
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._noop and not self._options.verbose:
            self.line(f"{self._noop} of {self._total} up to date (NO-OP; --verbose lists each)")


def _duration(seconds: float) -> str:
    """``45s``, ``2m 05s``, ``1h 02m``."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


_TEST_LABELS = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "error": "ERROR"}
TEST_STATUSES = ("pass", "warn", "fail", "error", "skipped")


def summary(results: list[ModelResult], seconds: float, echo: Echo) -> None:
    """The closing block: errors with their files, the data tests that failed, then the
    counts (the tests' on a line of their own)."""
    counts = {s: sum(r.status == s for r in results)
              for s in ("success", "noop", "error", "skipped")}
    echo("")
    echo(f"Finished running {len(results)} model(s) in {seconds:.2f}s.")
    errors = [r for r in results if r.status == "error"]
    if errors:
        echo(f"Completed with {len(errors)} error(s):")
        for r in errors:
            echo(f"  {r.path}: {r.message}")
    elif counts["noop"] == len(results) and results:
        echo("Nothing to do: every selected model is up to date (no CTAS run).")
    tests = [t for r in results for t in r.tests]
    _failed_tests(tests, echo)
    echo(f"Done. PASS={counts['success']} NO-OP={counts['noop']} ERROR={counts['error']} "
         f"SKIP={counts['skipped']} TOTAL={len(results)}")
    if tests:
        echo(test_counts(tests))


def test_summary(tests: list[TestResult], seconds: float, echo: Echo) -> None:
    """The closing block of ``runner test``: the tests that failed, then the counts."""
    echo("")
    echo(f"Finished running {len(tests)} data test(s) in {seconds:.2f}s.")
    _failed_tests(tests, echo)
    echo(test_counts(tests))


def _failed_tests(tests: list[TestResult], echo: Echo) -> None:
    """The tests that failed or could not run, each where it is declared and what it found."""
    failed = [t for t in tests if t.status in ("fail", "error")]
    if failed:
        echo(f"{len(failed)} data test(s) failed:")
    for test in failed:
        echo(f"  {test.name}: {failure_summary(test)}")


def test_counts(tests: list[TestResult]) -> str:
    """``Data tests: PASS=5 WARN=1 FAIL=0 ERROR=0 SKIP=0 TOTAL=6``."""
    counts = " ".join(f"{s.upper()}={sum(t.status == s for t in tests)}"
                      for s in TEST_STATUSES)
    return f"Data tests: {counts.replace('SKIPPED', 'SKIP')} TOTAL={len(tests)}"


def check_lines(result: TestResult, title: str, right: str, where: str) -> list[str]:
    """A unit test's or an audit's line, ``HH:MM:SS  FAIL <title> ..... [<right>]``, and unless
    it passed, ``<where>: <message>`` and its details under it."""
    stamp = time.strftime("%H:%M:%S")
    left = f"{_TEST_LABELS[result.status]} {title}"
    lines = [f"{stamp}  {left} {'.' * max(3, WIDTH - len(left))} [{right}]"]
    if result.status != "pass":
        pad = " " * len(stamp)
        lines += [f"{pad}    {where}: {result.message}",
                  *(f"{pad}      {line}" for line in result.details)]
    return lines


def check_summary(results: list[tuple[str, TestResult]], heading: str, failed: str,
                  counts: str, echo: Echo) -> None:
    """The closing block of ``runner test --unit`` or ``--leakage``: ``heading``, the checks
    that did not pass (each ``<name>: <where>: <message>``, under ``failed``), the counts."""
    echo("")
    echo(heading)
    bad = [(where, r) for where, r in results if r.status != "pass"]
    if bad:
        echo(failed.format(n=len(bad)))
    for where, r in bad:
        echo(f"  {where}: {r.message}")
    shown = " ".join(f"{s.upper()}={sum(r.status == s for _, r in results)}"
                     for s in ("pass", "fail", "error"))
    echo(f"{counts}: {shown} TOTAL={len(results)}")


class SlowStep:
    """Says which model is being read or compiled (``verb``) when one takes longer than
    ``after`` seconds (a very large generated model), so a long load or compile is never
    silent. One watcher thread for the whole step; telling it which model starts costs an
    assignment.

        with SlowStep(echo, "compiling") as slow:
            compile_plan(..., on_model=slow.model)
    """

    def __init__(self, echo: Echo, verb: str, after: float = 5.0) -> None:
        self._echo, self._verb, self._after = echo, verb, after
        self._current: tuple[str, int, float] | None = None  # path, index, start
        self._reported: tuple[str, int, float] | None = None
        self._index: dict[str, int] = {}  # each path's place, by its first start
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="slow-step", daemon=True)

    def model(self, path: str) -> None:
        """``path`` starts: report it if it is still at it ``after`` s from now."""
        index = self._index.setdefault(path, len(self._index) + 1)
        self._current = (path, index, time.monotonic())

    def _watch(self) -> None:
        while not self._stop.wait(min(self._after, 0.5)):
            current = self._current
            if current is None or current is self._reported:
                continue
            path, index, started = current
            if time.monotonic() - started >= self._after:
                self._reported = current
                self._echo(f"{time.strftime('%H:%M:%S')}  still {self._verb} {path} (model "
                           f"{index}, {time.monotonic() - started:.0f} s so far)")

    def __enter__(self) -> SlowStep:
        self._watcher.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._watcher.join()
