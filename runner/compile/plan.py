"""The compiled plan of one command: what every later step of a build reads.

The compiler makes it once per command; the scheduler takes its order and parents, the
materializations its statements, the artifacts its fingerprints and physical names, the exports
its physical relations. Nothing after compilation parses SQL or walks the DAG again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from runner.compile.dialect.approximate import Note
from runner.compile.dialect.spark_types import spark_type
from runner.project.model import IncrementalConfig, ModelDDLConfig


@dataclass
class CompiledModel:
    """A model ready to run on one target.

    Attributes:
        name, path, materialized: from the model.
        fingerprint: hashes the rendered SQL, the config that changes the table, the refresh
            generation and the versions of the source data it reads.
        physical: the relation the model is built into (None for ephemeral models).
        select_sql: the target-ready query (project table names replaced), in the target's
            dialect.
        statements: the DDL, in order: create the physical relation, then move the pointer
            (rendered by the model's materialization once the plan is made).
        parents: the materialized models it reads (through inlined ephemeral ones).
        reads: the relations (lower-cased) its query reads on the engine: parents' physical
            versions and sources' identifiers, inlined ephemeral models' included.
        ddl: the model config that reaches its CREATE statement.
        notes: what the user should know about how its SQL runs on the target (an approximate
            aggregate computed exactly), each at its line and column in ``path``.
        stored_columns: the Spark types of its result columns, where Spark's rules give them
            (``columns``), as the compile cache keeps them: a Spark type name where the name
            reads back as the same type, else the type.
        columns: the Spark types of its result columns, where Spark's rules give them (what
            its children are compiled against, and what the local table holds).
        compile_timing: when its compilation started and ended (Unix seconds).
        compile_key: what its compilation depended on, hashed (the compile cache's key).
        incremental: an incremental model's time column, lookback and unique key.
        data_version: for an incremental model, what its fingerprint leaves out (a hash over
            its inputs' data versions too), so its children rebuild when it may have appended.
    """

    name: str
    path: str
    materialized: str
    fingerprint: str
    physical: str | None
    select_sql: str
    statements: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    reads: set[str] = field(default_factory=set)
    ddl: ModelDDLConfig = field(default_factory=ModelDDLConfig)
    notes: list[Note] = field(default_factory=list)
    stored_columns: dict[str, str | exp.DataType] = field(default_factory=dict)
    compile_timing: tuple[float, float] | None = None
    compile_key: str = ""
    incremental: IncrementalConfig | None = None
    data_version: str | None = None
    _columns: dict[str, exp.DataType] | None = field(default=None, repr=False, compare=False)

    @property
    def columns(self) -> dict[str, exp.DataType]:
        """The result columns' Spark types (made from ``stored_columns`` when first read)."""
        if self._columns is None:
            self._columns = {c: spark_type(t) if isinstance(t, str) else t
                             for c, t in self.stored_columns.items()}
        return self._columns

    @property
    def type_names(self) -> dict[str, str]:
        """The result columns' Spark type names (``DECIMAL(10, 2)``), as the manifest shows them."""
        return {c: t if isinstance(t, str) else t.sql("spark")
                for c, t in self.stored_columns.items()}

    def note_lines(self) -> list[str]:
        """Each note as ``path:line:col: message``."""
        return [f"{self.path}:{n.line}:{n.col}: {n.message}" if n.line is not None
                else f"{self.path}: {n.message}" for n in self.notes]

    def pretty_statements(self, dialect: str) -> list[str]:
        """The statements (or, for an ephemeral model, its query) laid out by sqlglot's
        ``pretty=True``, for reading; the statements that run stay as compiled.

        A statement sqlglot renders back exactly is laid out whole; one it would change (Data
        Distiller's ``CREATE TABLE … WITH (…) AS``) keeps its head and gets its query laid out.
        """
        return [_pretty(sql, dialect, self.select_sql) for sql in self.statements or [self.select_sql]]

    @property
    def built(self) -> bool:
        """Whether the model becomes a relation (ephemeral models are inlined instead)."""
        return self.physical is not None


SAMPLE_ROWS = 5  # failing rows a data test shows


@dataclass
class CompiledTest:
    """A data test ready to run on one target (``runner.compile.data_tests``).

    Attributes:
        name: dbt's name for it (``not_null_orders_user_id``), unique in the project.
        model: the model it tests.
        kind, column, severity: from its declaration (``runner.project.data_tests``).
        path, line: where it is declared.
        sql: the query returning the failing rows, in the target's dialect, reading the
            physical versions the plan builds.
        depends_on: the other built models it reads (a ``relationships`` test's ``to``).
        expects: what a ``row_count`` test's count must be (``between 1 and 100 rows``).
    """

    name: str
    model: str
    kind: str
    column: str | None
    severity: str
    path: str
    line: int
    sql: str
    depends_on: list[str] = field(default_factory=list)
    expects: str = ""

    @property
    def count_sql(self) -> str:
        """How many rows fail."""
        return f"SELECT COUNT(*) AS failures FROM ({self.sql}) AS failing"

    @property
    def sample_sql(self) -> str:
        """The first failing rows (``SAMPLE_ROWS``)."""
        return f"SELECT * FROM ({self.sql}) AS failing LIMIT {SAMPLE_ROWS}"


@dataclass
class Plan:
    """Every compiled model (the chosen ones and their ancestors) in build order.

    Attributes:
        models: compiled models by name, inserted in build order.
        chosen: every model the selection picked (ephemeral ones too).
        tests: the data tests of the selected models, by model, in declaration order.
    """

    models: dict[str, CompiledModel]
    chosen: set[str]
    tests: dict[str, list[CompiledTest]] = field(default_factory=dict)

    def note_lines(self) -> list[str]:
        """The notes of the chosen models and of the ephemeral ones inlined into them, in
        build order, each as ``path:line:col: message``."""
        return [line for name, model in self.models.items()
                if name in self.chosen or not model.built for line in model.note_lines()]

    @property
    def order(self) -> list[str]:
        """Every compiled model in build order."""
        return list(self.models)

    @property
    def selected(self) -> list[str]:
        """The chosen models that are built, in build order."""
        return [n for n, m in self.models.items() if n in self.chosen and m.built]

    def __getitem__(self, name: str) -> CompiledModel:
        return self.models[name]

    def __contains__(self, name: object) -> bool:
        return name in self.models

    def __iter__(self) -> Iterator[CompiledModel]:
        return iter(self.models.values())

    def get(self, name: str) -> CompiledModel | None:
        return self.models.get(name)


def _pretty(sql: str, dialect: str, select_sql: str) -> str:
    whole = _parsed(sql, dialect)
    if whole is not None and whole.sql(dialect=dialect) == sql:
        return whole.sql(dialect=dialect, pretty=True)
    query = _parsed(select_sql, dialect) if sql.endswith(select_sql) else None
    if query is not None:
        return sql[:-len(select_sql)].rstrip() + "\n" + query.sql(dialect=dialect, pretty=True)
    return sql


def _parsed(sql: str, dialect: str) -> exp.Expression | None:
    try:
        return sqlglot.parse_one(sql, read=dialect)
    except SqlglotError:
        return None

