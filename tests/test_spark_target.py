"""The ``spark`` target: the example project built on a local SparkSession and on a Spark
Connect server (started from the pyspark wheel on 127.0.0.1), end to end.

Every Spark build runs ``runner build`` in a new process: it proves the catalog persists across
processes (the Derby metastore and Parquet warehouse under ``target/``), and keeps Spark's JVM
out of the test process (which may hold another SparkSession). The Spark build's exported
training set must equal the DuckDB build's, row for row.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot
import yaml

from runner.adapters.spark import SparkAdapter, SparkConfig
from runner.errors import ProjectError
from runner.project.model import ModelDDLConfig
from test_example_project import SPARK_USERS, assert_frames_match, build_example, copy_example

REPO = Path(__file__).resolve().parents[1]
EXPORT = "spark/egress"
CONNECT_SERVER = "org.apache.spark.sql.connect.service.SparkConnectServer"
FILES_EXPORT = "spark/files"
# A model over three file sources (a CSV with a header, JSON lines, Parquet).
FILE_MODEL = """
SELECT p.id, p.name, c.n, v.total
FROM people AS p
JOIN clicks AS c ON c.id = p.id
CROSS JOIN (SELECT SUM(v) AS total FROM vals) AS v
"""
MODELS = {"file_sources", "stg_events", "stg_profiles", "user_recency", "subscription_labels",
          "user_event_counts", "user_profile_features", "user_purchases", "user_engagement",
          "training_set"}


# -- config and rendering (no Spark needed) ---------------------------------------------------
def test_a_spark_target_defaults_to_a_local_session_under_target(tmp_path):
    spark = SparkAdapter("s", {"type": "spark", "conf": {"spark.sql.shuffle.partitions": 8,
                                                          "spark.sql.adaptive.enabled": True}},
                         tmp_path)
    assert spark.config == SparkConfig(conf=(("spark.sql.adaptive.enabled", "true"),
                                             ("spark.sql.shuffle.partitions", "8")))
    assert (spark.config.master, spark.config.remote) == ("local[2]", None)
    assert spark.warehouse == (tmp_path / "target" / "spark-warehouse").resolve()
    assert spark.metastore == (tmp_path / "target" / "spark-metastore").resolve()
    remote = SparkAdapter("s", {"type": "spark", "remote": "sc://cluster:15002"}, tmp_path)
    assert remote.config.remote == "sc://cluster:15002" and remote.max_threads == 4


@pytest.mark.parametrize(("block", "message"), [
    ({"remote": "http://h:15002"},
     "targets.t.remote: expected a Spark Connect URL sc://host:port, got 'http://h:15002'"),
    ({"remote": "sc://h:15002", "master": "local"},
     "targets.t.master: only for a local session; a Spark Connect server (remote:) has its own"),
    ({"remote": "sc://h", "warehouse": "w"}, "targets.t.warehouse: only for a local session"),
    ({"master": "local[two]"}, "targets.t.master: expected a Spark master: local[N], local[*]"),
    ({"warehouse": 3}, "targets.t.warehouse: expected a directory path, got int 3"),
    ({"conf": "x"}, "targets.t.conf: expected a mapping of Spark settings (spark.x: value)"),
    ({"conf": {"sql.ansi": 1}}, "targets.t.conf: 'sql.ansi' is not a Spark setting (spark.…)"),
    ({"conf": {"spark.sql.warehouse.dir": "/x"}},
     "targets.t.conf.spark.sql.warehouse.dir: set by the runner (use warehouse:, master: or "
     "remote:)"),
    ({"conf": {"spark.x": [1]}},
     "targets.t.conf.spark.x: expected a string, number or boolean, got [1]"),
    ({"mastr": "local"}, "targets.t.mastr: unknown key (did you mean 'master'?)"),
])
def test_a_malformed_spark_block_is_refused(tmp_path, block, message):
    with pytest.raises(ProjectError) as err:
        SparkAdapter("t", {"type": "spark", **block}, tmp_path)
    assert str(err.value).startswith(f"project.yml: {message}")


def test_models_become_parquet_tables_and_files_external_tables(tmp_path):
    spark = SparkAdapter("s", {"type": "spark"}, tmp_path)
    select = sqlglot.parse_one("SELECT user_id, COUNT(*) AS n FROM e GROUP BY user_id",
                               read="spark")
    assert spark.create_table_sql("m__1a", select, ModelDDLConfig()) == (
        "CREATE TABLE m__1a USING PARQUET AS SELECT user_id, COUNT(*) AS n FROM e GROUP BY user_id")
    assert spark.pointer_sql("m", "m__1a") == "CREATE OR REPLACE VIEW m AS SELECT * FROM m__1a"
    assert spark.file_view_sql("people", Path("/d/people.csv")) == (
        "CREATE TABLE people USING CSV OPTIONS ('path'='/d/people.csv', 'header'='true', "
        "'inferSchema'='true')")
    assert spark.file_view_sql("clicks", Path("/d/c.jsonl")) == (
        "CREATE TABLE clicks USING JSON OPTIONS ('path'='/d/c.jsonl')")
    assert spark.drop_sql("m__1a", "table") == "DROP TABLE IF EXISTS m__1a"


# -- the example on a local session -----------------------------------------------------------
def require_java() -> None:
    if shutil.which("java") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Java is not installed (CI=true: the spark target tier needs it)")
        pytest.skip("Java is not installed")


def spark_example(destination: Path, target: dict[str, object]) -> Path:
    """The example project with a ``spark`` target exporting training_set as local Parquet."""
    root = copy_example(destination, users=SPARK_USERS)
    config = yaml.safe_load((root / "project.yml").read_text(encoding="utf-8"))
    config["targets"]["spark"] = {"type": "spark", **target}
    config["exports"] = [{"model": model, "format": "parquet", "targets": ["spark"],
                          "destination": {"type": "local", "path": path}}
                         for model, path in (("training_set", EXPORT), ("file_sources", FILES_EXPORT))]
    data = root / "data"
    data.mkdir()
    (data / "people.csv").write_text("id,name\n1,ann\n2,bob\n", encoding="utf-8")
    (data / "clicks.jsonl").write_text("".join(json.dumps({"id": i, "n": i * 10}) + "\n"
                                               for i in (1, 2, 3)), encoding="utf-8")
    pq.write_table(pa.table({"v": [1.5, 2.5]}), data / "vals.parquet")
    config["sources"].update({name: {"path": f"data/{file}"} for name, file in (
        ("people", "people.csv"), ("clicks", "clicks.jsonl"), ("vals", "vals.parquet"))})
    (root / "models" / "file_sources.sql").write_text(FILE_MODEL, encoding="utf-8")
    (root / "project.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return root


def exported(root: Path, path: str, physical: str) -> pd.DataFrame:
    """The one exported version of a model: its folder is named by the physical table."""
    files = sorted((root / "target" / "exports" / path).rglob("*.parquet"))
    assert [f.relative_to(root / "target" / "exports" / path).parts[0] for f in files] == [
        physical]
    return pd.read_parquet(files[0])


def run_cli(root: Path, command: str) -> subprocess.CompletedProcess[str]:
    """``runner <command> --target spark`` on the project in ``root``, in a new process."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.run([sys.executable, "-m", "runner.cli.main", command, "--target", "spark",
                           "--project-dir", str(root)], capture_output=True, text=True, env=env,
                          timeout=600, check=False)


