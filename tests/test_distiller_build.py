"""Whole builds on the engine targets: the emulated Data Distiller and a real PostgreSQL schema.

One seven-model project over two flat sources is written into tmp_path and built in-process with
``runner.run.build`` on a ``data_distiller`` target whose hosts are the emulator's, and on a
``postgres`` target. Each test checks the values in the engine, that a second build runs
nothing, and that a full rebuild with faults switched on (throttling, server errors, slow
responses, an expired token, dropped SQL connections) yields the same tables and no duplicate
dataset. No secret may reach the output, the logs or target/.
"""

from __future__ import annotations

import textwrap
from decimal import Decimal
import uuid
from pathlib import Path

import psycopg2
import pytest
import yaml

from runner import BuildOptions, BuildResult, build
from runner.adapters.pg_common import PgSessions
from aep_emulator import Emulator
from aep_emulator.catalog import catalog
from emulator_fixtures import PG_DSN, engine_rows, require_postgres

SECRET = "c2-build-secret-5b4a39"
QUERIES = "/data/foundation/query/queries"
DATASETS = "/data/foundation/catalog/dataSets"
pytestmark = pytest.mark.postgres

SOURCES = """
    CREATE TABLE raw_orders AS SELECT * FROM (VALUES
      (1, 'u1', 5.0), (2, 'u1', 20.0), (3, 'u2', 30.0), (4, 'u3', 12.5), (5, 'u3', 7.5),
      (6, 'u4', -1.0)) AS t(order_id, user_id, amount);
    CREATE TABLE raw_users AS SELECT * FROM (VALUES
      ('u1', 'Gold'), ('u2', 'Silver'), ('u3', 'Gold'), ('u4', 'Bronze'), ('u5', 'Silver'))
      AS t(user_id, tier);
"""

MODELS = {
    "staging/stg_orders": """
        /* config
        materialized: view
        */
        SELECT order_id, user_id, amount FROM raw_orders WHERE amount > 0
        """,
    "staging/stg_users": "SELECT user_id, lower(tier) AS tier FROM raw_users",
    "features/user_orders": """
        /* config
        with: {label: PROFILE}
        */
        SELECT user_id, count(*) AS n_orders, sum(amount) AS total
        FROM stg_orders GROUP BY user_id
        """,
    "features/user_tier": """
        SELECT u.user_id, u.tier, coalesce(o.n_orders, 0) AS n_orders,
               coalesce(o.total, 0) AS total
        FROM stg_users u LEFT JOIN user_orders o ON u.user_id = o.user_id
        """,
    "features/big_spenders": "SELECT user_id FROM user_tier WHERE total >= var('min_total')",
    "training_set": """
        SELECT t.user_id, t.tier, t.n_orders, t.total,
               CASE WHEN b.user_id IS NULL THEN 0 ELSE 1 END AS label
        FROM user_tier t LEFT JOIN big_spenders b ON t.user_id = b.user_id
        """,
    "tier_summary": """
        SELECT tier, count(*) AS users, sum(total) AS total FROM user_tier GROUP BY tier
        """,
}
TABLES = ["stg_users", "user_orders", "user_tier", "big_spenders", "training_set",
          "tier_summary"]

TRAINING_SET = [("u1", "gold", 2, 25.0, 1), ("u2", "silver", 1, 30.0, 1),
                ("u3", "gold", 2, 20.0, 1), ("u4", "bronze", 0, 0.0, 0),
                ("u5", "silver", 0, 0.0, 0)]
TIER_SUMMARY = [("bronze", 1, 0.0), ("gold", 2, 45.0), ("silver", 2, 30.0)]


def write_project(root: Path, targets: dict, sources: dict | None = None) -> Path:
    """The project: project.yml with ``targets`` (and ``sources``) and the seven models."""
    config = {"name": "engines", "vars": {"min_total": 20},
              "sources": sources or {"raw_orders": {}, "raw_users": {}}, "targets": targets,
              "default_target": next(iter(targets))}
    (root / "project.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    for name, sql in MODELS.items():
        path = root / "models" / f"{name}.sql"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(sql).lstrip("\n"), encoding="utf-8")
    return root


def run(root: Path, target: str, **options) -> tuple[BuildResult, list[str]]:
    lines: list[str] = []
    result = build(root, BuildOptions(target=target, **options), echo=lines.append)
    return result, lines


