"""What a run reports: one ``ModelResult`` per model, one ``BuildResult`` per build."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runner.compile.plan import CompiledModel, CompiledTest

if TYPE_CHECKING:
    import pandas

    from destinations import ExportResult

OK_STATUSES = ("success", "noop")


@dataclass
class TestResult:
    """The outcome of one data test (one ``test.`` entry of run_results.json).

    ``status`` is dbt's: ``pass``, ``fail`` (an error-severity test found rows), ``warn`` (a
    warn-severity one did), ``error`` (its query failed) or ``skipped`` (its model was not
    built); ``failures`` counts the failing rows and ``sample`` holds the first of them.
    """

    __test__ = False  # not a pytest class

    test: CompiledTest
    status: str
    failures: int | None = None
    sample: list[dict[str, Any]] = field(default_factory=list)
    message: str = ""
    seconds: float = 0.0
    started_at: float | None = None
    completed_at: float | None = None
    thread: str = ""
    details: list[str] = field(default_factory=list)  # a unit test's diff, one line each

    @property
    def name(self) -> str:
        return self.test.name

    @property
    def stops(self) -> bool:
        """Whether it stops its model's descendants (an error-severity test that did not pass)."""
        return self.status in ("fail", "error") and self.test.severity == "error"


@dataclass
class ModelResult:
    """The outcome of one model in a run (one entry of run_results.json)."""

    name: str
    path: str
    materialized: str
    status: str                      # success | noop | error | skipped
    physical: str | None = None
    fingerprint: str | None = None
    rows: int | None = None
    seconds: float = 0.0
    message: str = ""
    query_id: str | None = None
    dataset_id: str | None = None
    statements: list[str] = field(default_factory=list)
    started_at: float | None = None   # when it started and ended running (Unix seconds)
    completed_at: float | None = None
    thread: str = ""                  # the worker thread that ran it
    # an incremental model's interval: full, watermark_before, watermark_after, rows_inserted
    increment: dict[str, Any] | None = None
    tests: list[TestResult] = field(default_factory=list)  # its data tests, run after it
    # the data usage labels written to its dataset (runner.run.labels): outcome and fields
    labels: dict[str, Any] | None = None

    @classmethod
    def of(cls, model: CompiledModel, status: str, **details: Any) -> ModelResult:
        """The one way to make a result: a compiled model's identity plus what happened."""
        fields: dict[str, Any] = {"physical": model.physical, "fingerprint": model.fingerprint}
        return cls(name=model.name, path=model.path, materialized=model.materialized,
                   status=status, **{**fields, **details})

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES

    @property
    def tested(self) -> bool:
        """Built (or up to date) and no error-severity test of it failed: what may be
        exported and read by its descendants."""
        return self.ok and not any(t.stops for t in self.tests)

    @property
    def done(self) -> str:
        """What a success did: ``created <kind> <physical>``, or ``appended to ...`` (an
        incremental model's append)."""
        verb = "appended to" if self.increment and not self.increment["full"] else "created"
        return f"{verb} {self.materialized} {self.physical}"


@dataclass
class BuildResult:
    """What ``build`` did; ``exit_code`` is dbt's: 0 success, 1 a model or export failed."""

    target: str
    results: list[ModelResult] = field(default_factory=list)
    exports: list[ExportResult] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (all(r.tested for r in self.results)
                and all(e.status != "error" for e in self.exports))

    @property
    def tests(self) -> list[TestResult]:
        """Every data test's result, in build order."""
        return [t for r in self.results for t in r.tests]

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def by_name(self) -> dict[str, ModelResult]:
        return {r.name: r for r in self.results}

    _COLUMNS = ("name", "status", "materialized", "rows", "seconds", "physical", "dataset_id",
                "message")

    def to_pandas(self) -> pandas.DataFrame:
        """One row per model: name, status, materialized, rows, seconds, physical, dataset_id,
        message."""
        import pandas

        return pandas.DataFrame([[getattr(r, c) for c in self._COLUMNS] for r in self.results],
                                columns=list(self._COLUMNS))

    def _repr_html_(self) -> str:
        """A notebook's view: the summary line, then a table of the models."""
        counts = {s: sum(r.status == s for r in self.results)
                  for s in ("success", "noop", "error", "skipped")}
        head = (f"<p><b>{'OK' if self.ok else 'FAILED'}</b> on target "
                f"<code>{html.escape(self.target)}</code>: " + ", ".join(
                    f"{n} {s}" for s, n in counts.items() if n) + "</p>")
        cells = "".join(
            "<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in (
                r.name, r.status, r.materialized, r.rows, f"{r.seconds:.2f}", r.message)) + "</tr>"
            for r in self.results)
        return (head + "<table><tr><th>model</th><th>status</th><th>materialized</th><th>rows</th>"
                "<th>seconds</th><th>message</th></tr>" + cells + "</table>")
