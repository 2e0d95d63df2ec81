"""What Spark rejects, or reads otherwise, but sqlglot reads: refused when a model is loaded.

A local PASS must mean Data Distiller accepts the SQL. sqlglot's Spark dialect is lenient where
Spark is not, and some of that leniency leaves no trace in the tree (``datediff('day', a, b)``
parses like ``datediff(day, a, b)``; ``'it''s'`` is one string on Spark and two concatenated
ones for sqlglot), so the checks here read the model's tokens, and its tree
where the tree keeps the difference (a quoted extract field). Each is confirmed on pyspark (the corpus's
``spark_rejects`` cases).

    >>> try:
    ...     check_spark_text("SELECT datediff('day', a, b) FROM t", "m.sql")
    ... except ProjectError as error:
    ...     print(error.message.split(" (")[0], error.line, error.col)
    `datediff` takes its unit without quotes on Spark 1 8
"""

from __future__ import annotations

import calendar
import re

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.tokens import Token, TokenType

from runner.errors import ProjectError
from runner.project.spark_functions import SPARK_FUNCTIONS
from runner.validation import did_you_mean

# Spark functions whose three-argument form takes a datetime unit written as a bare word.
_UNIT_FIRST = {"DATEDIFF", "DATE_DIFF", "TIMESTAMPDIFF", "TIMESTAMPADD", "DATEADD", "DATE_ADD"}
# Spark functions that take exactly two arguments (sqlglot reads a third).
_TWO_ARGUMENTS = {"DATE_SUB"}
# Spark functions that parse text with a date pattern, their second argument.
_PARSERS = {"TO_TIMESTAMP", "TO_DATE", "UNIX_TIMESTAMP", "TO_UNIX_TIMESTAMP", "TRY_TO_TIMESTAMP"}


def check_spark_text(sql: str, path: str, query: exp.Expression | None = None,
                     tokens: list[Token] | None = None) -> None:
    """Raise ProjectError (file:line:col) at the first construct Spark rejects in ``sql``
    (``tokens``: its Spark tokens, when the caller has them)."""
    if tokens is None:
        tokens = Dialect.get_or_raise("spark").tokenize(sql)
    for i, token in enumerate(tokens):
        if token.token_type == TokenType.STAR and i + 1 < len(tokens) \
                and tokens[i + 1].text.upper() == "EXCLUDE":
            raise _at(sql, path, tokens[i + 1], "* EXCLUDE (...) is not Spark SQL (Spark rejects "
                                                "it); write * EXCEPT (...)")
        if token.token_type == TokenType.DCOLON and i + 1 < len(tokens) \
                and sql[token.start:token.end + 1] == "::":  # not a literal's suffix (2.5D)
            if i >= 2 and tokens[i - 1].token_type == TokenType.NULL \
                    and TokenType.IS in (tokens[i - 2].token_type, tokens[i - 3].token_type if i >= 3 else None):
                raise _at(sql, path, token, "`x IS NULL :: type` is a syntax error on Spark "
                                            "(PARSE_SYNTAX_ERROR); write (x IS NULL) :: type")
            _check_type_name(sql, path, tokens[i + 1], tokens[i + 2:i + 4])
        if token.text.upper() in ("CAST", "TRY_CAST") and i + 1 < len(tokens) \
                and tokens[i + 1].token_type == TokenType.L_PAREN:
            after_as = _cast_type(tokens, i + 1)
            if after_as is not None:
                _check_type_name(sql, path, tokens[after_as], tokens[after_as + 1:after_as + 3])
        if token.token_type == TokenType.FETCH:
            raise _at(sql, path, token, "FETCH FIRST n ROWS ONLY is not Spark SQL (Spark rejects "
                                        "it); write LIMIT n")
        if token.token_type == TokenType.STRING and i + 1 < len(tokens) \
                and tokens[i + 1].token_type == TokenType.STRING and tokens[i + 1].start == token.end + 1:
            raise _at(sql, path, tokens[i + 1], "a doubled quote inside a string literal is one "
                      "quote on Spark ('it''s' is it's) but the local engine would read two "
                      "strings; write the quote as \\' ('it\\'s')")
        if token.text.upper() in _TYPED_LITERALS and i + 1 < len(tokens) \
                and tokens[i + 1].token_type == TokenType.STRING:
            _check_typed_literal(sql, path, token, tokens[i + 1])
        name = token.text.upper()
        if name not in _UNIT_FIRST | _TWO_ARGUMENTS | _PARSERS or i + 1 == len(tokens) \
                or tokens[i + 1].token_type != TokenType.L_PAREN:
            continue
        args = _arguments(tokens, i + 1)
        if name in _PARSERS and len(args) > 1 and len(args[1]) == 1 \
                and args[1][0].token_type == TokenType.STRING:
            _check_year_letters(sql, path, args[1][0])
        if name in _UNIT_FIRST and len(args) == 3 and len(args[0]) == 1 \
                and args[0][0].token_type == TokenType.STRING:
            raise _at(sql, path, token, f"`{token.text}` takes its unit without quotes on Spark "
                      f"(Spark rejects '{args[0][0].text}': INVALID_PARAMETER_VALUE.DATETIME_UNIT); "
                      f"write {token.text}({args[0][0].text.upper()}, ...)")
        if name in _TWO_ARGUMENTS and len(args) != 2:
            raise _at(sql, path, token, f"`{token.text}` takes two arguments on Spark (Spark "
                      f"rejects {len(args)}); for other units write timestampadd(UNIT, -n, ts)")
    if query is not None:
        _check_tree(query, sql, path)


