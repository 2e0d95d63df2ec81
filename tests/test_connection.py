"""runner.connect: a project from Python. Builds, and queries in the project's SQL that give
the values a model would give."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pyarrow as pa
import pytest

import runner

FEATURES = """
    SELECT user_id, count(*) AS n, sum(amount) AS total,
           date_sub(DATE'2024-03-01', CAST(count(*) AS INT)) AS back, count_if(amount > var('min_amount')) AS big,
           CAST(sum(amount) AS INT) / 2 AS half
    FROM raw_orders GROUP BY user_id
    """


@pytest.fixture
def shop(project):
    project.model("features", FEATURES)
    project.model("only_inline", "/* config\nmaterialized: ephemeral\n*/\nSELECT * FROM features")
    project.model("gold", "SELECT f.user_id, f.total FROM features f JOIN raw_users u "
                          "ON f.user_id = u.user_id WHERE u.tier = 'gold'")
    return project


def test_a_query_in_spark_sql_gives_what_the_model_gives(shop) -> None:
    with runner.connect(str(shop.root)) as project:
        result = project.build(echo=lambda line: None)
        assert result.ok and [r.status for r in result.results] == ["success"] * 2
        ad_hoc = project.query(FEATURES + " ORDER BY user_id")  # Spark's date_sub, count_if, var()
        built = project.query("SELECT * FROM features ORDER BY user_id")
    assert ad_hoc.to_dict("records") == built.to_dict("records")
    assert ad_hoc.to_dict("records")[0] == {
        "user_id": "u1", "n": 2, "total": 25.0, "back": dt.date(2024, 2, 28), "big": 1,
        "half": 12.5}


def test_model_names_read_the_current_version_and_sources_their_table(shop) -> None:
    project = runner.connect(shop.root)
    project.build(echo=lambda line: None)
    shop.model("features", FEATURES.replace("count(*) AS n", "count(*) + 100 AS n"))
    assert project.query("SELECT n FROM features WHERE user_id = 'u1'")["n"].tolist() == [2]
    assert "FROM features" in project.translate("SELECT * FROM features")  # the pointer view
    project.build(echo=lambda line: None)
    assert project.query("SELECT n FROM features WHERE user_id = 'u1'")["n"].tolist() == [102]
    table = project.query("SELECT g.user_id, o.order_id FROM gold g JOIN raw_orders o "
                          "ON g.user_id = o.user_id ORDER BY 2", arrow=True)
    assert isinstance(table, pa.Table) and table.column("order_id").to_pylist() == [1, 2, 4, 5]
    assert project.show("gold", 1).shape == (1, 2)
    project.close()


@pytest.mark.parametrize(("sql", "message"), [
    ("SELECT * FROM featurs", "<query>:1:15: 'featurs' is no model or source of the project "
                              "(did you mean 'features'?)"),
    ("SELECT * FROM only_inline", "<query>:1:15: 'only_inline' is an ephemeral model, which has "
                                  "no table; query what it reads, or make it a view"),
    ("SELECT datediff('day', a, b) FROM features", "<query>:1:8: `datediff` takes its unit "
                                                   "without quotes on Spark"),
    ("SELECT gcd(n, 2) FROM features", "<query>:1:8: Spark has no function `gcd`"),
])
def test_a_bad_query_is_a_located_project_error(shop, sql, message) -> None:
    with runner.connect(shop.root) as project:
        project.build(echo=lambda line: None)
        with pytest.raises(runner.ProjectError) as raised:
            project.query(sql)
    assert str(raised.value).startswith(message)


def test_a_model_not_built_yet_says_how_to_build_it(shop) -> None:
    with runner.connect(shop.root) as project, pytest.raises(runner.ProjectError) as raised:
        project.query("SELECT * FROM gold")
    assert str(raised.value) == ("<query>:1:15: model 'gold' is not built on target 'local'; "
                                 "run runner build --select gold")


def test_an_open_connection_does_not_keep_a_terminal_build_waiting(shop) -> None:
    """Between calls the connection holds nothing: a build in another process runs at once,
    with the connection still open (not closed) in this one."""
    project = runner.connect(shop.root)
    project.build(echo=lambda line: None)
    assert len(project.table("features")) == 3
    shop.write("project.yml", (shop.root / "project.yml").read_text()
               + "targets:\n  local: {type: duckdb, lock_wait: 0}\n")
    done = subprocess.run([sys.executable, "-m", "runner.cli.main", "build", "--full-refresh",
                           "--project-dir", str(shop.root)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Waiting" not in done.stdout
    assert len(project.table("features", limit=2)) == 2
    project.close()


def test_a_build_result_shows_as_a_table_in_a_notebook(shop) -> None:
    with runner.connect(shop.root) as project:
        result = project.build(echo=lambda line: None)
    frame = result.to_pandas()
    assert frame[["name", "status", "rows"]].to_dict("records") == [
        {"name": "features", "status": "success", "rows": 3},
        {"name": "gold", "status": "success", "rows": 2}]
    page = result._repr_html_()
    assert page.startswith("<p><b>OK</b> on target <code>local</code>: 2 success</p><table>")
    assert "<td>features</td><td>success</td><td>table</td><td>3</td>" in page


def test_the_runner_cell_magic_runs_a_cell_of_spark_sql(shop) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    with runner.connect(shop.root) as project:
        project.build(echo=lambda line: None)
    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "runner")
    frame = shell.run_cell_magic("runner", f"--project-dir {shop.root}",
                                 "SELECT user_id, date_add(back, 1) AS next FROM features "
                                 "ORDER BY user_id")
    assert frame.to_dict("records")[0] == {"user_id": "u1", "next": dt.date(2024, 2, 29)}
    table = shell.run_cell_magic("runner", f"--project-dir {shop.root} --arrow",
                                 "SELECT count(*) AS n FROM gold")
    assert table.column("n").to_pylist() == [2]
