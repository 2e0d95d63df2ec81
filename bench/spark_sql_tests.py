"""Spark's own SQL golden-file tests, run on the local engine and compared with Spark.

    python bench/spark_sql_tests.py --inputs DIR [--out bench/spark_sql_tests.md]
                                    [--spark-cache FILE] [--only FILE.sql] [--show wrong,accepted]
                                    [--with-sql]

DIR holds input files of Spark's ``sql-tests`` (``sql/core/src/test/resources/sql-tests/inputs``
in apache/spark; not part of this repository). Each file is split into statements the way
Spark's ``SQLQueryTestSuite`` does (``--`` comment lines dropped, split on ``;``). A query is
*self-contained* when it reads nothing or only the temporary views the file created before it
from a ``SELECT``/``VALUES``; those views become DuckDB tables through the same translation.

Every self-contained query runs on Spark (local, non-ANSI, UTC, like Data Distiller; answers
cached in ``--spark-cache``) and through ``runner.compile.dialect.translate`` on DuckDB. Outcomes:

- Spark answers: right (same rows: multiset unless the query orders, floats to 1e-9 relative,
  same column kinds), wrong, refused at compile time (with its reason), run-time error;
- Spark rejects: rejected when loaded or compiled, by DuckDB's binder (``EXPLAIN``, which
  ``runner compile`` runs and reports at file:line:col), failed only when run, or accepted
  (a local result where Spark gives an error).

Writes a Markdown report (listed queries by file and statement number; their text only with
``--with-sql``, since Spark's files are not ours to copy). Needs pyspark and Java 17.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "fidelity")]

import duckdb  # noqa: E402
import sqlglot  # noqa: E402
from sqlglot import exp  # noqa: E402

from fidelity_harness import differences, encode, spark_session  # noqa: E402
from runner.adapters.duckdb import DuckDBAdapter  # noqa: E402
from runner.compile.dialect.translate import to_target  # noqa: E402
from runner.errors import ProjectError  # noqa: E402
from runner.project.parsing import parse_query  # noqa: E402
from runner.project.spark_rejects import check_functions  # noqa: E402

OUTCOMES = ("right", "wrong", "refused", "runtime", "rejected", "rejected_at_bind",
            "rejected_at_runtime", "accepted", "unencodable")


# -- reading Spark's input files ------------------------------------------------------------------
def split_statements(text: str) -> list[str]:
    """Statements of one input file: ``--`` comment lines dropped, split on ``;`` outside quotes."""
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    statements, current, quote, i = [], [], "", 0
    while i < len(code):
        ch = code[i]
        if quote:
            current.append(ch)
            if ch == "\\" and i + 1 < len(code):
                current.append(code[i + 1])
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "'\"`":
            quote = ch
            current.append(ch)
        elif ch == "/" and code.startswith("/*", i):
            end = code.find("*/", i + 2)
            end = len(code) if end < 0 else end + 2
            current.append(code[i:end])
            i = end - 1
        elif ch == ";":
            statements.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
        i += 1
    statements.append("".join(current).strip())
    return [s for s in statements if s]


@dataclass
class Query:
    file: str
    index: int  # the statement's position in its file
    sql: str
    views: list[str]  # the file's view definitions (CREATE statements) it needs, in order

    @property
    def key(self) -> str:
        return f"{self.file}#{self.index}"


VIEW = re.compile(r"^\s*create\s+(?:or\s+replace\s+)?(?:global\s+)?temp(?:orary)?\s+view\s+"
                  r"(?:if\s+not\s+exists\s+)?`?([\w.]+)`?", re.I)


def view_name_and_select(statement: str) -> tuple[str, exp.Expression, list[str]] | None:
    """For ``CREATE TEMPORARY VIEW v [(cols)] AS <query>``: (v, the query, cols)."""
    match = VIEW.match(statement)
    if not match or re.search(r"\busing\b", statement[:match.end() + 40], re.I):
        return None
    try:
        tree = sqlglot.parse_one(statement, read="spark")
    except sqlglot.errors.SqlglotError:
        return None
    if not isinstance(tree, exp.Create) or not isinstance(tree.expression, exp.Query):
        return None
    columns = [c.name for c in tree.this.expressions] if isinstance(tree.this, exp.Schema) else []
    return match.group(1).lower(), tree.expression, columns


def referenced_tables(statement: str) -> set[str] | None:
    """Names of the tables a query reads (CTE names excluded), or None when not a plain query."""
    try:
        tree = sqlglot.parse_one(statement, read="spark")
    except sqlglot.errors.SqlglotError:
        return set()  # a parse error: Spark's answer decides (it may reject it too)
    if tree is None or not isinstance(tree, (exp.Query, exp.Values)):
        return None
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    names = set()
    for table in tree.find_all(exp.Table):
        if not table.name or isinstance(table.this, exp.Func):
            continue
        name = table.name.lower()
        if name not in ctes:
            names.add(name)
    return names


def closure(tables: set[str], views: dict[str, str]) -> list[str]:
    """The view statements ``tables`` need, with the views they read, in definition order."""
    wanted, todo = set(), list(tables)
    while todo:
        name = todo.pop()
        if name in wanted or name not in views:
            continue
        wanted.add(name)
        select = view_name_and_select(views[name])[1]  # type: ignore[index]
        todo += referenced_tables(select.sql(dialect="spark")) or []
    return [statement for name, statement in views.items() if name in wanted]


QUERY_START = re.compile(r"^\s*\(?\s*(select|with|values|from|table)\b", re.I)


def self_contained_queries(path: Path) -> tuple[list[Query], int]:
    """The file's self-contained queries, and how many statements were left out."""
    views: dict[str, str] = {}
    queries, left_out = [], 0
    for index, statement in enumerate(split_statements(path.read_text(encoding="utf-8"))):
        view = view_name_and_select(statement)
        if view:
            views[view[0]] = statement
            continue
        if not QUERY_START.match(statement):
            left_out += 1
            continue
        tables = referenced_tables(statement)
        if tables is None or not tables <= set(views):
            left_out += 1
            continue
        needed = closure(tables, views)
        queries.append(Query(path.name, index, statement, needed))
    return queries, left_out


