"""Run the fidelity corpus on an engine and compare results with Spark's recorded values.

The corpus (``corpus.yml``) holds small Spark SQL queries over a few fixture tables that are
themselves defined by Spark SQL queries. ``expected.json`` records what Spark returned for each
case (written by ``regenerate.py``). Both engines hand back Arrow tables; ``encode`` turns one
into a JSON-able canonical form that keeps the kind of every value (a DATE stays a date, a
DECIMAL a decimal, a map a list of pairs), so results compare exactly:

- ints, strings, booleans, dates, timestamps (as UTC), decimals (by value): exact;
- floating point: relative tolerance ``REL_TOL`` (1e-9), absolute ``ABS_TOL`` (1e-12);
- column kinds: int (any width), float, decimal, string, bool, date, timestamp, list, map,
  struct and null must match per column.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import yaml

HERE = Path(__file__).parent
CORPUS = HERE / "corpus.yml"
EXPECTED = HERE / "expected.json"
REL_TOL = 1e-9
ABS_TOL = 1e-12


def load_corpus() -> dict[str, Any]:
    """``{"tables": {name: spark_sql}, "cases": [{name, sql, refuse?, reference?, note?}]}``."""
    data = yaml.safe_load(CORPUS.read_text())
    names = [case["name"] for case in data["cases"]]
    duplicates = {name for name in names if names.count(name) > 1}
    assert not duplicates, f"duplicate case names in corpus.yml: {sorted(duplicates)}"
    return data


def load_expected() -> dict[str, Any]:
    return json.loads(EXPECTED.read_text())


def kind(arrow_type: pa.DataType) -> str:
    """The comparable kind of an Arrow column type."""
    t = pa.types
    checks = [
        (t.is_integer, "int"), (t.is_floating, "float"), (t.is_decimal, "decimal"),
        (t.is_boolean, "bool"), (t.is_date, "date"), (t.is_timestamp, "timestamp"),
        (lambda x: t.is_string(x) or t.is_large_string(x) or t.is_string_view(x), "string"),
        (t.is_map, "map"), (lambda x: t.is_list(x) or t.is_large_list(x), "list"),
        (t.is_struct, "struct"), (t.is_null, "null"), (t.is_binary, "binary"),
        (lambda x: t.is_duration(x) or t.is_interval(x), "interval"),
    ]
    for check, name in checks:
        if check(arrow_type):
            return name
    return str(arrow_type)


def encode_value(value: Any, arrow_type: pa.DataType) -> Any:
    """A JSON-able form of one Arrow value that keeps its kind."""
    if value is None:
        return None
    if pa.types.is_map(arrow_type):
        return {"map": [[encode_value(k, arrow_type.key_type), encode_value(v, arrow_type.item_type)]
                        for k, v in value]}
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return [encode_value(v, arrow_type.value_type) for v in value]
    if pa.types.is_struct(arrow_type):
        return {"struct": {f.name: encode_value(value[f.name], f.type) for f in arrow_type}}
    if pa.types.is_interval(arrow_type):  # DuckDB's (months, days, nanoseconds)
        months, days, nanos = value.months, value.days, value.nanoseconds
        return {"interval_us": (days * 86400 * 1_000_000 + nanos // 1000) if months == 0
                else f"{months} months {days} days {nanos} ns"}
    return encode_scalar(value)


def encode_scalar(value: Any) -> Any:
    """A JSON-able form of one Python value from a database driver that keeps its kind."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": str(value)}
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, (bytes, bytearray)):
        return {"binary": bytes(value).hex()}
    if isinstance(value, dt.timedelta):  # a day-time interval
        return {"interval_us": (value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds}
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return {"timestamp": value.isoformat()}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    if isinstance(value, list):
        return [encode_scalar(v) for v in value]
    raise TypeError(f"cannot encode {value!r}")


def encode(table: pa.Table) -> dict[str, Any]:
    """``{"columns": [...], "kinds": [...], "rows": [[...], ...]}`` for an Arrow table."""
    fields = list(table.schema)
    columns = [table.column(i).to_pylist() for i in range(len(fields))]
    rows = [[encode_value(v, f.type) for v, f in zip(row, fields)] for row in zip(*columns)]
    return {"columns": [f.name for f in fields], "kinds": [kind(f.type) for f in fields],
            "rows": rows}


def values_equal(got: Any, want: Any) -> bool:
    """Compare two encoded values; floats within tolerance, decimals by value."""
    if isinstance(want, float) and isinstance(got, float):
        return math.isclose(got, want, rel_tol=REL_TOL, abs_tol=ABS_TOL)
    if isinstance(want, bool) or isinstance(got, bool):
        return type(got) is type(want) and got == want
    if isinstance(want, list) and isinstance(got, list):
        return len(got) == len(want) and all(map(values_equal, got, want))
    if isinstance(want, dict) and isinstance(got, dict):
        if "decimal" in want and "decimal" in got:
            return Decimal(got["decimal"]) == Decimal(want["decimal"])
        return got.keys() == want.keys() and all(values_equal(got[k], want[k]) for k in want)
    return type(got) is type(want) and got == want


def differences(got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    """Human-readable differences between two encoded results (empty when they agree).

    Column names are not compared: engines name unaliased expressions differently.
    """
    problems = []
    if got["kinds"] != want["kinds"]:
        problems.append(f"column kinds {got['kinds']} != Spark's {want['kinds']}")
    if len(got["rows"]) != len(want["rows"]):
        problems.append(f"{len(got['rows'])} rows != Spark's {len(want['rows'])}")
    for i, (g, w) in enumerate(zip(got["rows"], want["rows"])):
        if not values_equal(g, w):
            problems.append(f"row {i}: {g} != Spark's {w}")
    return problems


# -- Spark, the reference engine ----------------------------------------------------------------
SPARK_CONF = {
    "spark.sql.ansi.enabled": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "1",
    "spark.default.parallelism": "1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
}


def spark_session() -> Any:
    """A local one-thread SparkSession configured like Data Distiller (non-ANSI, UTC)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master("local[1]").appName("fidelity")
    for key, value in SPARK_CONF.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def create_spark_tables(spark: Any, tables: dict[str, str]) -> None:
    for name, sql in tables.items():
        spark.sql(f"CREATE OR REPLACE TEMPORARY VIEW {name} AS {sql}")


def run_spark(spark: Any, sql: str) -> dict[str, Any]:
    """Run one case on Spark and encode its result."""
    return encode(spark.sql(sql).toArrow())


def spark_cases(corpus: dict[str, Any]) -> list[dict[str, Any]]:
    """The cases open-source Spark can run (not Adobe-defined functions, not what it rejects)."""
    return [case for case in corpus["cases"] if "reference" not in case
            and "spark_rejects" not in case and case.get("spark", True)]


def spark_rejected_cases(corpus: dict[str, Any]) -> list[dict[str, Any]]:
    """The cases Spark itself rejects, each with a fragment of Spark's error."""
    return [case for case in corpus["cases"] if "spark_rejects" in case]
