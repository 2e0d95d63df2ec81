"""Spark -> DuckDB rewrites for numbers: integer division, modulo, decimal typing, rounding,
aggregates' result types, percentiles and window functions (Adobe's TIME_BETWEEN_* included).

Same conventions as ``runner.compile.dialect.duckdb``.
"""

from __future__ import annotations

from typing import Callable

from sqlglot import exp

from runner.compile.dialect.duckdb_exact import average as exact_average
from runner.compile.dialect.duckdb_exact import decimal_quotient, result_type  # noqa: F401
from runner.compile.dialect.rules import cast_result, refuse, tpl, wrap_result
from runner.compile.dialect.types import T, kind, over_window


# -- arithmetic -------------------------------------------------------------------------------
def int_div(node: exp.IntDiv) -> exp.Expression:
    """`a div b` truncates toward zero and is NULL for b = 0 (DuckDB's // floors and raises)."""
    return tpl("CAST((_a - _a % NULLIF(_b, 0)) // NULLIF(_b, 0) AS BIGINT)",
               a=node.this, b=node.expression)


def mod(node: exp.Mod) -> exp.Expression:
    """`a % 0` is NULL in non-ANSI Spark (DuckDB raises)."""
    divisor = node.expression
    if isinstance(divisor, exp.Literal) and not divisor.is_string and float(divisor.name) != 0:
        return node
    return exp.Mod(this=node.this, expression=exp.Nullif(this=divisor, expression=exp.Literal.number(0)))


def pmod(args: list[exp.Expression]) -> exp.Expression:
    """pmod(a, n): the remainder takes n's sign when n > 0; NULL for n = 0."""
    return tpl("CASE WHEN _a % NULLIF(_n, 0) < 0 AND _n > 0 THEN _a % NULLIF(_n, 0) + _n "
               "ELSE _a % NULLIF(_n, 0) END", a=args[0], n=args[1])


def randn(node: exp.Randn) -> exp.Expression:
    """randn(): a standard normal draw (Box-Muller over DuckDB's uniform random()); a seeded
    randn(seed) cannot repeat Spark's sequence and is refused."""
    if node.this is not None:
        raise refuse(node, "`randn` with a seed cannot repeat Spark's random sequence on the "
                           "local engine; drop the seed")
    return tpl("SQRT(-2 * LN(1 - RANDOM())) * COS(2 * PI() * RANDOM())")


def bround(args: list[exp.Expression]) -> exp.Expression:
    """bround rounds HALF_EVEN (a DOUBLE as its decimal text, like round)."""
    digits = args[1] if len(args) > 1 else exp.Literal.number(0)
    if kind(args[0]) == "int":
        return round_integer("ROUND_EVEN", args[0], digits)
    return round_decimal_text(lambda x: tpl("ROUND_EVEN(_a, _d)", a=x, d=digits), args[0], digits)


def round_half_up(node: exp.Round) -> exp.Expression:
    """round of a DOUBLE rounds its decimal text (Java's BigDecimal of Double.toString), so
    round(0.285D, 2) is 0.29; DuckDB rounds the binary value 0.28499999999999998 to 0.28."""
    digits = node.args.get("decimals") or exp.Literal.number(0)
    if kind(node.this) == "int":
        return round_integer("ROUND", node.this, digits)
    return round_decimal_text(lambda x: exp.Round(this=x, decimals=digits.copy()), node.this, digits)


_INT_BITS = {T.TINYINT: 8, T.SMALLINT: 16, T.INT: 32, T.BIGINT: 64}