def spark_build(root: Path) -> tuple[int, str, dict[str, dict]]:
    """``runner build --target spark`` in a new process: exit code, output, results by model."""
    done = run_cli(root, "build")
    results = json.loads((root / "target" / "run_results.json").read_text(encoding="utf-8"))
    nodes = json.loads((root / "target" / "manifest.json").read_text(encoding="utf-8"))["nodes"]
    by_model = {nodes[r["unique_id"]]["name"]: {
        "status": r["status"], "physical": r["relation_name"], "message": r["message"],
        "rows": r["adapter_response"].get("rows_affected"),
        "materialized": nodes[r["unique_id"]]["config"]["materialized"]}
        for r in results["results"] if r["unique_id"].startswith("model.")}
    return done.returncode, done.stdout + done.stderr, by_model


def statuses(results: dict[str, dict]) -> dict[str, str]:
    return {name: result["status"] for name, result in results.items()}


def current(root: Path) -> dict[str, str]:
    """Each model's current physical table, from the target's state."""
    state = json.loads((root / "target" / "state" / "spark.json").read_text(encoding="utf-8"))
    return {name: entry["current"] for name, entry in state["models"].items()}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple, tuple]:
    """The example built twice on Spark, each time in a new process."""
    require_java()
    root = spark_example(tmp_path_factory.mktemp("spark") / "example", {"master": "local[2]"})
    return root, spark_build(root), spark_build(root)


