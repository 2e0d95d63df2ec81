"""Materialization strategies: how one compiled model becomes a relation on a target.

``table`` and ``view`` share the physical-version protocol: build ``<model>__<fingerprint>`` with
one CREATE statement, and only when it succeeded move the pointer view ``<model>`` to it. If the
version already exists the model is up to date: no CTAS runs (the pointer is moved back to it if
it pointed elsewhere). A failed build drops only its own, new relation, so the last good version
and everything pointing at it survive. ``ephemeral`` models are never materialized: the compiler
inlines them into their consumers.

``incremental`` models are tables that grow. Their version name leaves out the data versions
of their inputs (``runner.compile.compiler``), so new data does not make a new version: a
missing version (the first build, ``--full-refresh``, an edit here or upstream) is built in full
like a table; an existing one is appended to with ``INSERT INTO <version> SELECT * FROM
(<query>) WHERE <time_column> > max(<time_column>) - lookback`` (``Adapter.insert_sql``), which
reads its watermark from the table itself. There is no separate interval state to keep in
step: an insert either committed (and moved the watermark) or did not, so a run killed after it
appends nothing twice when run again. The interval appended (watermark before and after, rows
inserted) is reported in the result. An append is skipped when the inputs' data versions are
those the last append saw (nothing new can have arrived); without known versions it always runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from runner.adapters.base import Adapter, ExecResult
from runner.compile.plan import CompiledModel, Plan
from runner.crashpoints import crash_point
from runner.errors import RunError
from runner.run.results import ModelResult
from runner.run.state import TargetState


def _nothing() -> None:
    pass


class Materialization:
    """How one kind of model becomes a relation: the DDL it runs and how it runs it."""

    kind: ClassVar[str]

    def statements(self, model: CompiledModel, adapter: Adapter) -> list[str]:
        """The DDL of ``model``, in order (rendered at compile time, written by ``compile``)."""
        raise NotImplementedError

    def run(self, model: CompiledModel, adapter: Adapter, state: TargetState, plan: Plan,
            on_build: Callable[[], None] = _nothing) -> ModelResult:
        """Bring the model's current version into existence and point at it; ``on_build`` is
        called once the version is known to be missing, before it is created (progress)."""
        raise NotImplementedError


class _Versioned(Materialization):
    """The physical-version protocol shared by tables and views (see the module docstring)."""

    def statements(self, model: CompiledModel, adapter: Adapter) -> list[str]:
        assert model.physical is not None
        return [self.create_sql(model, adapter), adapter.pointer_sql(model.name, model.physical)]

    def create_sql(self, model: CompiledModel, adapter: Adapter) -> str:
        raise NotImplementedError

    def reads(self, model: CompiledModel, plan: Plan) -> list[str]:
        """The physical relations the version reads at query time (recorded, so retention
        never drops them); a table copied its inputs and reads nothing later."""
        return []

    def rows(self, model: CompiledModel, adapter: Adapter, executed: ExecResult) -> int | None:
        return None

    def run(self, model: CompiledModel, adapter: Adapter, state: TargetState, plan: Plan,
            on_build: Callable[[], None] = _nothing) -> ModelResult:
        """Raises:
        RunError: the engine refused a statement (the new relation has been dropped)."""
        started = time.monotonic()
        create, pointer = model.statements[0], model.statements[-1]
        physical = model.physical
        assert physical is not None
        if adapter.exists(physical):
            result = self._up_to_date(model, adapter, state, plan, pointer)
            result.seconds = time.monotonic() - started
            return result
        on_build()
        self._check_parents(model, adapter, plan)
        state.begin(model.name, physical)
        try:
            executed = adapter.materialize(create, model=model.name, physical=physical)
            crash_point(f"created {physical}")
            rows = self.rows(model, adapter, executed)
            adapter.execute(pointer)
            crash_point(f"pointed {model.name} at {physical}")
        except BaseException:
            # the new version is not recorded yet, so nothing may keep it (partial or not)
            if _drop_quietly(adapter, adapter.drop_sql(physical, self.kind)):
                state.forget(model.name, physical)
            raise
        state.record(model.name, physical, model.fingerprint, dataset_id=executed.dataset_id,
                     reads=self.reads(model, plan), data_version=model.data_version)
        return ModelResult.of(model, "success", rows=rows, query_id=executed.query_id,
                              dataset_id=executed.dataset_id, statements=[create, pointer],
                              seconds=time.monotonic() - started)

    def _up_to_date(self, model: CompiledModel, adapter: Adapter, state: TargetState,
                    plan: Plan, pointer: str) -> ModelResult:
        """No CTAS: the version exists; move the pointer back to it if it points elsewhere."""
        assert model.physical is not None
        previous = state.get(model.name)
        result = ModelResult.of(model, "noop", message="up to date",
                                dataset_id=previous.dataset_ids.get(model.physical))
        if previous.current != model.physical:
            adapter.execute(pointer)
            crash_point(f"pointed {model.name} back at {model.physical}")
            result.statements = [pointer]
            result.message = f"up to date; pointer moved back to {model.physical}"
            state.record(model.name, model.physical, model.fingerprint,
                         reads=self.reads(model, plan))
        return result

    @staticmethod
    def _check_parents(model: CompiledModel, adapter: Adapter, plan: Plan) -> None:
        for parent in model.parents:
            upstream = plan[parent]
            if upstream.physical is not None and not adapter.exists(upstream.physical):
                raise RunError(f"upstream model '{parent}' has no built version "
                               f"{upstream.physical} on target '{adapter.name}'; build it too "
                               f"(runner build --select +{model.name})")


class Table(_Versioned):
    """``CREATE TABLE <model>__<fingerprint> AS SELECT ...``, then the pointer view."""

    kind = "table"

    def create_sql(self, model: CompiledModel, adapter: Adapter) -> str:
        assert model.physical is not None
        return adapter.create_table_sql(model.physical, model.select_sql, model.ddl)

    def rows(self, model: CompiledModel, adapter: Adapter, executed: ExecResult) -> int | None:
        assert model.physical is not None
        return executed.rows if executed.rows is not None else adapter.row_count(model.physical)


class View(_Versioned):
    """``CREATE VIEW <model>__<fingerprint> AS SELECT ...``, then the pointer view."""

    kind = "view"

    def create_sql(self, model: CompiledModel, adapter: Adapter) -> str:
        assert model.physical is not None
        return adapter.create_view_sql(model.physical, model.select_sql)

    def reads(self, model: CompiledModel, plan: Plan) -> list[str]:
        return sorted(p for p in (plan[n].physical for n in model.parents) if p)


class Incremental(Table):
    """A table built in full once, then appended to (see the module docstring)."""

    kind = "incremental"

    def statements(self, model: CompiledModel, adapter: Adapter) -> list[str]:
        """CTAS (a full build), INSERT INTO (an append), the pointer view."""
        assert model.physical is not None and model.incremental is not None
        return [self.create_sql(model, adapter),
                adapter.insert_sql(model.physical, model.select_sql, model.incremental),
                adapter.pointer_sql(model.name, model.physical)]

    def run(self, model: CompiledModel, adapter: Adapter, state: TargetState, plan: Plan,
            on_build: Callable[[], None] = _nothing) -> ModelResult:
        """Raises:
        RunError: the engine refused a statement (an append that failed added nothing)."""
        assert model.physical is not None and model.incremental is not None
        if not adapter.exists(model.physical):
            result = super().run(model, adapter, state, plan, on_build)
            if result.status == "success":
                after, rows = watermark(adapter, model)
                result.increment = {"full": True, "watermark_before": None,
                                    "watermark_after": after, "rows_inserted": rows}
            return result
        previous = state.get(model.name)
        if (model.data_version is not None and previous.current == model.physical
                and previous.data_version == model.data_version):
            return ModelResult.of(model, "noop", message="up to date (no new data)",
                                  dataset_id=previous.dataset_ids.get(model.physical))
        started = time.monotonic()
        on_build()
        self._check_parents(model, adapter, plan)
        _, insert, pointer = model.statements
        before, rows_before = watermark(adapter, model)
        executed = adapter.append(insert, model=model.name, physical=model.physical)
        crash_point(f"appended to {model.physical}")
        after, rows_after = watermark(adapter, model)
        statements = [insert]
        if previous.current != model.physical:
            adapter.execute(pointer)
            statements.append(pointer)
        state.record(model.name, model.physical, model.fingerprint,
                     dataset_id=previous.dataset_ids.get(model.physical),
                     data_version=model.data_version)
        rows = rows_after - rows_before
        return ModelResult.of(
            model, "success", rows=rows, query_id=executed.query_id,
            dataset_id=previous.dataset_ids.get(model.physical), statements=statements,
            message=f"appended {rows} row(s) after {before} (watermark now {after})",
            increment={"full": False, "watermark_before": before, "watermark_after": after,
                       "rows_inserted": rows}, seconds=time.monotonic() - started)


def watermark(adapter: Adapter, model: CompiledModel) -> tuple[str | None, int]:
    """An incremental table's watermark (its largest time value, as text) and its row count."""
    assert model.physical is not None and model.incremental is not None
    (latest, rows), = adapter.fetch(adapter.watermark_sql(model.physical,
                                                          model.incremental.time_column))
    if latest is None:
        return None, int(rows)
    text = latest.isoformat(sep=" ") if hasattr(latest, "isoformat") else str(latest)
    return text, int(rows)


