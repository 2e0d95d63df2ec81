"""The library behind the CLI: build, compile, list and clean a project on a target.

Each function takes the project directory and a typed options object and returns a result the
CLI prints; notebooks and tests call the same functions in-process::

    from runner import build, BuildOptions
    result = build(Path("."), BuildOptions(select=["+training_set"], threads=4))
    assert result.ok
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner import __version__
from runner.adapters import Adapter, adapter_class
from runner.artifacts import TargetState, target_lock, write_json, write_text
from runner.compiler import CompiledModel, compile_project
from runner.errors import RunError, RunnerError
from runner.parsing import reference_name, table_references
from runner.materialize import ModelResult, drop_old_versions, materialize
from runner.progress import Echo, Progress, summary
from runner.project import Project, load
from runner.scheduler import run_dag
from runner.selection import SOURCE_PREFIX, select
from runner.sources import prepare_local_sources, source_versions

DEFAULT_THREADS = 4


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


@dataclass
class BuildResult:
    """What ``build`` did; ``exit_code`` is dbt's: 0 success, 1 a model or export failed."""

    target: str
    results: list[ModelResult] = field(default_factory=list)
    exports: list[Any] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (all(r.status in ("success", "noop") for r in self.results)
                and all(getattr(e, "status", "success") != "error" for e in self.exports))

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def by_name(self) -> dict[str, ModelResult]:
        return {r.name: r for r in self.results}


@dataclass
class Session:
    """A loaded project bound to one target: what every command starts from."""

    project: Project
    target: str
    adapter: Adapter
    state: TargetState
    selected: list[str]                  # the selected models that are built, in build order
    compiled: dict[str, CompiledModel]
    chosen: set[str] = field(default_factory=set)  # every selected model (ephemeral too)

    @property
    def target_dir(self) -> Path:
        return self.project.root / "target"


def load_target(root: Path, options: BuildOptions) -> tuple[Project, str, Adapter]:
    """Load the project and make (not open) the adapter of the chosen target."""
    project = load(root, options.vars)
    target, block = project.config.target(options.target)
    return project, target, adapter_class(block["type"])(target, block, project.root)


def open_session(root: Path, options: BuildOptions, echo: Echo = print) -> Session:
    """``load_target`` then ``compile_session``."""
    return compile_session(*load_target(root, options), options, echo)


def compile_session(project: Project, target: str, adapter: Adapter, options: BuildOptions,
                    echo: Echo = print) -> Session:
    """Load the project, pick the target and selection, and compile (nothing is built yet).
    The caller closes ``session.adapter``.

    Compiling for a local engine (DuckDB, PostgreSQL) connects to it: on DuckDB the sources it
    lacks are created first (synthetic data or file views), and the sources' column types are
    read so the dialect layer can keep Spark's exact values. On every engine the sources' data
    versions are read where known (new data, new fingerprints).
    """
    chosen = select(options.select, options.exclude, project.dag, project.models)
    selected = [n for n in project.order(chosen)
                if project.models[n].config.materialized != "ephemeral"]
    state = target_state(project, target)
    if options.full_refresh:
        for name in selected:
            state.bump_generation(name)
    try:
        types = {}
        used = sorted({s for n in project.models for s in project.sources_read(n)})
        if adapter.dialect != "spark":  # Data Distiller runs the models as written
            adapter.open()
            prepare_local_sources(project.config, adapter, used, echo)
            types = {project.config.sources[s].identifier: adapter.column_types(
                project.config.sources[s].identifier) for s in used}
        versions = source_versions(project.config, adapter, used)
        compiled = compile_project(project, adapter, state, types,
                                   set(chosen) if options.select or options.exclude else None,
                                   source_versions=versions)
    except BaseException:
        adapter.close()
        raise
    return Session(project, target, adapter, state, selected, compiled, set(chosen))


def write_compiled(session: Session) -> list[Path]:
    """Write each model's exact statements to ``target/compiled/<target>/<model path>``."""
    out = session.target_dir / "compiled" / session.target
    written = []
    for name in session.project.order(set(session.compiled)):
        model = session.compiled[name]
        body = ";\n\n".join(model.statements) if model.statements else (
            f"-- ephemeral: inlined as a CTE into its consumers\n{model.select_sql}")
        path = out / model.path
        write_text(path, body + ";\n" if model.statements else body + "\n")
        written.append(path)
    return written


