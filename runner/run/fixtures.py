"""Fixture rows as typed Arrow tables: a unit test's YAML values read as the columns' types.

A value is read as its column's type, never guessed: ``2026-05-30 10:00:00`` (or a YAML
timestamp) for a TIMESTAMP, ``10.50`` for a DECIMAL (as written: ``Decimal('10.50')``, so no
binary rounding; more decimals than the scale holds is an error, not a rounding), a YAML
mapping for a struct (a field left out is NULL), a list for an array, a mapping for a map.
A column a row leaves out is NULL. A value that cannot be read as its type, or a column or
struct field the table does not have, is a ProjectError at the row's file and line::

    >>> import pyarrow as pa
    >>> table = typed_table([{"n": "2"}], pa.schema([("n", pa.int64()), ("s", pa.string())]),
    ...                     Located("unit_tests/t.yml", [3], "input x"))
    >>> table.to_pylist()
    [{'n': 2, 's': None}]
"""

from __future__ import annotations

import datetime
import decimal
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from runner.errors import ProjectError
from runner.validation import did_you_mean


@dataclass(frozen=True)
class Located:
    """Where rows are written (for errors): the file, each row's line, and what they are."""

    path: str
    lines: list[int] | tuple[int, ...]
    what: str

    def error(self, index: int, message: str) -> ProjectError:
        line = self.lines[index] if index < len(self.lines) else None
        return ProjectError(f"{self.what}, row {index + 1}: {message}", self.path, line)


def check_columns(rows: list[dict[str, Any]] | tuple[dict[str, Any], ...], columns: list[str],
                  where: Located) -> None:
    """ProjectError (with a suggestion) for the first column a row names that is not one of
    ``columns``."""
    for index, row in enumerate(rows):
        for column in row:
            if column not in columns:
                raise where.error(index, f"unknown column '{column}'{did_you_mean(column, columns)}"
                                         f" (columns: {', '.join(columns)})")


def typed_table(rows: list[dict[str, Any]] | tuple[dict[str, Any], ...], schema: pa.Schema,
                where: Located) -> pa.Table:
    """``rows`` as an Arrow table of ``schema`` (column names matched case-insensitively)."""
    names = {f.name.lower(): f for f in schema}
    check_columns(rows, list(names), where)
    columns: dict[str, list[Any]] = {f.name: [] for f in schema}
    for index, row in enumerate(rows):
        for key, fld in names.items():
            columns[fld.name].append(read_value(row.get(key), fld.type, where, index, fld.name))
    arrays = []
    for fld in schema:
        try:
            arrays.append(pa.array(columns[fld.name], fld.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as err:
            raise where.error(0, f"column '{fld.name}': {err}") from None
    return pa.Table.from_arrays(arrays, schema=schema)


def read_value(value: Any, dtype: pa.DataType, where: Located, index: int, name: str) -> Any:
    """``value`` as the Python value Arrow stores for ``dtype`` (see the module docstring)."""
    if value is None:
        return None
    try:
        return _read(value, dtype, where, index, name)
    except (ValueError, TypeError, decimal.InvalidOperation, ArithmeticError):
        raise where.error(index, f"column '{name}': {value!r} is not a {_shown_type(dtype)}"
                          ) from None


def _read(value: Any, dtype: pa.DataType, where: Located, index: int, name: str) -> Any:
    if value is None:
        return None
    if pa.types.is_struct(dtype):
        if not isinstance(value, dict):
            raise TypeError(value)
        fields = {dtype.field(i).name.lower(): dtype.field(i) for i in range(dtype.num_fields)}
        for key in value:
            if str(key).lower() not in fields:
                raise where.error(index, f"column '{name}': struct field '{key}' does not exist"
                                         f"{did_you_mean(str(key), fields)} (fields: "
                                         f"{', '.join(f.name for f in fields.values())})")
        given = {str(k).lower(): v for k, v in value.items()}
        return {f.name: _read(given.get(k), f.type, where, index, f"{name}.{f.name}")
                for k, f in fields.items()}
    if pa.types.is_map(dtype):
        if not isinstance(value, dict):
            raise TypeError(value)
        return [(_read(k, dtype.key_type, where, index, f"{name} key"),
                 _read(v, dtype.item_type, where, index, f"{name}[{k!r}]"))
                for k, v in value.items()]
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        if not isinstance(value, list):
            raise TypeError(value)
        return [_read(v, dtype.value_type, where, index, f"{name}[{i}]")
                for i, v in enumerate(value)]
    return _scalar(value, dtype)


def _scalar(value: Any, dtype: pa.DataType) -> Any:
    if isinstance(value, (dict, list)):
        raise TypeError(value)
    if pa.types.is_boolean(dtype):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text not in ("true", "false"):
            raise ValueError(value)
        return text == "true"
    if isinstance(value, bool):  # never a number or a date
        raise TypeError(value)
    if pa.types.is_integer(dtype):
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return int(value) if not isinstance(value, str) else int(value.strip())
    if pa.types.is_floating(dtype):
        return float(value)
    if pa.types.is_decimal(dtype):
        number = decimal.Decimal(repr(value) if isinstance(value, float) else str(value).strip())
        if number.as_tuple().exponent < -dtype.scale:  # type: ignore[operator]
            raise ValueError(f"{value} has more decimals than {dtype.scale}")
        return number
    if pa.types.is_timestamp(dtype):
        moment = _timestamp(value)
        if dtype.tz is not None and moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.timezone.utc)
        if dtype.tz is None and moment.tzinfo is not None:
            moment = moment.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return moment
    if pa.types.is_date(dtype):
        if isinstance(value, datetime.datetime):
            raise TypeError(value)
        return value if isinstance(value, datetime.date) else datetime.date.fromisoformat(
            str(value).strip())
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return value.isoformat(sep=" ") if isinstance(value, datetime.datetime) else str(value)
    return value  # binary, time, intervals: as YAML read them (Arrow says if they do not fit)


def _timestamp(value: Any) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        return value
    if isinstance(value, datetime.date):
        return datetime.datetime.combine(value, datetime.time())
    text = str(value).strip()
    return datetime.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)


def _shown_type(dtype: pa.DataType) -> str:
    """The type as a SQL user reads it."""
    if pa.types.is_struct(dtype):
        return "struct (a mapping of its fields)"
    if pa.types.is_map(dtype):
        return "map (a mapping)"
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return "array (a list)"
    if pa.types.is_timestamp(dtype):
        return "timestamp (YYYY-MM-DD HH:MM:SS)"
    if pa.types.is_date(dtype):
        return "date (YYYY-MM-DD)"
    if pa.types.is_decimal(dtype):
        return f"decimal({dtype.precision}, {dtype.scale})"
    if pa.types.is_integer(dtype):
        return "whole number"
    if pa.types.is_floating(dtype):
        return "number"
    if pa.types.is_boolean(dtype):
        return "boolean (true or false)"
    return str(dtype)
