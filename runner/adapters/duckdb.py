"""The embedded default: a DuckDB database file under ``target/``, no server, no credentials.

One DuckDB connection per database; each worker thread gets its own cursor (DuckDB's way of
sharing one database between threads). Every new cursor runs ````session_setup````
so values match Spark's (UTC time zone and the like).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.adapters.base import Adapter
from runner.validation import expect
from runner.errors import RunError

if TYPE_CHECKING:
    import duckdb
    import pyarrow


class DuckDBAdapter(Adapter):
    """Target ``type: duckdb``."""

    type = "duckdb"
    dialect = "duckdb"
    session_setup = ("SET TimeZone = 'UTC'",)
    binds = True
    config_keys = {
        "path": "the database file, relative to the project (default target/local.duckdb); "
                "':memory:' for a throw-away database",
    }

    def __init__(self, name: str, config: dict[str, Any], root: Path) -> None:
        super().__init__(name, config, root)
        raw = config.get("path", "target/local.duckdb")
        self.path = raw if raw == ":memory:" else str((root / raw).resolve())
        self._con: duckdb.DuckDBPyConnection | None = None
        self._local = threading.local()
        self._lock = threading.Lock()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._functions: set[str] | None = None

    @classmethod
    def validate_config(cls, config: dict[str, Any], keypath: str) -> None:
        super().validate_config(config, keypath)
        if "path" in config:
            expect(config["path"], str, f"{keypath}.path", "a file path")

    def open(self) -> None:
        import duckdb

        if self._con is not None:
            return
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(self.path)
        except duckdb.Error as err:
            raise RunError(f"cannot open DuckDB database {self.path}: {_first_line(err)} "
                           "(is another runner using it?)") from None

    def close(self) -> None:
        with self._lock:
            for cursor in self._cursors:
                cursor.close()
            self._cursors.clear()
            if self._con is not None:
                self._con.close()
                self._con = None
            self._local = threading.local()

    def cancel(self) -> None:
        """Interrupt the statements running on every thread's cursor (Ctrl-C)."""
        with self._lock:
            for cursor in self._cursors:
                cursor.interrupt()

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor on the database (opened on first use)."""
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            if self._con is None:
                self.open()
            with self._lock:
                cursor = self._con.cursor()
                self._cursors.append(cursor)
            for statement in self.session_setup:
                cursor.execute(statement)
            self._local.cursor = cursor
        return cursor

    def execute(self, sql: str) -> None:
        self._run(sql)

    def fetch(self, sql: str) -> list[tuple]:
        return self._run(sql).fetchall()

    def fetch_arrow(self, sql: str) -> pyarrow.Table:
        import duckdb

        try:
            return self.connection.sql(sql).to_arrow_table()
        except duckdb.Error as err:
            raise RunError(_first_line(err)) from None

    def _run(self, sql: str) -> duckdb.DuckDBPyConnection:
        import duckdb

        try:
            return self.connection.execute(sql)
        except duckdb.Error as err:
            raise RunError(_first_line(err)) from None

    def known_functions(self) -> set[str] | None:
        if self._functions is None:
            rows = self.fetch("SELECT DISTINCT lower(function_name) FROM duckdb_functions()")
            self._functions = {name for (name,) in rows}
        return self._functions

    def relations(self) -> dict[str, str]:
        rows = self.fetch("SELECT table_name, table_type FROM information_schema.tables "
                          "WHERE table_schema = current_schema()")
        return {name.lower(): "view" if kind == "VIEW" else "table" for name, kind in rows}


def _first_line(err: BaseException) -> str:
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
