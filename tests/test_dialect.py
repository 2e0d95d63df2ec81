"""runner.compile.dialect.translate: the interface the compiler and adapters call, and golden translations.

The values themselves are checked against Spark by tests/fidelity; here the SQL produced,
refusal messages and locations, schema-dependent choices and the PostgreSQL refusals.
"""

from __future__ import annotations

import doctest

from decimal import Decimal

import duckdb
import pytest
import sqlglot
from sqlglot import exp

import runner.compile.dialect.rules
import runner.compile.dialect.translate
from runner.adapters.duckdb import DuckDBAdapter
from runner.adapters.postgres import PostgresAdapter
from runner.compile.dialect.translate import to_target
from runner.compile.dialect.types import output_schema
from runner.errors import ProjectError


def duck(sql: str, schema: dict | None = None) -> str:
    return to_target(sqlglot.parse_one(sql, read="spark"), "duckdb", schema).sql(dialect="duckdb")


GOLDEN = [
    ("SELECT dayofweek(d) FROM t", "SELECT CAST(DAYOFWEEK(CAST(d AS DATE)) + 1 AS INT) FROM t"),
    ("SELECT date_sub(d, 1) FROM t", "SELECT TRY_CAST(d AS DATE) + CAST(1 * -1 AS INT) FROM t"),
    ("SELECT TIMESTAMP'2024-01-01 10:00:00'", "SELECT CAST('2024-01-01 10:00:00' AS TIMESTAMP)"),
    ("SELECT trunc(d, 'MM') FROM t", "SELECT CAST(DATE_TRUNC('MONTH', TRY_CAST(d AS DATE)) AS DATE) FROM t"),
    ("SELECT size(a) FROM t", "SELECT CAST(COALESCE(CARDINALITY(a), -1) AS INT) FROM t"),
    ("SELECT 7 div n FROM t", "SELECT CAST((7 - 7 % NULLIF(n, 0)) // NULLIF(n, 0) AS BIGINT) FROM t"),
    ("SELECT sum(CASE WHEN e = 'x' THEN 1 ELSE 0 END) FROM t",
     "SELECT CAST(SUM(CASE WHEN e = 'x' THEN 1 ELSE 0 END) AS BIGINT) FROM t"),
    ("SELECT last(n, true) OVER (ORDER BY id) FROM t",
     "SELECT LAST_VALUE(n IGNORE NULLS) OVER (ORDER BY id NULLS FIRST) FROM t"),
    ("SELECT /*+ BROADCAST(t) */ x FROM t", "SELECT x FROM t"),
    ("SELECT TIME_BETWEEN_PREVIOUS_MATCH(ts, e = 'x', 'minutes') OVER (PARTITION BY u ORDER BY ts) FROM t",
     "SELECT (EPOCH(ts) - EPOCH(LAST_VALUE(CASE WHEN e = 'x' THEN ts END IGNORE NULLS) "
     "OVER (PARTITION BY u ORDER BY ts NULLS FIRST))) / 60.0 FROM t"),
    ("SELECT k, v FROM t LATERAL VIEW explode(m) x AS k, v",
     "SELECT k, v FROM t CROSS JOIN LATERAL (SELECT UNNEST(MAP_KEYS(m)) AS k, "
     "UNNEST(MAP_VALUES(m)) AS v) AS x"),
]


@pytest.mark.parametrize("spark_sql, duckdb_sql", GOLDEN)
def test_golden_translation(spark_sql, duckdb_sql):
    assert duck(spark_sql) == duckdb_sql


def test_cast_to_int_follows_the_operand_type():
    schema = {"t": {"x": "DOUBLE", "s": "STRING", "ts": "TIMESTAMP", "n": "INT"}}
    assert duck("SELECT CAST(x AS INT) FROM t", schema) == (
        "SELECT CASE WHEN ISNAN(x) THEN 0 WHEN x >= 2147483647 THEN 2147483647 "
        "WHEN x <= -2147483648 THEN -2147483648 ELSE CAST(TRUNC(x) AS INT) END FROM t")
    assert duck("SELECT CAST(ts AS BIGINT) FROM t", schema) == \
        "SELECT CAST(FLOOR(EPOCH(ts)) AS BIGINT) FROM t"
    assert duck("SELECT CAST(n AS BIGINT) FROM t", schema) == "SELECT TRY_CAST(n AS BIGINT) FROM t"
    generic = duck("SELECT CAST(x AS INT) FROM t")  # unknown type: told apart when bound
    assert generic.startswith("SELECT CASE WHEN TYPEOF(x) LIKE 'TIMESTAMP%' THEN ")
    con = duckdb.connect()
    rows = con.sql(generic.replace("FROM t", "FROM (VALUES (3.7), (-3.7), (2.0)) AS t(x)")).fetchall()
    assert rows == [(3,), (-3,), (2,)]
    rows = con.sql(generic.replace("FROM t", "FROM (VALUES (TIMESTAMP '2024-01-01 09:00:00.5'), "
                                   "(NULL)) AS t(x)")).fetchall()
    assert rows == [(1704099600,), (None,)]
    rows = con.sql(generic.replace("FROM t", "FROM (VALUES (' 42 '), ('2024-01-01')) AS t(x)")).fetchall()
    assert rows == [(42,), (None,)]


