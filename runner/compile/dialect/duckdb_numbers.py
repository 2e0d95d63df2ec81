"""Spark -> DuckDB rewrites for numbers: integer division, modulo, decimal typing, rounding,
aggregates' result types, percentiles and window functions (Adobe's TIME_BETWEEN_* included).

Same conventions as ``runner.compile.dialect.duckdb``.
"""

from __future__ import annotations

from typing import Callable

from sqlglot import exp

from runner.compile.dialect.rules import Rule, cast_result, refuse, tpl
from runner.compile.dialect.spark_types import MAX_PRECISION, precision_scale
from runner.compile.dialect.types import kind, over_window


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
    return round_decimal_text(lambda x: tpl("ROUND_EVEN(_a, _d)", a=x, d=digits), args[0], digits)


def round_half_up(node: exp.Round) -> exp.Expression:
    """round of a DOUBLE rounds its decimal text (Java's BigDecimal of Double.toString), so
    round(0.285D, 2) is 0.29; DuckDB rounds the binary value 0.28499999999999998 to 0.28."""
    digits = node.args.get("decimals") or exp.Literal.number(0)
    return round_decimal_text(lambda x: exp.Round(this=x, decimals=digits.copy()), node.this, digits)


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
    """approx_count_distinct is Spark's HyperLogLog++ estimate, which DuckDB's sketch does not
    repeat (1M distinct values: Spark 925,738, DuckDB 982,272)."""
    raise refuse(node, "`approx_count_distinct` is an estimate whose value the local engine "
                       "cannot reproduce (a different sketch); use count(DISTINCT x), which is "
                       "exact everywhere, or compute the estimate on Data Distiller only")


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


_HALF_UP = """
CASE WHEN _d = 0 THEN NULL ELSE TRY_CAST(CAST(SIGN(_n) * SIGN(_d) * (ABS(_n) // ABS(_d)
  + CASE WHEN ABS(_n) % ABS(_d) >= ABS(_d) - ABS(_n) % ABS(_d) THEN 1 ELSE 0 END) AS DECIMAL(38, 0))
  * CAST(_unit AS DECIMAL(38, {scale})) AS _t) END
"""


def average(node: exp.Avg) -> exp.Expression:
    """avg of a DECIMAL(p, s) is exact in Spark (its sum divided by its count, rounded HALF_UP
    to s + 4 digits; DuckDB averages in DOUBLE: 4716378.7901955 came back 4716378.79019549...);
    of anything else Spark's result type."""
    if kind(node) != "decimal" or kind(node.this) != "decimal":
        return result_type(node)
    _, s = precision_scale(node.this.type)
    p_sum = min(MAX_PRECISION, precision_scale(node.this.type)[0] + 10)
    if p_sum + 4 > MAX_PRECISION:
        raise refuse(node, f"avg of a {node.this.type.sql('spark')} needs more than 38 digits to "
                           "be exact on the local engine; cast its argument to DOUBLE or to a "
                           "narrower DECIMAL")
    top = over_window(node)
    total, count = top.copy(), top.copy()
    for copy, make in ((total, exp.Sum), (count, exp.Count)):
        inner = copy if isinstance(copy, exp.Avg) else next(copy.find_all(exp.Avg))
        replacement = make(this=inner.this.copy())
        if inner is copy:
            copy = replacement
        else:
            inner.replace(replacement)
        if make is exp.Sum:
            total = copy
        else:
            count = copy
    total.type = exp.DataType.build(f"DECIMAL(38, {s})")
    n = tpl("_n * CAST(10000 AS HUGEINT)", n=unscaled(total))
    d = tpl("CAST(_c AS HUGEINT)", c=count)
    exact = tpl(_HALF_UP.format(scale=s + 4), n=n, d=d, t=node.type,
                unit=exp.Literal.string("0." + "0" * (s + 3) + "1"))
    holder = exp.Null()
    top.replace(holder)
    holder.replace(exact)
    return node


