"""What a run leaves in ``target/``, always written atomically (temp file + rename).

- ``target/manifest.json``: models, sources, edges, fingerprints and physical names.
- ``target/run_results.json``: per model status, timing, rows, physical table, error; exports.
- ``target/state/<target>.json``: per target, which physical version each model points at and
  the versions built before (for no-op rebuilds, ``--full-refresh`` and retention).
- ``target/compiled/<target>/<model path>``: the exact statements each model runs.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner.errors import RunError


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` atomically."""
    write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path, default: Any) -> Any:
    """The JSON in ``path``, or ``default`` when the file does not exist."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default


@contextmanager
def target_lock(state_dir: Path, target: str) -> Iterator[None]:
    """Hold ``<state_dir>/<target>.lock`` so two runs never change one target's versions and
    state at once; a second run fails at once with a clear message."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / f"{target}.lock"
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunError(f"another runner is working on target '{target}' of this project "
                           f"({path}); wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass
class ModelState:
    """One model's versions on one target."""

    generation: int = 0
    current: str | None = None            # the physical relation the pointer points at
    fingerprint: str | None = None
    history: list[str] = field(default_factory=list)  # physical versions, oldest first
    dataset_id: str | None = None                     # the Catalog dataset of `current`
    reads: list[str] = field(default_factory=list)    # what a current *view* reads lazily
    dataset_ids: dict[str, str] = field(default_factory=dict)  # per physical version


class TargetState:
    """The persisted per-target state, safe to update from worker threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        raw = read_json(path, {"models": {}})
        self.models: dict[str, ModelState] = {
            name: ModelState(**entry) for name, entry in raw.get("models", {}).items()}
        self._lock = threading.Lock()

    def get(self, model: str) -> ModelState:
        """The model's state (a fresh, unsaved one when the model was never built here)."""
        with self._lock:
            return self.models.get(model) or ModelState()

    def record(self, model: str, physical: str, fingerprint: str, *,
               dataset_id: str | None = None, reads: list[str] | None = None) -> None:
        """The pointer of ``model`` now points at ``physical``; persist at once."""
        with self._lock:
            state = self.models.setdefault(model, ModelState())
            state.current, state.fingerprint = physical, fingerprint
            state.reads = list(reads or [])
            if dataset_id:
                state.dataset_ids[physical] = dataset_id
            state.dataset_id = state.dataset_ids.get(physical)
            if physical in state.history:
                state.history.remove(physical)
            state.history.append(physical)
            self._save()

    def forget(self, model: str, physical: str) -> None:
        """``physical`` was dropped."""
        with self._lock:
            state = self.models.get(model)
            if state and physical in state.history:
                state.history.remove(physical)
            if state:
                state.dataset_ids.pop(physical, None)
            self._save()

    def bump_generation(self, model: str) -> int:
        with self._lock:
            state = self.models.setdefault(model, ModelState())
            state.generation += 1
            return state.generation

    def _save(self) -> None:
        write_json(self.path, {"models": {n: vars(s) for n, s in sorted(self.models.items())}})