# -- Spark ------------------------------------------------------------------------------------------
def spark_answers(queries: list[Query], cache_path: Path) -> dict[str, dict[str, Any]]:
    """Spark's answer per query key: ``{"result": encoded}`` or ``{"error": kind, "message"}``."""
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    missing = [q for q in queries if cache.get(q.key, {}).get("sql") != q.sql]
    if missing:
        logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)
        spark = spark_session()
        for n, query in enumerate(missing, 1):
            cache[query.key] = {"sql": query.sql, **spark_answer(spark, query)}
            if n % 100 == 0:
                print(f"  spark: {n}/{len(missing)}", file=sys.stderr)
                cache_path.write_text(json.dumps(cache))
        cache_path.write_text(json.dumps(cache))
    return cache


def spark_answer(spark: Any, query: Query) -> dict[str, Any]:
    try:
        for view in query.views:
            spark.sql(f"DROP VIEW IF EXISTS {VIEW.match(view).group(1)}")
            spark.sql(view)
        return {"result": encode(spark.sql(query.sql).toArrow())}
    except Exception as error:  # noqa: BLE001 - Spark's errors are what is recorded
        message = spark_message(error)
        if "UNSUPPORTED_DATA_TYPE_FOR_ARROW_CONVERSION" in message:
            return {"unencodable": message}
        return {"error": type(error).__name__, "message": message}