def unscaled(value: exp.Expression) -> exp.Expression:
    """The unscaled integer of an exact number as a HUGEINT (1.50 of DECIMAL(p, 2) is 150)."""
    if kind(value) == "int":
        return tpl("CAST(_a AS HUGEINT)", a=value)
    text = tpl("CAST(CAST(_a AS _t) AS VARCHAR)", a=value, t=value.type)
    return tpl("CAST(REPLACE(_s, '.', '') AS HUGEINT)", s=text)


def decimal_quotient(node: exp.Div) -> exp.Expression:
    """a / b in Spark's result type DECIMAL(p, s), rounded HALF_UP like Spark's BigDecimal
    division (DuckDB divides DECIMALs in DOUBLE): the unscaled integers divided in HUGEINT. A
    quotient whose scaled dividend needs more than 38 digits is refused."""
    (p1, s1), (_, s2) = precision_scale(node.this.type, node.this), precision_scale(
        node.expression.type, node.expression)
    _, scale = precision_scale(node.type)
    shift = scale - s1 + s2
    if p1 + max(shift, 0) > MAX_PRECISION:
        raise refuse(node, f"this decimal division ({node.this.type.sql('spark')} / "
                           f"{node.expression.type.sql('spark')}) needs more than 38 digits to be "
                           "exact on the local engine; cast an operand to DOUBLE or to a narrower "
                           "DECIMAL")
    power = exp.Literal.number(10 ** abs(shift))
    n, d = unscaled(node.this), unscaled(node.expression)
    if shift > 0:
        n = tpl("_n * CAST(_p AS HUGEINT)", n=n, p=power)
    elif shift < 0:
        d = tpl("_d * CAST(_p AS HUGEINT)", d=d, p=power)
    unit = exp.Literal.string("1" if scale == 0 else "0." + "0" * (scale - 1) + "1")
    return tpl(_HALF_UP.format(scale=scale), n=n, d=d, unit=unit, t=node.type)


def result_type(node: exp.Expression) -> exp.Expression:
    """sum, avg, decimal division, ceil/floor: cast to Spark's exact numeric result type, which
    DuckDB's differs from (HUGEINT sums, DOUBLE averages and quotients of DECIMALs, DOUBLE
    ceilings, other decimal precisions)."""
    exact = kind(node) in ("int", "decimal")
    return cast_result(node, node.type.sql("duckdb")) if exact else node


def spark_int(node: exp.Expression) -> exp.Expression:
    """row_number, rank, dense_rank, ntile, datediff, length...: an INT in Spark (DuckDB: a
    BIGINT), cast so the local table holds Spark's type."""
    return cast_result(node, "INTEGER") if node.type is not None and node.type.is_type(
        exp.DataType.Type.INT) else node


def decimal_literal(node: exp.Literal) -> exp.Expression:
    """0.14 is a DECIMAL(2, 2) in Spark, a DECIMAL(3, 2) in DuckDB (which counts the leading
    zero): cast where they differ, so a literal column has Spark's type."""
    text = node.name
    if node.is_string or "." not in text or not node.type or not node.type.is_type(
            exp.DataType.Type.DECIMAL) or text.lstrip("-").split(".")[0].strip("0"):
        return node
    cast = exp.Cast(this=node.copy(), to=node.type.copy())
    cast.type = node.type.copy()
    return cast


def is_decimal(dtype: exp.DataType) -> bool:
    return dtype.is_type(exp.DataType.Type.DECIMAL)


def is_int(dtype: exp.DataType) -> bool:
    return dtype.is_type(exp.DataType.Type.INT)


_WRAP = "CAST(((CAST(_a AS HUGEINT) {op} CAST(_b AS HUGEINT) + {b}) % {m} + {m}) % {m} - {b} AS _t)"
_BITS = {exp.DataType.Type.TINYINT: 8, exp.DataType.Type.SMALLINT: 16, exp.DataType.Type.INT: 32,
         exp.DataType.Type.BIGINT: 64}


