"""Spark -> DuckDB rewrites: each function fixes one construct whose DuckDB value would differ.

Every rule takes a node of the spark-parsed query (already typed by ``runner.dialect.annotate``)
and returns its replacement, or raises ``ProjectError`` through ``refuse``. Replacements are
built from small DuckDB templates whose ``_a``/``_b``/``_c`` columns stand for the operands.
Rules that depend on an operand's type use it when known and otherwise a type-generic form;
where no generic form exists the DuckDB value keeps DuckDB's type (noted on the rule).
"""

from __future__ import annotations

import re
from typing import Callable

import sqlglot
from sqlglot import exp

from runner import dialect_duckdb_numbers as num
from runner.dialect import INT_PRECISION, Rule, T, kind, over_window, refuse, tpl


# -- types ------------------------------------------------------------------------------------
def timestamp_type(node: exp.DataType) -> exp.DataType:
    """Spark's TIMESTAMP is an instant shown in the session zone (UTC): DuckDB's plain TIMESTAMP."""
    if node.this in (T.TIMESTAMPTZ, T.TIMESTAMPLTZ, T.TIMESTAMPNTZ):
        return exp.DataType.build("TIMESTAMP")
    return node


# -- dates and timestamps ---------------------------------------------------------------------
def date_add(node: exp.TsOrDsAdd) -> exp.Expression:
    """date_add/date_sub return a DATE in Spark; DuckDB's DATE + INTERVAL is a TIMESTAMP."""
    return tpl("TRY_CAST(_a AS DATE) + CAST(_b AS INTEGER)", a=node.this, b=node.expression)


def date_plus_interval(node: exp.Add | exp.Sub) -> exp.Expression:
    """DATE +/- a whole-day interval stays a DATE in Spark (a TIMESTAMP in DuckDB), and a
    DATE minus a DATE is a day interval (an integer in DuckDB)."""
    left, right = node.this, node.expression
    kinds = {kind(left), kind(right)}
    if isinstance(node, exp.Sub) and "date" in kinds and kinds <= {"date", "timestamp"}:
        return tpl("CAST(_a AS TIMESTAMP) - CAST(_b AS TIMESTAMP)", a=left, b=right)
    if not isinstance(right, exp.Interval):
        return node
    unit = right.unit.name.upper().rstrip("S") if right.unit else ""
    if unit not in ("DAY", "WEEK", "MONTH", "YEAR", "QUARTER") or kind(left) == "timestamp":
        return node
    if kind(left) == "date":
        return exp.cast(node, "DATE")
    return tpl("CAST_TO_TYPE(_a, _b)", a=node, b=left)


_MONTHS_BETWEEN = """
CASE WHEN DAY(_a) = DAY(_b) OR (_a_end AND _b_end) THEN _months
ELSE _months + ((DAY(_a) - DAY(_b)) * 86400
                + FLOOR(EPOCH(_a) - EPOCH(DATE_TRUNC('day', _a)))
                - FLOOR(EPOCH(_b) - EPOCH(DATE_TRUNC('day', _b)))) / 2678400.0 END
"""


def months_between(node: exp.MonthsBetween) -> exp.Expression:
    """Spark's months_between: whole months when days match or both are month ends, else the
    remaining seconds over 31 days; rounded to 8 digits (HALF_UP) unless roundOff is false."""
    a = tpl("TRY_CAST(_a AS TIMESTAMP)", a=node.this)
    b = tpl("TRY_CAST(_a AS TIMESTAMP)", a=node.expression)
    value = tpl(_MONTHS_BETWEEN, a=a, b=b,
                months=tpl("CAST((YEAR(_a) - YEAR(_b)) * 12 + MONTH(_a) - MONTH(_b) AS DOUBLE)", a=a, b=b),
                a_end=tpl("DAY(_a) = DAY(LAST_DAY(_a))", a=a), b_end=tpl("DAY(_a) = DAY(LAST_DAY(_a))", a=b))
    roundoff = node.args.get("roundoff")
    if roundoff is None or isinstance(roundoff, exp.Boolean) and roundoff.this:
        return tpl("FLOOR(_a * 1e8 + 0.5) / 1e8", a=value)
    if isinstance(roundoff, exp.Boolean):
        return value
    raise refuse(node, "`months_between` with a computed roundOff is not supported on the local "
                       "engine; write true or false")


