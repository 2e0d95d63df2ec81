"""DuckDB rules for dates and timestamps: Spark's calendar arithmetic, truncation, week days,
differences, parsing with Spark's patterns (strictly, or refused) and time zones.

Each rule takes a node of the spark-parsed query, already typed (``types.annotate``), and
returns its DuckDB replacement; the table of rules is ``duckdb.REWRITES``.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp

from runner.compile.dialect.rules import refuse, tpl
from runner.compile.dialect.types import T, kind


def date_add(node: exp.TsOrDsAdd) -> exp.Expression:
    """date_add/date_sub return a DATE in Spark; DuckDB's DATE + INTERVAL is a TIMESTAMP.
    The days must be a TINYINT, SMALLINT or INT, or a string literal of an integer (Spark
    rejects others; ``check_days``)."""
    days = node.expression
    if isinstance(days, exp.Mul) and days.expression.sql() == "-1":
        days = days.this  # date_sub(d, n), as sqlglot reads it
    check_days(node, days, "date_add" if days is node.expression else "date_sub")
    return tpl("TRY_CAST(_a AS DATE) + CAST(_b AS INTEGER)", a=node.this, b=node.expression)


_DAY_COUNTS = {T.TINYINT, T.SMALLINT, T.INT}


def check_days(node: exp.Expression, days: exp.Expression, name: str) -> None:
    """Refuse a number of days Spark's date_add/date_sub (and date +/- n) reject: a BIGINT,
    DECIMAL, DOUBLE, a string column, or a string literal that is not an integer."""
    what = None
    if isinstance(days, exp.Literal) and days.is_string:
        if not re.fullmatch(r"[+-]?[0-9]+", days.name):
            what = f"the text '{days.name}' (SECOND_FUNCTION_ARGUMENT_NOT_INTEGER)"
    elif kind(days) in ("int", "decimal", "float", "string") and days.type.this not in _DAY_COUNTS:
        what = f"a {days.type.sql('spark')} (DATATYPE_MISMATCH.UNEXPECTED_INPUT_TYPE)"
    if what is not None:
        raise refuse(node, f"`{name}` takes a TINYINT, SMALLINT or INT number of days on Spark "
                           f"(Spark rejects {what}); write CAST(n AS INT)")


def date_plus_interval(node: exp.Add | exp.Sub) -> exp.Expression:
    """DATE +/- a whole-day interval stays a DATE in Spark (a TIMESTAMP in DuckDB), and a
    DATE minus a DATE is a day interval (an integer in DuckDB); so is text minus a DATE (the
    text cast to a DATE), the only mix of text and a date or timestamp Spark accepts. A date
    or timestamp plus a bare NULL is a NULL TIMESTAMP in Spark, minus one a NULL INTERVAL."""
    left, right = node.this, node.expression
    kinds = {kind(left), kind(right)}
    if not kinds & {"date", "timestamp"}:
        return _date_plus_interval(node)
    op = "+" if isinstance(node, exp.Add) else "-"
    if any(isinstance(side.unnest(), exp.Null) for side in (left, right)):
        return tpl("CAST(NULL AS TIMESTAMP)" if op == "+" else "CAST(NULL AS INTERVAL)")
    if isinstance(node, exp.Sub) and kind(left) == "string" and kind(right) == "date":
        return tpl("CAST(_a AS TIMESTAMP) - CAST(_b AS TIMESTAMP)", a=text_to_date(left), b=right)
    if "string" in kinds:
        raise refuse(node, f"`{op}` of text and a date or timestamp is rejected by Spark "
                           "(DATATYPE_MISMATCH); cast the text first: CAST(s AS DATE), "
                           "CAST(s AS TIMESTAMP) or CAST(s AS INT)")
    days = right if kind(left) == "date" else left if isinstance(node, exp.Add) else None
    if days is not None and kind(days) in ("int", "decimal", "float"):
        check_days(node, days, f"date {op} n")
    return _date_plus_interval(node)


def _interval(node: exp.Expression) -> exp.Interval | None:
    """The interval literal ``node`` is, or negates."""
    node = node.unnest()
    node = node.this.unnest() if isinstance(node, exp.Neg) else node
    return node if isinstance(node, exp.Interval) else None


def _date_plus_interval(node: exp.Add | exp.Sub) -> exp.Expression:
    left, right = node.this, node.expression
    kinds = {kind(left), kind(right)}
    if isinstance(node, exp.Sub) and "date" in kinds and kinds <= {"date", "timestamp"}:
        return tpl("CAST(_a AS TIMESTAMP) - CAST(_b AS TIMESTAMP)", a=left, b=right)
    if isinstance(node, exp.Add) and _interval(left) is not None and _interval(right) is None:
        left, right = right, left  # interval + date
    interval = _interval(right)
    if interval is None or _interval(left) is not None:
        return node
    right = interval
    unit = right.unit.name.upper().rstrip("S") if right.unit else ""
    if unit not in ("DAY", "WEEK", "MONTH", "YEAR", "QUARTER") or kind(left) == "timestamp":
        return node
    if kind(left) == "date":
        return exp.cast(node, "DATE")
    return tpl("CAST_TO_TYPE(_a, _b)", a=node, b=left)


_SPANS = {  # Spark's text of an interval literal with a unit range, and the fields it holds
    ("YEAR", "MONTH"): (r"(\d+)-(\d+)", ("year", "month")),
    ("DAY", "HOUR"): (r"(\d+) (\d+)", ("day", "hour")),
    ("DAY", "MINUTE"): (r"(\d+) (\d+):(\d+)", ("day", "hour", "minute")),
    ("DAY", "SECOND"): (r"(\d+) (\d+):(\d+):(\d+(?:\.\d*)?)", ("day", "hour", "minute", "second")),
    ("HOUR", "MINUTE"): (r"(\d+):(\d+)", ("hour", "minute")),
    ("HOUR", "SECOND"): (r"(\d+):(\d+):(\d+(?:\.\d*)?)", ("hour", "minute", "second")),
    ("MINUTE", "SECOND"): (r"(\d+):(\d+(?:\.\d*)?)", ("minute", "second")),
}
_FIELD_LIMITS = {"month": 12, "hour": 24, "minute": 60, "second": 60}  # below the leading field
_MICROS = {"day": 86_400_000_000, "hour": 3_600_000_000, "minute": 60_000_000, "second": 1_000_000}


def interval_span(node: exp.Interval) -> exp.Expression:
    """interval '2-3' year to month (and day to second...): DuckDB cannot read a unit range, so
    the literal becomes the months, or the microseconds, it stands for (fractions of a second
    past microseconds are dropped, as Spark does)."""
    unit = node.args.get("unit")
    if not isinstance(unit, exp.IntervalSpan):
        return node
    span = (unit.this.name.upper(), unit.expression.name.upper())
    text = node.this.name.strip() if isinstance(node.this, exp.Literal) and node.this.is_string else None
    match = re.fullmatch(r"([+-]?)" + _SPANS[span][0], text or "") if span in _SPANS else None
    fields = dict(zip(_SPANS[span][1], match.groups()[1:])) if match else {}
    if match is None or any(float(value) >= _FIELD_LIMITS[name] for name, value in fields.items()
                            if name != _SPANS[span][1][0] and name in _FIELD_LIMITS):
        raise refuse(node, f"the interval literal {node.sql('spark')} is not supported on the "
                           "local engine; write its units one by one, as in interval 2 years 3 months")
    sign = -1 if match.group(1) == "-" else 1
    if span == ("YEAR", "MONTH"):
        months = sign * (int(fields["year"]) * 12 + int(fields["month"]))
        return exp.Interval(this=exp.Literal.string(str(months)), unit=exp.var("MONTH"))
    micros = 0
    for name, value in fields.items():
        whole, _, fraction = value.partition(".")
        micros += int(whole) * _MICROS[name] + (int((fraction + "000000")[:6]) if fraction else 0)
    return exp.Interval(this=exp.Literal.string(str(sign * micros)), unit=exp.var("MICROSECOND"))


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
    months = tpl("CAST((YEAR(_a) - YEAR(_b)) * 12 + MONTH(_a) - MONTH(_b) AS DOUBLE)", a=a, b=b)
    month_end = "DAY(_a) = DAY(LAST_DAY(_a))"
    value = tpl(_MONTHS_BETWEEN, a=a, b=b, months=months,
                a_end=tpl(month_end, a=a), b_end=tpl(month_end, a=b))
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


_WHOLE_UNITS = {"MICROSECOND", "MILLISECOND", "SECOND", "MINUTE", "HOUR", "DAY", "WEEK"}


def timestamp_diff(node: exp.TimestampDiff | exp.DateDiff) -> exp.Expression:
    """timestampdiff(unit, a, b) and datediff(unit, a, b) count whole units from a to b
    (DuckDB's date_diff counts boundaries crossed: 23:00 to 01:00 is one day)."""
    unit = node.args.get("unit")
    if unit is None:  # datediff(end, start): calendar days, which sqlglot translates right
        return node
    end, start = (part.this if isinstance(part, exp.TsOrDsToDate) else part
                  for part in (node.this, node.expression))
    if unit.name.upper() not in _WHOLE_UNITS:
        raise refuse(node, f"`timestampdiff` in {unit.name.upper()} counts month ends "
                           "differently on the local engine; use months_between and floor()")
    return exp.Anonymous(this="DATE_SUB", expressions=[
        exp.Literal.string(unit.name.lower()),
        tpl("CAST(_a AS TIMESTAMP)", a=start), tpl("CAST(_a AS TIMESTAMP)", a=end)])


def day_or_month_name(node: exp.Dayname | exp.Monthname) -> exp.Expression:
    """dayname/monthname are the three-letter English names ('Mon', 'Jan') in Spark."""
    pattern = "%a" if isinstance(node, exp.Dayname) else "%b"
    return tpl(f"STRFTIME(CAST(_a AS DATE), '{pattern}')", a=node.this)


_WEEKDAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]


