"""The PostgreSQL adapter against the real server on 127.0.0.1:5432 (user postgres, trust auth).

Each test works in a schema of its own. When the server is down the tests skip locally and fail
under CI=true.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import psycopg2
import pytest
import sqlglot

from runner.project.model import ModelDDLConfig
from runner.adapters.pg_common import statement_info
from runner.adapters.postgres import PostgresAdapter
from runner.errors import ProjectError, RunError
from emulator_fixtures import PG_DSN, require_postgres

DSN = PG_DSN
pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def admin():
    """An autocommit connection for setting up and inspecting (not the adapter's)."""
    require_postgres(DSN)
    conn = psycopg2.connect(DSN)
    conn.autocommit = True
    yield conn
    conn.close()


@pytest.fixture
def adapter(admin):
    schema = f"c2_{uuid.uuid4().hex[:10]}"
    pg = PostgresAdapter("pg", {"type": "postgres", "dsn": DSN, "schema": schema}, Path("."))
    pg.open()
    yield pg
    pg.close()
    with admin.cursor() as cur:
        cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def select(sql: str) -> sqlglot.exp.Query:
    return sqlglot.parse_one(sql, read="postgres")


def test_renders_ddl_in_postgres():
    pg = PostgresAdapter("pg", {"type": "postgres", "dsn": DSN}, Path("."))
    query = select("SELECT user_id, COUNT(*) AS n FROM events GROUP BY user_id")
    ddl = ModelDDLConfig(schema="Ignored", rowvalidation=False, label="PROFILE")
    assert pg.create_table_sql("m__ab12", query, ddl) == (
        "CREATE TABLE m__ab12 AS SELECT user_id, COUNT(*) AS n FROM events GROUP BY user_id")
    assert pg.create_view_sql("v__ab12", select("SELECT 1 AS x")) == (
        "CREATE VIEW v__ab12 AS SELECT 1 AS x")
    assert pg.pointer_sql("m", "m__ab12") == (
        "DROP VIEW IF EXISTS m; CREATE VIEW m AS SELECT * FROM m__ab12")
    assert pg.pointer_sql("My Model", "My Model__ab12") == (
        'DROP VIEW IF EXISTS "My Model"; CREATE VIEW "My Model" AS SELECT * FROM "My Model__ab12"')
    assert pg.drop_sql("m__ab12", "table") == "DROP TABLE IF EXISTS m__ab12"
    assert pg.drop_sql("m", "view") == "DROP VIEW IF EXISTS m"


def test_config_is_validated():
    with pytest.raises(ProjectError) as err:
        PostgresAdapter.validate_config({"type": "postgres"}, "targets.pg")
    assert str(err.value).startswith("project.yml: targets.pg.dsn: missing")
    with pytest.raises(ProjectError) as err:
        PostgresAdapter.validate_config({"type": "postgres", "dsn": DSN, "shema": "x"},
                                        "targets.pg")
    assert "targets.pg.shema: unknown key (did you mean 'schema'?)" in str(err.value)
    with pytest.raises(ProjectError) as err:
        PostgresAdapter.validate_config({"type": "postgres", "dsn": "host=x password=p4ss port"},
                                        "targets.pg")
    assert str(err.value) == ("project.yml: targets.pg.dsn: not a valid libpq connection string "
                              "or postgresql:// URL")
    with pytest.raises(ProjectError, match=r"targets.pg.schema: expected a schema name, got int 3"):
        PostgresAdapter.validate_config({"type": "postgres", "dsn": DSN, "schema": 3}, "targets.pg")


def test_builds_reads_and_lists_in_its_schema(adapter, admin):
    sql = adapter.create_table_sql(
        "m__01", select("SELECT i, i * 10 AS v, 'x' || i AS s FROM generate_series(1, 3) AS g(i)"),
        ModelDDLConfig())
    result = adapter.materialize(sql, model="m", physical="m__01")
    assert result.rows == 3 and result.dataset_id is None
    adapter.execute(adapter.pointer_sql("m", "m__01"))
    view = adapter.materialize(adapter.create_view_sql("w__01", select("SELECT i FROM m")),
                               model="w", physical="w__01")
    assert view.rows is None
    assert adapter.relations() == {"m__01": "table", "m": "view", "w__01": "view"}
    assert adapter.exists("M") and not adapter.exists("nope")
    assert adapter.row_count("m") == 3
    assert adapter.fetch("SELECT i, v, s FROM m ORDER BY i") == [(1, 10, "x1"), (2, 20, "x2"),
                                                                (3, 30, "x3")]
    table = adapter.fetch_arrow("SELECT i, v, s FROM m WHERE i > 1 ORDER BY i")
    assert table.to_pydict() == {"i": [2, 3], "v": [20, 30], "s": ["x2", "x3"]}
    empty = adapter.fetch_arrow("SELECT i, s FROM m WHERE i > 9")
    assert (empty.num_rows, str(empty.schema.field("i").type), str(empty.schema.field("s").type)) \
        == (0, "int32", "string")
    with admin.cursor() as cur:  # really in the schema, not in public
        cur.execute("SELECT table_schema FROM information_schema.tables WHERE table_name = 'm__01'")
        assert cur.fetchall() == [(adapter.schema,)]
    adapter.execute(adapter.drop_sql("w__01", "view"))
    adapter.execute(adapter.drop_sql("w__01", "view"))  # IF EXISTS: a second drop is fine
    assert adapter.relations() == {"m__01": "table", "m": "view"}


def test_pointer_moves_to_any_column_list_atomically(adapter, admin):
    adapter.execute("CREATE TABLE m__01 AS SELECT 1 AS a, 2 AS b, 3 AS c")
    adapter.execute("CREATE TABLE m__02 AS SELECT 'y' AS c, 1 AS a")  # reordered, b dropped, c retyped
    adapter.execute(adapter.pointer_sql("m", "m__01"))
    adapter.execute(adapter.pointer_sql("m", "m__02"))
    assert adapter.fetch_arrow("SELECT * FROM m").to_pydict() == {"c": ["y"], "a": [1]}
    adapter.execute(adapter.pointer_sql("m", "m__01"))  # and back
    assert adapter.fetch_arrow("SELECT * FROM m").to_pydict() == {"a": [1], "b": [2], "c": [3]}
    # one transaction: a CREATE that fails leaves the old pointer in place
    with pytest.raises(RunError) as err:
        adapter.execute(adapter.pointer_sql("m", "m__missing"))
    assert str(err.value) == ('target \'pg\': relation "m__missing" does not exist '
                              "(SQLSTATE 42P01)")
    assert adapter.fetch("SELECT * FROM m") == [(1, 2, 3)]
    # safe to repeat: sent again after the server dropped the connection
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", (adapter.fetch("SELECT pg_backend_pid()")[0][0],))
    adapter.execute(adapter.pointer_sql("m", "m__02"))
    assert adapter.fetch("SELECT * FROM m") == [("y", 1)]
    assert adapter.relations() == {"m__01": "table", "m__02": "table", "m": "view"}


def test_sql_error_names_target_model_and_sqlstate(adapter):
    with pytest.raises(RunError) as err:
        adapter.materialize("CREATE TABLE bad__01 AS SELECT * FROM missing_source", model="bad",
                            physical="bad__01")
    assert str(err.value) == ("target 'pg': model bad: relation \"missing_source\" does not exist "
                              "(SQLSTATE 42P01)")
    assert err.value.pgcode == "42P01"


def test_password_is_masked_in_connection_errors(admin):
    secret = "hunter2secret"
    dsn = f"postgresql://postgres:{secret}@127.0.0.1:5432/{secret}"  # the database name leaks it
    pg = PostgresAdapter("pg", {"type": "postgres", "dsn": dsn}, Path("."))
    with pytest.raises(RunError) as err:
        pg.open()
    message = str(err.value)
    assert message.startswith("target 'pg': cannot connect: ")
    assert 'database "***" does not exist' in message and secret not in message
    pg.close()


def test_one_connection_per_thread(adapter):
    seen: list[tuple[int, str]] = []
    barrier = threading.Barrier(3)

    def work() -> None:
        barrier.wait()
        for _ in range(2):
            seen.extend(adapter.fetch("SELECT pg_backend_pid(), current_schema()"))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 6 and len({pid for pid, _ in seen}) == 3
    assert {schema for _, schema in seen} == {adapter.schema}  # search_path set on each
    conns = list(adapter.sessions._all)
    adapter.close()
    assert len(conns) == 4 and all(conn.closed for conn in conns)  # 3 workers + open()


def _terminate_when_running(admin, fragment: str) -> threading.Thread:
    """Start a thread that kills the backend running a statement containing ``fragment``."""
    def run() -> None:
        for _ in range(500):
            with admin.cursor() as cur:
                cur.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                            "state = 'active' AND application_name = 'runner' AND query LIKE %s",
                            (f"%{fragment}%",))
                if cur.fetchall():
                    return
            time.sleep(0.01)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_read_survives_a_terminated_connection(adapter, admin):
    before = adapter.fetch("SELECT pg_backend_pid()")[0][0]
    with admin.cursor() as cur:
        cur.execute("SELECT pg_terminate_backend(%s)", (before,))
    after = adapter.fetch("SELECT pg_backend_pid()")[0][0]
    assert after != before
    assert adapter.relations() == {}


