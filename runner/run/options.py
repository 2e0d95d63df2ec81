"""The options every command takes, parsed from flags by the CLI or given by a notebook."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_THREADS = 4
DEFAULT_SAMPLE = 1000
DEFAULT_HEARTBEAT = 30.0


@dataclass
class BuildOptions:
    """Flags shared by build, compile, ls and clean."""

    target: str | None = None
    select: list[str] | None = None
    exclude: list[str] | None = None
    threads: int | None = None
    full_refresh: bool = False
    fail_fast: bool = False
    vars: dict[str, Any] | None = None
    exports: bool = True
    verbose: bool = False            # a line for each up-to-date model too
    heartbeat: float = DEFAULT_HEARTBEAT  # seconds between lines naming a long-running model
    state: Path | None = None        # an earlier build's artifacts, for state:/result: selectors
    sample: int = DEFAULT_SAMPLE     # entities the point-in-time audit copies from a remote target