def round_integer(function: str, value: exp.Expression, digits: exp.Expression) -> exp.Expression:
    """round/bround of an integer to negative digits keep its type and wrap around out of
    range, as Spark's BigDecimal.byteValue/shortValue/intValue/longValue do (round(-128y, -1)
    is 126); DuckDB raises. Computed in HUGEINT, then wrapped into the operand's type."""
    if isinstance(digits, exp.Literal) and digits.is_int and int(digits.name) >= 0 \
            or value.type.this not in _INT_BITS:
        return tpl(f"{function}(_a, _d)", a=value, d=digits)  # digits >= 0: the value itself
    bits = _INT_BITS[value.type.this]
    half, whole = 2 ** (bits - 1), 2 ** bits
    rounded = tpl(f"{function}(CAST(_a AS HUGEINT), _d)", a=value, d=digits)
    return tpl(f"CAST(((_r + {half}) % {whole} + {whole}) % {whole} - {half} AS _t)",
               r=rounded, t=value.type)


def round_decimal_text(make: Callable[[exp.Expression], exp.Expression], value: exp.Expression,
                       digits: exp.Expression) -> exp.Expression:
    """``make(value)`` (DuckDB's rounding of ``value`` to ``digits``), except that a DOUBLE whose
    shortest text is a tie at that digit ('0.285' to 2) is rounded as that decimal text;
    elsewhere the binary and the decimal rounding agree. A computed number of digits on a
    DOUBLE is refused."""
    rounded = make(value)
    if kind(value) != "float" or not value.type.is_type(exp.DataType.Type.DOUBLE):
        return rounded  # a FLOAT is rounded as its binary value, like DuckDB does
    if not (isinstance(digits, exp.Literal) and digits.is_int) \
            and not (isinstance(digits, exp.Neg) and isinstance(digits.this, exp.Literal)):
        raise refuse(value.parent, "rounding a DOUBLE to a computed number of digits is not "
                                   "supported on the local engine; write the digits as a literal")
    places = int(digits.sql("spark"))
    if places < 0:  # ties at negative places are whole numbers, exact in binary
        return rounded
    text = tpl("CAST(_x AS VARCHAR)", x=value)
    tie = f"-?[0-9]+[.][0-9]{{{places}}}5"
    exact = make(tpl(f"CAST(_t AS DECIMAL(38, {places + 1}))", t=text))
    return tpl(f"CASE WHEN REGEXP_FULL_MATCH(_t, '{tie}') THEN CAST(_e AS DOUBLE) ELSE _r END",
               t=text, e=exact, r=rounded)


def positive(args: list[exp.Expression]) -> exp.Expression:
    """positive(x) is x; a STRING is read as a DOUBLE (NULL when it is not a number), NULL is
    a NULL DOUBLE (Spark's implicit casts)."""
    value = args[0]
    if kind(value) in ("int", "decimal", "float"):
        return exp.Paren(this=value)
    if kind(value) == "string" or isinstance(value, exp.Null):
        return exp.TryCast(this=value, to=exp.DataType.build("DOUBLE"))
    raise refuse(value.parent, "`positive` of a value that is not a number is not supported on "
                               "the local engine; cast it to a number")


def ln(node: exp.Ln) -> exp.Expression:
    """ln (log) is NULL for x <= 0 in Spark (DuckDB: -inf at 0, NaN below)."""
    return tpl("CASE WHEN _x <= 0 THEN NULL ELSE _l END", x=node.this, l=node)


def log(node: exp.Log) -> exp.Expression:
    """log(base, x), log10, log2: NULL when the base or x is <= 0."""
    if node.expression is None:
        return ln(node)
    return tpl("CASE WHEN _b <= 0 OR _x <= 0 THEN NULL ELSE _l END",
               b=node.this, x=node.expression, l=node)


_LOG1P = """
CASE WHEN _x <= -1 THEN NULL WHEN ISINF(_x) OR 1 + _x = 1 THEN _x
     ELSE LN(1 + _x) * _x / ((1 + _x) - 1) END
"""


def log1p(args: list[exp.Expression]) -> exp.Expression:
    """log1p(x): ln(1 + x), NULL for x <= -1, accurate for tiny x (DuckDB has no log1p;
    ln(1 + x) alone loses digits near 0, so it is corrected by x / ((1 + x) - 1))."""
    return tpl(_LOG1P, x=tpl("CAST(_a AS DOUBLE)", a=args[0]))