def test_ctas_cut_by_a_dropped_connection_is_redone_once(adapter, admin, monkeypatch):
    sent: list[str] = []
    run = adapter.sessions.run
    monkeypatch.setattr(adapter.sessions, "run",
                        lambda sql, **kw: sent.append(sql) or run(sql, **kw))
    tag = f"kill-me-ctas-{adapter.schema}"  # unique: other test runs may share the server
    sql = ("CREATE TABLE slow__01 AS SELECT i FROM generate_series(1, 4) AS g(i), "
           f"(SELECT pg_sleep(1)) AS pause  -- {tag}")
    killer = _terminate_when_running(admin, tag)
    result = adapter.materialize(sql, model="slow", physical="slow__01")
    killer.join()
    assert result.rows == 4
    # the first CTAS died with its backend; the partial table was dropped; the retry built it
    assert sent == [sql, "DROP TABLE IF EXISTS slow__01"]
    assert adapter.fetch("SELECT count(*) FROM slow__01") == [(4,)]


def test_insert_cut_by_a_dropped_connection_is_not_repeated(adapter, admin):
    adapter.execute("CREATE TABLE t (i int)")
    tag = f"kill-me-insert-{adapter.schema}"
    killer = _terminate_when_running(admin, tag)
    with pytest.raises(RunError) as err:
        adapter.execute(f"INSERT INTO t SELECT 1 FROM (SELECT pg_sleep(1)) AS p  -- {tag}")
    killer.join()
    message = str(err.value)  # libpq reports the kill in one of two ways
    assert message in ("target 'pg': server closed the connection unexpectedly",
                       "target 'pg': terminating connection due to administrator command "
                       "(SQLSTATE 57P01)")
    assert adapter.fetch("SELECT count(*) FROM t") == [(0,)]


