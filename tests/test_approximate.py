"""The approximate-functions policy: exact and noted by default, refused on request."""

from __future__ import annotations

import json

import pytest
import sqlglot

from runner import BuildOptions, build, open_session
from runner.cli.main import main
from runner.compile.dialect.approximate import Note
from runner.compile.dialect.translate import to_target
from runner.errors import ProjectError

SQL = "SELECT user_id,\n       percentile_approx(amount, 0.5, 100) AS med\nFROM raw_orders GROUP BY user_id"
PERCENTILE_NOTE = ("`percentile_approx` is computed exactly on the local engine; Spark's value is "
                   "the Greenwald-Khanna estimate, within n / accuracy ranks of the exact one "
                   "(exact for small groups); accuracy only tunes that sketch")
DISTINCT_NOTE = ("`approx_count_distinct` is computed exactly on the local engine; Spark's value "
                 "is a HyperLogLog++ estimate (relative error rsd, default 0.05; exact for small "
                 "counts)")


def test_exact_by_default_with_a_note_at_the_call() -> None:
    notes: list[Note] = []
    query = sqlglot.parse_one("SELECT g,\n  approx_count_distinct(u, 0.01) AS n,\n"
                              "  percentile_approx(x, array(0.25, 0.75), 50) AS q FROM t GROUP BY g",
                              read="spark")
    sql = to_target(query, "duckdb", notes=notes).sql("duckdb")
    # (0.25 is a DECIMAL(2, 2) literal on Spark, and the local SQL keeps its type)
    assert sql == ("SELECT g, COUNT(DISTINCT u) AS n, QUANTILE_DISC(x, [CAST(0.25 AS DECIMAL(2, 2)), "
                   "CAST(0.75 AS DECIMAL(2, 2))]) AS q FROM t GROUP BY g")
    assert notes == [Note(2, 3, DISTINCT_NOTE), Note(3, 21, PERCENTILE_NOTE)]


def test_spark_target_runs_the_estimate_without_a_note() -> None:
    notes: list[Note] = []
    to_target(sqlglot.parse_one("SELECT approx_count_distinct(u) FROM t", read="spark"), "spark",
              notes=notes)
    assert notes == []


def test_refuse_policy_refuses_at_the_call() -> None:
    query = sqlglot.parse_one("SELECT g,\n  approx_count_distinct(u) FROM t GROUP BY g", read="spark")
    with pytest.raises(ProjectError) as raised:
        to_target(query, "duckdb", approximate="refuse")
    assert (raised.value.line, raised.value.message) == (2, (
        "`approx_count_distinct` is an estimate the local engine does not reproduce "
        "(approximate: refuse in project.yml); compute it exactly (percentile, "
        "count(DISTINCT x)) or set approximate: exact"))


def test_ephemeral_model_is_noted_once_in_its_own_file(project) -> None:
    project.model("eph", "/* config\nmaterialized: ephemeral\n*/\n"
                         "SELECT user_id, approx_count_distinct(order_id) AS n FROM raw_orders "
                         "GROUP BY user_id")
    project.model("m", "SELECT * FROM eph")
    session = open_session(project.root, BuildOptions())
    session.adapter.close()
    assert session.plan.note_lines() == [f"models/eph.sql:4:17: {DISTINCT_NOTE}"]
    assert session.plan["m"].notes == []


def test_compile_prints_notes_and_marks_them_in_the_sql(project, capsys) -> None:
    project.model("m", SQL)
    assert main(["compile", "--print", "--project-dir", str(project.root)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["-- models/m.sql (table)", f"-- note: models/m.sql:2:26: {PERCENTILE_NOTE}"]
    assert f"Note: models/m.sql:2:26: {PERCENTILE_NOTE}" in out


def test_build_prints_notes_and_records_them_in_the_manifest(project, echo_lines) -> None:
    lines, echo = echo_lines
    project.model("m", SQL)
    assert build(project.root, BuildOptions(), echo=echo).exit_code == 0
    assert lines[0] == f"Note: models/m.sql:2:26: {PERCENTILE_NOTE}"
    manifest = json.loads((project.root / "target" / "manifest.json").read_text())
    assert manifest["nodes"]["model.demo.m"]["meta"]["runner"]["notes"] == [
        {"line": 2, "col": 26, "message": PERCENTILE_NOTE}]
    assert project.sql("SELECT user_id, med FROM m ORDER BY user_id") == [
        ("u1", 5.0), ("u2", 30.0), ("u3", 7.5)]


def test_project_setting_refuse(project) -> None:
    yml = (project.root / "project.yml").read_text()
    project.write("project.yml", yml + "approximate: refuse\n")
    project.model("m", SQL)
    with pytest.raises(ProjectError) as raised:
        open_session(project.root, BuildOptions())
    assert str(raised.value).startswith("models/m.sql:2:")
    assert "(approximate: refuse in project.yml)" in str(raised.value)


def test_project_setting_is_strict(project) -> None:
    yml = (project.root / "project.yml").read_text()
    project.write("project.yml", yml + "approximate: exactly\n")
    with pytest.raises(ProjectError) as raised:
        open_session(project.root, BuildOptions())
    assert str(raised.value) == (
        "project.yml: approximate: 'exactly' is not one of exact, refuse (did you mean "
        "'exact'?); it says how the local engine runs percentile_approx and approx_count_distinct")
