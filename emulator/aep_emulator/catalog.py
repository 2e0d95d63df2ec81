"""The emulated Catalog Service (contract §3.2, §4): one dataset per Data Distiller table.

In Data Distiller a table *is* a dataset: a CTAS creates a dataset named after the table with
an ad hoc schema, and the table name is in its tags (``tags["adobe/pqs/table"]``). The emulator
keeps that invariant by synchronising the dataset records with the tables of the sandbox
database whenever the Catalog is read and after every batch query: a new table gets a dataset,
a dropped table loses its dataset, and ``DELETE /dataSets/{id}`` drops the table. A CTAS sent
over the PostgreSQL wire therefore registers a dataset too, as it does on Platform.

Paths (base ``/data/foundation/catalog``): ``GET /dataSets?name=&limit=&start=&properties=
&orderBy=`` answers an object keyed by dataset id (no wrapper, no links); ``GET /dataSets/{id}``
the same shape with one key; ``DELETE /dataSets/{id}`` answers ``["@/dataSets/<id>"]``.

Listing (ingest contract §6): ``limit`` 1..100, default 20, at most 20 when ``properties``
names ``observableSchema``; ``start`` a 0-based offset; ``orderBy`` comma-separated
``[asc:|desc:]<field>`` keys (default ascending) over top-level fields; ``properties`` keeps the
top-level fields named. A record's ``extensions.adobe_lakeHouse.metrics`` (``rowCount``,
``storageSize``, ``asOf``) is a snapshot taken when its table was registered or written by a
batch query, so it lags a write over the PostgreSQL interface, as the contract warns.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import TYPE_CHECKING, Any

from psycopg2 import sql

from .server import Request, Response, Router, problem

if TYPE_CHECKING:
    from .server import Emulator

BASE = "/data/foundation/catalog"
PQS_TAG = "adobe/pqs/table"
DEFAULT_LIMIT, MAX_LIMIT, MAX_LIMIT_OBSERVABLE = 20, 100, 20


def now_ms() -> int:
    """The current time in epoch milliseconds (Catalog's timestamps)."""
    return int(time.time() * 1000)


class Catalog:
    """The dataset records of one emulated sandbox."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.datasets: dict[str, dict[str, Any]] = {}
        self.options: dict[str, dict[str, str]] = {}  # dataset id -> CTAS WITH options
        self._pending: dict[str, dict[str, Any]] = {}  # table -> what its CTAS said about it
        self._lock = threading.RLock()

    def expect(self, table: str, *, description: str | None = None,
               options: dict[str, str] | None = None) -> None:
        """Remember what a CTAS about to create ``table`` said, for its dataset record."""
        with self._lock:
            self._pending[table] = {"description": description, "options": options or {}}

    def forget(self, tables: list[str]) -> None:
        """Drop what :meth:`expect` remembered for ``tables`` (their CTAS ended)."""
        with self._lock:
            for table in tables:
                self._pending.pop(table, None)

    def sync(self) -> None:
        """Create a dataset for every new table and delete those whose table is gone."""
        with self._lock:  # the table list must not go stale while records change
            tables = self.emu.engine.tables()
            known = {rec["tags"][PQS_TAG][0]: ds_id for ds_id, rec in self.datasets.items()
                     if PQS_TAG in rec["tags"]}
            for table in sorted(tables - known.keys()):
                self._register(table)
            for table, ds_id in known.items():
                if table not in tables:
                    self.datasets.pop(ds_id, None)
                    self.options.pop(ds_id, None)

    def touch(self, table: str) -> None:
        """Mark the dataset of ``table`` updated (rows were written to it) and take a new
        snapshot of its lakehouse metrics."""
        with self._lock:
            for record in self.datasets.values():
                if record["tags"].get(PQS_TAG, [None])[0] == table:
                    record["updated"] = now_ms()
                    record["extensions"] = self._lakehouse(table)

    def _lakehouse(self, table: str) -> dict[str, Any]:
        """``extensions`` with a snapshot of the table's ``adobe_lakeHouse`` metrics now."""
        conn = self.emu.engine.connect()
        try:
            with conn, conn.cursor() as cur:
                cur.execute(sql.SQL("SELECT count(*), pg_total_relation_size({}) FROM {}").format(
                    sql.Literal(table), sql.Identifier(table)))
                rows, size = cur.fetchone()
        finally:
            conn.close()
        return {"adobe_lakeHouse": {"metrics": {"storageSize": int(size), "rowCount": int(rows),
                                                "asOf": now_ms()}}}

    def _register(self, table: str) -> None:
        pending = self._pending.pop(table, {})
        options = pending.get("options") or {}
        ds_id = secrets.token_hex(12)
        created = now_ms()
        tags: dict[str, list[str]] = {PQS_TAG: [table]}
        if str(options.get("label", "")).lower() == "profile":
            tags["unifiedProfile"] = ["enabled:true"]
        schema = options.get("schema")
        schema_id = (f"https://ns.adobe.com/{self.emu.org_id.split('@')[0].lower()}/schemas/"
                     f"{secrets.token_hex(16)}")
        record: dict[str, Any] = {
            "name": table,
            "description": pending.get("description") or "",
            "imsOrg": self.emu.org_id,
            "sandboxName": self.emu.sandbox,
            "tags": tags,
            "version": "1.0.0",
            "created": created,
            "updated": created,
            "createdClient": self.emu.client_id,
            "createdUser": f"{self.emu.client_id}@techacct.adobe.com",
            "schemaRef": {"id": schema_id,
                          "contentType": "application/vnd.adobe.xed-full+json;version=1"},
            "files": f"@/dataSetFiles?dataSetId={ds_id}",
            # Contract-ingest §6 lists "time-series" and "record" [inferred]; a Data Distiller
            # table has no behaviour of its own, so the emulator says "record".
            "classification": {"dataBehavior": "record", "managedBy": "CUSTOMER"},
            "lastBatchStatus": "success",
            "extensions": self._lakehouse(table),
        }
        if schema:
            record["schemaRef"]["title"] = schema
        self.datasets[ds_id] = record
        self.options[ds_id] = dict(options)

    def get(self, ds_id: str) -> dict[str, Any] | None:
        """The record of ``ds_id`` after a sync (None if there is none)."""
        self.sync()
        with self._lock:
            return self.datasets.get(ds_id)

    def delete(self, ds_id: str) -> bool:
        """Drop the dataset's table (and so the dataset); False if there is no such dataset."""
        record = self.get(ds_id)
        if record is None:
            return False
        if PQS_TAG not in record["tags"]:  # a record a test made by hand: no table to drop
            with self._lock:
                self.datasets.pop(ds_id, None)
            return True
        conn = self.emu.engine.connect()
        try:
            with conn, conn.cursor() as cur:
                cur.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(
                    sql.Identifier(record["tags"][PQS_TAG][0])))
        finally:
            conn.close()
        self.sync()
        return True


