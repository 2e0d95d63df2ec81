"""Parse model SQL with sqlglot and find the tables a query reads.

Dependencies come from sqlglot's scope analysis, never from regexes: a table reference that
names a CTE visible in its scope is not a dependency; comments and string literals are not
tables at all. Names are normalised by ``runner.project.config.normalize_name`` before they become keys.

    >>> q = parse_query("WITH a AS (SELECT * FROM m1) SELECT * FROM a JOIN m2 USING (k)", "x.sql", "spark")
    >>> [reference_name(t) for t in table_references(q)]
    ['m1', 'm2']
"""

from __future__ import annotations

import hashlib
import json
import re

from sqlglot import exp, serde
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType
from sqlglot.optimizer.scope import traverse_scope

from runner.errors import ProjectError
from runner.project.spark_rejects import check_spark_text
from runner.validation import normalize_name


def parse_query(sql: str, path: str, dialect: str) -> exp.Query:
    """Parse one query; ProjectError with file:line:col and the offending text otherwise.

    The text is tokenized once: the parser, the statement positions and the Spark checks
    read the same tokens.
    """
    reader = Dialect.get_or_raise(dialect)
    try:
        tokens = reader.tokenize(sql)
        statements = [s for s in reader.parser().parse(tokens, sql) if s is not None]
    except ParseError as err:
        raise syntax_error(err, path, "cannot parse SQL") from None
    except TokenError as err:
        raise token_error(sql, path, err) from None
    except RecursionError:
        raise too_deep(path) from None
    if not statements:
        raise ProjectError("the file holds no SQL; write one SELECT query", path)
    starts = statement_starts(sql, dialect, tokens)
    if len(statements) > 1:
        line, col = starts[1] if len(starts) > 1 else (None, None)
        raise ProjectError("a model holds exactly one query; this is a second statement "
                           "(move it to its own model file)", path, line, col)
    query = statements[0]
    if not isinstance(query, exp.Query):
        line, col = starts[0] if starts else (None, None)
        kind = query.key.upper()
        raise ProjectError(f"a model is one SELECT query, not a {kind} statement; the runner "
                           "writes the CREATE TABLE for you", path, line, col)
    if dialect == "spark":
        check_spark_text(sql, path, query, tokens)
    for node in query.walk():
        node.comments = None
    return balance_set_operations(query)


# A chain of this many branches or more of one set operation is rebalanced (see below); shorter
# chains, the usual case, keep the parser's tree and so their fingerprints.
LONG_CHAIN = 32
_CHAIN_ARGS = {"this", "expression", "distinct"}


def balance_set_operations(query: exp.Query) -> exp.Query:
    """Rebalance long chains of one associative set operation (``A UNION ALL B UNION ALL ...``).

    The parser nests ``n`` branches ``n`` levels deep on the left, and sqlglot's scope and
    qualification passes then cost O(n^2) and recurse n deep (a few thousand branches exceeded
    Python's stack). UNION [ALL] and INTERSECT [ALL] of one kind are associative and keep the
    branches' order, so a balanced tree of depth log2(n) is the same query (the generator still
    prints it flat); EXCEPT is not associative and is left alone, and so is a branch that
    carries its own modifiers.
    """
    for node in list(query.find_all(exp.Union, exp.Intersect)):
        if isinstance(node.parent, exp.SetOperation) and _same_kind(node.parent, node):
            continue  # an inner link: its chain's top rebalances it
        branches, link = [], node
        while True:
            branches.append(link.expression)
            inner = link.this
            if not (isinstance(inner, type(node)) and _same_kind(node, inner)
                    and set(k for k, v in inner.args.items() if v) <= _CHAIN_ARGS):
                branches.append(inner)
                break
            link = inner
        if len(branches) < LONG_CHAIN:
            continue
        branches.reverse()
        half = len(branches) // 2
        node.set("this", _balanced(node, branches[:half]))
        node.set("expression", _balanced(node, branches[half:]))
    return query


def _same_kind(a: exp.Expression, b: exp.Expression) -> bool:
    return type(a) is type(b) and bool(a.args.get("distinct")) == bool(b.args.get("distinct"))


def _balanced(top: exp.SetOperation, branches: list[exp.Expression]) -> exp.Expression:
    if len(branches) == 1:
        return branches[0]
    half = len(branches) // 2
    return type(top)(this=_balanced(top, branches[:half]),
                     expression=_balanced(top, branches[half:]),
                     distinct=top.args.get("distinct"))


def too_deep(path: str) -> ProjectError:
    """The error for a query nested past Python's stack (hundreds of nested function calls,
    parentheses or subqueries)."""
    return ProjectError("the query nests too deeply to compile (expressions or subqueries "
                        "hundreds of levels inside one another); split it into CTEs or models",
                        path)