_TRUNC_UNITS = {"YEAR": "year", "YYYY": "year", "YY": "year", "QUARTER": "quarter",
                "MONTH": "month", "MM": "month", "MON": "month", "WEEK": "week"}
_DATE_TRUNC_UNITS = {**_TRUNC_UNITS, "DAY": "day", "DD": "day", "HOUR": "hour",
                     "MINUTE": "minute", "SECOND": "second", "MILLISECOND": "millisecond",
                     "MICROSECOND": "microsecond"}


def _trunc_unit(node: exp.Expression, units: dict[str, str], name: str) -> str:
    unit = node.args.get("unit")
    if not isinstance(unit, (exp.Literal, exp.Var)) or unit.name.upper() not in units:
        shown = unit.sql("spark") if unit is not None else "?"
        raise refuse(node, f"`{name}` with format {shown} is not supported on the local engine; "
                           f"use a literal, one of: {', '.join(sorted(units))}")
    return units[unit.name.upper()]


def trunc(node: exp.DateTrunc) -> exp.Expression:
    """trunc(d, fmt) returns a DATE; DuckDB does not know Spark's 'MM'/'YY'/'MON' spellings."""
    unit = _trunc_unit(node, _TRUNC_UNITS, "trunc")
    return tpl(f"CAST(DATE_TRUNC('{unit}', TRY_CAST(_a AS DATE)) AS DATE)", a=node.this)


def date_trunc(node: exp.TimestampTrunc) -> exp.Expression:
    """date_trunc(fmt, ts) returns a TIMESTAMP, also for a DATE argument."""
    unit = _trunc_unit(node, _DATE_TRUNC_UNITS, "date_trunc")
    return tpl(f"CAST(DATE_TRUNC('{unit}', TRY_CAST(_a AS TIMESTAMP)) AS TIMESTAMP)", a=node.this)


def from_utc_timestamp(node: exp.AtTimeZone) -> exp.Expression:
    """from_utc_timestamp(ts, tz): the wall-clock time in tz of the UTC time ts."""
    return tpl("CAST(CAST(_a AS TIMESTAMP) AT TIME ZONE 'UTC' AT TIME ZONE _z AS TIMESTAMP)",
               a=node.this, z=node.args["zone"])


def dayofweek(node: exp.DayOfWeek) -> exp.Expression:
    """Spark counts Sunday = 1 .. Saturday = 7; DuckDB Sunday = 0."""
    return tpl("DAYOFWEEK(_a) + 1", a=node.this)


_SECOND_FIELDS = {"SECOND", "SECONDS", "SEC", "SECS", "S"}


def extract(node: exp.Extract) -> exp.Expression:
    """extract/date_part: DOW and DAYOFWEEK count Sunday = 1, and SECOND is a DECIMAL(8, 6)
    with the fraction."""
    field = node.name.upper()
    if field in ("DOW", "DAYOFWEEK"):
        return tpl("DAYOFWEEK(_a) + 1", a=node.expression)
    if field in ("DOW_ISO", "DAYOFWEEK_ISO", "DAYOFWEEKISO"):
        return tpl("ISODOW(_a)", a=node.expression)
    if field in _SECOND_FIELDS:
        return tpl("CAST(DATE_PART('microsecond', _a) / 1000000 AS DECIMAL(8, 6))", a=node.expression)
    return node


def date_part(args: list[exp.Expression]) -> exp.Expression:
    """date_part('field', x) is extract(field FROM x)."""
    field = args[0]
    if not (isinstance(field, exp.Literal) and field.is_string):
        raise refuse(field.parent, "`date_part` with a computed field is not supported on the "
                                   "local engine; write the field as a string literal")
    return extract(exp.Extract(this=exp.var(field.name.upper()), expression=args[1]))


