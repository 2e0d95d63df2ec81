"""Spark -> DuckDB rewrites: each function fixes one construct whose DuckDB value would differ.

Every rule takes a node of the spark-parsed query (already typed by ``types.annotate``) and
returns its replacement, or raises ``ProjectError`` through ``refuse``. Replacements are
built from small DuckDB templates whose ``_a``/``_b``/``_c`` columns stand for the operands.
Rules that depend on an operand's type use it when known and otherwise a type-generic form;
where no generic form exists the DuckDB value keeps DuckDB's type (noted on the rule).

This module holds casts and ``REWRITES``, the table ``to_target`` applies; ``duckdb_dates``
(dates and timestamps), ``duckdb_text`` (strings, arrays, maps), ``duckdb_json`` (JSON text),
``duckdb_generators`` (explode, inline, stack...), ``duckdb_numbers`` (arithmetic, aggregates,
windows) and ``duckdb_exact`` (DECIMAL and integer results in Spark's types) hold the rest.
"""

from __future__ import annotations

import re
from typing import Callable

import sqlglot
from sqlglot import exp

from runner.compile.dialect import duckdb_dates as dates
from runner.compile.dialect import duckdb_exact as exact
from runner.compile.dialect import duckdb_generators as gen
from runner.compile.dialect import duckdb_json as json
from runner.compile.dialect import duckdb_numbers as num
from runner.compile.dialect import duckdb_text as txt
from runner.compile.dialect.rules import Rule, refuse, tpl
from runner.compile.dialect.spark_types import TRY_OPERATORS, known, spark_name, wider
from runner.compile.dialect.types import INT_PRECISION, T, kind


# -- types ------------------------------------------------------------------------------------
def timestamp_type(node: exp.DataType) -> exp.DataType:
    """Spark's TIMESTAMP is an instant shown in the session zone (UTC): DuckDB's plain TIMESTAMP.
    The TIME type (Spark 4.1) is refused: Data Distiller's Spark has none."""
    if node.this in (T.TIME, T.TIMETZ):
        raise refuse(node.parent or node, "the TIME type is not in Data Distiller's Spark "
                                          "(it came with Spark 4.1); keep a time of day as a "
                                          "TIMESTAMP, or as seconds since midnight in an INT")
    if node.this in (T.TIMESTAMPTZ, T.TIMESTAMPLTZ, T.TIMESTAMPNTZ):
        return exp.DataType.build("TIMESTAMP")
    return node


# -- casts ------------------------------------------------------------------------------------
_INT_FROM_TEXT = """
CASE WHEN REGEXP_FULL_MATCH(_a, '[+-]?[0-9]+([.][0-9]*)?') THEN TRY_CAST(SPLIT_PART(_a, '.', 1) AS _t) END
"""


_INT_BOUNDS = {T.TINYINT: 2**7, T.SMALLINT: 2**15, T.INT: 2**31, T.BIGINT: 2**63}


def cast(node: exp.Cast) -> exp.Expression:
    """Casts with Spark's semantics: to an integer or a timestamp (below), a DOUBLE to a
    STRING, a TIMESTAMP to a DOUBLE (epoch seconds), text to a BOOLEAN, an integer to BINARY;
    a cast to or from an INTERVAL is refused."""
    source = kind(node.this)
    check_interval_cast(node)
    if node.to.is_type(T.BINARY, T.VARBINARY) and source == "int":
        return int_to_binary(node)
    if node.to.is_type(T.BOOLEAN) and source == "string":
        return tpl(_BOOLEAN_FROM_TEXT, a=tpl("LOWER(_t)", t=dates.trimmed(node.this)))
    if node.to.is_type(*exp.DataType.TEXT_TYPES) and source == "float":
        return txt.java_double_string(node.this)
    if node.to.is_type(T.DOUBLE, T.FLOAT) and source == "timestamp":
        return exp.cast(tpl("EPOCH(_a)", a=node.this), node.to)
    if node.to.is_type(T.TIMESTAMP):
        return timestamp_cast(node)
    if node.to.is_type(T.DATE) and source == "string":
        return dates.text_to_date(node.this, node)
    return integral_cast(node) if node.to.is_type(*INT_PRECISION) else node


