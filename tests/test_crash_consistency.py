"""Crash consistency, proven by killing builds: a `runner build` is killed with SIGKILL at every
one of its crash points in turn (``runner.crashpoints``: after each statement that changes the
target and each file written under target/), on DuckDB and on PostgreSQL. After each kill:

- every ``target/`` artifact is valid JSON or absent;
- every model's pointer reads a complete version: the old build's rows or the new build's;
- the next ``runner build`` finishes the work (exit 0, the new rows, the export holding exactly
  the new rows once);
- the next ``runner clean`` leaves no orphan: each model keeps exactly its current version.

The second build changes every model (new source data on DuckDB, ``--full-refresh`` on
PostgreSQL), so it creates, points, drops old versions and exports: every kind of effect.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import duckdb
import psycopg2
import pyarrow.parquet as pq
import pytest

from emulator_fixtures import PG_DSN, require_postgres
from runner import BuildOptions, build, clean

REPO = Path(__file__).resolve().parents[1]
OLD = "user_id,amount\nu1,5\nu1,7\nu2,3\n"
NEW = "user_id,amount\nu1,5\nu2,3\nu3,11\n"
MODELS = {
    "stg": "SELECT user_id, amount FROM events",
    "per_user": "/* config\nmaterialized: view\n*/\nSELECT user_id, sum(amount) AS total "
                "FROM stg GROUP BY user_id",
    "totals": "SELECT user_id, total, total * 2 AS doubled FROM per_user",
}


def expected(csv: str) -> dict[str, list[tuple]]:
    rows = [line.split(",") for line in csv.strip().splitlines()[1:]]
    totals: dict[str, int] = {}
    for user, amount in rows:
        totals[user] = totals.get(user, 0) + int(amount)
    per_user = sorted(totals.items())
    return {"stg": sorted((u, int(a)) for u, a in rows), "per_user": per_user,
            "totals": [(u, t, 2 * t) for u, t in per_user]}


def write_project(root: Path, target: str) -> None:
    (root / "models").mkdir(parents=True)
    for name, sql in MODELS.items():
        (root / "models" / f"{name}.sql").write_text(sql + "\n")
    (root / "data").mkdir()
    (root / "data" / "events.csv").write_text(OLD)
    source = "{path: data/events.csv}" if target == "local" else "{}"
    (root / "project.yml").write_text(
        f"name: crash\ndefault_target: {target}\n"
        "targets:\n  local: {type: duckdb}\n"
        f"  pg: {{type: postgres, dsn: '{PG_DSN}', schema: {root.name}}}\n"
        f"sources:\n  events: {source}\n"
        "exports:\n  - model: totals\n    destination: {type: local, path: out}\n")


class Engine:
    """Reads one target's relations and rows."""

    def __init__(self, root: Path, target: str) -> None:
        self.root, self.target = root, target

    def rows(self, sql: str) -> list[tuple]:
        if self.target == "local":
            con = duckdb.connect(str(self.root / "target" / "local.duckdb"), read_only=True)
            try:
                con.execute(f"SET file_search_path = '{self.root}'")
                return con.sql(sql).fetchall()
            finally:
                con.close()
        conn = psycopg2.connect(PG_DSN)
        try:
            with conn.cursor() as cursor:
                cursor.execute(f"SET search_path TO {self.root.name}")
                cursor.execute(sql)
                return cursor.fetchall()
        finally:
            conn.close()

    def model_rows(self, name: str) -> list[tuple]:
        return sorted(tuple(int(v) if isinstance(v, (int, float)) or hasattr(v, "as_tuple")
                            else v for v in row) for row in self.rows(f"SELECT * FROM {name}"))

    def relations(self) -> set[str]:
        schema = "current_schema()" if self.target == "local" else f"'{self.root.name}'"
        return {name for (name,) in self.rows(
            f"SELECT table_name FROM information_schema.tables WHERE table_schema = {schema}")}


def crash_run(root: Path, target: str, at: int, args: list[str]) -> int:
    env = {**os.environ, "RUNNER_CRASH_AT": str(at), "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "runner.cli.main", "build", "--project-dir",
                           str(root), "-t", target, *args], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode in (0, -signal.SIGKILL), proc.stderr
    return proc.returncode


