"""Spark -> DuckDB rewrites for exact numbers: DECIMAL and integer results with Spark's types.

Spark divides and averages DECIMALs exactly (HALF_UP at its result scale) where DuckDB uses a
DOUBLE; its integers wrap around in their type where DuckDB raises; its DECIMAL precisions and
its INT results (row_number, datediff, length) differ from DuckDB's. Each rule computes Spark's
value in Spark's type, so the local tables hold the types ``spark_types`` infers.
Same conventions as ``runner.compile.dialect.duckdb``.
"""

from __future__ import annotations

from typing import Callable

from sqlglot import exp

from runner.compile.dialect.rules import Rule, cast_result, refuse, tpl
from runner.compile.dialect.spark_types import MAX_PRECISION, precision_scale
from runner.compile.dialect.types import kind, over_window


_HALF_UP = """
CASE WHEN _d = 0 THEN NULL ELSE TRY_CAST(TRY_CAST(SIGN(_n) * SIGN(_d) * (ABS(_n) // ABS(_d)
  + CASE WHEN ABS(_n) % ABS(_d) >= ABS(_d) - ABS(_n) % ABS(_d) THEN 1 ELSE 0 END) AS DECIMAL(38, 0))
  * CAST(_unit AS DECIMAL(38, {scale})) AS _t) END
"""


_SPLIT = """
CASE WHEN _d = 0 THEN NULL ELSE TRY_CAST(TRY_CAST(SIGN(_n) * SIGN(_d) * ((ABS(_n) // ABS(_d)) * {unit}
  + (ABS(_n) % ABS(_d) * {unit}) // ABS(_d)
  + CASE WHEN (ABS(_n) % ABS(_d) * {unit}) % ABS(_d)
              >= ABS(_d) - (ABS(_n) % ABS(_d) * {unit}) % ABS(_d) THEN 1 ELSE 0 END) AS DECIMAL(38, 0))
  * CAST(_u AS DECIMAL(38, {scale})) AS _t) END
"""


def _unit(scale: int) -> exp.Literal:
    return exp.Literal.string("1" if scale == 0 else "0." + "0" * (scale - 1) + "1")


def average(node: exp.Avg) -> exp.Expression:
    """avg of a DECIMAL(p, s) is exact in Spark: its sum over its count rounded HALF_UP to
    DECIMAL(p + 4, s + 4) (differential testing against Spark; the quotient's own scale is not
    cut by allowPrecisionLoss here); DuckDB
    averages in DOUBLE (4716378.7901955 came back 4716378.79019549...). The unscaled sum is
    divided in HUGEINT in two steps, so nothing overflows where Spark's result fits. Of
    anything else Spark's result type."""
    if kind(node) != "decimal" or kind(node.this) != "decimal":
        return result_type(node)
    _, s = precision_scale(node.this.type)
    _, scale = precision_scale(node.type)
    top = over_window(node)
    total, count = _with_aggregate(top, exp.Sum), _with_aggregate(top, exp.Count)
    total.type = exp.DataType.build(f"DECIMAL(38, {s})")
    exact = tpl(_SPLIT.format(unit=10 ** (scale - s), scale=scale), n=unscaled(total),
                d=tpl("CAST(_c AS HUGEINT)", c=count), u=_unit(scale), t=node.type)
    holder = exp.Null()
    top.replace(holder)
    holder.replace(exact)
    return node


def _with_aggregate(top: exp.Expression, make: type) -> exp.Expression:
    """A copy of an avg (with its FILTER and OVER) computing ``make`` (sum or count) instead."""
    copy = top.copy()
    inner = copy if isinstance(copy, exp.Avg) else next(copy.find_all(exp.Avg))
    replacement = make(this=inner.this.copy())
    if inner is copy:
        return replacement
    inner.replace(replacement)
    return copy


def unscaled(value: exp.Expression) -> exp.Expression:
    """The unscaled integer of an exact number as a HUGEINT (1.50 of DECIMAL(p, 2) is 150)."""
    if kind(value) == "int":
        return tpl("CAST(_a AS HUGEINT)", a=value)
    text = tpl("CAST(CAST(_a AS _t) AS VARCHAR)", a=value, t=value.type)
    return tpl("CAST(REPLACE(_s, '.', '') AS HUGEINT)", s=text)


