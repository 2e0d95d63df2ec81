"""Spark SQL made ready for the emulator's PostgreSQL engine (contract §3).

Access into XDM's nested fields (``web.webPageDetails.name``, ``identityMap['ECID'][0].id``)
is rewritten for the jsonb columns that hold them (:mod:`aep_emulator.nested`).

:func:`translate` parses Data Distiller's Spark SQL with sqlglot and renders each statement
for PostgreSQL, stripping the CTAS options ``WITH (schema=…, rowvalidation=…, label=…)`` (they
go on the new dataset, see :mod:`aep_emulator.catalog`) and noting which table a CTAS creates
or an INSERT writes. ``CREATE OR REPLACE VIEW`` replaces the view whatever its new columns, as
Spark does: PostgreSQL refuses a column list that does not extend the old one (42P16), so then
the view is dropped and created again in the query's transaction (:func:`replace_view`).
Data Distiller changes a dataset only by creating it or appending to it (``INSERT INTO t
SELECT ...``): ``DELETE``, ``UPDATE``, ``MERGE`` and ``TRUNCATE`` are refused.
"""

from __future__ import annotations

from typing import NamedTuple

from .nested import Lookup, NestedError, rewrite

import psycopg2
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel, SqlglotError

DD_OPTIONS = ("schema", "rowvalidation", "label")
# statements Data Distiller does not run: its datasets are created or appended to, never edited
REFUSED = {exp.Delete: "DELETE", exp.Update: "UPDATE", exp.Merge: "MERGE",
           exp.TruncateTable: "TRUNCATE"}


class SqlFailure(Exception):
    """A statement the emulated engine rejects; becomes ``errors[{code, message}]``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Statement(NamedTuple):
    """One Spark SQL statement made ready for the PostgreSQL engine."""

    sql: str                  # the statement in PostgreSQL
    creates: str | None       # the table a CTAS creates
    options: dict[str, str]   # the CTAS's Data Distiller WITH options
    writes: str | None        # the table an INSERT writes
    replace_view: tuple[str, ...] = ()  # for CREATE OR REPLACE VIEW: DROP and CREATE, in case
                                        # PostgreSQL refuses the new column list
    nested: tuple[str, dict] | None = None  # a new table or view and its nested columns' types


def translate(text: str, lookup: Lookup | None = None) -> list[Statement]:
    """Spark SQL statements -> :class:`Statement` each, Data Distiller options stripped;
    with ``lookup`` (a table's nested columns and their Spark types), access into nested
    columns is made jsonb extraction (:mod:`aep_emulator.nested`).

    >>> translate("CREATE TABLE t WITH (label='PROFILE') AS SELECT 1 AS a")
    [Statement(sql='CREATE TABLE t AS SELECT 1 AS a', creates='t', options={'label': 'PROFILE'}, writes=None, replace_view=())]
    """
    try:
        parsed = [s for s in sqlglot.parse(text, read="spark") if s is not None]
    except SqlglotError as exc:
        raise SqlFailure("42601", f"Syntax error: {str(exc).splitlines()[0]}") from None
    if not parsed:
        raise SqlFailure("42601", "Syntax error: the query is empty")
    out = []
    for statement in parsed:
        refused = REFUSED.get(type(statement))
        if refused is not None:
            raise SqlFailure("0A000", f"{refused} is not supported: Data Distiller datasets are "
                             "created (CREATE TABLE AS) or appended to (INSERT INTO ... SELECT)")
        creates, writes, options = None, None, {}
        if isinstance(statement, exp.Create) and statement.kind == "TABLE":
            creates = statement.this.find(exp.Table).name.lower()
            props = statement.args.get("properties")
            for prop in list(props.expressions) if props else []:
                key = prop.name.lower() if isinstance(prop, exp.Property) else ""
                if key in DD_OPTIONS:
                    options[key] = prop.args["value"].name
                    prop.pop()
            if props is not None and not props.expressions:
                props.pop()
        elif isinstance(statement, exp.Insert):
            writes = statement.this.find(exp.Table).name.lower()
        nested = None
        if lookup is not None:
            try:
                statement, outputs = rewrite(statement, lookup)
            except NestedError as exc:
                raise SqlFailure("42703", str(exc)) from None
            except (psycopg2.Error, SqlglotError) as exc:
                raise SqlFailure("08006", "the emulator could not read the tables' nested "
                                 f"columns: {str(exc).strip().splitlines()[0]}") from None
            if outputs and isinstance(statement, exp.Create) and statement.kind in ("TABLE",
                                                                                 "VIEW"):
                nested = (statement.this.find(exp.Table).name.lower(), outputs)
        replace_view: list[exp.Expression] = []
        if (isinstance(statement, exp.Create) and statement.kind == "VIEW"
                and statement.args.get("replace")):
            create = statement.copy()
            create.set("replace", False)
            drop = exp.Drop(tables=[statement.this.copy()], kind="VIEW", exists=True)
            replace_view = [drop, create]
        try:
            pg = statement.sql(dialect="postgres", unsupported_level=ErrorLevel.RAISE)
            fallback = tuple(s.sql(dialect="postgres", unsupported_level=ErrorLevel.RAISE)
                             for s in replace_view)
        except SqlglotError as exc:
            raise SqlFailure("0A000", f"Unsupported: {str(exc).splitlines()[0]}") from None
        out.append(Statement(pg, creates, options, writes, fallback, nested))
    return out


def replace_view(cur: psycopg2.extensions.cursor, statement: Statement) -> None:
    """``CREATE OR REPLACE VIEW`` with Spark's meaning: the old view's columns do not matter.

    PostgreSQL's own statement is tried first (it keeps views that read this one working); when
    it refuses the column list, the view is dropped and created in the same transaction.
    """
    cur.execute("SAVEPOINT replace_view")
    try:
        cur.execute(statement.sql)
    except psycopg2.Error as exc:
        if exc.pgcode != "42P16":  # invalid_table_definition: cannot drop/rename view columns
            raise
        cur.execute("ROLLBACK TO SAVEPOINT replace_view")
        for sql in statement.replace_view:
            cur.execute(sql)
    cur.execute("RELEASE SAVEPOINT replace_view")


def writes_of(text: str) -> tuple[bool, bool]:
    """Whether ``text`` holds a CTAS and whether it holds an INSERT INTO (``isCTAS``, ``isInsertInto``).

    SQL that does not parse is neither (the query fails when it runs).

    >>> writes_of("CREATE TABLE t AS SELECT 1 AS a"), writes_of("CREATE TABLE t (a int)")
    ((True, False), (False, False))
    """
    try:
        parsed = [s for s in sqlglot.parse(text, read="spark") if s is not None]
    except SqlglotError:
        return False, False
    ctas = any(isinstance(s, exp.Create) and s.kind == "TABLE"
               and isinstance(s.expression, exp.Query) for s in parsed)
    return ctas, any(isinstance(s, exp.Insert) for s in parsed)
