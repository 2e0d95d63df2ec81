"""Incremental models on DuckDB, PostgreSQL and the emulated Data Distiller: the same behaviour.

A source ``events`` is created in each engine and grown between builds. Two incremental models
read it: ``stg_events`` (a lookback of one day and a unique key: late events are re-read, never
duplicated) and ``plain_events`` (only ``time_column``: rows past the watermark). A first build
is a CTAS; later ones append with the statement ``Adapter.insert_sql`` renders; a run killed
after its INSERT committed, run again, adds no row twice; ``--full-refresh`` and an edit build a
new version in full.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import duckdb
import psycopg2
import pytest

from aep_emulator import Emulator
from aep_emulator.catalog import catalog
from emulator_fixtures import PG_DSN, engine_rows, fast_client, require_postgres, wait_for_query
from runner import BuildOptions, BuildResult, build, plan
from runner.cli.main import main

REPO = Path(__file__).resolve().parents[1]
QUERIES = "/data/foundation/query/queries"
SECRET = "incr-secret-7c1e"
STG = """
    /* config
    materialized: incremental
    incremental: {time_column: event_ts, lookback: 1 day, unique_key: event_id}
    */
    SELECT event_id, user_id, event_ts FROM events
    """
PLAIN = """
    /* config
    materialized: incremental
    incremental: {time_column: event_ts}
    */
    SELECT event_id, event_ts FROM events WHERE user_id <> 'bot'
    """
FIRST = [(1, "u1", "2026-01-01 10:00:00"), (2, "u2", "2026-01-02 10:00:00"),
         (3, "u1", "2026-01-03 10:00:00")]


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


class Engine:
    """One target of a tiny project: where the source lives and how its rows are read."""

    def __init__(self, root: Path, target: str, block: dict, run_sql, schema: str | None = None
                 ) -> None:
        self.root, self.target, self.run_sql, self.schema = root, target, run_sql, schema
        (root / "models").mkdir(parents=True)
        (root / "project.yml").write_text(json.dumps({
            "name": "incr", "default_target": target, "targets": {target: block},
            "sources": {"events": {}}}))
        self.model("stg_events", STG)
        self.model("plain_events", PLAIN)
        self.run_sql("CREATE TABLE events (event_id INT, user_id TEXT, event_ts TIMESTAMP)")

    def model(self, name: str, sql: str) -> None:
        (self.root / "models" / f"{name}.sql").write_text(textwrap.dedent(sql).lstrip())

    def add(self, rows: list[tuple[int, str, str]]) -> None:
        values = ", ".join(f"({i}, '{u}', TIMESTAMP '{t}')" for i, u, t in rows)
        self.run_sql(f"INSERT INTO events VALUES {values}")

    def rows(self, relation: str) -> list[tuple]:
        """The relation's rows, sorted, timestamps as text."""
        return sorted(tuple(v.isoformat(sep=" ") if isinstance(v, datetime) else v for v in row)
                      for row in self.run_sql(f"SELECT * FROM {relation}", fetch=True))

    def new_batch(self) -> None:
        """Give the source a new data version without rows (where the engine keeps one)."""

    def build(self, **options) -> BuildResult:
        result = build(self.root, BuildOptions(target=self.target, **options),
                       echo=lambda _: None)
        assert result.ok, [r.message for r in result.results]
        return result


def _duckdb(root: Path) -> Engine:
    path = root / "target" / "local.duckdb"
    path.parent.mkdir(parents=True, exist_ok=True)

    def run_sql(sql: str, fetch: bool = False) -> list[tuple]:
        con = duckdb.connect(str(path))
        try:
            return con.execute(sql).fetchall() if fetch else (con.execute(sql), [])[1]
        finally:
            con.close()

    return Engine(root, "local", {"type": "duckdb"}, run_sql)


def _postgres(root: Path, schema: str) -> Engine:
    def run_sql(sql: str, fetch: bool = False) -> list[tuple]:
        conn = psycopg2.connect(PG_DSN)
        try:
            with conn, conn.cursor() as cur:
                cur.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema}")
                cur.execute(sql)
                return cur.fetchall() if fetch else []
        finally:
            conn.close()

    return Engine(root, "pg", {"type": "postgres", "dsn": PG_DSN, "schema": schema}, run_sql,
                  schema)