def decimal_quotient(node: exp.Div) -> exp.Expression:
    """a / b in Spark's result type DECIMAL(p, s), rounded HALF_UP like Spark's BigDecimal
    division (DuckDB divides DECIMALs in DOUBLE): the unscaled integers divided in HUGEINT,
    quotient and remainder apart so that nothing overflows where Spark's result fits; where an
    intermediate overflows, so does Spark's result, which non-ANSI Spark gives as NULL (TRY).
    A quotient whose remainder would need more than 38 digits is refused."""
    (p1, s1), (p2, s2) = precision_scale(node.this.type, node.this), precision_scale(
        node.expression.type, node.expression)
    _, scale = precision_scale(node.type)
    shift = scale - s1 + s2
    n, d = unscaled(node.this), unscaled(node.expression)
    if shift < 0:
        d = tpl("_d * CAST(_p AS HUGEINT)", d=d, p=exp.Literal.number(10 ** -shift))
    elif min(p1, p2) + shift > MAX_PRECISION:
        raise refuse(node, f"this decimal division ({node.this.type.sql('spark')} / "
                           f"{node.expression.type.sql('spark')}) needs more than 38 digits to be "
                           "exact on the local engine; cast an operand to DOUBLE or to a narrower "
                           "DECIMAL")
    elif p1 + shift <= MAX_PRECISION:
        n = tpl("_n * CAST(_p AS HUGEINT)", n=n, p=exp.Literal.number(10 ** shift))
    else:  # the remainder, below b, is scaled instead
        return overflow_is_null(node, tpl(_SPLIT.format(unit=10 ** shift, scale=scale), n=n,
                                          d=d, u=_unit(scale), t=node.type))
    return overflow_is_null(node, tpl(_HALF_UP.format(scale=scale), n=n, d=d, unit=_unit(scale),
                                      t=node.type))