def _is_interval(dtype: exp.DataType | None) -> bool:
    return dtype is not None and (isinstance(dtype.this, exp.Interval) or dtype.this == T.INTERVAL)


def check_interval_cast(node: exp.Cast) -> None:
    """Refuse a cast to or from an INTERVAL: Spark counts the interval's own units (a DAY
    interval casts to its days) and writes ANSI interval text."""
    if _is_interval(node.to) or interval_valued(node.this):
        raise refuse(node, "a cast between an INTERVAL and another type is not supported on the "
                           "local engine (Spark counts the interval's own units and writes ANSI "
                           "interval text); use timestampdiff() for a number, or "
                           "interval arithmetic such as ts + interval 3 days")


def interval_valued(node: exp.Expression) -> bool:
    """Whether ``node`` is an interval: typed so, an interval literal, or a sum, difference or
    negation of intervals (interval 3 year 1 month)."""
    node = node.unnest()
    if isinstance(node, exp.Interval) or _is_interval(node.type):
        return True
    if isinstance(node, exp.Neg):
        return interval_valued(node.this)
    return isinstance(node, (exp.Add, exp.Sub)) and interval_valued(node.this) \
        and interval_valued(node.expression)


# Spark's StringUtils.isTrueString / isFalseString, of the trimmed, lower-cased text.
_BOOLEAN_FROM_TEXT = """
CASE WHEN _a IN ('t', 'true', 'y', 'yes', '1') THEN TRUE
     WHEN _a IN ('f', 'false', 'n', 'no', '0') THEN FALSE END
"""
_BYTES = {T.TINYINT: 1, T.SMALLINT: 2, T.INT: 4, T.BIGINT: 8}


def int_to_binary(node: exp.Cast) -> exp.Expression:
    """An integer cast to BINARY is its big-endian two's complement in its own width (a
    SMALLINT -123 is FF85); DuckDB's cast reads the digits as text."""
    width = _BYTES.get(node.this.type.this)
    if width is None:
        raise refuse(node, "casting this integer type to BINARY is not supported on the local "
                           "engine; cast it to BIGINT first")
    return tpl(f"UNHEX(RIGHT(LPAD(HEX(CAST(_a AS BIGINT)), 16, '0'), {2 * width}))", a=node.this)


_ZONE_SUFFIX = re.compile(r".*\d(Z|[+-]\d\d(:?\d\d)?|\s*[A-Za-z]+/[A-Za-z_]+)\s*$")


def timestamp_cast(node: exp.Cast) -> exp.Expression:
    """CAST to TIMESTAMP: a number is epoch seconds, and text with a zone or offset
    ('...Z', '...+02:00') is converted to UTC (DuckDB's TIMESTAMP ignores the offset)."""
    value, source = node.this, kind(node.this)
    if source in ("int", "float", "decimal"):
        return tpl("CASE WHEN NOT ISINF(CAST(_a AS DOUBLE)) AND NOT ISNAN(CAST(_a AS DOUBLE)) THEN "
                   "MAKE_TIMESTAMP(CAST(TRUNC(CAST(_a AS DOUBLE) * 1000000) AS BIGINT)) END", a=value)
    if source in ("date", "timestamp"):
        return node
    if isinstance(value, exp.Literal) and value.is_string:
        node.set("this", dates.trimmed(value))
        if not _ZONE_SUFFIX.match(node.this.name):
            return node
    text = dates.trimmed(value) if source == "string" else value
    return tpl("CAST(TRY_CAST(_a AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS TIMESTAMP)", a=text)


