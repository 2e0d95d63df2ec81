"""Progress: plain lines when output is not a terminal, a bar (counts, elapsed, ETA) when it is,
a heartbeat naming a long-running model and its query, and a quiet no-op build."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable

from runner import BuildOptions, build
from runner.cli.commands import run_synth
from runner.cli.main import main
from runner.run.bar import TerminalBar
from runner.run.progress import Progress, ProgressOptions


def run(project, *args: str) -> int:
    return main([*args, "--project-dir", str(project.root)])


def clock_free(text: str) -> str:
    """The output without its times (HH:MM:SS and seconds taken)."""
    text = re.sub(r"^\d\d:\d\d:\d\d  ", "", text, flags=re.M)
    return re.sub(r"in \d+\.\d\ds", "in Ns", text)


class FakeBar:
    """Records what a run shows on its bar."""

    def __init__(self, total: int, description: str, unit: str) -> None:
        self.opened = (total, description, unit)
        self.lines: list[str] = []
        self.advanced: list[str] = []
        self.shown: list[str] = []
        self.closed = False

    def write(self, line: str) -> None:
        self.lines.append(line)

    def advance(self, text: str) -> None:
        self.advanced.append(text)

    def running(self, text: str) -> None:
        self.shown.append(text)

    def close(self) -> None:
        self.closed = True


def test_a_noop_build_prints_one_line_for_the_selection_unless_verbose(project, capsys) -> None:
    project.model("stg", "SELECT order_id, user_id, amount FROM raw_orders")
    project.model("totals", "SELECT user_id, sum(amount) AS total FROM stg GROUP BY user_id")
    assert run(project, "build") == 0
    first = clock_free(capsys.readouterr().out)
    assert "1 of 2 START table model stg ...." in first and "NO-OP" not in first.split("\n\n")[0]
    assert run(project, "build") == 0
    out = clock_free(capsys.readouterr().out)
    assert out.split("\n\n")[0] == (
        "Running 2 model(s) on target 'local' (duckdb, 4 thread(s))\n"
        "2 of 2 up to date (NO-OP; --verbose lists each)")
    assert run(project, "build", "--verbose") == 0
    lines = clock_free(capsys.readouterr().out).split("\n\n")[0].splitlines()
    assert [line.split(" ....")[0] for line in lines[1:]] == [
        "1 of 2 START table model stg", "1 of 2 NO-OP stg: up to date",
        "2 of 2 START table model totals", "2 of 2 NO-OP totals: up to date"]


def bar_factory() -> tuple[list[FakeBar], Callable[[int, str, str], FakeBar]]:
    """A bar factory for build/synth, and the bars it made."""
    bars: list[FakeBar] = []

    def factory(total: int, description: str, unit: str) -> FakeBar:
        bars.append(FakeBar(total, description, unit))
        return bars[-1]
    return bars, factory


def test_a_build_with_a_bar_advances_it_per_model_and_writes_results_above_it(project) -> None:
    project.model("stg", "SELECT order_id, user_id, amount FROM raw_orders")
    project.model("totals", "SELECT user_id, sum(amount) AS total FROM stg GROUP BY user_id")
    bars, factory = bar_factory()

    lines: list[str] = []
    assert build(project.root, BuildOptions(threads=1), echo=lines.append, bar=factory).ok
    [bar] = bars
    assert bar.opened == (2, "models", "model") and bar.closed
    assert (bar.shown, bar.advanced) == (["stg", "totals"], ["stg", "totals"])
    assert [line[10:].split(" ")[:4] for line in bar.lines] == [
        ["1", "of", "2", "OK"], ["2", "of", "2", "OK"]]  # no START lines: the bar says it
    assert not any(" OK " in line for line in lines)  # the lines went above the bar
    assert lines[-1] == "Done. PASS=2 NO-OP=0 ERROR=0 SKIP=0 TOTAL=2"


def test_the_terminal_bar_shows_counts_elapsed_and_eta() -> None:
    out = io.StringIO()
    bar = TerminalBar(4, "models", "model", file=out)
    bar.advance("stg")
    bar.write("a line above the bar")
    bar.advance("totals")
    bar.close()
    text = out.getvalue()
    assert "a line above the bar\n" in text
    assert re.search(r"models:  50%\|[^|]*\| 2/4 \[00:00<00:00, [\d.?]+ ?\w*model/s, totals\]",
                     text), text


def test_the_heartbeat_names_a_long_running_model_its_query_and_elapsed_time() -> None:
    lines: list[str] = []
    progress = Progress(lines.append, 3, ProgressOptions(heartbeat=30),
                        queries=lambda: {"big": "4f9c-query"})
    progress.queued("big", "table")
    progress.queued("small", "view")
    began = progress._running["small"][1]  # a moment after big's
    progress.beat(began + 29)
    assert lines == []
    progress.beat(began + 31)
    progress.beat(began + 45)  # one line per 30 s, not per tick
    assert [line[10:] for line in lines] == [
        "still running table model big (query 4f9c-query): 31s elapsed",
        "still running view model small: 31s elapsed"]
    progress.beat(began + 95)
    assert lines[-1][10:] == "still running view model small: 1m 35s elapsed"


def test_synth_advances_a_bar_per_user(project, capsys) -> None:
    project.write("project.yml", "name: demo\nsources:\n  events: {synthetic: experience_events}\n")
    project.model("m", "SELECT * FROM events")
    bars, factory = bar_factory()

    assert run_synth(project.root, BuildOptions(), users=7, days=5, bar=factory) == 0
    [bar] = bars
    assert bar.opened == (7, "synth", "user") and len(bar.advanced) == 7 and bar.closed


def events(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_log_format_json_prints_one_object_per_event(project, capsys, tmp_path) -> None:
    project.write("project.yml", (project.root / "project.yml").read_text() + (
        "exports:\n  - model: totals\n    destination: {type: local, path: cmle}\n"))
    project.model("stg", "SELECT order_id, user_id, amount FROM raw_orders")
    project.model("totals", "SELECT user_id, sum(amount) AS total FROM stg GROUP BY user_id")
    log = tmp_path / "logs" / "runner.jsonl"
    assert run(project, "build", "--log-format", "json", "--log-path", str(log),
               "--threads", "1") == 0
    out = capsys.readouterr().out
    seen = events(out)
    assert log.read_text() == out  # the same events in the file
    assert [(e["event"], e.get("unique_id"), e.get("status")) for e in seen] == [
        ("start", "model.demo.stg", None), ("finish", "model.demo.stg", "success"),
        ("start", "model.demo.totals", None), ("finish", "model.demo.totals", "success"),
        ("export", "exposure.demo.totals_local", "success"), ("finish", None, "success")]
    totals = seen[3]
    assert (totals["rows"], totals["materialized"], totals["relation"].startswith("totals__")
            ) == (3, "table", True)
    assert seen[0]["index"] == 1 and seen[0]["total"] == 2
    assert seen[4]["records"] == 3 and seen[4]["path"].startswith("target/exports/cmle/")
    assert seen[5]["counts"] == {"success": 2, "no-op": 0, "error": 0, "skipped": 0}
    assert all(e["ts"].endswith("Z") for e in seen)


def test_json_events_of_a_failure_and_a_project_error(project, capsys) -> None:
    project.model("stg", "SELECT order_id, user_id, amout FROM raw_orders")
    project.model("totals", "SELECT user_id, sum(amount) AS total FROM stg GROUP BY user_id")
    assert run(project, "build", "--log-format", "json") == 1
    seen = events(capsys.readouterr().out)
    assert [(e["event"], e.get("model"), e.get("status")) for e in seen] == [
        ("start", "stg", None), ("finish", "stg", "error"), ("error", "stg", None),
        ("finish", "totals", "skipped"), ("finish", None, "error")]
    assert seen[2]["message"].startswith("models/stg.sql:1:27: Binder Error")
    project.model("totals", "SELECT * FROM stgg")
    assert run(project, "build", "--log-format", "json") == 2
    captured = capsys.readouterr()
    [error] = events(captured.out)
    assert (error["event"], error["exit_code"]) == ("error", 2)
    assert error["message"].startswith("models/totals.sql:1:15: unknown table 'stgg'")
    assert captured.err.startswith("Error: models/totals.sql:1:15:")  # still one line


def test_events_mask_the_targets_secrets() -> None:
    from runner.run.events import EventLog

    lines: list[str] = []
    log = EventLog([lines.append], secrets=lambda: ["s3cr3t-token", None])
    log.emit("error", unique_id=None, message="login as u:s3cr3t-token failed", exit_code=1)
    assert json.loads(lines[0])["message"] == "login as u:*** failed"
