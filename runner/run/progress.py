"""dbt-style progress lines and the end-of-run summary, written to a caller-supplied sink."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType

from runner.run.results import ModelResult

Echo = Callable[[str], None]
WIDTH = 72


class Progress:
    """Thread-safe printer of one run's lines."""

    def __init__(self, echo: Echo, total: int) -> None:
        self._echo = echo
        self._total = total
        self._index: dict[str, int] = {}
        self._lock = threading.Lock()

    def line(self, text: str) -> None:
        with self._lock:
            self._echo(f"{time.strftime('%H:%M:%S')}  {text}")

    def _dots(self, left: str, right: str) -> str:
        return f"{left} {'.' * max(3, WIDTH - len(left))} {right}"

    def start(self, name: str, kind: str) -> None:
        with self._lock:
            self._index[name] = len(self._index) + 1
            n = self._index[name]
        self.line(self._dots(f"{n} of {self._total} START {kind} model {name}", "[RUN]"))

    def finish(self, result: ModelResult) -> None:
        n = self._index.get(result.name, 0)
        prefix = f"{n} of {self._total}"
        took = f"in {result.seconds:.2f}s"
        if result.status == "success":
            rows = f"{result.rows:,} rows " if result.rows is not None else ""
            query = f" query {result.query_id}" if result.query_id else ""
            left = f"{prefix} OK created {result.materialized} {result.physical}{query}"
            self.line(self._dots(left, f"[OK {rows}{took}]"))
        elif result.status == "noop":
            self.line(self._dots(f"{prefix} NO-OP {result.name}: {result.message}",
                                 f"[UP TO DATE {took}]"))
        else:
            self.line(self._dots(f"{prefix} ERROR {result.materialized} model {result.name}",
                                 f"[ERROR {took}]"))

    def skip(self, name: str, kind: str, reason: str) -> None:
        with self._lock:
            self._index[name] = len(self._index) + 1
            n = self._index[name]
        why = "fail-fast" if reason == "fail-fast" else f"upstream {reason} failed"
        self.line(self._dots(f"{n} of {self._total} SKIP {kind} model {name} ({why})", "[SKIP]"))


def summary(results: list[ModelResult], seconds: float, echo: Echo) -> None:
    """The closing block: errors with their files, then the counts."""
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
    echo(f"Done. PASS={counts['success']} NO-OP={counts['noop']} ERROR={counts['error']} "
         f"SKIP={counts['skipped']} TOTAL={len(results)}")


class SlowCompile:
    """Says which model is being compiled when one takes longer than ``after`` seconds (a very
    large generated model), so a long compile is never silent.

        with SlowCompile(echo) as slow:
            compile_plan(..., on_model=slow.model)
    """

    def __init__(self, echo: Echo, after: float = 5.0) -> None:
        self._echo, self._after = echo, after
        self._timer: threading.Timer | None = None
        self._count = 0

    def model(self, path: str) -> None:
        """``path`` starts compiling: report it if it is still compiling ``after`` s from now."""
        self._cancel()
        self._count += 1
        started, index = time.monotonic(), self._count
        self._timer = threading.Timer(self._after, self._report, (path, index, started))
        self._timer.daemon = True
        self._timer.start()

    def _report(self, path: str, index: int, started: float) -> None:
        self._echo(f"{time.strftime('%H:%M:%S')}  still compiling {path} (model {index}, "
                   f"{time.monotonic() - started:.0f} s so far)")

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def __enter__(self) -> SlowCompile:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._cancel()
