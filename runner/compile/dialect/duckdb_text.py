"""Spark -> DuckDB rewrites for text and collections: concat, substring, Java's double
formatting, size, order-keeping array functions, exists/forall, map explode.

Same conventions as ``runner.compile.dialect.duckdb``.
"""

from __future__ import annotations

import re

from sqlglot import exp

from runner.compile.dialect.rules import Rule, refuse, tpl, wrap_result
from runner.compile.dialect.types import kind


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
    def literal_int(node: exp.Expression | None) -> int | None:
        return int(node.name) if isinstance(node, exp.Literal) and node.is_int else None

    start_at, count = literal_int(start), literal_int(length)
    if start_at is not None and start_at > 0 and (length is None or count is not None and count >= 0):
        return node
    start0 = tpl("CASE WHEN _p > 0 THEN _p - 1 WHEN _p < 0 THEN LENGTH(_s) + _p ELSE 0 END",
                 p=start, s=node.this)
    if length is None:
        return tpl("SUBSTRING(_s, GREATEST(_start, 0) + 1)", s=node.this, start=start0)
    return tpl(_SUBSTRING, s=node.this, start=start0, len=length)


def like_escape(node: exp.Like | exp.ILike) -> exp.Expression:
    """Spark's LIKE treats a backslash as its escape character; DuckDB's has none by default."""
    pattern = node.expression
    plain = isinstance(pattern, exp.Literal) and "\\" not in pattern.name
    if plain or isinstance(node.parent, exp.Escape):
        return node
    return wrap_result(node, lambda like: exp.Escape(this=like, expression=exp.Literal.string("\\")))


def _re2_replacement(text: str) -> str | None:
    """A Java regex replacement ($1 groups, backslash escapes) in RE2's syntax (\\1 groups),
    or None when it uses what RE2 cannot say (named or two-digit groups, a dangling escape)."""
    out, i = [], 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            if i + 1 == len(text):
                return None
            out.append("\\\\" if text[i + 1] == "\\" else text[i + 1])
            i += 2
        elif char == "$":
            if not re.match(r"\$\d(?!\d)", text[i:]):
                return None
            out.append("\\" + text[i + 1])
            i += 2
        else:
            out.append(char)
            i += 1
    return "".join(out)


def format_string(node: exp.Expression) -> exp.Expression:
    """format_string/printf follow java.util.Formatter (NULL prints 'null'); DuckDB's
    format/printf do not."""
    raise refuse(node, "`format_string` (printf) formats like Java's String.format, which the "
                       "local engine does not; build the text with concat, lpad and "
                       "format_number")


def _matches_empty(pattern: exp.Expression) -> bool:
    """Whether a literal regex can match empty text (Java and RE2 replace such matches
    differently: 'aaa' with a* gives 'xx' in Spark, 'x' in DuckDB)."""
    if not (isinstance(pattern, exp.Literal) and pattern.is_string):
        return False
    try:
        return re.fullmatch(pattern.name, "") is not None
    except re.error:
        return False


def regexp_replace(node: exp.RegexpReplace) -> exp.Expression:
    """regexp_replace's replacement uses Java's $1 for groups (RE2: \\1), and a pattern that
    matches empty text is refused, as is a position below 1, which Spark rejects."""
    position = node.args.get("position")
    if isinstance(position, exp.Neg) or isinstance(position, exp.Literal) and position.is_int \
            and int(position.name) <= 0:
        raise refuse(node, f"`regexp_replace` position {position.sql('spark')} is out of range "
                           "(Spark rejects it: DATATYPE_MISMATCH.VALUE_OUT_OF_RANGE); positions "
                           "count from 1")
    if _matches_empty(node.expression):
        raise refuse(node, f"`regexp_replace` with the pattern '{node.expression.name}', which "
                           "matches empty text, replaces differently on the local engine; use a "
                           "pattern that needs at least one character (a+ rather than a*)")
    replacement = node.args.get("replacement")
    if replacement is None:
        return node
    converted = (_re2_replacement(replacement.name)
                 if isinstance(replacement, exp.Literal) and replacement.is_string else None)
    if converted is None:
        raise refuse(node, "`regexp_replace` needs a literal replacement using $1..$9 for groups "
                           "on the local engine (no computed text, ${name} or $10)")
    replacement.replace(exp.Literal.string(converted))
    return node