def unix_timestamp(node: exp.StrToUnix) -> exp.Expression:
    """unix_timestamp: whole epoch seconds of a timestamp/date, or of a string parsed with the
    pattern (default 'yyyy-MM-dd HH:mm:ss'); NULL when the string does not parse."""
    value, fmt = node.this, node.args.get("format")
    if value is None:
        return tpl("CAST(FLOOR(EPOCH(CURRENT_TIMESTAMP)) AS BIGINT)")
    check_time_format(node)
    pattern = exp.Literal.string(time_format(node) if fmt is not None else "%Y-%m-%d %H:%M:%S")
    if kind(value) in ("timestamp", "date"):
        parsed = tpl("CAST(_a AS TIMESTAMP)", a=value)
    elif kind(value) == "string":
        parsed = tpl("TRY_STRPTIME(_a, _b)", a=value, b=pattern)
    else:  # either: a timestamp never parses as its text with fractions, so try the cast second
        parsed = tpl("COALESCE(TRY_STRPTIME(CAST(_a AS VARCHAR), _b), TRY_CAST(_a AS TIMESTAMP))",
                     a=value, b=pattern)
    return tpl("CAST(FLOOR(EPOCH(_a)) AS BIGINT)", a=parsed)


def safe_strptime(node: exp.StrToTime) -> exp.Expression:
    """to_timestamp/to_date with a pattern give NULL for text that does not parse."""
    check_time_format(node)
    node.set("safe", True)
    return node


_FORMATTED = (exp.TimeToStr, exp.StrToTime, exp.StrToUnix, exp.UnixToStr, exp.TsOrDsToDate)


def time_format(node: exp.Expression, dialect: str = "duckdb") -> str:
    """The pattern sqlglot renders for a node's date pattern in ``dialect``."""
    generator = sqlglot.Dialect.get_or_raise(dialect).generator()
    quoted = generator.format_time(node) or "''"
    return quoted[1:-1].replace("''", "'")


def check_time_format(node: exp.Expression) -> exp.Expression:
    """Refuse a Spark date pattern DuckDB would print or parse differently."""
    fmt = node.args.get("format")
    if fmt is None:
        return node
    if not (isinstance(fmt, exp.Literal) and fmt.is_string):
        raise refuse(node, "a date pattern must be a plain string literal on the local engine "
                           "(quoted text such as 'at' is not supported); format the parts "
                           "separately and concat them")
    if re.search(r"(?<!S)SSS(?!S)", fmt.name):  # milliseconds, which sqlglot leaves unmapped
        fmt.replace(exp.Literal.string(re.sub(r"(?<!S)SSS(?!S)", "%g", fmt.name)))
    leftover = re.sub(r"%-?.", "", time_format(node))
    letters = sorted(set(re.findall(r"[A-Za-z]", leftover)))
    if letters:
        raise refuse(node, f"date pattern letter(s) {', '.join(letters)} in "
                           f"'{time_format(node, 'spark')}' are not "
                           "supported on the local engine; use y M d H m s E a patterns, or "
                           "extract the part with a function such as quarter(), weekofyear()")
    return node


# -- strings ----------------------------------------------------------------------------------
def concat(node: exp.Concat | exp.DPipe) -> exp.Expression:
    """A literal NULL in concat keeps the result a (NULL) string, as in Spark."""
    for operand in node.expressions if isinstance(node, exp.Concat) else [node.this, node.expression]:
        if isinstance(operand, exp.Null):
            operand.replace(exp.cast(exp.null(), "VARCHAR"))
        elif kind(operand) == "float":
            operand.replace(java_double_string(operand.copy()))
    return node


def to_json(node: exp.JSONFormat) -> exp.Expression:
    """to_json drops NULL fields and writes timestamps and doubles Spark's way."""
    raise refuse(node, "`to_json` writes NULL fields, timestamps and doubles differently on "
                       "the local engine; build the string with concat, or keep the struct")


