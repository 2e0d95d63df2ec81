"""Generators and JSON text on DuckDB: the SQL produced, refusals and the runtime error.

Values are checked against Spark by tests/fidelity (the generator and JSON cases).
"""

from __future__ import annotations

import duckdb
import pytest
import sqlglot

from runner.compile.dialect.translate import to_target
from runner.errors import ProjectError

SCHEMA = {"t": {"id": "INT", "a": "ARRAY<INT>", "m": "MAP<STRING, INT>", "s": "STRING",
                "arr": "ARRAY<STRUCT<x: INT, y: STRING>>"}}


def duck(sql: str) -> str:
    return to_target(sqlglot.parse_one(sql, read="spark"), "duckdb", SCHEMA).sql(dialect="duckdb")


@pytest.mark.parametrize("spark_sql, duckdb_sql", [
    ("SELECT id, stack(2, id, 'a', 3, 'b') AS (k, v) FROM t",
     "SELECT id, UNNEST([id, 3]) AS k, UNNEST(['a', 'b']) AS v FROM t"),
    ("SELECT inline(arr) AS (p, q) FROM t",
     "SELECT UNNEST(LIST_TRANSFORM(arr, LAMBDA e : e.x)) AS p, "
     "UNNEST(LIST_TRANSFORM(arr, LAMBDA e : e.y)) AS q FROM t"),
    ("SELECT explode(m) FROM t",
     "SELECT UNNEST(MAP_KEYS(m)) AS key, UNNEST(MAP_VALUES(m)) AS value FROM t"),
    ("SELECT explode_outer(a) AS e FROM t",
     "SELECT UNNEST(CASE WHEN CARDINALITY(a) > 0 THEN a ELSE [NULL] END) AS e FROM t"),
])
def test_generators_golden(spark_sql, duckdb_sql):
    assert duck(spark_sql) == duckdb_sql


@pytest.mark.parametrize("sql, message", [
    ("SELECT stack(id, 1, 2) FROM t", "`stack` needs a literal positive number of rows"),
    ("SELECT explode_outer(m) FROM t", "`explode_outer` of a map is not supported on the local "
                                       "engine; use LATERAL VIEW OUTER explode(map_entries(m))"),
    ("SELECT posexplode_outer(a) AS (p, v, w) FROM t",
     "this generator makes 2 columns but 3 alias(es) name them"),
])
def test_generator_refusals(sql, message):
    with pytest.raises(ProjectError) as raised:
        duck(sql)
    assert raised.value.message == message


def test_get_json_object_fails_loudly_where_only_jackson_reads_the_text():
    sql = duck("SELECT get_json_object(s, '$.a') FROM t")
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES ('{''a'': 1}')) AS v(s)")
    with pytest.raises(duckdb.Error) as raised:
        con.execute(sql).fetchall()
    assert "get_json_object: Spark may read this text (single quotes or control characters, " \
           "which the local engine does not accept): {'a': 1}" in str(raised.value)
    con.execute("DELETE FROM t; INSERT INTO t VALUES ('{\"a\": 1'), ('{\"a\": 2} tail')")
    assert con.execute(sql).fetchall() == [(None,), ("2",)]


def test_from_json_fails_loudly_on_duplicate_keys_and_single_quotes():
    sql = duck("SELECT from_json(s, 'a INT, b STRUCT<c: STRING>') FROM t")
    con = duckdb.connect()
    con.execute("CREATE TABLE t (s VARCHAR)")
    for text, error in [('{"a": 1, "a": 2}', "from_json: duplicate keys in {\"a\": 1, \"a\": 2} "
                                             "(Spark keeps the last value)"),
                        ("{'a': 1}", "from_json: Spark may read this text (single quotes, which "
                                     "the local engine does not accept): {'a': 1}")]:
        con.execute("DELETE FROM t")
        con.execute("INSERT INTO t VALUES (?)", [text])
        with pytest.raises(duckdb.Error) as raised:
            con.execute(sql).fetchall()
        assert error in str(raised.value)


def test_from_json_refuses_a_schema_that_is_not_ddl():
    with pytest.raises(ProjectError) as raised:
        duck("SELECT from_json(s, 'a INT,,') FROM t")
    assert raised.value.message.startswith("`from_json` schema 'a INT,,' is not a DDL list")
