"""Shared fixtures: tiny projects written into tmp_path and built in-process on real DuckDB."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

pytest_plugins = ["emulator_fixtures"]


class ProjectDir:
    """A project folder under tmp_path with helpers to write files and read the local target."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def model(self, name: str, sql: str, folder: str = "models") -> Path:
        return self.write(f"{folder}/{name}.sql", sql)

    @property
    def db_path(self) -> Path:
        return self.root / "target" / "local.duckdb"

    def sql(self, query: str) -> list[tuple]:
        """Run a query on the local DuckDB target (read-only use between builds)."""
        con = duckdb.connect(str(self.db_path))
        try:
            return con.execute(query).fetchall()
        finally:
            con.close()

    def seed(self, statements: str) -> None:
        """Run setup statements (raw source tables) on the local target."""
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(self.db_path))
        try:
            con.execute(statements)
        finally:
            con.close()


@pytest.fixture
def project(tmp_path: Path) -> ProjectDir:
    """An empty project named 'demo' with one declared source `raw_orders` (seeded)."""
    proj = ProjectDir(tmp_path / "demo")
    proj.write("project.yml", """
        name: demo
        vars:
          min_amount: 10
        sources:
          raw_orders:
            description: orders as they arrive
          raw_users: {}
        """)
    proj.seed("""
        CREATE TABLE raw_orders AS SELECT * FROM (VALUES
          (1, 'u1', 5.0), (2, 'u1', 20.0), (3, 'u2', 30.0), (4, 'u3', 12.5), (5, 'u3', 7.5))
          AS t(order_id, user_id, amount);
        CREATE TABLE raw_users AS SELECT * FROM (VALUES ('u1', 'gold'), ('u2', 'silver'),
          ('u3', 'gold')) AS t(user_id, tier);
        """)
    return proj


@pytest.fixture
def echo_lines() -> tuple[list[str], Callable[[str], None]]:
    lines: list[str] = []
    return lines, lines.append
