"""The PostgreSQL adapter: build models into a schema of any PostgreSQL database.

A target block gives a libpq ``dsn`` (URL or ``key=value`` form; the core has already substituted
``${ENV}`` references, so a password can come from the environment) and optionally a ``schema``:
it is created when absent and every connection's ``search_path`` points at it, so the runner's
unqualified relation names all live there. Models arrive already transpiled to PostgreSQL by the
core; this module only renders DDL and runs it. Each worker thread has its own autocommit
connection (:class:`~runner.adapters.pg_common.PgSessions`); a connection the server dropped is
reopened once for statements that are safe to repeat, and a ``CREATE TABLE … AS`` that died with
its connection is run again after dropping whatever it left behind.

PostgreSQL's ``CREATE OR REPLACE VIEW`` only accepts a new column list that extends the old one,
so a pointer is moved by dropping and recreating the view in one multi-statement string, which
the server runs as one implicit transaction: readers see the old version or the new one, and a
failed ``CREATE`` leaves the old pointer in place. (A view of the user's own that reads a
pointer makes the ``DROP`` fail with SQLSTATE 2BP01; the runner's own views read versions.)

    targets:
      pg:
        type: postgres
        dsn: postgresql://runner:${PGPASSWORD}@db.example.com:5432/features
        schema: features
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

from sqlglot import exp

from runner.adapters.base import Adapter, ExecResult, TargetConfig, relation
from runner.adapters.pg_common import PgSessions, list_relations, rows_to_arrow, statement_info
from runner.errors import ProjectError
from runner.validation import PROJECT_FILE, expect

if TYPE_CHECKING:
    import pyarrow
    from psycopg2.extensions import connection as Connection


def dsn_password(dsn: str) -> str | None:
    """The password in a libpq DSN (URL or key=value form), or None; unparsable DSNs give None."""
    import psycopg2
    from psycopg2.extensions import parse_dsn

    try:
        return parse_dsn(dsn).get("password")
    except psycopg2.ProgrammingError:
        return None


@dataclass(frozen=True, kw_only=True)
class PostgresConfig(TargetConfig):
    """A ``type: postgres`` target block (the DSN may hold a password: never in the repr)."""

    dsn: str = field(repr=False)
    schema: str | None = None

    @classmethod
    def from_block(cls, block: dict[str, Any], keypath: str) -> Self:
        import psycopg2
        from psycopg2.extensions import parse_dsn

        if "dsn" not in block:
            raise ProjectError(f"{keypath}.dsn: missing; set a PostgreSQL connection string, e.g. "
                               "postgresql://user:${PGPASSWORD}@127.0.0.1:5432/db", PROJECT_FILE)
        dsn = expect(block["dsn"], str, f"{keypath}.dsn", "a connection string")
        try:
            parse_dsn(dsn)
        except psycopg2.ProgrammingError:  # libpq's message may quote the password: not shown
            raise ProjectError(f"{keypath}.dsn: not a valid libpq connection string or "
                               "postgresql:// URL", PROJECT_FILE) from None
        schema = block.get("schema")
        if schema is not None:
            expect(schema, str, f"{keypath}.schema", "a schema name")
        return cls(threads=block.get("threads"), dsn=dsn, schema=schema)


class PostgresAdapter(Adapter):
    """Runs models on PostgreSQL through psycopg2, one connection per worker thread."""

    type: ClassVar[str] = "postgres"
    dialect: ClassVar[str] = "postgres"
    session_setup: ClassVar[tuple[str, ...]] = ("SET TIME ZONE 'UTC'",)
    binds: ClassVar[bool] = True
    runs_translated_sql: ClassVar[bool] = True
    creates_local_sources: ClassVar[bool] = False
    file_suffixes: ClassVar[frozenset[str]] = frozenset()
    writes_datasets: ClassVar[bool] = False
    config_class: ClassVar[type[TargetConfig]] = PostgresConfig
    config_keys: ClassVar[dict[str, str]] = {
        "dsn": "libpq connection string or URL, e.g. postgresql://user:${PGPASSWORD}@host/db",
        "schema": "schema holding every relation (created if absent); default: the DSN's own",
    }
    config: PostgresConfig

    def __init__(self, name: str, config: dict[str, Any], root: Path) -> None:
        super().__init__(name, config, root)
        self._password = dsn_password(self.config.dsn)
        self.sessions = PgSessions(f"target '{name}'", self._connect, self.secrets,
                                   self._set_search_path)

    @property
    def schema(self) -> str | None:
        """The schema holding every relation, or None for the DSN's own."""
        return self.config.schema

    # -- rendering (pure) --------------------------------------------------------------------
    def pointer_sql(self, name: str, physical: str) -> str:
        """``DROP VIEW IF EXISTS name; CREATE VIEW name AS SELECT * FROM physical``.

        One string, so one transaction; safe to repeat after a dropped connection.
        """
        select = exp.select(exp.Star()).from_(relation(physical))
        return f"{self.drop_sql(name, 'view')}; {self.create_view_sql(name, select)}"

    # -- connections -----------------------------------------------------------------------
    def secrets(self) -> list[str | None]:
        """The DSN's password."""
        return [self._password]

    def _connect(self, key: Hashable) -> Connection:
        import psycopg2

        return psycopg2.connect(self.config.dsn, application_name="runner")

    def _set_search_path(self, conn: Connection) -> None:
        from psycopg2 import sql

        with conn.cursor() as cursor:
            for statement in self.session_setup:  # UTC, as Data Distiller's Spark
                cursor.execute(statement)
            if self.schema is not None:
                cursor.execute(sql.SQL("SET search_path TO {}").format(
                    sql.Identifier(self.schema)))

    def open(self) -> None:
        """Connect once and create the schema if it is missing."""
        if self.schema is not None:
            create = exp.Create(this=exp.to_identifier(self.schema), kind="SCHEMA", exists=True)
            self.sessions.run(create.sql(dialect=self.dialect), retry=True)
        else:
            self.sessions.connection()

    def close(self) -> None:
        self.sessions.close()

    def cancel(self) -> None:
        """Cancel running statements (the build was interrupted)."""
        self.sessions.cancel()

    # -- execution -------------------------------------------------------------------------
    def execute(self, sql: str) -> None:
        """Run a statement; repeat it after a dropped connection only if that is safe."""
        self.sessions.run(sql, retry=statement_info(sql, self.dialect).idempotent)

    def fetch(self, sql: str) -> list[tuple]:
        return self.sessions.run(sql, fetch=True, retry=True)[0]

    def fetch_arrow(self, sql: str) -> pyarrow.Table:
        rows, description, _ = self.sessions.run(sql, fetch=True, retry=True)
        return rows_to_arrow(rows, description)

    def materialize(self, sql: str, *, model: str, physical: str) -> ExecResult:
        """Create ``physical``; a CTAS cut off by a dropped connection is redone once, cleanly."""
        info = statement_info(sql, self.dialect)
        is_table = info.kind == "create_table"
        kind = "TABLE" if is_table else "VIEW"
        _, _, rowcount = self.sessions.run(
            sql, retry=True, context=f"model {model}",
            before_retry=lambda: self.sessions.run(self.drop_sql(physical, kind), retry=True),
        )
        return ExecResult(rows=rowcount if is_table and rowcount >= 0 else None)

    def relations(self) -> dict[str, str]:
        """Tables and views of the target schema (the DSN's current schema when none is set)."""
        schema = self.schema if self.schema is not None else exp.func("current_schema")
        return list_relations(self.fetch, schema, self.dialect)