def next_day(node: exp.NextDay) -> exp.Expression:
    """next_day(d, name): the first such day after d; the name is 'MO', 'MON' or 'MONDAY'
    (any case), and anything else gives NULL (sqlglot matches any prefix)."""
    whens = " ".join(f"WHEN UPPER(_w) IN ('{day[:2]}', '{day[:3]}', '{day}') THEN {number}"
                     for number, day in enumerate(_WEEKDAYS, 1))
    return tpl("TRY_CAST(_d AS DATE) + CAST((_n - ISODOW(TRY_CAST(_d AS DATE)) + 6) % 7 + 1 AS INTEGER)",
               d=node.this, n=tpl(f"CASE {whens} END", w=node.expression))


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
    value = extract(exp.Extract(this=exp.var(field.name.upper()), expression=args[1]))
    spark = field.parent.type if field.parent is not None else None
    if spark is not None and spark.is_type(T.INT):
        value = exp.cast(value, "INTEGER")  # Spark's INT (DuckDB: BIGINT)
        value.type = spark.copy()
    return value


def unix_timestamp(node: exp.StrToUnix) -> exp.Expression:
    """unix_timestamp: whole epoch seconds of a timestamp/date, or of a string parsed with the
    pattern (default 'yyyy-MM-dd HH:mm:ss'); NULL when the string does not parse."""
    value, fmt = node.this, node.args.get("format")
    if value is None:
        return tpl("CAST(FLOOR(EPOCH(CURRENT_TIMESTAMP)) AS BIGINT)")
    if isinstance(fmt, exp.Literal) and fmt.is_string and "%" not in fmt.name:
        # to_unix_timestamp: sqlglot keeps Spark's pattern as written
        fmt.replace(sqlglot.Dialect.get_or_raise("spark").format_time(fmt.copy()))
        fmt = node.args.get("format")
    check_time_format(node)
    pattern = exp.Literal.string(time_format(node) if fmt is not None else "%Y-%m-%d %H:%M:%S")
    text = strict_pattern(node, tpl("TRY_STRPTIME(CAST(_a AS VARCHAR), _b)", a=value, b=pattern),
                          None if fmt is not None else "yyyy-MM-dd HH:mm:ss")
    if kind(value) in ("timestamp", "date"):
        parsed = tpl("CAST(_a AS TIMESTAMP)", a=value)
    elif kind(value) == "string":
        parsed = text
    else:  # either, told apart when it runs
        parsed = tpl("CASE WHEN TYPEOF(_a) = 'VARCHAR' THEN _t ELSE TRY_CAST(_a AS TIMESTAMP) END",
                     a=value, t=text)
    return tpl("CAST(FLOOR(EPOCH(_a)) AS BIGINT)", a=parsed)