_TOKEN = re.compile(r"<Token token_type: [^,]*, text: (.*?), line: \d+.*?>")


def syntax_error(err: ParseError, path: str, what: str) -> ProjectError:
    """sqlglot's first parse error as one located line, its internals said plainly."""
    first = err.errors[0] if err.errors else {}
    text = " ".join(str(first.get("highlight") or "").split())
    text = text if len(text) <= 60 else text[:57] + "..."
    problem = " ".join(str(first.get("description") or str(err).splitlines()[0]).split())
    if "<class" in problem or "Required keyword" in problem:
        problem = "syntax error (an expression or keyword is missing here)"
    problem = _TOKEN.sub(r"'\1'", problem)  # sqlglot quotes a token as its repr
    near = f" near '{text}'" if text else ""
    return ProjectError(f"{what}{near}: {problem}", path, first.get("line"), first.get("col"))


def token_error(sql: str, path: str, err: TokenError) -> ProjectError:
    """The located error of text sqlglot cannot tokenize (its message quotes the text from
    where it gave up)."""
    snippet = str(err).partition("'")[2][:40]
    start = sql.find(snippet) if snippet else -1
    line = col = None
    if start >= 0:
        line, col = sql.count("\n", 0, start) + 1, start - (sql.rfind("\n", 0, start) + 1) + 1
    return ProjectError("cannot parse SQL: it cannot be split into tokens here (a string, "
                        "quoted name or comment that is never closed?)", path, line, col)


def statement_starts(sql: str, dialect: str, tokens: list[Token] | None = None
                     ) -> list[tuple[int, int]]:
    """Line and column of the first token of each statement (of ``tokens``, when the caller
    has tokenized ``sql`` already)."""
    starts: list[tuple[int, int]] = []
    at_start = True
    for token in tokens if tokens is not None else Dialect.get_or_raise(dialect).tokenize(sql):
        if token.token_type == TokenType.SEMICOLON:
            at_start = True
        elif at_start:
            line = sql.count("\n", 0, token.start) + 1
            starts.append((line, token.start - (sql.rfind("\n", 0, token.start) + 1) + 1))
            at_start = False
    return starts


def table_references(query: exp.Expression) -> list[exp.Table]:
    """Every table the query reads that is not a CTE in scope, in order of appearance."""
    found: list[exp.Table] = []
    seen: set[int] = set()
    try:
        scopes = traverse_scope(query)
    except Exception:  # noqa: BLE001 - sqlglot raises several types for exotic SQL
        scopes = []
    if scopes:
        for scope in scopes:
            visible = {normalize_name(name) for name in scope.cte_sources}
            for table in scope.tables:
                if id(table) in seen or normalize_name(table.name) in visible:
                    continue
                seen.add(id(table))
                found.append(table)
    else:  # scope analysis failed: fall back to every table not named like any CTE
        ctes = {normalize_name(c.alias) for c in query.find_all(exp.CTE)}
        found = [t for t in query.find_all(exp.Table)
                 if t.name and normalize_name(t.name) not in ctes]
    found.sort(key=lambda t: t.this.meta.get("start", 0) if isinstance(t.this, exp.Expression) else 0)
    return [t for t in found if t.name]


def reference_name(table: exp.Table) -> str:
    """The normalised dotted name of a table reference (``db.table`` or ``table``)."""
    parts = [p.name for p in table.parts]
    return normalize_name(".".join(parts))


def position(sql: str, node: exp.Expression) -> tuple[int | None, int | None]:
    """1-based line and column where ``node`` starts in ``sql`` (None when unknown)."""
    for candidate in (node, node.this if isinstance(node.this, exp.Expression) else None,
                      *node.walk()):
        if candidate is None:
            continue
        meta = candidate.meta
        if "start" in meta:
            start = meta["start"]
            line = sql.count("\n", 0, start) + 1
            col = start - (sql.rfind("\n", 0, start) + 1) + 1
            return line, col
        if "line" in meta:
            return meta["line"], meta.get("col")
    return None, None


_NOT_SQL = (serde.META, serde.COMMENTS, serde.TYPE)  # positions, comments, inferred types


def query_hash(query: exp.Expression) -> str:
    """A hash of what ``query`` computes: its syntax tree (sqlglot's serialisation) without
    source positions, comments or inferred types, so layout, comments and keyword case never
    change it."""
    nodes = [{k: v for k, v in node.items() if k not in _NOT_SQL} for node in serde.dump(query)]
    text = json.dumps(nodes, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:10]
