"""Generated feature projects: DuckDB through the runner gives Spark's values and types.

Fast tier: every generated model built on DuckDB holds the types the compiler inferred for it
(read back from the local table), and every column has one. Spark tier (``-m spark``): a few
fixed seeds are built on both engines and compared model by model (bench/differential.py runs
any number of seeds).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from compare import Outcome, run, run_duckdb  # noqa: E402
from generator import generate  # noqa: E402

FAST_SEEDS = (1, 2, 3)
SPARK_SEEDS = (4, 5, 6)


@pytest.mark.parametrize("seed", FAST_SEEDS)
def test_local_tables_hold_the_inferred_types(tmp_path, seed):
    outcome = Outcome(seed)
    built = run_duckdb(generate(seed), tmp_path / "project", outcome)
    assert outcome.failures == {} and len(built) >= 8
    for name, result in built.items():
        inferred = result["inferred"]
        assert {c.lower() for c in result["local"]} == set(inferred), name  # every column typed
        assert {c.lower(): t for c, t in result["local"].items()} == inferred, name


def test_generator_is_deterministic():
    assert [m.sql for m in generate(7).models] == [m.sql for m in generate(7).models]
    assert [m.sql for m in generate(7).models] != [m.sql for m in generate(8).models]


@pytest.fixture(scope="module")
def spark():  # noqa: ANN201
    sys.path.insert(0, str(Path(__file__).parents[1] / "fidelity"))
    from fidelity_harness import spark_session

    return spark_session()  # shared with the other Spark tiers (getOrCreate); not stopped here


@pytest.mark.spark
@pytest.mark.parametrize("seed", SPARK_SEEDS)
def test_duckdb_builds_sparks_values(spark, tmp_path, seed):
    outcome = run(spark, generate(seed), tmp_path / "project")
    assert len(outcome.compared) >= 8 and outcome.spark_errors == {}
    assert outcome.differences == {} and outcome.failures == {}
    assert outcome.readback == {} and outcome.inferred_wrong == {}