def factorial(node: exp.Factorial) -> exp.Expression:
    """factorial is a BIGINT in Spark, NULL outside 0..20 (DuckDB: a HUGEINT, an error)."""
    return tpl("CASE WHEN _a BETWEEN 0 AND 20 THEN CAST(FACTORIAL(CAST(_a AS INTEGER)) AS BIGINT) END",
               a=node.this)


def sign(node: exp.Sign) -> exp.Expression:
    """signum is a DOUBLE in Spark."""
    return exp.cast(node, "DOUBLE")


def approx_count_distinct(node: exp.ApproxDistinct) -> exp.Expression:
    """approx_count_distinct is computed exactly (count(DISTINCT x)), as the approximate
    policy notes (``runner.compile.dialect.approximate``); its rsd only tunes Spark's sketch."""
    return exp.Count(this=exp.Distinct(expressions=[node.this]))


def bit_count(node: exp.BitwiseCount) -> exp.Expression:
    """bit_count counts the bits of the value as a BIGINT (bit_count(-1) is 64, not 32)."""
    return tpl("BIT_COUNT(CAST(_a AS BIGINT))", a=node.this)


def divide(node: exp.Div) -> exp.Expression:
    """A FLOAT operand of / is widened to DOUBLE (Spark divides in DOUBLE; DuckDB in REAL);
    a quotient with a DECIMAL operand is Spark's exact decimal quotient."""
    if kind(node) == "decimal":
        return decimal_quotient(node)
    for operand in (node.this, node.expression):
        if operand.type is not None and operand.type.is_type(exp.DataType.Type.FLOAT):
            operand.replace(exp.cast(operand.copy(), "DOUBLE"))
    return node


# -- aggregates -------------------------------------------------------------------------------
def count_if(node: exp.CountIf) -> exp.Expression:
    """count_if is a BIGINT (DuckDB: HUGEINT), and 0 when no condition holds or the group is
    empty (DuckDB: NULL when every condition is NULL)."""
    return wrap_result(node, lambda target: tpl("CAST(COALESCE(_c, 0) AS BIGINT)", c=target))


def any_aggregate(node: exp.Any) -> exp.Expression:
    """any(cond) as an aggregate is bool_or; ``x = ANY (subquery)`` is not Spark SQL
    (``LIKE ANY ('a%', 'b%')`` is, and is left alone)."""
    if isinstance(node.this, exp.Subquery):
        raise refuse(node.parent, "`ANY (subquery)` is not Spark SQL (Spark rejects it); "
                                  "write `x IN (SELECT ...)`, or compare with a min()/max() "
                                  "subquery")
    if isinstance(node.parent, (exp.Predicate, exp.Binary)):
        return node
    return exp.LogicalOr(this=node.this.unnest())


def average(node: exp.Avg) -> exp.Expression:
    """avg of a TIMESTAMP averages its epoch seconds, a DOUBLE (Spark's implicit cast; DuckDB
    averages into a TIMESTAMP); of anything else, Spark's exact result."""
    if kind(node.this) == "timestamp":
        node.set("this", tpl("EPOCH(_a)", a=node.this))
        return node
    return exact_average(node)


def skewness(node: exp.Skewness) -> exp.Expression:
    """Spark's skewness is the population (biased) one; DuckDB's is corrected for samples."""
    if over_window(node) is not node:
        raise refuse(node, "`skewness` with FILTER or OVER is not supported on the local "
                           "engine; compute it in a grouped subquery")
    return tpl("CASE WHEN VAR_POP(_a) = 0 THEN NULL WHEN COUNT(_a) = 2 THEN 0.0 "
               "ELSE SKEWNESS(_a) * (COUNT(_a) - 2) / SQRT(COUNT(_a) * (COUNT(_a) - 1)) END",
               a=node.this)