def values(fetch, table: str, order: str) -> list[tuple]:
    return [tuple(float(v) if isinstance(v, Decimal) else v for v in row)
            for row in fetch(f"SELECT * FROM {table} ORDER BY {order}")]


def files_text(root: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in root.rglob("*")
                     if p.is_file() and p.suffix != ".duckdb")


# -- Data Distiller (emulated) ----------------------------------------------------------------
@pytest.fixture
def emu():
    require_postgres()
    with Emulator(engine_dsn=PG_DSN, client_secret=SECRET) as server:
        conn = server.engine.connect()
        with conn, conn.cursor() as cur:
            cur.execute(SOURCES)
        conn.close()
        yield server


@pytest.fixture
def dd_root(tmp_path: Path, emu: Emulator) -> Path:
    (tmp_path / "aep.ini").write_text(
        f"[Credential]\nims_org_id = {emu.org_id}\nsandbox_name = {emu.sandbox}\n"
        f"client_id = {emu.client_id}\nclient_secret = {SECRET}\n"
        "scopes = openid, AdobeID, read_organizations\ntech_acct_id = t@techacct.adobe.com\n")
    return write_project(tmp_path, {"aep": {
        "type": "data_distiller", "credentials_file": "aep.ini", "ims_host": emu.url,
        "platform_host": emu.url, "sslmode": "disable", "poll_interval": 0.02,
        "max_concurrent_queries": 3}})


def engine_fetch(emu: Emulator):
    return lambda sql: engine_rows(emu, sql)


def assert_distiller_tables(emu: Emulator, result: BuildResult) -> None:
    fetch = engine_fetch(emu)
    assert values(fetch, "training_set", "user_id") == TRAINING_SET
    assert values(fetch, "tier_summary", "tier") == TIER_SUMMARY
    cat = catalog(emu)
    cat.sync()
    names = [rec["name"] for rec in cat.datasets.values()]
    assert len(names) == len(set(names)), "a dataset was created twice"
    by_name = {rec["name"]: ds_id for ds_id, rec in cat.datasets.items()}
    for r in result.results:
        if r.materialized == "table" and r.status == "success":
            assert r.dataset_id == by_name[r.physical] and r.query_id
    assert cat.options[by_name[result.by_name()["user_orders"].physical]] == {"label": "PROFILE"}


def test_distiller_build_values_noop_and_faults(dd_root: Path, emu: Emulator, caplog) -> None:
    caplog.set_level("DEBUG")
    result, lines = run(dd_root, "aep")
    assert result.ok, [r.message for r in result.results]
    assert {r.name: r.status for r in result.results} == {n.split("/")[-1]: "success"
                                                          for n in MODELS}
    assert {r.name: r.rows for r in result.results} == {
        "stg_orders": None, "stg_users": 5, "user_orders": 3, "user_tier": 5,
        "big_spenders": 3, "training_set": 5, "tier_summary": 3}
    assert_distiller_tables(emu, result)
    first_physical = {r.name: r.physical for r in result.results}
    posted = len(emu.requests_to(QUERIES, "POST"))
    assert posted == 14  # a CREATE and a pointer per model

    again, _ = run(dd_root, "aep")
    assert {r.status for r in again.results} == {"noop"}
    assert len(emu.requests_to(QUERIES, "POST")) == posted  # nothing ran

    # A status fault answers at once, so faults that act and then serve get paths of their own.
    faults = emu.faults
    faults.throttle(QUERIES, method="POST", times=2)
    faults.fail(f"{QUERIES}/*", method="GET", times=2)
    faults.slow(DATASETS, delay=0.2, times=2)
    faults.expire_token(DATASETS)
    faults.terminate_connections(DATASETS, times=2)
    faulty, _ = run(dd_root, "aep", full_refresh=True)
    assert faulty.ok, [r.message for r in faulty.results]
    assert all(f.times == 0 for f in faults.faults), "a fault did not fire"
    assert {r.name for r in faulty.results if r.physical == first_physical[r.name]} == set()
    assert_distiller_tables(emu, faulty)
    assert len(emu.requests_to("/ims/token/v3")) >= 4  # one per build + the refresh

    tokens = {r.headers["authorization"].split()[1] for r in emu.requests
              if "authorization" in r.headers}
    output = "\n".join([*lines, caplog.text, files_text(dd_root / "target")])
    assert "training_set" in output and len(tokens) >= 4  # threads may refresh at once
    for secret in [SECRET, *tokens]:
        assert secret not in output


