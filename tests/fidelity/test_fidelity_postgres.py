"""The fidelity corpus on PostgreSQL (``-m postgres``): never a silently different value.

PostgreSQL is a secondary engine: each case that reads only scalar fixtures (``nums``) must be
refused by to_target, fail when run, or give Spark's recorded values. Numbers compare by value
(PostgreSQL returns NUMERIC where Spark has BIGINT), dates and timestamps by kind and value.
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

import pytest
from sqlglot import exp

from fidelity_harness import encode_scalar, load_corpus, load_expected, values_equal
from runner.adapters.postgres import PostgresAdapter
from runner.compile.dialect.translate import to_target
from runner.errors import ProjectError
from runner.project.parsing import parse_query

CORPUS = load_corpus()
EXPECTED = load_expected()
CASES = [case for case in CORPUS["cases"]
         if "events" not in case["sql"] and case["name"] in EXPECTED and "reference" not in case]
DSN = os.environ.get("RUNNER_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="module")
def pg():
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        con = psycopg2.connect(DSN, connect_timeout=5)
    except psycopg2.OperationalError:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no PostgreSQL at {DSN}")
    con.autocommit = True
    cur = con.cursor()
    schema_name = f"fidelity_{os.getpid()}"
    cur.execute(f"CREATE SCHEMA {schema_name}")
    cur.execute(f"SET search_path = {schema_name}")
    for statement in PostgresAdapter.session_setup:
        cur.execute(statement)
    cur.execute(f"CREATE TABLE nums AS {translate(CORPUS['tables']['nums'], None)}")
    cur.execute("SELECT column_name, data_type, numeric_precision, numeric_scale FROM "
                "information_schema.columns WHERE table_schema = %s AND table_name = 'nums'",
                (schema_name,))
    schema = {"nums": {name: exp.DataType.build(
        f"NUMERIC({precision}, {scale})" if dtype == "numeric" else dtype, dialect="postgres")
        for name, dtype, precision, scale in cur.fetchall()}}
    yield cur, schema
    cur.execute(f"DROP SCHEMA {schema_name} CASCADE")
    con.close()


def translate(sql: str, schema: dict[str, Any] | None) -> str:
    return to_target(parse_query(sql, "case.sql", "spark"), "postgres", schema).sql(dialect="postgres")


def same_value(got: Any, want: Any) -> bool:
    """Spark's value, numbers compared by value across BIGINT/NUMERIC/DOUBLE."""
    def number(v: Any) -> float | None:
        if isinstance(v, dict) and "decimal" in v:
            return float(Decimal(v["decimal"]))
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
    if number(got) is not None and number(want) is not None:
        return values_equal(number(got), number(want))
    if isinstance(got, list) and isinstance(want, list):
        return len(got) == len(want) and all(map(same_value, got, want))
    return values_equal(got, want)


def outcome(pg: tuple[Any, dict[str, Any]], case: dict[str, Any]) -> str:
    """'refused', 'error' (PostgreSQL raised), 'equal', or a description of the difference."""
    cur, schema = pg
    try:
        sql = translate(case["sql"], schema)
    except ProjectError:
        return "refused"
    try:
        cur.execute(sql)
        rows = [[encode_scalar(v) for v in row] for row in cur.fetchall()]
    except Exception:  # psycopg2.Error: the engine refused it loudly, which is allowed here
        return "error"
    want = EXPECTED[case["name"]]["rows"]
    if len(rows) == len(want) and all(map(same_value, rows, want)):
        return "equal"
    return f"{sql} gave {rows}, Spark {want}"


@pytest.mark.postgres
@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_postgres_refuses_fails_or_agrees(pg, case):
    assert outcome(pg, case) in ("refused", "error", "equal")


@pytest.mark.postgres
def test_postgres_agrees_on_most_scalar_cases(pg):
    """The tier is not vacuous: most scalar cases do run on PostgreSQL with Spark's values."""
    outcomes = [outcome(pg, case) for case in CASES]
    assert outcomes.count("equal") >= 45
