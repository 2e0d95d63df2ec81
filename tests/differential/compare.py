"""Build a generated project on DuckDB (through the runner) and on Spark, and compare them.

DuckDB: the project is written into a folder, its sources seeded into the local target from
their Spark SQL (translated like any model), and ``runner.build`` builds it; a model the
compiler refuses is recorded with its reason and dropped with its descendants, and the build
is retried. Spark (local, non-ANSI, UTC): each source and model's Spark SQL becomes a temp
view in DAG order. Each built model is compared as a multiset of rows (floats to 1e-9
relative, decimals by value) with the same column kinds.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

sys.path.insert(0, str(Path(__file__).parents[1] / "fidelity"))

from fidelity_harness import encode, values_equal  # noqa: E402
from generator import Generated, Model  # noqa: E402

from runner import BuildOptions, build  # noqa: E402
from runner.compile.dialect.spark_types import spark_name  # noqa: E402
from runner.run.session import compile_session, open_workspace  # noqa: E402
from runner.compile.dialect.translate import to_target  # noqa: E402
from runner.errors import ProjectError  # noqa: E402


@dataclass
class Outcome:
    """What one generated project gave: per model, a difference, a failure or a refusal."""

    seed: int
    models: int = 0
    compared: list[str] = field(default_factory=list)
    differences: dict[str, list[str]] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)  # DuckDB run-time errors
    refusals: dict[str, str] = field(default_factory=dict)  # compile-time, by model
    spark_errors: dict[str, str] = field(default_factory=dict)  # on models DuckDB built
    rejected_by_both: dict[str, str] = field(default_factory=dict)  # refused here, Spark errors
    columns: int = 0  # columns of the compared models
    untyped: int = 0  # of which the compiler inferred no type
    readback: dict[str, list[str]] = field(default_factory=dict)  # local type != inferred
    inferred_wrong: dict[str, list[str]] = field(default_factory=dict)  # inferred != Spark's


def write_project(generated: Generated, root: Path, models: list[Model]) -> None:
    """The project folder, with its sources seeded in the local DuckDB target."""
    (root / "models").mkdir(parents=True, exist_ok=True)
    for old in (root / "models").glob("*.sql"):
        old.unlink()
    sources = "".join(f"  {name}: {{}}\n" for name in generated.sources)
    (root / "project.yml").write_text(f"name: gen{generated.seed}\nsources:\n{sources}")
    for model in models:
        (root / "models" / f"{model.name}.sql").write_text(model.sql + "\n")
    db = root / "target" / "local.duckdb"
    if not db.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(db))
        for name, sql in generated.sources.items():
            query = to_target(sqlglot.parse_one(sql, read="spark"), "duckdb")
            con.execute(f"CREATE TABLE {name} AS {query.sql(dialect='duckdb')}")
        con.close()


def descendants(models: list[Model], name: str) -> set[str]:
    """``name`` and every model reading it, directly or not."""
    found = {name}
    for model in models:  # DAG order: parents come first
        if any(re.search(rf"\b{re.escape(parent)}\b", model.sql) for parent in found):
            found.add(model.name)
    return found


def run_duckdb(generated: Generated, root: Path, outcome: Outcome) -> dict[str, Any]:
    """Encoded results of the models DuckDB built (``{}`` entries for none)."""
    models = list(generated.models)
    while True:
        write_project(generated, root, models)
        try:
            result = build(root, BuildOptions(), echo=lambda line: None)
            break
        except ProjectError as error:
            name = Path(error.path).stem if error.path else None
            if name is None or name not in {m.name for m in models}:
                raise
            outcome.refusals[name] = error.message
            dropped = descendants(models, name)
            models = [m for m in models if m.name not in dropped]
    inferred = inferred_types(root)
    con = duckdb.connect(str(root / "target" / "local.duckdb"), read_only=True)
    encoded = {}
    try:
        for item in result.results:
            if item.status == "error":
                outcome.failures[item.name] = (item.message or "").splitlines()[0]
            elif item.status in ("success", "noop"):
                relation = con.sql(f"SELECT * FROM {item.name}")
                local = {c: spark_name(exp.DataType.build(str(t), dialect="duckdb"))
                         for c, t in zip(relation.columns, relation.types)}
                encoded[item.name] = {**encode(relation.to_arrow_table()), "local": local,
                                      "inferred": inferred.get(item.name, {})}
    finally:
        con.close()
    return encoded


def inferred_types(root: Path) -> dict[str, dict[str, str]]:
    """The Spark types the compiler inferred for each model's columns (as Spark names them)."""
    session = compile_session(open_workspace(root, BuildOptions()), BuildOptions(),
                              echo=lambda line: None)
    try:
        return {m.name: {c.lower(): spark_name(t) for c, t in m.columns.items()}
                for m in session.plan}
    finally:
        session.workspace.adapter.close()


