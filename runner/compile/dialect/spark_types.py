"""Spark's type rules: the result type of each operator, function and aggregate we translate.

Non-ANSI Spark with ``spark.sql.decimalOperations.allowPrecisionLoss=true`` (the default). The
rules are sqlglot annotators (``METADATA`` replaces sqlglot's spark annotators for these node
classes), so ``annotate_types`` carries them through CTEs, subqueries, joins and set operations.
A rule gives Spark's type or UNKNOWN, never a guess: an operand of unknown type makes the
result unknown. Each rule is checked against Spark's own analysed types by
``tests/spark_types`` (``typeof.json`` is recorded from pyspark).

    >>> import sqlglot
    >>> q = sqlglot.parse_one("SELECT b * 1.89 AS x FROM t", read="spark")
    >>> spark_annotate(q, {"t": {"b": "BIGINT"}}).selects[0].type.sql()
    'DECIMAL(24, 2)'
"""

from __future__ import annotations

import functools
import re
from typing import Callable

from sqlglot import exp
from sqlglot.dialects.spark import Spark
from sqlglot.optimizer.annotate_types import TypeAnnotator
from sqlglot.schema import ensure_schema

T = exp.DataType.Type
INT_ORDER = [T.TINYINT, T.SMALLINT, T.INT, T.BIGINT]
INT_PRECISION = {T.TINYINT: 3, T.SMALLINT: 5, T.INT: 10, T.BIGINT: 20}
MAX_PRECISION = 38
MIN_ADJUSTED_SCALE = 6
TEXT = set(exp.DataType.TEXT_TYPES)
TIMESTAMPS = {T.TIMESTAMP, T.TIMESTAMPTZ, T.TIMESTAMPLTZ, T.TIMESTAMPNTZ, T.DATETIME}

Rule = Callable[[exp.Expression], "exp.DataType | None"]


def dtype(text: str) -> exp.DataType:
    """The type ``text`` names, as sqlglot reads it (parsed once per text; a copy per call)."""
    return _built(text, None).copy()


def spark_type(text: str) -> exp.DataType:
    """The type a Spark type name names, as Spark's dialect reads it (``CompiledModel`` keeps
    result types by these names; parsed once per name; a copy per call)."""
    return _built(text, "spark").copy()


@functools.cache
def _built(text: str, dialect: str | None) -> exp.DataType:
    return exp.DataType.build(text, dialect=dialect)


def decimal(precision: int, scale: int) -> exp.DataType:
    return dtype(f"DECIMAL({precision}, {scale})")


def known(node: exp.Expression | None) -> exp.DataType | None:
    """``node``'s type, or None when it is unknown (NULL counts as known)."""
    if node is None or node.type is None or node.type.is_type(T.UNKNOWN):
        return None
    return node.type


def family(t: exp.DataType) -> str:
    """int, fractional (FLOAT/DOUBLE), decimal, string, null, or the type's own name."""
    if t.this in INT_PRECISION:
        return "int"
    if t.this in (T.FLOAT, T.DOUBLE):
        return "fractional"
    if t.this in (T.DECIMAL, T.BIGDECIMAL):
        return "decimal"
    if t.this in TEXT:
        return "string"
    if t.this in TIMESTAMPS:
        return "timestamp"
    if isinstance(t.this, exp.Interval):  # INTERVAL DAY, INTERVAL YEAR TO MONTH...
        return "interval"
    return "null" if t.this == T.NULL else t.this.value.lower()


def precision_scale(t: exp.DataType, node: exp.Expression | None = None) -> tuple[int, int]:
    """Decimal (precision, scale) of an exact numeric type; an integer literal operand of an
    arithmetic operator is sized by its digits (Spark's DecimalType.fromLiteral)."""
    if t.this in INT_PRECISION:
        literal = node.unnest() if node is not None else None
        if isinstance(literal, exp.Literal) and literal.is_int:
            return max(len(literal.name.lstrip("-")), 1), 0
        return INT_PRECISION[t.this], 0
    params = [int(p.name) for p in t.expressions] or [10, 0]
    return params[0], params[1] if len(params) > 1 else 0


