"""The CLI surface: exit codes 0/1/2, one-line errors without tracebacks, ls/graph/compile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner.cli.main import main


@pytest.fixture
def two_models(project):
    project.model("stg", "SELECT order_id, user_id, amount FROM raw_orders")
    project.model("totals", "/* config\ntags: [daily]\n*/\n"
                            "SELECT user_id, sum(amount) AS total FROM stg GROUP BY user_id")
    return project


def run(project, *args: str) -> int:
    return main([*args, "--project-dir", str(project.root)])


def test_build_succeeds_then_is_a_noop(two_models, capsys) -> None:
    assert run(two_models, "build") == 0
    out = capsys.readouterr().out
    assert "1 of 2 OK created table stg__" in out and "[OK 5 rows in" in out
    assert run(two_models, "build") == 0
    assert "Done. PASS=0 NO-OP=2 ERROR=0 SKIP=0 TOTAL=2" in capsys.readouterr().out


def test_failed_model_exits_1(two_models, capsys) -> None:
    two_models.model("totals", "SELECT nope FROM stg")
    assert run(two_models, "build") == 1
    out = capsys.readouterr().out
    assert "ERROR table model totals" in out
    assert "models/totals.sql: " in out


def test_project_error_exits_2_with_one_line_and_no_traceback(two_models, capsys) -> None:
    two_models.model("totals", "SELECT * FROM stgg")
    assert run(two_models, "build") == 2
    err = capsys.readouterr().err
    assert err == ("Error: models/totals.sql:1:15: unknown table 'stgg' — not a model or a "
                   "declared source (did you mean 'stg'?); add a models/<name>.sql file or "
                   "declare it under sources: in project.yml\n")
    assert not (two_models.root / "target" / "manifest.json").exists()  # nothing ran


def test_debug_flag_shows_the_traceback(two_models, capsys) -> None:
    two_models.model("totals", "SELECT * FROM stgg")
    assert run(two_models, "build", "--debug") == 2
    assert "Traceback (most recent call last)" in capsys.readouterr().err


def test_bad_project_yml(two_models, capsys) -> None:
    two_models.write("project.yml", "name: demo\ntargets:\n  local:\n    type: duckdb\n    "
                                    "pth: x.duckdb\n")
    assert run(two_models, "ls") == 2
    assert capsys.readouterr().err == (
        "Error: project.yml: targets.local.pth: unknown key (did you mean 'path'?) "
        "(allowed: lock_wait, path, threads, type)\n")


def test_usage_error_exits_2(two_models, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        run(two_models, "build", "--threads", "0")
    assert info.value.code == 2
    assert "expected a whole number >= 1" in capsys.readouterr().err


def test_unknown_target(two_models, capsys) -> None:
    assert run(two_models, "build", "--target", "prod") == 2
    assert capsys.readouterr().err.startswith("Error: unknown target 'prod'")


def test_ls_in_build_order_with_selection(two_models, capsys) -> None:
    assert run(two_models, "ls") == 0
    assert capsys.readouterr().out == "stg\ntotals\n"
    assert run(two_models, "ls", "--select", "tag:daily", "--output", "path") == 0
    assert capsys.readouterr().out == "models/totals.sql\n"


def test_graph_mermaid_and_dot(two_models, capsys) -> None:
    assert run(two_models, "graph") == 0
    assert capsys.readouterr().out == (
        "flowchart LR\n"
        '  n0[("source: raw_orders")]\n'
        '  n1["stg (table)"]\n'
        '  n2["totals (table)"]\n'
        "  n0 --> n1\n"
        "  n1 --> n2\n")
    assert run(two_models, "graph", "--format", "dot", "--select", "totals") == 0
    assert capsys.readouterr().out == (
        "digraph project {\n  rankdir=LR;\n"
        '  n0 [label="totals (table)", shape=box];\n}\n')


def test_compile_writes_the_exact_statements(two_models, capsys) -> None:
    assert run(two_models, "compile") == 0
    text = (two_models.root / "target/compiled/local/models/totals.sql").read_text()
    first, pointer = text.rstrip(";\n").split(";\n\n")
    assert first.startswith("CREATE TABLE totals__")
    # the source's column types reach the dialect layer: Spark's sum of a DECIMAL(3, 1)
    # is a DECIMAL(13, 1), and the compiled DuckDB SQL says so
    assert " AS SELECT user_id, CAST(SUM(amount) AS DECIMAL(13, 1)) AS total FROM stg__" in first
    assert pointer.startswith("CREATE OR REPLACE VIEW totals AS SELECT * FROM totals__")
    assert "Compiled 2 model(s) for target 'local'" in capsys.readouterr().out


def test_console_script_runs_as_a_process(two_models) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-m", "runner.cli.main", "build", "--project-dir",
                           str(two_models.root)], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Done. PASS=2 NO-OP=0 ERROR=0 SKIP=0 TOTAL=2" in proc.stdout


def test_a_refused_construct_fails_compile_with_file_line_but_not_unrelated_selections(
        two_models, capsys) -> None:
    two_models.model("bad", "SELECT user_id,\n       hash(user_id) AS h FROM stg")
    assert run(two_models, "compile") == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: models/bad.sql:2:")
    assert "hash" in err and "\n" == err[-1] and err.count("\n") == 1
    assert run(two_models, "build", "--select", "+totals") == 0  # bad is not needed for totals
    assert "Done. PASS=2" in capsys.readouterr().out
    assert run(two_models, "ls") == 0  # listing needs no compilation
    assert capsys.readouterr().out == "stg\nbad\ntotals\n"


def test_bad_vars_value_is_a_usage_error(two_models, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        run(two_models, "build", "--vars", "{as_of_date: 2026-13-45}")
    assert info.value.code == 2
    assert capsys.readouterr().err == (
        "Error: runner build: argument --vars: not a valid value (month must be in 1..12) in "
        "'{as_of_date: 2026-13-45}' (see runner build --help)\n")


def test_an_unknown_function_fails_at_load_with_file_line(two_models, capsys) -> None:
    two_models.model("totals", "SELECT user_id,\n  sum(dbll(amount)) AS total FROM stg GROUP BY 1")
    assert run(two_models, "build") == 2
    err = capsys.readouterr().err
    assert err == ("Error: models/totals.sql:2:7: Spark has no function `dbll` (Spark rejects it: "
                   "UNRESOLVED_ROUTINE); did you mean 'double'?\n")
    assert not (two_models.root / "target" / "run_results.json").exists()


def test_compile_binds_models_on_the_engine_when_their_inputs_exist(two_models, capsys) -> None:
    """sqlglot parses str_to_map into a typed node DuckDB has no function for: only the engine
    knows, so `runner compile` asks it to bind (DuckDB: DESCRIBE) every model whose inputs
    exist."""
    two_models.model("stg", "SELECT order_id, user_id, amount, str_to_map('a:1') AS m "
                            "FROM raw_orders")
    assert run(two_models, "compile") == 2
    captured = capsys.readouterr()
    assert captured.err == ("Error: models/stg.sql:1:35: Catalog Error: Scalar Function with name "
                            "str_to_map does not exist!\n")
    assert "Not bound on the engine (a table they read is not built yet): totals" in captured.out
    two_models.model("stg", "SELECT order_id, user_id, amount FROM raw_orders")
    assert run(two_models, "build") == 0
    capsys.readouterr()
    assert run(two_models, "compile") == 0
    assert "Not bound" not in capsys.readouterr().out  # everything was bound, and binds


def test_the_bind_check_binds_without_planning(two_models, capsys, monkeypatch) -> None:
    """DuckDB binds with DESCRIBE (its EXPLAIN of a chain of n CTEs costs of order n cubed):
    the statement sent for a 60-CTE chain is a DESCRIBE of the compiled query, and it binds."""
    from runner.adapters.duckdb import DuckDBAdapter

    chain = ",\n".join(f"c{i} AS (SELECT order_id, amount + {i} AS amount FROM c{i - 1})"
                        for i in range(1, 60))
    two_models.model("deep", f"WITH c0 AS (SELECT order_id, amount FROM raw_orders),\n{chain}\n"
                             "SELECT order_id, amount FROM c59")
    sent: list[str] = []
    fetch = DuckDBAdapter.fetch
    monkeypatch.setattr(DuckDBAdapter, "fetch",
                        lambda self, sql, *a, **k: sent.append(sql) or fetch(self, sql, *a, **k))
    assert run(two_models, "compile") == 0
    binds = [sql for sql in sent if "c59" in sql]
    compiled = (two_models.root / "target" / "compiled" / "local" / "models" / "deep.sql")
    assert len(binds) == 1 and binds[0].startswith("DESCRIBE WITH c0 AS")
    assert binds[0].removeprefix("DESCRIBE ") in compiled.read_text()


def test_bind_and_build_errors_name_the_file_line_and_column(two_models, capsys) -> None:
    """A misspelt column is found by the engine only; its error points at the model's text."""
    two_models.model("stg", "SELECT order_id, user_id,\n       amout AS amount FROM raw_orders")
    assert run(two_models, "compile") == 2
    err = capsys.readouterr().err
    assert err.startswith('Error: models/stg.sql:2:8: Binder Error: Referenced column "amout" '
                          'not found in FROM clause!')
    assert run(two_models, "build") == 1
    results = json.loads((two_models.root / "target" / "run_results.json").read_text())
    message = next(r["message"] for r in results["results"] if r["unique_id"] == "model.demo.stg")
    assert message.startswith('models/stg.sql:2:8: Binder Error: Referenced column "amout"')