def typeof(node: exp.Typeof) -> exp.Expression:
    """typeof names types the engine's way ('INTEGER' vs Spark's 'int')."""
    raise refuse(node, "`typeof` returns engine-specific type names on the local engine; "
                       "compare values, not type names")


_SUBSTRING = """
CASE WHEN GREATEST(_start, 0) >= _start + _len THEN ''
     ELSE SUBSTRING(_s, GREATEST(_start, 0) + 1, _start + _len - GREATEST(_start, 0)) END
"""


def substring(node: exp.Substring) -> exp.Expression:
    """Spark's substring: position 0 acts as 1, a negative position counts from the end, and a
    window reaching before the start is cut (DuckDB counts those positions differently)."""
    start, length = node.args["start"], node.args.get("length")
    if isinstance(start, exp.Literal) and start.is_int and int(start.name) > 0 and (
            length is None or isinstance(length, exp.Literal) and length.is_int and int(length.name) >= 0):
        return node
    start0 = tpl("CASE WHEN _p > 0 THEN _p - 1 WHEN _p < 0 THEN LENGTH(_s) + _p ELSE 0 END",
                 p=start, s=node.this)
    if length is None:
        return tpl("SUBSTRING(_s, GREATEST(_start, 0) + 1)", s=node.this, start=start0)
    return tpl(_SUBSTRING, s=node.this, start=start0, len=length)


def substring_index(node: exp.SubstringIndex) -> exp.Expression:
    """substring_index(s, delim, n): text before the n-th delimiter (after it, for n < 0)."""
    return tpl("""CASE WHEN _n > 0 THEN ARRAY_TO_STRING(LIST_SLICE(STRING_SPLIT(_s, _d), 1, _n), _d)
                       WHEN _n < 0 THEN ARRAY_TO_STRING(LIST_SLICE(STRING_SPLIT(_s, _d), _n, -1), _d)
                       ELSE '' END""", s=node.this, d=node.args["delimiter"], n=node.args["count"])


# -- arrays and maps --------------------------------------------------------------------------
def size(node: exp.ArraySize) -> exp.Expression:
    """size() of an array or map; -1 for NULL in non-ANSI Spark."""
    return tpl("CAST(COALESCE(CARDINALITY(_a), -1) AS INTEGER)", a=node.this)


def array_distinct(node: exp.ArrayDistinct) -> exp.Expression:
    """array_distinct keeps first occurrences in order (DuckDB's list_distinct does not, and
    drops NULL)."""
    return tpl(_IN_ORDER_DISTINCT, l=node.this)


def collect_empty(node: exp.ArrayAgg | exp.ArrayUniqueAgg) -> exp.Expression:
    """collect_list/collect_set of no non-NULL values is an empty array, not NULL."""
    target = over_window(node)
    wrapped = tpl("COALESCE(_a, [])", a=target)
    if target is node:
        return wrapped
    target.replace(wrapped)
    return node


def explode_map(node: exp.Lateral) -> exp.Expression:
    """LATERAL VIEW explode(map) m AS k, v: one row per entry (DuckDB cannot unnest a map).
    LATERAL VIEW OUTER keeps a row (with NULL) for an empty or NULL array."""
    alias = node.args.get("alias")
    if node.args.get("outer") and isinstance(node.this, exp.Explode) and kind(node.this.this) != "map":
        node.this.set("this", tpl("CASE WHEN CARDINALITY(_a) > 0 THEN _a ELSE [NULL] END",
                                  a=node.this.this))
        node.set("outer", False)
    if not isinstance(node.this, exp.Explode) or alias is None or len(alias.columns) != 2:
        return node
    if kind(node.this.this) not in (None, "map"):
        return node
    key, value = (c.name for c in alias.columns)
    sub = tpl(f"SELECT UNNEST(MAP_KEYS(_a)) AS {key}, UNNEST(MAP_VALUES(_a)) AS {value}",
              a=node.this.this)
    lateral = exp.Lateral(this=exp.Subquery(this=sub), alias=exp.TableAlias(this=alias.this.copy()))
    return exp.Join(this=lateral, kind="CROSS")