def adjust(precision: int, scale: int) -> exp.DataType:
    """DecimalType.adjustPrecisionScale: beyond 38 digits keep the integral digits and cut the
    scale, but not below min(scale, 6)."""
    if precision <= MAX_PRECISION:
        return decimal(precision, scale)
    integral = precision - scale
    return decimal(MAX_PRECISION, max(MAX_PRECISION - integral, min(scale, MIN_ADJUSTED_SCALE)))


def bounded(precision: int, scale: int) -> exp.DataType:
    return decimal(min(precision, MAX_PRECISION), min(scale, MAX_PRECISION))


def literal(node: exp.Literal) -> exp.DataType:
    """2.10 is DECIMAL(3, 2) (1e3 and 2.1D are DOUBLE), 2147483648 a BIGINT, wider a DECIMAL."""
    text = node.name
    if node.is_string:
        return dtype("STRING")
    match = re.fullmatch(r"-?(\d*)\.(\d+)", text)
    if match is not None:
        whole, fraction = match.groups()
        return decimal(max(len(whole.lstrip("0")) + len(fraction), len(fraction), 1), len(fraction))
    if re.fullmatch(r"-?\d+", text):
        value = int(text)
        if -(2**31) <= value < 2**31:
            return dtype("INT")
        return dtype("BIGINT") if -(2**63) <= value < 2**63 else decimal(len(text.lstrip("-")), 0)
    return dtype("DOUBLE")


def _decimal_operator(node: exp.Expression, left: exp.DataType, right: exp.DataType) -> exp.DataType:
    (p1, s1), (p2, s2) = precision_scale(left, node.left), precision_scale(right, node.right)
    if isinstance(node, exp.Mul):
        return adjust(p1 + p2 + 1, s1 + s2)
    if isinstance(node, exp.Div):
        scale = max(MIN_ADJUSTED_SCALE, s1 + p2 + 1)
        return adjust(p1 - s1 + s2 + scale, scale)
    scale = max(s1, s2)
    if isinstance(node, exp.Mod):
        return adjust(min(p1 - s1, p2 - s2) + scale, scale)
    return adjust(max(p1 - s1, p2 - s2) + scale + 1, scale)


def arithmetic(node: exp.Binary) -> exp.DataType | None:
    """+ - * / % of numbers (a STRING operand is read as a DOUBLE); DATE +/- an integer."""
    left, right = known(node.left), known(node.right)
    if left is None or right is None:
        return None
    kinds = {family(left), family(right)}
    if "date" in kinds and kinds <= {"date", "int"} and not isinstance(node, (exp.Mul, exp.Div, exp.Mod)):
        return dtype("DATE") if family(left) == "date" or isinstance(node, exp.Add) else None
    if not kinds <= {"int", "fractional", "decimal", "string", "null"}:
        return None
    if kinds == {"null"} or kinds & {"string"}:
        return dtype("DOUBLE")
    left = right if family(left) == "null" else left
    right = left if family(right) == "null" else right
    if "decimal" in kinds and "fractional" not in kinds:
        return _decimal_operator(node, left, right)
    if isinstance(node, exp.Div):
        return dtype("DOUBLE")
    if "fractional" in kinds:
        both_float = {left.this, right.this} <= {T.FLOAT, *INT_PRECISION}
        return dtype("FLOAT" if both_float else "DOUBLE")
    return exp.DataType(this=max(left.this, right.this, key=INT_ORDER.index))


TRY_OPERATORS = {exp.SafeAdd: exp.Add, exp.SafeSubtract: exp.Sub, exp.SafeMultiply: exp.Mul,
                 exp.SafeDivide: exp.Div}


def try_arithmetic(node: exp.Expression) -> exp.DataType | None:
    """try_add, try_subtract, try_multiply, try_divide: the type of their operator."""
    plain = TRY_OPERATORS[type(node)](this=node.this.copy(), expression=node.expression.copy())
    return arithmetic(plain)