def spark_message(error: BaseException) -> str:
    """The line of a Spark error that names it (its error class, or the Java exception)."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    for line in lines:
        if re.search(r"\[[A-Z_.]+\]|Exception:", line):
            return line.removeprefix(": ")[:300]
    return (lines or [type(error).__name__])[0][:300]


# -- the local engine -----------------------------------------------------------------------------
@dataclass
class Result:
    query: Query
    outcome: str
    detail: str = ""


def translate(sql: str, schema: dict[str, Any]) -> str:
    """A query loaded as a model is (what Spark rejects refused) and translated for DuckDB."""
    tree = parse_query(sql, "case.sql", "spark")
    check_functions(tree, sql, "case.sql")
    return to_target(tree, "duckdb", schema).sql(dialect="duckdb")


def local_run(query: Query) -> tuple[str, Any]:
    """("refused"|"runtime"|"view", message) or ("result", encoded) for one query on DuckDB."""
    con = duckdb.connect()
    try:
        DuckDBAdapter.prepare(con)
        schema: dict[str, Any] = {}
        for view in query.views:
            name, select, columns = view_name_and_select(view)  # type: ignore[misc]
            try:
                sql = translate(select.sql(dialect="spark"), schema)
                con.execute(f'CREATE OR REPLACE TABLE "{name}" AS {sql}')
                if columns:
                    old = [row[0] for row in con.execute(f'DESCRIBE "{name}"').fetchall()]
                    for before, after in zip(old, columns):
                        con.execute(f'ALTER TABLE "{name}" RENAME "{before}" TO "{after}"')
            except (ProjectError, duckdb.Error) as error:
                return "view", f"view {name}: {one_line(error)}"
            schema[name] = {column: exp.DataType.build(dtype, dialect="duckdb")
                            for column, dtype, *_ in con.execute(f'DESCRIBE "{name}"').fetchall()}
        try:
            sql = translate(query.sql, schema)
        except ProjectError as error:
            return "refused", error.message
        except Exception as error:  # noqa: BLE001 - a compiler crash is a finding
            return "crash", f"{type(error).__name__}: {one_line(error)}"
        try:
            con.execute(f"EXPLAIN {sql}")  # what `runner compile` asks the engine to bind
        except duckdb.Error as error:
            return "bind", one_line(error)
        try:
            return "result", encode(con.sql(sql).to_arrow_table())
        except Exception as error:  # noqa: BLE001 - duckdb and arrow errors alike
            return "runtime", one_line(error)
    finally:
        con.close()


def one_line(error: BaseException) -> str:
    text = str(error).strip()
    return (text.splitlines() or [type(error).__name__])[0][:300]


def ordered(sql: str) -> bool:
    try:
        tree = sqlglot.parse_one(sql, read="spark")
    except sqlglot.errors.SqlglotError:
        return False
    return isinstance(tree, exp.Query) and tree.args.get("order") is not None


def as_multiset(result: dict[str, Any]) -> dict[str, Any]:
    return {**result, "rows": sorted(result["rows"], key=lambda r: json.dumps(r, sort_keys=True))}


def judge(query: Query, answer: dict[str, Any]) -> Result:
    if "unencodable" in answer:
        return Result(query, "unencodable", answer["unencodable"])
    kind, got = local_run(query)
    if "error" in answer:
        if kind in ("refused", "view"):
            return Result(query, "rejected", got)
        if kind == "bind":
            return Result(query, "rejected_at_bind", got)
        if kind in ("runtime", "crash"):
            return Result(query, "rejected_at_runtime", got)
        return Result(query, "accepted", f"Spark: {answer['error']}: {answer['message']}")
    if kind in ("refused", "view"):
        return Result(query, "refused", got)
    if kind in ("runtime", "crash", "bind"):
        return Result(query, "runtime", f"{kind}: {got}")
    want = answer["result"]
    if not ordered(query.sql):
        got, want = as_multiset(got), as_multiset(want)
    problems = differences(got, want)
    return Result(query, "wrong" if problems else "right", "; ".join(problems)[:400])


# -- the report -----------------------------------------------------------------------------------
def report(results: list[Result], left_out: dict[str, int], show: set[str],
           with_sql: bool = False) -> str:
    by_file: dict[str, Counter] = defaultdict(Counter)
    for r in results:
        by_file[r.query.file][r.outcome] += 1
    total = Counter(r.outcome for r in results)
    answered = sum(total[k] for k in ("right", "wrong", "refused", "runtime"))
    rejected = sum(total[k] for k in ("rejected", "rejected_at_bind", "rejected_at_runtime",
                                      "accepted"))
    lines = [
        "# Spark's own SQL tests on the local engine", "",
        f"{len(results)} self-contained queries from {len(by_file)} input files of Spark's "
        "`sql-tests` (values recomputed on pyspark, non-ANSI, UTC), run through the DuckDB "
        "translation. `python bench/spark_sql_tests.py --inputs DIR`.", "",
        f"Of {answered} queries Spark answers: **{total['right']} right, {total['wrong']} wrong**, "
        f"{total['refused']} refused at compile time, {total['runtime']} run-time errors. "
        f"Of {rejected} queries Spark rejects: {total['rejected']} rejected when loaded or "
        f"compiled, {total['rejected_at_bind']} by the engine's binder (which `runner compile` "
        f"reports at file:line:col), {total['rejected_at_runtime']} fail only when run, "
        f"**{total['accepted']} accepted**. "
        f"{total['unencodable']} answers of Spark's cannot be read through Arrow (interval "
        "types) and are not compared.", "",
        "| file | statements left out | " + " | ".join(OUTCOMES) + " |",
        "|---|---|" + "---|" * len(OUTCOMES),
    ]
    for name in sorted(by_file):
        counts = by_file[name]
        lines.append(f"| {name} | {left_out.get(name, 0)} | "
                     + " | ".join(str(counts[k]) for k in OUTCOMES) + " |")
    lines.append("| **total** | " + str(sum(left_out.values())) + " | "
                 + " | ".join(f"**{total[k]}**" for k in OUTCOMES) + " |")
    refusals = Counter(re.sub(r"'[^']*'", "'…'", r.detail)[:120]
                       for r in results if r.outcome == "refused")
    lines += ["", "## Refusals by reason", ""]
    lines += [f"- {n} × {reason}" for reason, n in refusals.most_common()]
    for outcome in ("wrong", "runtime", "accepted", "rejected_at_runtime", "refused"):
        if outcome not in show:
            continue
        lines += ["", f"## {outcome}", ""]
        for r in results:
            if r.outcome == outcome:
                sql = f" `{' '.join(r.query.sql.split())[:300]}`" if with_sql else ""
                lines.append(f"- `{r.query.key}`{sql}: {r.detail}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "spark_sql_tests.md")
    parser.add_argument("--spark-cache", type=Path, default=None)
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--show", default="wrong,runtime,accepted,rejected_at_runtime",
                        help="outcomes listed query by query (comma-separated)")
    parser.add_argument("--with-sql", action="store_true",
                        help="quote each listed query (Spark's text: keep such a report local)")
    args = parser.parse_args()
    files = sorted(p for p in args.inputs.glob("*.sql") if not args.only or p.name in args.only)
    queries, left_out = [], {}
    for path in files:
        found, left_out[path.name] = self_contained_queries(path)
        queries += found
    cache = args.spark_cache or args.inputs.parent / "spark_answers.json"
    answers = spark_answers(queries, cache)
    results = [judge(q, answers[q.key]) for q in queries]
    args.out.write_text(report(results, left_out, set(args.show.split(",")), args.with_sql))
    total = Counter(r.outcome for r in results)
    print(" ".join(f"{k}={total[k]}" for k in OUTCOMES), f"-> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