def exists(node: exp.Exists) -> exp.Expression:
    """exists(arr, f): true if f holds for an element, else NULL if f was NULL for one, else false."""
    if not isinstance(node.expression, exp.Lambda):
        return node
    return tpl("CASE WHEN LIST_BOOL_OR(LIST_TRANSFORM(_a, _f)) THEN TRUE "
               "WHEN LIST_COUNT(LIST_TRANSFORM(_a, _f)) < LEN(_a) THEN NULL "
               "WHEN _a IS NOT NULL THEN FALSE END", a=node.this, f=node.expression)


def forall(args: list[exp.Expression]) -> exp.Expression:
    """forall(arr, f): false if f fails for an element, else NULL if f was NULL for one, else true."""
    return tpl("CASE WHEN NOT LIST_BOOL_AND(LIST_TRANSFORM(_a, _f)) THEN FALSE "
               "WHEN LIST_COUNT(LIST_TRANSFORM(_a, _f)) < LEN(_a) THEN NULL "
               "WHEN _a IS NOT NULL THEN TRUE END", a=args[0], f=args[1])


_IN_ORDER_DISTINCT = "LIST_FILTER(_l, LAMBDA v, i : LIST_POSITION(_l, v) = i)"


def array_position(node: exp.ArrayPosition) -> exp.Expression:
    """array_position is 1-based and 0 when the value is absent (NULL for a NULL argument)."""
    return tpl("CASE WHEN _a IS NOT NULL AND _v IS NOT NULL THEN COALESCE(ARRAY_POSITION(_a, _v), 0) END",
               a=node.this, v=node.expression)


def array_union(args: list[exp.Expression]) -> exp.Expression:
    """array_union keeps first occurrences in order: the first array's, then the second's."""
    both = tpl("LIST_CONCAT(_a, _b)", a=args[0], b=args[1])
    return tpl("CASE WHEN _a IS NULL OR _b IS NULL THEN NULL ELSE _u END",
               a=args[0], b=args[1], u=tpl(_IN_ORDER_DISTINCT, l=both))


def array_except(node: exp.ArrayExcept) -> exp.Expression:
    """array_except keeps the first array's order and its NULL unless the second has one."""
    return tpl("CASE WHEN _a IS NULL OR _b IS NULL THEN NULL ELSE LIST_FILTER(_a, LAMBDA v, i : "
               "LIST_POSITION(_a, v) = i AND LIST_POSITION(_b, v) IS NULL) END",
               a=node.this, b=node.expression)


# -- casts ------------------------------------------------------------------------------------
_INT_FROM_TEXT = """
CASE WHEN REGEXP_FULL_MATCH(TRIM(CAST(_a AS VARCHAR)), '[+-]?[0-9]+([.][0-9]*)?')
     THEN TRY_CAST(SPLIT_PART(TRIM(CAST(_a AS VARCHAR)), '.', 1) AS _t) END
"""


_JAVA_DOUBLE = """
CASE WHEN ISNAN(_x) THEN 'NaN'
     WHEN ISINF(_x) THEN CASE WHEN _x > 0 THEN 'Infinity' ELSE '-Infinity' END
     WHEN _x = 0 OR ABS(_x) >= 0.001 AND ABS(_x) < 10000000 THEN CAST(_x AS VARCHAR)
     ELSE CASE WHEN _x < 0 THEN '-' ELSE '' END || LEFT(_d, 1) || '.'
          || COALESCE(NULLIF(SUBSTRING(_d, 2), ''), '0') || 'E' || CAST(_e AS VARCHAR) END
"""
_SCIENTIFIC = """
CASE WHEN CONTAINS(_r, 'e') THEN CAST(SPLIT_PART(_r, 'e', 2) AS INTEGER)
     WHEN SPLIT_PART(_r, '.', 1) <> '0' THEN LENGTH(SPLIT_PART(_r, '.', 1)) - 1
     ELSE LENGTH(LTRIM(SPLIT_PART(_r, '.', 2), '0')) - LENGTH(SPLIT_PART(_r, '.', 2)) - 1 END
"""