def safe_strptime(node: exp.StrToTime) -> exp.Expression:
    """to_timestamp with a pattern gives NULL for text that does not parse."""
    node.set("safe", True)
    return parse_text(check_time_format(node), "TIMESTAMP")


def to_date(node: exp.TsOrDsToDate) -> exp.Expression:
    """to_date with a pattern: NULL for text that does not match it exactly; without one,
    a cast (which reads '2024' and '2024-05' too)."""
    if node.args.get("format") is None and kind(node.this) == "string":
        return text_to_date(node.this, node)
    return parse_text(check_time_format(node), "DATE")


# What Spark strips from both ends of text it casts to a number, boolean, date or timestamp
# (UTF8String.trimAll: Java whitespace or ISO control, tested byte by byte), as a regex that
# Python and DuckDB (RE2) read alike.
_BLANKS = r"^[\x00-\x20\x7f]+|[\x00-\x20\x7f]+$"


def trimmed(value: exp.Expression) -> exp.Expression:
    """``value`` as text with Spark's blanks (tabs, newlines, control bytes) stripped from
    both ends, as Spark's casts from text do (DuckDB's TRIM strips spaces only)."""
    if isinstance(value, exp.Literal) and value.is_string:
        return exp.Literal.string(re.sub(_BLANKS, "", value.name))
    return tpl("REGEXP_REPLACE(CAST(_a AS VARCHAR), _r, '', 'g')", a=value,
               r=exp.Literal.string(_BLANKS))