def _distiller(root: Path, emu: Emulator) -> Engine:
    root.mkdir(parents=True)
    (root / "aep.ini").write_text(
        f"[Credential]\nims_org_id = {emu.org_id}\nsandbox_name = {emu.sandbox}\n"
        f"client_id = {emu.client_id}\nclient_secret = {SECRET}\n"
        "scopes = openid, AdobeID, read_organizations\ntech_acct_id = t@techacct.adobe.com\n")

    def run_sql(sql: str, fetch: bool = False) -> list[tuple]:
        if fetch:
            return engine_rows(emu, sql)
        conn = emu.engine.connect()
        with conn, conn.cursor() as cur:
            cur.execute(sql)
        conn.close()
        new_batch()
        return []

    def new_batch() -> None:
        time.sleep(0.002)
        cat = catalog(emu)
        cat.sync()
        cat.touch("events")  # a new batch: Catalog's `updated`, the source's data version

    engine = Engine(root, "aep", {
        "type": "data_distiller", "credentials_file": "aep.ini", "ims_host": emu.url,
        "platform_host": emu.url, "sslmode": "disable", "poll_interval": 0.02}, run_sql)
    engine.new_batch = new_batch  # type: ignore[method-assign]
    return engine


@pytest.fixture(params=["duckdb", "postgres", "data_distiller"])
def engine(request, tmp_path: Path) -> Iterator[Engine]:
    root = tmp_path / "incr"
    if request.param == "duckdb":
        yield _duckdb(root)
        return
    require_postgres()  # skipped locally without PostgreSQL, a failure when CI=true
    if request.param == "postgres":
        schema = f"incr_{uuid.uuid4().hex[:8]}"
        try:
            yield _postgres(root, schema)
        finally:
            conn = psycopg2.connect(PG_DSN)
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
            conn.close()
        return
    with Emulator(engine_dsn=PG_DSN, client_secret=SECRET) as emu:
        yield _distiller(root, emu)


def test_first_build_is_full_then_only_new_rows_are_appended(engine: Engine) -> None:
    engine.add(FIRST)
    first = engine.build().by_name()
    stg = first["stg_events"]
    assert stg.status == "success" and stg.rows == 3
    assert stg.increment == {"full": True, "watermark_before": None,
                             "watermark_after": "2026-01-03 10:00:00", "rows_inserted": 3}
    assert stg.statements[0].startswith(f"CREATE TABLE {stg.physical} ")

    engine.add([(4, "u2", "2026-01-04 09:00:00"), (5, "bot", "2026-01-05 08:00:00")])
    second = engine.build().by_name()
    stg, plain = second["stg_events"], second["plain_events"]
    assert stg.physical == first["stg_events"].physical  # new data: the same version grows
    assert stg.increment == {"full": False, "watermark_before": "2026-01-03 10:00:00",
                             "watermark_after": "2026-01-05 08:00:00", "rows_inserted": 2}
    assert plain.increment == {"full": False, "watermark_before": "2026-01-03 10:00:00",
                               "watermark_after": "2026-01-04 09:00:00", "rows_inserted": 1}
    table = plain.physical
    assert plain.statements == [
        f"INSERT INTO {table} SELECT * FROM (SELECT event_id, event_ts FROM events WHERE "
        f"user_id <> 'bot') AS incoming WHERE (incoming.event_ts > (SELECT MAX(event_ts) FROM "
        f"{table}) OR NOT EXISTS(SELECT 1 FROM {table}))"]
    assert engine.rows("stg_events") == [*FIRST, (4, "u2", "2026-01-04 09:00:00"),
                                         (5, "bot", "2026-01-05 08:00:00")]
    assert engine.rows("plain_events") == [(1, "2026-01-01 10:00:00"), (2, "2026-01-02 10:00:00"),
                                           (3, "2026-01-03 10:00:00"), (4, "2026-01-04 09:00:00")]
    run_results = json.loads((engine.root / "target/run_results.json").read_text())
    response = {r["unique_id"]: r["adapter_response"] for r in run_results["results"]}
    assert response["model.incr.stg_events"]["incremental"] == stg.increment
    assert response["model.incr.stg_events"]["_message"] == (
        f"OK appended to incremental {stg.physical}")


def test_lookback_rereads_late_events_without_duplicates(engine: Engine) -> None:
    engine.add(FIRST)
    engine.build()
    # late: inside the one-day lookback (kept once) and older than it (not read again)
    engine.add([(6, "u3", "2026-01-02 18:00:00"), (7, "u3", "2026-01-01 09:00:00"),
                (8, "u1", "2026-01-03 11:00:00")])
    result = engine.build().by_name()
    assert result["stg_events"].rows == 2
    assert result["plain_events"].rows == 1  # no lookback: only past the watermark
    assert engine.rows("stg_events") == [*FIRST, (6, "u3", "2026-01-02 18:00:00"),
                                         (8, "u1", "2026-01-03 11:00:00")]
    engine.add([(9, "u2", "2026-01-03 12:00:00")])
    again = engine.build().by_name()  # the window again: only 9 is not in the table yet
    assert (again["stg_events"].rows, again["plain_events"].rows) == (1, 1)
    assert [r[0] for r in engine.rows("stg_events")] == [1, 2, 3, 6, 8, 9]