def test_decimal_division_takes_sparks_precision():
    """Spark divides DECIMALs exactly (rounding HALF_UP at its result scale); DuckDB would
    divide in DOUBLE: 20.0 / 1 came back as 19.9999999999999983222784."""
    schema = {"t": {"amt": "DECIMAL(10, 2)", "s": "DECIMAL(13, 1)", "n": "BIGINT"}}
    con = duckdb.connect()
    sql = duck("SELECT amt / 4 AS q, s / n AS r FROM t", schema)
    result = con.sql(sql.replace("FROM t", "FROM (VALUES (CAST(1.10 AS DECIMAL(10, 2)), "
                                 "CAST(20.0 AS DECIMAL(13, 1)), CAST(1 AS BIGINT)), (-0.02, -2.0, 3), "
                                 "(1, 1, 0)) AS t(amt, s, n)"))
    assert [str(t) for t in result.types] == ["DECIMAL(14,6)", "DECIMAL(34,22)"]
    assert result.fetchall() == [(Decimal("0.275000"), Decimal("20")),
                                 (Decimal("-0.005000"), Decimal("-0.6666666666666666666667")),
                                 (Decimal("0.25"), None)]


def test_spark_target_is_an_identity_copy():
    query = sqlglot.parse_one("SELECT dayofweek(d) FROM t", read="spark")
    result = to_target(query, "spark")
    assert result is not query
    assert result.sql(dialect="spark") == query.sql(dialect="spark")


def test_input_is_not_modified():
    sql = "SELECT date_add(d, 1), sum(n) OVER (ORDER BY d) FROM t"
    query = sqlglot.parse_one(sql, read="spark")
    before = query.sql(dialect="spark")
    to_target(query, "duckdb", {"t": {"d": "DATE", "n": "INT"}})
    assert query.sql(dialect="spark") == before
    assert all("dialect_node_id" not in node.meta for node in query.walk())


def test_refusal_is_located_and_says_what_to_do():
    with pytest.raises(ProjectError) as raised:
        duck("SELECT a,\n       date_format(d, 'yyyy QQ') AS q\nFROM t")
    error = raised.value
    assert (error.line, error.col) == (2, 18)
    assert error.message.startswith("date pattern letter(s) Q in 'yyyy QQ' are not supported")
    assert str(error.at("models/q.sql")).startswith("models/q.sql:2:18: date pattern letter(s) Q")


def test_unrenderable_construct_is_a_project_error():
    with pytest.raises(ProjectError) as raised:
        duck("SELECT soundex(s) FROM t")
    assert raised.value.message == (
        "this query cannot be translated for the duckdb engine: SOUNDEX is not supported in "
        "DuckDB; rewrite that construct in plain Spark SQL")


def test_unknown_target():
    with pytest.raises(ProjectError, match="no dialect rules for target dialect 'mysql'"):
        to_target(sqlglot.parse_one("SELECT 1", read="spark"), "mysql")


@pytest.mark.parametrize("sql, fragment", [
    ("SELECT dayofweek(d) FROM t", "`dayofweek` gives other values on PostgreSQL"),
    ("SELECT CAST(3.7 AS INT)", "casting a fractional number to an integer rounds on PostgreSQL"),
    ("SELECT TIME_BETWEEN_PREVIOUS_MATCH(ts, e = 1, 'minutes') OVER (ORDER BY ts) FROM t",
     "`time_between_previous_match` is an Adobe-defined function with no PostgreSQL translation"),
])
def test_postgres_refuses_known_differences(sql, fragment):
    with pytest.raises(ProjectError) as raised:
        to_target(sqlglot.parse_one(sql, read="spark"), "postgres")
    assert fragment in raised.value.message


