"""Adobe's standard XDM classes and field groups the emulated Schema Registry knows, and how
their fields become dataset columns and check batch rows.

``xdm_standard.json`` holds a subset of adobe/xdm (the commit it names): the ExperienceEvent and
Individual Profile classes' own fields and the standard field groups with the fields the
synthetic generator writes, as the Registry resolves them (``xed-full``: no ``xdm:`` prefixes,
data types inline). A field of a real field group that is not in the subset is refused like an
unknown field [the subset is the emulator's limit, not Platform's].

A node is the Registry's field definition: ``type`` ``string`` (``format`` ``date``/``date-time``
for dates and timestamps), ``number``, ``integer`` (its ``meta:xdmType`` or bounds say byte,
short, int or long), ``boolean``, ``object`` (``properties``: a struct; ``additionalProperties``:
a map) or ``array`` (``items``). :func:`spark_type` gives the Spark type Data Distiller shows for
it (Adobe's XDM-to-Spark mapping: number ``double``, long ``bigint``, a map
``map<string,...>``); :func:`check_value` checks one JSON value of a row against it, as batch
ingestion validates a row against the schema (an unknown field, a wrong kind, an integer out
of its bounds).

>>> spark_type({"type": "object", "properties": {"id": {"type": "string"},
...             "n": {"type": "integer", "meta:xdmType": "short"}}})
'struct<id:string,n:smallint>'
>>> check_value({"id": True}, {"type": "object", "properties": {"id": {"type": "string"}}}, "x")
Traceback (most recent call last):
...
aep_emulator.xdm.Mismatch: field 'x.id' holds a boolean; the schema's type is string
"""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

#: XDM integer kinds: the Spark type and the bounds.
INTEGERS = {"byte": ("tinyint", -2**7, 2**7 - 1), "short": ("smallint", -2**15, 2**15 - 1),
            "int": ("int", -2**31, 2**31 - 1), "long": ("bigint", -2**53, 2**53)}
#: The JSON kinds a scalar node takes (BI-OV converts strings to numbers, numbers to strings).
ACCEPTS = {"string": (str, int, float), "number": (int, float, str), "integer": (int, str),
           "boolean": (bool,)}


class Mismatch(Exception):
    """A value the field's definition does not accept."""


class Shape(NamedTuple):
    """The top-level fields of a dataset's rows by name, and those a row must have (its
    class's ``required``: the time-series behavior's ``_id`` and ``timestamp``)."""

    fields: dict[str, dict[str, Any]]
    required: tuple[str, ...] = ()


@cache
def standard() -> dict[str, Any]:
    """The standard classes and field groups (``xdm_standard.json``)."""
    return json.loads(Path(__file__).with_name("xdm_standard.json").read_text(encoding="utf-8"))


def standard_class(ref: str) -> dict[str, Any] | None:
    """The standard class ``ref`` (its title, behavior and properties), or None."""
    return standard()["classes"].get(ref)


def standard_fieldgroup(ref: str) -> dict[str, Any] | None:
    """The standard field group ``ref`` (title, intendedToExtend, properties), or None."""
    return standard()["fieldgroups"].get(ref)


def integer_kind(node: dict[str, Any]) -> str:
    """``byte``, ``short``, ``int`` or ``long``: ``meta:xdmType``, else the narrowest kind whose
    bounds hold the node's ``minimum``/``maximum``, else long."""
    kind = node.get("meta:xdmType")
    if kind in INTEGERS:
        return str(kind)
    low, high = node.get("minimum"), node.get("maximum")
    if low is not None and high is not None:
        for name, (_, lo, hi) in INTEGERS.items():
            if lo <= low and high <= hi:
                return name
    return "long"


