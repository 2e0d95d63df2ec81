"""Spark -> DuckDB rewrites for JSON text: get_json_object and from_json over malformed or
lenient JSON.

Spark reads JSON with Jackson: strict JSON (no NaN, no trailing commas) except that it allows
single quotes and raw control characters in strings, and it reads only the first value of the
text (``{"a": 1} xyz`` is ``{"a": 1}``). Text it cannot read gives NULL for that row. DuckDB's
JSON functions raise on text they cannot read (failing the whole query) and accept NaN,
Infinity and trailing commas (from_json's Jackson accepts NaN and Infinity too). The rewrite below reads the text as Spark does where the two can
agree, and raises a runtime error naming the value where only Jackson's leniency could read it.

Same conventions as ``runner.compile.dialect.duckdb``.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from runner.compile.dialect.rules import refuse, tpl

# Valid for DuckDB, and without what only DuckDB accepts: outside strings, only JSON's own
# characters and words (_w), and no comma before a closing bracket.
_STRICT = r"""
(JSON_VALID(_s)
 AND NOT REGEXP_MATCHES(REGEXP_REPLACE(_s, '"([^"\\]|\\.)*"', '""', 'g'), ',\s*[}\]]')
 AND REGEXP_FULL_MATCH(REGEXP_REPLACE(REGEXP_REPLACE(_s, '"([^"\\]|\\.)*"', '""', 'g'),
                                      '_w', '', 'g'), '[\s\[\]{}:,0-9eE+."-]*'))
"""
# The end of the first JSON value of a text whose whole is not strict JSON (Jackson stops there).
_FIRST_VALUE_END = """
LIST_FILTER(RANGE(1, LENGTH(_s) + 1),
            LAMBDA i : SUBSTRING(_s, i, 1) IN ('}', ']') AND _strict)[1]
"""
_JACKSON_TEXT = """
CASE WHEN _strict THEN _s
     WHEN _end IS NOT NULL THEN LEFT(_s, _end)
     WHEN REGEXP_MATCHES(_s, '_lenient')
     THEN ERROR('_function: Spark may read this text (_why, which the local engine does not '
                || 'accept): ' || LEFT(_s, 80))
