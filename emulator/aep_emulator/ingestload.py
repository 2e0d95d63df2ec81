"""Loading a batch's files into its dataset's table (what Platform does after ``COMPLETE``).

A dataset of the emulator is a table of the sandbox database, so the table's columns are the
dataset's schema. A file's fields must be a subset of them (contract-ingest §1.2), each of a
type the dataset's type accepts under BI-OV's coercion rules: strings convert to numbers and
dates, numbers to strings, epoch-millisecond integers to timestamps, but booleans and arrays are
never converted. The first file that breaks a rule fails the whole batch with one error
``{"code", "description", "rows": []}``; all rows of a batch are written in one transaction, or
none (partial ingestion is not emulated).

Error codes: ``106`` (an empty file) is Adobe's; ``TypeCompatibilityException`` (a field the
schema lacks, a type it does not accept, a value PostgreSQL cannot convert) is named after BI-OV's
exception, its code being undocumented [inferred]; an unreadable file is ``0070000017``,
Adobe's "Unknown error occurred." code. A JSON Lines line that holds an array is read as that
many rows: aepp uploads a list as one array on one line and Adobe's CMLE notebooks' batches
sent so succeeded (contract-ingest §1.7).

A row shaped as XDM for a Profile dataset (``{"_<tenant>": {"userid": ..., "propensity": ...}}``,
a struct column in Parquet) has its ``namespace`` object unpacked first: its fields are the
flattened columns of the dataset's table (:mod:`~aep_emulator.schemas`). A dataset whose table
keeps the XDM shape (a schema with standard field groups) takes rows of its top-level fields
(``shape``): each field's name must be one of them exactly (the column is its name lowercased),
and every value, nested ones to the leaf, is checked against the field's definition
(:func:`aep_emulator.xdm.check_value`: an unknown nested field, a wrong kind, an integer out of
range or a value outside an enum fails the batch, as does a row without a field its class
requires: an ExperienceEvent's ``_id`` and ``timestamp``); structs, maps and arrays are stored
as jsonb.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import TYPE_CHECKING, Any

import psycopg2
from psycopg2 import sql
from psycopg2.extras import Json, execute_values

from .nested import to_json
from .xdm import Mismatch, Shape, check_value

if TYPE_CHECKING:
    from .engine import Engine

EMPTY, MISMATCH, UNKNOWN = "106", "TypeCompatibilityException", "0070000017"
NUMERIC = {"smallint", "integer", "bigint", "numeric", "real", "double precision"}
TEXT = {"text", "character varying", "character"}
TEMPORAL = {"date", "timestamp without time zone", "timestamp with time zone"}
# What each target type accepts, by the kind of the source value (BI-OV's coercion table).
ACCEPTS: dict[str, set[str]] = {
    **{t: {"int", "float", "decimal", "string"} for t in NUMERIC},
    **{t: {"int", "float", "decimal", "string", "date", "timestamp"} for t in TEXT},
    "date": {"date", "timestamp", "string"},
    "timestamp without time zone": {"date", "timestamp", "string", "int"},
    "timestamp with time zone": {"date", "timestamp", "string", "int"},
    "boolean": {"bool"},
    "ARRAY": {"list"},
    "json": {"list", "struct", "string"},
    "jsonb": {"list", "struct", "string"},
    "bytea": {"binary"},
}


class LoadFailed(Exception):
    """A batch that fails: ``error`` is its Catalog ``errors[]`` item."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.error = {"code": code, "description": description, "rows": []}


def column_types(engine: Engine, table: str) -> dict[str, str]:
    """``{column: information_schema data_type}`` of ``table``, in table order."""
    conn = engine.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT column_name, data_type FROM information_schema.columns WHERE "
                        "table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
                        (table,))
            return dict(cur.fetchall())
    finally:
        conn.close()


def arrow_kind(dtype: Any) -> str:
    """The coercion kind of an Arrow type."""
    import pyarrow.types as t

    for test, kind in ((t.is_null, "null"), (t.is_boolean, "bool"), (t.is_integer, "int"),
                       (t.is_floating, "float"), (t.is_decimal, "decimal"),
                       (t.is_string, "string"), (t.is_large_string, "string"),
                       (t.is_date, "date"), (t.is_timestamp, "timestamp"),
                       (t.is_list, "list"), (t.is_large_list, "list"), (t.is_struct, "struct"),
                       (t.is_map, "struct"), (t.is_binary, "binary")):
        if test(dtype):
            return kind
    return str(dtype)