def test_emulate_without_the_emulator_says_how_to_install_it(two_models, capsys,
                                                             monkeypatch) -> None:
    """The runner's own install carries no emulator; ``runner emulate`` then names the extra."""
    import builtins

    real_import = builtins.__import__

    def no_emulator(name, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        if name == "aep_emulator" or name.startswith("aep_emulator."):
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_emulator)
    assert run(two_models, "emulate") == 2
    assert capsys.readouterr().err == (
        "Error: runner emulate needs the emulator package, which the runner's own install "
        "leaves out: pip install -e '.[emulator]' in the runner's repository (or pip install "
        "-e ./emulator)\n")


def test_the_product_package_holds_no_emulator() -> None:
    """The emulator is its own distribution (emulator/), never a part of runner/."""
    import runner

    package = Path(runner.__file__).parent
    assert not (package / "emulator").exists()
    # only `runner emulate` names it, importing it when run
    assert [p.relative_to(package).as_posix() for p in package.rglob("*.py")
            if "aep_emulator" in p.read_text()] == ["cli/emulate.py"]


def test_compile_print_lays_out_each_statement_and_counts_only_the_selection(two_models,
                                                                             capsys) -> None:
    assert run(two_models, "compile", "--select", "totals", "--print") == 0
    out = capsys.readouterr().out
    text = (two_models.root / "target/compiled/local/models/totals.sql").read_text()
    physical = text.split()[2]
    stg = text.split("FROM ")[1].split()[0]
    assert out == (
        "-- models/totals.sql (table)\n"
        f"CREATE TABLE {physical} AS\nSELECT\n  user_id,\n"
        "  CAST(SUM(amount) AS DECIMAL(13, 1)) AS total\n"
        f"FROM {stg} AS stg\nGROUP BY\n  user_id;\n\n"
        f"CREATE OR REPLACE VIEW totals AS\nSELECT\n  *\nFROM {physical};\n\n"
        "Not bound on the engine (a table they read is not built yet): totals\n"
        "Compiled 1 model(s) for target 'local' into target/compiled/local\n")
    # only the selection is written, as the one-line statements that run
    assert [p.name for p in (two_models.root / "target/compiled/local/models").iterdir()] == [
        "totals.sql"]
    assert text == (f"CREATE TABLE {physical} AS SELECT user_id, CAST(SUM(amount) AS "
                    f"DECIMAL(13, 1)) AS total FROM {stg} AS stg GROUP BY user_id;\n\n"
                    f"CREATE OR REPLACE VIEW totals AS SELECT * FROM {physical};\n")


