"""The emulator's SQL engine: one PostgreSQL database per emulated sandbox.

Data Distiller's tables live in ``<sandbox>:all``; the emulator creates a PostgreSQL database of
exactly that (quoted) name, owned by a login role named after the IMS org id, so a client that
connects with the ``connection_parameters`` it was given (``dbName``, ``username``) reaches it.
The role is cluster-wide and kept; the database is dropped (``WITH (FORCE)``) when the emulator
stops. Administrative statements run on short-lived connections to ``admin_dsn``.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

import psycopg2
from psycopg2 import errors, sql
from psycopg2.extensions import make_dsn, parse_dsn

from .errors import EmulatorError, mask

if TYPE_CHECKING:
    import pyarrow


#: Spark functions PostgreSQL lacks, with Spark's results: ``unix_micros`` (microseconds since
#: the epoch) and ``round`` of a double to ``d`` places, half away from zero, as Spark rounds
#: (through the double's shortest decimal form, as Spark's ``BigDecimal(double)`` does).
SPARK_FUNCTIONS = (
    "CREATE FUNCTION unix_micros(t timestamptz) RETURNS bigint LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT (extract(epoch FROM t) * 1000000)::bigint $$",
    "CREATE FUNCTION unix_micros(t timestamp) RETURNS bigint LANGUAGE sql IMMUTABLE AS "
    "$$ SELECT (extract(epoch FROM t) * 1000000)::bigint $$",
    "CREATE FUNCTION round(x double precision, d integer) RETURNS double precision LANGUAGE sql "
    "IMMUTABLE AS $$ SELECT round(x::numeric, d)::double precision $$",
    # integers keep PostgreSQL's exact round(numeric, d): without these the double overload
    # above would be preferred for them, and lose digits past 2**53
    *(f"CREATE FUNCTION round(x {t}, d integer) RETURNS numeric LANGUAGE sql IMMUTABLE AS "
      "$$ SELECT round(x::numeric, d) $$" for t in ("smallint", "integer", "bigint")),
)


class Engine:
    """A sandbox database on a PostgreSQL server.

    Args:
        admin_dsn: a DSN that may create roles and databases.
        dbname: the sandbox database, ``<sandbox>:all``.
        role: the login role that owns it (the org id).
    """

    def __init__(self, admin_dsn: str, dbname: str, role: str) -> None:
        self.admin_dsn = admin_dsn
        self.dbname = dbname
        self.role = role
        params = parse_dsn(admin_dsn)
        self.host = params.get("host", "127.0.0.1")
        self.port = int(params.get("port", 5432))
        self.dsn = make_dsn(admin_dsn, dbname=dbname, user=role)

    @contextmanager
    def _admin(self) -> Iterator[psycopg2.extensions.cursor]:
        try:
            conn = psycopg2.connect(self.admin_dsn, connect_timeout=10)
        except psycopg2.Error as exc:
            raise EmulatorError(mask(f"emulator: cannot connect to the SQL engine at "
                                f"{self.host}:{self.port}: {str(exc).strip()} (is PostgreSQL "
                                "running with trust authentication?)",
                                parse_dsn(self.admin_dsn).get("password"))) from None
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                yield cur
        finally:
            conn.close()

    def create(self) -> None:
        """Create the owner role (if missing) and the sandbox database."""
        with self._admin() as cur:
            try:
                cur.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(self.role)))
            except (errors.DuplicateObject, errors.UniqueViolation):
                pass  # another emulator created it first
            cur.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(self.dbname), sql.Identifier(self.role)))
        conn = self.connect()  # Data Distiller's table_exists('name') (contract §3.1)
        try:
            with conn, conn.cursor() as cur:
                cur.execute("CREATE FUNCTION table_exists(name text) RETURNS boolean "
                            "LANGUAGE sql STABLE AS $$ SELECT to_regclass(name) IS NOT NULL $$")
                for statement in SPARK_FUNCTIONS:
                    cur.execute(statement)
        finally:
            conn.close()

    def drop(self) -> None:
        """Drop the sandbox database, disconnecting whoever is still connected."""
        with self._admin() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(self.dbname)))

    def connect(self) -> psycopg2.extensions.connection:
        """A new connection to the sandbox database (not autocommit)."""
        return psycopg2.connect(self.dsn, connect_timeout=10)

    def terminate_backends(self) -> int:
        """Terminate every backend connected to the sandbox database; how many were."""
        with self._admin() as cur:
            cur.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = %s AND pid <> pg_backend_pid()", (self.dbname,))
            return int(cur.fetchone()[0])

    def cancel_backend(self, pid: int) -> None:
        """Cancel the statement running on backend ``pid``."""
        with self._admin() as cur:
            cur.execute("SELECT pg_cancel_backend(%s)", (pid,))

    def tables(self) -> set[str]:
        """The tables (not views) in the sandbox database's public schema."""
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                return {row[0] for row in cur.fetchall()}
        finally:
            conn.close()

    def columns(self, table: str) -> list[str]:
        """The column names of ``table`` in the public schema, in table order."""
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT column_name FROM information_schema.columns WHERE "
                            "table_schema = 'public' AND table_name = %s "
                            "ORDER BY ordinal_position", (table,))
                return [row[0] for row in cur.fetchall()]
        finally:
            conn.close()

    def load_arrow(self, name: str, table: pyarrow.Table) -> int:
        """Create the table ``name`` from an Arrow table, nested columns as jsonb; its rows."""
        from .nested import load_table

        conn = self.connect()
        try:
            return load_table(conn, name, table)
        finally:
            conn.close()

    def read_table(self, table: str) -> pyarrow.Table:
        """Every row of ``table`` as an Arrow table (columns in table order).

        Scalar PostgreSQL types map to fixed Arrow types, so an empty table keeps its schema;
        other types (numeric, arrays, json) are inferred from the values.
        """
        import pyarrow as pa

        types = {16: pa.bool_(), 20: pa.int64(), 21: pa.int16(), 23: pa.int32(),
                 700: pa.float32(), 701: pa.float64(), 25: pa.string(), 1043: pa.string(),
                 1042: pa.string(), 17: pa.binary(), 1082: pa.date32(),
                 1114: pa.timestamp("us"), 1184: pa.timestamp("us", tz="UTC")}
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))
                columns = [(d.name, types.get(d.type_code)) for d in cur.description]
                rows = cur.fetchall()
        finally:
            conn.close()
        arrays = [pa.array([row[i] for row in rows], type=kind)
                  for i, (_, kind) in enumerate(columns)]
        return pa.table(arrays, names=[name for name, _ in columns])