def _group_count(pattern: exp.Expression) -> int | None:
    """The number of capturing groups of a literal regex (None when not a literal or not
    readable as a Python regex, whose groups Java counts alike)."""
    if not (isinstance(pattern, exp.Literal) and pattern.is_string):
        return None
    try:
        return re.compile(pattern.name).groups
    except re.error:
        return None


def check_group_index(node: exp.RegexpExtract | exp.RegexpExtractAll) -> None:
    """A literal group index outside 0..groups of a literal pattern: Spark raises
    INVALID_PARAMETER_VALUE.REGEX_GROUP_INDEX (DuckDB returns '' or raises another error)."""
    index = node.args.get("group") or exp.Literal.number(1)
    groups = _group_count(node.expression)
    if isinstance(index, exp.Neg) and isinstance(index.this, exp.Literal):
        wanted = -int(index.this.name) if index.this.is_int else None
    else:
        wanted = int(index.name) if isinstance(index, exp.Literal) and index.is_int else None
    if groups is None or wanted is None or 0 <= wanted <= groups:
        return
    name = "regexp_extract_all" if isinstance(node, exp.RegexpExtractAll) else "regexp_extract"
    raise refuse(node, f"`{name}` group index {wanted} is out of range for a pattern with "
                       f"{groups} group(s) (Spark rejects it: INVALID_PARAMETER_VALUE."
                       f"REGEX_GROUP_INDEX); use an index from 0 to {groups}")


def regexp_extract(node: exp.RegexpExtract) -> exp.Expression:
    """regexp_extract: a literal group index must name a group of a literal pattern."""
    check_group_index(node)
    return node


def regexp_extract_all(node: exp.RegexpExtractAll) -> exp.Expression:
    """regexp_extract_all gives '' for a group that did not take part in a match (DuckDB:
    NULL), and its group index must name a group of a literal pattern."""
    check_group_index(node)
    return tpl("LIST_TRANSFORM(_a, v -> COALESCE(v, ''))", a=node)


def replace(node: exp.Replace) -> exp.Expression:
    """replace(s, search) removes every occurrence (DuckDB needs the empty replacement)."""
    if node.args.get("replacement") is None:
        node.set("replacement", exp.Literal.string(""))
    return node


def reverse(node: exp.Reverse) -> exp.Expression:
    """reverse() of an array reverses its elements (sqlglot would reverse its text)."""
    if kind(node.this) == "array" or isinstance(node.this, exp.Array):
        return tpl("LIST_REVERSE(_a)", a=node.this)
    if kind(node.this) == "string":
        return node
    return exp.Anonymous(this="REVERSE", expressions=[node.this])  # a list fails loudly


def locate(node: exp.StrPosition) -> exp.Expression:
    """locate(sub, s, pos): 0 for pos < 1 or NULL, and 1 for an empty sub (Spark's indexOf)."""
    position = node.args.get("position")
    if position is None:
        return node
    return tpl("CASE WHEN _p IS NULL THEN 0 WHEN _sub IS NULL OR _s IS NULL THEN NULL "
               "WHEN _p < 1 THEN 0 WHEN _sub = '' THEN 1 ELSE _l END",
               p=position, sub=node.args["substr"], s=node.this, l=node)


def left_right(node: exp.Left | exp.Right) -> exp.Expression:
    """left/right with a length <= 0 give '' (DuckDB counts a negative length from the end)."""
    return tpl("CASE WHEN _s IS NULL THEN NULL WHEN _n <= 0 THEN '' ELSE _f END",
               s=node.this, n=node.expression, f=node)