_PARTIAL_DATE = """
CASE WHEN REGEXP_FULL_MATCH(_t, '[0-9]{4}(-[0-9]{1,2})?')
     THEN TRY_CAST(_t || CASE WHEN LENGTH(_t) = 4 THEN '-01-01' ELSE '-01' END AS DATE)
     ELSE TRY_CAST(_t AS DATE) END
"""


def text_to_date(value: exp.Expression, cast: exp.Expression | None = None) -> exp.Expression:
    """Text cast to DATE: Spark strips blanks (``trimmed``) and also reads a year ('2024')
    and a month ('2024-05') as their first day; DuckDB gives NULL. A literal that is neither
    is cast as it is (``cast``, the plain cast, keeps its node)."""
    if cast is not None and isinstance(value, exp.Literal) \
            and not re.fullmatch(r"\d{4}(-\d{1,2})?", trimmed(value).name):
        cast.set("this", trimmed(value))
        return cast
    return tpl(_PARTIAL_DATE, t=trimmed(value))


def as_date(value: exp.Expression) -> exp.Expression:
    """An argument Spark casts to a DATE: text as Spark reads it, a bare NULL typed."""
    if kind(value) == "string":
        return text_to_date(value)
    return exp.cast(value, "DATE") if isinstance(value.unnest(), exp.Null) else value


def add_months(node: exp.AddMonths) -> exp.Expression:
    """add_months returns a DATE, also for text or a TIMESTAMP (DuckDB: a TIMESTAMP)."""
    return tpl("CAST(_d + TO_MONTHS(CAST(_n AS INTEGER)) AS DATE)",
               d=text_to_date(node.this) if kind(node.this) == "string"
               else tpl("TRY_CAST(_a AS DATE)", a=node.this), n=node.expression)


def parse_text(node: exp.Expression, to: str) -> exp.Expression:
    """to_date/to_timestamp(x, pattern): text is parsed strictly (``strict_pattern``); a DATE
    or TIMESTAMP is only cast, as Spark ignores the pattern for it (DuckDB's strptime fails)."""
    value = node.this
    if node.args.get("format") is None:
        return node
    if kind(value) in ("date", "timestamp"):
        return tpl(f"TRY_CAST(_a AS {to})", a=value)
    if kind(value) == "string":
        return strict_pattern(node)
    text = node.copy()
    text.set("this", tpl("CAST(_a AS VARCHAR)", a=value))
    return tpl(f"CASE WHEN TYPEOF(_a) = 'VARCHAR' THEN _p ELSE TRY_CAST(_a AS {to}) END",
               a=value, p=strict_pattern(text))


_PATTERN_FIELDS = {"y": {2: "[0-9]{2}", 4: "[0-9]{4}"}, "S": {n: f"[0-9]{{1,{n}}}" for n in range(1, 10)},
                   "E": {3: "[A-Za-z]{3}", 4: "[A-Za-z]+"}, "a": {1: "[AaPp][Mm]"},
                   **{letter: {1: "[0-9]{1,2}", 2: "[0-9]{2}"} for letter in "dHhms"},
                   "M": {1: "[0-9]{1,2}", 2: "[0-9]{2}", 3: "[A-Za-z]{3}", 4: "[A-Za-z]+"}}


def pattern_regex(pattern: str) -> str | None:
    """A regular expression for the text a Spark date pattern parses: Spark reads 'MM' as
    exactly two digits and rejects surrounding text, where DuckDB's strptime takes '1' for
    %m and ignores a leading blank. None for a pattern with other letters."""
    parts = []
    pattern = pattern.replace("%g", "SSS")  # check_time_format's milliseconds
    for run in re.finditer(r"([A-Za-z])\1*|[^A-Za-z]", pattern):
        text = run.group(0)
        if not text[0].isalpha():
            parts.append(re.escape(text))
            continue
        field = _PATTERN_FIELDS.get(text[0], {}).get(len(text))
        if field is None:
            return None
        parts.append(field)
    return "".join(parts)