def bind_check(session: Session) -> tuple[dict[str, str], list[str]]:
    """Have the engine bind (``EXPLAIN``, nothing runs) each chosen model whose inputs already
    exist, so ``runner compile`` reports what only the engine knows (a function it lacks, a
    missing column) before a build. Returns the errors by model and the models not checked
    because a table they read is not built yet. Only DuckDB and PostgreSQL targets are checked.
    """
    errors: dict[str, str] = {}
    unchecked: list[str] = []
    if session.adapter.type not in ("duckdb", "postgres"):
        return errors, unchecked
    existing = session.adapter.relations()
    for name in session.project.order(session.chosen):
        model = session.compiled[name]
        if model.materialized == "ephemeral":
            continue
        reads = {reference_name(t) for t in table_references(model.select)}
        if not reads <= set(existing):
            unchecked.append(name)
            continue
        try:
            session.adapter.fetch(f"EXPLAIN {model.select_sql}")
        except RunnerError as err:
            errors[name] = str(err)
    return errors, unchecked


def build(root: Path, options: BuildOptions, echo: Echo = print) -> BuildResult:
    """Materialize the selected models in dependency order, then run the exports.

    Raises:
        ProjectError: the project or the options are wrong (nothing has run).
        RunError: the target cannot be reached, or the build was interrupted.
    """
    started = time.monotonic()
    project, target, adapter = load_target(root, options)
    with target_lock(state_dir(project), target):
        return _build(compile_session(project, target, adapter, options, echo), options, echo,
                      started)


def _build(session: Session, options: BuildOptions, echo: Echo, started: float) -> BuildResult:
    project, adapter = session.project, session.adapter
    threads = options.threads or session.adapter.config.get("threads") or DEFAULT_THREADS
    if adapter.max_threads is not None:
        threads = min(threads, adapter.max_threads)
    result = BuildResult(target=session.target)
    with adapter:
        write_compiled(session)
        progress = Progress(echo, len(session.selected))
        progress.line(f"Running {len(session.selected)} model(s) on target '{session.target}' "
                      f"({adapter.type}, {threads} thread(s))")
        results: dict[str, ModelResult] = {}

        def work(name: str) -> bool:
            model = session.compiled[name]
            progress.start(name, model.materialized)
            began = time.monotonic()
            try:
                outcome = materialize(model, adapter, session.state, session.compiled)
            except Exception as err:  # noqa: BLE001 - reported per model, never fatal
                message = str(err) if isinstance(err, RunnerError) else (
                    f"{type(err).__name__}: {err}")
                outcome = ModelResult(name=name, path=model.path, materialized=model.materialized,
                                      status="error", physical=model.physical,
                                      fingerprint=model.fingerprint, message=message,
                                      seconds=time.monotonic() - began)
            results[name] = outcome
            progress.finish(outcome)
            return outcome.status in ("success", "noop")

        def on_skip(name: str, reason: str) -> None:
            model = session.compiled[name]
            progress.skip(name, model.materialized, reason)
            why = "fail-fast" if reason == "fail-fast" else f"upstream model '{reason}' failed"
            results[name] = ModelResult(name=name, path=model.path,
                                        materialized=model.materialized, status="skipped",
                                        physical=model.physical, message=f"skipped: {why}")

        parents = {n: project.build_parents(n) for n in session.selected}
        try:
            run_dag(session.selected, parents, work, threads=threads, fail_fast=options.fail_fast,
                    on_skip=on_skip, on_interrupt=getattr(adapter, "cancel", None))
        except KeyboardInterrupt:
            result.results = [results[n] for n in session.selected if n in results]
            _write_artifacts(session, result, time.monotonic() - started, options)
            raise RunError("interrupted: running statements were cancelled; every model kept "
                           "its last good version, and what finished is recorded in "
                           "target/run_results.json") from None
        result.results = [results[n] for n in session.selected]
        if options.exports and project.config.exports:
            result.exports = _run_exports(session, result, echo)
        built = [r.name for r in result.results if r.status == "success"]
        if built and not any(e.status == "error" for e in result.exports):
            # after the exports: a failed export may still point at the previous version
            result.dropped = drop_old_versions(adapter, session.state,
                                               project.config.keep_versions, built)
        summary(result.results, time.monotonic() - started, echo)
        _write_artifacts(session, result, time.monotonic() - started, options)
    return result


