"""The Data Distiller adapter: build models as batch queries in Adobe Experience Platform.

Data Distiller (Query Service) answers on two channels, and this adapter uses each for what it
is good at (contract §2):

* **Interactive** work (relations, row counts, previews, ``fetch``) goes over the PostgreSQL
  wire protocol with psycopg2, using ``GET /data/foundation/query/connection_parameters``: host,
  port, user, database (``dbName``) and a password that is the IMS access token. The token is
  masked everywhere; when it changes (refreshed before expiry) new parameters are fetched, and a
  connection the server refuses or drops is reopened once with fresh ones.
* **Batch** work (``materialize`` and every ``execute``: CTAS, INSERT, DROP, views) is submitted
  as a batch query (``name`` = the model) and waited for by
  :class:`~runner.adapters.batch_queries.BatchQueries`, which also cancels it on timeout, Ctrl-C
  and close. A successful CTAS is looked up in Catalog (``GET /dataSets?name=<table>``, exactly
  one) so the build records its dataset id.

CTAS is rendered in Data Distiller's form (§3.1), ``CREATE TABLE t WITH (schema='…',
rowvalidation='false', label='PROFILE') AS SELECT …``, with the ``WITH`` clause holding only the
options the model sets. sqlglot's Spark generator writes table properties as ``TBLPROPERTIES``,
so the clause is rendered here from sqlglot literals. With ``single_dataset: true`` a statement
reading exactly one table runs with ``dbName`` ``'<sandbox>:<table>'`` (the REST key is ``dbName``;
psycopg2 gets the same value as ``dbname``), which scopes the session to that dataset.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

from sqlglot import exp

from runner.adapters.base import (Adapter, DatasetInfo, ExecResult, Query, TargetConfig,
                                  relation)
from runner.adapters.batch_queries import BatchQueries
from runner.adapters.pg_common import (PgSessions, StatementInfo, list_relations,
                                       rows_to_arrow, statement_info)
from runner.errors import ProjectError, RunError
from runner.platform.secrets import Secret
from runner.project.model import ModelDDLConfig
from runner.validation import PROJECT_FILE, expect

if TYPE_CHECKING:
    import pyarrow
    from psycopg2.extensions import connection as Connection

    from runner.platform.client import PlatformClient
    from runner.platform.ingest import IngestResult

QUERY = "/data/foundation/query"
CONNECTION_PARAMETERS = f"{QUERY}/connection_parameters"
PQS_TABLE_TAG = "adobe/pqs/table"
DATASETS = "/data/foundation/catalog/dataSets"
# A Catalog listing (ingest contract §6): pages of 100 (the most), oldest first so a dataset
# created while paging lands on a later page, top-level properties only.
LIST_PAGE = 100
LIST_PROPERTIES = "name,created,updated,tags,extensions"
# The contract's limits of an ad hoc query over the PostgreSQL interface (§2.4).
INTERACTIVE_ROW_LIMIT = 50_000
INTERACTIVE_TIMEOUT_STATE = "53400"
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")

# key -> (its type, what it must be), in the order a block is checked.
_CHECKS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "sandbox": (str, "a sandbox name"), "credentials_file": (str, "a file path"),
    "ims_host": (str, "a URL"), "platform_host": (str, "a URL"),
    "max_concurrent_queries": (int, "a whole number >= 1"),
    "poll_interval": ((int, float), "seconds > 0"),
    "query_timeout": ((int, float), "seconds > 0"),
    "sslmode": (str, f"one of {', '.join(SSL_MODES)}"),
    "single_dataset": (bool, "true or false"),
}


@dataclass(frozen=True, kw_only=True)
class DataDistillerConfig(TargetConfig):
    """A ``type: data_distiller`` target block (hosts None: Platform's defaults)."""

    sandbox: str | None = None
    credentials_file: str | None = None
    ims_host: str | None = None
    platform_host: str | None = None
    max_concurrent_queries: int = 1
    poll_interval: float = 5.0
    query_timeout: float = 86400.0
    sslmode: str = "require"
    single_dataset: bool = False

    @classmethod
    def from_block(cls, block: dict[str, Any], keypath: str) -> Self:
        values: dict[str, Any] = {}
        for key, (kind, what) in _CHECKS.items():
            if key not in block:
                continue
            value = expect(block[key], kind, f"{keypath}.{key}", what)
            if key in ("max_concurrent_queries", "poll_interval", "query_timeout"):
                bad = isinstance(value, bool) or value <= 0
            elif key == "sslmode":
                bad = value not in SSL_MODES
            else:
                bad = key.endswith("_host") and not value.startswith(("http://", "https://"))
            if bad:
                raise ProjectError(f"{keypath}.{key}: expected {what}, got {value!r}",
                                   PROJECT_FILE)
            values[key] = float(value) if key in ("poll_interval", "query_timeout") else value
        return cls(threads=block.get("threads"), **values)


class DataDistillerAdapter(Adapter):
    """Runs models as Data Distiller batch queries; reads over the PostgreSQL interface."""

    type: ClassVar[str] = "data_distiller"
    dialect: ClassVar[str] = "spark"
    binds: ClassVar[bool] = False
    runs_translated_sql: ClassVar[bool] = False
    creates_local_sources: ClassVar[bool] = False
    file_suffixes: ClassVar[frozenset[str]] = frozenset()
    writes_datasets: ClassVar[bool] = True  # Schema Registry, Catalog, Batch Ingestion
    config_class: ClassVar[type[TargetConfig]] = DataDistillerConfig
    config_keys: ClassVar[dict[str, str]] = {
        "sandbox": "sandbox name (wins over the credentials file and AEP_SANDBOX)",
        "credentials_file": "INI file with a [Credential] section (ims_org_id, sandbox_name, "
                            "client_id, client_secret, scopes, tech_acct_id); else AEP_* variables",
        "ims_host": "IMS base URL (default https://ims-na1.adobelogin.com)",
        "platform_host": "Platform base URL (default https://platform.adobe.io)",
        "max_concurrent_queries": "batch queries run at once; caps --threads (default 1)",
        "poll_interval": "seconds between the first polls of a query (default 5; grows to 30)",
        "query_timeout": "seconds before a batch query is cancelled (default 86400: 24 h)",
        "sslmode": "libpq sslmode of the PostgreSQL interface (default require)",
        "single_dataset": "scope a statement reading one table to dbName '<sandbox>:<table>' "
                          "(default false)",
    }
    config: DataDistillerConfig

    def __init__(self, name: str, config: dict[str, Any], root: Path) -> None:
        super().__init__(name, config, root)
        self.label = f"target '{name}'"
        self._client: PlatformClient | None = None
        self._params: dict[str, Any] | None = None
        self._params_for: Secret | None = None  # the access token the parameters came with
        self._params_lock = threading.Lock()
        self._lock = threading.Lock()
        self.batch = BatchQueries(lambda: self.platform, poll_interval=self.config.poll_interval,
                                  query_timeout=self.config.query_timeout)
        self.sessions = PgSessions(self.label, self._connect, self.secrets)

    @property
    def max_threads(self) -> int | None:
        return self.config.max_concurrent_queries

    # -- Platform and connections ----------------------------------------------------------
    @property
    def platform(self) -> PlatformClient:
        """The Platform client, created on first use from the target's credentials (exports
        use it too)."""
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            return self._client

    def _make_client(self) -> PlatformClient:
        from runner.platform.credentials import load_credentials
        from runner.platform.client import Hosts, PlatformClient

        config = self.config
        block: dict[str, str] = {"sandbox": config.sandbox} if config.sandbox else {}
        if config.credentials_file is not None:
            path = Path(config.credentials_file).expanduser()
            block["credentials_file"] = str(self.root / path)
        credentials = load_credentials(block, f"targets.{self.name}")
        defaults = Hosts()
        hosts = Hosts(ims=config.ims_host or defaults.ims,
                      platform=config.platform_host or defaults.platform)
        return PlatformClient(credentials, hosts)

    @property
    def sandbox(self) -> str:
        """The sandbox every call and every ``dbName`` names."""
        return self.platform.credentials.sandbox

    def secrets(self) -> list[Any]:
        params, client = self._params, self._client
        return [params["token"] if params else None,
                client.credentials.client_secret if client else None]

    def connection_parameters(self, *, refresh: bool = False) -> dict[str, Any]:
        """``GET …/connection_parameters`` (host, port, dbName, username, token as a Secret).

        Fetched again when the IMS access token they were fetched with has been replaced (it
        expired) or with ``refresh``.
        """
        with self._params_lock:
            token = self.platform.access_token()
            if refresh or self._params is None or self._params_for != token:
                answer = self.platform.get(CONNECTION_PARAMETERS)
                params = {key: answer[key] for key in ("host", "port", "dbName", "username")}
                params["token"] = Secret(answer["token"])
                self._params, self._params_for = params, token
            return self._params

    def _connect(self, key: Hashable) -> Connection:
        """A psycopg2 connection to database ``key`` ('' = the parameters' dbName)."""
        import psycopg2

        for attempt in (1, 2):
            params = self.connection_parameters(refresh=attempt == 2)
            try:
                return psycopg2.connect(
                    host=params["host"], port=params["port"], dbname=key or params["dbName"],
                    user=params["username"], password=params["token"].reveal(),
                    sslmode=self.config.sslmode, application_name="runner", connect_timeout=30)
            except psycopg2.OperationalError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def debug_steps(self) -> list[tuple[str, Callable[[], object]]]:
        """What ``runner debug`` checks before connecting, in order (each raises RunnerError)."""
        return [("credentials", lambda: self.platform),
                ("IMS access token", lambda: self.platform.access_token()),
                ("Query Service connection parameters", self.connection_parameters)]

    def open(self) -> None:
        """Fetch a token and the connection parameters, and open this thread's connection."""
        self.sessions.connection()

    def cancel(self) -> None:
        """Cancel every batch query still running (the build was interrupted)."""
        self.batch.cancel_all()

    def running_queries(self) -> dict[str, str]:
        """The batch queries being waited for, by the name they were submitted with (a
        model's CTAS or view is named by the model)."""
        return self.batch.running_by_name()

    def close(self) -> None:
        """Cancel batch queries still running, close connections and the Platform session."""
        self.cancel()
        self.sessions.close()
        if self._client is not None:
            self._client.close()

    # -- rendering -------------------------------------------------------------------------
    def create_table_sql(self, name: str, select: Query, ddl: ModelDDLConfig) -> str:
        """``CREATE TABLE name [WITH (schema=…, rowvalidation=…, label=…)] AS select`` (§3.1)."""
        options = {"schema": ddl.schema, "label": ddl.label,
                   "rowvalidation": None if ddl.rowvalidation is None
                   else str(ddl.rowvalidation).lower()}
        rendered = [f"{key}={exp.Literal.string(options[key]).sql(dialect=self.dialect)}"
                    for key in ("schema", "rowvalidation", "label") if options[key] is not None]
        if not rendered:
            return super().create_table_sql(name, select, ddl)
        table = relation(name).sql(dialect=self.dialect)
        query = select if isinstance(select, str) else select.sql(dialect=self.dialect)
        return f"CREATE TABLE {table} WITH ({', '.join(rendered)}) AS {query}"

    def create_view_sql(self, name: str, select: Query) -> str:
        """``CREATE OR REPLACE VIEW name AS select``."""
        return self.render_create(exp.Create(this=relation(name), kind="VIEW", replace=True),
                                  select)

    # -- batch queries ---------------------------------------------------------------------
    def _where(self, context: str | None) -> str:
        """The start of an error message: the target, and the model when known."""
        return f"{self.label}: {context}" if context else self.label

    def db_name(self, info: StatementInfo) -> str:
        """``'<sandbox>:<table>'`` for a one-table statement under single_dataset, else
        ``'<sandbox>:all'``."""
        if self.config.single_dataset and len(info.sources) == 1 and "." not in info.sources[0]:
            return f"{self.sandbox}:{info.sources[0]}"
        return f"{self.sandbox}:all"

    def execute(self, sql: str) -> None:
        """Run a statement that returns no rows as a batch query."""
        info = statement_info(sql, self.dialect)
        name = f"runner {info.kind} {info.target}" if info.target else "runner statement"
        self.submit(sql, info, name=name, description=f"runner {self.label}: {name}")

    def materialize(self, sql: str, *, model: str, physical: str) -> ExecResult:
        """Submit the CTAS or view, wait for it, and report its query, dataset and rows."""
        info = statement_info(sql, self.dialect)
        query = self.submit(sql, info, name=model,
                            description=f"runner {self.label}: model {model} -> {physical}",
                            context=f"model {model}")
        result = ExecResult(query_id=query["id"], extra={"elapsed_ms": query.get("elapsedTime")})
        if info.kind == "create_table":
            result.dataset_id = self.dataset_id(physical, context=f"model {model}")
            row_count = query.get("rowCount")
            result.rows = int(row_count) if row_count is not None else self.row_count(physical)
        return result

    def append(self, sql: str, *, model: str, physical: str) -> ExecResult:
        """Submit the INSERT INTO as a batch query sent at most once (``BatchQueries``)."""
        query = self.submit(sql, statement_info(sql, self.dialect), name=model,
                            description=f"runner {self.label}: model {model} += {physical}",
                            context=f"model {model}")
        rows = query.get("rowCount")
        return ExecResult(query_id=query["id"], rows=int(rows) if rows is not None else None,
                          extra={"elapsed_ms": query.get("elapsedTime")})

    def submit(self, sql: str, info: StatementInfo, *, name: str, description: str,
               context: str | None = None) -> dict[str, Any]:
        """Run ``sql`` as a batch query in its ``dbName`` and wait for it; return the final
        query object.

        Raises:
            RunError: the query failed (every ``errors[]`` message), was cancelled, or timed out.
        """
        body = {"dbName": self.db_name(info), "sql": sql, "name": name, "description": description}
        return self.batch.submit(body, where=self._where(context),
                                 creates_table=info.kind == "create_table",
                                 once=info.kind == "insert")

    def dataset_id(self, table: str, *, context: str | None = None,
                   attempts: int = 3) -> str:
        """The id of the one Catalog dataset named ``table`` (§3.2, §4).

        Catalog may list a new dataset a moment after its CTAS ends, so an empty answer is
        asked again (``attempts`` times, ``poll_interval`` apart).
        """
        for attempt in range(attempts):
            found = self.platform.get(DATASETS, params={"name": table}) or {}
            ids = sorted(key for key, value in found.items() if isinstance(value, dict)
                         and str(value.get("name", "")).lower() == table.lower())
            if ids or attempt == attempts - 1:
                break
            time.sleep(self.config.poll_interval)
        if len(ids) != 1:
            raise RunError(f"{self._where(context)}: Catalog has {len(ids)} datasets named "
                           f"'{table}' ({', '.join(ids) or 'none'}); expected exactly one")
        return ids[0]

    def data_versions(self, tables: list[str]) -> dict[str, str]:
        """Catalog's ``updated`` time of each table's dataset (§4): a new batch changes it.

        The dataset is the one whose query table (``tags["adobe/pqs/table"]``, §3.2) is the
        table, looked up by name; a table whose dataset has another display name gets no
        version (use --full-refresh for it).
        """
        versions: dict[str, str] = {}
        for table in tables:
            matches = self._table_datasets(table, "name,tags,updated")
            if len(matches) == 1 and matches[0][1].get("updated") is not None:
                versions[table] = f"catalog updated {matches[0][1]['updated']}"
        return versions

    def dataset_ids(self, tables: list[str]) -> dict[str, str]:
        """The id of each table's dataset (found as in ``data_versions``); a table without
        exactly one is left out."""
        ids = {}
        for table in tables:
            matches = self._table_datasets(table, "name,tags")
            if len(matches) == 1:
                ids[table] = matches[0][0]
        return ids

    def _table_datasets(self, table: str, properties: str) -> list[tuple[str, dict[str, Any]]]:
        """The (id, record) of each dataset named ``table`` whose query table (§3.2) it is."""
        found = self.platform.get(DATASETS, params={"name": table,
                                                    "properties": properties}) or {}
        return [(ds_id, record) for ds_id, record in found.items() if isinstance(record, dict)
                and str((record.get("tags") or {}).get(PQS_TABLE_TAG, [record.get("name")])
                        [0]).lower() == table.lower()]

    # -- datasets --------------------------------------------------------------------------
    def datasets(self) -> list[DatasetInfo]:
        """Every dataset of the sandbox from Catalog (``GET /dataSets``, paged while a page is
        full; ingest contract §6), named by its query table (``tags["adobe/pqs/table"]``), with
        the lakehouse row count as a hint (a periodic snapshot that may lag); columns and
        labels are not in a listing (``describe_dataset`` reads them)."""
        records: list[tuple[str, dict[str, Any]]] = []
        start = 0
        while True:
            page = self.platform.get(DATASETS, params={
                "limit": LIST_PAGE, "start": start, "properties": LIST_PROPERTIES,
                "orderBy": "asc:created"}) or {}
            records.extend((ds_id, rec) for ds_id, rec in page.items() if isinstance(rec, dict))
            if len(page) < LIST_PAGE:
                return [_catalog_info(ds_id, record) for ds_id, record in records]
            start += LIST_PAGE

    def describe_dataset(self, info: DatasetInfo) -> DatasetInfo:
        """``info`` with its columns and exact row count over the PostgreSQL interface (a
        ``SELECT COUNT(*)``, §6's exact option) and its data usage labels (contract §7)."""
        from runner.platform.labels import read_labels

        described = super().describe_dataset(info)
        if info.id is None:
            return described
        labels = read_labels(self.platform, info.id)
        return replace(described, labels={**labels.fields, **({"": labels.dataset}
                                                              if labels.dataset else {})})

    def write_dataset(self, table: str, data: pyarrow.Table, mode: str) -> int:
        """Write ``data`` as the dataset ``table`` through the Schema Registry, Catalog and
        Batch Ingestion APIs; returns its row count.

        ``create`` makes a dataset of the Profile class (not enabled for Profile) whose
        schema ``table`` has the columns as ``_<tenant>`` fields
        (``runner.platform.schemas.ensure_dataset``), then ingests the rows shaped as XDM as
        one batch. ``replace`` deletes a dataset made so (``DELETE /dataSets/{id}``) and
        creates it again; a dataset of another schema (made with SQL) or enabled for Profile
        is refused, since its schema would be lost. ``append`` ingests one batch into the
        dataset whose query table is ``table`` (shaped as XDM when it was made from rows).
        Batches are polled every ``poll_interval`` s up to ``query_timeout``.

        Raises:
            ProjectError: a column type has no XDM counterpart.
            RunError: a refused replace, no single dataset to append to, or a failed batch.
        """
        from runner.platform.schemas import (arrow_fields, ensure_dataset, existing_fieldgroup,
                                             tenant_id, xdm_table)

        if mode == "append":
            ds_id, record = self._one_dataset(table)
            rows = xdm_table(data, tenant_id(self.platform)) if self._from_rows(record) else data
            self.ingest(ds_id, rows)
            return self.row_count(table)
        fields = arrow_fields(data)
        if mode == "replace":
            ds_id, record = self._one_dataset(table)
            self._check_replace(table, record)
            existing_fieldgroup(self.platform, tenant_id(self.platform), table, fields)
            self.platform.delete(f"{DATASETS}/{ds_id}")
        setup = ensure_dataset(self.platform, table, fields)
        if data.num_rows:
            self.ingest(setup.dataset_id, xdm_table(data, setup.tenant))
        return self.row_count(table)

    def _one_dataset(self, table: str) -> tuple[str, dict[str, Any]]:
        """The (id, record) of the one dataset whose query table is ``table``."""
        matches = self._table_datasets(table, "name,tags,schemaRef")
        if len(matches) != 1:
            raise RunError(f"no single Platform dataset has the query table '{table}' (Catalog, "
                           "tags['adobe/pqs/table']); name the dataset by its table name")
        return matches[0]

    def _from_rows(self, record: dict[str, Any]) -> bool:
        """Whether the dataset was made from rows: its schema is the Registry schema titled
        by its name (``write_dataset``'s create)."""
        from runner.platform.schemas import find_schema

        schema = find_schema(self.platform, str(record.get("name")))
        return schema is not None and schema.get("$id") == (record.get("schemaRef") or {}).get("id")

    def _check_replace(self, table: str, record: dict[str, Any]) -> None:
        """Refuse to replace a dataset whose schema would be lost (made with SQL, or enabled
        for Profile)."""
        where = f"target '{self.name}' (data_distiller) cannot replace dataset '{table}'"
        if _catalog_info("", record).profile:
            raise RunError(f"{where}: it is enabled for Profile (runner scores ingest made it) "
                           "and replacing it would lose its identity; ingest the scores again "
                           "(runner scores ingest) or write the rows under another name")
        if not self._from_rows(record):
            raise RunError(f"{where}: it was not made from rows (its schema is not the Schema "
                           f"Registry's '{table}'), so replacing it would lose its schema; drop "
                           f"it (runner datasets rm {table}) and make it again with SQL "
                           f"(query(sql, into='{table}')), or write the rows under another name")

    def ingest(self, dataset_id: str, data: pyarrow.Table, *, check: bool = True
               ) -> IngestResult:
        """One batch of ``data`` into ``dataset_id`` (``runner.platform.ingest``), polled every
        ``poll_interval`` s up to ``query_timeout``."""
        from runner.platform.ingest import ingest_table

        return ingest_table(self.platform, dataset_id, data, check=check,
                            poll_interval=self.config.poll_interval,
                            timeout=self.config.query_timeout)

    # -- interactive queries ---------------------------------------------------------------
    def _read_key(self, sql: str) -> str:
        """The session (database) a read runs in: '<sandbox>:<table>' when scoped, else ''."""
        if not self.config.single_dataset:
            return ""
        name = self.db_name(statement_info(sql, self.dialect))
        return "" if name == f"{self.sandbox}:all" else name

    def fetch(self, sql: str) -> list[tuple]:
        return self.sessions.run(sql, key=self._read_key(sql), fetch=True, retry=True)[0]

    def fetch_arrow(self, sql: str) -> pyarrow.Table:
        rows, description, _ = self.sessions.run(sql, key=self._read_key(sql), fetch=True,
                                                 retry=True)
        return rows_to_arrow(rows, description)

    def query_arrow(self, sql: str) -> pyarrow.Table:
        """An ad hoc query over the PostgreSQL interface, within its limits (§2.4): 10 minutes
        (past them the service fails it with SQLSTATE 53400) and ``INTERACTIVE_ROW_LIMIT`` rows
        (the service sends no more, so a full result is checked with a count of one row more).

        Raises:
            RunError: past either limit, saying to run it as a batch query into a dataset.
        """
        try:
            table = self.fetch_arrow(sql)
        except RunError as err:
            if getattr(err, "pgcode", None) != INTERACTIVE_TIMEOUT_STATE:
                raise
            raise RunError(f"{self.label}: the query ran past Data Distiller's 10-minute limit "
                           f"for an ad hoc query (SQLSTATE {INTERACTIVE_TIMEOUT_STATE}); run it "
                           f"as a batch query into a dataset: query(sql, into='<name>')") from None
        limit = INTERACTIVE_ROW_LIMIT
        if table.num_rows >= limit and self._more_rows_than(sql, limit):
            raise RunError(f"{self.label}: the query returns more than {limit:,} rows, Data "
                           f"Distiller's limit for an ad hoc query over its PostgreSQL "
                           f"interface; add a LIMIT or aggregate, or run it as a batch query "
                           f"into a dataset: query(sql, into='<name>')")
        return table

    def _more_rows_than(self, sql: str, limit: int) -> bool:
        """Whether ``sql`` has more than ``limit`` rows (counted by the engine)."""
        query = exp.select(exp.Count(this=exp.Star())).from_(
            exp.select("1").from_(exp.maybe_parse(sql, dialect=self.dialect).subquery("q"))
            .limit(limit + 1).subquery("c"))
        (count,), = self.fetch(query.sql(dialect=self.dialect))
        return int(count) > limit

    def check_exists(self, name: str) -> bool:
        """Data Distiller's own ``SELECT table_exists('name')`` (§3.1)."""
        query = exp.select(exp.func("table_exists", exp.Literal.string(name)))
        (value,), = self.fetch(query.sql(dialect=self.dialect))
        return value in (True, "t", "true")

    def relations(self) -> dict[str, str]:
        """Tables and views the interactive session sees, outside the system schemas."""
        return list_relations(self.fetch, None, self.dialect)


def _catalog_info(ds_id: str, record: dict[str, Any]) -> DatasetInfo:
    """A Catalog dataset record (§6) as a dataset named by its query table."""
    tags = record.get("tags") or {}
    table = str((tags.get(PQS_TABLE_TAG) or [record.get("name") or ds_id])[0])
    metrics = ((record.get("extensions") or {}).get("adobe_lakeHouse") or {}).get("metrics") or {}
    rows = metrics.get("rowCount")
    profile = any(str(tag).replace(" ", "").lower() == "enabled:true"
                  for tag in tags.get("unifiedProfile") or [])
    return DatasetInfo(name=table, table=table, kind="table", id=ds_id,
                       created=_from_ms(record.get("created")),
                       updated=_from_ms(record.get("updated")),
                       rows=int(rows) if isinstance(rows, (int, float)) else None,
                       profile=profile)


def _from_ms(value: Any) -> datetime | None:
    """A Catalog time (epoch milliseconds) in UTC."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return datetime.fromtimestamp(value / 1000, tz=UTC)