def assert_exports_the_duckdb_training_set(root: Path, results: dict[str, dict],
                                           scratch: Path) -> None:
    """The exported training_set equals a DuckDB build's, row for row."""
    frame = exported(root, EXPORT, results["training_set"]["physical"])
    frame = frame.set_index("user_id").sort_index()
    duck = build_example(copy_example(scratch / "duck", users=SPARK_USERS))
    assert list(frame.columns) == list(duck.columns) and len(frame) > 100
    assert len(frame) == results["training_set"]["rows"] == len(duck)
    assert (frame["as_of_date"].astype(str) == duck["as_of_date"].astype(str)).all()
    assert_frames_match(frame.drop(columns="as_of_date").astype(object).where(frame.notna(), None),
                        duck.drop(columns="as_of_date").astype(object).where(duck.notna(), None))


@pytest.mark.spark
def test_the_spark_build_exports_the_duckdb_training_set(built, tmp_path):
    root, (code, output, results), _ = built
    assert code == 0, output
    assert statuses(results) == dict.fromkeys(MODELS, "success")
    assert_exports_the_duckdb_training_set(root, results, tmp_path)


@pytest.mark.spark
def test_file_sources_are_read_with_their_headers_and_types(built):
    root, (_, _, results), _ = built
    frame = exported(root, FILES_EXPORT, results["file_sources"]["physical"])
    assert frame.sort_values("id").to_dict("records") == [
        {"id": 1, "name": "ann", "n": 10, "total": 4.0},
        {"id": 2, "name": "bob", "n": 20, "total": 4.0}]


@pytest.mark.spark
def test_tables_and_pointer_views_persist_in_the_warehouse(built):
    root, (_, _, first), _ = built
    tables = {p.name for p in (root / "target" / "spark-warehouse").iterdir()}
    physical = {r["physical"] for r in first.values() if r["materialized"] == "table"}
    assert physical <= tables and {"experience_events", "profiles"} <= tables
    assert (root / "target" / "spark-metastore").is_dir()


@pytest.mark.spark
def test_a_second_build_in_a_new_process_runs_nothing(built):
    root, (_, _, first), (code, output, second) = built
    assert code == 0, output
    assert statuses(second) == dict.fromkeys(MODELS, "no-op")
    assert f"NO-OP={len(MODELS)}" in output and "generated" not in output  # sources kept too
    assert {n: r["physical"] for n, r in second.items()} == {
        n: r["physical"] for n, r in first.items()}


@pytest.mark.spark
def test_a_failure_keeps_the_last_good_version_and_an_edit_rebuilds_only_downstream(built):
    root, (_, _, first), _ = built
    purchases = root / "models" / "features" / "user_purchases.sql"
    good = purchases.read_text(encoding="utf-8")
    purchases.write_text(good.rstrip().rstrip(";") + "\nHAVING no_such_column > 0\n",
                         encoding="utf-8")
    code, output, failed = spark_build(root)
    assert code == 1, output
    assert failed["user_purchases"]["status"] == "error"
    assert "no_such_column" in failed["user_purchases"]["message"]
    assert failed["training_set"]["status"] == "skipped"
    assert {s for n, s in statuses(failed).items() if n not in (
        "user_purchases", "training_set")} == {"no-op"}
    assert current(root)["user_purchases"] == first["user_purchases"]["physical"]
    warehouse = {p.name for p in (root / "target" / "spark-warehouse").iterdir()}
    assert first["user_purchases"]["physical"] in warehouse
    assert failed["user_purchases"]["physical"] not in warehouse  # the partial table dropped

    purchases.write_text(good, encoding="utf-8")
    engagement = root / "models" / "features" / "user_engagement.sql"
    engagement.write_text(engagement.read_text(encoding="utf-8").rstrip()
                          + "\nWHERE user_id IS NOT NULL\n", encoding="utf-8")
    code, output, edited = spark_build(root)
    assert code == 0, output
    assert {n for n, s in statuses(edited).items() if s == "success"} == {
        "user_engagement", "training_set"}
    assert {s for n, s in statuses(edited).items() if n not in (
        "user_engagement", "training_set")} == {"no-op"}
    assert edited["training_set"]["rows"] == first["training_set"]["rows"]
    assert current(root)["user_engagement"] != first["user_engagement"]["physical"]