def catalog(emu: Emulator) -> Catalog:
    """The Catalog of ``emu`` (created on first use)."""
    return emu.service_state("catalog", lambda: Catalog(emu))


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int | Response:
    raw = request.param(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        return problem(400, "BadRequestError",
                       f"Query parameter '{name}' must be an integer from {low} to {high}")
    return int(raw)


def _order_keys(raw: str | None) -> list[tuple[str, bool]] | Response:
    """``orderBy=asc:created,desc:updated,name`` as (field, descending) pairs."""
    if raw is None:
        return []
    keys = []
    for part in raw.split(","):
        direction, _, name = part.strip().rpartition(":")
        if direction not in ("", "asc", "desc") or not name:
            return problem(400, "BadRequestError",
                           f"Query parameter 'orderBy' has an invalid key '{part}'; use "
                           "[asc:|desc:]<property>, comma-separated")
        keys.append((name, direction == "desc"))
    return keys


def _sort_value(value: Any) -> tuple[int, Any]:
    """A record's value to sort on: numbers before text."""
    if isinstance(value, (int, float)):
        return (0, value)
    return (1, str(value))


def register(router: Router, emu: Emulator) -> None:
    """Add the Catalog dataset paths."""
    cat = catalog(emu)

    def project(record: dict[str, Any], properties: str | None) -> dict[str, Any]:
        if not properties:
            return record
        keep = {p.strip() for p in properties.split(",")}
        return {k: v for k, v in record.items() if k in keep}

    def list_datasets(request: Request, params: dict[str, str]) -> Response:
        properties = request.param("properties")
        observable = "observableSchema" in {p.strip() for p in (properties or "").split(",")}
        limit = _int_param(request, "limit", DEFAULT_LIMIT, 1,
                           MAX_LIMIT_OBSERVABLE if observable else MAX_LIMIT)
        start = _int_param(request, "start", 0, 0, 10**9)
        for value in (limit, start):
            if isinstance(value, Response):
                return value
        keys = _order_keys(request.param("orderBy"))
        if isinstance(keys, Response):
            return keys
        cat.sync()
        name = request.param("name")
        with cat._lock:
            items = [(k, v) for k, v in cat.datasets.items() if name is None or v["name"] == name]
        for key, descending in reversed(keys):  # stable sorts, last key first; missing last
            present = [item for item in items if item[1].get(key) is not None]
            present.sort(key=lambda item: _sort_value(item[1][key]), reverse=descending)
            items = present + [item for item in items if item[1].get(key) is None]
        page = items[start:start + limit]
        return Response(200, {k: project(v, properties) for k, v in page})

    def get_dataset(request: Request, params: dict[str, str]) -> Response:
        record = cat.get(params["id"])
        if record is None:
            return problem(404, "NotFoundError", f"Dataset '{params['id']}' was not found")
        return Response(200, {params["id"]: project(record, request.param("properties"))})

    def delete_dataset(request: Request, params: dict[str, str]) -> Response:
        if not cat.delete(params["id"]):
            return problem(404, "NotFoundError", f"Dataset '{params['id']}' was not found")
        return Response(200, [f"@/dataSets/{params['id']}"])

    router.add("GET", f"{BASE}/dataSets", list_datasets)
    router.add("GET", f"{BASE}/dataSets/{{id}}", get_dataset)
    router.add("DELETE", f"{BASE}/dataSets/{{id}}", delete_dataset)
