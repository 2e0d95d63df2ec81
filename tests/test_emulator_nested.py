"""Nested XDM in the emulated Data Distiller (``aep_emulator.nested``), and the example project
built on it.

The synthetic XDM sources (structs, a map of arrays of structs, arrays) are created in the
emulator's sandbox as they are on Platform; the repository's example project, written for
Data Distiller, then builds on the emulated Data Distiller unchanged, and its training set has
the same users and the same value in every column as the local DuckDB build of the same
synthetic population. The access rewrite and the Spark functions the emulator adds are checked
on their own, with Spark's values.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import sqlglot
import yaml
from sqlglot import exp
from test_example_project import copy_example

import runner
from aep_emulator import Emulator
from aep_emulator.nested import NestedError, rewrite
from runner.cli.emulate import emulate, serve_command, synthetic_tables
from runner.cli.main import _parser
from emulator_fixtures import engine_rows, fast_client, wait_for_query
from runner.errors import ProjectError, RunError
from runner.project.config import load_project
from runner.sources.prepare import synth_options
from runner.sources.synth import generate

pytestmark = pytest.mark.postgres

TYPES = {"events": {
    "identitymap": exp.DataType.build("map<string,array<struct<id:string,primary:boolean>>>",
                                      dialect="spark"),
    "web": exp.DataType.build("struct<webPageDetails:struct<name:string,pageViews:"
                              "struct<value:double>>>", dialect="spark"),
    "commerce": exp.DataType.build("struct<order:struct<priceTotal:double>>", dialect="spark")}}


def pg(spark_sql: str) -> str:
    return rewrite(sqlglot.parse_one(spark_sql, read="spark"),
                   lambda t: TYPES.get(t, {}))[0].sql(dialect="postgres")


def test_access_into_nested_columns_is_typed_jsonb_extraction() -> None:
    assert pg("SELECT identityMap['ECID'][0].id AS u, web.webPageDetails.name, "
              "e.commerce.order.priceTotal, WEB.webpagedetails.pageViews.value, web "
              "FROM events e WHERE identityMap['ECID'][0].primary") == (
        "SELECT JSONB_EXTRACT_PATH_TEXT(identitymap, 'ECID', '0', 'id') AS u, "
        "JSONB_EXTRACT_PATH_TEXT(web, 'webPageDetails', 'name') AS name, "
        "CAST(JSONB_EXTRACT_PATH_TEXT(e.commerce, 'order', 'priceTotal') AS DOUBLE PRECISION) "
        "AS priceTotal, CAST(JSONB_EXTRACT_PATH_TEXT(web, 'webPageDetails', 'pageViews', "
        "'value') AS DOUBLE PRECISION) AS value, web FROM events AS e WHERE "
        "CAST(JSONB_EXTRACT_PATH_TEXT(identitymap, 'ECID', '0', 'primary') AS BOOLEAN)")
    assert pg("SELECT web.webPageDetails AS d, t.a.b FROM events JOIN t ON 1 = 1") == (
        "SELECT NULLIF(JSONB_EXTRACT_PATH(web, 'webPageDetails'), CAST('null' AS JSONB)) AS d, "
        "t.a.b FROM events JOIN t ON 1 = 1")
    assert pg("SELECT element_at(identityMap['ECID'], 1).id FROM events") == (
        "SELECT JSONB_EXTRACT_PATH_TEXT(identitymap, 'ECID', '0', 'id') AS id FROM events")
    # a CTE's column is not the base table's, whatever its name: left to the engine
    assert pg("WITH c AS (SELECT web.webPageDetails AS web FROM events) SELECT web.name "
              "FROM c") == (
        "WITH c AS (SELECT NULLIF(JSONB_EXTRACT_PATH(web, 'webPageDetails'), CAST('null' AS "
        "JSONB)) AS web FROM events) SELECT web.name FROM c")
    statement, outputs = rewrite(sqlglot.parse_one(
        "CREATE TABLE r AS SELECT web, web.webPageDetails AS d, web.webPageDetails.name AS n "
        "FROM events", read="spark"), lambda t: TYPES.get(t, {}))
    assert {k: v.sql(dialect="spark") for k, v in outputs.items()} == {
        "web": "STRUCT<webPageDetails: STRUCT<name: STRING, pageViews: STRUCT<value: DOUBLE>>>",
        "d": "STRUCT<name: STRING, pageViews: STRUCT<value: DOUBLE>>"}
    with pytest.raises(NestedError, match="No such struct field nme in web.webPageDetails"):
        pg("SELECT web.webPageDetails.nme FROM events")
    with pytest.raises(NestedError, match="Cannot take 0 of web, a STRUCT"):
        pg("SELECT web[0] FROM events")
    with pytest.raises(NestedError, match="Cannot take -1 of identitymap.ECID, a ARRAY"):
        pg("SELECT element_at(identityMap['ECID'], -1) FROM events")


def test_the_spark_functions_the_emulator_adds_give_sparks_values(emulator: Emulator) -> None:
    conn = emulator.engine.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT unix_micros(TIMESTAMPTZ '2026-01-01 00:00:00.000001+00'), "
                        "round(2.675::float8, 2), round(-2.5::float8, 0), round(0.125::float8, 2)")
            assert cur.fetchone() == (1767225600000001, 2.68, -3.0, 0.13)  # Spark's values
            cur.execute("SELECT round(9007199254740993::bigint, 0), pg_typeof(round(7, 2))::text")
            assert cur.fetchone() == (9007199254740993, "numeric")  # integers stay exact
    finally:
        conn.close()


def test_nested_values_survive_nulls_ctas_views_and_odd_floats(emulator: Emulator) -> None:
    import pyarrow as pa

    web = pa.struct([("page", pa.struct([("name", pa.string()), ("score", pa.float64())]))])
    table = pa.table({"id": [1, 2, 3], "web": pa.array([
        {"page": {"name": "home", "score": float("nan")}}, {"page": None}, None], web),
        "tags": pa.array([["x", "y"], [], None], pa.list_(pa.string()))})
    assert emulator.load_tables({"pages": table}) == {"pages": 3}
    with pytest.raises(NestedError, match="A table named pages already exists"):
        emulator.load_tables({"pages": table})
    client = fast_client(emulator)
    try:
        def run(sql: str) -> dict:
            created = client.post("/data/foundation/query/queries", json={
                "dbName": f"{emulator.sandbox}:all", "sql": sql})
            return wait_for_query(client, created["id"])

        assert run("CREATE TABLE staged AS SELECT id, web, element_at(tags, 1) AS first "
                   "FROM pages")["state"] == "SUCCESS"
        assert run("CREATE VIEW v AS SELECT * FROM staged")["state"] == "SUCCESS"
        assert run("CREATE TABLE out AS SELECT id, web.page.name AS name, web.page IS NULL AS "
                   "no_page, web.page.score AS score, first FROM v")["state"] == "SUCCESS"
    finally:
        client.close()
    rows = engine_rows(emulator, "SELECT id, name, no_page, score::text, first FROM out "
                                 "ORDER BY id")
    assert rows == [(1, "home", False, "NaN", "x"), (2, None, True, None, None),
                    (3, None, True, None, None)]


def _distiller(root: Path) -> Path:
    """``root``'s project.yml with an ``emulated`` Data Distiller target on the environment."""
    config = yaml.safe_load((root / "project.yml").read_text(encoding="utf-8"))
    config["targets"]["emulated"] = {
        "type": "data_distiller", "ims_host": "${AEP_IMS_HOST}",
        "platform_host": "${AEP_PLATFORM_HOST}", "sslmode": "disable", "poll_interval": 0.05,
        "max_concurrent_queries": 2}
    (root / "project.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return root


def test_the_example_project_builds_on_the_emulator_with_the_local_builds_values(
        emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _distiller(copy_example(tmp_path / "example", users=150))
    make = synthetic_tables(root)
    counts = emulator.load_tables(make(emulator.tenant))
    assert set(counts) == {"experience_events", "profiles"} and counts["profiles"] == 150
    for key, value in emulator.environment().items():
        monkeypatch.setenv(key, value)
    assert_same_training_sets(root)


def assert_same_training_sets(root: Path) -> None:
    """Build ``root`` on its ``emulated`` target and locally (DuckDB): the same users and the
    same value in every column of the training set."""
    quiet = {"echo": lambda line: None}
    assert runner.build(root, runner.BuildOptions(target="emulated"), **quiet).ok
    assert runner.build(root, **quiet).ok  # the local DuckDB build of the same population
    with runner.connect(root, target="emulated") as dd, runner.connect(root) as local:
        on_platform = dd.read("training_set").sort_values("user_id").reset_index(drop=True)
        here = local.read("training_set").sort_values("user_id").reset_index(drop=True)
    assert list(on_platform.columns) == list(here.columns) and len(here) > 100
    assert on_platform["user_id"].tolist() == here["user_id"].tolist()
    for column in here.columns:
        left, right = on_platform[column].tolist(), here[column].tolist()
        for a, b in zip(left, right):
            if pd.isna(a) or pd.isna(b):
                assert pd.isna(a) and pd.isna(b), column
            elif isinstance(b, (int, float)) and not isinstance(b, bool):
                assert math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=1e-9), column
            else:
                assert str(a) == str(b), column
    assert here["subscribed"].sum() > 0  # the label is not all zero: a real comparison


def test_emulate_synth_needs_generated_sources_and_passes_through_detach(tmp_path: Path) -> None:
    root = tmp_path / "flat"
    (root / "models").mkdir(parents=True)
    (root / "project.yml").write_text("name: flat\nsources:\n  raw: {}\n", encoding="utf-8")
    with pytest.raises(ProjectError, match="no source in project.yml is generated"):
        synthetic_tables(root)
    example = copy_example(tmp_path / "example", users=5)
    tables = synthetic_tables(example)("_emu0000000000000000000001")
    assert tables["profiles"].num_rows == 5
    assert "_emu0000000000000000000001" in tables["experience_events"].column_names
    options = synth_options(load_project(example))
    assert tables["experience_events"].equals(generate(replace(
        options, tenant="_emu0000000000000000000001"))["experience_events"])
    args = _parser().parse_args(["emulate", "--detach", "--synth", "--project-dir",
                                      str(example)])
    command = serve_command(args, tmp_path / "emu.env")
    assert command[-3:] == ["--synth", "--project-dir", str(example.resolve())]
    flat = _parser().parse_args(["emulate", "--detach", "--synth", "--project-dir", str(root),
                                 "--env-file", str(tmp_path / "never.env")])
    with pytest.raises(ProjectError, match="no source in project.yml is generated"):
        emulate(flat)  # refused before a child is started
    assert not (tmp_path / "never.env.pid").exists()


def test_a_source_both_seeded_and_synthesized_is_one_error_line(tmp_path: Path) -> None:
    example = copy_example(tmp_path / "example", users=3)
    seed = tmp_path / "seed.sql"
    seed.write_text("CREATE TABLE profiles (x int);", encoding="utf-8")
    args = _parser().parse_args(["emulate", "--synth", "--seed", str(seed), "--project-dir",
                                 str(example)])
    with pytest.raises(RunError) as err:
        emulate(args)
    assert str(err.value) == ("emulator: seeding the sandbox failed: A table named profiles "
                              "already exists in the sandbox")