def arithmetic(rule: Rule | None = None) -> Rule:
    """+ - * as Spark computes them: integers wrap around in the result type (DuckDB raises
    on overflow, and types TINYINT + 1 as a TINYINT where Spark has an INT), DECIMALs take
    Spark's precision and scale; ``rule`` first (date arithmetic)."""
    decimal = then_cast(None, is_decimal)

    def spark_arithmetic(node: exp.Expression) -> exp.Expression | None:
        new = rule(node) if rule is not None else node
        if new is not node:
            return new
        bits = _BITS.get(node.type.this) if node.type is not None else None
        if bits is not None and kind(node.this) == "int" and kind(node.expression) == "int" \
                and not _constant_fits(node, bits):
            op = {exp.Add: "+", exp.Sub: "-", exp.Mul: "*"}[type(node)]
            wrapped = tpl(_WRAP.format(op=op, b=2 ** (bits - 1), m=2 ** bits),
                          a=node.this, b=node.expression, t=node.type)
            wrapped.type = node.type.copy()
            return wrapped
        return decimal(node)
    return spark_arithmetic


def _constant_fits(node: exp.Expression, bits: int) -> bool:
    """Whether ``node`` is an operation on integer literals whose result fits its type."""
    try:
        values = [int(operand.sql("spark")) for operand in (node.this, node.expression)]
    except ValueError:
        return False
    result = {exp.Add: sum, exp.Sub: lambda v: v[0] - v[1], exp.Mul: lambda v: v[0] * v[1]}[type(node)](values)
    return -(2 ** (bits - 1)) <= result < 2 ** (bits - 1)


def then_cast(rule: Rule | None, wanted: Callable[[exp.DataType], bool]) -> Rule:
    """``rule``, then a cast of its result to the node's Spark type where ``wanted(type)``:
    where DuckDB's type differs (+ - * % of DECIMALs: BIGINT * 1.89 is DECIMAL(22, 2) there,
    DECIMAL(24, 2) in Spark; datediff and length are BIGINTs there, INTs in Spark), so values
    and local tables have Spark's types."""
    def rule_then_cast(node: exp.Expression) -> exp.Expression | None:
        spark = node.type
        new = rule(node) if rule is not None else node
        if new is None or spark is None or not wanted(spark):
            return new
        cast = exp.Cast(this=new.copy() if new is node else new, to=spark.copy())
        cast.type = spark.copy()
        return cast
    return rule_then_cast


# -- aggregates -------------------------------------------------------------------------------
def count_if(node: exp.CountIf) -> exp.Expression:
    """count_if is a BIGINT (DuckDB: HUGEINT)."""
    return cast_result(node, "BIGINT")


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


def percentile_approx(node: exp.ApproxQuantile) -> exp.Expression:
    """percentile_approx returns the element of rank ceil(p * n) (exact below its accuracy)."""
    return tpl("QUANTILE_DISC(_a, _q)", a=node.this, q=node.args["quantile"])


# -- windows ----------------------------------------------------------------------------------
_UNIT_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def window(node: exp.Window) -> exp.Expression:
    """first/last over a window are first_value/last_value (DuckDB drops IGNORE NULLS on
    them), and Adobe's TIME_BETWEEN_PREVIOUS/NEXT_MATCH become a last/first matching time."""
    inner = node.this.this if isinstance(node.this, exp.IgnoreNulls) else node.this
    if isinstance(inner, (exp.First, exp.Last)):
        cls = exp.FirstValue if isinstance(inner, exp.First) else exp.LastValue
        inner.replace(cls(this=inner.this))
        return node
    if isinstance(inner, exp.Anonymous) and inner.name.upper().startswith("TIME_BETWEEN_"):
        return time_between_match(node, inner)
    return node


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