def spark_type(node: dict[str, Any]) -> str:
    """The Spark DDL type of a field definition."""
    kind = node.get("type")
    if kind == "object":
        if "properties" not in node and isinstance(node.get("additionalProperties"), dict):
            return f"map<string,{spark_type(node['additionalProperties'])}>"
        return "struct<" + ",".join(f"{name}:{spark_type(child)}" for name, child
                                    in node.get("properties", {}).items()) + ">"
    if kind == "array":
        return f"array<{spark_type(node.get('items', {}))}>"
    if kind == "string":
        return {"date": "date", "date-time": "timestamp"}.get(node.get("format", ""), "string")
    if kind == "integer":
        return INTEGERS[integer_kind(node)][0]
    return {"number": "double", "boolean": "boolean"}.get(str(kind), "string")


def check_value(value: Any, node: dict[str, Any], where: str) -> None:
    """Refuse a JSON value the field ``where`` defined by ``node`` does not take (null is
    always taken).

    Raises:
        Mismatch: naming the field's path and what is wrong.
    """
    if value is None:
        return
    kind = node.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            raise Mismatch(f"field '{where}' holds {_kind(value)}; the schema's type is object")
        props = node.get("properties")
        if props is None and isinstance(node.get("additionalProperties"), dict):
            for key, item in value.items():
                check_value(item, node["additionalProperties"], f"{where}.{key}")
            return
        for key, item in value.items():
            if key not in (props or {}):
                raise Mismatch(f"field '{where}.{key}' is not in the dataset's schema (fields "
                               f"of {where}: {', '.join(props or {}) or 'none'})")
            check_value(item, props[key], f"{where}.{key}")
        return
    if kind == "array":
        if not isinstance(value, list):
            raise Mismatch(f"field '{where}' holds {_kind(value)}; the schema's type is array")
        for index, item in enumerate(value):
            check_value(item, node.get("items", {}), f"{where}[{index}]")
        return
    accepted = ACCEPTS.get(str(kind), ())
    if isinstance(value, bool) != (kind == "boolean") or not isinstance(value, accepted):
        raise Mismatch(f"field '{where}' holds {_kind(value)}; the schema's type is {kind}")
    fmt = node.get("format") if kind == "string" else None
    if fmt in ("date", "date-time"):
        _check_date(value, fmt, where)
    if kind in ("integer", "number") and isinstance(value, str):
        value = _number(value, kind, where)
    if kind == "integer" and isinstance(value, int):
        _, low, high = INTEGERS[integer_kind(node)]
        low, high = max(low, node.get("minimum", low)), min(high, node.get("maximum", high))
        if not low <= value <= high:
            raise Mismatch(f"field '{where}' is {value}, outside the schema's range "
                           f"[{low}, {high}]")
    if "enum" in node and value not in node["enum"]:
        raise Mismatch(f"field '{where}' is {value!r}, not one of the schema's values "
                       f"{', '.join(map(repr, node['enum']))}")


def _number(text: str, kind: str, where: str) -> int | float:
    """A numeric string as the number BI-OV converts it to."""
    try:
        return int(text) if kind == "integer" else float(text)
    except ValueError:
        article = "an" if kind == "integer" else "a"
        raise Mismatch(f"field '{where}' is {text!r}, which is not {article} {kind}") from None


def _check_date(value: Any, fmt: str, where: str) -> None:
    """A date (``YYYY-MM-DD``) or date-time (ISO 8601; an integer: epoch milliseconds) value."""
    if fmt == "date-time" and isinstance(value, int):
        return
    if not isinstance(value, str):
        raise Mismatch(f"field '{where}' holds {_kind(value)}; the schema's type is a {fmt} "
                       "string")
    try:
        parsed = (dt.date.fromisoformat(value) if fmt == "date"
                  else dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        parsed = None
    if parsed is None:
        raise Mismatch(f"field '{where}' is {value!r}, which is not an ISO 8601 {fmt}")


def _kind(value: Any) -> str:
    """``a boolean``, ``an integer``, ``an object``: the JSON kind of ``value``, with its article."""
    return {bool: "a boolean", int: "an integer", float: "a float", str: "a string",
            list: "an array", dict: "an object"}.get(type(value), f"a {type(value).__name__}")
