"""Spark -> PostgreSQL: keep Spark's values where a small rewrite does it, refuse the rest.

PostgreSQL is a secondary local engine. sqlglot's translation is kept; the rules shared with
DuckDB (zone-less timestamps, time-zone conversion, Spark's result types, date patterns) are
reused, and what is known to differ from Data Distiller without a rewrite is refused with a
``ProjectError``. Type-dependent rules act only on operands of known type: a cast to INT of a
column of unknown type is let through (PostgreSQL rounds a fraction where Spark truncates);
pass ``schema`` to ``to_target`` to have it checked. Functions PostgreSQL lacks fail when run.
"""

from __future__ import annotations

from sqlglot import exp

from runner.compile.dialect import duckdb as duck
from runner.compile.dialect import duckdb_dates as dates
from runner.compile.dialect import duckdb_exact as exact
from runner.compile.dialect import duckdb_numbers as num
from runner.compile.dialect import duckdb_text as txt
from runner.compile.dialect.rules import Rule, refuse, tpl
from runner.compile.dialect.types import INT_PRECISION, kind


def _refused(what: str, instead: str) -> Rule:
    def rule(node: exp.Expression) -> exp.Expression:
        raise refuse(node, f"`{what}` gives other values on PostgreSQL than on Data Distiller "
                           f"and is not supported there; {instead}")
    return rule


def cast(node: exp.Cast) -> exp.Expression:
    """PostgreSQL rounds 3.7 to 4 when casting to an integer (Spark truncates) and prints
    doubles its own way (Spark: 1.0E7)."""
    source = kind(node.this)
    duck.check_interval_cast(node)
    if node.to.is_type(*INT_PRECISION) and source in ("float", "decimal"):
        raise refuse(node, "casting a fractional number to an integer rounds on PostgreSQL "
                           "(Spark truncates); write CAST(trunc(x) AS INT)")
    if node.to.is_type(*exp.DataType.TEXT_TYPES) and source == "float":
        raise _double_text(node)
    return node


def _double_text(node: exp.Expression) -> Exception:
    return refuse(node, "a DOUBLE turned into text is written differently on PostgreSQL "
                        "(Spark: 1.0E7); use format_number or cast to DECIMAL first")


def concat(node: exp.Concat | exp.DPipe) -> exp.Expression:
    """A DOUBLE in concat is written like Java's Double.toString by Spark."""
    operands = node.expressions if isinstance(node, exp.Concat) else [node.this, node.expression]
    if any(kind(operand) == "float" for operand in operands):
        raise _double_text(node)
    return node


def concat_ws(node: exp.ConcatWs) -> exp.Expression:
    """concat_ws(sep, array) joins the array's elements (PostgreSQL would print '{x,y}')."""
    separator, *parts = node.expressions
    for part in parts:
        if isinstance(part, exp.Array) or kind(part) == "array":
            part.replace(tpl("ARRAY_TO_STRING(_a, _s)", a=part.copy(), s=separator))
    return node


def element_at(node: exp.Bracket) -> exp.Expression:
    """element_at counts a negative index from the end; PostgreSQL returns NULL."""
    index = node.expressions[0] if node.expressions else None
    positive = isinstance(index, exp.Literal) and index.is_int and int(index.name) > 0
    if node.args.get("offset") == 1 and not positive:
        raise refuse(node, "`element_at` with a negative or computed index is not supported on "
                           "PostgreSQL; use a positive literal index")
    return node


def date_add(node: exp.TsOrDsAdd) -> exp.Expression:
    """date_add/date_sub return a DATE (PostgreSQL's DATE + INTERVAL is a TIMESTAMP)."""
    return tpl("CAST(_a AS DATE) + CAST(_b AS INTEGER)", a=node.this, b=node.expression)


def date_arithmetic(node: exp.Add | exp.Sub) -> exp.Expression:
    """DATE +/- a whole-day interval stays a DATE; DATE - DATE is a day interval (known types)."""
    left, right = node.this, node.expression
    if isinstance(node, exp.Sub) and kind(left) == "date" and kind(right) == "date":
        return tpl("(_a - _b) * INTERVAL '1 day'", a=left, b=right)
    unit = right.unit.name.upper().rstrip("S") if isinstance(right, exp.Interval) and right.unit else ""
    if kind(left) == "date" and unit in ("DAY", "WEEK", "MONTH", "YEAR", "QUARTER"):
        return exp.cast(node, "DATE")
    return node


