"""Files under ``target/`` are written atomically (temp file + rename): a reader, or a run
killed half-way, never sees half a file."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from runner.crashpoints import crash_point


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


def write_json(path: Path, data: Any, *, compact: bool = False) -> None:
    """Write ``data`` as JSON to ``path`` atomically; ``compact`` (one line, as dbt writes its
    artifacts) for a large document: Python's fast encoder does not indent."""
    text = (json.dumps(data, separators=(",", ":"), default=str) if compact
            else json.dumps(data, indent=2, sort_keys=False, default=str))
    write_text(path, text + "\n")


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # a normal file's mode (mkstemp's is 0600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
        crash_point(f"wrote {path.name}")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path, default: Any) -> Any:
    """The JSON in ``path``, or ``default`` when the file does not exist."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default