def overflow_is_null(node: exp.Expression, exact: exp.Expression) -> exp.Expression:
    """``exact`` under DuckDB's TRY, so that an intermediate overflow, which means Spark's result
    overflows too, gives Spark's non-ANSI NULL; DuckDB allows no TRY around an aggregate or a
    window, so there an overflow stays a run-time error (loud, never a wrong value)."""
    if node.find(exp.AggFunc, exp.Window):
        return exact
    return tpl("TRY(_q)", q=exact)


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
    zero): cast where they differ, so a literal column has Spark's type. Likewise
    -2147483648, an INT in Spark, is the negation of a BIGINT in DuckDB."""
    text = node.name
    if text == "-2147483648" and node.is_int and node.type is not None and node.type.is_type(
            exp.DataType.Type.INT):
        cast = exp.Cast(this=node.copy(), to=node.type.copy())
        cast.type = node.type.copy()
        return cast
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
            return _wrapped(node, bits)
        if isinstance(node, exp.Mul) and kind(node) == "decimal" and _wide(node):
            return wide_product(node)
        if isinstance(node, (exp.Add, exp.Sub)) and kind(node) == "decimal" and _wide(node):
            return wide_sum(node)
        return decimal(node)
    return spark_arithmetic


_WRAPPED = "runner_wrapped_bits"


def _wrapped(node: exp.Expression, bits: int) -> exp.Expression:
    """``node`` (+ - * of integers) computed in HUGEINT and wrapped into its ``bits``-bit type.

    A chain ``a + b - c + ...`` of one type is summed in HUGEINT and wrapped once: wrapping is
    arithmetic modulo 2^bits, so this is Spark's step-by-step value, and the SQL stays one level
    per operand (a 200-column sum wrapped at each step nested too deeply for the generator).
    """
    def hugeint(operand: exp.Expression) -> exp.Expression:
        return exp.Cast(this=exp.Paren(this=operand) if isinstance(operand, exp.Binary) else operand,
                        to=exp.DataType.build("HUGEINT", dialect="duckdb"))
    # only the left operand continues a chain: a - (b - c) is not a - b - c
    left = _wrapped_sum(node.this, bits) if not isinstance(node, exp.Mul) else None
    total = type(node)(this=left if left is not None else hugeint(node.this),
                       expression=hugeint(node.expression))
    half, full = exp.Literal.number(2 ** (bits - 1)), exp.Literal.number(2 ** bits)
    shifted = exp.Mod(this=exp.Paren(this=exp.Add(this=total, expression=half)), expression=full)
    positive = exp.Mod(this=exp.Paren(this=exp.Add(this=shifted, expression=full.copy())),
                       expression=full.copy())
    cast = exp.Cast(this=exp.Sub(this=positive, expression=half.copy()), to=node.type.copy())
    cast.type = node.type.copy()
    if not isinstance(node, exp.Mul):
        cast.meta[_WRAPPED] = bits
    return cast


def _wrapped_sum(operand: exp.Expression, bits: int) -> exp.Expression | None:
    """The HUGEINT sum inside ``operand`` if it is a +/- chain ``_wrapped`` made for ``bits``."""
    if not isinstance(operand, exp.Cast) or operand.meta.get(_WRAPPED) != bits:
        return None
    node = operand.this
    for step in (exp.Sub, exp.Mod, exp.Paren, exp.Add, exp.Mod, exp.Paren, exp.Add):
        if not isinstance(node, step):
            return None
        node = node.this
    return node


def _wide(node: exp.Expression) -> bool:
    """Whether Spark caps this product or sum at 38 digits (where DuckDB's own can overflow, or
    needs a scale past 38, while Spark's value, rounded at a cut scale, fits or is NULL)."""
    operands = (node.this, node.expression)
    if any(kind(operand) not in ("int", "decimal") for operand in operands):
        return False
    (p1, s1), (p2, s2) = (precision_scale(operand.type, operand) for operand in operands)
    if isinstance(node, exp.Mul):
        return p1 + p2 + 1 > MAX_PRECISION
    return max(p1 - s1, p2 - s2) + 1 + max(s1, s2) > MAX_PRECISION


_WIDE_SUM = ("CAST(CAST(spark_decimal_add(_qa {op} _qb, _ra {op} _rb, CAST('{m}' AS HUGEINT), "
             "CAST('{limit}' AS HUGEINT)) AS DECIMAL(38, 0)) * CAST(_u AS DECIMAL(38, {s})) AS _t)")


def wide_sum(node: exp.Expression) -> exp.Expression:
    """a + b or a - b where Spark's result is capped at DECIMAL(38, s): each operand split into
    its value at Spark's cut scale s and the digits below it, summed apart and rounded HALF_UP
    (macros of the DuckDB adapter), NULL past 38 digits as Spark's non-ANSI sum gives (DuckDB
    keeps the full scale and raises where it overflows)."""
    (_, s1), (_, s2) = (precision_scale(operand.type, operand)
                        for operand in (node.this, node.expression))
    p, s = precision_scale(node.type)
    full = max(s1, s2)
    (qa, ra), (qb, rb) = (_at_scale(unscaled(operand), scale, s, full)
                          for operand, scale in ((node.this, s1), (node.expression, s2)))
    op = "+" if isinstance(node, exp.Add) else "-"
    return overflow_is_null(node, tpl(_WIDE_SUM.format(op=op, m=10 ** (full - s), limit=10 ** p, s=s),
               qa=qa, ra=ra, qb=qb, rb=rb, u=_unit(s), t=node.type))


def _at_scale(value: exp.Expression, scale: int, cut: int, full: int
              ) -> tuple[exp.Expression, exp.Expression]:
    """(the unscaled ``value`` of ``scale`` truncated to scale ``cut``, the digits dropped as
    an integer at scale ``full``), both HUGEINT."""
    if scale <= cut:
        return tpl(f"_v * CAST('{10 ** (cut - scale)}' AS HUGEINT)", v=value), exp.Literal.number(0)
    unit = f"CAST('{10 ** (scale - cut)}' AS HUGEINT)"
    return (tpl(f"_v // {unit}", v=value),
            tpl(f"_v % {unit} * CAST('{10 ** (full - scale)}' AS HUGEINT)", v=value))


_WIDE_PRODUCT = ("CAST(CAST(spark_decimal_mul(_a, _b, {k}, {p}, CAST('{limit}' AS HUGEINT)) "
                 "AS DECIMAL(38, 0)) * CAST(_u AS DECIMAL(38, {s})) AS _t)")


def wide_product(node: exp.Mul) -> exp.Expression:
    """a * b where Spark's result is capped at DECIMAL(38, s): the exact product of the
    unscaled integers (DuckDB macros over 19-digit limbs, ``EXACT_DECIMAL_MACROS`` of the
    DuckDB adapter), rounded HALF_UP at Spark's cut scale, NULL past 38 digits, as Spark's
    non-ANSI multiply gives (DuckDB raises, or needs a scale past 38)."""
    (_, s1), (_, s2) = (precision_scale(operand.type, operand)
                        for operand in (node.this, node.expression))
    p, s = precision_scale(node.type)
    return tpl(_WIDE_PRODUCT.format(k=s1 + s2 - s, p=p, limit=10 ** p, s=s),
               a=unscaled(node.this), b=unscaled(node.expression), u=_unit(s), t=node.type)


def _constant_fits(node: exp.Expression, bits: int) -> bool:
    """Whether ``node`` is an operation on integer literals whose result fits its type."""
    values = [_integer(operand) for operand in (node.this, node.expression)]
    if None in values:
        return False
    left, right = values
    result = {exp.Add: left + right, exp.Sub: left - right, exp.Mul: left * right}[type(node)]
    return -(2 ** (bits - 1)) <= result < 2 ** (bits - 1)


def _integer(node: exp.Expression) -> int | None:
    """The value of an integer literal (or its negation), else None."""
    sign = 1
    if isinstance(node, exp.Neg):
        sign, node = -1, node.this
    if not isinstance(node, exp.Literal) or node.is_string:
        return None
    try:
        return sign * int(node.this)
    except ValueError:
        return None


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


def common_decimal(node: exp.Expression) -> exp.Expression:
    """CASE, IF, COALESCE, greatest and least with a DECIMAL result: each branch is cast to
    Spark's common type as Spark does (DuckDB widens a BIGINT next to a DECIMAL to 19 digits
    where Spark counts 20, so the result types differ)."""
    if kind(node) != "decimal":
        return node
    if isinstance(node, exp.Case):
        operands = [branch.args.get("true") for branch in node.args.get("ifs") or []]
        operands.append(node.args.get("default"))
    elif isinstance(node, exp.If):
        operands = [node.args.get("true"), node.args.get("false")]
    else:
        operands = [node.this, *node.expressions]
    for operand in operands:
        if operand is not None and operand.type is not None and operand.type.is_type(
                *exp.DataType.NUMERIC_TYPES) and operand.type != node.type:
            cast = exp.Cast(this=operand.copy(), to=node.type.copy())
            cast.type = node.type.copy()
            operand.replace(cast)
    return node