def _run_exports(session: Session, result: BuildResult, echo: Echo) -> list[Any]:
    from destinations import BuiltDataset, run_exports

    datasets = {
        r.name: BuiltDataset(model=r.name, relation=r.physical or r.name,
                             fingerprint=r.fingerprint or "",
                             dataset_id=r.dataset_id)
        for r in result.results if r.status in ("success", "noop")}
    ctx = export_context(session.project, session.target, session.adapter, echo)
    results = run_exports(session.project.config.exports, datasets, ctx)
    for export in results:
        if export.status != "skipped":
            echo(export_line(export))
    return results


def export_context(project: Project, target: str, adapter: Adapter, echo: Echo) -> Any:
    """The ``destinations.ExportContext`` of a target (its open adapter)."""
    from destinations import ExportContext

    return ExportContext(adapter=adapter, target_name=target, target_type=adapter.type,
                         project_root=project.root, state_dir=project.root / "target",
                         platform=getattr(adapter, "platform", None), echo=echo,
                         project_name=project.config.name)


def export_line(export: Any) -> str:
    """One line per export result, the same in ``runner build`` and ``runner export``."""
    detail = f": {export.message}" if export.message else ""
    return f"export {export.model} -> {export.destination}: {export.status}{detail}"


def _write_artifacts(session: Session, result: BuildResult, seconds: float,
                     options: BuildOptions) -> None:
    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    metadata = {"generated_at": now, "runner_version": __version__,
                "project": session.project.config.name, "target": session.target,
                "target_type": session.adapter.type}
    write_json(session.target_dir / "manifest.json", manifest(session, metadata))
    write_json(session.target_dir / "run_results.json", {
        "metadata": metadata, "elapsed_time": round(seconds, 3),
        "args": {"select": options.select, "exclude": options.exclude,
                 "full_refresh": options.full_refresh, "threads": options.threads},
        "results": [r.to_dict() for r in result.results],
        "exports": [e.to_dict() for e in result.exports],
        "dropped": result.dropped,
    })


def manifest(session: Session, metadata: dict[str, Any]) -> dict[str, Any]:
    """The manifest: models, sources, edges, fingerprints and physical names."""
    project = session.project
    models = {}
    for name in project.order():
        model, compiled = project.models[name], session.compiled.get(name)
        parents = project.dag.parents(name)
        state = session.state.models.get(name)
        models[name] = {
            "path": model.path, "materialized": model.config.materialized,
            "tags": list(model.config.tags), "description": model.config.description,
            "columns": model.config.columns,
            "depends_on": {"models": [p for p in parents if not p.startswith(SOURCE_PREFIX)],
                           "sources": [p[len(SOURCE_PREFIX):] for p in parents
                                       if p.startswith(SOURCE_PREFIX)]},
            "fingerprint": compiled.fingerprint if compiled else None,
            "physical": compiled.physical if compiled else None,
            "current": state.current if state else None,
            "dataset_id": state.dataset_id if state else None,
            "compiled_path": f"target/compiled/{session.target}/{model.path}",
        }
    sources = {name: {"identifier": s.identifier, "description": s.description,
                      "columns": s.columns} for name, s in project.config.sources.items()}
    return {"metadata": metadata, "models": models, "sources": sources,
            "edges": [list(e) for e in project.dag.edges()]}


def clean(root: Path, options: BuildOptions, echo: Echo = print, *,
          dry_run: bool = False) -> list[str]:
    """Drop every model version no pointer and no current version uses (``runner clean``).

    Needs only the target's state and a connection: nothing is compiled, so an unrelated
    problem in a model does not stop a clean.
    """
    project, target, adapter = load_target(root, options)
    with target_lock(state_dir(project), target), adapter:
        state = target_state(project, target)
        dropped = drop_old_versions(adapter, state, keep=1, dry_run=dry_run)
    verb = "would drop" if dry_run else "dropped"
    for name in dropped:
        echo(f"{verb} {name}")
    if not dry_run:
        echo(f"Dropped {len(dropped)} old version(s) on target '{target}'.")
    return dropped


def state_dir(project: Project) -> Path:
    """Where per-target state and locks live: ``target/state``."""
    return project.root / "target" / "state"


def target_state(project: Project, target: str) -> TargetState:
    """The persisted versions of ``target``'s models."""
    return TargetState(state_dir(project) / f"{target}.json")