def corr(node: exp.Corr) -> exp.Expression:
    """corr is NULL when either side has no variance (Spark divides by zero into NULL; DuckDB
    returns NaN), which includes a single pair."""
    if over_window(node) is not node:
        raise refuse(node, "`corr` with FILTER or OVER is not supported on the local engine; "
                           "compute it in a grouped subquery")
    return tpl("CASE WHEN VAR_POP(CASE WHEN _b IS NOT NULL THEN _a END) = 0 "
               "OR VAR_POP(CASE WHEN _a IS NOT NULL THEN _b END) = 0 THEN NULL ELSE _c END",
               a=node.this, b=node.expression, c=node)


def mode(node: exp.Mode) -> exp.Expression:
    """mode picks any of several equally frequent values, and not DuckDB's choice."""
    raise refuse(node, "`mode` returns an arbitrary one of tied values, not the same on the "
                       "local engine; count each value and keep the first by count DESC, value "
                       "(row_number() OVER (... ORDER BY n DESC, value) = 1)")


def kurtosis(node: exp.Kurtosis) -> exp.Expression:
    """Spark's kurtosis is the population excess kurtosis (DuckDB: kurtosis_pop)."""
    return exp.Anonymous(this="KURTOSIS_POP", expressions=[node.this])


def percentile(node: exp.Quantile) -> exp.Expression:
    """percentile() interpolates linearly and returns a DOUBLE."""
    return tpl("CAST(QUANTILE_CONT(_a, _q) AS DOUBLE)", a=node.this, q=node.args["quantile"])


def within_group(node: exp.WithinGroup) -> exp.Expression:
    """percentile_cont/percentile_disc(p) WITHIN GROUP (ORDER BY v [DESC]): DuckDB's
    quantile_cont/quantile_disc of v as a DOUBLE (Spark's type); DESC orders by -v, which
    reverses numbers exactly. One numeric key and a literal fraction only."""
    inner = node.this
    if not isinstance(inner, (exp.PercentileCont, exp.PercentileDisc)):
        return node
    name = "percentile_cont" if isinstance(inner, exp.PercentileCont) else "percentile_disc"
    keys = node.expression.expressions if isinstance(node.expression, exp.Order) else []
    fraction = inner.this.find(exp.Literal) if inner.this is not None else None  # maybe cast
    if len(keys) != 1 or fraction is None or fraction.is_string \
            or inner.this.find(exp.Column, exp.Distinct):
        raise refuse(node, f"`{name}` takes a literal fraction and one ORDER BY key on Spark "
                           "(Spark rejects other forms); write "
                           f"{name}(0.5) WITHIN GROUP (ORDER BY v)")
    check_whole_partition(node, name)
    key = keys[0].this
    if kind(key) not in ("int", "decimal", "float"):
        raise refuse(node, f"`{name}` of a value that is not a number (an interval, a column of "
                           "unknown type) is not supported on the local engine; cast it to DOUBLE")
    value = tpl("CAST(_k AS DOUBLE)", k=key)
    desc = bool(keys[0].args.get("desc"))
    function = "QUANTILE_CONT" if isinstance(inner, exp.PercentileCont) else "QUANTILE_DISC"
    p = exp.Literal(this=fraction.name, is_string=False)
    new = tpl(f"{function}({'-' if desc else ''}_v, _p)", v=value, p=p)
    node.replace(new)
    return wrap_result(new, lambda target: tpl("-_t", t=target)) if desc else new


def check_whole_partition(node: exp.Expression, name: str) -> None:
    """median and percentile_cont/disc over a window take its whole partition: an ORDER BY or
    a frame there is refused, as Spark does (INVALID_WINDOW_SPEC_FOR_AGGREGATION_FUNC)."""
    top = over_window(node)
    if isinstance(top, exp.Window) and any(w.args.get("order") or w.args.get("spec")
                                           for w in [top, *named_windows(top)]):
        raise refuse(node, f"`{name}` over a window with ORDER BY or a frame (Spark rejects it: "
                           "INVALID_WINDOW_SPEC_FOR_AGGREGATION_FUNC); use OVER (PARTITION BY ...) "
                           "alone")


