"""The part files an emulated dataset export lands (contract §6).

A run writes ``<root>/exportTime=YYYYMMDDHHMM/part-NNNNN-<run id>-c000<ext>``, ``<ext>`` being
``.gz.parquet`` / ``.parquet`` for Parquet and ``.json.gz`` / ``.json`` for JSON lines, into a
hidden folder first and renamed into place, so a reader never sees half an export.

>>> part_file(0, "r1", "PARQUET", "GZIP")
'part-00000-r1-c000.gz.parquet'
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import gzip
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


def part_file(index: int, run_id: str, fmt: str, compression: str) -> str:
    """The Spark-style name of part ``index`` of run ``run_id``."""
    gz = compression.upper() == "GZIP"
    ext = {("PARQUET", True): ".gz.parquet", ("PARQUET", False): ".parquet",
           ("JSON", True): ".json.gz", ("JSON", False): ".json"}[(fmt.upper(), gz)]
    return f"part-{index:05d}-{run_id}-c000{ext}"


def _plain(value: Any) -> Any:
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"no JSON form for {type(value).__name__}")


def write_part(table: pa.Table, path: Path, fmt: str, gz: bool) -> None:
    """Write ``table`` to ``path`` as Parquet or JSON lines, gzipped or not."""
    if fmt.upper() == "PARQUET":
        pq.write_table(table, path, compression="gzip" if gz else "none")
        return
    with (gzip.open(path, "wt", encoding="utf-8") if gz else open(path, "w", encoding="utf-8")) as out:
        for row in table.to_pylist():
            out.write(json.dumps(row, default=_plain, separators=(",", ":")) + "\n")


def land(table: pa.Table, root: Path, started: float, fmt: str, compression: str, run_id: str,
         rows_per_file: int) -> list[Path]:
    """Write ``table`` as one export under ``root`` (the dataset's folder); the part files.

    An empty table still lands one part file, so the schema travels.
    """
    stamp = dt.datetime.fromtimestamp(started, dt.timezone.utc).strftime("%Y%m%d%H%M")
    final, scratch = root / f"exportTime={stamp}", root / f".landing-{run_id}"
    scratch.mkdir(parents=True)
    gz = compression.upper() == "GZIP"
    try:
        names = []
        for index, offset in enumerate(range(0, max(table.num_rows, 1), rows_per_file)):
            names.append(part_file(index, run_id, fmt, compression))
            write_part(table.slice(offset, rows_per_file), scratch / names[-1], fmt, gz)
        if final.exists():  # an export earlier in the same minute: parts go beside its parts
            for name in names:
                os.replace(scratch / name, final / name)
        else:
            os.replace(scratch, final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return [final / name for name in names]
