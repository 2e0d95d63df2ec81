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
that is right for the common cases; see ``runner.dialect_duckdb`` for each rule.

    >>> import sqlglot
    >>> q = sqlglot.parse_one("SELECT dayofweek(DATE'2024-01-07') AS d", read="spark")
    >>> to_target(q, "duckdb").sql(dialect="duckdb")
    "SELECT DAYOFWEEK(CAST('2024-01-07' AS DATE)) + 1 AS d"
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Callable

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

from runner.errors import ProjectError

_ID = "dialect_node_id"
T = exp.DataType.Type
INT_PRECISION = {T.TINYINT: 3, T.SMALLINT: 5, T.INT: 10, T.BIGINT: 20}
Rule = Callable[[exp.Expression], exp.Expression | None]


def to_target(
    expression: exp.Expression, target: str, schema: dict[str, Any] | None = None
) -> exp.Expression:
    """Return a rewritten copy of a spark-dialect query so that .sql(dialect=target) gives Spark's values.

    Args:
        expression: a query parsed with ``read="spark"``.
        target: a sqlglot dialect name: 'duckdb', 'postgres' (known differences refused) or
            'spark' (identity copy).
        schema: optional column types of the tables the query reads, ``{table: {column: type}}``
            with types as sqlglot DataTypes or Spark type strings (``output_schema`` gives a
            model's, for its children); lets type-dependent rewrites pick the exact rule.

    Returns:
        A new expression; the input is not modified.

    Raises:
        ProjectError: for a construct that is refused or that sqlglot cannot render for
            ``target``; the message names the construct and what to write instead, with
            line/col when sqlglot recorded them.
    """
    query = expression.copy()
    if target == "spark":
        return query
    from runner import dialect_duckdb, dialect_postgres

    rewrites = {"duckdb": dialect_duckdb.REWRITES, "postgres": dialect_postgres.RULES}
    if target not in rewrites:
        raise ProjectError(f"no dialect rules for target dialect '{target}' "
                           "(use one of: duckdb, postgres, spark)")
    annotate(query, schema)
    query = rewrite(query, rewrites[target])
    check_renders(query, target)
    return query


def session_setup(target: str) -> list[str]:
    """Statements the adapter runs on every new connection so values match Spark.

    DuckDB: the session time zone is UTC, like Data Distiller's Spark, so TIMESTAMPTZ values
    read from sources and ``current_timestamp`` convert to the same wall-clock times.
    """
    if target == "duckdb":
        return ["SET TimeZone = 'UTC'"]
    if target == "postgres":
        return ["SET TIME ZONE 'UTC'"]
    return []


def output_schema(
    expression: exp.Expression, schema: dict[str, Any] | None = None
) -> dict[str, exp.DataType]:
    """The column types of a spark query's result, to pass as ``schema`` to its children.

    Args:
        expression: a query parsed with ``read="spark"`` (not modified).
        schema: the column types of the tables it reads, as for ``to_target``.

    Returns:
        ``{column name: type}`` for the columns whose type sqlglot can infer (others are left
        out, so a child treats them as unknown).
    """
    query = expression.copy()
    annotate(query, schema)
    selects = query.selects if isinstance(query, exp.Query) else []
    types = {select.alias_or_name: select.unalias().type for select in selects}
    return {name: dtype for name, dtype in types.items()
            if name and dtype is not None and not dtype.is_type(T.UNKNOWN)}


def refuse(node: exp.Expression, message: str) -> ProjectError:
    """A ProjectError for ``node``, located at the first line/col sqlglot recorded in it."""
    for inner in node.walk():
        if "line" in inner.meta:
            return ProjectError(message, line=inner.meta["line"], col=inner.meta.get("col"))
    return ProjectError(message)


