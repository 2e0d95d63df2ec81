"""Record Spark's result type of every expression in cases.yml into typeof.json.

Run after adding an expression:  .venv/bin/python tests/spark_types/record.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "fidelity"))

from spark_typeof import load_cases, spark_types  # noqa: E402

from fidelity_harness import spark_session  # noqa: E402


def main() -> int:
    spark = spark_session()
    recorded = spark_types(spark, load_cases())
    spark.stop()
    (HERE / "typeof.json").write_text(json.dumps(recorded, indent=1) + "\n")
    print(f"wrote {len(recorded)} types to {HERE / 'typeof.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