def named_windows(window: exp.Window) -> list[exp.Window]:
    """The WINDOW clause definitions ``OVER w`` refers to (through w AS (v ...) chains)."""
    select = window.find_ancestor(exp.Select)
    named = {w.this.name: w for w in (select.args.get("windows") or [])} if select else {}
    found, name = [], window.args.get("alias")
    while name is not None and name.name in named and len(found) < len(named):
        found.append(named[name.name])
        name = found[-1].args.get("alias")
    return found


def median(node: exp.Median) -> exp.Expression:
    """median(v) is percentile_cont(0.5): a DOUBLE, over a window's whole partition."""
    check_whole_partition(node, "median")
    return tpl("QUANTILE_CONT(CAST(_v AS DOUBLE), 0.5)", v=node.this)


def percentile_approx(node: exp.ApproxQuantile) -> exp.Expression:
    """percentile_approx(x, p[, accuracy]) is computed exactly: the element of rank
    ceil(p * n), p a scalar or an array (Spark's sketch agrees below its accuracy, which only
    tunes the sketch; the approximate policy notes it)."""
    return tpl("QUANTILE_DISC(_a, _q)", a=node.this, q=node.args["quantile"])


def group_by_map(node: exp.Group) -> exp.Expression:
    """Spark groups maps by their entries whatever their order (map(1, 2, 2, 3) and
    map(2, 3, 1, 2) are one group); DuckDB compares maps in order: a grouping key of a type
    holding a MAP is refused."""
    for key in node.expressions:
        if key.type is not None and any(part.is_type(T.MAP) for part in key.type.find_all(exp.DataType)):
            raise refuse(key, f"GROUP BY {key.sql('spark')}, a value holding a map, groups "
                              "maps regardless of their entries' order on Spark but not on the "
                              "local engine; group by array_sort(map_entries(m)) of each map")
    return node


# -- windows ----------------------------------------------------------------------------------
_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def window(node: exp.Window) -> exp.Expression:
    """first/last over a window are first_value/last_value (DuckDB drops IGNORE NULLS on
    them), and Adobe's TIME_BETWEEN_PREVIOUS/NEXT_MATCH become a last/first matching time."""
    inner = node.this.this if isinstance(node.this, exp.IgnoreNulls) else node.this
    check_window_spec(node, inner)
    if isinstance(inner, (exp.First, exp.Last)):
        cls = exp.FirstValue if isinstance(inner, exp.First) else exp.LastValue
        inner.replace(cls(this=inner.this))
        return node
    if isinstance(inner, exp.Anonymous) and inner.name.upper().startswith("TIME_BETWEEN_"):
        return time_between_match(node, inner)
    return node


_ORDERED = {exp.RowNumber: "row_number", exp.Rank: "rank", exp.DenseRank: "dense_rank",
            exp.Ntile: "ntile", exp.Lag: "lag", exp.Lead: "lead", exp.PercentRank: "percent_rank",
            exp.CumeDist: "cume_dist"}