def test_full_refresh_and_an_edit_build_a_new_version_in_full(engine: Engine) -> None:
    engine.add(FIRST)
    first = engine.build().by_name()["stg_events"]
    engine.add([(7, "u3", "2026-01-01 09:00:00")])  # too late for any append
    refreshed = engine.build(full_refresh=True).by_name()["stg_events"]
    assert refreshed.physical != first.physical
    assert refreshed.increment["full"] and refreshed.rows == 4
    assert engine.rows("stg_events") == sorted([*FIRST, (7, "u3", "2026-01-01 09:00:00")])

    engine.model("stg_events", STG.replace("SELECT event_id,", "SELECT event_id, 1 AS v,"))
    edited = engine.build().by_name()["stg_events"]
    assert edited.physical not in (first.physical, refreshed.physical)
    assert edited.increment["full"] and edited.rows == 4
    assert engine.rows("stg_events")[0] == (1, 1, "u1", "2026-01-01 10:00:00")


def test_a_run_killed_at_any_point_then_run_again_adds_nothing_twice(engine: Engine) -> None:
    """The append is killed (SIGKILL) at its first crash point, run again and killed at its
    second, and so on until a run ends: each kill after an INSERT committed is followed by a
    run that appends the same rows again, and must add none of them twice."""
    engine.add(FIRST)
    engine.build()
    engine.add([(4, "u2", "2026-01-04 09:00:00"), (6, "u3", "2026-01-02 18:00:00")])
    log = engine.root / "crash.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "emulator")]),
           "RUNNER_CRASH_LOG": str(log)}
    command = [sys.executable, "-m", "runner.cli.main", "build", "--project-dir",
               str(engine.root), "-t", engine.target, "--threads", "1"]
    killed_at = []
    for at in range(1, 60):
        log.unlink(missing_ok=True)
        engine.new_batch()  # so no run skips an append: the kill points stay where they were
        proc = subprocess.run(command, env={**env, "RUNNER_CRASH_AT": str(at)},
                              capture_output=True, text=True, timeout=120)
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        killed_at.append(log.read_text().splitlines()[-1].split(" ", 1)[1])
    else:
        raise AssertionError("the build never finished")
    assert {k.split("__")[0] for k in killed_at if k.startswith("appended to")} == {
        "appended to stg_events", "appended to plain_events"}, killed_at
    assert engine.rows("stg_events") == sorted([*FIRST, (4, "u2", "2026-01-04 09:00:00"),
                                                (6, "u3", "2026-01-02 18:00:00")])
    assert engine.rows("plain_events") == [(1, "2026-01-01 10:00:00"), (2, "2026-01-02 10:00:00"),
                                           (3, "2026-01-03 10:00:00"), (4, "2026-01-04 09:00:00")]


# -- DuckDB only: data versions, the plan, config errors -------------------------------------
def _file_project(root: Path, csv: str) -> None:
    (root / "models").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "data" / "events.csv").write_text(csv)
    (root / "project.yml").write_text("name: incr\nsources:\n  events: {path: data/events.csv}\n")
    (root / "models" / "stg_events.sql").write_text(textwrap.dedent(STG).lstrip())
    (root / "models" / "per_user.sql").write_text(
        "SELECT user_id, count(*) AS n FROM stg_events GROUP BY user_id\n")


CSV = "event_id,user_id,event_ts\n1,u1,2026-01-01 10:00:00\n2,u2,2026-01-02 10:00:00\n"


def test_new_source_data_appends_and_rebuilds_what_reads_it(tmp_path: Path) -> None:
    _file_project(tmp_path, CSV)
    first = build(tmp_path, echo=lambda _: None).by_name()
    again = build(tmp_path, echo=lambda _: None).by_name()
    assert {r.status for r in again.values()} == {"noop"}  # the same data version: nothing new
    assert again["stg_events"].message == "up to date (no new data)"
    with open(tmp_path / "data" / "events.csv", "a") as handle:
        handle.write("3,u2,2026-01-03 10:00:00\n")
    lines = plan(tmp_path, echo=lambda _: None).lines()
    assert [line.split("; est. ")[0] for line in lines[:2]] == [
        "stg_events: incremental: append since 2026-01-02 10:00:00 less 86400 s of lookback",
        "per_user: data changed (stg_events)"]
    third = build(tmp_path, echo=lambda _: None).by_name()
    assert third["stg_events"].physical == first["stg_events"].physical
    assert third["stg_events"].rows == 1
    assert third["per_user"].physical != first["per_user"].physical  # it read the new rows
    con = duckdb.connect(str(tmp_path / "target" / "local.duckdb"), read_only=True)
    assert sorted(con.sql("SELECT * FROM per_user").fetchall()) == [("u1", 1), ("u2", 2)]
    con.close()