def annotate(query: exp.Expression, schema: dict[str, Any] | None) -> None:
    """Set ``.type`` on the nodes of ``query`` in place (columns stay UNKNOWN without a schema).

    Qualifying columns (needed to look types up) rewrites identifiers, so the types are worked
    out on a tagged copy and carried back to the original nodes.
    """
    nodes = list(query.walk())
    for index, node in enumerate(nodes):
        node.meta[_ID] = index
    shadow = query.copy()
    for literal in list(shadow.find_all(exp.Literal)):
        literal_type = None if literal.is_string else _literal_type(literal.name)
        if literal_type is not None:
            literal.replace(exp.Cast(this=literal.copy(), to=literal_type))
    try:
        if schema:
            shadow = qualify(shadow, schema=schema, dialect="spark", expand_stars=False,
                             validate_qualify_columns=False, quote_identifiers=False,
                             identify=False)
        shadow = annotate_types(shadow, schema=schema, dialect="spark")
    except SqlglotError:  # an unresolvable reference: fall back to literal-only types
        shadow = annotate_types(query.copy(), dialect="spark")
    types = {node.meta[_ID]: node.type for node in shadow.walk()
             if _ID in node.meta and node.type is not None}
    for node in nodes:
        dtype = types.get(node.meta.pop(_ID))
        if isinstance(node, exp.Literal) and not node.is_string:
            dtype = _literal_type(node.name) or dtype
        if dtype is not None and dtype.this in (T.TIMESTAMPTZ, T.TIMESTAMPLTZ):
            dtype = exp.DataType.build("TIMESTAMP")  # a UTC session: zone-less semantics
        if dtype is not None and not dtype.is_type(T.UNKNOWN):
            node.type = dtype
    for node in reversed(nodes):  # children first, so a corrected type reaches its parent
        corrected = spark_type(node)
        if corrected is not None:
            node.type = corrected
            over_window(node).type = corrected


_DECIMAL_LITERAL = re.compile(r"-?(\d*)\.(\d+)")


def _literal_type(text: str) -> exp.DataType | None:
    """Spark's type of a number literal where sqlglot's differs: 2.10 is DECIMAL(3, 2) (not
    DOUBLE; 1e3 and 2.1D are), 2147483648 a BIGINT and a wider integer a DECIMAL."""
    decimal = _DECIMAL_LITERAL.fullmatch(text)
    if decimal is not None:
        whole, fraction = decimal.groups()
        precision = max(len(whole.lstrip("0")) + len(fraction), 1)
        return exp.DataType.build(f"DECIMAL({precision}, {len(fraction)})")
    if re.fullmatch(r"-?\d+", text) and abs(int(text)) >= 2**31:
        digits = len(text.lstrip("-"))
        return exp.DataType.build("BIGINT" if abs(int(text)) < 2**63 else f"DECIMAL({digits}, 0)")
    return None


def rewrite(query: exp.Expression, rules: dict[type, Rule]) -> exp.Expression:
    """Apply ``rules`` ({node class: fn(node) -> node, or None to drop it}) bottom-up, so inner
    rewrites come first."""
    for node in reversed(list(query.walk())):
        rule = rules.get(type(node))
        if rule is None:
            continue
        new = rule(node)
        if new is None:
            node.pop()
        elif new is not node:
            if node is query:
                query = new
            else:
                node.replace(new)
    return query


def check_renders(query: exp.Expression, target: str) -> None:
    """Raise ProjectError if sqlglot cannot render ``query`` faithfully for ``target``."""
    try:
        query.sql(dialect=target, unsupported_level=ErrorLevel.RAISE)
    except SqlglotError as error:
        detail = str(error).splitlines()[0]
        raise refuse(query, f"this query cannot be translated for the {target} engine: "
                            f"{detail}; rewrite that construct in plain Spark SQL") from None


# -- helpers for the rule modules ------------------------------------------------------------
@lru_cache(maxsize=None)
def _parsed(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read="duckdb")