def _binary(node: exp.Expression | None) -> bool:
    return node is not None and node.type is not None and node.type.is_type(
        exp.DataType.Type.BINARY, exp.DataType.Type.VARBINARY)


def pad(node: exp.Pad) -> exp.Expression:
    """lpad/rpad of a BINARY by a BINARY (by default X'00') pad bytes, cycling the pad and cut
    to n bytes (sqlglot's translation repeats the whole pad); done on the hex text, two
    characters a byte. A BINARY padded with a STRING is its text padded. An empty pad leaves
    the value (cut to n); n <= 0 gives an empty value."""
    value, fill = node.this, node.args.get("fill_pattern")
    if _binary(value) and fill is not None and not _binary(fill):
        node.set("this", tpl("DECODE(_a)", a=value))
        return node
    if not _binary(value):
        return node
    fill_hex = tpl("HEX(_p)", p=fill) if fill is not None else exp.Literal.string("00")
    function = "LPAD" if node.args.get("is_left") else "RPAD"
    padded = tpl(f"CASE WHEN _n <= 0 THEN '' WHEN _p = '' OR LENGTH(_h) >= 2 * _n "
                 f"THEN LEFT(_h, 2 * _n) ELSE {function}(_h, 2 * _n, _p) END",
                 n=node.expression, p=fill_hex, h=tpl("HEX(_a)", a=value))
    return tpl("UNHEX(_x)", x=padded)


def chr_(node: exp.Chr) -> exp.Expression:
    """chr(n) is the character n mod 256, '' for a negative n."""
    return tpl("CASE WHEN _n < 0 THEN '' ELSE CHR(CAST(_n % 256 AS INTEGER)) END",
               n=node.expressions[0])


def regexp_instr(node: exp.RegexpInstr) -> exp.Expression:
    """regexp_instr is an INT (sqlglot's translation sums to a HUGEINT)."""
    return exp.cast(node, "INT")


def substring_index(node: exp.SubstringIndex) -> exp.Expression:
    """substring_index(s, delim, n): text before the n-th delimiter (after it, for n < 0);
    '' for an empty delimiter or n = 0, NULL for a NULL argument."""
    return tpl("""CASE WHEN _s IS NULL OR _d IS NULL OR _n IS NULL THEN NULL
                       WHEN _n = 0 OR _d = '' THEN ''
                       WHEN _n > 0 THEN ARRAY_TO_STRING(LIST_SLICE(STRING_SPLIT(_s, _d), 1, _n), _d)
                       ELSE ARRAY_TO_STRING(LIST_SLICE(STRING_SPLIT(_s, _d), _n, -1), _d) END""",
               s=node.this, d=node.args["delimiter"], n=node.args["count"])


# -- arrays and maps --------------------------------------------------------------------------
def size(node: exp.ArraySize) -> exp.Expression:
    """size() of an array or map; -1 for NULL in non-ANSI Spark."""
    return cardinality([node.this])


def cardinality(args: list[exp.Expression]) -> exp.Expression:
    """cardinality() is size(): -1 for NULL (spark.sql.legacy.sizeOfNull, non-ANSI)."""
    return tpl("CAST(COALESCE(CARDINALITY(_a), -1) AS INTEGER)", a=args[0])


def array_contains(node: exp.ArrayContains) -> exp.Expression:
    """array_contains is NULL, not false, when the value is absent but the array holds a NULL."""
    return tpl("CASE WHEN LIST_CONTAINS(_a, _v) THEN TRUE WHEN _a IS NULL OR _v IS NULL THEN NULL "
               "WHEN LIST_COUNT(_a) < LEN(_a) THEN NULL ELSE FALSE END",
               a=node.this, v=node.expression)