def test_distiller_sql_error_names_model_and_file(dd_root: Path, emu: Emulator) -> None:
    (dd_root / "models/features/user_tier.sql").write_text(
        "SELECT user_id, tier, no_such_column FROM stg_users\n")
    result, lines = run(dd_root, "aep")
    outcome = result.by_name()
    assert not result.ok and outcome["user_tier"].status == "error"
    assert outcome["user_tier"].path == "models/features/user_tier.sql"
    # located in the model's text: the column the service's message names
    assert outcome["user_tier"].message.startswith(
        "models/features/user_tier.sql:1:23: target 'aep': model user_tier: query ")
    assert outcome["user_tier"].message.endswith('column "no_such_column" does not exist')
    assert {n for n, r in outcome.items() if r.status == "skipped"} == {
        "big_spenders", "training_set", "tier_summary"}
    assert outcome["user_orders"].status == "success"
    assert not any(rec["name"].startswith("user_tier") for rec in catalog(emu).datasets.values())


# -- PostgreSQL -------------------------------------------------------------------------------
@pytest.fixture
def pg_root(tmp_path: Path):
    require_postgres()
    schema = f"c2b_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(PG_DSN)
    admin.autocommit = True
    with admin.cursor() as cur:  # the raw tables live in a schema of their own
        cur.execute(f'CREATE SCHEMA "{schema}_raw"; SET search_path TO "{schema}_raw"; {SOURCES}')
    root = write_project(
        tmp_path, {"pg": {"type": "postgres", "dsn": PG_DSN, "schema": schema}},
        {"raw_orders": {"identifier": f"{schema}_raw.raw_orders"},
         "raw_users": {"identifier": f"{schema}_raw.raw_users"}})
    yield root, schema, admin
    with admin.cursor() as cur:
        cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE; '
                    f'DROP SCHEMA IF EXISTS "{schema}_raw" CASCADE')
    admin.close()


def test_postgres_build_values_noop_and_dropped_connections(pg_root, monkeypatch) -> None:
    root, schema, admin = pg_root

    def fetch(sql: str) -> list[tuple]:
        with admin.cursor() as cur:
            cur.execute(f'SET search_path TO "{schema}"; {sql}')
            return cur.fetchall()

    result, _ = run(root, "pg")
    assert result.ok, [r.message for r in result.results]
    assert values(fetch, "training_set", "user_id") == TRAINING_SET
    assert values(fetch, "tier_summary", "tier") == TIER_SUMMARY
    assert {r.name: r.rows for r in result.results}["user_tier"] == 5

    again, _ = run(root, "pg")
    assert {r.status for r in again.results} == {"noop"}
    first_physical = {r.name: r.physical for r in result.results}

    # Kill the backend under each of the first three CREATE TABLE statements of a full rebuild.
    killed: list[str] = []
    real_run = PgSessions.run

    def run_on_a_dying_connection(self, sql, **kw):
        if sql.startswith("CREATE TABLE") and len(killed) < 3 and sql not in killed:
            killed.append(sql)
            pid = self.connection(kw.get("key", "")).get_backend_pid()
            with admin.cursor() as cur:
                cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
        return real_run(self, sql, **kw)

    monkeypatch.setattr(PgSessions, "run", run_on_a_dying_connection)
    faulty, _ = run(root, "pg", full_refresh=True)
    assert faulty.ok, [r.message for r in faulty.results]
    assert len(killed) == 3
    assert values(fetch, "training_set", "user_id") == TRAINING_SET
    assert values(fetch, "tier_summary", "tier") == TIER_SUMMARY
    tables = fetch("SELECT table_name FROM information_schema.tables WHERE table_schema = "
                   f"'{schema}' AND table_type = 'BASE TABLE'")
    assert sorted(name.split("__")[0] for (name,) in tables) == sorted(TABLES)  # new versions
    assert {name for (name,) in tables}.isdisjoint(first_physical.values())


# -- a model whose column list changes ----------------------------------------------------------
# Reordered and with a column dropped: PostgreSQL's CREATE OR REPLACE VIEW refuses both
# (42P16), Spark's accepts them, so moving the pointer must work on every engine.
CHANGED = {
    "staging/stg_orders": """
        /* config
        materialized: view
        */
        SELECT amount, user_id FROM raw_orders WHERE amount > 0
        """,
    "tier_summary": "SELECT sum(total) AS total, tier FROM user_tier GROUP BY tier\n",
}


