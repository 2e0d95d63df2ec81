"""The emulated Batch Ingestion API and batch status in Catalog (contract-ingest §1).

Base ``/data/foundation/import``:

- ``POST /batches`` with ``{"datasetId", "inputFormat": {"format": "parquet"|"json"}}``
  (optional ``isMultiLineJson``, ``replay``, ``enableErrorDiagnostics``,
  ``partialIngestionPercent``/``partialIngestionPercentage``, ``tags``; any other key is a 400)
  creates a batch in ``loading`` and answers 201 with the batch object. A dataset Catalog does
  not know is a 400, as is an ``inputFormat`` other than parquet or json (the emulator does not
  ingest CSV) [inferred: the real error bodies are undocumented].
- ``PUT /batches/{batchId}/datasets/{datasetId}/files/{fileName}`` (``fileName`` may contain
  ``/``) takes the raw bytes with ``Content-Type: application/octet-stream`` only, only while
  the batch is ``loading``, into that batch's dataset, at most ``max_file_bytes`` (256 MB; 413
  above) and 1,500 files a batch; 200 with an empty body. A second PUT of one name replaces the
  file (the name is where it is stored), so a retried upload never adds a file.
- ``POST /batches/{batchId}?action=COMPLETE`` (case-insensitive) answers 200 at once and moves
  the batch to ``staging``; ``delay`` seconds later a worker loads the files
  (:mod:`~aep_emulator.ingestload`) and the batch ends ``success`` or ``failed`` with one
  ``errors[]`` item. COMPLETE again answers 200 (safe to retry) unless the batch failed or was
  aborted. ``?action=ABORT`` works until the batch reaches a final state (then 400).
  ``?action=REVERT`` deletes a successful batch's rows from the dataset's table and leaves the
  batch ``inactive`` (again on an inactive batch: 200, nothing changes [inferred]); on a batch
  still in progress or that never succeeded it is a 400 ("abort in-progress batches, revert
  mastered ones", §1.4). The emulator reverts at once; Platform garbage-collects later
  (``deleted``), which is not emulated.

Catalog ``GET /data/foundation/catalog/batches/{batchId}`` answers ``{"<id>": {...}}`` with
``status``, ``errors`` and, once processed, ``metrics`` (``inputRecordCount``,
``outputRecordCount``, ``inputByteSize``, ``outputByteSize``, ``inputFileCount``,
``outputFileCount``, ``partitionCount``; the contract found no ``recordCount``). A successful
batch's rows are in the dataset's table, so SQL reads them at once, and the dataset's
``lastBatchId``/``lastBatchStatus`` name it. A Profile dataset's rows arrive shaped as XDM
(``_<tenant>`` an object) and land in its flattened columns (:mod:`~aep_emulator.schemas`).

Catalog ``GET /data/foundation/catalog/batches`` lists batches as one keyed object, filtered by
``dataSet`` and ``status``, sorted by ``orderBy`` (``desc:created``, the default, or
``asc:created``), paged by ``limit`` (1-100, default 20 [inferred]) and ``start`` (an offset);
any other parameter is a 400 [inferred].

Not emulated: CSV, chunked large-file upload, ``FAIL``, replay, partial ingestion.
"""

from __future__ import annotations

import copy
import secrets
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .catalog import PQS_TAG, catalog, now_ms
from .ingestload import EMPTY, UNKNOWN, LoadFailed, column_types, load, read_rows, unload
from .routing import Request, Response, Router, problem
from .schemas import registry

if TYPE_CHECKING:
    from .server import Emulator

BASE = "/data/foundation/import"
CATALOG = "/data/foundation/catalog"
FORMATS = ("parquet", "json")  # CSV (legacy, flat schemas only) is not emulated
BODY_KEYS = {"datasetId", "inputFormat", "replay", "enableErrorDiagnostics",
             "partialIngestionPercent", "partialIngestionPercentage", "tags"}
