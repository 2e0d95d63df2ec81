"""Spark -> DuckDB rewrites for numbers: integer division, modulo, decimal typing, rounding,
aggregates' result types, percentiles and window functions (Adobe's TIME_BETWEEN_* included).

Same conventions as ``runner.dialect_duckdb``.
"""

from __future__ import annotations

from sqlglot import exp

from runner.dialect import cast_result, over_window, refuse, spark_type, tpl


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
    """bround rounds HALF_EVEN."""
    return tpl("ROUND_EVEN(_a, _d)", a=args[0], d=args[1] if len(args) > 1 else exp.Literal.number(0))


def sign(node: exp.Sign) -> exp.Expression:
    """signum is a DOUBLE in Spark."""
    return exp.cast(node, "DOUBLE")


def result_type(node: exp.Expression) -> exp.Expression:
    """sum, avg, decimal division, ceil/floor: cast to Spark's result type where DuckDB's
    differs (HUGEINT sums, DOUBLE averages and quotients of DECIMALs, DOUBLE ceilings)."""
    spark = spark_type(node)
    return cast_result(node, spark.sql("duckdb")) if spark is not None else node


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