def test_a_table_model_keeps_its_version_name(tmp_path: Path) -> None:
    """Only incremental models leave data versions out: a table's name still changes with them."""
    _file_project(tmp_path, CSV)
    (tmp_path / "models" / "stg_events.sql").write_text("SELECT * FROM events\n")
    first = build(tmp_path, echo=lambda _: None).by_name()["stg_events"]
    with open(tmp_path / "data" / "events.csv", "a") as handle:
        handle.write("3,u2,2026-01-03 10:00:00\n")
    second = build(tmp_path, echo=lambda _: None).by_name()["stg_events"]
    assert second.physical != first.physical and second.increment is None


def test_new_data_upstream_appends_but_an_upstream_edit_builds_anew(tmp_path: Path) -> None:
    """Through a table parent: its new data (a new parent version) appends to the same
    incremental version; an edit of the parent's SQL makes a new one, built in full."""
    _file_project(tmp_path, CSV)
    (tmp_path / "models" / "per_user.sql").unlink()
    (tmp_path / "models" / "src.sql").write_text("SELECT * FROM events\n")
    (tmp_path / "models" / "stg_events.sql").write_text(
        textwrap.dedent(STG).lstrip().replace("FROM events", "FROM src"))
    first = build(tmp_path, echo=lambda _: None).by_name()
    with open(tmp_path / "data" / "events.csv", "a") as handle:
        handle.write("3,u2,2026-01-03 10:00:00\n")
    second = build(tmp_path, echo=lambda _: None).by_name()
    assert second["src"].physical != first["src"].physical
    assert second["stg_events"].physical == first["stg_events"].physical
    assert second["stg_events"].increment == {
        "full": False, "watermark_before": "2026-01-02 10:00:00",
        "watermark_after": "2026-01-03 10:00:00", "rows_inserted": 1}
    (tmp_path / "models" / "src.sql").write_text("SELECT * FROM events WHERE event_id > 1\n")
    third = build(tmp_path, echo=lambda _: None).by_name()
    assert third["stg_events"].physical != first["stg_events"].physical
    assert third["stg_events"].increment["full"] and third["stg_events"].rows == 2


