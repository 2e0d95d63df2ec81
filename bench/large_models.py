"""One very large generated model (not a test): `python bench/large_models.py [--sizes 1,2,5]`.

For each shape and size (MB of SQL), a project of one seeded source and one generated model
``big.sql``; a cold ``runner build`` (no compile cache) in a child process is timed, with the
moment its first "still reading" or "still compiling" line appeared (never silent). Shapes:

- ``case_columns``: a wide select list, one ``CASE WHEN amount > i THEN amount * i ELSE 0 END``
  column per item (a generated feature matrix);
- ``in_list``: ``WHERE user_id IN ('u0000001', ...)`` (a generated allow-list);
- ``union_all``: ``SELECT ... WHERE amount > i UNION ALL ...`` branches.

Prints a Markdown table (seconds, seconds per MB) and appends it to ``bench/large_models.md``
with ``--write``; nothing asserts a timing.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parent.parent
WORK = Path("/tmp/runner-large-models")
RESULTS = Path(__file__).resolve().parent / "large_models.md"


def _items(size: int, item: Callable[[int], str], separator: str) -> str:
    """``item(0)``, ``item(1)``, ... joined by ``separator`` up to ``size`` characters."""
    items: list[str] = []
    total = 0
    while total < size:
        items.append(item(len(items)))
        total += len(items[-1]) + len(separator)
    return separator.join(items)


def case_columns(size: int) -> str:
    columns = _items(size, lambda i: f"CASE WHEN amount > {i} THEN amount * {i % 97 + 1} ELSE 0 "
                                     f"END AS c{i}", ",\n  ")
    return f"SELECT user_id,\n  {columns}\nFROM raw_orders\n"


def in_list(size: int) -> str:
    return ("SELECT * FROM raw_orders\nWHERE user_id IN ("
            + _items(size, lambda i: f"'u{i:07d}'", ", ") + ")\n")


def union_all(size: int) -> str:
    return _items(size, lambda i: f"SELECT user_id, amount * {i % 97 + 1} AS v FROM raw_orders "
                                  f"WHERE amount > {i}", "\nUNION ALL\n") + "\n"


SHAPES: dict[str, Callable[[int], str]] = {"case_columns": case_columns, "in_list": in_list,
                                           "union_all": union_all}


def project(shape: str, megabytes: float) -> Path:
    root = WORK / f"{shape}_{megabytes:g}"
    shutil.rmtree(root, ignore_errors=True)
    (root / "models").mkdir(parents=True)
    (root / "project.yml").write_text("name: large\nsources:\n  raw_orders: {}\n",
                                      encoding="utf-8")
    (root / "models" / "big.sql").write_text(SHAPES[shape](int(megabytes * 1_000_000)),
                                             encoding="utf-8")
    (root / "target").mkdir()
    con = duckdb.connect(str(root / "target" / "local.duckdb"))
    con.execute("CREATE TABLE raw_orders AS SELECT range AS order_id, 'u' || lpad(CAST(range % "
                "500 AS VARCHAR), 7, '0') AS user_id, CAST(range % 1000 AS DOUBLE) AS amount "
                "FROM range(2000)")
    con.close()
    return root


def build(root: Path) -> tuple[float, float | None, float | None, int]:
    """Seconds of a cold ``runner build``, seconds until its first "still ..." line, until the
    model starts running ("Running 1 model(s)": read and compiled), and the exit code."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "runner.cli.main", "build", "--project-dir",
                              str(root)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, cwd=ROOT)
    first: list[float] = []
    compiled: list[float] = []

    def read() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            if "still " in line and not first:
                first.append(time.perf_counter() - started)
            if "Running 1 model(s)" in line and not compiled:
                compiled.append(time.perf_counter() - started)

    reader = threading.Thread(target=read)
    reader.start()
    code = child.wait()
    reader.join()
    return (time.perf_counter() - started, (first[0] if first else None),
            (compiled[0] if compiled else None), code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,2,5", help="MB of SQL, comma-separated")
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--write", action="store_true", help=f"append to {RESULTS.name}")
    args = parser.parse_args()
    sizes = [float(s) for s in args.sizes.split(",")]
    rows = ["| shape | MB | build s | s per MB | read + compile s | s per MB | run s "
            "| first progress line at | exit |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for shape in args.shapes.split(","):
        for megabytes in sizes:
            seconds, first, compiled, code = build(project(shape, megabytes))
            shown = f"{first:.1f} s" if first is not None else "none"
            ready = compiled if compiled is not None else seconds
            rows.append(f"| {shape} | {megabytes:g} | {seconds:.1f} | {seconds / megabytes:.1f} "
                        f"| {ready:.1f} | {ready / megabytes:.1f} | {seconds - ready:.1f} "
                        f"| {shown} | {code} |")
            print(rows[-1], flush=True)
    text = (f"`python bench/large_models.py --sizes {args.sizes} --shapes {args.shapes}` on "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: a cold `runner build` of one "
            "generated model (child process, no compile cache)\n\n" + "\n".join(rows) + "\n")
    print(text)
    if args.write:
        with RESULTS.open("a", encoding="utf-8") as handle:
            handle.write(("\n" if RESULTS.exists() and RESULTS.stat().st_size else "") + text)


if __name__ == "__main__":
    main()