# Spark's value where DuckDB's differs silently: domains, NULL elements, decimal-text ties.
EDGE_GOLDEN = [
    ("SELECT ln(x) FROM t", "SELECT CASE WHEN x <= 0 THEN NULL ELSE LN(x) END FROM t"),
    ("SELECT log(2, x) FROM t", "SELECT CASE WHEN 2 <= 0 OR x <= 0 THEN NULL ELSE LOG(2, x) END FROM t"),
    ("SELECT array_contains(a, 3) FROM t",
     "SELECT CASE WHEN ARRAY_CONTAINS(a, 3) THEN TRUE WHEN a IS NULL OR 3 IS NULL THEN NULL "
     "WHEN LIST_COUNT(a) < LENGTH(a) THEN NULL ELSE FALSE END FROM t"),
    ("SELECT cardinality(a) FROM t", "SELECT CAST(COALESCE(CARDINALITY(a), -1) AS INT) FROM t"),
    ("SELECT round(x, 2) FROM t",
     "SELECT CASE WHEN REGEXP_FULL_MATCH(CAST(x AS TEXT), '-?[0-9]+[.][0-9]{2}5') "
     "THEN CAST(ROUND(CAST(CAST(x AS TEXT) AS DECIMAL(38, 3)), 2) AS DOUBLE) ELSE ROUND(x, 2) END FROM t"),
    ("SELECT round(n, 2) FROM t", "SELECT CAST(ROUND(n, 2) AS DECIMAL(10, 2)) FROM t"),
    ("SELECT to_date(s, 'yyyy-MM-dd') FROM t",
     "SELECT CASE WHEN REGEXP_FULL_MATCH(CAST(s AS TEXT), '[0-9]{4}\\-[0-9]{2}\\-[0-9]{2}') "
     "THEN TRY_CAST(s AS DATE) END FROM t"),
    ("SELECT to_date(ts, 'dd/MM/yyyy') FROM t", "SELECT TRY_CAST(ts AS DATE) FROM t"),
]


@pytest.mark.parametrize("spark_sql, duckdb_sql", EDGE_GOLDEN)
def test_edge_values_golden(spark_sql, duckdb_sql):
    schema = {"t": {"x": "DOUBLE", "n": "DECIMAL(10, 3)", "s": "STRING", "a": "ARRAY<INT>",
                    "ts": "TIMESTAMP"}}
    assert duck(spark_sql, schema) == duckdb_sql


@pytest.mark.parametrize("sql, message", [
    ("SELECT crc32(s) FROM t", (1, 12, "`crc32` has no exact equivalent on the local engine; "
                                      "compare md5() or sha2() digests instead")),
    ("SELECT to_date(s, 'ddd') FROM t", (1, 14,
     "parsing text with the date pattern 'ddd' is not as strict on the local engine "
     "as on Spark; use the letters yyyy yy MM M dd d HH H hh h mm m ss s SSS E MMM a")),
])
def test_refusals_name_the_construct_and_place(sql, message):
    with pytest.raises(ProjectError) as raised:
        duck(sql, {"t": {"s": "STRING"}})
    assert (raised.value.line, raised.value.col, raised.value.message) == message


@pytest.mark.parametrize("spark_sql, postgres_sql", [
    ("SELECT array_contains(a, 3) FROM t", "SELECT 3 = ANY(a) FROM t"),
    ("SELECT cardinality(a) FROM t", "SELECT CAST(COALESCE(CARDINALITY(a), -1) AS INT) FROM t"),
    ("SELECT array_remove(a, v) FROM t", "SELECT CASE WHEN v IS NULL THEN NULL ELSE ARRAY_REMOVE(a, v) END FROM t"),
])
def test_postgres_edge_values(spark_sql, postgres_sql):
    query = to_target(sqlglot.parse_one(spark_sql, read="spark"), "postgres")
    assert query.sql(dialect="postgres") == postgres_sql


def test_postgres_keeps_what_agrees():
    query = to_target(sqlglot.parse_one("SELECT lower(s), CAST(n AS INT) FROM t", read="spark"),
                      "postgres")
    assert query.sql(dialect="postgres") == "SELECT LOWER(s), CAST(n AS INT) FROM t"


def test_session_setup():
    assert DuckDBAdapter.session_setup == ("SET TimeZone = 'UTC'",)
    assert all(s.startswith("CREATE OR REPLACE MACRO spark_") for s in DuckDBAdapter.database_setup)
    assert PostgresAdapter.session_setup == ("SET TIME ZONE 'UTC'",)
    con = duckdb.connect()
    DuckDBAdapter.prepare(con)
    assert con.sql("SELECT current_setting('TimeZone')").fetchall() == [("UTC",)]
    assert con.sql("SELECT spark_decimal_mul(-12, 5, 1, 38, CAST('1' || repeat('0', 38) AS HUGEINT))"
                   ).fetchall() == [(-6,)]