def int_div(node: exp.IntDiv) -> exp.DataType | None:
    """``a div b`` of integers is a BIGINT."""
    types = [known(node.this), known(node.expression)]
    return dtype("BIGINT") if all(t is not None and family(t) == "int" for t in types) else None


def wider(types: list[exp.DataType | None]) -> exp.DataType | None:
    """The common type of CASE branches, COALESCE/IF/NULLIF/greatest arguments (NULLs
    ignored; an integer is a DECIMAL(10, 0) next to a decimal, so CASE ... 1 ELSE 0.5 is
    DECIMAL(11, 1); beyond 38 digits the integral digits are kept and the scale cut, to 0 if
    need be)."""
    if any(t is None for t in types):
        return None
    present = [t for t in types if family(t) != "null"]
    if not present:
        return dtype("NULL") if types else None
    kinds = {family(t) for t in present}
    if all(t == present[0] for t in present[1:]):  # structurally one type
        return present[0]
    if kinds <= {"int"}:
        return exp.DataType(this=max((t.this for t in present), key=INT_ORDER.index))
    if kinds <= {"int", "fractional"} or kinds == {"fractional", "decimal"} or kinds == {
            "int", "fractional", "decimal"}:
        floats = {t.this for t in present if family(t) == "fractional"}
        return dtype("FLOAT" if floats == {T.FLOAT} and "decimal" not in kinds else "DOUBLE")
    if kinds <= {"int", "decimal"}:
        sizes = [precision_scale(t) for t in present]
        scale, integral = max(s for _, s in sizes), max(p - s for p, s in sizes)
        if integral + scale <= MAX_PRECISION:
            return decimal(integral + scale, scale)
        return decimal(MAX_PRECISION, max(MAX_PRECISION - integral, 0))  # integral digits first
    if kinds <= {"date", "timestamp"}:
        return dtype("TIMESTAMP")
    if kinds == {"string"}:
        return dtype("STRING")
    if kinds == {"array"}:  # element by element: array() is an ARRAY<NULL> that widens to any
        element = wider([t.expressions[0] if t.expressions else None for t in present])
        return (exp.DataType(this=T.ARRAY, expressions=[element], nested=True)
                if element is not None else None)
    return None


def case(node: exp.Case) -> exp.DataType | None:
    branches = [branch.args.get("true") for branch in node.args.get("ifs") or []]
    default = node.args.get("default")
    return wider([known(b) for b in branches] + ([known(default)] if default else [dtype("NULL")]))


def if_(node: exp.If) -> exp.DataType | None:
    false = node.args.get("false")
    return wider([known(node.args.get("true")), known(false) if false else dtype("NULL")])


def args_wider(*keys: str) -> Rule:
    def rule(node: exp.Expression) -> exp.DataType | None:
        operands = [arg for key in keys for arg in (node.args.get(key) if isinstance(
            node.args.get(key), list) else [node.args.get(key)]) if arg is not None]
        return wider([known(arg) for arg in operands])
    return rule


def same_as(key: str = "this") -> Rule:
    return lambda node: known(node.args.get(key))


def fixed(text: str) -> Rule:
    return lambda node: dtype(text)


def extract(node: exp.Extract) -> exp.DataType | None:
    """extract/date_part: SECOND is a DECIMAL(8, 6) with the fraction, the other fields INT."""
    field = node.name.upper()
    if field in ("SECOND", "SECONDS", "SEC", "SECS", "S"):
        return dtype("DECIMAL(8, 6)")
    return dtype("INT") if field.isalpha() else None


def sum_(node: exp.Sum) -> exp.DataType | None:
    """sum: integers BIGINT, FLOAT/DOUBLE/STRING DOUBLE, DECIMAL(p, s) DECIMAL(p + 10, s)."""
    arg = known(node.this)
    kind = family(arg) if arg is not None else None
    if kind == "decimal":
        p, s = precision_scale(arg)
        return bounded(p + 10, s)
    return {"int": dtype("BIGINT"), "fractional": dtype("DOUBLE"), "string": dtype("DOUBLE"),
            "null": dtype("DOUBLE")}.get(kind)


