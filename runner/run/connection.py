"""A project opened from Python (a notebook): build it, and query its target in its own SQL.

``runner.connect(path)`` gives a ``Connection`` to the project's target. ``query(sql)`` takes
SQL in the project's dialect (Spark SQL), loaded like a model is (what Spark rejects refused,
macros and ``var()`` expanded), with model names read through their pointer views (the current
version) and source names through their identifiers, translated for the target like a model
(Spark's values on DuckDB), and returns a pandas DataFrame (or an Arrow table)::

    import runner
    with runner.connect("my_project") as project:
        project.build()
        df = project.query("SELECT user_id, date_sub(last_seen, 1) AS d FROM user_features")

No global state: two connections in one process are independent. The project is loaded on
first use (again after a build, which may follow edits); the target is connected only for the
length of a call, so a ``runner build`` from a terminal is never kept waiting by an idle
connection.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from runner.compile.dialect.translate import to_target
from runner.errors import ProjectError
from runner.project.macros import expand
from runner.project.parsing import parse_query, position, reference_name, table_references
from runner.project.spark_rejects import check_functions
from runner.run.build import build
from runner.run.options import BuildOptions
from runner.run.progress import Echo
from runner.run.results import BuildResult
from runner.run.session import Workspace, open_workspace
from runner.validation import did_you_mean

if TYPE_CHECKING:
    import pandas
    import pyarrow

QUERY_PATH = "<query>"


class Connection:
    """A project and its target, for building and querying from Python."""

    def __init__(self, root: str | Path, target: str | None = None,
                 vars: dict[str, Any] | None = None) -> None:  # noqa: A002 - dbt's name
        self.root = Path(root)
        self.options = BuildOptions(target=target, vars=vars)
        self._workspace: Workspace | None = None

    @property
    def workspace(self) -> Workspace:
        """The project as loaded now (reloaded after a build, which may follow edits)."""
        if self._workspace is None:
            self._workspace = open_workspace(self.root, self.options)
        return self._workspace

    def build(self, echo: Echo = print, **options: Any) -> BuildResult:
        """``runner build`` with these ``BuildOptions`` fields (select, threads, full_refresh,
        ...); the target and vars are the connection's."""
        self.close()
        return build(self.root, replace(self.options, **options), echo=echo)

    def query(self, sql: str, *, arrow: bool = False) -> pandas.DataFrame | pyarrow.Table:
        """Run ``sql`` (the project's dialect) on the target; a DataFrame, or an Arrow table.

        Raises:
            ProjectError: the SQL is wrong or refused, or names no model or source of the
                project, or a model that is not built on this target (``<query>:line:col``).
            RunError: the target cannot be reached or the engine fails the query.
        """
        adapter = self.workspace.adapter
        try:
            table = adapter.fetch_arrow(self.translate(sql))
        finally:
            adapter.close()  # held only during the call: a terminal's build never waits for it
        return table if arrow else table.to_pandas()

    def table(self, model: str, limit: int | None = None) -> pandas.DataFrame:
        """A built model's current version as a DataFrame (its first ``limit`` rows)."""
        return self.query(f"SELECT * FROM {model}" + (f" LIMIT {int(limit)}" if limit else ""))

    def show(self, model: str, n: int = 10) -> pandas.DataFrame:
        """The first ``n`` rows of a built model (a notebook displays the DataFrame)."""
        return self.table(model, limit=n)

    def translate(self, sql: str) -> str:
        """The SQL ``query`` sends to the target for ``sql``."""
        workspace = self.workspace
        project, adapter = workspace.project, workspace.adapter
        dialect = project.config.dialect
        tree = parse_query(sql, QUERY_PATH, dialect)
        if dialect == "spark":
            check_functions(tree, sql, QUERY_PATH, {*project.macros, "var"})
        tree = expand(tree, project.macros, project.vars, QUERY_PATH, sql)
        adapter.open()
        relations = [self._relation(table, sql) for table in table_references(tree)]
        if adapter.runs_translated_sql:
            schema = {name: adapter.column_types(name) for name in set(relations)}
            return to_target(tree, adapter.dialect, schema).sql(dialect=adapter.dialect)
        return tree.sql(dialect=dialect)

    def _relation(self, table: exp.Table, sql: str) -> str:
        """Point ``table`` at what its name means in the project; the relation's name."""
        project, adapter = self.workspace.project, self.workspace.adapter
        name = reference_name(table)
        line, col = position(sql, table)
        if name in project.models:
            model = project.models[name]
            if model.config.materialized == "ephemeral":
                raise ProjectError(f"'{name}' is an ephemeral model, which has no table; query "
                                   "what it reads, or make it a view", QUERY_PATH, line, col)
            if not adapter.exists(name):
                raise ProjectError(f"model '{name}' is not built on target "
                                   f"'{self.workspace.target}'; run runner build --select "
                                   f"{name}", QUERY_PATH, line, col)
            relation = name
        elif name in project.config.sources:
            relation = project.config.sources[name].identifier
        else:
            known = [*project.models, *project.config.sources]
            raise ProjectError(f"'{name}' is no model or source of the project"
                               f"{did_you_mean(name, known)}", QUERY_PATH, line, col)
        pointed = exp.to_table(relation)
        if table.args.get("alias") is not None:
            pointed.set("alias", table.args["alias"])
        table.replace(pointed)
        return relation

    def close(self) -> None:
        """Release the target and forget the loaded project (the next call loads it again)."""
        if self._workspace is not None:
            self._workspace.adapter.close()
            self._workspace = None

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Connection({str(self.root)!r}, target={self.options.target!r})"


def connect(root: str | Path, target: str | None = None,
            vars: dict[str, Any] | None = None) -> Connection:  # noqa: A002 - dbt's name
    """Open the project in ``root`` for building and querying its target (``target``: a
    name from project.yml, default its default target; ``vars``: as ``--vars``)."""
    return Connection(root, target, vars)