def change_columns(root: Path) -> None:
    for name, sql in CHANGED.items():
        (root / "models" / f"{name}.sql").write_text(textwrap.dedent(sql).lstrip("\n"),
                                                     encoding="utf-8")


def with_columns(cursor, sql: str) -> tuple[list[str], list[tuple]]:
    """The column names and rows of a query (Decimals as floats)."""
    cursor.execute(sql)
    rows = [tuple(float(v) if isinstance(v, Decimal) else v for v in row)
            for row in cursor.fetchall()]
    return [d.name for d in cursor.description], rows


def assert_rebuilt_with_new_columns(first: BuildResult, second: BuildResult, query) -> None:
    assert second.ok, [r.message for r in second.results]
    assert {r.name: r.status for r in second.results} == {
        "stg_orders": "success", "stg_users": "noop", "user_orders": "success",
        "user_tier": "success", "big_spenders": "success", "training_set": "success",
        "tier_summary": "success"}
    before, after = first.by_name(), second.by_name()
    assert after["tier_summary"].physical != before["tier_summary"].physical
    assert query("SELECT * FROM tier_summary ORDER BY tier") == (
        ["total", "tier"], [(0.0, "bronze"), (45.0, "gold"), (30.0, "silver")])
    assert query("SELECT * FROM stg_orders ORDER BY amount") == (
        ["amount", "user_id"], [(5.0, "u1"), (7.5, "u3"), (12.5, "u3"), (20.0, "u1"),
                                (30.0, "u2")])
    assert query("SELECT * FROM training_set ORDER BY user_id")[1] == TRAINING_SET


def test_distiller_pointer_follows_a_changed_column_list(dd_root: Path, emu: Emulator) -> None:
    first, _ = run(dd_root, "aep")
    assert first.ok, [r.message for r in first.results]
    change_columns(dd_root)
    second, _ = run(dd_root, "aep")

    def query(sql: str) -> tuple[list[str], list[tuple]]:
        conn = emu.engine.connect()
        try:
            with conn.cursor() as cur:
                return with_columns(cur, sql)
        finally:
            conn.close()

    assert_rebuilt_with_new_columns(first, second, query)
    pointers = [r.json["sql"] for r in emu.requests_to(QUERIES, "POST")
                if r.json["sql"].startswith("CREATE OR REPLACE VIEW tier_summary ")]
    assert pointers == [f"CREATE OR REPLACE VIEW tier_summary AS SELECT * FROM {r.physical}"
                        for r in (first.by_name()["tier_summary"],
                                  second.by_name()["tier_summary"])]


def test_postgres_pointer_follows_a_changed_column_list(pg_root) -> None:
    root, schema, admin = pg_root
    first, _ = run(root, "pg")
    assert first.ok, [r.message for r in first.results]
    change_columns(root)
    second, _ = run(root, "pg")

    def query(sql: str) -> tuple[list[str], list[tuple]]:
        with admin.cursor() as cur:
            cur.execute(f'SET search_path TO "{schema}"')
            return with_columns(cur, sql)

    assert_rebuilt_with_new_columns(first, second, query)
    physical = second.by_name()["tier_summary"].physical
    assert second.by_name()["tier_summary"].statements[1] == (
        f"DROP VIEW IF EXISTS tier_summary; CREATE VIEW tier_summary AS SELECT * FROM {physical}")


def test_distiller_compile_is_offline_and_names_what_the_last_build_built(
        dd_root: Path, emu: Emulator, capsys) -> None:
    """``runner compile`` on Data Distiller calls no API; after a build, the data versions the
    build read from Catalog come from the manifest, so compile names the tables it built."""
    from runner.cli.main import main

    assert main(["compile", "--project-dir", str(dd_root)]) == 0
    assert emu.requests == []
    result, _ = run(dd_root, "aep")
    assert result.ok
    seen = len(emu.requests)
    capsys.readouterr()
    assert main(["compile", "--project-dir", str(dd_root), "--print"]) == 0
    assert len(emu.requests) == seen  # nothing asked
    out = capsys.readouterr().out
    for r in result.results:
        if r.materialized == "table":
            assert f"CREATE TABLE {r.physical}" in out
    manifest = (dd_root / "target/manifest.json").read_text()
    assert '"data_version":"catalog updated ' in manifest  # (compact JSON) what made the names match