class Ephemeral(Materialization):
    """Never built: the compiler inlines the model as a CTE into the models that read it."""

    kind = "ephemeral"

    def statements(self, model: CompiledModel, adapter: Adapter) -> list[str]:
        return []

    def run(self, model: CompiledModel, adapter: Adapter, state: TargetState, plan: Plan,
            on_build: Callable[[], None] = _nothing) -> ModelResult:
        raise RunError(f"ephemeral model '{model.name}' is inlined into its consumers, "
                       "never built")


STRATEGIES: dict[str, Materialization] = {m.kind: m for m in (Table(), View(), Ephemeral(),
                                                               Incremental())}


def strategy(materialized: str) -> Materialization:
    """The materialization of a model's ``materialized:`` config."""
    return STRATEGIES[materialized]


def _drop_quietly(adapter: Adapter, drop: str) -> bool:
    """Remove a partial new version (True when done); the error that caused it is the one
    worth reporting."""
    try:
        adapter.execute(drop)
        return True
    except Exception:  # noqa: BLE001
        return False


def drop_old_versions(adapter: Adapter, state: TargetState, keep: int,
                      models: list[str] | None = None, *, dry_run: bool = False) -> list[str]:
    """Drop versions beyond the newest ``keep`` of each model, never one something points at.

    A version is in use when it is a model's current version, a current version reads it
    (a view reads its parents lazily), or it is pending (a build that was killed made it and a
    pointer may read it: the next build of that model settles it). Views are dropped before
    tables.
    Returns the dropped relation names (with ``dry_run``, those it would drop; nothing changes).
    """
    current = {s.current for s in state.models.values() if s.current}
    in_use = current | {r for s in state.models.values() for r in [*s.reads, *s.pending]}
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
        crash_point(f"dropped {physical}")
        state.forget(name, physical)
        dropped.append(physical)
    return dropped
