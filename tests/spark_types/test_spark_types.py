"""Spark's type rules: our inference gives exactly the type Spark's analyser gives.

Fast tier: for each expression of cases.yml, the type ``annotate`` infers equals the one
recorded from pyspark in typeof.json. Spark tier (``-m spark``): pyspark still gives the
recorded types.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import sqlglot

from runner.compile.dialect.spark_types import spark_name
from runner.compile.dialect.types import output_schema

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "fidelity"))

from spark_typeof import load_cases, load_recorded, query, spark_types  # noqa: E402

RECORDED = load_recorded()
SCHEMA = {"t": RECORDED["columns"]}


@pytest.mark.parametrize("expression", list(RECORDED["types"]))
def test_inferred_type_is_sparks(expression):
    inferred = output_schema(sqlglot.parse_one(query(expression), read="spark"), SCHEMA)
    got = spark_name(inferred["c"]) if "c" in inferred else None
    assert got == RECORDED["types"][expression]


def test_every_case_is_recorded():
    assert list(RECORDED["types"]) == load_cases()["expressions"]


@pytest.mark.spark
def test_spark_still_gives_the_recorded_types():
    from fidelity_harness import spark_session

    assert spark_types(spark_session(), load_cases()) == RECORDED