def tpl(sql: str, **parts: exp.Expression) -> exp.Expression:
    """Parse a DuckDB template and put copies of ``parts`` where the columns ``_<name>`` stand."""

    def put(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table:
            name = node.name
        elif isinstance(node, exp.DataType) and node.this == T.USERDEFINED:
            name = str(node.args.get("kind"))
        else:
            return node
        part = parts.get(name.lstrip("_"))
        if part is None or not name.startswith("_"):
            return node
        if isinstance(part, (exp.Binary, exp.Unary)) and not isinstance(part, exp.Paren) \
                and isinstance(node.parent, (exp.Binary, exp.Unary)):
            return exp.Paren(this=part.copy())  # keep the operand's precedence
        return part.copy()

    return _parsed(sql).copy().transform(put, copy=False)


def kind(node: exp.Expression) -> str | None:
    """The type family of ``node``: int, float, decimal, string, date, timestamp, bool, map,
    array, struct, or None when unknown."""
    dtype = node.type
    if dtype is None or dtype.is_type(T.UNKNOWN, T.NULL):
        return None
    families = [("int", exp.DataType.INTEGER_TYPES), ("float", exp.DataType.REAL_TYPES - {T.DECIMAL}),
                ("decimal", {T.DECIMAL, T.BIGDECIMAL}), ("string", exp.DataType.TEXT_TYPES),
                ("date", {T.DATE}), ("timestamp", exp.DataType.TEMPORAL_TYPES - {T.DATE}),
                ("bool", {T.BOOLEAN}), ("map", {T.MAP}), ("array", {T.ARRAY}), ("struct", {T.STRUCT})]
    for name, members in families:
        if dtype.this in members:
            return name
    return None


def decimal_size(node: exp.Expression) -> tuple[int, int] | None:
    """(precision, scale) Spark gives ``node`` in decimal arithmetic, or None if not exact numeric."""
    if kind(node) == "decimal":
        params = [int(p.name) for p in node.type.expressions] or [10, 0]
        return params[0], params[1] if len(params) > 1 else 0
    if isinstance(node, exp.Literal) and not node.is_string and node.is_int:
        return max(len(node.name.lstrip("-")), 1), 0  # Spark sizes integer literals tightly
    if kind(node) == "int":
        return INT_PRECISION.get(node.type.this, 20), 0
    return None


def spark_type(node: exp.Expression) -> exp.DataType | None:
    """Spark's result type where sqlglot's (and DuckDB's) differ: sum of integers is a BIGINT,
    of DECIMAL(p, s) a DECIMAL(p + 10, s); avg of DECIMAL(p, s) a DECIMAL(p + 4, s + 4); a
    division with a DECIMAL operand follows Spark's decimal rules; ceil/floor of a DOUBLE or
    an integer is a BIGINT. None for anything else."""
    if not isinstance(node, (exp.Ceil, exp.Floor, exp.Sum, exp.Avg, exp.Div)):
        return None
    arg = node.this
    if isinstance(node, (exp.Ceil, exp.Floor)):
        fits = node.args.get("decimals") is None and kind(arg) in ("float", "int")
        return exp.DataType.build("BIGINT") if fits else None
    if isinstance(node, exp.Sum) and kind(arg) == "int":
        return exp.DataType.build("BIGINT")
    size = decimal_size(arg)
    if isinstance(node, exp.Div):
        right = decimal_size(node.expression)
        if size is None or right is None or "decimal" not in (kind(arg), kind(node.expression)):
            return None
        (p1, s1), (p2, s2) = size, right
        scale = max(6, s1 + p2 + 1)
        precision = p1 - s1 + s2 + scale
        if precision > 38:  # spark.sql.decimalOperations.allowPrecisionLoss (the default)
            scale, precision = max(38 - (precision - scale), min(scale, 6)), 38
        return exp.DataType.build(f"DECIMAL({precision}, {scale})")
    if size is None or kind(arg) != "decimal":
        return None
    if isinstance(node, exp.Sum):
        return exp.DataType.build(f"DECIMAL({min(38, size[0] + 10)}, {size[1]})")
    if isinstance(node, exp.Avg):
        return exp.DataType.build(f"DECIMAL({min(38, size[0] + 4)}, {min(38, size[1] + 4)})")
    return None


def over_window(node: exp.Expression) -> exp.Expression:
    """The node to wrap when changing an aggregate's result: the aggregate with its FILTER,
    IGNORE NULLS and OVER clauses."""
    top = node
    while isinstance(top.parent, (exp.Filter, exp.IgnoreNulls, exp.RespectNulls, exp.Window)) \
            and top.arg_key == "this":
        top = top.parent
    return top


def wrap_result(
    node: exp.Expression, make: Callable[[exp.Expression], exp.Expression]
) -> exp.Expression:
    """Put an aggregate's result (with its FILTER and OVER clauses) inside ``make(result)``,
    keeping the very nodes in the tree so later rules still see them; returns ``node``."""
    target = over_window(node)
    holder = exp.Null()
    target.replace(holder)
    holder.replace(make(target))
    return node


def cast_result(node: exp.Expression, to: str) -> exp.Expression:
    """Cast an aggregate's (or its window's) result; returns ``node`` for the rewrite loop."""
    dtype = exp.DataType.build(to, dialect="duckdb")
    return wrap_result(node, lambda target: exp.Cast(this=target, to=dtype))