def integral_cast(node: exp.Cast) -> exp.Expression:
    """CAST to an integer type: Spark truncates fractions (DuckDB rounds) and saturates out of
    range (NaN is 0), wraps a too-wide integer, parses '3.7' as 3 and gives epoch seconds for
    a timestamp; an unknown type is told apart by DuckDB's typeof when the query is bound: a
    timestamp gives its epoch seconds, anything else goes through its text, which is exact for
    numbers and strings (a number out of range of unknown type gives NULL)."""
    to, value = node.to, node.this
    source, bound = kind(value), _INT_BOUNDS[node.to.this]
    if source == "int" and INT_PRECISION.get(value.type.this, 20) > INT_PRECISION[to.this]:
        return tpl(f"CAST(((CAST(_a AS HUGEINT) + {bound}) % {2 * bound} + {2 * bound}) % {2 * bound} "
                   f"- {bound} AS _t)", a=value, t=to)
    if source in ("int", "bool"):
        return exp.TryCast(this=value, to=to)
    if source == "timestamp":
        return tpl("CAST(FLOOR(EPOCH(_a)) AS _t)", a=value, t=to)
    if source == "float":
        return tpl(f"CASE WHEN ISNAN(_a) THEN 0 WHEN _a >= {bound - 1} THEN {bound - 1} "
                   f"WHEN _a <= -{bound} THEN -{bound} ELSE CAST(TRUNC(_a) AS _t) END", a=value, t=to)
    if source == "decimal":
        return tpl("TRY_CAST(TRUNC(_a) AS _t)", a=value, t=to)
    parsed = tpl(_INT_FROM_TEXT, a=dates.trimmed(value), t=to)
    if source == "string":
        return parsed
    return tpl("CASE WHEN TYPEOF(_a) LIKE 'TIMESTAMP%' "
               "THEN CAST(FLOOR(EPOCH(TRY_CAST(_a AS TIMESTAMP))) AS _t) "
               "ELSE COALESCE(_p, TRY_CAST(_a AS _t)) END", p=parsed, a=value, t=to)


def int_arguments(rule: Rule, *keys: str) -> Rule:
    """``rule`` after Spark's implicit cast of a STRING argument (a length, a count) to INT:
    lpad('hi', '3') pads to 3, lpad('hi', 'x') is NULL (DuckDB raises)."""
    def with_int_arguments(node: exp.Expression) -> exp.Expression | None:
        for key in keys:
            value = node.args.get(key)
            if value is not None and kind(value) == "string":
                to = exp.DataType.build("INT")
                cast = exp.Cast(this=value.copy(), to=to)
                node.set(key, integral_cast(cast))
        return rule(node)
    return with_int_arguments


def try_arithmetic(node: exp.Expression) -> exp.Expression:
    """try_add, try_subtract, try_multiply, try_divide: their operator's value (DECIMAL, DOUBLE,
    DATE and division by zero alike: NULL where the non-ANSI operator is NULL), except that an
    integer result out of its type's range is NULL where the operator wraps around. Operands of
    unknown type and intervals are refused."""
    name = {exp.SafeAdd: "try_add", exp.SafeSubtract: "try_subtract",
            exp.SafeMultiply: "try_multiply", exp.SafeDivide: "try_divide"}[type(node)]
    if node.type is None or kind(node) is None:
        raise refuse(node, f"`{name}` needs numbers (or a date and a number of days) of known "
                           "types on the local engine, not intervals; cast the operands to a "
                           "number type, or add an interval with + or -")
    plain = TRY_OPERATORS[type(node)](this=node.this, expression=node.expression)
    if isinstance(plain, exp.Div):
        plain.set("safe", True)  # Spark's /: NULL for a zero divisor, as sqlglot reads it
    plain.type = node.type.copy()
    if kind(node) == "int" and kind(node.this) == "int" and kind(node.expression) == "int":
        op = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*"}[type(plain)]
        bound = _INT_BOUNDS[node.type.this]
        result = tpl(f"CAST(_a AS HUGEINT) {op} CAST(_b AS HUGEINT)", a=plain.this, b=plain.expression)
        return tpl(f"CASE WHEN _r BETWEEN {-bound} AND {bound - 1} THEN CAST(_r AS _t) END",
                   r=result, t=node.type)
    rule = REWRITES.get(type(plain))
    new = rule(plain) if rule is not None else plain
    return plain if new is None else new


def range_table(node: exp.Table) -> exp.Expression:
    """FROM range(...) names its column id (DuckDB: range)."""
    function = node.this
    if not (isinstance(function, exp.Anonymous) and function.name.upper() == "RANGE"):
        return node
    alias = node.args.get("alias")
    if alias is None or not alias.columns:
        name = alias.this.copy() if alias is not None and alias.this else exp.to_identifier("range")
        node.set("alias", exp.TableAlias(this=name, columns=[exp.to_identifier("id")]))
    return node


