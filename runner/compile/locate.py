"""Place an engine's bind error in the model's own text.

The engine binds the compiled SQL, so its message names a column or a function but its position
(if any) is in SQL the user never wrote. The name is found again in the model: a column among
the query's column references (sqlglot recorded where each one is), a function among the text's
tokens as a name followed by '('.

    >>> import sqlglot
    >>> text = "SELECT id,\\n       usr_id FROM t"
    >>> q = sqlglot.parse_one(text, read="spark")
    >>> engine_error_position('Binder Error: Referenced column "usr_id" not found', q, text)
    (2, 8)
"""

from __future__ import annotations

import re

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.tokens import TokenType

# DuckDB's and PostgreSQL's messages that name a column or a function.
_COLUMN = [re.compile(p) for p in (
    r'Referenced column "([^"]+)" not found',
    r'does not have a column named "([^"]+)"',
    r'Ambiguous reference to column name "([^"]+)"',
    r'column "?(?:\w+\.)?([^" ]+?)"? does not exist',
    r'column reference "([^"]+)" is ambiguous',
)]
_FUNCTION = [re.compile(p) for p in (
    r'Function with name "?([\w.]+?)"? does not exist',
    r'function ([\w.]+)\(.*\) does not exist',
    r"No function matches the given name and argument types '([\w.]+)\(",
)]


def engine_error_position(message: str, query: exp.Expression,
                          text: str) -> tuple[int, int] | None:
    """Line and column in ``text`` (the model's file, which ``query`` was parsed from) of the
    column or function the engine's error ``message`` names, or None when it names neither or
    the name is not in the model."""
    for pattern in _COLUMN:
        found = pattern.search(message)
        if found:
            return _column(query, found.group(1).split(".")[-1])
    for pattern in _FUNCTION:
        found = pattern.search(message)
        if found:
            return _function(text, found.group(1).split(".")[-1])
    return None


def _column(query: exp.Expression, name: str) -> tuple[int, int] | None:
    metas = [column.this.meta for column in query.find_all(exp.Column)
             if isinstance(column.this, exp.Identifier) and column.name.lower() == name.lower()
             and {"line", "col", "start", "end"} <= column.this.meta.keys()]
    if not metas:
        return None
    first = min(metas, key=lambda meta: meta["start"])
    return first["line"], first["col"] - (first["end"] - first["start"])


def _function(text: str, name: str) -> tuple[int, int] | None:
    tokens = Dialect.get_or_raise("spark").tokenize(text)
    for token, after in zip(tokens, tokens[1:]):
        if token.text.lower() == name.lower() and after.token_type == TokenType.L_PAREN:
            line = text.count("\n", 0, token.start) + 1
            return line, token.start - (text.rfind("\n", 0, token.start) + 1) + 1
    return None
