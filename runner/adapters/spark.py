"""Apache Spark: the models run as written, on a local SparkSession or a Spark Connect server.

``type: spark`` targets need no translation (the models are Spark SQL already), so compiling
reads no column types; but Spark holds the project's local sources like DuckDB does: synthetic
Arrow tables are saved as Parquet tables (``load_arrow``) and file sources become external
tables over the files (``file_view_sql``; on Connect the server reads the path).

Two ways to reach Spark:

* ``master:`` (default ``local[2]``): pyspark starts a session in this process, non-ANSI and in
  UTC like Data Distiller. **Persistence**: the session uses Spark's Hive catalog with an
  embedded Derby metastore (both ship in the pyspark wheel) under ``target/spark-metastore``
  and managed Parquet tables under the warehouse (default ``target/spark-warehouse``), so the
  physical tables, pointer views and file sources of one run are there for the next and a
  second ``runner build`` runs nothing. Derby lets one process open the metastore at a time
  (the runner's target lock already ensures that), and one SparkContext fits in a process: the
  adapter refuses to start when another session is already running in it.
* ``remote: sc://host:15002``: a Spark Connect client (Spark 3.4+ clusters, Databricks); the
  server's catalog keeps the tables (persistence is the server's), synthetic sources are
  uploaded to it as Arrow.

Statements go to one thread-safe session from the build's worker threads (``max_threads``
caps them at 4); Ctrl-C cancels every running job (``cancelAllJobs``, or ``interruptAll`` on
Connect). pyspark is imported only when a session is opened.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

from sqlglot import exp

from runner.adapters.base import Adapter, Query, TargetConfig, relation
from runner.errors import ProjectError, RunError
from runner.project.model import ModelDDLConfig
from runner.validation import PROJECT_FILE, expect

if TYPE_CHECKING:
    import pyarrow
    from pyspark.sql import SparkSession

# File suffix -> (Spark data source, its options).
FILE_FORMATS: dict[str, tuple[str, dict[str, str]]] = {
    ".parquet": ("parquet", {}), ".csv": ("csv", {"header": "true", "inferSchema": "true"}),
    ".json": ("json", {}), ".jsonl": ("json", {}), ".ndjson": ("json", {})}
# Data Distiller's semantics, set on every session (local or Connect); conf: may override them.
SESSION_CONF = {"spark.sql.ansi.enabled": "false", "spark.sql.session.timeZone": "UTC"}
# A quiet, loopback-only local session sized for a laptop; conf: may override these too.
LOCAL_CONF = {"spark.sql.shuffle.partitions": "4", "spark.ui.enabled": "false",
              "spark.ui.showConsoleProgress": "false",
              "spark.driver.bindAddress": "127.0.0.1", "spark.driver.host": "127.0.0.1"}
# Set by the adapter from warehouse: (so tables persist where it says); conf: may not.
RESERVED_CONF = ("spark.sql.warehouse.dir", "spark.sql.catalogImplementation",
                 "spark.hadoop.javax.jdo.option.ConnectionURL", "spark.master", "spark.remote")
MASTER = re.compile(r"local(\[(\d+|\*)(,\d+)?\])?|(spark|k8s|mesos)://\S+|yarn")
REMOTE = re.compile(r"sc://[^/\s:]+(:\d+)?(/;\S*)?")
PLANNING_ERROR = "Error occurred during query planning"
# pyspark logs each query error with its JVM stack; the adapter reports it once, as RunError.
PYSPARK_ERROR_LOGGERS = ("SQLQueryContextLogger", "DataFrameQueryContextLogger")
MAX_THREADS = 4


@dataclass(frozen=True, kw_only=True)
class SparkConfig(TargetConfig):
    """A ``type: spark`` target block: ``remote`` set means Spark Connect, else ``master``."""

    master: str = "local[2]"
    remote: str | None = None
    warehouse: str = "target/spark-warehouse"
    conf: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_block(cls, block: dict[str, Any], keypath: str) -> Self:
        values: dict[str, Any] = {"threads": block.get("threads")}
        if "remote" in block:
            for local_only in ("master", "warehouse"):
                if local_only in block:
                    raise ProjectError(f"{keypath}.{local_only}: only for a local session; a "
                                       "Spark Connect server (remote:) has its own", PROJECT_FILE)
            values["remote"] = _matching(block["remote"], REMOTE, f"{keypath}.remote",
                                         "a Spark Connect URL sc://host:port")
        if "master" in block:
            values["master"] = _matching(block["master"], MASTER, f"{keypath}.master",
                                         "a Spark master: local[N], local[*], spark://host:port")
        if "warehouse" in block:
            values["warehouse"] = expect(block["warehouse"], str, f"{keypath}.warehouse",
                                         "a directory path")
        if "conf" in block:
            values["conf"] = _conf(block["conf"], f"{keypath}.conf")
        return cls(**values)


def _matching(value: Any, pattern: re.Pattern[str], keypath: str, what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ProjectError(f"{keypath}: expected {what}, got {value!r}", PROJECT_FILE)
    return value


def _conf(value: Any, keypath: str) -> tuple[tuple[str, str], ...]:
    """``conf:`` as sorted (key, value) strings: keys ``spark.*``, values scalars."""
    expect(value, dict, keypath, "a mapping of Spark settings (spark.x: value)")
    pairs = []
    for key, setting in value.items():
        if not isinstance(key, str) or not key.startswith("spark."):
            raise ProjectError(f"{keypath}: '{key}' is not a Spark setting (spark.…)", PROJECT_FILE)
        if key in RESERVED_CONF:
            raise ProjectError(f"{keypath}.{key}: set by the runner (use warehouse:, master: or "
                               "remote:)", PROJECT_FILE)
        if isinstance(setting, dict | list) or setting is None:
            raise ProjectError(f"{keypath}.{key}: expected a string, number or boolean, got "
                               f"{setting!r}", PROJECT_FILE)
        pairs.append((key, str(setting).lower() if isinstance(setting, bool) else str(setting)))
    return tuple(sorted(pairs))


class SparkAdapter(Adapter):
    """Target ``type: spark``: models run as written on a SparkSession."""

    type: ClassVar[str] = "spark"
    dialect: ClassVar[str] = "spark"
    binds: ClassVar[bool] = True
    runs_translated_sql: ClassVar[bool] = False
    creates_local_sources: ClassVar[bool] = True
    file_suffixes: ClassVar[frozenset[str]] = frozenset(FILE_FORMATS)
    writes_datasets: ClassVar[bool] = False
    config_class: ClassVar[type[TargetConfig]] = SparkConfig
    config_keys: ClassVar[dict[str, str]] = {
        "master": "a local session's master (default local[2]); its catalog persists under "
                  "target/spark-metastore",
        "remote": "a Spark Connect server, sc://host:15002 (instead of master)",
        "warehouse": "where a local session keeps its tables (default target/spark-warehouse)",
        "conf": "Spark settings for the session, {spark.x: value} (non-ANSI and UTC by default)",
    }
    config: SparkConfig

    def __init__(self, name: str, config: dict[str, Any], root: Path) -> None:
        super().__init__(name, config, root)
        self.warehouse = (root / self.config.warehouse).resolve()
        self.metastore = self.warehouse.parent / "spark-metastore"
        self._spark: SparkSession | None = None
        self._lock = threading.Lock()
        self._functions: set[str] | None = None

    @property
    def max_threads(self) -> int | None:
        return MAX_THREADS

    # -- session ---------------------------------------------------------------------------
    def open(self) -> None:
        with self._lock:
            if self._spark is None:
                _quiet_error_loggers()
                self._spark = self._remote() if self.config.remote else self._local()

    def _local(self) -> SparkSession:
        builder = _builder()
        from pyspark import SparkContext

        if SparkContext._active_spark_context is not None:
            raise RunError(f"target '{self.name}': a SparkSession is already running in this "
                           "process; the spark target starts its own (with its catalog under "
                           "target/): stop the other one first, or use remote: sc://host:port")
        self.warehouse.mkdir(parents=True, exist_ok=True)
        derby = f"jdbc:derby:;databaseName={self.metastore};create=true"
        settings = {**SESSION_CONF, **LOCAL_CONF, **dict(self.config.conf),
                    "spark.sql.warehouse.dir": str(self.warehouse),
                    "spark.sql.catalogImplementation": "hive",
                    "spark.hadoop.javax.jdo.option.ConnectionURL": derby}
        java_options = " ".join(filter(None, [  # Derby's log in target/, not the working dir
            settings.get("spark.driver.extraJavaOptions"),
            f"-Dderby.stream.error.file={self.warehouse.parent / 'derby.log'}"]))
        builder = builder.master(self.config.master).appName(f"runner-{self.name}")
        for key, value in settings.items():
            builder = builder.config(key, value)
        builder = builder.config("spark.driver.extraJavaOptions", java_options)
        try:
            spark = builder.getOrCreate()
        except Exception as err:  # noqa: BLE001 - Java missing, a port taken, a bad setting
            raise RunError(f"target '{self.name}': cannot start Spark: {_first_line(err)} "
                           "(Spark needs Java 17+ on PATH or JAVA_HOME)") from None
        spark.sparkContext.setLogLevel("ERROR")
        return spark

    def _remote(self) -> SparkSession:
        builder = _builder()
        try:
            builder = builder.remote(self.config.remote)
            for key, value in {**SESSION_CONF, **dict(self.config.conf)}.items():
                builder = builder.config(key, value)
            spark = builder.getOrCreate()
            spark.sql("SELECT 1").collect()
        except ImportError as err:
            raise RunError(f"target '{self.name}': Spark Connect needs pyspark's connect extra "
                           f"({err.name} is missing): pip install 'feature-runner[spark-connect]'"
                           ) from None
        except Exception as err:  # noqa: BLE001 - the server refused or cannot be reached
            raise RunError(f"target '{self.name}': cannot reach Spark Connect at "
                           f"{self.config.remote}: {_first_line(err)}") from None
        return spark

    def close(self) -> None:
        with self._lock:
            if self._spark is not None:
                self._spark.stop()
                self._spark = None
                self._functions = None

    def cancel(self) -> None:
        """Cancel every running Spark job (Ctrl-C); called from another thread."""
        spark = self._spark
        if spark is None:
            return
        if self.config.remote:
            spark.interruptAll()
        else:
            spark.sparkContext.cancelAllJobs()

    @property
    def spark(self) -> SparkSession:
        """The session (opened on first use)."""
        if self._spark is None:
            self.open()
        assert self._spark is not None
        return self._spark

    # -- rendering -------------------------------------------------------------------------
    def create_table_sql(self, name: str, select: Query, ddl: ModelDDLConfig) -> str:
        """``CREATE TABLE name USING PARQUET AS select`` (a managed table in the warehouse)."""
        using = exp.Properties(expressions=[exp.FileFormatProperty(this=exp.var("PARQUET"))])
        return self.render_create(
            exp.Create(this=relation(name), kind="TABLE", properties=using), select)

    def file_view_sql(self, name: str, file: Path) -> str:
        """``CREATE TABLE name USING <format> OPTIONS (path …)``: an external table over the file
        (or glob), read at query time, kept in the metastore (a view over a temporary view could
        not be; Spark's ``csv.`path``` syntax would ignore the header)."""
        source, options = FILE_FORMATS[file.suffix.lower()]
        if not file.is_absolute():  # relative to the project, wherever Spark's cwd is
            file = (self.root / file).resolve()
        props = [exp.Property(this=exp.Literal.string(k), value=exp.Literal.string(v))
                 for k, v in {"path": str(file), **options}.items()]
        properties = exp.Properties(expressions=[
            exp.FileFormatProperty(this=exp.var(source)), exp.OptionsProperty(expressions=props)])
        return exp.Create(this=exp.to_table(name), kind="TABLE",
                          properties=properties).sql(dialect=self.dialect)

    # -- execution -------------------------------------------------------------------------
    def execute(self, sql: str) -> None:
        self._run(lambda: self.spark.sql(sql).collect())

    def fetch(self, sql: str) -> list[tuple]:
        """Rows of ``sql``. Spark's EXPLAIN reports a query it cannot bind in its output, not
        as an error: that output is raised as RunError, so ``EXPLAIN`` binds as elsewhere."""
        rows = [tuple(row) for row in self._run(lambda: self.spark.sql(sql).collect())]
        if sql.lstrip()[:7].upper() == "EXPLAIN" and rows and str(rows[0][0]).startswith(
                PLANNING_ERROR):
            raise RunError(" ".join(str(r[0]) for r in rows[1:2]) or PLANNING_ERROR)
        return rows

    def fetch_arrow(self, sql: str) -> pyarrow.Table:
        return self._run(lambda: self.spark.sql(sql).toArrow())

    def load_arrow(self, tables: dict[str, pyarrow.Table]) -> dict[str, int]:
        """Save each Arrow table as a managed Parquet table (replacing it); nested types kept."""
        counts: dict[str, int] = {}
        for name, table in tables.items():
            frame = self._run(lambda: self.spark.createDataFrame(table))
            self._run(lambda: frame.write.mode("overwrite").format("parquet").saveAsTable(name))
            counts[name] = self.row_count(name)
        return counts

    def relations(self) -> dict[str, str]:
        views = {row[1].lower() for row in self.fetch("SHOW VIEWS") if not row[2]}
        return {row[1].lower(): "view" if row[1].lower() in views else "table"
                for row in self.fetch("SHOW TABLES") if not row[2]}

    def check_exists(self, name: str) -> bool:
        return bool(self._run(lambda: self.spark.catalog.tableExists(name)))

    def column_types(self, relation: str) -> dict[str, exp.DataType]:
        if not self.exists(relation):
            return {}
        types: dict[str, exp.DataType] = {}
        for field in self._run(lambda: self.spark.table(relation).schema.fields):
            try:
                types[field.name] = exp.DataType.build(field.dataType.simpleString(),
                                                       dialect=self.dialect)
            except Exception:  # noqa: BLE001 - a type sqlglot cannot read: treat as unknown
                continue
        return types

    def known_functions(self) -> set[str] | None:
        if self._functions is None:
            self._functions = {str(row[0]).lower() for row in self.fetch("SHOW FUNCTIONS")}
        return self._functions

    def _run(self, call: Any) -> Any:
        """``call()``, with Spark's errors (classic or Connect) raised as RunError."""
        from py4j.protocol import Py4JError
        from pyspark.errors import PySparkException

        try:
            return call()
        except (PySparkException, Py4JError) as err:
            raise RunError(_first_line(err)) from None


def _builder() -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise RunError("the spark target needs pyspark: pip install 'feature-runner[spark]'"
                       ) from None
    return SparkSession.builder


def _quiet_error_loggers() -> None:
    try:  # pyspark's own logger class: its calls pass keywords a plain Logger refuses
        from pyspark.logger import PySparkLogger
    except ImportError:
        return
    for name in PYSPARK_ERROR_LOGGERS:
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)


def _first_line(err: BaseException) -> str:
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__
