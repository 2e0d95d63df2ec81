"""Writing an Arrow table into a Platform dataset with the Batch Ingestion API (contract-ingest §1).

One :func:`ingest_table` call is one batch:

1. ``POST /data/foundation/import/batches`` ``{"datasetId", "inputFormat": {"format":
   "parquet"}}`` -> 201 with the batch ``id`` (sent at most once: a retried create could leave a
   second batch behind; a lost answer leaves one empty batch, which Platform abandons);
2. ``PUT /data/foundation/import/batches/{id}/datasets/{dataset}/files/part-00000.parquet``
   for each file, the raw bytes as ``application/octet-stream``; the table is split into
   Parquet files under ``max_file_bytes`` (256 MB, the small-file limit). A PUT names where the
   file is stored, so resending it after a 5xx replaces the file and never adds one: uploads are
   retried by the client's transport like any idempotent call;
3. ``POST /data/foundation/import/batches/{id}?action=COMPLETE`` (safe to retry, per BI-TS);
4. ``GET /data/foundation/catalog/batches/{id}`` every ``poll_interval`` seconds until the
   batch reaches a final state (``success``/``active``, ``failed``/``failure``, ``aborted``,
   ``abandoned``, ``inactive``, ``deleted``).

If anything fails after the batch exists (an upload refused, the poll timing out, Ctrl+C), the
batch is aborted (``?action=ABORT``) and the error re-raised, so no half-written batch is left
``loading``. The records written are Catalog's ``metrics.outputRecordCount``.

:func:`replace_batches` reverts (``?action=REVERT``, §1.4: abort in-progress batches, revert
mastered ones) every earlier successful batch of a dataset, found in Catalog's batch list
(``GET /data/foundation/catalog/batches?dataSet=``, newest first, paged), so that only the
batch just written remains: the dataset keeps its id, schema and labels.

>>> IngestResult("b1", "failed", 0, 1, (BatchError("106", "Empty file."),)).describe("d1")
'batch b1 into dataset d1 failed: 106: Empty file.'
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from runner.errors import PlatformError, RunError
from runner.platform.client import PlatformClient

if TYPE_CHECKING:
    import pyarrow

BATCHES = "/data/foundation/import/batches"
BATCH_STATUS = "/data/foundation/catalog/batches/{id}"
BATCH_LIST = "/data/foundation/catalog/batches"
MASTERED = ("success", "active")
MAX_FILE_BYTES = 256 * 1024 * 1024 - 1  # "split at < 256 MB per file" (contract-ingest §1.2)
SUCCESS = {"success", "active"}
FINAL = SUCCESS | {"failed", "failure", "aborted", "abandoned", "inactive", "deleted"}


class BatchError(NamedTuple):
    """One item of a batch's Catalog ``errors[]``."""

    code: str
    description: str


class IngestResult(NamedTuple):
    """What became of one batch."""

    batch_id: str
    status: str
    records: int
    files: int
    errors: tuple[BatchError, ...]

    @property
    def ok(self) -> bool:
        """The batch succeeded."""
        return self.status in SUCCESS

    def describe(self, dataset_id: str) -> str:
        """One line: the batch, its dataset, its status and its errors."""
        text = f"batch {self.batch_id} into dataset {dataset_id} {self.status}"
        if self.ok:
            return f"{text}: {self.records} records in {self.files} file(s)"
        errors = "; ".join(f"{e.code}: {e.description}" for e in self.errors)
        return f"{text}: {' '.join((errors or 'no error given').split())}"


def parquet_bytes(table: pyarrow.Table) -> bytes:
    """``table`` as one Parquet file."""
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def parquet_files(table: pyarrow.Table, max_file_bytes: int) -> Iterator[bytes]:
    """Parquet files of ``table``'s rows, in order, each at most ``max_file_bytes``.

    A slice that comes out too large is cut down in proportion (with a margin) and written
    again, so a table is written about once whatever its row widths.

    Raises:
        RunError: a single row is larger than ``max_file_bytes``.
    """
    start, rows = 0, table.num_rows
    while start < table.num_rows:
        rows = min(rows, table.num_rows - start)
        data = parquet_bytes(table.slice(start, rows))
        if len(data) <= max_file_bytes:
            yield data
            start += rows
        elif rows == 1:
            raise RunError(f"row {start} alone makes a {len(data)}-byte Parquet file, over the "
                           f"{max_file_bytes}-byte limit of one uploaded file")
        else:
            rows = max(1, min(rows - 1, int(rows * max_file_bytes / len(data) * 0.9)))


def _batch_errors(record: dict[str, Any]) -> tuple[BatchError, ...]:
    return tuple(BatchError(str(e.get("code", "")), str(e.get("description", "")))
                 for e in record.get("errors") or [] if isinstance(e, dict))