def run_spark(spark: Any, generated: Generated, outcome: Outcome) -> dict[str, Any]:
    """Encoded results of every model on Spark, in DAG order (temp views)."""
    for name, sql in generated.sources.items():
        spark.sql(f"CREATE OR REPLACE TEMPORARY VIEW {name} AS {sql}")
    encoded = {}
    for model in generated.models:
        body = re.sub(r"/\* config.*?\*/\s*", "", model.sql, flags=re.S)
        try:
            spark.sql(f"CREATE OR REPLACE TEMPORARY VIEW {model.name} AS {body}")
            frame = spark.sql(f"SELECT * FROM {model.name}")
            encoded[model.name] = {**encode(frame.toArrow()), "types": {
                f.name.lower(): f.dataType.simpleString() for f in frame.schema.fields}}
        except Exception as error:  # noqa: BLE001 - a generator bug, reported per model
            outcome.spark_errors[model.name] = str(error).splitlines()[0]
    return encoded


def _sort_key(row: list[Any]) -> str:
    def canon(value: Any) -> Any:
        if isinstance(value, float):
            return round(value, 6)
        if isinstance(value, dict) and "decimal" in value:
            return round(float(value["decimal"]), 6)
        if isinstance(value, list):
            return [canon(v) for v in value]
        return value
    return json.dumps([canon(v) for v in row], sort_keys=True, default=str)


def differences(got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    """How DuckDB's result differs from Spark's, as multisets of rows (empty when equal)."""
    problems = []
    if got["kinds"] != want["kinds"]:
        problems.append(f"column kinds {dict(zip(got['columns'], got['kinds']))} != Spark's "
                        f"{dict(zip(want['columns'], want['kinds']))}")
    if len(got["rows"]) != len(want["rows"]):
        problems.append(f"{len(got['rows'])} rows != Spark's {len(want['rows'])}")
    for g, w in zip(sorted(got["rows"], key=_sort_key), sorted(want["rows"], key=_sort_key)):
        if not values_equal(g, w):
            cells = [f"{c}: {gv} != {wv}" for c, gv, wv in zip(want["columns"], g, w)
                     if not values_equal(gv, wv)]
            problems.append("; ".join(cells))
            if len(problems) >= 5:
                break
    return problems


def run(spark: Any, generated: Generated, root: Path) -> Outcome:
    """Build ``generated`` on both engines and compare every model DuckDB built."""
    outcome = Outcome(seed=generated.seed, models=len(generated.models))
    duck = run_duckdb(generated, root, outcome)
    sparks = run_spark(spark, generated, outcome)
    for name in [n for n in outcome.spark_errors if n not in duck]:
        outcome.rejected_by_both[name] = outcome.spark_errors.pop(name)
    for name, got in duck.items():
        if name in sparks:
            outcome.compared.append(name)
            problems = differences(got, sparks[name])
            if problems:
                outcome.differences[name] = problems
            check_types(name, got, sparks[name], outcome)
    return outcome


SCALAR = re.compile(r"(tiny|small|big)?int|double|float|decimal\(\d+,\d+\)|string|date|timestamp|boolean")


def check_types(name: str, duck: dict[str, Any], spark: dict[str, Any], outcome: Outcome) -> None:
    """Local table types == inferred types == Spark's types, column by column."""
    inferred = duck["inferred"]
    outcome.columns += len(duck["local"])
    outcome.untyped += sum(1 for c in duck["local"] if c.lower() not in inferred)
    readback, wrong = [], []
    for column, local in duck["local"].items():
        want = inferred.get(column.lower())
        if want is not None and local != want and SCALAR.fullmatch(want):
            readback.append(f"{column}: local {local} != inferred {want}")
        actual = spark["types"].get(column.lower())
        if want is not None and actual is not None and want != actual:
            wrong.append(f"{column}: inferred {want} != Spark's {actual}")
    if readback:
        outcome.readback[name] = readback
    if wrong:
        outcome.inferred_wrong[name] = wrong