def values_names(node: exp.Values) -> exp.Expression:
    """FROM VALUES (...) without column names names them col1, col2... (DuckDB: col0...)."""
    alias = node.args.get("alias")
    if not isinstance(node.parent, (exp.From, exp.Join)) or alias is not None and alias.columns:
        return node
    rows = node.expressions
    width = len(rows[0].expressions) if rows and isinstance(rows[0], exp.Tuple) else 1
    name = alias.this.copy() if alias is not None and alias.this else exp.to_identifier("values")
    node.set("alias", exp.TableAlias(this=name, columns=[exp.to_identifier(f"col{i + 1}")
                                                         for i in range(width)]))
    return node


def set_operation(node: exp.SetOperation) -> exp.Expression:
    """A UNION's column has the wider type of its branches' columns, to which Spark casts each
    branch; DuckDB's common type can differ (a BIGINT and 0.5 make DECIMAL(20, 1) there,
    DECIMAL(21, 1) in Spark), so each branch is cast to Spark's where its type differs."""
    if isinstance(node.parent, exp.SetOperation) or node.args.get("by_name"):
        return node  # the outermost set operation casts every branch
    branches = _branches(node)
    if any(len(b.selects) != len(branches[0].selects) or any(s.is_star for s in b.selects)
           for b in branches):
        return node
    for position in range(len(branches[0].selects)):
        selects = [b.selects[position] for b in branches]
        common = wider([known(select) for select in selects])
        if common is None or common.is_type(T.NULL, T.UNKNOWN) or common.is_type(*exp.DataType.NESTED_TYPES):
            continue
        for select in selects:
            if spark_name(select.type) != spark_name(common):
                value = exp.Cast(this=select.unalias().copy(), to=common.copy())
                name = select.alias_or_name  # an unnamed expression keeps DuckDB's name
                select.replace(exp.alias_(value, name) if name else value)
    return node


def _branches(node: exp.Expression) -> list[exp.Select]:
    node = node.unnest()
    if isinstance(node, exp.SetOperation):
        return _branches(node.this) + _branches(node.expression)
    return [node] if isinstance(node, exp.Select) else []


_FUNCTIONS: dict[str, Callable[[list[exp.Expression]], exp.Expression]] = {
    "PMOD": num.pmod,
    "BROUND": num.bround,
    "WEEKDAY": lambda args: tpl("ISODOW(_a) - 1", a=dates.as_date(args[0])),  # Monday = 0
    "MAKE_DATE": lambda args: tpl("TRY(MAKE_DATE(_y, _m, _d))", y=args[0], m=args[1], d=args[2]),
    "TIMESTAMP_SECONDS": lambda args: timestamp_seconds(args[0]),
    "DATE_PART": dates.date_part,
    "TO_TIMESTAMP_NTZ": dates.to_timestamp_ntz,
    "TIMESTAMP_MILLIS": lambda args: timestamp_millis(args[0]),
    "TIMESTAMP_MICROS": lambda args: tpl("MAKE_TIMESTAMP(CAST(_a AS BIGINT))", a=args[0]),
    "BTRIM": lambda args: exp.Trim(this=args[0], expression=args[1] if len(args) > 1 else None),
    "FORMAT_NUMBER": txt.format_number,
    "ARRAY_UNION": txt.array_union,
    "FORALL": txt.forall,
    "ARRAYS_OVERLAP": txt.arrays_overlap,
    "CARDINALITY": txt.cardinality,
    "LOG1P": num.log1p,
    "ISNULL": lambda args: exp.Is(this=args[0], expression=exp.Null()),
    "ISNOTNULL": lambda args: exp.Not(this=exp.Is(this=args[0], expression=exp.Null())),
    "EVERY": lambda args: boolean_aggregate(exp.LogicalAnd(this=args[0]), "every"),
    "SOME": lambda args: boolean_aggregate(exp.LogicalOr(this=args[0]), "some"),
    "INLINE_OUTER": gen.inline_outer,
    "POSITIVE": num.positive,
    "NULLIFZERO": lambda args: nullifzero(args[0]),
    "ZEROIFNULL": lambda args: zeroifnull(args[0]),
    "REGEXP": lambda args: exp.RegexpLike(this=args[0], expression=args[1]),
    "ZIP_WITH": txt.zip_with,
    "BIN": lambda args: exp.Anonymous(this="BIN", expressions=[_as_bigint(args[0])]),
}
_ONE_ARGUMENT = {"ISNULL", "ISNOTNULL", "EVERY", "SOME", "POSITIVE", "NULLIFZERO", "ZEROIFNULL"}
_NO_EQUIVALENT = {
    "CRC32": "compare md5() or sha2() digests instead",
    "CONV": "keep numbers in base 10, or use hex()/bin() of a BIGINT, which the local engine has",
    "HYPOT": "write sqrt(a * a + b * b)",
    "HISTOGRAM_NUMERIC": "its bins come from Spark's streaming approximation; bucket the values "
                         "with floor() and count them",
}