@pytest.mark.parametrize("config, message", [
    ("incremental: {time_column: event_ts, lookbak: 1 day, unique_key: event_id}",
     "incremental: unknown key 'lookbak' (did you mean 'lookback'?) (allowed: lookback, "
     "time_column, unique_key)"),
    ("incremental: {lookback: 1 day}",
     "materialized: incremental needs incremental: {time_column: <column>}, e.g. incremental: "
     "{time_column: event_ts, lookback: 2 days, unique_key: event_id}"),
    ("incremental: {time_column: event_ts, lookback: two days, unique_key: event_id}",
     "incremental.lookback: 'two days' is not a duration; write seconds (3600) or a number and "
     "a unit (2 days, 6 hours, 30 minutes)"),
    ("incremental: {time_column: event_ts, lookback: 3600}",
     "incremental.lookback: re-read rows would be inserted twice without a unique_key; add "
     "incremental.unique_key or remove lookback"),
    ("incremental: {time_column: event_ts, unique_key: [1]}",
     "incremental.unique_key: expected a column name or a list of them"),
])
def test_a_config_error_is_one_line_naming_the_file(tmp_path: Path, capsys, config: str,
                                                    message: str) -> None:
    _file_project(tmp_path, CSV)
    (tmp_path / "models" / "stg_events.sql").write_text(
        f"/* config\nmaterialized: incremental\n{config}\n*/\nSELECT * FROM events\n")
    assert main(["build", "--project-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"Error: models/stg_events.sql:1: config block: {message}"


def test_incremental_config_on_a_table_is_an_error(tmp_path: Path, capsys) -> None:
    _file_project(tmp_path, CSV)
    (tmp_path / "models" / "stg_events.sql").write_text(
        "/* config\nincremental: {time_column: event_ts}\n*/\nSELECT * FROM events\n")
    assert main(["build", "--project-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (
        "Error: models/stg_events.sql:1: config block: incremental: only incremental models "
        "have it; remove it or use materialized: incremental")


# -- Data Distiller: what the service allows, and an INSERT sent once --------------------------
@pytest.mark.parametrize("sql, kind", [
    ("DELETE FROM t WHERE a = 1", "DELETE"), ("UPDATE t SET a = 2", "UPDATE"),
    ("MERGE INTO t USING t AS s ON t.a = s.a WHEN MATCHED THEN DELETE", "MERGE"),
    ("TRUNCATE TABLE t", "TRUNCATE")])
def test_the_emulator_refuses_what_data_distiller_does_not_run(emulator: Emulator, sql: str,
                                                                kind: str) -> None:
    client = fast_client(emulator)
    for setup in ("CREATE TABLE t AS SELECT 1 AS a", "INSERT INTO t SELECT 2 AS a"):
        posted = client.post(QUERIES, json={"dbName": f"{emulator.sandbox}:all", "sql": setup})
        assert wait_for_query(client, posted["id"])["state"] == "SUCCESS"
    posted = client.post(QUERIES, json={"dbName": f"{emulator.sandbox}:all", "sql": sql})
    query = wait_for_query(client, posted["id"])
    assert query["state"] == "FAILED" and query["errors"] == [{"code": "0A000", "message": (
        f"{kind} is not supported: Data Distiller datasets are created (CREATE TABLE AS) or "
        "appended to (INSERT INTO ... SELECT)")}]
    assert engine_rows(emulator, "SELECT a FROM t ORDER BY a") == [(1,), (2,)]
    client.close()


def test_an_insert_whose_answer_was_lost_is_not_sent_again(tmp_path: Path) -> None:
    require_postgres()
    with Emulator(engine_dsn=PG_DSN, client_secret=SECRET) as emu:
        engine = _distiller(tmp_path / "incr", emu)
        engine.add(FIRST)
        engine.build()
        engine.add([(4, "u2", "2026-01-04 09:00:00")])
        before = len(emu.requests_to(QUERIES, "POST"))
        # every INSERT is served, but its answer is a 504: the client cannot know it ran
        emu.faults.lose_answer(QUERIES, method="POST", times=2)
        result = engine.build(threads=1).by_name()
        inserts = [r.json["sql"] for r in emu.requests_to(QUERIES, "POST")[before:]]
        assert sorted(sql.split(" ", 3)[:3] for sql in inserts) == [
            ["INSERT", "INTO", result["plain_events"].physical],
            ["INSERT", "INTO", result["stg_events"].physical]]  # each sent once, adopted
        assert all(f.times == 0 for f in emu.faults.faults)
        assert result["stg_events"].rows == 1 and result["stg_events"].query_id
        assert engine.rows("stg_events") == sorted([*FIRST, (4, "u2", "2026-01-04 09:00:00")])
        assert [r[0] for r in engine.rows("plain_events")] == [1, 2, 3, 4]


def test_the_manifest_names_the_incremental_config(tmp_path: Path) -> None:
    _file_project(tmp_path, CSV)
    build(tmp_path, echo=lambda _: None)
    nodes = json.loads((tmp_path / "target/manifest.json").read_text())["nodes"]
    runner_meta = nodes["model.incr.stg_events"]["meta"]["runner"]
    assert runner_meta["incremental"] == {"time_column": "event_ts", "lookback": 86400,
                                          "unique_key": ["event_id"]}
    assert "incremental" not in nodes["model.incr.per_user"]["meta"]["runner"]


def test_an_insert_refused_with_a_5xx_fails_the_model_and_the_next_build_appends(
        tmp_path: Path) -> None:
    require_postgres()
    with Emulator(engine_dsn=PG_DSN, client_secret=SECRET) as emu:
        engine = _distiller(tmp_path / "incr", emu)
        engine.model("plain_events", "SELECT 1 AS x\n")
        engine.add(FIRST)
        engine.build()
        engine.add([(4, "u2", "2026-01-04 09:00:00")])
        emu.faults.fail(QUERIES, method="POST", status=502)  # not served: nothing was started
        failed = build(engine.root, BuildOptions(target="aep"), echo=lambda _: None)
        outcome = failed.by_name()["stg_events"]
        assert outcome.status == "error" and outcome.message.startswith(
            "target 'aep': model stg_events: the submission of a statement that must run once "
            "got no answer (POST /data/foundation/query/queries failed: 502 BadGateway")
        assert outcome.message.endswith(
            "and no such query is listed; it was not sent again, so nothing ran twice: build "
            "again")
        assert len(engine.rows("stg_events")) == 3
        assert engine.build().by_name()["stg_events"].rows == 1
        assert engine.rows("stg_events") == sorted([*FIRST, (4, "u2", "2026-01-04 09:00:00")])