def ingest_table(client: PlatformClient, dataset_id: str, table: pyarrow.Table, *,
                 max_file_bytes: int = MAX_FILE_BYTES, timeout: float = 3600.0,
                 poll_interval: float = 10.0, check: bool = True,
                 on_poll: Callable[[dict[str, Any]], None] | None = None) -> IngestResult:
    """Write ``table``'s rows into dataset ``dataset_id`` as one Parquet batch.

    Args:
        client: the Platform client.
        dataset_id: the Catalog dataset id; the table's columns must be fields of its schema.
        table: a ``pyarrow.Table`` with at least one row.
        max_file_bytes: the largest Parquet file uploaded; a larger table is split.
        timeout: seconds to wait for the batch to reach a final state once completed.
        poll_interval: seconds between Catalog reads (Adobe suggests minutes for large batches).
        check: raise when the batch ends in any state but success.
        on_poll: called with the Catalog batch record after each read (progress).

    Returns:
        The batch id, its final status, Catalog's ``outputRecordCount``, the files uploaded
        and the batch's errors.

    Raises:
        RunError: the table is empty (nothing is sent), the batch failed (with ``check``) or
            did not finish within ``timeout`` (it is aborted).
        PlatformError: a call failed (the batch, if created, is aborted).
        KeyboardInterrupt: re-raised after the batch is aborted.
    """
    if table.num_rows == 0:
        raise RunError(f"ingest into dataset {dataset_id}: the table has no rows; a batch "
                       "needs at least one (Platform fails an empty file with error 106)")
    created = client.post(BATCHES, json={"datasetId": dataset_id,
                                         "inputFormat": {"format": "parquet"}}, once=True)
    batch_id = created.get("id") if isinstance(created, dict) else None
    if not batch_id:
        raise PlatformError(f"POST {BATCHES}: the answer has no batch id ({created!r:.200})")
    try:
        result = _load(client, dataset_id, batch_id, table, max_file_bytes, timeout,
                       poll_interval, on_poll)
    except BaseException as exc:
        _abort(client, batch_id, exc)
        raise
    if check and not result.ok:
        raise RunError(result.describe(dataset_id))
    return result


def _load(client: PlatformClient, dataset_id: str, batch_id: str, table: pyarrow.Table,
          max_file_bytes: int, timeout: float, poll_interval: float,
          on_poll: Callable[[dict[str, Any]], None] | None) -> IngestResult:
    """Upload, complete and poll one created batch."""
    files = 0
    for index, data in enumerate(parquet_files(table, max_file_bytes)):
        client.put(f"{BATCHES}/{batch_id}/datasets/{dataset_id}/files/part-{index:05d}.parquet",
                   data=data, headers={"Content-Type": "application/octet-stream"})
        files += 1
    client.post(f"{BATCHES}/{batch_id}", params={"action": "COMPLETE"})
    deadline = time.monotonic() + timeout
    path = BATCH_STATUS.format(id=batch_id)
    while True:
        body = client.get(path)
        record = body.get(batch_id) if isinstance(body, dict) else None
        if not isinstance(record, dict):
            raise PlatformError(f"GET {path}: the answer has no record for batch {batch_id}")
        if on_poll is not None:
            on_poll(record)
        status = str(record.get("status", "")).lower()
        if status in FINAL:
            records = (record.get("metrics") or {}).get("outputRecordCount", 0)
            return IngestResult(batch_id, status, int(records or 0), files,
                                _batch_errors(record))
        if time.monotonic() >= deadline:
            raise RunError(f"batch {batch_id} into dataset {dataset_id} is still {status} after "
                           f"{timeout:g} s; it was aborted (raise the timeout for large tables)")
        time.sleep(poll_interval)


def _abort(client: PlatformClient, batch_id: str, cause: BaseException) -> None:
    """Abort ``batch_id`` after ``cause``; a failed abort becomes a note on ``cause``."""
    try:
        client.post(f"{BATCHES}/{batch_id}", params={"action": "ABORT"})
    except PlatformError as err:
        cause.add_note(f"aborting batch {batch_id} failed too: {err}")


def dataset_batches(client: PlatformClient, dataset_id: str, page: int = 100
                    ) -> list[dict[str, Any]]:
    """Every batch of ``dataset_id`` Catalog lists, newest first, each with its ``id``."""
    found: list[dict[str, Any]] = []
    while True:
        body = client.get(BATCH_LIST, params={"dataSet": dataset_id, "orderBy": "desc:created",
                                              "limit": page, "start": len(found)}) or {}
        items = [{**v, "id": k} for k, v in body.items() if isinstance(v, dict)]
        found += items
        if len(items) < page:
            return found


def replace_batches(client: PlatformClient, dataset_id: str, keep: str) -> tuple[str, ...]:
    """Revert every successful batch of ``dataset_id`` but ``keep``; the ids reverted.

    Raises:
        PlatformError: a call failed (the batches reverted before it stay reverted).
    """
    old = [b["id"] for b in dataset_batches(client, dataset_id)
           if b["id"] != keep and str(b.get("status", "")).lower() in MASTERED]
    for batch_id in old:
        revert_batch(client, batch_id)
    return tuple(old)


def revert_batch(client: PlatformClient, batch_id: str) -> None:
    """Revert a successful batch (``POST /batches/{id}?action=REVERT``): its rows leave the
    dataset.

    Raises:
        PlatformError: the call failed.
    """
    client.post(f"{BATCHES}/{batch_id}", params={"action": "REVERT"})