def _check_year_letters(sql: str, path: str, pattern: Token) -> None:
    """sqlglot reads every run of 'y' in a date pattern as 'yyyy'; Spark's 'y' takes any
    number of digits and 'yyy' at least three."""
    runs = {len(run) for run in re.findall(r"y+", re.sub(r"'[^']*'", "", pattern.text))}
    if runs - {2, 4}:
        raise _at(sql, path, pattern, f"the date pattern '{pattern.text}' has a year of "
                  f"{min(runs - {2, 4})} letter(s) y, which the local engine would read as "
                  "yyyy (four digits) where Spark reads any number of digits; write yyyy or yy")


# Spark's own type names (sqlglot also reads other engines' names, such as INT64 or FLOAT64).
_SPARK_TYPES = {"BOOLEAN", "TINYINT", "BYTE", "SMALLINT", "SHORT", "INT", "INTEGER", "BIGINT",
                "LONG", "FLOAT", "REAL", "DOUBLE", "DECIMAL", "DEC", "NUMERIC", "STRING",
                "VARCHAR", "CHAR", "CHARACTER", "BINARY", "DATE", "TIMESTAMP", "TIMESTAMP_NTZ",
                "TIMESTAMP_LTZ", "INTERVAL", "ARRAY", "MAP", "STRUCT", "VOID", "VARIANT"}


_TYPED_LITERALS = {"DATE", "TIMESTAMP", "TIMESTAMP_NTZ", "TIMESTAMP_LTZ"}
# Spark's date part of a DATE or TIMESTAMP literal (SparkDateTimeUtils.stringToDate): a year of
# 4 to 7 digits, then optionally -month and -day, then for a date only a ' ' or 'T' and anything.
_DATE_PART = re.compile(r"\s*[+-]?(\d+)(?:-(\d+)(?:-(\d+))?)?")
_TIME_PART = re.compile(r"[ T](\d+):(\d+)(?::(\d+))?")
_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _check_typed_literal(sql: str, path: str, kind: Token, text: Token) -> None:
    """Refuse a DATE or TIMESTAMP literal whose date part Spark cannot read (Spark rejects the
    statement: INVALID_TYPED_LITERAL; the local engine would fail only when it runs)."""
    value = text.text
    match = _DATE_PART.match(value)
    rest = value[match.end():] if match else value
    problem = None
    if not match or not 4 <= len(match.group(1)) <= 7:
        problem = "its year must have 4 to 7 digits"
    else:
        month, day = (int(g) if g else 1 for g in (match.group(2), match.group(3)))
        leap = calendar.isleap(int(match.group(1)))
        if not 1 <= month <= 12 or not 1 <= day <= _DAYS[month - 1] - (month == 2 and not leap):
            problem = "its month or day is out of range"
        elif rest.strip() and rest[0] not in " T":
            problem = f"'{rest}' follows the date"
        elif kind.text.upper() != "DATE" and (clock := _TIME_PART.match(rest)) and (
                int(clock.group(1)) > 23 or int(clock.group(2)) > 59
                or int(clock.group(3) or 0) > 59):
            problem = "its time is out of range"
    if problem is not None:
        raise _at(sql, path, kind, f"{kind.text.upper()} '{value}' is not a literal Spark reads "
                  f"({problem}; Spark rejects it: INVALID_TYPED_LITERAL); write "
                  f"{kind.text.upper()} 'yyyy-MM-dd{' HH:mm:ss' if kind.text.upper() != 'DATE' else ''}'")


def _cast_type(tokens: list[Token], open_at: int) -> int | None:
    """The index of the first token of the type in ``CAST(x AS type)`` whose '(' is
    ``tokens[open_at]``."""
    depth = 0
    for i in range(open_at, len(tokens) - 1):
        kind = tokens[i].token_type
        depth += kind == TokenType.L_PAREN
        depth -= kind == TokenType.R_PAREN
        if depth == 0:
            return None
        if depth == 1 and kind == TokenType.ALIAS:
            return i + 1
    return None


