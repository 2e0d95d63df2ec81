"""Macros and vars: parameterised SQL expanded on the sqlglot AST, never pasted as text.

A macro is a SQL function definition in ``macros/*.sql`` (Spark's SQL-UDF syntax, so the file
stays plain SQL)::

    CREATE FUNCTION safe_ratio(num, den) RETURN CASE WHEN den = 0 THEN NULL ELSE num / den END;

A model calls ``safe_ratio(clicks, opens)``; the call is replaced by the body with each parameter
replaced by the argument's expression (parenthesised). Macros may call macros; recursion, an
unknown name or a wrong number of arguments is an error. ``var('name')`` is replaced by the
literal value of a project var (``vars:`` in project.yml, overridden by ``--vars``).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from runner.validation import did_you_mean, normalize_name, read_text
from runner.errors import ProjectError
from runner.project.parsing import position, statement_starts, syntax_error, token_error
from runner.project.spark_rejects import check_functions


@dataclass(frozen=True)
class Macro:
    """One ``CREATE FUNCTION`` from macros/."""

    name: str
    params: tuple[str, ...]
    body: exp.Expression
    path: str
    line: int | None


def load_macros(root: Path, dialect: str) -> dict[str, Macro]:
    """Read every ``macros/*.sql`` file; ProjectError naming file:line for a bad definition."""
    macros: dict[str, Macro] = {}
    texts: dict[str, str] = {}
    folder = root / "macros"
    if not folder.is_dir():
        return macros
    for file in sorted(folder.rglob("*.sql")):
        rel = file.relative_to(root).as_posix()
        sql = read_text(file, rel)
        try:
            statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
        except ParseError as err:
            raise syntax_error(err, rel, "cannot parse macro file") from None
        except TokenError as err:
            raise token_error(sql, rel, err) from None
        starts = statement_starts(sql, dialect)
        for index, statement in enumerate(statements):
            line, col = starts[index] if index < len(starts) else (None, None)
            macro = _to_macro(statement, rel, line, col)
            if macro.name in macros:
                other = macros[macro.name]
                raise ProjectError(f"macro '{macro.name}' is defined twice (also in "
                                   f"{other.path}:{other.line}); rename one", rel, macro.line)
            macros[macro.name] = macro
            texts[macro.name] = sql
    if dialect == "spark":
        for macro in macros.values():
            check_functions(macro.body, texts[macro.name], macro.path, {*macros, "var"})
    return macros


def _to_macro(statement: exp.Expression, rel: str, line: int | None, col: int | None) -> Macro:
    udf = statement.this if isinstance(statement, exp.Create) else None
    body = statement.expression if isinstance(statement, exp.Create) else None
    if (not isinstance(udf, exp.UserDefinedFunction) or str(statement.args.get("kind")).upper()
            != "FUNCTION" or not isinstance(body, exp.Return)):
        raise ProjectError("a macro file holds statements of the form "
                           "CREATE FUNCTION name(arg, ...) RETURN <expression>;", rel, line, col)
    raw_name = udf.this.name if isinstance(udf.this, exp.Expression) else str(udf.this)
    name = normalize_name(raw_name)
    params = []
    for param in udf.expressions:
        pname = param.name if isinstance(param, (exp.Identifier, exp.ColumnDef)) else None
        if not pname:
            raise ProjectError(f"macro '{name}': parameters are plain names, got "
                               f"'{param.sql()}'", rel, line, col)
        params.append(normalize_name(pname))
    probe = sqlglot.parse_one(f"{raw_name}(1)", read="spark")
    if not isinstance(probe, exp.Anonymous):
        raise ProjectError(f"macro '{name}' has the name of a built-in function; pick another "
                           "name", rel, line, col)
    if len(set(params)) != len(params):
        raise ProjectError(f"macro '{name}' repeats a parameter name", rel, line, col)
    inner = body.this
    for node in inner.walk():
        node.comments = None
    return Macro(name=name, params=tuple(params), body=inner, path=rel, line=line)


def expand(query: exp.Expression, macros: dict[str, Macro], vars_: dict[str, Any], path: str,
           sql: str, *, copy: bool = True) -> exp.Expression:
    """Return ``query`` with macro calls and ``var()`` calls expanded: a copy, or with
    ``copy=False`` the tree itself, rewritten (and not even walked twice when it calls neither).

    Args:
        query: the parsed model query.
        macros: the project's macros by name.
        vars_: the project vars (after --vars overrides).
        path: the model file, for error messages.
        sql: the model's text, for error positions.
        copy: leave ``query`` as it is (False: the caller's tree is rewritten in place).
    """
    if not copy and not any(normalize_name(node.name) == "var" or normalize_name(node.name)
                            in macros for node in query.find_all(exp.Anonymous)):
        return query

    def fail(message: str, node: exp.Expression) -> ProjectError:
        line, col = position(sql, node)
        return ProjectError(message, path, line, col)

    def rewrite(tree: exp.Expression, stack: tuple[str, ...],
                origin: exp.Expression | None) -> exp.Expression:
        """Expand calls in ``tree``; ``origin`` is the model's own call a macro body came from
        (errors inside macro bodies are reported there, where the model's text has them)."""
        def visit(node: exp.Expression) -> exp.Expression:
            if not isinstance(node, exp.Anonymous):
                return node
            where = origin or node
            name = normalize_name(node.name)
            if name == "var":
                return _var_literal(node, vars_, lambda m, _node: fail(m, where))
            macro = macros.get(name)
            if macro is None:
                return node
            if name in stack:
                chain = " -> ".join((*stack, name))
                raise fail(f"macro recursion: {chain}", where)
            if len(node.expressions) != len(macro.params):
                raise fail(f"macro '{name}' takes {len(macro.params)} argument(s) "
                           f"({', '.join(macro.params)}), got {len(node.expressions)} "
                           f"(defined in {macro.path}:{macro.line})", where)
            args = {p: rewrite(a.copy(), stack, origin)
                    for p, a in zip(macro.params, node.expressions)}
            body = _substitute(macro.body.copy(), args)
            return exp.Paren(this=rewrite(body, (*stack, name), where))

        return tree.transform(visit, copy=False)

    return rewrite(query.copy() if copy else query, (), None)


def _substitute(body: exp.Expression, args: dict[str, exp.Expression]) -> exp.Expression:
    def visit(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table:
            arg = args.get(normalize_name(node.name))
            if arg is not None:
                return exp.Paren(this=arg.copy()) if not isinstance(
                    arg, (exp.Column, exp.Literal, exp.Paren)) else arg.copy()
        return node

    return body.transform(visit, copy=False)


def _var_literal(node: exp.Anonymous, vars_: dict[str, Any], fail: Any) -> exp.Expression:
    args = node.expressions
    if len(args) not in (1, 2) or not (isinstance(args[0], exp.Literal) and args[0].is_string):
        raise fail("var() takes the var's name as a string literal: var('as_of_date'), "
                   "optionally with a default: var('name', 'default')", node)
    name = args[0].this
    if name in vars_:
        return to_literal(vars_[name], lambda m: fail(f"var '{name}': {m}", node))
    if len(args) == 2:
        return args[1].copy()
    raise fail(f"unknown var '{name}'{did_you_mean(name, vars_)}; define it under vars: in "
               "project.yml or pass --vars", node)


def to_literal(value: Any, fail: Any) -> exp.Expression:
    """A SQL literal for a YAML value (string, number, boolean, date or null)."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    if isinstance(value, (datetime.date, str)):
        return exp.Literal.string(str(value))
    raise fail(f"a var must be a string, number, boolean or date, not {type(value).__name__}")
