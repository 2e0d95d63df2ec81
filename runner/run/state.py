"""Which physical version each model of one target points at, persisted in
``target/state/<target>.json`` (for no-op rebuilds, ``--full-refresh`` and retention), what that
version was built from and how long its build took (for ``runner plan``), and the lock that
keeps two runs off one target.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from runner.errors import RunError
from runner.run.atomic import read_json, write_json
from runner.run.paths import TargetPaths


@contextmanager
def target_lock(paths: TargetPaths) -> Iterator[None]:
    """Hold ``target/state/<target>.lock`` so two runs never change one target's versions and
    state at once; a second run fails at once with a clear message."""
    target, path = paths.target, paths.lock
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, blocking=False, thread_local=False)  # any OS: the filelock package
    try:
        lock.acquire()
    except Timeout:
        raise RunError(f"another runner is working on target '{target}' of this project "
                       f"({path}); wait for it to finish") from None
    try:
        yield
    finally:
        lock.release()


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
    # versions being built, written before their CREATE runs, so a run killed at any point
    # leaves no relation the state does not know; kept (never dropped) until a build records
    # the model again, as a pointer may already read one
    pending: list[str] = field(default_factory=list)
    # what `current` was built from: the fingerprint's components (runner.run.changes.Inputs)
    inputs: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None  # how long the model's last successful build took
    # an incremental model's inputs' data version when it was last built or appended to
    data_version: str | None = None


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

    def begin(self, model: str, physical: str) -> None:
        """``physical`` is about to be created for ``model``; persist that first."""
        with self._lock:
            state = self.models.setdefault(model, ModelState())
            if physical not in state.history:
                state.history.append(physical)
            if physical not in state.pending:
                state.pending.append(physical)
            self._save()

    def record(self, model: str, physical: str, fingerprint: str, *,
               dataset_id: str | None = None, reads: list[str] | None = None,
               data_version: str | None = None) -> None:
        """The pointer of ``model`` now points at ``physical``; persist at once."""
        with self._lock:
            state = self.models.setdefault(model, ModelState())
            state.current, state.fingerprint = physical, fingerprint
            state.data_version = data_version
            state.reads = list(reads or [])
            if dataset_id:
                state.dataset_ids[physical] = dataset_id
            state.dataset_id = state.dataset_ids.get(physical)
            if physical in state.history:
                state.history.remove(physical)
            state.history.append(physical)
            state.pending.clear()
            self._save()

    def forget(self, model: str, physical: str) -> None:
        """``physical`` was dropped."""
        with self._lock:
            state = self.models.get(model)
            if state and physical in state.history:
                state.history.remove(physical)
            if state:
                state.dataset_ids.pop(physical, None)
                if physical in state.pending:
                    state.pending.remove(physical)
            self._save()

    def record_inputs(self, inputs: dict[str, dict[str, Any]], seconds: dict[str, float]
                      ) -> None:
        """What each model's current version was built from, and how long the models built
        now took; one write, and none when nothing changed (a no-op build writes nothing)."""
        with self._lock:
            changed = False
            for name, record in inputs.items():
                state = self.models.get(name)
                if state is not None and state.inputs != record:
                    state.inputs, changed = record, True
            for name, took in seconds.items():
                state = self.models.get(name)
                if state is not None:
                    state.seconds, changed = round(took, 3), True
            if changed:
                self._save()

    def generations(self) -> dict[str, int]:
        """Each model's refresh generation (what ``--full-refresh`` increments)."""
        with self._lock:
            return {name: state.generation for name, state in self.models.items()}

    def bump_generation(self, model: str) -> int:
        with self._lock:
            state = self.models.setdefault(model, ModelState())
            state.generation += 1
            return state.generation

    def _save(self) -> None:
        write_json(self.path, {"models": {n: vars(s) for n, s in sorted(self.models.items())}},
                   compact=True)
