"""The one narrow interface every engine implements.

An adapter renders DDL for its engine from sqlglot expressions (pure, so ``runner compile`` can
write the exact statements without a connection) and executes statements. The build never
speaks SQL text to an engine except through these methods. Adapters are used from several worker
threads at once: an implementation keeps one connection per thread (or serialises access).

Physical-table protocol (the same on every engine, see ``runner.run.materialize``): a model is built
into ``<model>__<fingerprint>`` with a plain ``CREATE TABLE … AS``; only after that succeeds does
the pointer ``<model>`` (a view) move to it. A failed build drops only the new, partial table.

What an engine can do is declared, never probed: each concrete adapter sets every name in
``Adapter.CAPABILITIES`` itself, and the core branches on those, not on ``type`` or ``dialect``.
Each adapter parses its target block into a frozen :class:`TargetConfig` subclass once, in the
constructor; the adapter reads that typed config, never the raw block.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

from sqlglot import exp

from runner.errors import RunError
from runner.project.model import IncrementalConfig, ModelDDLConfig
from runner.validation import check_keys

_PLAIN = re.compile(r"[a-z_][a-z0-9_]*")


def relation(name: str) -> exp.Table:
    """``exp.to_table(name)``, without running the parser for a plain lower-case name (every
    physical version and model name: a build renders thousands)."""
    if _PLAIN.fullmatch(name):
        return exp.Table(this=exp.Identifier(this=name, quoted=False))
    return exp.to_table(name)


def spark_name(data_type: exp.DataType) -> str:
    """A column type as Spark names it (``STRING``, ``ARRAY<STRUCT<id: STRING>>``)."""
    return data_type.sql(dialect="spark")


# a query to put in a statement: rendered already (a compiled model's SQL), or an expression
Query = exp.Query | str

if TYPE_CHECKING:
    import pyarrow

    from runner.platform.client import PlatformClient
    from runner.platform.ingest import IngestResult


@dataclass
class ExecResult:
    """What running one materializing statement produced.

    ``query_id`` and ``dataset_id`` are set by engines that have them (Data Distiller).
    """

    rows: int | None = None
    query_id: str | None = None
    dataset_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class DatasetInfo:
    """A table of the target seen as a dataset (``runner datasets``, ``Connection.datasets``).

    An adapter names a dataset by its table; the run stage renames a model's current version
    to the model (the name a notebook reads). A field an engine does not know is None:
    ``created``/``updated`` (DuckDB keeps no times), ``columns`` (column -> Spark type; not
    read in a Catalog listing), ``rows`` (``rows_exact`` False: a hint such as Catalog's
    lakehouse metric, which may lag), ``labels`` (column -> data usage labels, ``""`` for the
    whole dataset; not read in a listing on Platform).
    """

    name: str
    table: str
    kind: str = "table"  # table | view, and after the run stage: model | source
    id: str | None = None
    created: datetime | None = None
    updated: datetime | None = None
    columns: dict[str, str] | None = None
    rows: int | None = None
    rows_exact: bool = False
    labels: dict[str, frozenset[str]] | None = None
    profile: bool = False


@dataclass(frozen=True, kw_only=True)
class TargetConfig:
    """The keys every target block may have; each adapter extends it with its own.

    ``threads`` is checked by the project stage (a whole number >= 1) and caps nothing here:
    ``--threads`` wins over it, and ``Adapter.max_threads`` caps both.
    """

    threads: int | None = None

    @classmethod
    def from_block(cls, block: dict[str, Any], keypath: str) -> Self:
        """The typed config of a target block whose keys are already checked.

        Raises:
            ProjectError: a value of the wrong type or out of range, naming project.yml and
                the key path.
        """
        return cls(threads=block.get("threads"))


class Adapter(ABC):
    """A connection to one engine, configured by one ``targets.<name>`` block of project.yml.

    Class attributes:
        type: the ``type:`` value in project.yml that selects this adapter.
        dialect: the sqlglot dialect statements are rendered in.
        config_keys: allowed keys of the target block and a one-line description of each
            (used for strict validation and the README reference).
        config_class: the frozen dataclass a target block is parsed into.
        session_setup: statements run on every new connection so values match Spark's
            (the session time zone is UTC, like Data Distiller's).

    Capabilities (every concrete adapter sets each one itself; see ``CAPABILITIES``):
        binds: ``bind_sql(query)`` (``EXPLAIN <query>`` unless the engine has a cheaper
            statement) binds a query without running it (``runner compile``'s check of
            functions and columns).
        runs_translated_sql: models are translated from Spark SQL into ``dialect`` before they
            run, so compiling connects to read the column types of the sources (the dialect
            layer needs them to keep Spark's values); False where the engine runs Spark SQL.
        creates_local_sources: the engine holds the project's local sources: ``synthetic:``
            sources are loaded into it (``load_arrow``), ``path:`` sources become views over
            files (``file_view_sql``), and the runner records their versions in it.
        file_suffixes: the file types ``file_view_sql`` reads (lower-case, with the dot).
        writes_datasets: ``write_dataset`` creates, replaces and appends to tables from Arrow
            tables; where False, ``writes_refused()`` says why in one line.
    """

    CAPABILITIES: ClassVar[tuple[str, ...]] = (
        "binds", "runs_translated_sql", "creates_local_sources", "file_suffixes",
        "writes_datasets")

    type: ClassVar[str]
    dialect: ClassVar[str]
    config_keys: ClassVar[dict[str, str]] = {}
    config_class: ClassVar[type[TargetConfig]] = TargetConfig
    session_setup: ClassVar[tuple[str, ...]] = ()
    binds: ClassVar[bool]
    runs_translated_sql: ClassVar[bool]
    creates_local_sources: ClassVar[bool]
    file_suffixes: ClassVar[frozenset[str]]
    writes_datasets: ClassVar[bool]

    config: TargetConfig

    def __init__(self, name: str, config: dict[str, Any], root: Path) -> None:
        """Args:
        name: the target's name in project.yml.
        config: the target block, with ``${ENV}`` references substituted; parsed into
            ``config_class`` here (ProjectError naming ``targets.<name>`` when malformed).
        root: the project directory (relative paths in config are relative to it).
        """
        self.name = name
        self.config = self.parse_config(config, f"targets.{name}")
        self.root = root
        # Where the adapter says what it waits for (a database file another process holds);
        # set by the session to its output.
        self.notice: Callable[[str], None] | None = None
        self._listed: set[str] | None = None  # see listing()

    @classmethod
    def parse_config(cls, block: dict[str, Any], keypath: str) -> TargetConfig:
        """The typed config of a target block: keys checked against ``config_keys``, then
        values by ``config_class.from_block``.

        Raises:
            ProjectError: naming project.yml and ``keypath``.
        """
        check_keys(block, {"type", "threads", *cls.config_keys}, keypath)
        return cls.config_class.from_block(block, keypath)

    @classmethod
    def validate_config(cls, config: dict[str, Any], keypath: str) -> None:
        """Raise ProjectError (naming project.yml and ``keypath``) for a malformed target block."""
        cls.parse_config(config, keypath)

    @property
    def max_threads(self) -> int | None:
        """The most statements this engine should run at once (None = no limit)."""
        return None

    @property
    def platform(self) -> PlatformClient | None:
        """The Adobe Platform client of a target on Platform (exports use it), else None."""
        return None

    def cancel(self) -> None:
        """Cancel every running statement (Ctrl-C); called from another thread."""

    def secrets(self) -> list[Any]:
        """The secrets this target holds (str or Secret; None where not known yet), masked in
        every output that may quote the engine (``runner.run.events``)."""
        return []

    def running_queries(self) -> dict[str, str]:
        """The ids of the engine's queries still running, by the model each builds, on an
        engine whose queries have ids (progress names them); called from another thread."""
        return {}

    def debug_steps(self) -> list[tuple[str, Callable[[], object]]]:
        """``runner debug``'s checks before connecting: (label, step) pairs, in order."""
        return []

    # -- rendering (pure) ------------------------------------------------------------------
    def create_table_sql(self, name: str, select: Query, ddl: ModelDDLConfig) -> str:
        """``CREATE TABLE name AS select`` in this engine's dialect."""
        create = exp.Create(this=relation(name), kind="TABLE")
        return self.render_create(create, select)

    def create_view_sql(self, name: str, select: Query) -> str:
        """``CREATE VIEW name AS select`` (the physical relation of a view model)."""
        return self.render_create(exp.Create(this=relation(name), kind="VIEW"), select)

    def render_create(self, create: exp.Create, select: Query) -> str:
        """``create`` (built without its query) rendered in this dialect, with ``select`` as
        its query: an already rendered query (a compiled model's) is put in as it is, never
        rendered again; an expression is rendered with the statement."""
        if not isinstance(select, str):
            create.set("expression", select)
            return create.sql(dialect=self.dialect)
        marker = exp.Placeholder(this="runner_query")
        create.set("expression", marker)
        head, found, tail = create.sql(dialect=self.dialect).rpartition(
            marker.sql(dialect=self.dialect))
        if not found or tail.strip():
            raise AssertionError(f"cannot place a query in {create.key} for {self.dialect}")
        return head + select + tail

    def insert_sql(self, name: str, select: str, incremental: IncrementalConfig) -> str:
        """Append what ``select`` (rendered) has past the table's own watermark::

            INSERT INTO name SELECT * FROM (select) AS incoming
            WHERE (incoming.ts > (SELECT MAX(ts) - INTERVAL 'lookback' SECOND FROM name)
                   OR NOT EXISTS (SELECT 1 FROM name))
              AND NOT EXISTS (SELECT 1 FROM name AS existing WHERE existing.k = incoming.k)

        The watermark is read by the statement itself, so running it again after it committed
        appends nothing more; the anti-join (with a unique key) keeps re-read rows out. The
        top-level SELECT is not in parentheses (Data Distiller's ``INSERT INTO t select``)."""
        column = exp.column(incremental.time_column, table="incoming")
        latest: exp.Expression = exp.Max(this=exp.column(incremental.time_column))
        if incremental.lookback:
            latest = exp.Sub(this=latest, expression=exp.Interval(
                this=exp.Literal.string(str(incremental.lookback)), unit=exp.var("SECOND")))
        watermark = exp.Subquery(this=exp.select(latest).from_(relation(name)))
        empty = exp.not_(exp.Exists(this=exp.select("1").from_(relation(name))))
        where: exp.Expression = exp.paren(exp.or_(exp.GT(this=column, expression=watermark),
                                                  empty))
        if incremental.unique_key:
            same = exp.and_(*(exp.column(k, table="existing").eq(exp.column(k, table="incoming"))
                              for k in incremental.unique_key))
            existing = exp.select("1").from_(exp.alias_(relation(name), "existing",
                                                         table=True)).where(same)
            where = exp.and_(where, exp.not_(exp.Exists(this=existing)))
        head = f"INSERT INTO {relation(name).sql(dialect=self.dialect)} SELECT * FROM ("
        return f"{head}{select}) AS incoming WHERE {where.sql(dialect=self.dialect)}"

    def watermark_sql(self, name: str, time_column: str) -> str:
        """``SELECT MAX(time_column), COUNT(*) FROM name``: an incremental table's watermark and
        size."""
        return exp.select(exp.Max(this=exp.column(time_column)), exp.Count(this=exp.Star())
                          ).from_(relation(name)).sql(dialect=self.dialect)

    def pointer_sql(self, name: str, physical: str) -> str:
        """Move a model's pointer: ``CREATE OR REPLACE VIEW name AS SELECT * FROM physical``
        (an engine whose views cannot change columns that way overrides this)."""
        select = exp.select(exp.Star()).from_(relation(physical))
        create = exp.Create(this=relation(name), kind="VIEW", expression=select, replace=True)
        return create.sql(dialect=self.dialect)

    def drop_sql(self, name: str, kind: str) -> str:
        """``DROP TABLE|VIEW IF EXISTS name``."""
        return exp.Drop(tables=[relation(name)], kind=kind.upper(), exists=True).sql(
            dialect=self.dialect
        )

    # -- execution -------------------------------------------------------------------------
    @abstractmethod
    def open(self) -> None:
        """Connect (or check that a connection can be made). Raises RunError."""

    @abstractmethod
    def close(self) -> None:
        """Release every connection this adapter holds."""

    @abstractmethod
    def execute(self, sql: str) -> None:
        """Run one statement that returns no rows. Raises RunError with the engine's message."""

    @abstractmethod
    def fetch(self, sql: str) -> list[tuple]:
        """Run one query and return all its rows."""

    def fetch_arrow(self, sql: str) -> pyarrow.Table:
        """Run one query and return its rows as an Arrow table (nested types kept where the
        engine has them)."""
        raise NotImplementedError(f"{type(self).__name__} cannot return Arrow tables")

    def query_arrow(self, sql: str) -> pyarrow.Table:
        """A user's ad hoc query (``Connection.query``) as an Arrow table, held to the engine's
        limits for interactive queries (an engine without any runs ``fetch_arrow``).

        Raises:
            RunError: the engine failed the query, or it went past a limit (saying what to
                do instead).
        """
        return self.fetch_arrow(sql)

    # -- local sources (engines with creates_local_sources) ----------------------------------
    def load_arrow(self, tables: dict[str, pyarrow.Table]) -> dict[str, int]:
        """``CREATE OR REPLACE TABLE`` each named Arrow table (nested types kept); returns
        ``{name: rows loaded}``."""
        raise NotImplementedError(f"{type(self).__name__} does not hold local sources")

    def file_view_sql(self, name: str, file: Path) -> str:
        """``CREATE OR REPLACE VIEW name`` over a data file (or glob) whose suffix is in
        ``file_suffixes``; a relative ``file`` is relative to the project directory."""
        raise NotImplementedError(f"{type(self).__name__} does not hold local sources")

    def materialize(self, sql: str, *, model: str, physical: str) -> ExecResult:
        """Run a statement that creates ``physical`` (CTAS or CREATE VIEW) and report on it.

        The default executes it and counts the rows of a table; Data Distiller overrides this
        to submit a batch query and look up the new dataset.
        """
        self.execute(sql)
        return ExecResult()

    def append(self, sql: str, *, model: str, physical: str) -> ExecResult:
        """Run an incremental model's ``INSERT INTO physical`` exactly once (never repeated
        after a failure that may have committed it) and report on it. Data Distiller overrides
        this to submit a batch query."""
        self.execute(sql)
        return ExecResult()

    @abstractmethod
    def relations(self) -> dict[str, str]:
        """Every table and view in the target schema: ``{lowercased name: 'table'|'view'}``."""

    def column_types(self, relation: str) -> dict[str, exp.DataType]:
        """The column types of an existing relation (``schema.table`` or ``table``), for the
        dialect layer; columns whose type sqlglot cannot read are left out, and a missing
        relation gives an empty mapping."""
        *schema, table = relation.split(".")
        where = exp.column("table_name").eq(exp.Literal.string(table)).and_(
            exp.column("table_schema").eq(exp.Literal.string(schema[-1]) if schema
                                          else exp.func("current_schema")))
        query = (exp.select("column_name", "data_type")
                 .from_(exp.to_table("information_schema.columns")).where(where)
                 .order_by("ordinal_position"))
        types: dict[str, exp.DataType] = {}
        for name, data_type in self.fetch(query.sql(dialect=self.dialect)):
            try:
                types[name] = exp.DataType.build(data_type, dialect=self.dialect)
            except Exception:  # noqa: BLE001 - an engine-specific type: treat as unknown
                continue
        return types

    def data_versions(self, tables: list[str]) -> dict[str, str]:
        """A version of each table's data where the engine keeps one (new data, new version),
        so models reading a source rebuild when it changes; tables without one are left out."""
        return {}

    def dataset_ids(self, tables: list[str]) -> dict[str, str]:
        """The Platform dataset id of each table on a target on Platform (whose data usage
        labels live with the dataset); tables without exactly one are left out."""
        return {}

    def bind_sql(self, query: str) -> str:
        """A statement that binds ``query`` (names, types, functions) without running it."""
        return f"EXPLAIN {query}"

    def known_functions(self) -> set[str] | None:
        """Lower-cased names of the functions the engine has, so a model calling one it lacks
        fails at compile time with its file and line; None when the engine cannot say."""
        return None

    def exists(self, name: str) -> bool:
        """Whether a table or view named ``name`` exists (case-insensitive); inside
        ``listing()`` a listed name costs no query."""
        if self._listed is not None and name.lower() in self._listed:
            return True
        return self.check_exists(name)

    def check_exists(self, name: str) -> bool:
        """``exists`` asked of the engine (an engine with a cheaper check overrides this)."""
        return name.lower() in self.relations()

    @contextmanager
    def listing(self) -> Iterator[None]:
        """Within it, ``exists`` answers from one listing of the target's relations (one
        catalog query for a whole build, where a no-op build of N models would ask N times);
        a name not listed, such as a version the build has just created, is asked of the
        engine. Relations are only ever added during a build (old versions are dropped after
        it), so a listed name stays true."""
        self._listed = set(self.relations())
        try:
            yield
        finally:
            self._listed = None

    # -- datasets (runner datasets, Connection.datasets/read/write/drop) --------------------
    def datasets(self) -> list[DatasetInfo]:
        """Every table and view of the target as a dataset named by its table, with what the
        engine tells cheaply (the default: names and kinds only)."""
        return [DatasetInfo(name=name, table=name, kind=kind)
                for name, kind in sorted(self.relations().items())]

    def describe_dataset(self, info: DatasetInfo) -> DatasetInfo:
        """``info`` completed with its columns (Spark types) and its exact row count."""
        columns = {name: spark_name(data_type)
                   for name, data_type in self.column_types(info.table).items()}
        return replace(info, columns=columns, rows=self.row_count(info.table), rows_exact=True)

    def read_dataset(self, table: str, columns: list[str] | None = None,
                     limit: int | None = None) -> pyarrow.Table:
        """``SELECT columns FROM table LIMIT limit`` as an Arrow table (within the engine's
        limits for an interactive query: ``query_arrow``)."""
        picked = [exp.column(exp.to_identifier(c)) for c in columns] if columns else [exp.Star()]
        select = exp.select(*picked).from_(relation(table))
        if limit is not None:
            select = select.limit(limit)
        return self.query_arrow(select.sql(dialect=self.dialect))

    def write_dataset(self, table: str, data: pyarrow.Table, mode: str) -> int:
        """Write ``data`` as ``table``: ``mode`` is ``create`` (it must not exist), ``replace``
        or ``append`` (columns matched by name); returns the table's rows afterwards.

        Raises:
            RunError: the engine refused, or the target cannot write (``writes_refused``).
        """
        raise self.writes_refused()

    def ingest(self, dataset_id: str, data: pyarrow.Table, *, check: bool = True
               ) -> IngestResult:
        """Write ``data`` into the Platform dataset ``dataset_id`` as one Batch Ingestion
        batch (a target on Platform only); the batch's result.

        Raises:
            RunError: the target is not on Platform, or the batch failed (with ``check``).
        """
        raise RunError(f"target '{self.name}' ({self.type}) is not on Adobe Experience "
                       "Platform: it has no Platform datasets to ingest into")

    def writes_refused(self) -> RunError:
        """The error of a write on a target that does not write datasets (one line)."""
        return RunError(f"target '{self.name}' ({self.type}) cannot write datasets")

    def drop_dataset(self, table: str, kind: str) -> None:
        """Drop the table or view ``table``."""
        self.execute(self.drop_sql(table, kind))

    def row_count(self, name: str) -> int:
        """Rows in ``name``."""
        query = exp.select(exp.Count(this=exp.Star())).from_(exp.to_table(name))
        return int(self.fetch(query.sql(dialect=self.dialect))[0][0])

    def __enter__(self) -> Adapter:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