def test_a_failed_compile_prints_no_compiled_line(two_models, capsys) -> None:
    two_models.model("stg", "SELECT order_id, user_id, amout FROM raw_orders")
    assert run(two_models, "compile") == 2
    captured = capsys.readouterr()
    assert "Compiled" not in captured.out
    assert captured.err.startswith("Error: models/stg.sql:1:")


def test_compile_on_data_distiller_needs_no_connection_or_credentials(two_models, capsys,
                                                                     monkeypatch) -> None:
    """The Data Distiller SQL can be reviewed offline: no credential, no host to reach."""
    for name in [n for n in os.environ if n.startswith("AEP_")]:
        monkeypatch.delenv(name)
    two_models.write("project.yml", (two_models.root / "project.yml").read_text() + (
        "targets:\n  local: {type: duckdb}\n"
        "  aep: {type: data_distiller, ims_host: 'http://127.0.0.1:9', "
        "platform_host: 'http://127.0.0.1:9'}\n"))
    two_models.model("totals", "/* config\nwith: {label: PROFILE}\n*/\n"
                               "SELECT user_id, sum(amount) AS total FROM stg GROUP BY user_id")
    assert run(two_models, "compile", "-t", "aep", "--select", "totals", "--print") == 0
    out = capsys.readouterr().out
    physical = out.split("CREATE TABLE ")[1].split()[0]
    stg = out.split("FROM ")[1].split()[0]
    assert physical.startswith("totals__") and stg.startswith("stg__")
    assert out == (
        "-- models/totals.sql (table)\n"
        f"CREATE TABLE {physical} WITH (label='PROFILE') AS\nSELECT\n  user_id,\n"
        f"  SUM(amount) AS total\nFROM {stg} AS stg\nGROUP BY\n  user_id;\n\n"
        f"CREATE OR REPLACE VIEW totals AS\nSELECT\n  *\nFROM {physical};\n\n"
        "Compiled 1 model(s) for target 'aep' into target/compiled/aep\n")
    assert run(two_models, "debug", "-t", "aep") == 1  # the same target does need them to run
