"""The typeof table shared by record.py and test_spark_types.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
RECORDED = HERE / "typeof.json"
GROUPED = ("sum(", "avg(", "count(", "min(", "max(", "stddev", "variance(", "first(", "last(")


def load_cases() -> dict[str, Any]:
    """``{"table": spark_sql, "expressions": [spark_sql, ...]}``."""
    return yaml.safe_load((HERE / "cases.yml").read_text())


def load_recorded() -> dict[str, Any]:
    """``{"columns": {name: type}, "types": {expression: type}}`` as Spark spells types."""
    return json.loads(RECORDED.read_text())


def query(expression: str) -> str:
    """The query whose only column is ``expression`` over ``t`` (aggregates grouped by s)."""
    grouped = expression.startswith(GROUPED) and " OVER " not in expression
    return f"SELECT {expression} AS c FROM t" + (" GROUP BY s" if grouped else "")


def spark_types(spark: Any, cases: dict[str, Any]) -> dict[str, Any]:
    """Spark's analysed types (``simpleString``) of t's columns and of each expression."""
    spark.sql(f"CREATE OR REPLACE TEMPORARY VIEW t AS {cases['table']}")
    columns = {f.name: f.dataType.simpleString() for f in spark.table("t").schema.fields}
    types = {e: spark.sql(query(e)).schema.fields[0].dataType.simpleString()
             for e in cases["expressions"]}
    return {"columns": columns, "types": types}
