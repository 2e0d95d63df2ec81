"""XDM's nested fields in the emulator's PostgreSQL engine: structs, maps and arrays as jsonb.

Data Distiller's datasets hold XDM as Spark structs, maps and arrays (``web.webPageDetails``,
``identityMap['ECID'][0].id``). PostgreSQL has no typed map, so the emulator stores every
nested top-level column as ``jsonb`` with its Spark type in the column's comment
(``spark:struct<webPageDetails:struct<name:string,…>>``), and rewrites Spark's access to it
(:func:`rewrite`): a chain of field names, map keys and array indexes on such a column becomes
``jsonb_extract_path_text(col, 'k1', '0', 'leaf')`` cast to the leaf's type (a struct, map or
array leaf stays jsonb, through ``jsonb_extract_path``), named by its last field as Spark names
it. A field is matched case-insensitively, as Spark does, and a path the type does not have is
an error naming it. Spark's ``arr[i]`` is 0-based, as a jsonb array index is.

:func:`load_table` makes such a table from an Arrow table (the synthetic sources,
``runner emulate --synth``): scalar columns as PostgreSQL scalars, nested ones as jsonb.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import psycopg2
from psycopg2 import sql
from psycopg2.extras import execute_values
from sqlglot import exp

PREFIX = "spark:"
#: Spark leaf types and the PostgreSQL type a jsonb text is cast to.
_CASTS = {exp.DataType.Type.TEXT: None, exp.DataType.Type.VARCHAR: None,
          exp.DataType.Type.BOOLEAN: "BOOLEAN", exp.DataType.Type.INT: "INTEGER",
          exp.DataType.Type.BIGINT: "BIGINT", exp.DataType.Type.SMALLINT: "SMALLINT",
          exp.DataType.Type.TINYINT: "SMALLINT", exp.DataType.Type.DOUBLE: "DOUBLE PRECISION",
          exp.DataType.Type.FLOAT: "REAL", exp.DataType.Type.DECIMAL: "NUMERIC",
          exp.DataType.Type.DATE: "DATE", exp.DataType.Type.TIMESTAMP: "TIMESTAMPTZ",
          exp.DataType.Type.TIMESTAMPTZ: "TIMESTAMPTZ"}
NESTED = (exp.DataType.Type.STRUCT, exp.DataType.Type.MAP, exp.DataType.Type.ARRAY)

Lookup = Callable[[str], Mapping[str, exp.DataType]]


class NestedError(Exception):
    """A nested access the column's type does not have."""


# -- storage ------------------------------------------------------------------------------------
def spark_type(arrow_type: Any) -> str:
    """The Spark DDL type of an Arrow type (``struct<a:string,b:array<bigint>>``)."""
    import pyarrow as pa

    t = pa.types
    if t.is_struct(arrow_type):
        return "struct<" + ",".join(f"{f.name}:{spark_type(f.type)}" for f in arrow_type) + ">"
    if t.is_map(arrow_type):
        return f"map<{spark_type(arrow_type.key_type)},{spark_type(arrow_type.item_type)}>"
    if t.is_list(arrow_type) or t.is_large_list(arrow_type):
        return f"array<{spark_type(arrow_type.value_type)}>"
    for test, name in ((t.is_boolean, "boolean"), (t.is_int8, "tinyint"), (t.is_int16, "smallint"),
                       (t.is_int32, "int"), (t.is_int64, "bigint"), (t.is_float32, "float"),
                       (t.is_float64, "double"), (t.is_date, "date"),
                       (t.is_timestamp, "timestamp"), (t.is_decimal, "decimal(38,18)")):
        if test(arrow_type):
            return name
    return "string"


def pg_type(spark: str) -> str:
    """The column type a Spark type is stored as: ``jsonb`` for a struct, map or array."""
    if spark.startswith(("struct<", "map<", "array<")):
        return "jsonb"
    cast = _CASTS.get(exp.DataType.build(spark, dialect="spark").this)
    return cast or "TEXT"


def _pg_type(arrow_type: Any) -> str:
    return pg_type(spark_type(arrow_type))