def test_a_view_with_exact_decimal_macros_reads_from_a_plain_connection(tmp_path):
    """The macros live in the database file, so a notebook's own DuckDB connection reads a view
    whose SQL calls them."""
    from runner.adapters.duckdb import DuckDBAdapter as Adapter

    adapter = Adapter("local", {"path": "local.duckdb"}, tmp_path)
    adapter.execute("CREATE VIEW v AS SELECT CAST(CAST(spark_decimal_mul(7, 3, 0, 38, "
                    "CAST('100' AS HUGEINT)) AS DECIMAL(38, 0)) AS DECIMAL(38, 0)) AS x")
    adapter.close()
    con = duckdb.connect(str(tmp_path / "local.duckdb"), read_only=True)
    assert con.sql("SELECT x FROM v").fetchall() == [(21,)]
    con.close()


def test_module_example():
    result = doctest.testmod(runner.compile.dialect.translate)
    assert result.attempted >= 1 and result.failed == 0


def test_output_schema_feeds_the_children():
    sources = {"nums": {"id": "INT", "x": "DOUBLE", "amt": "DECIMAL(10, 2)", "n": "INT"}}
    parent = sqlglot.parse_one("SELECT id AS userId, CAST(x AS INT) AS i, sum(n) AS s, "
                               "avg(amt) AS a, amt / 4 AS q, x FROM nums GROUP BY 1, 2, 5, 6",
                               read="spark")
    types = output_schema(parent, sources)
    assert {name: t.sql("spark") for name, t in types.items()} == {
        "userId": "INT", "i": "INT", "s": "BIGINT", "a": "DECIMAL(14, 6)",
        "q": "DECIMAL(14, 6)", "x": "DOUBLE"}
    child = sqlglot.parse_one("SELECT sum(s) AS total, avg(q) AS m FROM parent", read="spark")
    sql = to_target(child, "duckdb", {"parent": types}).sql(dialect="duckdb")
    assert sql.startswith("SELECT CAST(SUM(s) AS BIGINT) AS total, ")
    con = duckdb.connect()
    result = con.sql(sql.replace("FROM parent", "FROM (VALUES (1, CAST(0.275 AS DECIMAL(14, 6))), "
                                 "(2, 1), (3, 1)) AS parent(s, q)"))
    assert [str(t) for t in result.types] == ["BIGINT", "DECIMAL(18,10)"]
    assert result.fetchall() == [(6, Decimal("0.7583333333"))]  # 2.275 / 3, HALF_UP


def test_wrapping_an_aggregate_keeps_its_window_in_the_tree():
    query = sqlglot.parse_one("SELECT sum(n) FILTER (WHERE n > 0) OVER (ORDER BY id) FROM t", read="spark")
    window, total = query.find(exp.Window), query.find(exp.Sum)
    assert runner.compile.dialect.rules.cast_result(total, "BIGINT") is total
    assert query.find(exp.Window) is window and isinstance(window.parent, exp.Cast)
    assert query.sql(dialect="duckdb") == (
        "SELECT CAST(SUM(n) FILTER(WHERE n > 0) OVER (ORDER BY id NULLS FIRST) AS BIGINT) FROM t")


@pytest.mark.parametrize("spark_sql, duckdb_sql", [
    ("SELECT web.webPageDetails.* FROM events", "SELECT UNNEST(web.webPageDetails) FROM events"),
    ("SELECT db.t.* FROM db.t", "SELECT db.t.* FROM db.t"),
    ("SELECT x.* FROM t AS x", "SELECT x.* FROM t AS x"),
])
def test_struct_star_but_not_table_star(spark_sql, duckdb_sql):
    assert duck(spark_sql) == duckdb_sql


def test_randn_is_a_standard_normal():
    sql = duck("SELECT randn() AS r FROM range(20000)")
    assert sql == "SELECT SQRT(-2 * LN(1 - RANDOM())) * COS(2 * PI() * RANDOM()) AS r FROM RANGE(20000) AS range(id)"
    con = duckdb.connect()
    con.execute("SELECT setseed(0.25)").fetchall()
    [(mean, std)] = con.execute(f"SELECT avg(r), stddev_pop(r) FROM ({sql})").fetchall()
    assert abs(mean) < 0.03 and abs(std - 1) < 0.03
    with pytest.raises(ProjectError, match="`randn` with a seed cannot repeat"):
        duck("SELECT randn(42)")
