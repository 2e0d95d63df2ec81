"""The smaller commands on the local target: debug, synth, export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from runner.cli.main import main


def run(project, *args: str) -> int:
    return main([*args, "--project-dir", str(project.root)])


def test_debug_reports_each_step(project, capsys) -> None:
    project.model("m", "SELECT 1 AS x")
    assert run(project, "debug") == 0
    assert capsys.readouterr().out.splitlines() == [
        "project and target config ... OK (target 'local', duckdb)",
        "connection ... OK",
        "SELECT 1 ... OK",
        "All checks passed.",
    ]


def test_debug_names_the_failing_step(project, capsys) -> None:
    project.model("m", "SELECT 1 AS x")
    project.write("project.yml", "name: demo\ntargets:\n  local: {type: duckdb, path: target}\n")
    (project.root / "target").mkdir(exist_ok=True)  # a folder where the database file should be
    assert run(project, "debug") == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "project and target config ... OK (target 'local', duckdb)"
    assert out[1].startswith("connection ... FAIL: cannot open DuckDB database")


def test_synth_into_target_and_files(project, capsys, tmp_path) -> None:
    project.write("project.yml", """
        name: demo
        sources:
          events: {synthetic: experience_events}
          people: {synthetic: profiles}
        synth: {users: 20, days: 10, seed: 7}
        """)
    project.model("m", "SELECT count(*) AS n FROM events")
    assert run(project, "synth") == 0
    out = capsys.readouterr().out
    assert "events: " in out and "(users=20, days=10, seed=7)" in out
    assert project.sql("SELECT count(*) FROM people") == [(20,)]
    assert run(project, "synth", "--out", str(tmp_path / "files"), "--users", "5") == 0
    assert pq.read_table(tmp_path / "files" / "profiles.parquet").num_rows == 5


def test_fresh_build_generates_missing_synthetic_sources_once(project) -> None:
    project.write("project.yml", """
        name: demo
        sources:
          events: {synthetic: experience_events}
        synth: {users: 10, days: 5}
        """)
    project.model("n_events", "SELECT count(*) AS n FROM events")
    lines: list[str] = []
    from runner import BuildOptions, build

    assert build(project.root, BuildOptions(), echo=lines.append).ok
    generated = [line for line in lines if line.startswith("source events: generated")]
    assert len(generated) == 1
    (count,) = project.sql("SELECT n FROM n_events")[0]
    assert project.sql("SELECT count(*) FROM events") == [(count,)] and count > 0
    lines.clear()
    assert build(project.root, BuildOptions(), echo=lines.append).ok
    assert not any(line.startswith("source events") for line in lines)


def test_file_source_becomes_a_view(project, tmp_path) -> None:
    import pyarrow as pa

    pq.write_table(pa.table({"user_id": ["a", "b", "b"], "v": [1, 2, 3]}),
                   project.root / "sample.parquet")
    project.write("project.yml", "name: demo\nsources:\n  sample: {path: sample.parquet}\n")
    project.model("per_user", "SELECT user_id, sum(v) AS total FROM sample GROUP BY user_id")
    assert run(project, "build") == 0
    assert project.sql("SELECT * FROM per_user ORDER BY 1") == [("a", 1), ("b", 5)]


def test_missing_file_source_is_a_project_error(project, capsys) -> None:
    project.write("project.yml", "name: demo\nsources:\n  sample: {path: nope.parquet}\n")
    project.model("m", "SELECT * FROM sample")
    assert run(project, "build") == 2
    assert capsys.readouterr().err == ("Error: project.yml: sources.sample.path: nope.parquet "
                                       "does not exist (relative to the project folder); point "
                                       "it at a Parquet, CSV or JSON file\n")


def test_export_dry_run_then_export_on_the_local_target(project, capsys) -> None:
    project.model("training_set", "SELECT user_id, sum(amount) AS total FROM raw_orders GROUP BY 1")
    project.write("project.yml", (project.root / "project.yml").read_text() + (
        "exports:\n  - model: training_set\n    destination: {type: local, path: egress}\n"))
    assert run(project, "build", "--no-export") == 0
    capsys.readouterr()
    assert run(project, "export", "--dry-run") == 0
    out = capsys.readouterr().out
    assert out.startswith("export training_set -> local: planned")
    assert not list((project.root / "target" / "exports").rglob("*.parquet"))
    assert run(project, "export") == 0
    (part,) = list((project.root / "target" / "exports" / "egress").rglob("*.gz.parquet"))
    assert sorted(pq.read_table(part).to_pylist(), key=lambda r: r["user_id"]) == [
        {"user_id": "u1", "total": 25.0}, {"user_id": "u2", "total": 30.0},
        {"user_id": "u3", "total": 20.0}]
    capsys.readouterr()
    assert run(project, "export") == 0
    assert "up to date" in capsys.readouterr().out
    assert run(project, "export", "--force") == 0
    out = capsys.readouterr().out
    assert out.count("export training_set -> local: success") == 1  # printed once
    assert len(list((project.root / "target" / "exports" / "egress").rglob("*.gz.parquet"))) == 1


def test_new_source_data_rebuilds_what_reads_it(project, capsys) -> None:
    import os

    import pyarrow as pa

    project.write("project.yml", """
        name: demo
        sources:
          events: {synthetic: experience_events}
          sample: {path: sample.parquet}
        synth: {users: 10, days: 5, seed: 1}
        """)
    pq.write_table(pa.table({"v": [1, 2]}), project.root / "sample.parquet")
    project.model("n_events", "SELECT count(*) AS n FROM events")
    project.model("total", "SELECT sum(v) AS t FROM sample")
    project.model("plain", "SELECT 1 AS x")
    assert run(project, "build") == 0
    assert run(project, "build") == 0
    assert "NO-OP=3" in capsys.readouterr().out
    # regenerated synthetic data: the model reading it rebuilds, the others do not
    assert run(project, "synth", "--users", "20") == 0
    assert run(project, "build") == 0
    out = capsys.readouterr().out
    assert "OK created table n_events__" in out and "PASS=1 NO-OP=2" in out
    (n,) = project.sql("SELECT n FROM n_events")[0]
    assert project.sql("SELECT count(*) FROM events") == [(n,)]
    # a changed file: its table model rebuilds and reads the new rows
    pq.write_table(pa.table({"v": [1, 2, 3]}), project.root / "sample.parquet")
    os.utime(project.root / "sample.parquet", ns=(1, 2_000_000_000_000_000_000))
    assert run(project, "build") == 0
    assert "PASS=1 NO-OP=2" in capsys.readouterr().out
    assert project.sql("SELECT t FROM total") == [(6,)]


def test_target_files_have_normal_modes_and_an_empty_clean_says_so(project, capsys) -> None:
    project.model("m", "SELECT 1 AS n")
    assert run(project, "build") == 0
    umask = os.umask(0)
    os.umask(umask)
    for rel in ("target/manifest.json", "target/state/local.json", "target/compiled/local/models/m.sql"):
        assert (project.root / rel).stat().st_mode & 0o777 == 0o666 & ~umask, rel
    capsys.readouterr()
    assert run(project, "clean", "--dry-run") == 0
    assert capsys.readouterr().out == (
        "Nothing to drop on target 'local': every version is in use.\n"
        "would remove the parse and compile cache (target/cache, 4 entries)\n")


def test_the_runner_imports_no_posix_only_module() -> None:
    """The target lock is the filelock package's (fcntl on POSIX, msvcrt on Windows): no module
    of the runner imports an OS-specific one itself, so `import runner` works on Windows."""
    import ast

    package = Path(__file__).parents[1] / "runner"
    found = []
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.name}: {n}" for n in names if n in ("fcntl", "msvcrt", "termios")]
    assert found == []


def test_the_readme_read_of_an_export_gives_only_the_tables_columns(project) -> None:
    """README: pd.read_parquet(<export folder>, partitioning=None) reads every part file below
    the folder and no exportTime column (the Data Landing Zone's folder is not a column)."""
    import pandas as pd

    project.write("project.yml", (project.root / "project.yml").read_text() + (
        "exports:\n  - model: m\n    destination: {type: local, path: cmle/egress}\n"))
    project.model("m", "SELECT order_id, user_id, amount FROM raw_orders")
    assert run(project, "build") == 0
    folder = project.root / "target" / "exports" / "cmle" / "egress"
    assert list(folder.glob("*/exportTime=*/part-*.parquet"))
    frame = pd.read_parquet(folder, partitioning=None)
    assert list(frame.columns) == ["order_id", "user_id", "amount"]
    assert sorted(frame["order_id"]) == [1, 2, 3, 4, 5]
    assert "exportTime" in pd.read_parquet(folder).columns  # why the README says so


def test_exports_of_other_vars_are_kept_beside_project_ymls(project, capsys) -> None:
    """The vars are part of an export's identity: a --vars build exports into
    <path>@<vars> and prunes only there, so two training sets stay side by side."""
    import pandas as pd

    project.write("project.yml", (project.root / "project.yml").read_text() + (
        "exports:\n  - model: m\n    destination: {type: local, path: cmle/egress}\n"))
    project.model("m", "SELECT order_id FROM raw_orders WHERE amount >= var('min_amount')")
    exports = project.root / "target" / "exports" / "cmle"

    def read(folder: str) -> list[int]:
        return sorted(pd.read_parquet(exports / folder, partitioning=None)["order_id"])

    assert run(project, "build") == 0
    assert run(project, "build", "--vars", "{min_amount: 20}") == 0
    assert "exported m -> target/exports/cmle/egress@min_amount=20/m__" in capsys.readouterr().out
    assert sorted(p.name for p in exports.iterdir()) == ["egress", "egress@min_amount=20"]
    assert (read("egress"), read("egress@min_amount=20")) == ([2, 3, 4], [2, 3])
    assert run(project, "build", "--vars", "{min_amount: 30}") == 0
    assert run(project, "build", "--vars", "{min_amount: 10}") == 0  # project.yml's value
    assert sorted(p.name for p in exports.iterdir()) == [
        "egress", "egress@min_amount=20", "egress@min_amount=30"]
    assert (read("egress"), read("egress@min_amount=30")) == ([2, 3, 4], [3])
    state = json.loads((project.root / "target/exports_state.json").read_text())
    assert sorted(state) == ["m:local", "m:local@min_amount=20", "m:local@min_amount=30"]


def test_a_vars_variant_is_plain_when_short_and_a_hash_otherwise() -> None:
    from runner.run.exports import vars_variant

    assert vars_variant({"d": "2026-04-30", "n": 1}, {"d": "2026-04-30", "n": 1}) == ""
    assert vars_variant({"d": "2026-04-30"}, {"d": "2026-05-01", "n": 2}) == "d=2026-05-01,n=2"
    variant = vars_variant({}, {"path": "a/b"})
    assert variant.startswith("vars-") and len(variant) == 15
    assert variant == vars_variant({}, {"path": "a/b"}) != vars_variant({}, {"path": "a/c"})