def array_contains(node: exp.ArrayContains) -> exp.Expression:
    """PostgreSQL's v = ANY(a) is Spark's array_contains, NULL for an absent value when the
    array holds a NULL (sqlglot's COALESCE(..., FALSE) makes that false)."""
    return exp.EQ(this=node.expression, expression=exp.Any(this=exp.Paren(this=node.this)))


def array_remove(node: exp.ArrayRemove) -> exp.Expression:
    """array_remove(a, NULL) is NULL (PostgreSQL removes the NULL elements)."""
    return tpl("CASE WHEN _v IS NULL THEN NULL ELSE _r END", v=node.expression, r=node)


def anonymous(node: exp.Anonymous) -> exp.Expression:
    """Adobe-defined functions exist only on Data Distiller (and the duckdb target);
    cardinality is -1 for NULL, as on DuckDB."""
    if node.name.upper().startswith("TIME_BETWEEN_"):
        raise refuse(node, f"`{node.name.lower()}` is an Adobe-defined function with no "
                           "PostgreSQL translation; use the duckdb target")
    if node.name.upper() == "CARDINALITY":
        return txt.cardinality(node.expressions)
    return node


def time_pattern(node: exp.Expression) -> exp.Expression:
    """Refuse Spark date-pattern letters sqlglot leaves untranslated (PostgreSQL's to_char
    would read some of them as its own patterns)."""
    fmt = node.args.get("format")
    if isinstance(fmt, exp.Literal) and "SSS" in fmt.name:
        raise refuse(node, "the millisecond pattern SSS is not supported on PostgreSQL")
    return dates.check_time_format(node)


def interval_span(node: exp.Interval) -> exp.Expression:
    """An interval literal with a unit range (interval '1-2' year to month) is refused."""
    if isinstance(node.args.get("unit"), exp.IntervalSpan):
        raise refuse(node, "an interval literal with a unit range (such as YEAR TO MONTH) gives "
                           "other values on PostgreSQL; write its units one by one, as in "
                           "interval 1 year 2 months")
    return node


RULES: dict[type, Rule] = {
    exp.DataType: duck.timestamp_type, exp.AtTimeZone: dates.from_utc_timestamp,
    exp.TsOrDsAdd: date_add,
    exp.Add: exact.then_cast(date_arithmetic, exact.is_decimal),  # Spark's cut scale, HALF_UP
    exp.Sub: exact.then_cast(date_arithmetic, exact.is_decimal),
    exp.TimeToStr: time_pattern, exp.StrToTime: time_pattern, exp.StrToUnix: time_pattern,
    exp.UnixToStr: time_pattern, exp.TsOrDsToDate: time_pattern,
    exp.MonthsBetween: _refused("months_between", "use the duckdb target"),
    exp.DayOfWeek: _refused("dayofweek", "use extract(dow from d) + 1"),
    exp.ArraySize: _refused("size", "use cardinality() and handle NULL"),
    exp.Substring: _refused("substring", "use the duckdb target"),
    exp.IntDiv: _refused("div", "use trunc() of a division"),
    exp.Cast: cast, exp.TryCast: cast, exp.Concat: concat, exp.DPipe: concat,
    exp.ConcatWs: concat_ws, exp.Bracket: element_at, exp.StrPosition: txt.locate,
    exp.ArrayContains: array_contains, exp.ArrayRemove: array_remove,
    exp.ApproxDistinct: num.approx_count_distinct, exp.CountIf: num.count_if,
    exp.Left: txt.left_right, exp.Right: txt.left_right,
    exp.GenerateSeries: _refused("sequence", "build the array on the duckdb target"),
    exp.Sum: num.result_type, exp.Avg: num.result_type, exp.Div: num.result_type,
    exp.Mul: exact.then_cast(None, exact.is_decimal),  # Spark's precision and cut scale
    exp.Ceil: num.result_type, exp.Floor: num.result_type,
    exp.Anonymous: anonymous, exp.Interval: interval_span,
}
