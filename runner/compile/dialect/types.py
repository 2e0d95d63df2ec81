"""Spark's result types, for the rules that depend on them.

``annotate`` sets ``.type`` on every node of a Spark query by Spark's type rules
(``spark_types``; columns typed from a schema when one is given, through stars, CTEs and
subqueries); a node whose type Spark's rules do not give is left untyped. ``output_schema``
gives a query's result types for its children.
"""

from __future__ import annotations

from typing import Any

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify

from runner.compile.dialect.spark_types import INT_PRECISION, T, spark_annotate

_ID = "dialect_node_id"


def output_schema(
    expression: exp.Expression, schema: dict[str, Any] | None = None
) -> dict[str, exp.DataType]:
    """The column types of a spark query's result, to pass as ``schema`` to its children.

    Args:
        expression: a query parsed with ``read="spark"`` (not modified).
        schema: the column types of the tables it reads, as for ``to_target``.

    Returns:
        ``{column name: type}`` for the columns whose Spark type is known (others are left
        out, so a child treats them as unknown); ``SELECT *`` is expanded where its sources'
        columns are known.
    """
    return {name: dtype for name, dtype in output_columns(expression, schema) or ()
            if name and dtype is not None and not dtype.is_type(T.UNKNOWN)}


def output_columns(
    expression: exp.Expression, schema: dict[str, Any] | None = None
) -> list[tuple[str, exp.DataType | None]] | None:
    """The result's columns in order, as (name, Spark type or None), names repeated where the
    query repeats them; None when a ``SELECT *`` cannot be expanded (its sources unknown)."""
    return result_columns(_typed(expression, schema), expression)


def result_columns(shadow: exp.Expression, expression: exp.Expression
                   ) -> list[tuple[str, exp.DataType | None]] | None:
    """``output_columns`` from ``shadow``, the typed copy of ``expression`` that ``annotate``
    returns (the query typed once serves its rewrite and its children)."""
    selects = shadow.selects if isinstance(shadow, exp.Query) else []
    if any(isinstance(select, exp.Star) or (isinstance(select, exp.Column) and select.is_star)
           for select in selects):
        return None
    names = [select.alias_or_name for select in selects]
    original = expression.selects if isinstance(expression, exp.Query) else []
    if len(original) == len(selects) and not any(s.is_star for s in original):
        names = [select.alias_or_name for select in original]  # qualify lower-cased them
    return list(zip(names, (select.unalias().type for select in selects)))


def annotate(query: exp.Expression, schema: dict[str, Any] | None) -> exp.Expression:
    """Set ``.type`` on the nodes of ``query`` in place (columns stay UNKNOWN without a schema).

    Qualifying columns (needed to look types up) rewrites identifiers, so the types are worked
    out on a tagged copy and carried back to the original nodes; that typed copy is returned
    (``result_columns`` reads the result's types from it).
    """
    nodes = list(query.walk())
    for index, node in enumerate(nodes):
        node.meta[_ID] = index
    shadow = _typed(query, schema)
    types = {node.meta[_ID]: node.type for node in shadow.walk()
             if _ID in node.meta and node.type is not None}
    fields = {node.expression.meta[_ID]: node.type for node in shadow.find_all(exp.Dot)
              if _ID not in node.meta and _ID in node.expression.meta and node.type is not None}
    for node in nodes:
        dtype = types.get(node.meta.pop(_ID))
        if isinstance(node, exp.Column) and node.table and _ID in node.this.meta:
            dtype = fields.get(node.this.meta[_ID], dtype)  # a.b, a struct's field: a Dot there
        if dtype is not None and dtype.this in (T.TIMESTAMPTZ, T.TIMESTAMPLTZ):
            dtype = exp.DataType.build("TIMESTAMP")  # a UTC session: zone-less semantics
        if dtype is not None and not dtype.is_type(T.UNKNOWN):
            node.type = dtype
    return shadow


def _typed(query: exp.Expression, schema: dict[str, Any] | None) -> exp.Expression:
    """A qualified, star-expanded, typed copy of ``query`` (its nodes keep their meta)."""
    try:
        shadow = qualify(query.copy(), schema=schema or {}, dialect="spark", expand_stars=True,
                         validate_qualify_columns=False, quote_identifiers=False, identify=False)
        return spark_annotate(shadow, schema)
    except SqlglotError:  # an unresolvable reference: types without columns
        return spark_annotate(query.copy())


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


def over_window(node: exp.Expression) -> exp.Expression:
    """The node to wrap when changing an aggregate's result: the aggregate with its FILTER,
    IGNORE NULLS and OVER clauses."""
    top = node
    while isinstance(top.parent, (exp.Filter, exp.IgnoreNulls, exp.RespectNulls, exp.Window)) \
            and top.arg_key == "this":
        top = top.parent
    return top
