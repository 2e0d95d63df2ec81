"""Dependency extraction (goldens in tests/fixtures/dependencies.sql) and parse errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runner.errors import ProjectError
from runner.project.parsing import parse_query, reference_name, table_references

FIXTURES = Path(__file__).parent / "fixtures" / "dependencies.sql"


def _cases() -> list[tuple[str, list[str], str]]:
    text = FIXTURES.read_text()
    cases = []
    for block in re.split(r"\n(?=-- case: )", text)[1:]:
        lines = block.strip().splitlines()
        title = lines[0].removeprefix("-- case: ").strip()
        expect = lines[1].removeprefix("-- expect:").strip()
        sql = "\n".join(lines[2:])
        cases.append((title, [e.strip() for e in expect.split(",") if e.strip()], sql))
    return cases


CASES = _cases()


def test_fixture_file_has_the_cases() -> None:
    assert len(CASES) == 15


@pytest.mark.parametrize(("title", "expected", "sql"), CASES, ids=[c[0] for c in CASES])
def test_dependencies(title: str, expected: list[str], sql: str) -> None:
    query = parse_query(sql, "models/x.sql", "spark")
    assert [reference_name(t) for t in table_references(query)] == expected


def test_parse_error_names_file_line_col_and_text() -> None:
    with pytest.raises(ProjectError) as info:
        parse_query("SELECT a,\n  FROM t WHERE (", "models/bad.sql", "spark")
    message = str(info.value)
    assert message.startswith("models/bad.sql:2:")
    assert "cannot parse SQL" in message


def test_two_statements_rejected_with_position() -> None:
    with pytest.raises(ProjectError) as info:
        parse_query("SELECT 1;\nSELECT 2", "models/two.sql", "spark")
    assert str(info.value).startswith("models/two.sql:2:1: a model holds exactly one query")


def test_ddl_rejected() -> None:
    with pytest.raises(ProjectError, match=r"models/d.sql:1:1: a model is one SELECT query, not a "
                                           r"CREATE statement"):
        parse_query("CREATE TABLE x AS SELECT 1", "models/d.sql", "spark")


def test_empty_file_rejected() -> None:
    with pytest.raises(ProjectError, match="models/e.sql: the file holds no SQL"):
        parse_query("-- nothing here\n", "models/e.sql", "spark")


@pytest.mark.parametrize(("sql", "where", "fragment"), [
    ("SELECT id,\n       DATEDIFF('day', a, b) AS d FROM t", "2:8",
     "`DATEDIFF` takes its unit without quotes on Spark (Spark rejects 'day': "
     "INVALID_PARAMETER_VALUE.DATETIME_UNIT); write DATEDIFF(DAY, ...)"),
    ("SELECT timestampadd(\n  'HOUR', 1, ts) FROM t", "1:8", "`timestampadd` takes its unit"),
    ("SELECT x FROM t\nWHERE date_sub(d, 1, 2) > d", "2:7",
     "`date_sub` takes two arguments on Spark (Spark rejects 3)"),
    ("SELECT x FROM t ORDER BY x\n  FETCH FIRST 2 ROWS ONLY", "2:3",
     "FETCH FIRST n ROWS ONLY is not Spark SQL (Spark rejects it); write LIMIT n"),
    ("SELECT extract('day' FROM d) FROM t", "1:16",
     "extract takes its field without quotes on Spark (Spark rejects 'day')"),
])
def test_what_spark_rejects_is_refused_at_file_line_col(sql: str, where: str, fragment: str) -> None:
    with pytest.raises(ProjectError) as info:
        parse_query(sql, "models/m.sql", "spark")
    assert str(info.value).startswith(f"models/m.sql:{where}: {fragment}")


def test_what_spark_accepts_is_kept() -> None:
    sql = ("SELECT datediff(DAY, a, b), date_add('2024-01-01', 1), datediff('2024-01-05', d),\n"
           "       dateadd(HOUR, 1, ts), date_sub(d, 1), extract(DAY FROM d), 'datediff(' AS s,\n"
           "       2.5D, 1L, 0.2F, 1.5BD, x::long, CAST(y AS DEC(5, 1)), 'a' 'b'\n"
           "FROM t LIMIT 5")
    assert parse_query(sql, "models/m.sql", "spark").sql("spark").startswith("SELECT DATEDIFF(")


def test_doubled_quote_in_a_string_is_refused_where_it_is() -> None:
    with pytest.raises(ProjectError) as info:
        parse_query("SELECT a,\n  'it''s' AS s FROM t", "models/m.sql", "spark")
    assert str(info.value).startswith("models/m.sql:2:7: a doubled quote inside a string literal "
                                      "is one quote on Spark ('it''s' is it's)")


@pytest.mark.parametrize(("sql", "where", "fragment"), [
    ("SELECT a,\n       CAST(n AS INT64) FROM t", "2:18", "'INT64' is not a Spark type name"),
    ("SELECT n::text FROM t", "1:11", "'text' is not a Spark type name"),
    ("SELECT * EXCLUDE (n) FROM t", "1:10", "* EXCLUDE (...) is not Spark SQL"),
])
def test_type_names_and_star_exclude_spark_rejects(sql: str, where: str, fragment: str) -> None:
    with pytest.raises(ProjectError) as info:
        parse_query(sql, "models/m.sql", "spark")
    assert str(info.value).startswith(f"models/m.sql:{where}: ")
    assert fragment in str(info.value)