def nullifzero(value: exp.Expression) -> exp.Expression:
    """nullifzero(x): NULL where x = 0; a STRING is compared as Spark compares it with an INT,
    cast to INT ('0' and '0.5' are 0, 'abc' is NULL and kept)."""
    if kind(value) == "string":
        as_int = integral_cast(exp.Cast(this=value, to=exp.DataType.build("INT")))
        return tpl("CASE WHEN _i = 0 THEN NULL ELSE _a END", i=as_int, a=value)
    return tpl("NULLIF(_a, 0)", a=_number(value, "nullifzero"))


def zeroifnull(value: exp.Expression) -> exp.Expression:
    """zeroifnull(x): 0 for NULL, the text '0' for a NULL STRING (coalesce's common type)."""
    if kind(value) == "string":
        return tpl("COALESCE(_a, '0')", a=value)
    return tpl("COALESCE(_a, 0)", a=_number(value, "zeroifnull"))


def _number(value: exp.Expression, name: str) -> exp.Expression:
    if kind(value) in ("int", "decimal", "float") or isinstance(value, exp.Null):
        return value
    raise refuse(value.parent, f"`{name}` of a value of unknown type is not supported on the "
                               "local engine; cast it to a number")


def boolean_aggregate(node: exp.Expression, name: str | None = None) -> exp.Expression:
    """every/some/any/bool_and/bool_or take a BOOLEAN: Spark rejects a number or a string
    (DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE), which DuckDB would read as true or false."""
    if isinstance(node, exp.Any) and isinstance(node.parent, (exp.Predicate, exp.Binary)):
        return node  # LIKE ANY ('a%', 'b%'), not the aggregate
    value = node.this.unnest() if node.this is not None else None
    if value is not None and kind(value) not in (None, "bool"):
        name = name or {exp.LogicalAnd: "bool_and", exp.LogicalOr: "bool_or", exp.Any: "any"}[type(node)]
        raise refuse(node, f"`{name}` takes a BOOLEAN on Spark (Spark rejects a "
                           f"{value.type.sql('spark')}: DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE); "
                           "write a condition, such as x <> 0")
    return node


def element_at_zero(node: exp.Bracket) -> exp.Expression:
    """element_at(array, 0): Spark raises INVALID_INDEX_OF_ZERO (DuckDB: NULL); a literal 0 is
    refused."""
    index = node.expressions[0] if len(node.expressions) == 1 else None
    if node.args.get("offset") == 1 and isinstance(index, exp.Literal) and index.is_int \
            and int(index.name) == 0 and kind(node.this) != "map":
        raise refuse(node, "`element_at` of an array at index 0 (Spark rejects it: "
                           "INVALID_INDEX_OF_ZERO); indexes count from 1, or from -1 at the end")
    return node


def _as_bigint(value: exp.Expression) -> exp.Expression:
    """A DECIMAL or DOUBLE argument of a BIGINT function (bin) cast to BIGINT Spark's way."""
    if kind(value) not in ("decimal", "float"):
        return value
    return integral_cast(exp.Cast(this=value, to=exp.DataType.build("BIGINT")))