def java_double_string(value: exp.Expression) -> exp.Expression:
    """A DOUBLE as Java's Double.toString writes it (Spark's cast to STRING): plain between
    1e-3 and 1e7, else 1.2345E7 / 1.0E-4, and NaN / Infinity."""
    text = tpl("CAST(ABS(_x) AS VARCHAR)", x=value)
    digits = tpl("RTRIM(LTRIM(REPLACE(SPLIT_PART(_r, 'e', 1), '.', ''), '0'), '0')", r=text)
    return tpl(_JAVA_DOUBLE, x=value, d=digits, e=tpl(_SCIENTIFIC, r=text))


_INT_BOUNDS = {T.TINYINT: 2**7, T.SMALLINT: 2**15, T.INT: 2**31, T.BIGINT: 2**63}


def cast(node: exp.Cast) -> exp.Expression:
    """Casts with Spark's semantics: to an integer or a timestamp (below), a DOUBLE to a
    STRING, a TIMESTAMP to a DOUBLE (epoch seconds)."""
    source = kind(node.this)
    if node.to.is_type(*exp.DataType.TEXT_TYPES) and source == "float":
        return java_double_string(node.this)
    if node.to.is_type(T.DOUBLE, T.FLOAT) and source == "timestamp":
        return exp.cast(tpl("EPOCH(_a)", a=node.this), node.to)
    if node.to.is_type(T.TIMESTAMP):
        return timestamp_cast(node)
    return integral_cast(node) if node.to.is_type(*INT_PRECISION) else node


_ZONE_SUFFIX = re.compile(r".*\d(Z|[+-]\d\d(:?\d\d)?|\s*[A-Za-z]+/[A-Za-z_]+)\s*$")


def timestamp_cast(node: exp.Cast) -> exp.Expression:
    """CAST to TIMESTAMP: a number is epoch seconds, and text with a zone or offset
    ('...Z', '...+02:00') is converted to UTC (DuckDB's TIMESTAMP ignores the offset)."""
    value, source = node.this, kind(node.this)
    if source in ("int", "float", "decimal"):
        return tpl("MAKE_TIMESTAMP(CAST(TRUNC(CAST(_a AS DOUBLE) * 1000000) AS BIGINT))", a=value)
    plain_literal = isinstance(value, exp.Literal) and not _ZONE_SUFFIX.match(value.name)
    if source in ("date", "timestamp") or plain_literal:
        return node
    return tpl("CAST(TRY_CAST(_a AS TIMESTAMPTZ) AT TIME ZONE 'UTC' AS TIMESTAMP)", a=value)


def integral_cast(node: exp.Cast) -> exp.Expression:
    """CAST to an integer type: Spark truncates fractions (DuckDB rounds) and saturates out of
    range (NaN is 0), wraps a too-wide integer, parses '3.7' as 3 and gives epoch seconds for
    a timestamp; an unknown type goes through its text, which is exact for numbers and strings
    (a timestamp, or a number out of range, of unknown type gives NULL)."""
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
    parsed = tpl(_INT_FROM_TEXT, a=value, t=to)
    if source == "string":
        return parsed
    return tpl("COALESCE(_p, TRY_CAST(_a AS _t))", p=parsed, a=value, t=to)


def format_number(args: list[exp.Expression]) -> exp.Expression:
    """format_number(x, d): grouped thousands and d decimals."""
    if len(args) != 2 or not (isinstance(args[1], exp.Literal) and args[1].is_int):
        raise refuse(args[0].parent, "`format_number` with a pattern or a computed number of "
                                     "decimals is not supported on the local engine; use a literal integer")
    return tpl(f"FORMAT('{{:,.{int(args[1].name)}f}}', CAST(_a AS DOUBLE))", a=args[0])