def to_json(value: Any, arrow_type: Any) -> Any:
    """A nested Arrow value (as ``to_pylist`` gives it) as plain JSON."""
    import pyarrow as pa

    if value is None:
        return None
    if pa.types.is_map(arrow_type):
        return {(str(k).lower() if isinstance(k, bool) else str(k)):
                to_json(v, arrow_type.item_type) for k, v in value}
    if pa.types.is_struct(arrow_type):
        return {f.name: to_json(value.get(f.name), f.type) for f in arrow_type}
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return [to_json(v, arrow_type.value_type) for v in value]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def load_table(conn: psycopg2.extensions.connection, name: str, table: Any) -> int:
    """Create ``name`` from the Arrow ``table`` (nested columns as commented jsonb) and insert
    its rows in one transaction; the row count."""
    import pyarrow as pa

    fields = list(table.schema)
    nested = [pa.types.is_nested(f.type) for f in fields]
    with conn, conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s) IS NOT NULL", (sql.Identifier(name).as_string(conn),))
        if cur.fetchone()[0]:
            raise NestedError(f"A table named {name} already exists in the sandbox")
        cur.execute(sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(name), sql.SQL(", ").join(
            sql.SQL("{} {}").format(sql.Identifier(f.name.lower()), sql.SQL(_pg_type(f.type)))
            for f in fields)))
        for field, is_nested in zip(fields, nested):
            if is_nested:
                cur.execute(sql.SQL("COMMENT ON COLUMN {}.{} IS %s").format(
                    sql.Identifier(name), sql.Identifier(field.name.lower())),
                    (PREFIX + spark_type(field.type),))
        rows = [tuple(json.dumps(to_json(row[f.name], f.type)) if is_nested and row[f.name]
                      is not None else row[f.name] for f, is_nested in zip(fields, nested))
                for row in table.to_pylist()]
        if rows:
            execute_values(cur, sql.SQL("INSERT INTO {} VALUES %s").format(sql.Identifier(name)),
                           rows, page_size=1000)
    return len(rows)


def nested_columns(conn: psycopg2.extensions.connection, table: str) -> dict[str, exp.DataType]:
    """The jsonb columns of the public table or view ``table`` whose comment gives their Spark
    type, by lowercase name (none for a name that is no relation)."""
    with conn.cursor() as cur:
        cur.execute("SELECT a.attname, col_description(a.attrelid, a.attnum) FROM pg_attribute a "
                    "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON "
                    "n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relname = %s AND "
                    "a.attnum > 0 AND NOT a.attisdropped AND a.atttypid = 'jsonb'::regtype",
                    (table,))
        rows = cur.fetchall()
    return {col.lower(): exp.DataType.build(note[len(PREFIX):], dialect="spark")
            for col, note in rows if note and note.startswith(PREFIX)}


def comment_columns(cur: psycopg2.extensions.cursor, relation: str,
                    types: Mapping[str, exp.DataType]) -> None:
    """Note the Spark type of each nested column ``types`` names on the new table or view
    ``relation`` (a CTAS or view passing nested values on keeps them queryable)."""
    for column, kind in types.items():
        cur.execute(sql.SQL("COMMENT ON COLUMN {}.{} IS %s").format(
            sql.Identifier(relation), sql.Identifier(column.lower())),
            (PREFIX + kind.sql(dialect="spark").lower(),))


# -- access ---------------------------------------------------------------------------------------
Step = str | tuple[exp.Expression, int]  # a field name, or a key/index literal and its base


def _chain(node: exp.Expression) -> tuple[list[str], list[Step]] | None:
    """A Column/Dot/Bracket chain as (the column's name parts, the steps after them)."""
    if isinstance(node, exp.Column):
        return [p.name for p in node.parts], []
    if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Identifier):
        inner = _chain(node.this)
        return None if inner is None else (inner[0], [*inner[1], node.expression.name])
    if isinstance(node, exp.Bracket) and len(node.expressions) == 1:
        inner = _chain(node.this)
        offset = int(node.args.get("offset") or 0)
        return None if inner is None else (inner[0], [*inner[1], (node.expressions[0], offset)])
    return None


def _field(struct: exp.DataType, name: str, where: str) -> tuple[str, exp.DataType]:
    for column in struct.expressions:
        if column.name.lower() == name.lower():
            return column.name, column.args["kind"]
    raise NestedError(f"No such struct field {name} in {where}")


def _walk(kind: exp.DataType, steps: list[Step], where: str) -> tuple[list[str], exp.DataType]:
    """The jsonb keys of ``steps`` through ``kind``, and the leaf type."""
    keys: list[str] = []
    for step in steps:
        literal, offset = (None, 0) if isinstance(step, str) else step
        if kind.this == exp.DataType.Type.STRUCT and isinstance(step, str):
            key, kind = _field(kind, step, where)
        elif kind.this == exp.DataType.Type.MAP and isinstance(literal, exp.Literal):
            key, kind = literal.name, kind.expressions[1]
        elif kind.this == exp.DataType.Type.ARRAY and isinstance(literal, exp.Literal) \
                and not literal.is_string and int(literal.name) - offset >= 0:
            key, kind = str(int(literal.name) - offset), kind.expressions[0]
        else:
            shown = step if isinstance(step, str) else step[0].sql(dialect="spark")
            raise NestedError(f"Cannot take {shown} of {where}, a {kind.sql(dialect='spark')} "
                              "(the emulator reads fields, literal map keys and non-negative "
                              "literal array indexes)")
        keys.append(key)
        where = f"{where}.{key}"
    return keys, kind


