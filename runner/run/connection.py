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

``datasets()`` lists the target's datasets (models by name, sources, tables written with
``write``) and ``dataset(name)`` describes one; ``read(name, columns=, limit=)`` reads one,
``write(name, df, replace=, append=)`` writes one and ``drop(name)`` drops one
(``runner.run.datasets``); ``ingest_scores(df, dataset=, identity=)`` writes scores as a Profile
dataset (``runner.run.scores``); ``create_audience(name, field, minimum=)`` makes an audience on a
score field and ``estimate_audience(field, minimum=)`` counts one first (``runner.run.audiences``).

``query(sql, into="name")`` runs it as a batch query instead, ``CREATE TABLE name AS`` on the
target (on Data Distiller a batch query into a new dataset: no 10-minute or 50,000-row limit of
an ad hoc query), and returns a ``QueryDataset`` naming it; ``table("name")`` then reads it.

No global state: two connections in one process are independent. Threads of one kernel may
share a connection: its calls take turns (one engine session is never used by two at once). The project is loaded on
first use (again after a build, which may follow edits); the target is connected only for the
length of a call, so a ``runner build`` from a terminal is never kept waiting by an idle
connection.
"""

from __future__ import annotations

import functools
import html
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlglot import exp

from runner.adapters.base import DatasetInfo
from runner.compile.dialect.translate import to_target
from runner.errors import ProjectError, RunnerError
from runner.graph.dag import SOURCE_PREFIX
from runner.graph.layout import layers
from runner.project.macros import expand
from runner.project.model import ModelDDLConfig
from runner.project.parsing import parse_query, position, reference_name, table_references
from runner.project.spark_rejects import check_functions
from runner.run import datasets as _datasets
from runner.run.build import build
from runner.run.options import BuildOptions
from runner.run.progress import Echo
from runner.run.results import BuildResult
from runner.run.session import Workspace, open_workspace
from runner.validation import did_you_mean

if TYPE_CHECKING:
    import pandas
    import pyarrow

    from runner.run.audiences import AudienceResult, EstimateResult
    from runner.run.scores import ScoresResult

QUERY_PATH = "<query>"
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def _one_at_a_time(method: F) -> F:
    """Run ``method`` holding the connection's lock: threads sharing a connection take turns
    (an engine connection, DuckDB's among them, serves one call at a time)."""
    @functools.wraps(method)
    def turn(self: Connection, *args: Any, **kwargs: Any) -> Any:
        with self._turn:
            return method(self, *args, **kwargs)
    return turn  # type: ignore[return-value]


class Connection:
    """A project and its target, for building and querying from Python."""

    def __init__(self, root: str | Path, target: str | None = None,
                 vars: dict[str, Any] | None = None) -> None:  # noqa: A002 - dbt's name
        self.root = Path(root)
        self.options = BuildOptions(target=target, vars=vars)
        self._workspace: Workspace | None = None
        self._turn = threading.RLock()  # one call at a time (see _one_at_a_time)
        self._datasets: set[str] = set()  # the tables query(..., into=) made, table() reads

    @property
    def workspace(self) -> Workspace:
        """The project as loaded now (reloaded after a build, which may follow edits)."""
        if self._workspace is None:
            self._workspace = open_workspace(self.root, self.options)
        return self._workspace

    @_one_at_a_time
    def build(self, echo: Echo = print, **options: Any) -> BuildResult:
        """``runner build`` with these ``BuildOptions`` fields (select, threads, full_refresh,
        ...); the target and vars are the connection's."""
        self.close()
        return build(self.root, replace(self.options, **options), echo=echo)

    @_one_at_a_time
    def query(self, sql: str, *, arrow: bool = False, into: str | None = None
              ) -> pandas.DataFrame | pyarrow.Table | QueryDataset:
        """Run ``sql`` (the project's dialect) on the target; a DataFrame, or an Arrow table.

        On Data Distiller it is an ad hoc query over the PostgreSQL interface, within its
        limits (10 minutes, 50,000 rows). With ``into`` it is a batch query creating the table
        (dataset) ``into`` instead, and the result names it.

        Raises:
            ProjectError: the SQL is wrong or refused, or names no model or source of the
                project, or a model that is not built on this target (``<query>:line:col``);
                ``into`` is no plain name, or names a model, a source or an existing table.
            RunError: the target cannot be reached, the engine fails the query, or it went
                past an interactive limit (the message says to use ``into``).
        """
        if into is not None:
            return self._query_into(sql, into)
        adapter = self.workspace.adapter
        try:
            table = adapter.query_arrow(self.translate(sql))
        finally:
            adapter.close()  # held only during the call: a terminal's build never waits for it
        return table if arrow else table.to_pandas()

    def _query_into(self, sql: str, into: str) -> QueryDataset:
        """``CREATE TABLE into AS <sql>`` on the target, through the adapter's batch path."""
        project, adapter = self.workspace.project, self.workspace.adapter
        if not _NAME.fullmatch(into):
            raise ProjectError(f"into={into!r} is not a table name; use letters, digits and "
                               "underscores, starting with a letter", QUERY_PATH)
        if into.lower() in {n.lower() for n in [*project.models, *project.config.sources]}:
            raise ProjectError(f"into='{into}' is a model or source of the project; pick "
                               "another name for the query's table", QUERY_PATH)
        try:
            select = self.translate(sql)
            if adapter.exists(into):
                raise ProjectError(f"into='{into}': a table of that name exists on target "
                                   f"'{self.workspace.target}'; pick another name (or drop "
                                   "it)", QUERY_PATH)
            result = adapter.materialize(adapter.create_table_sql(into, select, ModelDDLConfig()),
                                         model=into, physical=into)
            rows = result.rows if result.rows is not None else adapter.row_count(into)
        finally:
            adapter.close()
        self._datasets.add(into.lower())
        return QueryDataset(into, self.workspace.target, rows, result.dataset_id,
                            result.query_id)

    def _on_target(self, work: Callable[[Workspace], T]) -> T:
        """``work(workspace)``, holding the target only for the length of the call."""
        workspace = self.workspace
        try:
            return work(workspace)
        finally:
            workspace.adapter.close()

    @_one_at_a_time
    def datasets(self) -> list[DatasetInfo]:
        """The target's datasets: built models by name, sources, and other tables (those
        ``write`` and ``query(into=)`` made), each with what the target tells cheaply (on Data
        Distiller: Catalog's record, its row count a hint)."""
        return self._on_target(_datasets.list_datasets)

    @_one_at_a_time
    def dataset(self, name: str) -> DatasetInfo:
        """The dataset ``name`` with its columns (Spark types), exact row count and labels.

        Raises:
            ProjectError: there is no dataset ``name`` on the target.
        """
        return self._on_target(lambda w: _datasets.describe(w, name))

    @_one_at_a_time
    def read(self, name: str, columns: list[str] | None = None, limit: int | None = None, *,
             arrow: bool = False) -> pandas.DataFrame | pyarrow.Table:
        """The dataset ``name`` (a model, a source or another table) as a DataFrame (or an
        Arrow table): only ``columns``, and the first ``limit`` rows, when given."""
        table = self._on_target(lambda w: _datasets.read(w, name, columns, limit))
        return table if arrow else table.to_pandas()

    @_one_at_a_time
    def write(self, name: str, data: pandas.DataFrame | pyarrow.Table, *,
              replace: bool = False, append: bool = False) -> DatasetInfo:
        """Write a DataFrame or Arrow table as the new dataset ``name``; a dataset of that
        name is an error unless ``replace`` (write it anew) or ``append`` (add the rows).

        Raises:
            ProjectError: the name is taken (without a flag), or is a model's or a source's.
            RunError: the target does not write datasets (PostgreSQL), or refused the rows
                (Data Distiller: a replace of a dataset not made from rows).
        """
        info = self._on_target(lambda w: _datasets.write(w, name, data, replace=replace,
                                                         append=append))
        self._datasets.add(name.lower())
        return info

    @_one_at_a_time
    def ingest_scores(self, data: pandas.DataFrame | pyarrow.Table | str, dataset: str,
                      identity: str, scores: list[str] | None = None,
                      namespace: str = "ECID", replace: bool = False) -> ScoresResult:
        """Write scores (a DataFrame, an Arrow table, or a built model's name) as the Profile
        dataset ``dataset``: on Data Distiller its Schema Registry and Catalog setup (made once,
        then found) and one Batch Ingestion batch; locally the local dataset, appended to
        (``runner.run.scores``). ``scores``: the score columns (default all but ``identity``);
        ``replace``: keep only these scores (the earlier batches reverted once this one
        succeeded; locally the dataset replaced).

        Raises:
            ProjectError: a bad name, column, type or identity (nothing is sent).
        """
        from runner.run.scores import ingest_scores

        result = self._on_target(lambda w: ingest_scores(w, data, dataset, identity, scores,
                                                         namespace, replace))
        self._datasets.add(dataset.lower())
        return result

    @_one_at_a_time
    def create_audience(self, name: str, field: str, minimum: float | None = None,
                        maximum: float | None = None, *, run: bool = False,
                        flow: str | None = None, export: str | None = None,
                        dataset: str | None = None, activate: bool = False) -> AudienceResult:
        """Make the audience ``name`` of profiles with ``minimum <= field <= maximum``: on Data
        Distiller a segment definition (made once, then found), with ``run`` a segment job's
        profile count, with ``flow`` added to that destination dataflow, with ``export`` to the
        audience dataflow of that export's destination (made once), unless the label policy
        refuses it (both need ``dataset``, the scores' dataset), with ``activate`` exported
        through it now (an ad hoc activation, waited for); locally the table ``audience_<name>`` of the identities of ``dataset``
        (required) in range (``runner.run.audiences``).

        Raises:
            ProjectError: a bad bound, field, name or dataset (nothing is sent).
        """
        from runner.run.audiences import create_audience

        result = self._on_target(lambda w: create_audience(w, name, field, minimum, maximum,
                                                           run=run, flow=flow, export=export,
                                                           dataset=dataset, activate=activate))
        if result.table is not None:
            self._datasets.add(result.table.lower())
        return result

    @_one_at_a_time
    def estimate_audience(self, field: str, minimum: float | None = None,
                          maximum: float | None = None, *,
                          dataset: str | None = None) -> EstimateResult:
        """How many profiles ``minimum <= field <= maximum`` would select, making nothing: on
        Data Distiller a preview's estimate, locally the exact count of the identities of
        ``dataset`` (required) in range (``runner.run.audiences``).

        Raises:
            ProjectError: a bad bound, field or dataset (nothing is sent).
        """
        from runner.run.audiences import estimate_audience

        return self._on_target(lambda w: estimate_audience(w, field, minimum, maximum,
                                                           dataset=dataset))

    @_one_at_a_time
    def drop(self, name: str) -> DatasetInfo:
        """Drop the dataset ``name`` (never a model's or a source's); returns what it was."""
        info = self._on_target(lambda w: _datasets.drop(w, name))
        self._datasets.discard(name.lower())
        return info

    def table(self, model: str, limit: int | None = None) -> pandas.DataFrame:
        """A built model's current version as a DataFrame (its first ``limit`` rows)."""
        return self.query(f"SELECT * FROM {model}" + (f" LIMIT {int(limit)}" if limit else ""))

    def show(self, model: str, n: int = 10) -> pandas.DataFrame:
        """The first ``n`` rows of a built model (a notebook displays the DataFrame)."""
        return self.table(model, limit=n)

    @_one_at_a_time
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
        elif name.lower() in self._datasets:
            relation = name
        else:
            known = [*project.models, *project.config.sources]
            raise ProjectError(f"'{name}' is no model or source of the project"
                               f"{did_you_mean(name, known)}", QUERY_PATH, line, col)
        pointed = exp.to_table(relation)
        if table.args.get("alias") is not None:
            pointed.set("alias", table.args["alias"])
        table.replace(pointed)
        return relation

    @_one_at_a_time
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

    @_one_at_a_time
    def _repr_html_(self) -> str:
        """A notebook's view of the project: its target, a summary of the DAG and a table of
        the models (read from the project files and the target's state: nothing connects)."""
        try:
            workspace = self.workspace
        except RunnerError as err:
            return f"<p><b>Error</b>: {html.escape(str(err))}</p>"
        project, state = workspace.project, workspace.state()
        dag, models = project.dag, project.models
        depth = layers(dag)
        built = sum(1 for name in models if state.get(name).current)
        kinds = {kind: sum(m.config.materialized == kind for m in models.values())
                 for kind in sorted({m.config.materialized for m in models.values()})}
        head = (f"<p><b>{html.escape(project.config.name)}</b> on target "
                f"<code>{html.escape(workspace.target)}</code> "
                f"({html.escape(workspace.adapter.type)}): {len(models)} models ("
                + ", ".join(f"{n} {k}" for k, n in kinds.items())
                + f"), {built} built; {len(project.config.sources)} sources, "
                f"{len(workspace.exports)} exports; DAG of {len(dag.edges())} edges over "
                f"{1 + max(depth.values(), default=-1)} layers</p>")
        rows = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (
                name, models[name].config.materialized, depth[name],
                ", ".join(p.removeprefix(SOURCE_PREFIX) for p in dag.parents(name)),
                state.get(name).current or "not built", models[name].config.description))
            + "</tr>" for name in project.order())
        return (head + "<table><tr><th>model</th><th>materialized</th><th>layer</th>"
                "<th>reads</th><th>current version</th><th>description</th></tr>" + rows
                + "</table>")


@dataclass(frozen=True)
class QueryDataset:
    """The table a ``query(sql, into=name)`` created (on Data Distiller a dataset), which
    ``Connection.table(name)`` reads."""

    name: str
    target: str
    rows: int | None = None
    dataset_id: str | None = None
    query_id: str | None = None

    def __str__(self) -> str:
        rows = "" if self.rows is None else f" ({self.rows:,} rows)"
        where = f", dataset {self.dataset_id}" if self.dataset_id else ""
        return f"table {self.name} on target '{self.target}'{rows}{where}"

    def _repr_html_(self) -> str:
        return f"<p>{html.escape(str(self))}; read it with <code>table({self.name!r})</code></p>"


def connect(root: str | Path, target: str | None = None,
            vars: dict[str, Any] | None = None) -> Connection:  # noqa: A002 - dbt's name
    """Open the project in ``root`` for building and querying its target (``target``: a
    name from project.yml, default its default target; ``vars``: as ``--vars``)."""
    return Connection(root, target, vars)
