"""Benchmarks of the runner (not tests): `python bench/bench.py [--quick]` -> bench/basics.md.

Measures, on the machine it runs on:
1. load + compile of a generated wide project (N models: chains fanning into one final model);
2. the example project on DuckDB: a cold build (synthetic sources included), a no-op rebuild,
   and a full refresh with 1 and 4 threads;
3. the synthetic generator alone at two population sizes.
Each figure is the median of `--repeat` runs. Nothing here asserts anything.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runner import BuildOptions, build, open_session  # noqa: E402
from runner.sources.synth import SynthOptions, generate  # noqa: E402


def timed(fn: Callable[[], object], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def wide_project(folder: Path, models: int) -> None:
    (folder / "models").mkdir(parents=True)
    (folder / "project.yml").write_text("name: wide\nsources:\n  raw: {}\n")
    chains = 10
    per_chain = models // chains
    for c in range(chains):
        for i in range(per_chain):
            parent = "raw" if i == 0 else f"m_{c}_{i - 1}"
            (folder / "models" / f"m_{c}_{i}.sql").write_text(
                f"WITH base AS (SELECT k, v FROM {parent})\n"
                f"SELECT k, sum(v) OVER (PARTITION BY k) AS v, date_add(current_date(), {i}) AS d "
                f"FROM base WHERE v IS NOT NULL")
    final = " UNION ALL ".join(f"SELECT k, v FROM m_{c}_{per_chain - 1}" for c in range(chains))
    (folder / "models" / "final.sql").write_text(final)


def example_copy(folder: Path) -> Path:
    for name in ("models", "macros"):
        shutil.copytree(ROOT / name, folder / name)
    shutil.copy(ROOT / "project.yml", folder / "project.yml")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one repeat")
    args = parser.parse_args()
    repeat = 1 if args.quick else args.repeat
    quiet = lambda _line: None  # noqa: E731
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        for n in (50, 200) if args.quick else (50, 200, 500):
            folder = tmp_path / f"wide{n}"
            wide_project(folder, n)
            seconds = timed(lambda f=folder: open_session(f, BuildOptions()), repeat)
            rows.append((f"load + compile, {n + 1} models", f"{seconds:.3f} s"))

        example = example_copy(tmp_path / "example")
        started = time.perf_counter()
        result = build(example, BuildOptions(exports=False), echo=quiet)
        cold = time.perf_counter() - started
        assert result.ok
        rows.append(("example: cold build incl. synthetic sources (2,000 users x 120 days)",
                     f"{cold:.2f} s"))
        seconds = timed(lambda: build(example, BuildOptions(exports=False), echo=quiet), repeat)
        rows.append(("example: no-op rebuild (nothing changed, no CTAS)", f"{seconds:.3f} s"))
        for threads in (1, 4):
            seconds = timed(lambda t=threads: build(example, BuildOptions(
                exports=False, full_refresh=True, threads=t), echo=quiet), repeat)
            rows.append((f"example: --full-refresh, {threads} thread(s)", f"{seconds:.2f} s"))

        for users in (500, 2000) if args.quick else (2000, 10000):
            seconds = timed(lambda u=users: generate(SynthOptions(users=u)), repeat)
            rows.append((f"synth: {users:,} users x 120 days", f"{seconds:.2f} s"))

    lines = [
        "# Benchmark results", "",
        f"`python bench/bench.py{' --quick' if args.quick else ''}` on "
        f"{time.strftime('%Y-%m-%d')}, Python {platform.python_version()}, "
        f"{platform.machine()}, median of {repeat} run(s).", "",
        "| what | time |", "|---|---|",
        *[f"| {what} | {value} |" for what, value in rows], "",
    ]
    out = ROOT / "bench" / "basics.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
