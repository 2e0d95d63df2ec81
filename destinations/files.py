"""Writing an export's part files the way Adobe's dataset export lays them out (contract §6).

A dataset export lands as ``<root>/<dataset id>/exportTime=YYYYMMDDHHMM/part-00000-<id>-c000<ext>``
where ``<ext>`` is ``.gz.parquet`` / ``.parquet`` for Parquet and ``.json.gz`` / ``.json`` for
JSON lines. :func:`write_export` writes one such folder atomically (into a hidden temporary
folder, then renamed), so a reader never sees half a file. The local destination and the
emulator's Flow Service both use it, so both land byte-compatible files.

>>> part_name(0, "abc", "parquet", "gzip")
'part-00000-abc-c000.gz.parquet'
>>> export_folder(0)
'exportTime=197001010000'
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import shutil
import uuid
from datetime import date, datetime, time, timezone
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.crashpoints import crash_point

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_ROWS_PER_FILE = 1_000_000


def export_folder(timestamp: float) -> str:
    """``exportTime=YYYYMMDDHHMM`` (UTC) for a unix time."""
    return "exportTime=" + datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y%m%d%H%M")


def part_name(index: int, run_id: str, fmt: str, compression: str) -> str:
    """The Spark-style name of part file ``index`` of one export."""
    gz = compression.lower() == "gzip"
    ext = (".gz.parquet" if gz else ".parquet") if fmt.lower() == "parquet" else (
        ".json.gz" if gz else ".json")
    return f"part-{index:05d}-{run_id}-c000{ext}"


def _json_value(value: Any) -> Any:
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _write_part(table: pa.Table, path: Path, fmt: str, compression: str) -> None:
    import pyarrow.parquet as pq  # imported when an export writes (pyarrow is slow to import)

    gz = compression.lower() == "gzip"
    if fmt.lower() == "parquet":
        pq.write_table(table, path, compression="gzip" if gz else "none")
        return
    opener = gzip.open if gz else open
    with opener(path, "wt", encoding="utf-8") as out:
        for batch in table.to_batches(max_chunksize=10_000):
            for row in batch.to_pylist():
                out.write(json.dumps(row, default=_json_value, separators=(",", ":")) + "\n")


def write_export(table: pa.Table, root: Path, timestamp: float, fmt: str, compression: str, *,
                 run_id: str | None = None,
                 rows_per_file: int = DEFAULT_ROWS_PER_FILE) -> list[Path]:
    """Write ``table`` as part files under ``root/exportTime=…/`` and return their paths.

    Args:
        table: the rows to write (one part file even when empty, so the schema travels).
        root: the dataset's folder (``<destination path>/<dataset id>``); created if missing.
        timestamp: the export time (unix seconds) naming the ``exportTime=`` folder.
        fmt: ``parquet`` or ``json``; compression: ``gzip`` or ``none``.
        run_id: the id in the part names (a new uuid if None).
        rows_per_file: the most rows in one part file.
    """
    run_id = run_id or str(uuid.uuid4())
    final = root / export_folder(timestamp)
    tmp = root / f".tmp-{run_id}"
    tmp.mkdir(parents=True, exist_ok=False)
    try:
        names = []
        for index, start in enumerate(range(0, max(table.num_rows, 1), rows_per_file)):
            names.append(part_name(index, run_id, fmt, compression))
            _write_part(table.slice(start, rows_per_file), tmp / names[-1], fmt, compression)
            crash_point(f"wrote part {index}")
        if not final.exists():
            os.replace(tmp, final)
            crash_point(f"published {final.name}")
        else:  # an earlier export in the same minute: add our parts beside its parts
            for name in names:
                os.replace(tmp / name, final / name)
            tmp.rmdir()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [final / name for name in names]


def read_export(paths: list[Path]) -> pa.Table:
    import pyarrow as pa
    import pyarrow.parquet as pq

    """Read part files written by :func:`write_export` back into one table (for checks and tests)."""
    tables = []
    for path in paths:
        if path.name.endswith("parquet"):
            tables.append(pq.read_table(path))
        else:
            opener = gzip.open if path.name.endswith(".gz") else open
            with opener(path, "rt", encoding="utf-8") as lines:
                tables.append(pa.Table.from_pylist([json.loads(line) for line in lines]))
    return pa.concat_tables(tables) if tables else pa.table({})
