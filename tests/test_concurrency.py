"""Runs at the same time: two processes building different targets of one project both finish
with the right tables; a second build of the same target is refused with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import duckdb
import psycopg2
import pytest

from emulator_fixtures import PG_DSN, require_postgres
from runner.run.paths import TargetPaths
from runner.run.state import target_lock

REPO = Path(__file__).resolve().parents[1]


def runner(root: Path, *args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "runner.cli.main", *args, "--project-dir",
                             str(root)], env={**os.environ, "PYTHONPATH": str(REPO), **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.postgres
def test_two_targets_build_at_once(tmp_path) -> None:
    require_postgres(PG_DSN)
    schema = f"conc_{uuid.uuid4().hex[:8]}"
    root = tmp_path / "demo"
    (root / "models").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "data" / "events.csv").write_text("user_id,amount\nu1,5\nu1,7\nu2,3\n")
    (root / "project.yml").write_text(
        "name: demo\ntargets:\n  local: {type: duckdb}\n"
        f"  pg: {{type: postgres, dsn: '{PG_DSN}', schema: {schema}}}\n"
        "sources:\n  events: {path: data/events.csv}\n")
    (root / "models" / "totals.sql").write_text(
        "SELECT user_id, sum(amount) AS total FROM events GROUP BY user_id")
    conn = psycopg2.connect(PG_DSN)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA {schema}")
        cursor.execute(f"CREATE TABLE {schema}.events AS SELECT * FROM (VALUES ('u1', 5), "
                       "('u1', 7), ('u2', 3)) AS t(user_id, amount)")
    try:
        local, pg = runner(root, "build", "-t", "local"), runner(root, "build", "-t", "pg")
        for proc in (local, pg):
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            assert "Done. PASS=1" in out
        con = duckdb.connect(str(root / "target" / "local.duckdb"), read_only=True)
        con.execute(f"SET file_search_path = '{root}'")
        assert con.sql("SELECT * FROM totals ORDER BY 1").fetchall() == [("u1", 12), ("u2", 3)]
        con.close()
        with conn.cursor() as cursor:
            cursor.execute(f"SELECT user_id, total FROM {schema}.totals ORDER BY 1")
            assert [(u, int(t)) for u, t in cursor.fetchall()] == [("u1", 12), ("u2", 3)]
        assert {p.name for p in (root / "target" / "state").glob("*.json")} == {"local.json",
                                                                                "pg.json"}
    finally:
        with conn.cursor() as cursor:
            cursor.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.close()


def test_a_second_build_of_one_target_is_refused(tmp_path) -> None:
    """While one runner holds a target (here this test process, holding it as a build does),
    a build of that target in another process stops at once with one line; another target of
    the same project is free."""
    root = tmp_path / "demo"
    (root / "models").mkdir(parents=True)
    (root / "project.yml").write_text("name: demo\ntargets:\n  local: {type: duckdb}\n"
                                      "  other: {type: duckdb, path: target/other.duckdb}\n")
    (root / "models" / "m.sql").write_text("SELECT 1 AS n")
    with target_lock(TargetPaths(root, "local")):
        second = runner(root, "build")
        out, err = second.communicate(timeout=60)
        assert second.returncode == 1
        assert err == ("Error: another runner is working on target 'local' of this project "
                       f"({root / 'target' / 'state' / 'local.lock'}); wait for it to finish\n")
        other = runner(root, "build", "-t", "other")
        assert other.communicate(timeout=60) and other.returncode == 0
    assert not (root / "target" / "local.duckdb").exists()  # the refused build touched nothing


READER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print("open", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def _reader(root: Path, seconds: float) -> subprocess.Popen:
    """Another process (a notebook, say) holding target/local.duckdb open to read it."""
    proc = subprocess.Popen([sys.executable, "-c", READER, str(root / "target" / "local.duckdb"),
                             str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "open"
    return proc


def _built_once(tmp_path: Path, lock_wait: str = "") -> Path:
    root = tmp_path / "demo"
    (root / "models").mkdir(parents=True)
    (root / "project.yml").write_text(
        f"name: demo\ntargets:\n  local: {{type: duckdb{lock_wait}}}\n")
    (root / "models" / "m.sql").write_text("SELECT 1 AS n")
    first = runner(root, "build")
    assert first.wait(timeout=120) == 0
    (root / "models" / "m.sql").write_text("SELECT 2 AS n")
    return root


def test_a_build_waits_for_a_reader_of_the_database_to_let_go(tmp_path) -> None:
    """A notebook's read connection blocks a build no longer than it stays open: the build says
    whom it waits for, then runs."""
    root = _built_once(tmp_path)
    reader = _reader(root, 3)
    build = runner(root, "build")
    out, err = build.communicate(timeout=120)
    reader.wait(timeout=30)
    assert build.returncode == 0, err
    assert f"Waiting up to 60 s for PID {reader.pid} (" in out
    assert "to let go of target/local.duckdb (a notebook's open connection?)" in out
    assert "Done. PASS=1" in out
    con = duckdb.connect(str(root / "target" / "local.duckdb"), read_only=True)
    assert con.sql("SELECT n FROM m").fetchall() == [(2,)]
    con.close()


def test_a_reader_that_stays_past_lock_wait_fails_the_build_with_one_line(tmp_path) -> None:
    root = _built_once(tmp_path, ", lock_wait: 1")
    reader = _reader(root, 20)
    try:
        build = runner(root, "build")
        out, err = build.communicate(timeout=120)
    finally:
        reader.kill()
    assert build.returncode == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"Error: target/local.duckdb is held by PID {reader.pid} (")
    assert lines[0].endswith("another process with the database open (such as a notebook's "
                             "duckdb.connect); close that connection (con.close(), or restart the "
                             "kernel) and run again, or raise targets.local.lock_wait")


def test_ls_compile_docs_graph_and_a_read_run_while_a_build_writes(tmp_path) -> None:
    """While a build is writing a slow model, `runner ls`, `compile`, `docs` and `graph` of the
    same target finish correctly, and a notebook's read waits for the write, then sees the new
    version; the build is unaffected."""
    root = tmp_path / "demo"
    (root / "models").mkdir(parents=True)
    (root / "project.yml").write_text("name: demo\ntargets:\n  local: {type: duckdb}\n")
    (root / "models" / "a.sql").write_text("SELECT 1 AS n")
    (root / "models" / "b.sql").write_text(  # seconds of work for DuckDB
        "SELECT count(*) AS c, sum(r.id % 7) AS s FROM a, range(2000000000) AS r(id)")
    assert runner(root, "build").wait(timeout=300) == 0
    (root / "models" / "a.sql").write_text("SELECT 2 AS n")
    build = runner(root, "build")
    for line in build.stdout:  # wait until the build is writing b
        if "START table model b" in line:
            break
    commands = {c[0]: runner(root, *c) for c in (["ls"], ["compile"], ["docs", "--out", str(root / "site")],
                                                  ["graph"])}
    outputs = {}
    for name, proc in commands.items():  # at once, while b is being written
        out, err = proc.communicate(timeout=120)
        assert (proc.returncode, err) == (0, ""), name
        outputs[name] = out
        if len(outputs) == 1:
            still_writing = build.poll() is None
    read = subprocess.run([sys.executable, "-c", "import runner; print(runner.connect("
                           f"{str(root)!r}).table('a')['n'].tolist())"],
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                          text=True, timeout=300)
    out, err = build.communicate(timeout=300)
    assert build.returncode == 0, err
    assert "Done. PASS=2" in out
    assert still_writing  # the commands above ran while the build was writing
    assert outputs["ls"].split() == ["a", "b"]
    assert "Compiled 2 model(s)" in outputs["compile"]
    assert "b" in outputs["graph"] and "a" in outputs["graph"]
    page = (root / "site" / "index.html").read_text()
    assert '"b"' in page and '"a"' in page
    assert (read.returncode, read.stdout) == (0, "[2]\n"), read.stderr
