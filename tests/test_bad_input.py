"""The bad-input catalogue: each case is a project (or command line) a user could really have,
the exit code, and the one line the runner must print. After a good build, a bad one must leave
that build untouched (same pointers, same tables, nothing dropped).

Add every bad input found to CASES, with the exact message.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from runner.cli.main import main

EVENTS_YML = """
name: demo
sources:
  events:
    path: data/events.csv
"""


@dataclass
class Case:
    name: str
    setup: Callable[[Path], None]   # breaks a project that built once
    args: tuple[str, ...]
    code: int
    error: str                       # the whole of stderr
    after_good_build: bool = True


def write(root: Path, rel: str, data: str | bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def good_project(root: Path) -> None:
    write(root, "project.yml", EVENTS_YML)
    write(root, "data/events.csv", "user_id,amount\nu1,5\nu1,7\nu2,3\n")
    write(root, "macros/ratios.sql",
          "CREATE FUNCTION safe_ratio(a, b) RETURN CASE WHEN b = 0 THEN NULL ELSE a / b END;\n")
    write(root, "models/stg.sql", "SELECT user_id, amount FROM events\n")
    write(root, "models/totals.sql", "SELECT user_id, sum(amount) AS total FROM stg GROUP BY 1\n")


CASES = [
    Case("a source file that no longer exists",
         lambda r: write(r, "project.yml", EVENTS_YML.replace("events.csv", "events2.csv")),
         ("build",), 2,
         "Error: project.yml: sources.events.path: data/events2.csv does not exist (relative to "
         "the project folder); point it at a Parquet, CSV or JSON file\n"),
    Case("parentheses thousands of levels deep",
         lambda r: write(r, "models/totals.sql", "SELECT " + "(" * 3000 + "1" + ")" * 3000 + " AS x\n"),
         ("build",), 2,
         "Error: models/totals.sql: the query nests too deeply to compile (expressions or "
         "subqueries hundreds of levels inside one another); split it into CTEs or models\n"),
    Case("function calls hundreds of levels deep",
         lambda r: write(r, "models/totals.sql", "SELECT " + "".join(
             f"coalesce({i}, " for i in range(600)) + "1" + ")" * 600 + " AS x FROM stg\n"),
         ("build",), 2,
         "Error: models/totals.sql: the query nests too deeply to compile (expressions or "
         "subqueries hundreds of levels inside one another); split it into CTEs or models\n"),
    Case("a source glob that matches nothing",
         lambda r: write(r, "project.yml", EVENTS_YML.replace("events.csv", "x*.csv")),
         ("build",), 2,
         "Error: project.yml: sources.events.path: data/x*.csv matches no file (relative to "
         "the project folder); point it at a Parquet, CSV or JSON file\n"),
    Case("a source file of an unknown type",
         lambda r: write(r, "project.yml", EVENTS_YML.replace("events.csv", "events.xlsx")),
         ("build",), 2,
         "Error: project.yml: sources.events.path: unknown file type '.xlsx' (one of .csv, "
         ".json, .jsonl, .ndjson, .parquet)\n"),
    Case("a model that is not UTF-8",
         lambda r: write(r, "models/totals.sql",
                         b"SELECT user_id,\n  sum(amount) AS total -- caf\xe9\nFROM stg GROUP BY 1\n"),
         ("build",), 2,
         "Error: models/totals.sql:2:30: not UTF-8 (byte 0xE9 at line 2, column 30); save the "
         "file as UTF-8\n"),
    Case("a macro file that is not UTF-8",
         lambda r: write(r, "macros/ratios.sql", b"-- \xff\n"),
         ("ls",), 2,
         "Error: macros/ratios.sql:1:4: not UTF-8 (byte 0xFF at line 1, column 4); save the file "
         "as UTF-8\n"),
    Case("project.yml that is not UTF-8",
         lambda r: write(r, "project.yml", b"name: d\xe9mo\n"),
         ("ls",), 2,
         "Error: project.yml:1:8: not UTF-8 (byte 0xE9 at line 1, column 8); save the file as "
         "UTF-8\n"),
    Case("a misspelt macro suggests the macro, not an engine function",
         lambda r: write(r, "models/totals.sql",
                         "SELECT user_id, safe_ration(sum(amount), count(*)) AS r FROM stg "
                         "GROUP BY 1\n"),
         ("build",), 2,
         "Error: models/totals.sql:1:17: Spark has no function `safe_ration` (Spark rejects it: "
         "UNRESOLVED_ROUTINE); did you mean 'safe_ratio'?\n"),
    Case("two output columns of one name are refused (Spark's CREATE TABLE rejects them)",
         lambda r: write(r, "models/totals.sql",
                         "SELECT s.user_id,\n       t.user_id FROM stg s JOIN stg t ON s.user_id = t.user_id\n"),
         ("build",), 2,
         "Error: models/totals.sql:2:16: the result has two columns named `user_id` (Spark's "
         "CREATE TABLE rejects it: COLUMN_ALREADY_EXISTS); alias one of them, or list the columns "
         "instead of *\n"),
    Case("a function Spark does not have is refused at load, even where DuckDB has one",
         lambda r: write(r, "models/totals.sql",
                         "SELECT user_id,\n  gcd(count(*), 2) AS g FROM stg GROUP BY 1\n"),
         ("ls",), 2,
         "Error: models/totals.sql:2:3: Spark has no function `gcd` (Spark rejects it: "
         "UNRESOLVED_ROUTINE); define it as a macro in macros/\n"),
    Case("invalid YAML in --vars",
         lambda r: None, ("build", "--vars", "{as_of_date: [2026, }"), 2,
         "Error: runner build: argument --vars: not valid YAML: expected the node content, but "
         "found '}' at column 21 in '{as_of_date: [2026, }'; write a mapping such as "
         "'{as_of_date: 2026-05-01}' (see runner build --help)\n"),
    Case("an unknown command",
         lambda r: None, ("bild",), 2,
         "Error: runner: argument COMMAND: invalid choice: 'bild' (choose from 'build', "
         "'test', 'retry', 'plan', 'compile', 'ls', 'graph', 'clean', 'synth', 'export', 'debug', 'emulate', 'docs', 'lineage', 'datasets', 'scores', 'audience') (see runner "
         "--help)\n"),
    Case("target/state is a file, not a folder",
         lambda r: (shutil.rmtree(r / "target" / "state"), write(r, "target/state", "x")),
         ("build",), 1,
         "Error: target/state: File exists (check the path, its permissions and the free "
         "space)\n"),
]


def run(root: Path, *args: str) -> int:
    try:
        return main([*args, "--project-dir", str(root)])
    except SystemExit as stop:  # argparse's usage errors
        return int(stop.code or 0)


def snapshot(root: Path) -> tuple[list[tuple], str]:
    """The tables and views of the local database, and the target's state file."""
    con = duckdb.connect(str(root / "target" / "local.duckdb"), read_only=True)
    try:
        relations = con.sql("SELECT table_name, table_type FROM information_schema.tables "
                            "ORDER BY 1").fetchall()
    finally:
        con.close()
    return relations, (root / "target" / "state" / "local.json").read_text()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case: Case, tmp_path, capsys, monkeypatch) -> None:
    root = tmp_path / "demo"
    good_project(root)
    monkeypatch.chdir(root)
    assert run(root, "build") == 0
    before = snapshot(root)
    capsys.readouterr()
    case.setup(root)
    assert run(root, *case.args) == case.code
    assert capsys.readouterr().err == case.error
    if (root / "target" / "state").is_dir():
        assert snapshot(root) == before  # the last good build is untouched


