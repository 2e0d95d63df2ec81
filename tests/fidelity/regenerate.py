"""Record Spark's result for every corpus case into expected.json.

Run after adding or changing a case:  .venv/bin/python tests/fidelity/regenerate.py
Needs pyspark and Java 17; runs Spark in local mode, non-ANSI, session time zone UTC.
Cases with a hand-written ``reference`` (Adobe-defined functions) are copied from the corpus.
"""

from __future__ import annotations

import json
import sys

from fidelity_harness import (EXPECTED, create_spark_tables, load_corpus, run_spark, spark_cases,
                              spark_session)


def main() -> int:
    corpus = load_corpus()
    spark = spark_session()
    create_spark_tables(spark, corpus["tables"])
    expected, failed = {}, []
    for case in corpus["cases"]:
        if "reference" in case:
            ref = case["reference"]
            expected[case["name"]] = {"columns": None, "kinds": ref["kinds"], "rows": ref["rows"],
                                      "source": ref["source"]}
    for case in spark_cases(corpus):
        try:
            expected[case["name"]] = run_spark(spark, case["sql"])
        except Exception as error:  # report every broken case, not just the first
            failed.append(f"{case['name']}: {str(error).splitlines()[0]}")
    spark.stop()
    if failed:
        print("Spark could not run:\n  " + "\n  ".join(failed), file=sys.stderr)
        return 1
    EXPECTED.write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(expected)} cases to {EXPECTED}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