def value_kind(value: Any) -> str:
    """The coercion kind of a JSON value."""
    for kind, python in (("null", type(None)), ("bool", bool), ("int", int), ("float", float),
                         ("string", str), ("list", list), ("struct", dict)):
        if isinstance(value, python):
            return kind
    return type(value).__name__


def check(field: str, kind: str, types: dict[str, str], name: str) -> None:
    """Refuse a field the schema lacks or whose kind its type does not accept.

    Raises:
        LoadFailed: with a TypeCompatibilityException error.
    """
    if field not in types:
        raise LoadFailed(MISMATCH, f"File '{name}': field '{field}' is not in the dataset's "
                         f"schema (fields: {', '.join(types)})")
    target = types[field]
    if kind != "null" and kind not in ACCEPTS.get(target, set()):
        raise LoadFailed(MISMATCH, f"File '{name}': field '{field}' of type {kind} cannot be "
                         f"converted to the schema's type {target}")


def _unpack_table(table: Any, namespace: str | None, types: dict[str, str]) -> Any:
    """``table`` with its struct column ``namespace`` (not a column itself) replaced by its
    fields."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if namespace is None or namespace in types or namespace not in table.column_names:
        return table
    column = table.column(namespace)
    if not pa.types.is_struct(column.type):
        return table
    index = table.column_names.index(namespace)
    table = table.remove_column(index)
    for offset, child in enumerate(column.type):
        table = table.add_column(index + offset, child.name, pc.struct_field(column, [offset]))
    return table


def _unpack_object(obj: Any, namespace: str | None, types: dict[str, str]) -> Any:
    """A JSON row with its ``namespace`` object (not a column itself) replaced by its fields."""
    if (namespace is None or namespace in types or not isinstance(obj, dict)
            or not isinstance(obj.get(namespace), dict)):
        return obj
    return {**{k: v for k, v in obj.items() if k != namespace}, **obj[namespace]}


def _shaped(name: str, columns: list[str], rows: list[tuple], values: list[tuple],
            shape: Shape) -> tuple[list[str], list[tuple]]:
    """``rows`` of XDM top-level fields, checked against ``shape`` through their JSON
    ``values``, named by their columns."""
    for field in columns:
        if field not in shape.fields:
            raise LoadFailed(MISMATCH, f"File '{name}': field '{field}' is not in the dataset's "
                             f"schema (fields: {', '.join(shape.fields)})")
    required = [(f, columns.index(f) if f in columns else None) for f in shape.required]
    try:
        for number, row in enumerate(values, start=1):
            for field, index in required:
                if index is None or row[index] is None:
                    raise Mismatch(f"row {number}: the required field '{field}' is missing")
            for field, value in zip(columns, row):
                check_value(value, shape.fields[field], field)
    except Mismatch as exc:
        raise LoadFailed(MISMATCH, f"File '{name}': {exc}") from None
    return [c.lower() for c in columns], rows


def read_rows(name: str, data: bytes, fmt: str, multiline: bool, types: dict[str, str],
              namespace: str | None = None, shape: Shape | None = None
              ) -> tuple[list[str], list[tuple]]:
    """The checked columns and rows of one uploaded file (``namespace``: the tenant object
    whose fields are columns, ``_<tenant>``; ``shape``: the top-level XDM fields of a dataset
    that keeps the XDM shape, by name).

    Raises:
        LoadFailed: the file is empty, unreadable or does not fit the schema.
    """
    if not data:
        raise LoadFailed(EMPTY, "Dataset file is empty. Please upload file with data.")
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(io.BytesIO(data))
        except (pa.ArrowException, OSError) as exc:
            raise LoadFailed(UNKNOWN, f"File '{name}' is not a readable Parquet file: "
                             f"{exc}") from None
        if shape is not None:
            fields = list(table.schema)
            for field in fields:
                node = shape.fields.get(field.name)
                deep = pa.types.is_nested(field.type)
                if node is not None and not deep and node.get("type") in ("object", "array"):
                    raise LoadFailed(MISMATCH, f"File '{name}': field '{field.name}' is a "
                                     f"{arrow_kind(field.type)} column; the schema's type is "
                                     f"{node['type']}")
                if node is not None and not deep:
                    check(field.name.lower(), arrow_kind(field.type), types, name)
            plain = table.to_pylist()
            values = [tuple(to_json(row[f.name], f.type) for f in fields) for row in plain]
            rows = [tuple(v if pa.types.is_nested(f.type) else row[f.name]
                          for f, v in zip(fields, json_row))
                    for json_row, row in zip(values, plain)]
            return _shaped(name, table.column_names, rows, values, shape)
        table = _unpack_table(table, namespace, types)
        for field in table.schema:
            check(field.name, arrow_kind(field.type), types, name)
        return table.column_names, [tuple(row.values()) for row in table.to_pylist()]
    try:
        text = data.decode("utf-8")
        objects = json.loads(text) if multiline else [json.loads(line) for line in
                                                      text.splitlines() if line.strip()]
    except ValueError as exc:
        raise LoadFailed(UNKNOWN, f"File '{name}' is not valid "
                         f"{'multi-line JSON' if multiline else 'JSON Lines'}: {exc}") from None
    if multiline and not isinstance(objects, list):
        objects = [objects]
    if not multiline:  # a line holding an array is its rows (aepp sends a list so) [inferred]
        objects = [o for line in objects for o in (line if isinstance(line, list) else [line])]
    if shape is not None:
        if not all(isinstance(obj, dict) for obj in objects):
            raise LoadFailed(MISMATCH, f"File '{name}': a row is not a JSON object")
        names = list(dict.fromkeys(k for obj in objects for k in obj))
        rows = [tuple(obj.get(k) for k in names) for obj in objects]
        return _shaped(name, names, rows, rows, shape)
    objects = [_unpack_object(obj, namespace, types) for obj in objects]
    columns: list[str] = []
    for obj in objects:
        if not isinstance(obj, dict):
            raise LoadFailed(MISMATCH, f"File '{name}': a row is not a JSON object")
        for field, value in obj.items():
            check(field, value_kind(value), types, name)
            if field not in columns:
                columns.append(field)
    return columns, [tuple(obj.get(c) for c in columns) for obj in objects]


def convert(value: Any, target: str) -> Any:
    """A value as psycopg2 should send it to a column of type ``target``."""
    if value is None:
        return None
    if target in ("json", "jsonb"):
        return Json(value)
    if target.startswith("timestamp") and isinstance(value, int) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value / 1000, tz=dt.timezone.utc)
    return value


def load(engine: Engine, table: str, files: list[tuple[str, list[str], list[tuple]]],
         types: dict[str, str]) -> list[str]:
    """Insert every file's rows into ``table`` in one transaction; the new rows' ``ctid``
    values (what a REVERT of the batch deletes: the dataset tables are append-only).

    Raises:
        LoadFailed: PostgreSQL refused a value (nothing was written).
    """
    conn = engine.connect()
    written: list[str] = []
    try:
        with conn, conn.cursor() as cur:
            for name, columns, rows in files:
                statement = sql.SQL("INSERT INTO {} ({}) VALUES %s RETURNING ctid").format(
                    sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)))
                values = [tuple(convert(v, types[c]) for v, c in zip(row, columns))
                          for row in rows]
                try:
                    returned = execute_values(cur, statement, values, page_size=1000,
                                              fetch=True) if values else []
                except psycopg2.Error as exc:
                    raise LoadFailed(MISMATCH, f"File '{name}': "
                                     f"{str(exc).splitlines()[0]}") from None
                written += [row[0] for row in returned]
    finally:
        conn.close()
    return written


def unload(engine: Engine, table: str, ctids: list[str]) -> int:
    """Delete the rows ``ctids`` of ``table`` (a reverted batch's); how many were deleted."""
    conn = engine.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql.SQL("DELETE FROM {} WHERE ctid = ANY(%s::tid[])").format(
                sql.Identifier(table)), (ctids,))
            return cur.rowcount
    finally:
        conn.close()