FINAL = {"success", "failed", "aborted"}
MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_FILES = 1500


@dataclass
class Batch:
    """One batch: its Catalog record and the files uploaded to it (name -> bytes)."""

    record: dict[str, Any]
    dataset_id: str
    files: dict[str, bytes] = field(default_factory=dict)
    aborted: threading.Event = field(default_factory=threading.Event)
    rows: list[str] = field(default_factory=list)  # the ctids its load wrote


class Batches:
    """The batches of one emulated sandbox and the workers that load them.

    ``delay`` is how long a completed batch stays ``staging`` before it is loaded;
    ``max_file_bytes`` the largest file a PUT takes (both may be changed by a test).
    """

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.items: dict[str, Batch] = {}
        self.delay = 0.05
        self.max_file_bytes = MAX_FILE_BYTES
        self.lock = threading.RLock()
        self._threads: list[threading.Thread] = []

    def create(self, dataset_id: str, fmt: str, multiline: bool) -> dict[str, Any]:
        """A new ``loading`` batch for ``dataset_id``; its record (a copy)."""
        batch_id = secrets.token_hex(16)
        now = now_ms()
        user = f"{self.emu.client_id}@techacct.adobe.com"
        record = {"id": batch_id, "externalId": batch_id, "imsOrg": self.emu.org_id,
                  "created": now, "updated": now, "createdClient": self.emu.client_id,
                  "createdUser": user, "updatedUser": user, "status": "loading",
                  "relatedObjects": [{"type": "dataSet", "id": dataset_id}],
                  "version": "1.0.0", "tags": {}, "errors": [],
                  "inputFormat": {"format": fmt, **({"isMultiLineJson": True} if multiline
                                                    else {})}}
        with self.lock:
            self.items[batch_id] = Batch(record, dataset_id)
            return copy.deepcopy(record)

    def file_names(self, batch_id: str) -> list[str]:
        """The names of the files uploaded to ``batch_id``, in upload order."""
        with self.lock:
            return list(self.items[batch_id].files)

    def _set(self, batch: Batch, **fields: Any) -> None:
        with self.lock:
            batch.record.update(fields, updated=now_ms())

    def complete(self, batch: Batch) -> None:
        """Move ``batch`` to ``staging`` and start the worker that loads it."""
        self._set(batch, status="staging", started=now_ms())
        thread = threading.Thread(target=self._process, args=(batch,), daemon=True,
                                  name=f"emulated-batch-{batch.record['id'][:8]}")
        with self.lock:
            self._threads.append(thread)
        thread.start()

    def _process(self, batch: Batch) -> None:
        if batch.aborted.wait(self.delay):
            return
        record = catalog(self.emu).get(batch.dataset_id)
        size = sum(len(data) for data in batch.files.values())
        metrics = {"inputByteSize": size, "inputFileCount": len(batch.files),
                   "inputRecordCount": 0, "outputRecordCount": 0, "outputByteSize": 0,
                   "outputFileCount": 0, "partitionCount": 0}
        try:
            if record is None:
                raise LoadFailed(UNKNOWN, f"Dataset '{batch.dataset_id}' no longer exists")
            if not batch.files:
                raise LoadFailed(EMPTY, "Dataset file is empty. Please upload file with data.")
            table = record["tags"][PQS_TAG][0]
            types = column_types(self.emu.engine, table)
            fmt = batch.record["inputFormat"]
            reg = registry(self.emu)
            namespace, shape = f"_{reg.tenant}", reg.shape_of(record)
            files = [(name, *read_rows(name, data, fmt["format"],
                                       fmt.get("isMultiLineJson", False), types, namespace,
                                       shape))
                     for name, data in batch.files.items()]
            metrics["inputRecordCount"] = sum(len(rows) for _, _, rows in files)
            with self.lock:  # an ABORT that won the race stops the load
                if batch.aborted.is_set():
                    return
                batch.rows = load(self.emu.engine, table, files, types)
                written = len(batch.rows)
                metrics.update(outputRecordCount=written, outputByteSize=size,
                               outputFileCount=len(files), partitionCount=1)
                # the dataset shows the batch before the batch says success: a client that
                # reads the dataset on success sees its rows counted
                record.update(lastBatchId=batch.record["id"], lastBatchStatus="success")
                catalog(self.emu).touch(table)
                self._set(batch, status="success", metrics=metrics, completed=now_ms())
            return
        except Exception as exc:  # noqa: BLE001 - a worker must end its batch, whatever failed
            failure = exc if isinstance(exc, LoadFailed) else LoadFailed(
                UNKNOWN, f"Unknown error occurred. {type(exc).__name__}: {exc}")
            with self.lock:
                if batch.aborted.is_set():
                    return
                metrics["failureReason"] = failure.error["description"]
                self._set(batch, status="failed", errors=[failure.error], metrics=metrics,
                          completed=now_ms())
        if record is not None:
            record.update(lastBatchId=batch.record["id"], lastBatchStatus="failed")

    def stop(self) -> None:
        """Abort the batches still loading and wait for the workers (the emulator stops)."""
        for batch in list(self.items.values()):
            batch.aborted.set()
        for thread in list(self._threads):
            thread.join(timeout=10)