def anonymous(node: exp.Anonymous) -> exp.Expression:
    """Spark functions sqlglot passes through by name but DuckDB lacks or defines otherwise."""
    name = node.name.upper()
    if name.startswith("TIME_BETWEEN_") and not isinstance(node.parent, exp.Window):
        raise refuse(node, f"`{name.lower()}` needs an OVER (PARTITION BY ... ORDER BY ...) clause")
    if name in ("HASH", "XXHASH64"):
        raise refuse(node, f"`{name.lower()}` is Spark's own hash function and gives other values "
                           "on the local engine; for buckets or samples use a stable hash such "
                           "as md5() or sha2()")
    if name in _ONE_ARGUMENT and len(node.expressions) != 1:
        raise refuse(node, f"`{name.lower()}` takes exactly one argument on Spark "
                           f"(Spark rejects {len(node.expressions)})")
    if name == "PRINTF":
        return txt.format_string(node)
    if name in _NO_EQUIVALENT:
        raise refuse(node, f"`{name.lower()}` has no exact equivalent on the local engine; "
                           f"{_NO_EQUIVALENT[name]}")
    rule = _FUNCTIONS.get(name)
    return rule(node.expressions) if rule is not None else node


def timestamp_seconds(seconds: exp.Expression) -> exp.Expression:
    """timestamp_seconds(s): s seconds after the epoch, to the microsecond; Spark fails on a
    decimal literal with a digit past the sixth place (refused here)."""
    literal = seconds.this if isinstance(seconds, exp.Cast) else seconds  # a typed decimal literal
    if isinstance(literal, exp.Literal) and re.fullmatch(r"-?\d*\.\d{6}0*[1-9]\d*", literal.name):
        raise refuse(seconds, f"`timestamp_seconds({literal.name})` fails on Spark "
                                     "(ArithmeticException: Rounding necessary, below a "
                                     "microsecond); round the seconds to 6 decimal places")
    _check_epoch_range(seconds, "timestamp_seconds", 1_000_000)
    return tpl("MAKE_TIMESTAMP(CAST(TRUNC(_a * CAST(1000000 AS BIGINT)) AS BIGINT))", a=seconds)


def _check_epoch_range(value: exp.Expression, name: str, micros: int) -> None:
    """Refuse an integer literal whose microseconds overflow a BIGINT: Spark fails on it
    (ArithmeticException: long overflow, ANSI or not)."""
    literal = value.unnest()
    if isinstance(literal, exp.Literal) and not literal.is_string and literal.is_int \
            and abs(int(literal.name)) * micros > 2 ** 63 - 1:
        raise refuse(value, f"`{name}({literal.name})` fails on Spark (ArithmeticException: "
                            "long overflow: past the microseconds a TIMESTAMP holds); use a "
                            "smaller value")


def timestamp_millis(millis: exp.Expression) -> exp.Expression:
    """timestamp_millis(ms): ms milliseconds after the epoch; a literal past BIGINT
    microseconds is refused (Spark fails on it)."""
    _check_epoch_range(millis, "timestamp_millis", 1000)
    return tpl("MAKE_TIMESTAMP(CAST(_a AS BIGINT) * 1000)", a=millis)


def date_from_unix_date(node: exp.DateFromUnixDate) -> exp.Expression:
    """date_from_unix_date(n) is a DATE (sqlglot's translation adds an INTERVAL: a TIMESTAMP)."""
    return tpl("DATE '1970-01-01' + CAST(_a AS INTEGER)", a=node.this)


def _timestamp_operand(value: exp.Expression) -> exp.Expression:
    """A bare NULL given where Spark expects a TIMESTAMP, typed so DuckDB can pick a function."""
    return exp.cast(value, "TIMESTAMP") if isinstance(value.unnest(), exp.Null) else value


def unix_seconds(node: exp.UnixSeconds) -> exp.Expression:
    """unix_seconds drops the fraction (DuckDB's cast of the epoch rounds it)."""
    return tpl("CAST(FLOOR(EPOCH(_a)) AS BIGINT)", a=_timestamp_operand(node.this))


def unix_millis(node: exp.UnixMillis) -> exp.Expression:
    """unix_millis floors to whole milliseconds (DuckDB's epoch_ms rounds 08.999999 up)."""
    return tpl("(EPOCH_US(_a) - (EPOCH_US(_a) % 1000 + 1000) % 1000) // 1000",
               a=_timestamp_operand(node.this))


def unix_micros(node: exp.UnixMicros) -> exp.Expression:
    """unix_micros, with a bare NULL typed as a TIMESTAMP."""
    return tpl("EPOCH_US(_a)", a=_timestamp_operand(node.this))