def avg(node: exp.Avg) -> exp.DataType | None:
    """avg: DOUBLE, and DECIMAL(p + 4, s + 4) of a DECIMAL(p, s)."""
    arg = known(node.this)
    kind = family(arg) if arg is not None else None
    if kind == "decimal":
        p, s = precision_scale(arg)
        return bounded(p + 4, s + 4)
    return dtype("DOUBLE") if kind in ("int", "fractional", "string", "null") else None


def numeric_unary(node: exp.Expression) -> exp.DataType | None:
    """-x and abs(x): the operand's type for a number; -2147483648 is one INT literal."""
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and node.this.is_int:
        return literal(exp.Literal(this=f"-{node.this.name}", is_string=False))
    arg = known(node.this)
    if arg is None:
        return None
    if family(arg) in ("string", "null"):
        return dtype("DOUBLE")
    return arg if family(arg) in ("int", "fractional", "decimal") else None


def rounding(node: exp.Expression) -> exp.DataType | None:
    """round/bround(x, d): a DECIMAL(p, s) becomes DECIMAL(p - s + d' + 1, d') for a literal d,
    with d' = d within 0..s (so round(DECIMAL(13, 2), 3) is a DECIMAL(14, 2)); other numbers
    keep their type."""
    if isinstance(node, exp.Anonymous):
        arg = known(node.expressions[0]) if node.expressions else None
        digits = node.expressions[1] if len(node.expressions) > 1 else None
    else:
        arg, digits = known(node.this), node.args.get("decimals")
    if arg is None or family(arg) not in ("int", "fractional", "decimal"):
        return None
    if family(arg) != "decimal":
        return arg
    try:
        places = 0 if digits is None else int(digits.sql("spark"))
    except ValueError:
        return None
    p, s = precision_scale(arg)
    places = min(max(places, 0), s)
    return bounded(p - s + places + 1, places)


def ceil_floor(node: exp.Expression) -> exp.DataType | None:
    """ceil/floor: BIGINT of an integer or DOUBLE; DECIMAL(p - s + 1, 0) of a DECIMAL(p, s)."""
    arg = known(node.this)
    if arg is None or node.args.get("decimals") is not None:
        return None
    if family(arg) == "decimal":
        p, s = precision_scale(arg)
        return bounded(p - s + 1, 0)
    return dtype("BIGINT") if family(arg) in ("int", "fractional", "string") else None


def modulo(node: exp.Expression) -> exp.DataType | None:
    """pmod(a, n) has the type of a % n."""
    if len(node.expressions) != 2:
        return None
    return arithmetic(exp.Mod(this=node.expressions[0].copy(), expression=node.expressions[1].copy()))


def date_part(node: exp.Anonymous) -> exp.DataType | None:
    """date_part('field', x): as extract(field FROM x)."""
    field = node.expressions[0] if node.expressions else None
    if not (isinstance(field, exp.Literal) and field.is_string):
        return None
    return extract(exp.Extract(this=exp.var(field.name.upper())))


_ANONYMOUS: dict[str, Rule] = {"PMOD": modulo, "BROUND": rounding, "DATE_PART": date_part}


def anonymous(node: exp.Anonymous) -> exp.DataType | None:
    rule = _ANONYMOUS.get(node.name.upper())
    return rule(node) if rule is not None else None


def bracket(node: exp.Bracket) -> exp.DataType | None:
    """m[key] is the map's value type, a[i] the array's element type."""
    container = known(node.this)
    if container is None or len(node.expressions) != 1 or not container.expressions:
        return None
    if container.is_type(T.MAP) and len(container.expressions) == 2:
        return container.expressions[1]
    return container.expressions[0] if container.is_type(T.ARRAY) else None


def window(node: exp.Window) -> exp.DataType | None:
    return known(node.this)