def strict_pattern(node: exp.Expression, parsed: exp.Expression | None = None,
                   pattern: str | None = None) -> exp.Expression:
    """``parsed`` (default ``node``: a parse of ``node.this`` with its date pattern), NULL
    unless the text matches the pattern as strictly as Spark's parser does. A DATE or
    TIMESTAMP is not parsed, so not checked; a pattern with other letters is refused."""
    parsed, value = node if parsed is None else parsed, node.this
    if pattern is None and node.args.get("format") is not None:
        pattern = time_format(node, "spark")
    if pattern is None or kind(value) in ("date", "timestamp"):
        return parsed
    if "[" in pattern:
        raise refuse(node, f"the optional sections [...] of the date pattern '{pattern}' are not "
                           "supported on the local engine; parse each form with its own pattern "
                           "and coalesce() the results")
    regex = pattern_regex(pattern)
    if regex is None:
        raise refuse(node, f"parsing text with the date pattern '{pattern}' is not as strict on "
                           "the local engine as on Spark; use the letters yyyy yy MM M dd d HH H "
                           "hh h mm m ss s SSS E MMM a")
    check = "REGEXP_FULL_MATCH(CAST(_v AS VARCHAR), _r)"
    if kind(value) is None:
        check = f"TYPEOF(_v) <> 'VARCHAR' OR {check}"
    parsed = spark_years(parsed, pattern, "DATE" if isinstance(node, exp.TsOrDsToDate) else "TIMESTAMP")
    return tpl(f"CASE WHEN {check} THEN _n END", v=value, r=exp.Literal.string(regex), n=parsed)


def spark_years(parsed: exp.Expression, pattern: str, to: str) -> exp.Expression:
    """Years as Spark's parser reads them: a pattern without a year is in 1970 (DuckDB's
    strptime: 1900), and 'yy' is 2000 to 2099 (DuckDB: 1969 to 2068). ``parsed`` is a
    strptime of the text (sqlglot's node or DuckDB's TRY_STRPTIME), giving a ``to``."""
    letters = re.sub(r"'[^']*'", "", pattern)
    if "y" not in letters:
        strptime = parsed if isinstance(parsed, (exp.StrToTime, exp.TsOrDsToDate)) \
            else parsed.find(exp.StrToTime, exp.TsOrDsToDate, exp.Anonymous)
        if isinstance(strptime, exp.Anonymous):
            text, fmt = strptime.expressions
            strptime.set("expressions", [tpl("_a || ' 1970'", a=text), exp.Literal.string(fmt.name + " %Y")])
        else:
            strptime.set("this", tpl("CAST(_a AS VARCHAR) || ' 1970'", a=strptime.this))
            strptime.set("format", exp.Literal.string(strptime.args["format"].name + " %Y"))
    if re.search(r"(?<!y)yy(?!y)", letters):
        return tpl(f"CAST(CASE WHEN YEAR(_p) < 2000 THEN _p + INTERVAL 100 YEAR ELSE _p END AS {to})",
                   p=parsed)
    return parsed


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


def timestamp_add(node: exp.TimestampAdd) -> exp.Expression:
    """timestampadd/dateadd/date_add(unit, n, ts): a negative literal count stays in
    parentheses (DuckDB cannot read ``INTERVAL -1 HOUR``)."""
    count = node.expression
    if isinstance(count, exp.Literal) and not count.is_string and count.name.startswith("-"):
        count.replace(exp.Paren(this=count.copy()))
    return node


def to_timestamp_ntz(args: list[exp.Expression]) -> exp.Expression:
    """to_timestamp_ntz of a TIMESTAMP or DATE keeps its wall-clock time (the session is UTC,
    as Data Distiller's); text is refused (use to_timestamp, whose patterns are checked)."""
    if len(args) == 1 and kind(args[0]) in ("timestamp", "date"):
        cast = exp.cast(args[0], "TIMESTAMP")
        cast.type = exp.DataType.build("TIMESTAMP")
        return cast
    raise refuse(args[0].parent, "`to_timestamp_ntz` of text is not supported on the local "
                                 "engine; write to_timestamp(text, pattern)")
