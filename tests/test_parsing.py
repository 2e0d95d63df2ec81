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