RULES: dict[type, Rule] = {
    exp.Literal: literal, exp.Add: arithmetic, exp.Sub: arithmetic, exp.Mul: arithmetic,
    exp.Div: arithmetic, exp.Mod: arithmetic, exp.IntDiv: int_div, exp.Neg: numeric_unary,
    **{cls: try_arithmetic for cls in TRY_OPERATORS},
    exp.Abs: numeric_unary, exp.Case: case, exp.If: if_,
    exp.Coalesce: args_wider("this", "expressions"), exp.Nullif: same_as("this"),
    exp.Greatest: args_wider("this", "expressions"), exp.Least: args_wider("this", "expressions"),
    exp.Lag: args_wider("this", "default"), exp.Lead: args_wider("this", "default"),
    exp.Sum: sum_, exp.Avg: avg, exp.Count: fixed("BIGINT"), exp.CountIf: fixed("BIGINT"),
    exp.Min: same_as(), exp.Max: same_as(), exp.First: same_as(), exp.Last: same_as(),
    exp.FirstValue: same_as(), exp.LastValue: same_as(), exp.AnyValue: same_as(),
    exp.Window: window, exp.RowNumber: fixed("INT"), exp.Rank: fixed("INT"),
    exp.DenseRank: fixed("INT"), exp.Ntile: fixed("INT"), exp.PercentRank: fixed("DOUBLE"),
    exp.CumeDist: fixed("DOUBLE"), exp.DateDiff: fixed("INT"), exp.Round: rounding,
    exp.Ceil: ceil_floor, exp.Floor: ceil_floor, exp.Sign: fixed("DOUBLE"),
    exp.Length: fixed("INT"), exp.StrPosition: fixed("INT"), exp.ArraySize: fixed("INT"),
    exp.Year: fixed("INT"), exp.Month: fixed("INT"), exp.Day: fixed("INT"),
    exp.DayOfMonth: fixed("INT"), exp.DayOfWeek: fixed("INT"), exp.Hour: fixed("INT"),
    exp.Minute: fixed("INT"), exp.Second: fixed("INT"), exp.Quarter: fixed("INT"),
    exp.DayOfYear: fixed("INT"), exp.WeekOfYear: fixed("INT"), exp.Extract: extract,
    exp.TimestampTrunc: fixed("TIMESTAMP"), exp.Bracket: bracket, exp.Anonymous: anonymous,
}


def _annotator(rule: Rule) -> dict[str, Callable]:
    return {"annotator": lambda self, node: self._set_type(node, rule(node))}


METADATA = {**Spark.EXPRESSION_METADATA, **{cls: _annotator(rule) for cls, rule in RULES.items()}}


def spark_name(t: exp.DataType) -> str:
    """A type as Spark's ``typeof`` spells it: ``decimal(24,2)``, ``struct<a:int>``."""
    if t.this == T.NULL:
        return "void"
    text = t.sql("spark").lower().replace(" ", "").replace("`", "")
    return re.sub(r"timestamp(_ntz|_ltz)?", "timestamp", text)  # a UTC session


class SparkAnnotator(TypeAnnotator):
    """sqlglot's annotator with Spark's rules, set operations included (a UNION's column is the
    wider type of its branches' columns, or unknown)."""

    def _annotate_set_operation(self, expression: exp.SetOperation) -> None:
        operands = []
        for operand in (expression.this.unnest(), expression.expression.unnest()):
            if isinstance(operand, exp.SetOperation):
                operands.append(self._setop_column_types.pop(id(operand), []))
            else:
                operands.append([(s.alias_or_name, s.type) for s in operand.selects])
        left, right = operands
        columns = []
        if left and right and len(left) == len(right) and not expression.args.get("by_name"):
            for (name, left_type), (_, right_type) in zip(left, right):
                types = [exp.DataType.build(t) if t is not None else None for t in (left_type, right_type)]
                common = wider([t if t is not None and not t.is_type(T.UNKNOWN) else None for t in types])
                columns.append((name, common or exp.DataType.build("UNKNOWN")))
        self._setop_column_types[id(expression)] = columns


def spark_annotate(expression: exp.Expression, schema: dict | None = None) -> exp.Expression:
    """Type ``expression`` (in place) by Spark's rules; columns from ``schema``."""
    annotator = SparkAnnotator(schema=ensure_schema(schema, dialect="spark"),
                               expression_metadata=METADATA)
    return annotator.annotate(expression)
