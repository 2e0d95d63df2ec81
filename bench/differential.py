"""Differential testing: generated feature projects built on DuckDB and on Spark, compared.

    python bench/differential.py [--seeds 1-20] [--models 12] [--out bench/differential.md]

Writes a report: models generated and compared, silent differences, DuckDB run-time
failures and compile-time refusals by reason. Needs pyspark and Java 17.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "differential"), str(REPO / "tests" / "fidelity")]

from compare import Outcome, run  # noqa: E402
from fidelity_harness import spark_session  # noqa: E402
from generator import generate  # noqa: E402


def seeds(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def report(outcomes: list[Outcome], models_per_project: int) -> str:
    """The Markdown report of a run."""
    total = sum(o.models for o in outcomes)
    compared = sum(len(o.compared) for o in outcomes)
    reasons = Counter(re.sub(r"'[^']*'", "'…'", m)[:140] for o in outcomes for m in o.refusals.values())
    lines = [
        "# Differential testing against Spark", "",
        f"Seeds {outcomes[0].seed}-{outcomes[-1].seed} ({len(outcomes)} projects of "
        f"{models_per_project} models), `python bench/differential.py`.", "",
        "| figure | count |", "|---|---|",
        f"| models generated | {total} |",
        f"| models compared (built on DuckDB, not ephemeral) | {compared} |",
        f"| silent differences | {sum(len(o.differences) for o in outcomes)} |",
        f"| DuckDB run-time failures | {sum(len(o.failures) for o in outcomes)} |",
        f"| refused at compile time (model and descendants dropped) | {sum(len(o.refusals) for o in outcomes)} |",
        f"| Spark errors on models built locally (SQL accepted here that Spark rejects) | "
        f"{sum(len(o.spark_errors) for o in outcomes)} |",
        f"| refused here and rejected by Spark (with descendants) | {sum(len(o.rejected_by_both) for o in outcomes)} |",
        f"| columns compared | {sum(o.columns for o in outcomes)} |",
        f"| of which untyped at compile time | {sum(o.untyped for o in outcomes)} |",
        f"| models whose local column types != inferred | {sum(len(o.readback) for o in outcomes)} |",
        f"| models whose inferred types != Spark's | {sum(len(o.inferred_wrong) for o in outcomes)} |", "",
    ]
    if reasons:
        lines += ["## Refusals by reason", ""] + [f"- {n} × {r}" for r, n in reasons.most_common()] + [""]
    details = [(o.seed, kind, name, text) for o in outcomes for kind, items in (
        ("difference", {k: "; ".join(v) for k, v in o.differences.items()}),
        ("failure", o.failures), ("spark error", o.spark_errors),
        ("read-back", {k: "; ".join(v) for k, v in o.readback.items()}),
        ("inferred type", {k: "; ".join(v) for k, v in o.inferred_wrong.items()}))
        for name, text in items.items()]
    if details:
        lines += ["## Details", ""] + [f"- seed {s} {kind} `{name}`: {text[:400]}"
                                       for s, kind, name, text in details] + [""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1-10")
    parser.add_argument("--models", type=int, default=12)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "differential.md")
    args = parser.parse_args()
    spark = spark_session()
    outcomes = []
    try:
        for seed in seeds(args.seeds):
            with tempfile.TemporaryDirectory() as tmp:
                outcome = run(spark, generate(seed, args.models), Path(tmp) / "project")
            outcomes.append(outcome)
            args.out.write_text(report(outcomes, args.models) + "\n")  # so far
            print(f"seed {seed}: {len(outcome.compared)} compared, {len(outcome.differences)} "
                  f"differ, {len(outcome.failures)} failed, {len(outcome.readback)} read-back, "
                  f"{len(outcome.inferred_wrong)} mistyped, {len(outcome.refusals)} refused, "
                  f"{len(outcome.spark_errors)} spark errors", flush=True)
    finally:
        spark.stop()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