def arrays_overlap(args: list[exp.Expression]) -> exp.Expression:
    """arrays_overlap: true on a common non-NULL element, else NULL if both arrays are
    non-empty and one holds a NULL, else false (DuckDB has no arrays_overlap)."""
    return tpl("CASE WHEN _a IS NULL OR _b IS NULL THEN NULL WHEN LIST_HAS_ANY(_a, _b) THEN TRUE "
               "WHEN LEN(_a) > 0 AND LEN(_b) > 0 "
               "AND (LIST_COUNT(_a) < LEN(_a) OR LIST_COUNT(_b) < LEN(_b)) THEN NULL "
               "ELSE FALSE END", a=args[0], b=args[1])


def array_remove(node: exp.ArrayRemove) -> exp.Expression:
    """array_remove keeps the array's NULL elements; NULL when the value is NULL."""
    return tpl("CASE WHEN _v IS NULL THEN NULL "
               "ELSE LIST_FILTER(_a, LAMBDA e : e IS NULL OR e <> _v) END",
               a=node.this, v=node.expression)


def flatten(node: exp.Flatten) -> exp.Expression:
    """flatten is NULL when one of the inner arrays is NULL (DuckDB skips it)."""
    return tpl("CASE WHEN LIST_COUNT(_a) = LEN(_a) THEN FLATTEN(_a) END", a=node.this)


def lambda_index(node: exp.Lambda) -> exp.Expression:
    """transform/filter's (x, i) -> ...: Spark's index i counts from 0, DuckDB's from 1."""
    if not isinstance(node.parent, (exp.Transform, exp.ArrayFilter)) or len(node.expressions) != 2:
        return node
    index = node.expressions[1].name
    for inner in list(node.this.walk()):
        if not isinstance(inner, (exp.Column, exp.Identifier)) or inner.name != index \
                or isinstance(inner, exp.Column) and inner.table \
                or isinstance(inner.parent, exp.Column) or _rebound(inner, node, index):
            continue
        inner.replace(exp.Paren(this=exp.Sub(this=inner.copy(), expression=exp.Literal.number(1))))
    return node


def _rebound(inner: exp.Expression, outer: exp.Lambda, name: str) -> bool:
    """Whether a lambda between ``inner`` and ``outer`` binds ``name`` (or ``inner`` is one of
    its parameters)."""
    parent = inner.parent
    while parent is not None and parent is not outer:
        if isinstance(parent, exp.Lambda) and any(p.name == name for p in parent.expressions):
            return True
        parent = parent.parent
    return False


def zip_with(args: list[exp.Expression]) -> exp.Expression:
    """zip_with(a, b, (x, y) -> f): f over the pairs of elements, the shorter array padded with
    NULLs; NULL when an array is NULL (DuckDB has no zip_with): f with x and y read as a[i] and
    b[i] over the positions of the longer array."""
    if len(args) != 3 or not isinstance(args[2], exp.Lambda) or len(args[2].expressions) != 2:
        raise refuse(args[0].parent, "`zip_with` takes two arrays and a lambda (x, y) -> ...")
    left, right, function = args
    body = exp.Paren(this=function.this.copy())  # a parent even for a bare x
    names = {function.expressions[0].name: left, function.expressions[1].name: right}
    for inner in list(body.walk()):
        variable = isinstance(inner, exp.Column) and not inner.table or isinstance(
            inner, exp.Identifier) and not isinstance(inner.parent, exp.Column)
        if variable and inner.name in names and not _rebound(inner, function, inner.name):
            inner.replace(exp.Bracket(this=names[inner.name].copy(), expressions=[exp.column("zip_i")]))
    positions = tpl("RANGE(1, GREATEST(LEN(_a), LEN(_b)) + 1)", a=left, b=right)
    pairs = exp.Anonymous(this="LIST_TRANSFORM", expressions=[
        positions, exp.Lambda(this=body, expressions=[exp.to_identifier("zip_i")])])
    return tpl("CASE WHEN _a IS NULL OR _b IS NULL THEN NULL ELSE _z END", a=left, b=right, z=pairs)