def _scope_tables(node: exp.Expression) -> dict[str, str]:
    """The tables of the SELECT ``node`` is in, by name and alias (its own FROM and JOINs, not
    a subquery's or a CTE's)."""
    select = node if isinstance(node, exp.Select) else node.find_ancestor(exp.Select)
    if select is None:
        return {}
    sources = [select.args.get("from_") or select.args.get("from"),
               *(select.args.get("joins") or [])]
    tables: dict[str, str] = {}
    for source in sources:
        table = source.this if source is not None else None
        if isinstance(table, exp.Table):
            tables[table.name.lower()] = table.name.lower()
            if table.alias:
                tables[table.alias.lower()] = table.name.lower()
    return tables


def rewrite(statement: exp.Expression, lookup: Lookup
            ) -> tuple[exp.Expression, dict[str, exp.DataType]]:
    """``statement`` with every access into a nested column made jsonb extraction, and the
    nested output columns of its top SELECT (name -> Spark type), for a CTAS or a view to note.

    Raises:
        NestedError: an access the column's type does not have.
    """
    ctes = {c.alias_or_name.lower() for c in statement.find_all(exp.CTE)}
    known: dict[str, dict[str, exp.DataType]] = {}

    def columns_of(table: str) -> dict[str, exp.DataType]:
        if table not in known:
            known[table] = {} if table in ctes else dict(lookup(table))
        return known[table]

    def resolve(node: exp.Expression, parts: list[str]
                ) -> tuple[str | None, str, list[str], exp.DataType] | None:
        tables = _scope_tables(node)
        head = parts[0].lower()
        if len(parts) >= 2 and head in tables and parts[1].lower() in columns_of(tables[head]):
            return head, parts[1].lower(), parts[2:], columns_of(tables[head])[parts[1].lower()]
        if head in tables:
            return None
        owners = [t for t in dict.fromkeys(tables.values()) if head in columns_of(t)]
        if len(owners) == 1:
            return None, head, parts[1:], columns_of(owners[0])[head]
        return None

    outputs: dict[str, exp.DataType] = {}
    top = statement.find(exp.Select)

    def note(node: exp.Expression, name: str, kind: exp.DataType) -> None:
        select = node.find_ancestor(exp.Select)
        if select is top and kind.this in NESTED:
            outputs[name.lower()] = kind

    def transform(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, (exp.Column, exp.Dot, exp.Bracket)):
            return node
        chain = _chain(node)
        if chain is None:
            return node
        parts, after = chain
        found = resolve(node, parts)
        if found is None:
            return node
        qualifier, column, names, kind = found
        steps: list[Step] = [*names, *after]
        in_select = isinstance(node.parent, exp.Select) and node in node.parent.expressions
        alias = node.parent.alias if isinstance(node.parent, exp.Alias) else None
        if not steps:
            if in_select or alias:
                note(node, alias or column, kind)
            return node
        keys, leaf = _walk(kind, steps, column)
        base = exp.column(column, table=qualifier) if qualifier else exp.column(column)
        args = [base, *[exp.Literal.string(k) for k in keys]]
        if leaf.this in NESTED:  # JSON null is SQL NULL, as a null struct is in Spark
            out: exp.Expression = exp.Nullif(
                this=exp.Anonymous(this="jsonb_extract_path", expressions=args),
                expression=exp.cast(exp.Literal.string("null"), "jsonb"))
        else:
            out = exp.Anonymous(this="jsonb_extract_path_text", expressions=args)
            cast = _CASTS.get(leaf.this)
            if cast:
                out = exp.Cast(this=out, to=exp.DataType.build(cast, dialect="postgres"))
        name = alias or (keys[-1] if not keys[-1].isdigit() else column)
        if in_select or alias:
            note(node, name, leaf)
        return exp.alias_(out, name) if in_select else out

    rewritten = statement.transform(transform, copy=False)
    if top is not None and any(isinstance(e, exp.Star) for e in top.expressions):
        for table in dict.fromkeys(_scope_tables(top).values()):  # SELECT * passes them on
            outputs.update({k: v for k, v in columns_of(table).items() if k not in outputs})
    return rewritten, outputs
