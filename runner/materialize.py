"""Materialization strategies: how one compiled model becomes a relation on a target.

``table`` and ``view`` share the physical-version protocol: build ``<model>__<fingerprint>`` with
one CREATE statement, and only when it succeeded move the pointer view ``<model>`` to it. If the
version already exists the model is up to date: no CTAS runs (the pointer is moved back to it if
it pointed elsewhere). A failed build drops only its own, new relation, so the last good version
and everything pointing at it survive. ``ephemeral`` models are never materialized: the compiler
inlines them into their consumers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from runner.adapters.base import Adapter
from runner.artifacts import TargetState
from runner.compiler import CompiledModel
from runner.errors import RunError


@dataclass
class ModelResult:
    """The outcome of one model in a run (one entry of run_results.json)."""

    name: str
    path: str
    materialized: str
    status: str                      # success | noop | error | skipped
    physical: str | None = None
    fingerprint: str | None = None
    rows: int | None = None
    seconds: float = 0.0
    message: str = ""
    query_id: str | None = None
    dataset_id: str | None = None
    statements: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "unique_id": f"model.{self.name}", "path": self.path, "status": self.status,
            "materialized": self.materialized, "physical": self.physical,
            "fingerprint": self.fingerprint, "rows": self.rows,
            "execution_time": round(self.seconds, 3), "message": self.message,
            "query_id": self.query_id, "dataset_id": self.dataset_id,
        }


def materialize(model: CompiledModel, adapter: Adapter, state: TargetState,
                compiled: dict[str, CompiledModel]) -> ModelResult:
    """Bring ``model``'s current version into existence on ``adapter`` and point at it.

    Raises:
        RunError: the engine refused a statement (the new relation has been dropped).
    """
    started = time.monotonic()
    result = ModelResult(name=model.name, path=model.path, materialized=model.materialized,
                         status="success", physical=model.physical,
                         fingerprint=model.fingerprint)
    create, pointer = model.statements
    physical = model.physical
    assert physical is not None
    previous = state.get(model.name)
    if adapter.exists(physical):
        result.status = "noop"
        result.dataset_id = previous.dataset_ids.get(physical)
        result.message = "up to date"
        if previous.current != physical:
            adapter.execute(pointer)
            result.statements = [pointer]
            result.message = f"up to date; pointer moved back to {physical}"
            state.record(model.name, physical, model.fingerprint, reads=_reads(model, compiled))
        result.seconds = time.monotonic() - started
        return result
    for parent in model.parents:
        upstream = compiled[parent]
        if upstream.physical is not None and not adapter.exists(upstream.physical):
            raise RunError(f"upstream model '{parent}' has no built version "
                           f"{upstream.physical} on target '{adapter.name}'; build it too "
                           f"(runner build --select +{model.name})")
    try:
        executed = adapter.materialize(create, model=model.name, physical=physical)
        if model.materialized == "table":
            result.rows = (executed.rows if executed.rows is not None
                           else adapter.row_count(physical))
        adapter.execute(pointer)
    except BaseException:
        # the new version is not recorded yet, so nothing may keep it (partial or not)
        _drop_quietly(adapter, physical, model.materialized)
        raise
    result.query_id, result.dataset_id = executed.query_id, executed.dataset_id
    result.statements = [create, pointer]
    state.record(model.name, physical, model.fingerprint, dataset_id=executed.dataset_id,
                 reads=_reads(model, compiled))
    result.seconds = time.monotonic() - started
    return result


def _reads(model: CompiledModel, compiled: dict[str, CompiledModel]) -> list[str]:
    """The physical relations a view version reads at query time; a table copied its inputs,
    so it reads nothing later."""
    if model.materialized != "view":
        return []
    return sorted(p for p in (compiled[n].physical for n in model.parents) if p)


def _drop_quietly(adapter: Adapter, physical: str, materialized: str) -> None:
    """Remove a partial new version; the error that caused it is the one worth reporting."""
    try:
        adapter.execute(adapter.drop_sql(physical, "view" if materialized == "view" else "table"))
    except Exception:  # noqa: BLE001
        pass


def drop_old_versions(adapter: Adapter, state: TargetState, keep: int,
                      models: list[str] | None = None, *, dry_run: bool = False) -> list[str]:
    """Drop versions beyond the newest ``keep`` of each model, never one something points at.

    A version is in use when it is a model's current version or a current version reads it
    (a view reads its parents lazily). Views are dropped before tables.
    Returns the dropped relation names (with ``dry_run``, those it would drop; nothing changes).
    """
    current = {s.current for s in state.models.values() if s.current}
    in_use = current | {r for s in state.models.values() for r in s.reads}
    existing = adapter.relations()
    victims: list[tuple[str, str, str]] = []
    for name in sorted(models if models is not None else state.models):
        entry = state.models.get(name)
        if entry is None:
            continue
        older = [p for p in entry.history if p != entry.current]
        stale = older[:max(0, len(older) - (keep - 1))]
        for physical in stale:
            kind = existing.get(physical.lower())
            if kind is None and not dry_run:
                state.forget(name, physical)
            elif kind is not None and physical not in in_use:
                victims.append((kind, name, physical))
    victims.sort(key=lambda v: v[0] != "view")
    if dry_run:
        return [physical for _, _, physical in victims]
    dropped = []
    for kind, name, physical in victims:
        adapter.execute(adapter.drop_sql(physical, kind))
        state.forget(name, physical)
        dropped.append(physical)
    return dropped
