"""``Connection.query`` on Data Distiller keeps to the interactive limits of an ad hoc query over
the PostgreSQL interface (contract §2.4: 10 minutes, then SQLSTATE 53400; 50,000 rows a result),
with a one-line error saying what to do, and ``query(sql, into=name)`` runs the query as a batch
CTAS into a dataset instead, which ``table(name)`` reads. Against the emulator, whose PostgreSQL
endpoint enforces both limits as the service does; ``into`` on DuckDB too."""

from __future__ import annotations

import psycopg2
import pytest
import yaml

import runner
from aep_emulator import Emulator
from emulator_fixtures import fast_client
from runner.errors import ProjectError, RunError
from test_distiller_build import dd_root, emu  # noqa: F401 - fixtures

QUERIES = "/data/foundation/query/queries"
BIG = 50_001  # one row past the limit
pytestmark = pytest.mark.postgres


@pytest.fixture
def project(dd_root, emu):
    """test_distiller_build's project on the emulator, with a source ``big`` one row past the
    limit."""
    conn = emu.engine.connect()
    with conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE big AS SELECT g AS id FROM generate_series(1, {BIG}) g")
    conn.close()
    config = yaml.safe_load((dd_root / "project.yml").read_text())
    config["sources"]["big"] = {}
    (dd_root / "project.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    with runner.connect(dd_root) as connection:
        yield connection


def pg_session(emu: Emulator):
    """A plain psycopg2 session on the emulator's PostgreSQL endpoint (as aepp opens one)."""
    client = fast_client(emu)
    params = client.get("/data/foundation/query/connection_parameters")
    client.close()
    return psycopg2.connect(host=params["host"], port=params["port"], dbname=params["dbName"],
                            user=params["username"], password=params["token"], sslmode="disable")


def test_the_emulator_holds_a_result_to_the_row_limit_and_times_out_with_53400(emu) -> None:
    emu.set_interactive_limits(row_limit=5, interactive_timeout=0.3)
    conn = pg_session(emu)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT g FROM generate_series(1, 12) g")
            assert (cur.rowcount, cur.fetchall()) == (5, [(1,), (2,), (3,), (4,), (5,)])
            cur.execute("SELECT g FROM generate_series(1, 3) g ORDER BY g")
            assert cur.fetchall() == [(1,), (2,), (3,)]
            with pytest.raises(psycopg2.Error) as failed:
                cur.execute("SELECT pg_sleep(2)")
        assert failed.value.pgcode == "53400"
        assert failed.value.diag.message_primary == (
            "Query exceeded the maximum execution time of 0.3 seconds for an ad hoc query; "
            "run it as a batch query (CREATE TABLE ... AS) instead")
        conn.rollback()
        with conn.cursor() as cur:  # the session goes on
            cur.execute("SELECT 42")
            assert cur.fetchall() == [(42,)]
    finally:
        conn.close()


def test_the_contract_limits_by_default(emu) -> None:
    conn = pg_session(emu)
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT g FROM generate_series(1, {BIG}) g")
            assert cur.rowcount == 50_000 and len(cur.fetchall()) == 50_000
            cur.execute("SHOW statement_timeout")
            assert cur.fetchall() == [("10min",)]
    finally:
        conn.close()


def test_a_query_past_the_row_limit_is_a_clear_error(project) -> None:
    with pytest.raises(RunError) as failed:
        project.query("SELECT id FROM big")
    assert str(failed.value) == (
        "target 'aep': the query returns more than 50,000 rows, Data Distiller's limit for an "
        "ad hoc query over its PostgreSQL interface; add a LIMIT or aggregate, or run it as a "
        "batch query into a dataset: query(sql, into='<name>')")
    exactly = project.query("SELECT id FROM big WHERE id <= 50000", arrow=True)
    assert exactly.num_rows == 50_000 and exactly.column("id").to_pylist()[-1] == 50_000


def test_a_query_past_the_time_limit_is_a_clear_error(project, emu) -> None:
    emu.set_interactive_limits(interactive_timeout=0.3)
    with pytest.raises(RunError) as failed:
        project.query("SELECT count(*) AS n FROM big a CROSS JOIN big b")
    assert str(failed.value) == (
        "target 'aep': the query ran past Data Distiller's 10-minute limit for an ad hoc query "
        "(SQLSTATE 53400); run it as a batch query into a dataset: query(sql, into='<name>')")


def test_into_runs_a_batch_ctas_into_a_dataset_that_table_reads(project, emu) -> None:
    made = project.query("SELECT id, id * 2 AS twice FROM big", into="big_twice")
    assert (made.name, made.target, made.rows) == ("big_twice", "aep", BIG)
    assert made.dataset_id and made.query_id
    assert str(made) == f"table big_twice on target 'aep' (50,001 rows), dataset {made.dataset_id}"
    posted = [r.json for r in emu.requests_to(QUERIES, "POST")]
    assert [(q["sql"], q["name"], q["dbName"]) for q in posted] == [
        ("CREATE TABLE big_twice AS SELECT id, id * 2 AS twice FROM big", "big_twice",
         f"{emu.sandbox}:all")]
    assert project.table("big_twice", limit=2).values.tolist() == [[1, 2], [2, 4]]
    summary = project.query("SELECT count(*) AS n, sum(twice) AS s FROM big_twice")
    assert summary.values.tolist() == [[BIG, BIG * (BIG + 1)]]


@pytest.mark.parametrize(("into", "message"), [
    ("big_twice", "<query>: into='big_twice': a table of that name exists on target 'aep'; "
                  "pick another name (or drop it)"),
    ("big", "<query>: into='big' is a model or source of the project; pick another name for "
            "the query's table"),
    ("bad name", "<query>: into='bad name' is not a table name; use letters, digits and "
                 "underscores, starting with a letter"),
])
def test_into_refuses_a_name_in_use_or_malformed(project, emu, into, message) -> None:
    conn = emu.engine.connect()
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE big_twice AS SELECT 1 AS id")
    conn.close()
    before = len(emu.requests_to(QUERIES, "POST"))
    with pytest.raises(ProjectError) as failed:
        project.query("SELECT id FROM big", into=into)
    assert str(failed.value) == message
    assert len(emu.requests_to(QUERIES, "POST")) == before  # nothing submitted


def test_into_on_duckdb(tmp_path) -> None:
    """The same call on the embedded default: a table, read back through table()."""
    from conftest import ProjectDir

    local = ProjectDir(tmp_path / "local")
    local.write("project.yml", "name: local\nsources: {raw_orders: {}}\n")
    local.model("orders", "SELECT order_id, amount FROM raw_orders")
    local.seed("CREATE TABLE raw_orders AS SELECT * FROM (VALUES (1, 5.0), (2, 20.0)) "
               "AS t(order_id, amount)")
    with runner.connect(local.root) as conn:
        made = conn.query("SELECT order_id, amount * 2 AS doubled FROM raw_orders", into="twice")
        assert (made.name, made.rows, made.dataset_id) == ("twice", 2, None)
        assert conn.table("twice").values.tolist() == [[1, 10.0], [2, 40.0]]
    assert local.sql("SELECT order_id FROM twice ORDER BY 1") == [(1,), (2,)]