def batches(emu: Emulator) -> Batches:
    """The batches of ``emu`` (created by :func:`register`, which also stops their workers)."""
    return emu.service_state("ingest", lambda: Batches(emu))


def _bad(detail: str) -> Response:
    return problem(400, "BadRequestError", detail)


def register(router: Router, emu: Emulator) -> None:
    """Add the Batch Ingestion paths and Catalog's batch path."""
    state = batches(emu)
    emu.on_stop(state.stop)
    emu.raw_body_paths.append(f"{BASE}/batches/*/datasets/*/files/*")

    def find(batch_id: str) -> Batch | Response:
        batch = state.items.get(batch_id)
        return batch if batch is not None else problem(
            404, "NotFoundError", f"Batch '{batch_id}' was not found")

    def create(request: Request, params: dict[str, str]) -> Response:
        body = request.json
        if not isinstance(body, dict):
            return _bad("The request body must be a JSON object with 'datasetId' and "
                        "'inputFormat'")
        unknown = sorted(set(body) - BODY_KEYS)
        if unknown:
            return _bad(f"Unknown field(s) {', '.join(unknown)}; allowed: "
                        f"{', '.join(sorted(BODY_KEYS))}")
        dataset_id = body.get("datasetId")
        if not isinstance(dataset_id, str) or not dataset_id:
            return _bad("'datasetId' is required")
        if catalog(emu).get(dataset_id) is None:
            return _bad(f"Dataset '{dataset_id}' was not found")
        # Absent inputFormat: aepp's default, json [uncertain: BI-OV leaves it out].
        fmt = body.get("inputFormat", {"format": "json"})
        if not isinstance(fmt, dict) or fmt.get("format") not in FORMATS:
            got = fmt.get("format") if isinstance(fmt, dict) else fmt
            return _bad(f"'inputFormat.format' must be parquet or json (the emulator does not "
                        f"ingest CSV), got {got!r}")
        multiline = fmt.get("isMultiLineJson", False)
        if not isinstance(multiline, bool):
            return _bad("'inputFormat.isMultiLineJson' must be a boolean")
        return Response(201, state.create(dataset_id, fmt["format"], multiline))

    def upload(request: Request, params: dict[str, str]) -> Response:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/octet-stream":
            return _bad(f"A file upload must be sent with Content-Type: "
                        f"application/octet-stream, got {ctype or 'none'}")
        batch = find(params["batchId"])
        if isinstance(batch, Response):
            return batch
        if params["datasetId"] != batch.dataset_id:
            return _bad(f"Batch '{params['batchId']}' belongs to dataset '{batch.dataset_id}', "
                        f"not '{params['datasetId']}'")
        if len(request.body) > state.max_file_bytes:
            return problem(413, "PayloadTooLarge", f"File '{params['fileName']}' is "
                           f"{len(request.body)} bytes; a small file upload takes at most "
                           f"{state.max_file_bytes}")
        with state.lock:
            status = batch.record["status"]
            if status != "loading":
                return _bad(f"Batch '{params['batchId']}' is {status}; files can only be "
                            "uploaded while it is loading")
            if params["fileName"] not in batch.files and len(batch.files) >= MAX_FILES:
                return _bad(f"Batch '{params['batchId']}' already has {MAX_FILES} files")
            batch.files[params["fileName"]] = request.body
        return Response(200)

    def action(request: Request, params: dict[str, str]) -> Response:
        batch = find(params["batchId"])
        if isinstance(batch, Response):
            return batch
        name = (request.param("action") or "").upper()
        with state.lock:
            status = batch.record["status"]
            if name == "COMPLETE":
                if status in ("failed", "aborted"):
                    return _bad(f"Batch '{params['batchId']}' is {status} and cannot be "
                                "completed")
                if status == "loading":
                    state.complete(batch)
                return Response(200)
            if name == "ABORT":
                if status in FINAL:
                    return _bad(f"Batch '{params['batchId']}' is {status}; only a batch in "
                                "progress can be aborted")
                batch.aborted.set()
                state._set(batch, status="aborted")
                return Response(200)
            if name == "REVERT":
                if status == "inactive":
                    return Response(200)
                if status != "success":
                    return _bad(f"Batch '{params['batchId']}' is {status}; only a successful "
                                "batch can be reverted (abort a batch in progress)")
                record = catalog(emu).get(batch.dataset_id)
                if record is not None:
                    table = record["tags"][PQS_TAG][0]
                    unload(emu.engine, table, batch.rows)
                    catalog(emu).touch(table)
                batch.rows = []
                state._set(batch, status="inactive")
                return Response(200)
        return _bad(f"Query parameter 'action' must be COMPLETE, ABORT or REVERT, got "
                    f"{request.param('action')!r}")

    def status(request: Request, params: dict[str, str]) -> Response:
        batch = find(params["batchId"])
        if isinstance(batch, Response):
            return batch
        with state.lock:
            return Response(200, {params["batchId"]: copy.deepcopy(batch.record)})

    def listing(request: Request, params: dict[str, str]) -> Response:
        allowed = {"dataSet", "status", "orderBy", "limit", "start"}
        unknown = sorted(set(request.query) - allowed)
        if unknown:
            return _bad(f"Unknown query parameter(s) {', '.join(unknown)}; allowed: "
                        f"{', '.join(sorted(allowed))}")
        order = request.param("orderBy") or "desc:created"
        limit, start = request.param("limit") or "20", request.param("start") or "0"
        if order not in ("desc:created", "asc:created") or not limit.isdigit() or \
                not 1 <= int(limit) <= 100 or not start.isdigit():
            return _bad("orderBy must be desc:created or asc:created, limit 1-100 and start an "
                        "offset")
        with state.lock:  # items are in creation order: a tie in ``created`` keeps it
            records = [copy.deepcopy(b.record) for b in state.items.values()
                       if request.param("dataSet") in (None, b.dataset_id)
                       and request.param("status") in (None, b.record["status"])]
        if order == "desc:created":
            records.reverse()
        page = records[int(start):int(start) + int(limit)]
        return Response(200, {r["id"]: r for r in page})

    router.add("GET", f"{CATALOG}/batches", listing)
    router.add("POST", f"{BASE}/batches", create)
    router.add("PUT", f"{BASE}/batches/{{batchId}}/datasets/{{datasetId}}/files/{{fileName*}}",
               upload)
    router.add("POST", f"{BASE}/batches/{{batchId}}", action)
    router.add("GET", f"{CATALOG}/batches/{{batchId}}", status)
