"""``runner retry``: build again exactly the models that failed or were skipped in the last run.

    raw_orders -> stg -> a -> c -> e
                     \\-> b -/
"""

from __future__ import annotations

import json

import pytest

import runner
from runner.cli.main import main

MODELS = {
    "stg": "SELECT order_id, user_id, amount FROM raw_orders",
    "a": "SELECT order_id, user_id, amount FROM stg",
    "b": "SELECT order_id, amount FROM stg WHERE amount > var('min_amount')",
    "c": "SELECT a.order_id, a.user_id, b.amount FROM a JOIN b ON a.order_id = b.order_id",
    "e": "SELECT * FROM c",
}


@pytest.fixture
def failed(project, capsys):
    """A build in which b fails (c and e are skipped)."""
    for name, sql in MODELS.items():
        project.model(name, sql)
    project.model("b", "SELECT nope FROM stg")
    assert run(project, "build") == 1
    capsys.readouterr()
    return project


def run(project, *args: str) -> int:
    return main([*args, "--project-dir", str(project.root)])


def last_results(project) -> list[tuple[str, str]]:
    results = json.loads((project.root / "target/run_results.json").read_text())["results"]
    return [(r["unique_id"].rpartition(".")[2], r["status"]) for r in results]


def test_retry_reruns_exactly_the_failed_and_skipped_then_has_nothing_left(failed, capsys) -> None:
    assert last_results(failed) == [("stg", "success"), ("a", "success"), ("b", "error"),
                                    ("c", "skipped"), ("e", "skipped")]
    failed.model("b", MODELS["b"])
    assert run(failed, "retry") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == ("Retrying 3 model(s) that failed or were skipped in the last "
                                   "run: b, c, e")
    assert "Done. PASS=3 NO-OP=0 ERROR=0 SKIP=0 TOTAL=3" in out
    assert last_results(failed) == [("b", "success"), ("c", "success"), ("e", "success")]
    assert failed.sql("SELECT count(*) FROM e") == [(3,)]
    assert run(failed, "retry") == 0
    assert capsys.readouterr().out == ("Nothing to retry: the last run on target 'local' had no "
                                       "failed or skipped model.\n")


def test_a_retry_that_fails_again_exits_1_and_can_be_retried(failed, capsys) -> None:
    assert run(failed, "retry") == 1
    assert last_results(failed) == [("b", "error"), ("c", "skipped"), ("e", "skipped")]
    failed.model("b", MODELS["b"])
    assert runner.retry(failed.root, echo=lambda line: None).ok


def test_retry_uses_the_last_runs_vars_so_what_it_built_is_reused(project, capsys) -> None:
    for name, sql in MODELS.items():
        project.model(name, sql)
    project.model("c", "SELECT nope FROM b")
    assert run(project, "build", "--vars", "{min_amount: 15}") == 1
    project.model("c", "SELECT order_id, amount FROM b")
    capsys.readouterr()
    assert run(project, "retry") == 0  # b's version built with min_amount 15 is c's parent
    assert last_results(project) == [("c", "success"), ("e", "success")]
    assert project.sql("SELECT count(*) FROM e") == [(2,)]


def test_nothing_to_retry_without_a_run_or_after_a_run_on_another_target(project, capsys) -> None:
    for name, sql in MODELS.items():
        project.model(name, sql)
    assert run(project, "retry") == 0
    assert capsys.readouterr().out == ("Nothing to retry: no run is recorded in "
                                       "target/run_results.json.\n")
    text = (project.root / "project.yml").read_text()
    project.write("project.yml", text + "targets:\n  local: {type: duckdb}\n"
                                        "  other: {type: duckdb, path: target/local.duckdb}\n")
    assert run(project, "build", "-t", "other") == 0
    capsys.readouterr()
    assert run(project, "retry") == 0
    assert capsys.readouterr().out == (
        "Nothing to retry on target 'local': the last run (target/run_results.json) was on "
        "target 'other' (runner retry -t other).\n")
    assert runner.retry(project.root, runner.BuildOptions(target="other"),
                        echo=lambda line: None) is None
