"""Spark's type rules: our inference gives exactly the type Spark's analyser gives.

Fast tier: for each expression of cases.yml, the type ``annotate`` infers equals the one
recorded from pyspark in typeof.json. Spark tier (``-m spark``): pyspark still gives the
recorded types.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import sqlglot

from runner.compile.dialect.spark_types import spark_name
from runner.compile.dialect.types import output_schema

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "fidelity"))

from spark_typeof import load_cases, load_recorded, query, spark_types  # noqa: E402

RECORDED = load_recorded()
SCHEMA = {"t": RECORDED["columns"]}


@pytest.mark.parametrize("expression", list(RECORDED["types"]))
def test_inferred_type_is_sparks(expression):
    inferred = output_schema(sqlglot.parse_one(query(expression), read="spark"), SCHEMA)
    got = spark_name(inferred["c"]) if "c" in inferred else None
    assert got == RECORDED["types"][expression]


def test_every_case_is_recorded():
    assert list(RECORDED["types"]) == load_cases()["expressions"]


@pytest.mark.spark
def test_spark_still_gives_the_recorded_types():
    from fidelity_harness import spark_session

    assert spark_types(spark_session(), load_cases()) == RECORDED


@pytest.fixture(scope="module")
def duck():
    """DuckDB set up like the adapter's, with ``t`` built from cases.yml's table."""
    import duckdb

    from runner.adapters.duckdb import DuckDBAdapter
    from runner.compile.dialect.translate import to_target

    con = duckdb.connect()
    DuckDBAdapter.prepare(con)
    table = to_target(sqlglot.parse_one(load_cases()["table"], read="spark"), "duckdb")
    con.execute(f"CREATE TABLE t AS {table.sql(dialect='duckdb')}")
    yield con
    con.close()


def _local_type(con, expression: str) -> str | None:
    from runner.compile.dialect.translate import to_target

    translated = to_target(sqlglot.parse_one(query(expression), read="spark"), "duckdb", SCHEMA)
    relation = con.sql(translated.sql(dialect="duckdb"))
    return spark_name(sqlglot.exp.DataType.build(str(relation.types[0]), dialect="duckdb"))


@pytest.mark.parametrize("expression", [e for e, t in RECORDED["types"].items()
                                        if t in ("int", "bigint", "smallint", "tinyint")])
def test_the_local_table_holds_sparks_integer_type(duck, expression):
    """An integer result is the width Spark gives (DuckDB's BIGINT date parts and lengths are
    cast to Spark's INT), so a local table has the column types a Data Distiller one has."""
    assert _local_type(duck, expression) == RECORDED["types"][expression]