@pytest.mark.parametrize("sql, kind, idempotent, target, sources", [
    ("CREATE TABLE a AS SELECT * FROM b", "create_table", False, "a", ("b",)),
    ("CREATE TABLE IF NOT EXISTS a AS SELECT 1", "create_table", True, "a", ()),
    ("CREATE OR REPLACE VIEW v AS WITH c AS (SELECT * FROM s.b) SELECT * FROM c, d",
     "create_view", True, "v", ("d", "s.b")),
    ("DROP VIEW IF EXISTS v", "drop", True, "v", ()),
    ("DROP VIEW IF EXISTS m; CREATE VIEW m AS SELECT * FROM m__1", "create_view", True, "m",
     ("m__1",)),
    ("DROP VIEW IF EXISTS x; CREATE VIEW m AS SELECT 1", "create_view", False, "m", ()),
    ("DROP VIEW m; CREATE VIEW m AS SELECT 1", "create_view", False, "m", ()),
    ("CREATE TABLE a AS SELECT 1; DROP VIEW IF EXISTS v", "drop", False, "v", ()),
    ("DROP TABLE t", "drop", False, "t", ()),
    ("INSERT INTO t SELECT * FROM u", "insert", False, "t", ("u",)),
    ("SELECT count(*) FROM T", "select", True, None, ("t",)),
    ("SET x = 1", "other", False, None, ()),
])
def test_statement_info(sql, kind, idempotent, target, sources):
    info = statement_info(sql, "postgres")
    assert (info.kind, info.idempotent, info.target, info.sources) == (kind, idempotent, target,
                                                                       sources)


def test_cancel_stops_running_statements(adapter):
    errors: list[RunError] = []

    def slow() -> None:
        try:
            adapter.fetch("SELECT pg_sleep(30)")
        except RunError as exc:
            errors.append(exc)

    worker = threading.Thread(target=slow)
    worker.start()
    while adapter.fetch("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND "
                        "query = 'SELECT pg_sleep(30)'") == [(0,)]:
        time.sleep(0.01)
    adapter.cancel()
    worker.join()
    assert [str(e) for e in errors] == [
        "target 'pg': canceling statement due to user request (SQLSTATE 57014)"]
