"""The machinery the rule modules share: a rule is a function from a node to its rewrite.

``rewrite`` applies a table of rules bottom-up; ``tpl`` builds DuckDB SQL from a template with
the original operands in place; ``refuse`` makes the located error of a construct that has no
faithful translation.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import sqlglot
from sqlglot import exp

from runner.compile.dialect.types import T, over_window
from runner.errors import ProjectError

Rule = Callable[[exp.Expression], exp.Expression | None]


def refuse(node: exp.Expression, message: str) -> ProjectError:
    """A ProjectError for ``node``, located at the first line/col sqlglot recorded in it."""
    for inner in node.walk():
        if "line" in inner.meta:
            return ProjectError(message, line=inner.meta["line"], col=inner.meta.get("col"))
    return ProjectError(message)


def rewrite(query: exp.Expression, rules: dict[type, Rule]) -> exp.Expression:
    """Apply ``rules`` ({node class: fn(node) -> node, or None to drop it}) bottom-up, so inner
    rewrites come first; a replacement keeps the Spark type of the node it replaces."""
    for node in reversed(list(query.walk())):
        rule = rules.get(type(node))
        if rule is None:
            continue
        new = rule(node)
        if new is None:
            node.pop()
        elif new is not node:
            if new.type is None and node.type is not None:
                new.type = node.type  # the replacement computes the same Spark value
            if node is query:
                query = new
            else:
                node.replace(new)
    return query


# -- helpers for the rule modules ------------------------------------------------------------
@lru_cache(maxsize=None)
def _parsed(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read="duckdb")


def tpl(sql: str, **parts: exp.Expression) -> exp.Expression:
    """Parse a DuckDB template and put copies of ``parts`` where the columns ``_<name>`` stand."""

    def put(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table:
            name = node.name
        elif isinstance(node, exp.DataType) and node.this == T.USERDEFINED:
            name = str(node.args.get("kind"))
        else:
            return node
        part = parts.get(name.lstrip("_"))
        if part is None or not name.startswith("_"):
            return node
        if isinstance(part, (exp.Binary, exp.Unary)) and not isinstance(part, exp.Paren) \
                and isinstance(node.parent, (exp.Binary, exp.Unary)):
            return exp.Paren(this=part.copy())  # keep the operand's precedence
        return part.copy()

    return _parsed(sql).copy().transform(put, copy=False)


def wrap_result(
    node: exp.Expression, make: Callable[[exp.Expression], exp.Expression]
) -> exp.Expression:
    """Put an aggregate's result (with its FILTER and OVER clauses) inside ``make(result)``,
    keeping the very nodes in the tree so later rules still see them; returns ``node``."""
    target = over_window(node)
    holder = exp.Null()
    target.replace(holder)
    holder.replace(make(target))
    return node


def cast_result(node: exp.Expression, to: str) -> exp.Expression:
    """Cast an aggregate's (or its window's) result; returns ``node`` for the rewrite loop."""
    dtype = exp.DataType.build(to, dialect="duckdb")
    return wrap_result(node, lambda target: exp.Cast(this=target, to=dtype))