_FUNCTIONS: dict[str, Callable[[list[exp.Expression]], exp.Expression]] = {
    "PMOD": num.pmod,
    "BROUND": num.bround,
    "WEEKDAY": lambda args: tpl("ISODOW(_a) - 1", a=args[0]),  # Monday = 0
    "MAKE_DATE": lambda args: tpl("TRY(MAKE_DATE(_y, _m, _d))", y=args[0], m=args[1], d=args[2]),
    "TIMESTAMP_SECONDS": lambda args: tpl("MAKE_TIMESTAMP(CAST(TRUNC(_a * CAST(1000000 AS BIGINT)) AS BIGINT))",
                                          a=args[0]),
    "DATE_PART": date_part,
    "TIMESTAMP_MILLIS": lambda args: tpl("MAKE_TIMESTAMP(CAST(_a AS BIGINT) * 1000)", a=args[0]),
    "TIMESTAMP_MICROS": lambda args: tpl("MAKE_TIMESTAMP(CAST(_a AS BIGINT))", a=args[0]),
    "BTRIM": lambda args: exp.Trim(this=args[0], expression=args[1] if len(args) > 1 else None),
    "FORMAT_NUMBER": format_number,
    "ARRAY_UNION": array_union,
    "FORALL": forall,
}


def anonymous(node: exp.Anonymous) -> exp.Expression:
    """Spark functions sqlglot passes through by name but DuckDB lacks or defines otherwise."""
    name = node.name.upper()
    if name.startswith("TIME_BETWEEN_") and not isinstance(node.parent, exp.Window):
        raise refuse(node, f"`{name.lower()}` needs an OVER (PARTITION BY ... ORDER BY ...) clause")
    rule = _FUNCTIONS.get(name)
    return rule(node.expressions) if rule is not None else node


REWRITES: dict[type, Rule] = {
    exp.Hint: lambda node: None,  # optimizer hints (BROADCAST...) do not change values
    exp.DataType: timestamp_type,
    exp.TsOrDsAdd: date_add, exp.Add: date_plus_interval, exp.Sub: date_plus_interval,
    exp.MonthsBetween: months_between, exp.DateTrunc: trunc, exp.TimestampTrunc: date_trunc,
    exp.Nanvl: lambda node: tpl("CASE WHEN ISNAN(_a) THEN _b ELSE _a END", a=node.this, b=node.expression),
    exp.AtTimeZone: from_utc_timestamp, exp.DayOfWeek: dayofweek, exp.Extract: extract, exp.StrToUnix: unix_timestamp, exp.StrToTime: safe_strptime,
    exp.TimeToStr: check_time_format, exp.UnixToStr: check_time_format,
    exp.TsOrDsToDate: check_time_format,
    exp.Concat: concat, exp.DPipe: concat, exp.Substring: substring,
    exp.SubstringIndex: substring_index,
    exp.ArraySize: size, exp.ArrayDistinct: array_distinct, exp.ArrayAgg: collect_empty,
    exp.ArrayUniqueAgg: collect_empty, exp.Lateral: explode_map, exp.Exists: exists,
    exp.ArrayExcept: array_except, exp.ArrayPosition: array_position,
    exp.Cast: cast, exp.TryCast: cast, exp.Typeof: typeof, exp.JSONFormat: to_json,
    exp.IntDiv: num.int_div, exp.Mod: num.mod, exp.Div: num.div, exp.Anonymous: anonymous,
    exp.Ceil: num.rounding_to_bigint, exp.Floor: num.rounding_to_bigint, exp.Sign: num.sign,
    exp.Sum: num.sum_type, exp.CountIf: num.count_if, exp.Avg: num.avg_type,
    exp.Skewness: num.skewness, exp.Kurtosis: num.kurtosis, exp.Quantile: num.percentile, exp.ApproxQuantile: num.percentile_approx,
    exp.Window: num.window,
}
