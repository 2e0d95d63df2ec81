"""The fidelity corpus: DuckDB through runner.compile.dialect.translate must give Spark's recorded values.

Fast tier (always): every translatable case on DuckDB equals Spark's value; every refused case
raises ProjectError with its message. The schema of the fixture tables is passed to to_target,
as the engine's catalogue would give it; without it, the cases in NEEDS_SCHEMA keep DuckDB's
result types (the values are still Spark's) and every other case is unchanged.
Spark tier (``-m spark``): Spark still returns the committed expected values.
"""

from __future__ import annotations

import os
import shutil
from decimal import Decimal
from typing import Any

import duckdb
import pytest
from sqlglot import exp

from fidelity_harness import (create_spark_tables, differences, encode, load_corpus,
                              load_expected, run_spark, spark_cases, spark_rejected_cases,
                              spark_session)
from runner.adapters.duckdb import DuckDBAdapter
from runner.compile.dialect.translate import to_target
from runner.errors import ProjectError
from runner.project.parsing import parse_query
from runner.project.spark_rejects import check_functions

CORPUS = load_corpus()
EXPECTED = load_expected()
TRANSLATED = [case for case in CORPUS["cases"] if "refuse" not in case]
REFUSED = [case for case in CORPUS["cases"] if "refuse" in case]
# Without column types: sums of INTs stay HUGEINT, decimal division and avg of DECIMALs stay
# DOUBLE (with digits beyond Spark's scale), ceil/floor of a DOUBLE column stays DOUBLE.
NEEDS_SCHEMA = {"sum_avg_ignore_nulls", "decimal_arithmetic", "ceil_floor_types",
                "running_sum_rows_frame", "range_frame_with_ties", "sum_of_empty_is_null",
                "sum_int_is_bigint", "avg_decimal", "aggregates_with_filter", "window_sum_with_filter",
                "decimal_division_is_exact", "long_union_all_chain"}
# Without column types, this generator cannot tell a map from an array (explode):
# DuckDB raises, nothing differs.
FAILS_WITHOUT_SCHEMA = {"explode_map_default_names"}
# Without column types, a rule whose translation depends on the type refuses rather than guess.
REFUSED_WITHOUT_SCHEMA = {"to_timestamp_ntz_of_a_timestamp"}


def ids(cases: list[dict[str, Any]]) -> list[str]:
    return [case["name"] for case in cases]


def translate(sql: str, schema: dict[str, Any] | None) -> str:
    """A case's SQL parsed as a model is (what Spark rejects refused) and translated."""
    tree = parse_query(sql, "case.sql", "spark")
    check_functions(tree, sql, "case.sql")
    return to_target(tree, "duckdb", schema).sql(dialect="duckdb")


@pytest.fixture(scope="module")
def duck() -> tuple[duckdb.DuckDBPyConnection, dict[str, Any]]:
    """A DuckDB session set up like the adapter's, with the fixture tables and their schema."""
    con = duckdb.connect()
    DuckDBAdapter.prepare(con)
    schema: dict[str, Any] = {}
    for name, sql in CORPUS["tables"].items():
        con.execute(f"CREATE TABLE {name} AS {translate(sql, schema)}")
        schema[name] = {column: exp.DataType.build(dtype, dialect="duckdb")
                        for column, dtype, *_ in con.execute(f"DESCRIBE {name}").fetchall()}
    yield con, schema
    con.close()


def run_duckdb(duck: tuple[duckdb.DuckDBPyConnection, dict[str, Any]], sql: str,
               with_schema: bool = True) -> dict[str, Any]:
    con, schema = duck
    return encode(con.sql(translate(sql, schema if with_schema else None)).to_arrow_table())


@pytest.mark.parametrize("case", TRANSLATED, ids=ids(TRANSLATED))
def test_duckdb_gives_sparks_value(duck, case):
    got = run_duckdb(duck, case["sql"])
    assert differences(got, EXPECTED[case["name"]]) == []


@pytest.mark.parametrize("case", REFUSED, ids=ids(REFUSED))
def test_refused_at_compile_time(duck, case):
    with pytest.raises(ProjectError) as raised:
        translate(case["sql"], duck[1])
    assert case["refuse"] in raised.value.message


def _rounded_like(got: Any, want: Any) -> Any:
    """``got`` with numbers as floats, rounded to the scale of Spark's DECIMAL where it has one."""
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        return [_rounded_like(g, w) for g, w in zip(got, want)]
    number = float(Decimal(got["decimal"])) if isinstance(got, dict) and "decimal" in got else got
    if isinstance(number, (int, float)) and not isinstance(number, bool):
        if isinstance(want, dict) and "decimal" in want:
            return round(float(number), -Decimal(want["decimal"]).as_tuple().exponent)
        return float(number)
    return got


@pytest.mark.parametrize("case", TRANSLATED, ids=ids(TRANSLATED))
def test_without_schema_only_types_differ(duck, case):
    """Without column types, NEEDS_SCHEMA cases keep DuckDB's types and may carry digits
    beyond the scale of Spark's DECIMAL result; rounded to that scale they are Spark's values."""
    if case["name"] in FAILS_WITHOUT_SCHEMA:
        with pytest.raises(duckdb.Error):
            run_duckdb(duck, case["sql"], with_schema=False)
        return
    if case["name"] in REFUSED_WITHOUT_SCHEMA:
        with pytest.raises(ProjectError):
            run_duckdb(duck, case["sql"], with_schema=False)
        return
    got = run_duckdb(duck, case["sql"], with_schema=False)
    want = EXPECTED[case["name"]]
    if case["name"] not in NEEDS_SCHEMA:
        assert differences(got, want) == []
        return
    assert got["kinds"] != want["kinds"]  # else drop the case from NEEDS_SCHEMA
    assert _rounded_like(got["rows"], want["rows"]) == _rounded_like(want["rows"], want["rows"])


def test_corpus_size_and_kinds():
    assert len(CORPUS["cases"]) >= 60
    assert set(EXPECTED) == set(ids(CORPUS["cases"])) - {
        c["name"] for c in CORPUS["cases"] if c.get("spark") is False or "spark_rejects" in c}
    assert all("refuse" in c for c in spark_rejected_cases(CORPUS))
    assert all(EXPECTED[c["name"]]["rows"] for c in TRANSLATED)


# -- Spark tier -------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def spark():
    if shutil.which("java") is None and os.environ.get("CI") != "true":
        pytest.skip("the Spark tier needs Java 17 (it runs in CI)")
    session = spark_session()
    create_spark_tables(session, CORPUS["tables"])
    yield session
    session.stop()


SPARK_CASES = spark_cases(CORPUS)


@pytest.mark.spark
@pytest.mark.parametrize("case", SPARK_CASES, ids=ids(SPARK_CASES))
def test_spark_still_gives_expected(spark, case):
    assert differences(run_spark(spark, case["sql"]), EXPECTED[case["name"]]) == []


REJECTED = spark_rejected_cases(CORPUS)


@pytest.mark.spark
@pytest.mark.parametrize("case", REJECTED, ids=ids(REJECTED))
def test_spark_rejects_what_we_refuse(spark, case):
    """What the local engine refuses as not Spark SQL, Spark itself rejects."""
    with pytest.raises(Exception) as raised:
        spark.sql(case["sql"]).collect()
    assert case["spark_rejects"] in str(raised.value)