END
"""
_WORDS = "true|false|null"
_NON_NUMERIC = "true|false|null|NaN|-?Infinity"


def jackson_text(text: exp.Expression, function: str, words: str, lenient: str,
                 why: str) -> exp.Expression:
    """The JSON text Jackson reads from ``text``: the whole text when it is strict JSON (with
    ``words`` outside strings), else its first value when one ends before the rest, else NULL;
    a runtime error when the text matches ``lenient`` (what Jackson's options accept but DuckDB
    does not), so no row silently differs."""
    def strict(value: exp.Expression) -> exp.Expression:
        return tpl(_STRICT.replace("_w", words), s=value)

    end = tpl(_FIRST_VALUE_END, s=text, strict=strict(tpl("LEFT(_s, i)", s=text)))
    sql = _JACKSON_TEXT.replace("_function", function).replace("_why", why) \
        .replace("_lenient", lenient)
    return tpl(sql, s=text, strict=strict(text), end=end)


def get_json_object(node: exp.JSONExtractScalar) -> exp.Expression:
    """get_json_object(s, path): NULL for text Spark cannot read, the first JSON value of the
    text when more follows, and a runtime error where only Jackson's leniency (single quotes,
    raw control characters) could read it."""
    node.set("this", jackson_text(node.this, "get_json_object", _WORDS, "[\\x00-\\x1f'']",
                                  "single quotes or control characters"))
    return node


def from_json(node: exp.FromJson) -> exp.Expression:
    """from_json(s, 'a INT, b STRUCT<c: STRING>'): Spark 4 nulls each field whose JSON value
    does not convert exactly (a string for an INT, 1.5 for an INT) and every field of text it
    cannot read; NULL for NULL text. Fields are read one by one with their JSON type checked."""
    schema = node.expression
    if not (isinstance(schema, exp.Literal) and schema.is_string) or node.args.get("options"):
        raise refuse(node, "`from_json` needs its schema as a DDL string literal ('a INT, "
                           "b STRING') and no options on the local engine")
    dtype = _ddl_struct(schema.name)
    if dtype is None:
        raise refuse(node, f"`from_json` schema '{schema.name}' is not a DDL list of fields "
                           "such as 'a INT, b STRUCT<c: STRING>'")
    text = jackson_text(node.this, "from_json", _NON_NUMERIC, "''", "single quotes")
    return tpl("CASE WHEN _s IS NULL THEN NULL ELSE _v END", s=node.this,
               v=_struct(node, text, dtype, "$"))


def _ddl_struct(ddl: str) -> exp.DataType | None:
    """The STRUCT type of a DDL field list ('a INT, b STRUCT<c: STRING>'), or None when it is
    not one (sqlglot's parser is the reader; empty fields and constraints are not accepted)."""
    if re.search(r"(^|,)\s*(,|$)", ddl.strip()):
        return None
    try:
        cast = sqlglot.parse_one(f"CAST(NULL AS STRUCT<{ddl}>)", read="spark")
    except SqlglotError:
        return None
    dtype = cast.to if isinstance(cast, exp.Cast) else None
    fields = dtype.expressions if dtype is not None else []
    if not fields or any(not isinstance(f, exp.ColumnDef) or f.args.get("constraints")
                         for f in fields):
        return None
    return dtype


_INTEGERS = {exp.DataType.Type.TINYINT: 2**7, exp.DataType.Type.SMALLINT: 2**15,
             exp.DataType.Type.INT: 2**31, exp.DataType.Type.BIGINT: 2**63}


def _struct(node: exp.Expression, text: exp.Expression, dtype: exp.DataType,
            path: str) -> exp.Expression:
    """A struct of the fields of ``dtype`` read from the object at ``path`` (duplicate keys,
    where Spark keeps the last value and DuckDB the first, raise at run time)."""
    fields = []
    for field in dtype.expressions:
        name, kind_ = field.name, field.args["kind"]
        fields.append(exp.PropertyEQ(this=exp.to_identifier(name), expression=_field(
            node, text, kind_, f'{path}."{name}"')))
    keys = tpl(f"JSON_KEYS(_j, '{path}')", j=text)
    return tpl("CASE WHEN LEN(_k) > LEN(LIST_DISTINCT(_k)) THEN ERROR('from_json: duplicate "
               "keys in ' || LEFT(_j, 80) || ' (Spark keeps the last value)') ELSE _v END",
               k=keys, j=text, v=exp.Struct(expressions=fields))


def _field(node: exp.Expression, text: exp.Expression, dtype: exp.DataType,
           path: str) -> exp.Expression:
    """One field: its value when its JSON type converts exactly to ``dtype``, else NULL."""
    json_type = tpl(f"JSON_TYPE(_j, '{path}')", j=text)
    value = tpl(f"_j ->> '{path}'", j=text)
    if dtype.is_type(exp.DataType.Type.STRUCT):
        return tpl("CASE WHEN _t = 'OBJECT' THEN _v END", t=json_type,
                   v=_struct(node, text, dtype, path))
    if dtype.this in _INTEGERS:
        bound = _INTEGERS[dtype.this]
        return tpl(f"CASE WHEN _t IN ('BIGINT', 'UBIGINT') AND TRY_CAST(_v AS HUGEINT) "
                   f"BETWEEN -{bound} AND {bound - 1} THEN CAST(_v AS {dtype.sql('duckdb')}) END",
                   t=json_type, v=value)
    checks = {exp.DataType.Type.DOUBLE: ("'DOUBLE', 'BIGINT', 'UBIGINT'", "DOUBLE"),
              exp.DataType.Type.BOOLEAN: ("'BOOLEAN'", "BOOLEAN"),
              exp.DataType.Type.VARCHAR: ("'VARCHAR', 'BIGINT', 'UBIGINT', 'DOUBLE', 'BOOLEAN', "
                                          "'OBJECT', 'ARRAY'", "VARCHAR")}
    if dtype.is_type(*exp.DataType.TEXT_TYPES):
        dtype = exp.DataType.build("VARCHAR")
    if dtype.this not in checks:
        raise refuse(node, f"`from_json` with a field of type {dtype.sql('spark')} is not "
                           "supported on the local engine; read it as STRING and convert it")
    types, cast = checks[dtype.this]
    return tpl(f"CASE WHEN _t IN ({types}) THEN CAST(_v AS {cast}) END", t=json_type, v=value)