# -- Spark Connect ----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark Connect server from the pyspark wheel's own jars on 127.0.0.1; its URL."""
    require_java()
    try:
        import google.protobuf  # noqa: F401
        import grpc  # noqa: F401
        import grpc_status  # noqa: F401
        import zstandard  # noqa: F401
    except ImportError as err:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{err.name} is missing (CI=true: the test extra has pyspark[connect])")
        pytest.skip(f"Spark Connect's client needs {err.name} (pip install 'pyspark[connect]')")
    import pyspark

    home, work, port = Path(pyspark.__file__).parent, tmp_path_factory.mktemp("connect"), free_port()
    conf = {"spark.connect.grpc.binding.address": "127.0.0.1",
            "spark.connect.grpc.binding.port": port, "spark.sql.warehouse.dir": work / "warehouse",
            "spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
            "spark.ui.enabled": "false", "spark.sql.shuffle.partitions": 4}
    command = [str(home / "bin" / "spark-submit"), "--class", CONNECT_SERVER, "--master", "local[2]"]
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    log = work / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=work,
                                  env={**os.environ, "SPARK_HOME": str(home)})
    try:
        deadline = time.monotonic() + 300
        while "Spark Connect server started" not in log.read_text(errors="replace"):
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(1)
        yield f"sc://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()


@pytest.fixture(scope="module")
def connect_built(connect_server: str, tmp_path_factory: pytest.TempPathFactory
                  ) -> tuple[Path, tuple, tuple]:
    """The example built twice through the Connect server, each time in a new process."""
    root = spark_example(tmp_path_factory.mktemp("remote") / "example", {"remote": connect_server})
    return root, spark_build(root), spark_build(root)


@pytest.mark.spark
def test_a_spark_connect_server_builds_the_example_and_keeps_it(connect_built, tmp_path):
    root, (code, output, first), (again, output_again, second) = connect_built
    assert code == 0, output
    assert statuses(first) == dict.fromkeys(MODELS, "success")
    assert_exports_the_duckdb_training_set(root, first, tmp_path)
    assert not (root / "target" / "spark-warehouse").exists()  # the server keeps the tables
    assert again == 0, output_again
    assert statuses(second) == dict.fromkeys(MODELS, "no-op")


@pytest.mark.spark
def test_compile_binds_each_model_on_spark_and_knows_its_functions(connect_built):
    """``runner compile``: Spark's EXPLAIN binds the models over the built tables (its planning
    error names the file), and a function Spark lacks fails with its file and line."""
    root = connect_built[0]
    purchases = root / "models" / "features" / "user_purchases.sql"
    good = purchases.read_text(encoding="utf-8")
    purchases.write_text(good.rstrip() + "\nHAVING no_such_column > 0\n", encoding="utf-8")
    done = run_cli(root, "compile")
    assert done.returncode == 2, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and errors[0].startswith(
        "Error: models/features/user_purchases.sql: [UNRESOLVED_COLUMN") and "no_such_column" in errors[0]
    purchases.write_text(good.replace("COALESCE(SUM(p.order_total), 0)",
                                      "COALESCE(sum_of(p.order_total), 0)"), encoding="utf-8")
    done = run_cli(root, "compile")
    assert done.returncode == 2 and "Spark has no function `sum_of`" in done.stderr
    line = next(i for i, text in enumerate(good.splitlines(), 1)
                if "COALESCE(SUM(p.order_total), 0)" in text)
    assert f"models/features/user_purchases.sql:{line}:12:" in done.stderr  # refused at load
