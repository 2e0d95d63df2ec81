"""Spark -> DuckDB rewrites for generators: explode, posexplode, inline, stack and their _outer
forms, in the select list and in LATERAL VIEW.

A generator in the select list makes one row per element, the other columns repeated; DuckDB's
UNNEST in the select list does the same, and two UNNESTs in one select list advance together.
A generator with several columns (posexplode, inline, stack, explode of a map) becomes one UNNEST
per column, in its place in the select list, named like Spark's (``pos``, ``col``, ``key``,
``value``, ``col0``...) or by its ``AS (a, b)`` aliases. The _outer forms keep one row of NULLs
for an empty or NULL array (DuckDB's UNNEST drops it).

Same conventions as ``runner.compile.dialect.duckdb``.
"""

from __future__ import annotations

from sqlglot import exp

from runner.compile.dialect.rules import refuse, tpl
from runner.compile.dialect.types import kind

_OR_NULL_ROW = "CASE WHEN CARDINALITY(_a) > 0 THEN _a ELSE [NULL] END"


def explode_outer(node: exp.Expression) -> exp.Expression:
    """explode_outer(array) in the select list: NULL for an empty or NULL array."""
    if kind(node.this) == "map":
        raise refuse(node, "`explode_outer` of a map is not supported on the local engine; "
                           "use LATERAL VIEW OUTER explode(map_entries(m))")
    return tpl(f"UNNEST({_OR_NULL_ROW})", a=node.this)


def explode_map(node: exp.Explode) -> exp.Expression:
    """explode(map) in the select list: a key and a value column (DuckDB cannot unnest a map);
    of unknown type, two aliases (AS (k, v)) say it is a map."""
    aliases = _aliases(node)
    is_map = kind(node.this) == "map" or kind(node.this) is None and len(aliases or []) == 2
    if not is_map or isinstance(node.parent, exp.Lateral):
        return node
    return _splice(node, ["key", "value"], [tpl("UNNEST(MAP_KEYS(_a))", a=node.this),
                                           tpl("UNNEST(MAP_VALUES(_a))", a=node.this)])


def posexplode_outer(node: exp.PosexplodeOuter) -> exp.Expression:
    """posexplode_outer(array): pos and col, both NULL for an empty or NULL array."""
    if isinstance(node.parent, exp.Lateral):
        raise refuse(node, "LATERAL VIEW posexplode_outer is not supported on the local "
                           "engine; write LATERAL VIEW OUTER posexplode(a)")
    array = node.this
    positions = tpl("CASE WHEN CARDINALITY(_a) > 0 THEN RANGE(0, LEN(_a)) ELSE [NULL] END", a=array)
    return _splice(node, ["pos", "col"], [exp.Unnest(expressions=[positions]),
                                         tpl(f"UNNEST({_OR_NULL_ROW})", a=array)])


def inline(node: exp.Inline) -> exp.Expression:
    """inline(array of structs) in the select list: one column per struct field."""
    if isinstance(node.parent, exp.Lateral):
        return node  # sqlglot writes LATERAL VIEW inline as a lateral UNNEST
    return _unnest_fields(node, node.this)


def inline_outer(args: list[exp.Expression]) -> exp.Expression:
    """inline_outer(array of structs): a row of NULLs for an empty or NULL array."""
    return _unnest_fields(args[0].parent, tpl(_OR_NULL_ROW, a=args[0]), args[0])


def stack(node: exp.Stack) -> exp.Expression:
    """stack(n, v1, v2, ...): n rows of the values in order, col0, col1... (missing values of
    the last row are NULL): one list per column, unnested together."""
    count = node.this
    if not (isinstance(count, exp.Literal) and count.is_int and int(count.name) > 0):
        raise refuse(node, "`stack` needs a literal positive number of rows")
    rows, values = int(count.name), list(node.expressions)
    width = -(-len(values) // rows)
    values += [exp.null()] * (rows * width - len(values))
    names = [f"col{i}" for i in range(width)]
    if isinstance(node.parent, exp.Lateral):  # written as a lateral UNNEST, like inline
        return exp.Inline(this=exp.Array(expressions=[exp.Struct(expressions=[
            exp.PropertyEQ(this=exp.to_identifier(name), expression=value)
            for name, value in zip(names, values[r * width:(r + 1) * width])])
            for r in range(rows)]))
    columns = [exp.Unnest(expressions=[exp.Array(expressions=values[c::width])])
               for c in range(width)]
    return _splice(node, names, columns)


def _unnest_fields(node: exp.Expression, array: exp.Expression,
                   typed: exp.Expression | None = None) -> exp.Expression:
    """One UNNEST per struct field (so ORDER BY can name them) when the array's type is known,
    else UNNEST(array, max_depth => 2)."""
    dtype = (typed if typed is not None else node.this).type
    fields = dtype.expressions[0].expressions if dtype is not None and dtype.is_type(
        exp.DataType.Type.ARRAY) and dtype.expressions and dtype.expressions[0].is_type(
        exp.DataType.Type.STRUCT) else []
    names = [f.name for f in fields]
    if names and all(names):
        return _splice(node, names, [tpl(f"UNNEST(LIST_TRANSFORM(_a, e -> e.{exp.to_identifier(n).sql('duckdb')}))",
                                         a=array) for n in names])
    if isinstance(node.parent, exp.Aliases):
        raise refuse(node, "inline with AS (...) aliases of a column of unknown type is not "
                           "supported on the local engine; name the struct fields instead")
    return tpl("UNNEST(_a, max_depth => 2)", a=array)


def _aliases(node: exp.Expression) -> list[str] | None:
    parent = node.parent
    return [a.name for a in parent.expressions] if isinstance(parent, exp.Aliases) else None


def _splice(node: exp.Expression, default: list[str], columns: list[exp.Expression]) -> exp.Expression:
    """Put ``columns`` in the place of the generator (or of its ``AS (...)``) in its select
    list, named by the aliases or ``default``; returns the (detached) generator."""
    slot = node.parent if isinstance(node.parent, exp.Aliases) else node
    select = slot.parent
    if not isinstance(select, exp.Select):
        raise refuse(node, "a generator is a select-list item or a LATERAL VIEW on Spark; "
                           "move it there")
    names = _aliases(node) or default
    if len(names) != len(columns):
        raise refuse(node, f"this generator makes {len(columns)} columns but {len(names)} "
                           "alias(es) name them")
    at = next(i for i, item in enumerate(select.expressions) if item is slot)
    aliased = [exp.alias_(column, name) for column, name in zip(columns, names)]
    select.set("expressions", [*select.expressions[:at], *aliased, *select.expressions[at + 1:]])
    return node