def elt(node: exp.Elt) -> exp.Expression:
    """elt(n, s1, s2, ...): the n-th string, NULL for n out of range (DuckDB has no elt)."""
    values = node.expressions
    if any(kind(value) not in ("string", None) or value.type is None for value in values):
        raise refuse(node, "`elt` of values that are not strings is not supported on the local "
                           "engine (Spark casts them to text); cast each value to STRING")
    return exp.Case(this=node.this, ifs=[exp.If(this=exp.Literal.number(i + 1), true=value)
                                         for i, value in enumerate(values)])


def map_contains_key(node: exp.MapContainsKey) -> exp.Expression:
    """map_contains_key(m, k) (sqlglot swaps the arguments); a STRING key against a map with
    numeric keys, or the other way round, is refused, as Spark does."""
    key, dtype = node.args["key"], node.this.type
    key_type = dtype.expressions[0] if dtype is not None and dtype.is_type(
        exp.DataType.Type.MAP) and dtype.expressions else None
    kinds = {"string" if t.is_type(*exp.DataType.TEXT_TYPES) else "other"
             for t in (key_type, key.type) if t is not None and not t.is_type(
                 exp.DataType.Type.NULL, exp.DataType.Type.UNKNOWN)}
    if len(kinds) == 2:
        raise refuse(node, "`map_contains_key` with a key whose type differs from the map's keys "
                           "(Spark rejects it: DATATYPE_MISMATCH.MAP_FUNCTION_DIFF_TYPES); cast "
                           "the key to the map's key type")
    return tpl("LIST_CONTAINS(MAP_KEYS(_m), _k)", m=node.this, k=key)


def regexp_substr(node: exp.RegexpSubstr) -> exp.Expression:
    """regexp_substr: the first match, NULL when there is none or it is empty."""
    return tpl("NULLIF(REGEXP_EXTRACT(_s, _p, 0), '')", s=node.this, p=node.expression)


def split_limit(node: exp.RegexpSplit) -> exp.Expression:
    """split(s, regex, limit): a limit <= 0 is no limit; a positive limit (the last element
    keeps the rest of the text) is refused."""
    limit = node.args.get("limit")
    if limit is None:
        return node
    if isinstance(limit, exp.Literal) and limit.is_int and int(limit.name) <= 0:
        node.set("limit", None)
        return node
    raise refuse(node, "`split` with a limit is not supported on the local engine; split "
                       "without one and rebuild the tail with array_join(slice(...))")


def contains(node: exp.Contains) -> exp.Expression:
    """contains with a NULL literal is a NULL BOOLEAN (DuckDB cannot pick the overload)."""
    for key in ("this", "expression"):
        if isinstance(node.args.get(key), exp.Null):
            node.set(key, exp.cast(exp.null(), "VARCHAR"))
    return node


def arrays_zip(node: exp.ArraysZip) -> exp.Expression:
    """arrays_zip names the struct fields after its arguments ('0', '1' for expressions)."""
    raise refuse(node, "`arrays_zip` names its struct fields differently on the local engine; "
                       "build the structs with transform(a, (x, i) -> named_struct('a', x, 'b', b[i]))")


def sequence(node: exp.GenerateSeries) -> exp.Expression:
    """sequence(start, stop) counts down when start > stop (DuckDB: an empty list)."""
    if node.args.get("step") is not None or kind(node.args["start"]) not in ("int", None):
        return node
    node.set("step", tpl("CASE WHEN _s <= _e THEN 1 ELSE -1 END",
                         s=node.args["start"], e=node.args["end"]))
    return node


def array_distinct(node: exp.ArrayDistinct) -> exp.Expression:
    """array_distinct keeps first occurrences in order (DuckDB's list_distinct does not, and
    drops NULL)."""
    return tpl(_IN_ORDER_DISTINCT, l=node.this)