_MAKE_TIMESTAMP = """
CASE WHEN _s BETWEEN 0 AND 60 AND _h BETWEEN 0 AND 23 AND _mi BETWEEN 0 AND 59
     THEN TRY(MAKE_TIMESTAMP(_y, _mo, _d, _h, _mi, 0)) + TO_MICROSECONDS(CAST(_s * 1000000 AS BIGINT)) END
"""


def make_timestamp(node: exp.TimestampFromParts) -> exp.Expression:
    """make_timestamp: NULL for a field out of range (DuckDB raises), seconds read as a
    DECIMAL(16, 6) of which exactly 60 is the next minute (60.5 is NULL); with a time zone
    (sqlglot reads it as nanoseconds) refused."""
    if node.args.get("nano") is not None or node.args.get("zone") is not None:
        raise refuse(node, "`make_timestamp` with a time zone is not supported on the local "
                           "engine; write to_utc_timestamp(make_timestamp(y, m, d, h, mi, s), zone)")
    parts = {key: node.args.get(name) for key, name in
             (("y", "year"), ("mo", "month"), ("d", "day"), ("h", "hour"), ("mi", "min"))}
    if any(part is None for part in parts.values()) or node.args.get("sec") is None:
        return node
    seconds = tpl("CAST(_a AS DECIMAL(16, 6))", a=node.args["sec"])
    return tpl(_MAKE_TIMESTAMP, s=seconds, **parts)


def nanvl(node: exp.Nanvl) -> exp.Expression:
    """nanvl(a, b): b when a is NaN (DuckDB has no nanvl)."""
    return tpl("CASE WHEN ISNAN(_a) THEN _b ELSE _a END", a=node.this, b=node.expression)


