"""The Spark-faithful dialect layer: make a Spark SQL query give Spark's values on another engine.

Models are written in Data Distiller's dialect (Spark SQL, ``spark.sql.ansi.enabled=false``,
session time zone UTC). sqlglot transpiles them, but a transpiled query can still compute a
different value: DuckDB counts ``dayofweek`` from Sunday = 0, rounds when casting 3.7 to INT,
returns a TIMESTAMP from ``date_sub``, turns ``TIMESTAMP`` into ``TIMESTAMPTZ``... ``to_target``
rewrites such constructs into target SQL with Spark's semantics, or refuses them at compile time
with a ``ProjectError`` that names the construct and what to write instead. The rule is: never a
silently different value.

Some rewrites depend on operand types (``CAST(x AS INT)`` truncates a DOUBLE but parses a
STRING; ``sum`` of INTs is a BIGINT). Types of literals and expressions are inferred by sqlglot;
types of table columns are known only when the caller passes ``schema`` (``{table: {column:
type}}``, e.g. from the engine's catalogue). Without it, rewrites fall back to type-generic SQL
that is right for the common cases; see ``runner.compile.dialect.duckdb`` for each rule.

    >>> import sqlglot
    >>> q = sqlglot.parse_one("SELECT dayofweek(DATE'2024-01-07') AS d", read="spark")
    >>> to_target(q, "duckdb").sql(dialect="duckdb")
    "SELECT CAST(DAYOFWEEK(CAST('2024-01-07' AS DATE)) + 1 AS INT) AS d"
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

from runner.compile.dialect import duckdb, postgres
from runner.compile.dialect.approximate import Note, check_approximate
from runner.compile.dialect.rules import refuse, rewrite
from runner.compile.dialect.types import annotate, result_columns
from runner.errors import ProjectError


@dataclass
class Translation:
    """A query made ready for one engine.

    Attributes:
        query: the rewritten query (the input tree, changed in place).
        sql: ``query`` rendered in the target's dialect, once.
        columns: the result's columns as (name, Spark type or None), from the one typing pass
            the rewrite used; None for the Spark dialect (nothing is rewritten or typed) or
            when a ``SELECT *`` cannot be expanded.
    """

    query: exp.Expression
    sql: str
    columns: list[tuple[str, exp.DataType | None]] | None


def to_target(
    expression: exp.Expression, target: str, schema: dict[str, Any] | None = None, *,
    approximate: str = "exact", notes: list[Note] | None = None,
) -> exp.Expression:
    """Return a rewritten copy of a spark-dialect query so that .sql(dialect=target) gives Spark's values.

    Args:
        expression: a query parsed with ``read="spark"``.
        target: a sqlglot dialect name: 'duckdb', 'postgres' (known differences refused) or
            'spark' (identity copy).
        schema: optional column types of the tables the query reads, ``{table: {column: type}}``
            with types as sqlglot DataTypes or Spark type strings (``output_schema`` gives a
            model's, for its children); lets type-dependent rewrites pick the exact rule.
        approximate: the policy for Spark's approximate aggregates on a local engine
            (``runner.compile.dialect.approximate``): 'exact' computes them exactly and
            notes it, 'refuse' refuses them.
        notes: a list the translation appends its ``Note``s to (what a user should know
            about how a construct runs locally, with line/col).

    Returns:
        A new expression; the input is not modified.

    Raises:
        ProjectError: for a construct that is refused or that sqlglot cannot render for
            ``target``; the message names the construct and what to write instead, with
            line/col when sqlglot recorded them.
    """
    return translate(expression.copy(), target, schema, approximate=approximate,
                     notes=notes).query


def translate(
    query: exp.Expression, target: str, schema: dict[str, Any] | None = None, *,
    approximate: str = "exact", notes: list[Note] | None = None,
) -> Translation:
    """``to_target`` in place, for the compiler: the query is typed once (its result columns
    come from that pass) and rendered once; the caller's tree is rewritten, not copied."""
    if target == "spark":
        return Translation(query, query.sql(dialect=target), None)
    rewrites = {"duckdb": duckdb.REWRITES, "postgres": postgres.RULES}
    if target not in rewrites:
        raise ProjectError(f"no dialect rules for target dialect '{target}' "
                           "(use one of: duckdb, postgres, spark)")
    check_approximate(query, approximate, notes if notes is not None else [])
    signed_literals(query)
    columns = result_columns(annotate(query, schema), query)  # names read before the rewrite
    query = rewrite(query, rewrites[target])
    return Translation(query, check_renders(query, target), columns)


def signed_literals(query: exp.Expression) -> None:
    """A minus sign before an integer literal is part of the literal in Spark's grammar
    (``-2147483648`` is an INT, ``-128Y`` the TINYINT -128), where sqlglot reads the negation
    of a literal out of range of its type (a BIGINT, a wrapped TINYINT); the sign is put into
    the literal, in place."""
    for node in list(query.find_all(exp.Neg)):
        inner = node.this
        if isinstance(inner, exp.Literal) and inner.is_int:
            literal = exp.Literal(this=f"-{inner.name}", is_string=False)
            literal.meta.update(inner.meta)
            node.replace(literal)
        elif isinstance(inner, exp.TryCast) and isinstance(inner.this, exp.Literal) \
                and inner.this.is_int and _suffixed(inner.this):
            literal = exp.Literal(this=f"-{inner.this.name}", is_string=False)
            literal.meta.update(inner.this.meta)
            inner.set("this", literal)
            node.replace(inner)


def _suffixed(literal: exp.Literal) -> bool:
    """Whether the literal was written with a type suffix (128Y, 7L): its text is longer."""
    start, end = literal.meta.get("start"), literal.meta.get("end")
    return start is not None and end is not None and end - start + 1 > len(literal.name)


def check_renders(query: exp.Expression, target: str) -> str:
    """``query`` rendered for ``target``; ProjectError if sqlglot cannot render it faithfully."""
    try:
        # rendered once and last, so without the generator's defensive copy of the tree
        return query.sql(dialect=target, unsupported_level=ErrorLevel.RAISE, copy=False)
    except SqlglotError as error:
        detail = str(error).splitlines()[0]
        raise refuse(query, f"this query cannot be translated for the {target} engine: "
                            f"{detail}; rewrite that construct in plain Spark SQL") from None


