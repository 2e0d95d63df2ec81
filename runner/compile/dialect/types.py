"""Spark's result types, for the rules that depend on them.

``annotate`` sets ``.type`` on every node of a Spark query (literals typed as Spark types them,
columns from a schema when one is given); ``spark_type`` corrects the aggregates and operators
whose Spark type differs from sqlglot's; ``output_schema`` gives a query's result types for its
children.
"""

from __future__ import annotations

import re
from typing import Any

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

_ID = "dialect_node_id"

T = exp.DataType.Type


INT_PRECISION = {T.TINYINT: 3, T.SMALLINT: 5, T.INT: 10, T.BIGINT: 20}


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