REWRITES: dict[type, Rule] = {
    # types, dates and times
    exp.Hint: lambda node: None,  # optimizer hints (BROADCAST...) do not change values
    exp.Table: range_table, exp.Values: values_names, exp.Bracket: element_at_zero,
    exp.LogicalAnd: boolean_aggregate, exp.LogicalOr: boolean_aggregate,
    exp.Union: set_operation, exp.Intersect: set_operation, exp.Except: set_operation,
    exp.DataType: timestamp_type, exp.Cast: cast, exp.TryCast: cast,
    exp.Interval: dates.interval_span, exp.TsOrDsAdd: dates.date_add, exp.Add: exact.arithmetic(dates.date_plus_interval),
    exp.Sub: exact.arithmetic(dates.date_plus_interval),
    exp.MonthsBetween: dates.months_between, exp.DateTrunc: dates.trunc, exp.TimestampTrunc: dates.date_trunc,
    exp.AtTimeZone: dates.from_utc_timestamp, exp.Extract: exact.then_cast(dates.extract, exact.is_int),
    exp.DayOfWeek: exact.then_cast(dates.dayofweek, exact.is_int),
    # Spark's INT date parts and lengths (DuckDB: BIGINT)
    **{cls: exact.then_cast(None, exact.is_int) for cls in (
        exp.Year, exp.Quarter, exp.Month, exp.Day, exp.DayOfMonth, exp.DayOfYear, exp.WeekOfYear,
        exp.Hour, exp.Minute, exp.Second, exp.Length)},
    exp.TimestampDiff: dates.timestamp_diff, exp.TimestampAdd: dates.timestamp_add,
    exp.DateDiff: exact.then_cast(dates.timestamp_diff, exact.is_int),
    exp.Dayname: dates.day_or_month_name, exp.Monthname: dates.day_or_month_name, exp.NextDay: dates.next_day,
    exp.StrToUnix: dates.unix_timestamp, exp.StrToTime: dates.safe_strptime,
    exp.TimeToStr: dates.check_time_format, exp.UnixToStr: dates.check_time_format,
    exp.TsOrDsToDate: dates.to_date, exp.DateFromUnixDate: date_from_unix_date,
    exp.UnixSeconds: unix_seconds, exp.UnixMillis: unix_millis, exp.UnixMicros: unix_micros,
    exp.TimestampFromParts: make_timestamp, exp.AddMonths: dates.add_months,
    # text and collections
    exp.Concat: txt.concat, exp.DPipe: txt.concat, exp.Substring: txt.substring,
    exp.SubstringIndex: txt.substring_index, exp.Typeof: txt.typeof, exp.JSONFormat: txt.to_json,
    exp.Reverse: txt.reverse, exp.Like: txt.like_escape, exp.ILike: txt.like_escape,
    exp.RegexpReplace: txt.java_regex(txt.regexp_replace),
    exp.RegexpExtract: txt.java_regex(txt.regexp_extract),
    exp.RegexpExtractAll: txt.java_regex(txt.regexp_extract_all),
    exp.RegexpSubstr: txt.java_regex(txt.regexp_substr), exp.RegexpSplit: txt.java_regex(txt.split_limit),
    exp.FromBase64: txt.unbase64, exp.ToBinary: txt.unbase64,
    exp.RegexpLike: txt.java_regex(None), exp.RegexpCount: txt.java_regex(None),
    exp.Contains: txt.contains, exp.Elt: txt.elt,
    exp.MapContainsKey: txt.map_contains_key,
    exp.Uuid: lambda node: exp.cast(node, "VARCHAR"),  # Spark's uuid() is a STRING
    exp.Replace: txt.replace,
    exp.StrPosition: exact.then_cast(txt.locate, exact.is_int),
    exp.ArraySize: txt.size, exp.ArrayDistinct: txt.array_distinct,
    exp.ArrayContains: txt.array_contains, exp.ArrayRemove: txt.array_remove,
    exp.Flatten: txt.flatten, exp.Lambda: txt.lambda_index, exp.ArraysZip: txt.arrays_zip,
    exp.GenerateSeries: txt.sequence, exp.Left: int_arguments(txt.left_right, "expression"),
    exp.Right: int_arguments(txt.left_right, "expression"), exp.Pad: int_arguments(txt.pad, "expression"),
    exp.Chr: txt.chr_, exp.Format: txt.format_string, exp.RegexpInstr: txt.java_regex(txt.regexp_instr),
    exp.ArrayAgg: txt.collect_empty, exp.ArrayUniqueAgg: txt.collect_empty,
    exp.ArrayExcept: txt.array_except, exp.ArrayPosition: txt.array_position,
    exp.JSONExtractScalar: json.get_json_object, exp.FromJson: json.from_json,
    exp.Explode: gen.explode_map, exp._ExplodeOuter: gen.explode_outer, exp.ExplodeOuter: gen.explode_outer,
    exp.PosexplodeOuter: gen.posexplode_outer, exp.Inline: gen.inline, exp.Stack: gen.stack,
    exp.Lateral: txt.explode_map, exp.Exists: txt.exists, exp.Column: txt.struct_star,
    # numbers, aggregates and windows
    exp.IntDiv: num.int_div, exp.Mod: exact.then_cast(num.mod, exact.is_decimal),
    exp.Mul: exact.arithmetic(), exp.Literal: exact.decimal_literal, exp.Case: exact.common_decimal,
    exp.If: exact.common_decimal, exp.Coalesce: exact.common_decimal,
    exp.Greatest: exact.common_decimal, exp.Least: exact.common_decimal,
    exp.Round: exact.then_cast(num.round_half_up, exact.is_decimal), exp.Nanvl: nanvl,
    exp.Sign: num.sign,
    exp.Ln: num.ln, exp.Log: num.log, exp.Factorial: num.factorial,
    exp.ApproxDistinct: num.approx_count_distinct,
    exp.Randn: num.randn,
    exp.Div: num.divide, exp.BitwiseCount: num.bit_count, exp.Ceil: exact.result_type,
    exp.Floor: exact.result_type,
    exp.Sum: exact.result_type, exp.Avg: num.average, exp.CountIf: num.count_if,
    exp.Any: lambda node: num.any_aggregate(boolean_aggregate(node)),
    exp.Skewness: num.skewness, exp.Kurtosis: num.kurtosis, exp.Corr: num.corr, exp.Mode: num.mode,
    exp.Quantile: num.percentile, exp.WithinGroup: num.within_group, exp.Median: num.median, exp.ApproxQuantile: num.percentile_approx,
    exp.RowNumber: exact.spark_int, exp.Rank: exact.spark_int, exp.DenseRank: exact.spark_int,
    **{cls: try_arithmetic for cls in TRY_OPERATORS},
    exp.Ntile: exact.spark_int, exp.Window: num.window, exp.Group: num.group_by_map, exp.Anonymous: anonymous,
}
