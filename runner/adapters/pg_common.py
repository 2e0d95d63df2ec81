"""What the PostgreSQL and Data Distiller adapters share: psycopg2 sessions over the wire protocol.

Both engines speak the PostgreSQL protocol, so both keep one autocommit psycopg2 connection per
worker thread (the core's scheduler runs models on several threads; a psycopg2 connection must not
be used by two threads at once). :class:`PgSessions` owns those connections, turns every driver
error into a :class:`~runner.errors.RunError` carrying the engine's first message line and SQLSTATE
(``pgcode``) with secrets masked, and survives a dropped connection (the server terminated the
backend, a proxy timed out) by reconnecting once when the statement is safe to run again.

>>> statement_info("CREATE OR REPLACE VIEW v AS SELECT 1", "postgres")
StatementInfo(kind='create_view', idempotent=True, target='v', sources=())
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from runner.errors import RunError
from runner.platform.secrets import Secret, mask
from runner.project.parsing import reference_name, table_references

if TYPE_CHECKING:
    import pyarrow
    from psycopg2.extensions import connection as Connection

# SQLSTATEs that mean "this connection is gone" (class 08 and the 57P0x shutdown codes).
_DISCONNECT_CODES = ("57P01", "57P02", "57P03")

# psycopg2 type OIDs -> Arrow types, so empty results still carry typed columns.
_ARROW_TYPES = {
    16: "bool_", 20: "int64", 21: "int16", 23: "int32", 700: "float32", 701: "float64",
    25: "string", 1043: "string", 1042: "string", 1082: "date32", 1114: "timestamp",
    1184: "timestamptz",
}


@dataclass(frozen=True)
class StatementInfo:
    """What a statement does, as far as retrying and routing care.

    ``kind`` is one of create_table, create_view, insert, drop, select, other; ``target`` the
    relation it creates, fills or drops; ``sources`` the tables it reads (CTEs excluded), sorted.
    """

    kind: str
    idempotent: bool
    target: str | None = None
    sources: tuple[str, ...] = ()


def statement_info(sql: str, dialect: str) -> StatementInfo:
    """Classify ``sql`` with sqlglot; anything unparsable is ``other`` and not idempotent.

    A string of several statements (PostgreSQL runs it as one implicit transaction) is described
    by its last one, and is idempotent when each statement is: a plain ``CREATE`` counts as
    idempotent after a ``DROP … IF EXISTS`` of the same relation earlier in the string.

    >>> statement_info("DROP VIEW IF EXISTS m; CREATE VIEW m AS SELECT * FROM m__1", "postgres")
    StatementInfo(kind='create_view', idempotent=True, target='m', sources=('m__1',))
    """
    try:
        trees = [tree for tree in sqlglot.parse(sql, read=dialect) if tree is not None]
    except sqlglot.errors.ParseError:
        return StatementInfo("other", False)
    if not trees:
        return StatementInfo("other", False)
    dropped: set[str] = set()
    idempotent = True
    for tree in trees:
        info = _one_statement_info(tree)
        replaces = info.kind.startswith("create_") and info.target in dropped
        idempotent = idempotent and (info.idempotent or replaces)
        if info.kind == "drop" and info.idempotent and info.target:
            dropped.add(info.target)
    return StatementInfo(info.kind, idempotent, info.target, info.sources)


def _one_statement_info(tree: exp.Expression) -> StatementInfo:
    target_table = tree.this if isinstance(tree, (exp.Create, exp.Insert)) else None
    if isinstance(tree, exp.Drop):
        tables = tree.args.get("tables") or [tree.this]
        target_table = tables[0] if tables else None
    target = _table_name(target_table) if isinstance(target_table, exp.Table) else None
    if isinstance(target_table, exp.Schema) and isinstance(target_table.this, exp.Table):
        target = _table_name(target_table.this)
    sources = _sources(tree, target)
    if isinstance(tree, exp.Create):
        kind = {"TABLE": "create_table", "VIEW": "create_view"}.get(str(tree.kind).upper(), "other")
        idempotent = bool(tree.args.get("replace")) or bool(tree.args.get("exists"))
        return StatementInfo(kind, idempotent, target, sources)
    if isinstance(tree, exp.Drop):
        return StatementInfo("drop", bool(tree.args.get("exists")), target)
    if isinstance(tree, exp.Insert):
        return StatementInfo("insert", False, target, sources)
    if isinstance(tree, exp.Query):
        return StatementInfo("select", True, None, sources)
    return StatementInfo("other", False)


def _table_name(table: exp.Table) -> str:
    return ".".join(part.name for part in table.parts).lower()


def _sources(tree: exp.Expression, target: str | None) -> tuple[str, ...]:
    """The tables a statement reads (CTEs in scope are not tables), sorted."""
    return tuple(sorted({reference_name(t) for t in table_references(tree)} - {target}))


def list_relations(fetch: Callable[[str], list[tuple]], schema: str | exp.Expression | None,
                   dialect: str) -> dict[str, str]:
    """Tables and views from ``information_schema.tables``: ``{lowercased name: 'table'|'view'}``.

    Args:
        fetch: runs a query and returns its rows.
        schema: the schema to list (a name or an expression such as ``current_schema()``), or
            None for every schema but the system ones.
    """
    column = exp.column("table_schema")
    if isinstance(schema, str):
        schema = exp.Literal.string(schema)
    where = (column.eq(schema) if schema is not None
             else exp.not_(column.isin("pg_catalog", "information_schema")))
    query = exp.select("table_name", "table_type").from_("information_schema.tables").where(where)
    rows = fetch(query.sql(dialect=dialect))
    return {str(name).lower(): "view" if kind == "VIEW" else "table" for name, kind in rows}


def pg_error(error: Exception, target: str, secrets: Iterable[str | Secret | None],
             context: str | None = None) -> RunError:
    """A RunError for a psycopg2 error: target, context, first message line, SQLSTATE; masked.

    The SQLSTATE is also kept as ``.pgcode`` on the returned error.
    """
    pgcode = getattr(error, "pgcode", None)
    diag = getattr(error, "diag", None)
    text = (getattr(diag, "message_primary", None) or getattr(error, "pgerror", None)
            or str(error)).strip()
    line = text.splitlines()[0].removeprefix("ERROR:").strip() if text else type(error).__name__
    where = f"{target}: {context}: " if context else f"{target}: "
    state = f" (SQLSTATE {pgcode})" if pgcode else ""
    result = RunError(mask(f"{where}{line}{state}", *secrets))
    result.pgcode = pgcode  # type: ignore[attr-defined]
    return result


def is_disconnect(error: Exception, conn: Any) -> bool:
    """Whether ``error`` means the connection died (rather than the statement failing)."""
    import psycopg2

    if getattr(conn, "closed", 0):
        return True
    pgcode = getattr(error, "pgcode", None) or ""
    if pgcode in _DISCONNECT_CODES or pgcode.startswith("08"):
        return True
    return isinstance(error, psycopg2.InterfaceError)


def rows_to_arrow(rows: list[tuple], description: Any) -> pyarrow.Table:
    """Turn psycopg2 rows and ``cursor.description`` into an Arrow table."""
    import pyarrow as pa

    names = [col.name for col in description]
    columns: dict[str, Any] = {}
    for index, col in enumerate(description):
        values = [row[index] for row in rows]
        type_name = _ARROW_TYPES.get(col.type_code)
        if type_name == "timestamp":
            arrow_type = pa.timestamp("us")
        elif type_name == "timestamptz":
            arrow_type = pa.timestamp("us", tz="UTC")
        else:
            arrow_type = getattr(pa, type_name)() if type_name else None
        columns[names[index]] = pa.array(values, type=arrow_type)
    return pa.table(columns) if columns else pa.table({})


class PgSessions:
    """One autocommit psycopg2 connection per (thread, key), reconnected once when dropped.

    Args:
        target: the target's name, the first word of every error message.
        connect: opens a new connection for a key (the adapter knows host, database, password).
        secrets: returns the values to mask in error messages (a password, a token).
        on_connect: run on every new connection (e.g. ``SET search_path``).
    """

    def __init__(self, target: str, connect: Callable[[Hashable], Connection],
                 secrets: Callable[[], Iterable[str | Secret | None]],
                 on_connect: Callable[[Connection], None] | None = None) -> None:
        self.target = target
        self._connect = connect
        self._secrets = secrets
        self._on_connect = on_connect
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[Connection] = []

    def connection(self, key: Hashable = "") -> Connection:
        """This thread's connection for ``key``, opened on first use."""
        import psycopg2

        pool: dict[Hashable, Connection] = self._local.__dict__.setdefault("pool", {})
        conn = pool.get(key)
        if conn is not None and not conn.closed:
            return conn
        try:
            conn = self._connect(key)
            conn.autocommit = True
            if self._on_connect is not None:
                self._on_connect(conn)
        except psycopg2.Error as error:
            raise pg_error(error, self.target, self._secrets(), "cannot connect") from None
        pool[key] = conn
        with self._lock:
            self._all.append(conn)
        return conn

    def discard(self, key: Hashable = "") -> None:
        """Forget (and close) this thread's connection for ``key``."""
        conn = self._local.__dict__.get("pool", {}).pop(key, None)
        if conn is not None:
            with self._lock:
                self._all = [other for other in self._all if other is not conn]
            self._close_one(conn)

    def run(self, sql: str, *, key: Hashable = "", fetch: bool = False, retry: bool = False,
            before_retry: Callable[[], None] | None = None, context: str | None = None,
            ) -> tuple[list[tuple], Any, int]:
        """Run one statement; return ``(rows, description, rowcount)`` (rows empty unless fetch).

        Args:
            retry: the statement may run again after a dropped connection (once).
            before_retry: called before that second run (e.g. drop a partial table).
            context: a phrase naming what ran (a model) for the error message.

        Raises:
            RunError: the engine's message and SQLSTATE, secrets masked.
        """
        import psycopg2

        for attempt in (1, 2):
            conn = self.connection(key)
            try:
                with conn.cursor() as cursor:
                    cursor.execute(sql)
                    rows = cursor.fetchall() if fetch else []
                    return rows, cursor.description, cursor.rowcount
            except psycopg2.Error as error:
                dropped = is_disconnect(error, conn)
                if dropped:
                    self.discard(key)
                if not (dropped and retry and attempt == 1):
                    raise pg_error(error, self.target, self._secrets(), context) from None
            if before_retry is not None:
                before_retry()
        raise AssertionError("unreachable")

    def cancel(self) -> None:
        """Cancel the statement running on every connection (from any thread; Ctrl-C)."""
        import psycopg2

        with self._lock:
            conns = list(self._all)
        for conn in conns:
            try:
                conn.cancel()
            except psycopg2.Error:  # already closed or idle: nothing to cancel
                pass

    def close(self) -> None:
        """Close every connection any thread opened."""
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            self._close_one(conn)
        self._local = threading.local()

    @staticmethod
    def _close_one(conn: Connection) -> None:
        try:
            conn.close()
        except Exception:  # closing a dead connection may raise; there is nothing to release
            pass
