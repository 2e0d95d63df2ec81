"""Idempotency state: what each export created last time, kept in ``target/exports_state.json``.

One record per export (key ``<model>:<name>``): for Flow Service the ids of the flow and its
connections, the dataset id its source connection reads and the config digest they were made
from; for the local destination the dataset version and files it wrote. The file holds ids and
paths only, never a credential. It is a cache of what exists remotely: the exporter verifies a
record before trusting it, and a lost file is rebuilt by looking the flow up by name.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from runner.errors import RunError
from runner.crashpoints import crash_point

STATE_FILE = "exports_state.json"


class ExportState:
    """The state file of one project, loaded once and written after each change."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / STATE_FILE
        self.records: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            try:
                self.records = json.loads(self.path.read_text())
            except (OSError, ValueError) as exc:
                raise RunError(f"{self.path}: unreadable export state ({exc}); delete the file "
                               "and run again (flows are found again by name)") from None

    def get(self, key: str) -> dict[str, Any] | None:
        """The record of export ``key``, if any."""
        return self.records.get(key)

    def put(self, key: str, record: dict[str, Any] | None) -> None:
        """Replace (or with None remove) the record of ``key`` and save the file atomically."""
        if record is None:
            self.records.pop(key, None)
        else:
            self.records[key] = record
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.records, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.path)
        crash_point("wrote export state")