def check_after_kill(root: Path, engine: Engine, old: dict, new: dict) -> None:
    for path in [*(root / "target").glob("*.json"), *(root / "target" / "state").glob("*.json")]:
        json.loads(path.read_text())  # valid or absent, never half written
    for name in MODELS:
        assert engine.model_rows(name) in (old[name], new[name]), name


def check_recovered(root: Path, engine: Engine, target: str, new: dict, args: list[str]) -> None:
    # the user runs the same command again
    result = build(root, BuildOptions(target=target, full_refresh="--full-refresh" in args),
                   echo=lambda _: None)
    assert result.exit_code == 0, [r.message for r in result.results]
    for name in MODELS:
        assert engine.model_rows(name) == new[name], name
    export = pq.read_table(root / "target" / "exports" / "out").to_pylist()
    assert sorted((r["user_id"], r["total"], r["doubled"]) for r in export) == new["totals"]
    clean(root, BuildOptions(target=target), echo=lambda _: None)
    state = json.loads((root / "target" / "state" / f"{target}.json").read_text())["models"]
    versions = {state[m]["current"] for m in MODELS}
    sources = {"events", "_runner_source_versions"}
    assert engine.relations() - sources == set(MODELS) | versions  # no orphan relation


def kill_everywhere(tmp_path: Path, target: str) -> int:
    """Kill the second build at each crash point; returns how many points were tried."""
    base = tmp_path / f"crash_{uuid.uuid4().hex[:8]}"
    write_project(base, target)
    if target == "local":  # built once; each try starts from a copy of that build
        assert build(base, BuildOptions(target=target), echo=lambda _: None).exit_code == 0
    old, new = expected(OLD), expected(NEW)
    tried = 0
    for at in range(1, 200):
        root = tmp_path / f"{base.name}_{at}"
        if target == "local":
            shutil.copytree(base, root)
        else:  # a schema of its own (named after the folder), built afresh
            write_project(root, target)
            seed_postgres(root.name, OLD)
            assert build(root, BuildOptions(target=target), echo=lambda _: None).exit_code == 0
        if target == "local":
            (root / "data" / "events.csv").write_text(NEW)
            args: list[str] = []
        else:
            seed_postgres(root.name, NEW, replace=True)
            args = ["--full-refresh"]
        engine = Engine(root, target)
        code = crash_run(root, target, at, args)
        if code == 0:  # fewer than `at` crash points: every one has been tried
            drop_schema(root.name) if target == "pg" else None
            return tried
        tried += 1
        check_after_kill(root, engine, old, new)
        check_recovered(root, engine, target, new, args)
        if target == "pg":
            drop_schema(root.name)
        shutil.rmtree(root)
    raise AssertionError("more than 200 crash points in one small build")


def seed_postgres(schema: str, csv: str, replace: bool = False) -> None:
    rows = [line.split(",") for line in csv.strip().splitlines()[1:]]
    values = ", ".join(f"('{u}', {int(a)})" for u, a in rows)
    conn = psycopg2.connect(PG_DSN)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        if replace:  # new data in place: the views of the old version read it too
            cursor.execute(f"DELETE FROM {schema}.events")
            cursor.execute(f"INSERT INTO {schema}.events VALUES {values}")
        else:
            cursor.execute(f"CREATE TABLE {schema}.events (user_id TEXT, amount BIGINT)")
            cursor.execute(f"INSERT INTO {schema}.events VALUES {values}")
    conn.close()


def drop_schema(schema: str) -> None:
    conn = psycopg2.connect(PG_DSN)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    conn.close()


def test_kill_at_every_point_on_duckdb(tmp_path, capsys) -> None:
    tried = kill_everywhere(tmp_path, "local")
    with capsys.disabled():
        print(f"\nDuckDB: killed the build at {tried} crash points, 0 invariant violations")
    assert tried >= 15


@pytest.mark.postgres
def test_kill_at_every_point_on_postgres(tmp_path, capsys) -> None:
    require_postgres(PG_DSN)
    tried = kill_everywhere(tmp_path, "pg")
    with capsys.disabled():
        print(f"\nPostgreSQL: killed the build at {tried} crash points, 0 invariant violations")
    assert tried >= 15