def check_window_spec(node: exp.Window, inner: exp.Expression) -> None:
    """What Spark rejects in a window: a ranking or offset function without ORDER BY
    (WINDOW_FUNCTION_FRAME_NOT_ORDERED; DuckDB numbers the rows in any order) and a ROWS
    bound out of the INT range (DATATYPE_MISMATCH.SPECIFIED_WINDOW_FRAME_UNACCEPTED_TYPE)."""
    windows = [node, *named_windows(node)]
    name = _ORDERED.get(type(inner))
    if name is not None and not any(w.args.get("order") for w in windows):
        raise refuse(node, f"`{name}` needs an ORDER BY in its window (Spark rejects it: "
                           "WINDOW_FUNCTION_FRAME_NOT_ORDERED); write OVER (PARTITION BY ... "
                           "ORDER BY ...)")
    for spec in (w.args.get("spec") for w in windows):
        for bound in (spec.args.get("start"), spec.args.get("end")) if spec else ():
            if isinstance(bound, exp.Literal) and bound.is_int and spec.args.get("kind") == "ROWS" \
                    and not -(2**31) <= int(bound.name) < 2**31:
                raise refuse(node, f"a ROWS frame bound of {bound.name} is beyond the INT range "
                                   "(Spark rejects it: SPECIFIED_WINDOW_FRAME_UNACCEPTED_TYPE); "
                                   "use UNBOUNDED PRECEDING/FOLLOWING")
            if spec.args.get("kind") == "RANGE" and isinstance(bound, exp.Expression):
                _check_range_bound(node, windows, bound)


_TIME_UNITS = ("HOUR", "MINUTE", "SECOND", "MILLISECOND", "MICROSECOND")


def _check_range_bound(node: exp.Window, windows: list[exp.Window], bound: exp.Expression) -> None:
    """A RANGE bound must suit the ORDER BY key's type (Spark rejects others:
    RANGE_FRAME_INVALID_TYPE): a DATE takes a number of days or an interval of whole days,
    months or years; a TIMESTAMP takes an interval, not a number."""
    orders = [w.args["order"] for w in windows if w.args.get("order")]
    keys = orders[0].expressions if orders else []
    key = kind(keys[0].this) if len(keys) == 1 else None
    unit = bound.args.get("unit") if isinstance(bound, exp.Interval) else None
    units = unit.sql("spark").upper() if unit is not None else ""
    if key == "date" and any(u in units for u in _TIME_UNITS):
        problem = f"an interval of {units.lower()} with a DATE"
    elif key == "timestamp" and bound.is_number:
        problem = "a number with a TIMESTAMP"
    else:
        return
    raise refuse(node, f"this RANGE frame bound is {problem} in ORDER BY (Spark rejects it: "
                       "RANGE_FRAME_INVALID_TYPE); order by a TIMESTAMP for an interval of time, "
                       "or bound a TIMESTAMP with INTERVAL ...")


def time_between_match(node: exp.Window, call: exp.Anonymous) -> exp.Expression:
    """TIME_BETWEEN_PREVIOUS_MATCH(ts, cond, unit) OVER w: time since the last row of the frame
    (the current row included) where cond holds, in unit, as a DOUBLE; NULL if none. The NEXT
    variant looks forward and is negative. Unit defaults to seconds."""
    name = call.name.upper()
    args = call.expressions
    if name not in ("TIME_BETWEEN_PREVIOUS_MATCH", "TIME_BETWEEN_NEXT_MATCH") or len(args) not in (2, 3):
        raise refuse(call, f"`{call.name}` is not an Adobe-defined function the local engine "
                           "knows; use TIME_BETWEEN_PREVIOUS_MATCH(ts, condition, 'minutes') or "
                           "TIME_BETWEEN_NEXT_MATCH(...)")
    unit = args[2].name.lower().rstrip("s") if len(args) == 3 else "second"
    if len(args) == 3 and not (isinstance(args[2], exp.Literal) and unit in _UNIT_SECONDS):
        raise refuse(call, f"`{name.lower()}` unit must be one of 'seconds', 'minutes', "
                           "'hours', 'days'")
    pick = exp.LastValue if name.endswith("PREVIOUS_MATCH") else exp.FirstValue
    matched = exp.IgnoreNulls(this=pick(this=tpl("CASE WHEN _c THEN _t END", c=args[1], t=args[0])))
    over = node.copy()
    over.set("this", matched)
    return tpl(f"(EPOCH(_t) - EPOCH(_m)) / {_UNIT_SECONDS[unit]}.0", t=args[0], m=over)