def test_a_bom_is_read_as_utf8(tmp_path, capsys) -> None:
    root = tmp_path / "demo"
    good_project(root)
    write(root, "models/totals.sql",
          b"\xef\xbb\xbfSELECT user_id, sum(amount) AS total FROM stg GROUP BY 1\n")
    write(root, "project.yml", b"\xef\xbb\xbf" + EVENTS_YML.encode())
    assert run(root, "build") == 0
    assert "PASS=2" in capsys.readouterr().out


def test_a_moved_project_reads_its_sources_where_they_are_now(tmp_path, capsys) -> None:
    """File sources' views hold paths relative to the project: after the folder is moved (or
    cloned elsewhere), the build reads the files at the new place."""
    root = tmp_path / "demo"
    good_project(root)
    assert run(root, "build") == 0
    moved = tmp_path / "elsewhere" / "demo"
    moved.parent.mkdir()
    root.rename(moved)
    write(moved, "data/events.csv", "user_id,amount\nu1,5\nu9,1\n")  # new data, new place
    capsys.readouterr()
    assert run(moved, "build") == 0
    assert "PASS=2" in capsys.readouterr().out
    con = duckdb.connect(str(moved / "target" / "local.duckdb"), read_only=True)
    try:
        con.execute(f"SET file_search_path = '{moved}'")
        assert con.sql("SELECT * FROM totals ORDER BY 1").fetchall() == [("u1", 5), ("u9", 1)]
    finally:
        con.close()


def test_long_chains_of_integer_sums_and_unions_build(tmp_path, capsys) -> None:
    """Generated SQL is long, not deep: a 500-column INT sum (each + wraps like Spark's) and a
    3,000-branch UNION ALL compile in time about linear in their size and give the right values
    (they used to exceed Python's stack: an "internal error")."""
    root = tmp_path / "demo"
    good_project(root)
    columns = ", ".join(f"CAST(amount AS INT) * 10000000 AS a{i}" for i in range(500))
    write(root, "models/wide.sql", f"SELECT user_id, {columns} FROM stg\n")
    write(root, "models/summed.sql",
          "SELECT user_id, " + " + ".join(f"a{i}" for i in range(500)) + " AS s FROM wide\n")
    write(root, "models/unioned.sql", "\nUNION ALL\n".join(
        f"SELECT user_id, amount + {i} AS v FROM stg" for i in range(3000)) + "\n")
    assert run(root, "build") == 0
    assert "PASS=5" in capsys.readouterr().out
    con = duckdb.connect(str(root / "target" / "local.duckdb"), read_only=True)
    try:
        summed = con.sql("SELECT user_id, s FROM summed ORDER BY s").fetchall()
        unioned = con.sql("SELECT count(*), sum(v) FROM unioned").fetchall()[0]
    finally:
        con.close()
    wrap = lambda v: (v + 2 ** 31) % 2 ** 32 - 2 ** 31  # noqa: E731 - Spark's INT overflow
    assert sorted(summed, key=lambda r: r[1]) == sorted(
        [("u1", wrap(500 * 5 * 10 ** 7)), ("u1", wrap(500 * 7 * 10 ** 7)),
         ("u2", wrap(500 * 3 * 10 ** 7))], key=lambda r: r[1])
    assert unioned == (3 * 3000, 3000 * 15 + 3 * sum(range(3000)))