def collect_empty(node: exp.ArrayAgg | exp.ArrayUniqueAgg) -> exp.Expression:
    """collect_list/collect_set of no non-NULL values is an empty array, not NULL."""
    return wrap_result(node, lambda target: exp.Coalesce(this=target, expressions=[exp.Array()]))


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


def struct_star(node: exp.Column) -> exp.Expression:
    """web.webPageDetails.* expands a nested struct's fields (DuckDB: UNNEST of the struct);
    a star after a qualified table name (db.table.*) is left alone."""
    parts = [part.name for part in node.parts[:-1]]
    if not isinstance(node.this, exp.Star) or len(parts) < 2:
        return node
    select = node.find_ancestor(exp.Select)
    sources = list(select.find_all(exp.Table)) if select else []
    tables = {tuple(p.name for p in table.parts) for table in sources}
    aliases = {table.alias for table in sources}
    if tuple(parts) in tables or parts[-1] in aliases:
        return node
    path = exp.column(parts[1], parts[0]) if len(parts) == 2 else exp.Dot.build(
        [exp.to_identifier(p) for p in parts])
    return exp.Unnest(expressions=[path])


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
    return tpl("CASE WHEN _a IS NOT NULL AND _v IS NOT NULL "
               "THEN COALESCE(ARRAY_POSITION(_a, _v), 0) END", a=node.this, v=node.expression)


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


def format_number(args: list[exp.Expression]) -> exp.Expression:
    """format_number(x, d): grouped thousands and d decimals."""
    if len(args) != 2 or not (isinstance(args[1], exp.Literal) and args[1].is_int):
        raise refuse(args[0].parent, "`format_number` with a pattern or a computed number of "
                                     "decimals is not supported on the local engine; use a "
                                     "literal integer")
    return tpl(f"FORMAT('{{:,.{int(args[1].name)}f}}', CAST(_a AS DOUBLE))", a=args[0])


# Java regex syntax RE2 (DuckDB's engine) cannot run: lookaround, atomic groups, possessive
# quantifiers, backreferences, \G and \Z anchors, Java's \p{Is...}/\p{java...} classes.
_JAVA_ONLY = re.compile(r"\(\?<?[=!]|\(\?>|[*+?}]\+|\\[1-9]|\\[GZ]|\\[pP]\{(?:Is|java|In)")


def java_regex(rule: Rule | None) -> Rule:
    """``rule``, after refusing a literal pattern in Java syntax that RE2 cannot run (DuckDB
    would fail when the model runs; Spark, on Java's regex engine, runs it)."""
    def checked(node: exp.Expression) -> exp.Expression | None:
        pattern = node.expression
        if isinstance(pattern, exp.Literal) and pattern.is_string:
            found = _JAVA_ONLY.search(pattern.name)
            if found:
                raise refuse(node, f"the regular expression '{pattern.name}' uses Java-only "
                                   f"syntax ({found.group(0)!r}: lookaround, atomic groups, "
                                   "possessive quantifiers, backreferences) that the local "
                                   "engine's RE2 cannot run; rewrite it without")
        return rule(node) if rule is not None else node
    return checked


_BASE64 = ("FROM_BASE64(CASE WHEN STRPOS(_t, '=') > 0 THEN _t "
           "ELSE _t || REPEAT('=', (4 - LENGTH(_t) % 4) % 4) END)")


def unbase64(node: exp.Expression) -> exp.Expression:
    """unbase64 and to_binary(s, 'base64') decode as Java's MIME decoder does: characters
    outside the alphabet are skipped and the padding may be left out (DuckDB requires both)."""
    if isinstance(node, exp.ToBinary):
        fmt = node.args.get("format")
        if not (isinstance(fmt, exp.Literal) and fmt.name.lower() == "base64"):
            return node
    text = tpl("REGEXP_REPLACE(_s, '[^A-Za-z0-9+/=]', '', 'g')", s=node.this)
    return tpl(_BASE64, t=text)