def _check_type_name(sql: str, path: str, token: Token, after: list[Token] | None = None) -> None:
    """Refuse a type name Spark does not have, or a timestamp of nanoseconds (``after``: the
    two tokens after the name)."""
    if token.text.upper() not in _SPARK_TYPES:
        raise _at(sql, path, token, f"'{token.text}' is not a Spark type name (Spark rejects "
                                    "it: UNSUPPORTED_DATATYPE); use one of BIGINT, INT, DOUBLE, "
                                    "DECIMAL(p, s), STRING, BOOLEAN, DATE, TIMESTAMP, ...")
    if token.text.upper() in ("TIMESTAMP_NTZ", "TIMESTAMP_LTZ") and after and len(after) == 2 \
            and after[0].token_type == TokenType.L_PAREN and after[1].text.isdigit() \
            and int(after[1].text) > 6:
        raise _at(sql, path, token, f"{token.text}({after[1].text}) holds nanoseconds, which Spark "
                                    "rejects (FEATURE_NOT_ENABLED); write "
                                    f"{token.text} (microseconds)")


def _check_tree(query: exp.Expression, sql: str, path: str) -> None:
    for node in query.walk():
        if isinstance(node, exp.Extract) and isinstance(node.this, exp.Literal):
            raise _located(node, sql, path, f"extract takes its field without quotes on Spark (Spark "
                                       f"rejects '{node.this.name}'); write "
                                       f"extract({node.this.name.upper()} FROM ...)")


# Adobe-defined functions (Data Distiller only; the local engine translates the TIME_BETWEEN pair).
ADOBE_FUNCTIONS = frozenset({
    "sess_timeout", "attribution_first_touch", "attribution_last_touch",
    "attribution_first_touch_exp_if", "attribution_first_touch_exp_timeout",
    "attribution_last_touch_exp_if", "attribution_last_touch_exp_timeout", "next", "previous",
    "time_between_previous_match", "time_between_next_match"})
# Spark syntax that reads like a call but is not a registered function (SHOW FUNCTIONS omits it).
_SPARK_SYNTAX = frozenset({"timestampdiff", "timestampadd"})


def check_functions(query: exp.Expression, sql: str, path: str,
                    also: frozenset[str] | set[str] = frozenset()) -> None:
    """Raise ProjectError (file:line:col) at the first call of a function Spark does not have.

    Spark's analyzer refuses it (UNRESOLVED_ROUTINE) where sqlglot reads any name, and may map
    it to a function of the local engine (``truncate`` to DuckDB's ``trunc``). ``also`` names
    the project's macros and ``var``. The name is read from the text, as written.

        >>> from sqlglot import parse_one
        >>> sql = "SELECT gcd(a, b) FROM t"
        >>> try:
        ...     check_functions(parse_one(sql, read="spark"), sql, "m.sql")
        ... except ProjectError as error:
        ...     print(error.message.split(";")[0], error.line, error.col)
        Spark has no function `gcd` (Spark rejects it: UNRESOLVED_ROUTINE) 1 8
    """
    for node in query.walk():
        if not isinstance(node, exp.Func) or "start" not in node.meta:
            continue
        start, end = node.meta["start"], node.meta["end"]
        name = sql[start:end + 1].strip("`").lower()
        if not name.replace("_", "a").isalnum() or name in SPARK_FUNCTIONS \
                or name in ADOBE_FUNCTIONS or name in _SPARK_SYNTAX or name in also:
            continue
        hint = did_you_mean(name, sorted(SPARK_FUNCTIONS | set(also))).strip(" ()")
        raise _error_at(sql, path, start, f"Spark has no function `{name}` (Spark rejects it: "
                        f"UNRESOLVED_ROUTINE); {hint or 'define it as a macro in macros/'}")


def _arguments(tokens: list[Token], open_at: int) -> list[list[Token]]:
    """The top-level arguments (as token lists) of the call whose '(' is ``tokens[open_at]``."""
    args: list[list[Token]] = [[]]
    depth = 0
    for token in tokens[open_at:]:
        if token.token_type in (TokenType.L_PAREN, TokenType.L_BRACKET):
            depth += 1
            if depth == 1:
                continue
        elif token.token_type in (TokenType.R_PAREN, TokenType.R_BRACKET):
            depth -= 1
            if depth == 0:
                break
        elif token.token_type == TokenType.COMMA and depth == 1:
            args.append([])
            continue
        args[-1].append(token)
    return [arg for arg in args if arg] if args != [[]] else []


def _at(sql: str, path: str, token: Token, message: str) -> ProjectError:
    return _error_at(sql, path, token.start, message)


def _error_at(sql: str, path: str, start: int, message: str) -> ProjectError:
    line = sql.count("\n", 0, start) + 1
    return ProjectError(message, path, line, start - (sql.rfind("\n", 0, start) + 1) + 1)


def _located(node: exp.Expression, sql: str, path: str, message: str) -> ProjectError:
    starts = [inner.meta["start"] for inner in node.walk() if "start" in inner.meta]
    return _error_at(sql, path, min(starts), message) if starts else ProjectError(message, path)
