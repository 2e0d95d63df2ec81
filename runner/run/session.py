"""What every command starts from: the project loaded, checked and bound to one target.

``load`` is the project stage plus the checks that need the later stages (each target block
against its adapter, ``exports:`` by ``destinations``), so a bad project fails the same way in
every command. ``open_workspace`` binds it to a target (its adapter made, not opened);
``compile_session`` then prepares the sources and compiles the plan.

    >>> from runner import open_session, BuildOptions          # doctest: +SKIP
    >>> session = open_session(Path("."), BuildOptions(select=["training_set"]))
    >>> session.plan["training_set"].physical
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from destinations import ExportSpec, parse_exports
from runner.adapters import Adapter, check_target
from runner.compile.compiler import compile_plan
from runner.compile.data_tests import compile_tests
from runner.compile.lineage import ProjectLineage, derived_labels, project_lineage
from runner.compile.plan import Plan
from runner.errors import ProjectError
from runner.graph.selection import select
from runner.project.cache import Cache
from runner.project.config import ProjectConfig, load_project
from runner.project.labels import CORE_LABELS, SourceLabels, check_labels, merge_labels
from runner.project.loader import Project, assemble
from runner.run.history import BuildHistory
from runner.run.labels import platform_source_labels
from runner.run.materialize import strategy
from runner.run.options import BuildOptions
from runner.run.paths import TargetPaths
from runner.run.progress import Echo, SlowStep
from runner.run.recorded import known_sources
from runner.run.state import TargetState, target_lock
from runner.sources.prepare import prepare_local_sources, source_versions
from runner.validation import PROJECT_FILE, did_you_mean

if TYPE_CHECKING:
    from runner.run.events import EventLog


def load(root: str | Path, vars_override: dict[str, Any] | None = None) -> Project:
    """Load and check the project in ``root`` (``runner.load``).

    Raises:
        ProjectError: anything wrong in project.yml, a model, a macro, the graph, a target
            block or an export.
    """
    return _checked(Path(root), vars_override)[0]


def check_config(config: ProjectConfig) -> list[ExportSpec]:
    """The checks of project.yml that need later stages: each target block against its
    adapter, and ``exports:`` by ``destinations`` (returned, parsed)."""
    for name, block in config.targets.items():
        check_target(block, f"targets.{name}")
    exports = parse_exports(config.exports, "exports")
    known = (*CORE_LABELS, *config.custom_labels)
    for index, spec in enumerate(exports):
        check_labels(list(spec.refuse_labels), ("exports", index, "destination", "refuse_labels"),
                     known, config.root)
        allowed = check_labels(list(spec.allow_labels), ("exports", index, "allow_labels"),
                               known, config.root)
        if "C12" in allowed:
            raise ProjectError(f"exports[{index}].allow_labels.C12: C12 data is never exported "
                               "and cannot be allowed; remove the C12 columns from "
                               f"{spec.model} instead", PROJECT_FILE)
    return exports


def _checked(root: Path, vars_override: dict[str, Any] | None, echo: Echo | None = None
             ) -> tuple[Project, list[ExportSpec]]:
    config = load_project(root)
    exports = check_config(config)
    cache = Cache(TargetPaths(root, "").cache)
    if echo is None:
        project = assemble(config, vars_override, cache)
    else:
        with SlowStep(echo, "reading") as slow:
            project = assemble(config, vars_override, cache, on_model=slow.model)
    for index, spec in enumerate(exports):
        if spec.model not in project.models:
            raise ProjectError(f"exports[{index}].model: '{spec.model}' is not a model"
                               f"{did_you_mean(spec.model, project.models)}", PROJECT_FILE)
    return project, exports


@dataclass
class Workspace:
    """A checked project bound to one target: its adapter (not yet open), exports and paths."""

    project: Project
    target: str
    adapter: Adapter
    exports: list[ExportSpec]
    paths: TargetPaths

    def state(self) -> TargetState:
        """The persisted versions of the target's models."""
        return TargetState(self.paths.state)

    @property
    def compiles_offline(self) -> bool:
        """Whether ``runner compile`` connects to nothing: the engine neither holds local
        sources nor binds queries, so a connection would only give what the last build
        recorded (Data Distiller: no credentials needed to review its SQL)."""
        return not (self.adapter.binds or self.adapter.creates_local_sources)


def open_workspace(root: str | Path, options: BuildOptions, echo: Echo | None = None
                   ) -> Workspace:
    """Load the project and make (not open) the adapter of the chosen target; with ``echo``, a
    model file that takes long to read (parse, check, expand) is named while it is read."""
    project, exports = _checked(Path(root), options.vars, echo)
    target, block = project.config.target(options.target)
    adapter_cls = check_target(block, f"targets.{target}")
    adapter_cls.validate_config(block, f"targets.{target}")
    return Workspace(project, target, adapter_cls(target, block, project.root), exports,
                     TargetPaths(project.root, target))


@dataclass
class Session:
    """A workspace with its compiled plan: what ``build`` and ``compile`` run.

    ``source_types`` (by identifier) and ``source_versions`` (by source name) are what the plan
    was compiled with; the manifest records them. ``lineage`` is every model's column lineage,
    ``source_labels`` the sources' data usage labels (project.yml's; a caller that reads more,
    such as Platform's labels API, unions them in and derives ``labels`` again with
    ``runner.compile.lineage.derived_labels``), ``labels`` each model column's labels.
    """

    workspace: Workspace
    state: TargetState
    plan: Plan
    source_types: dict[str, dict[str, exp.DataType]] = field(default_factory=dict)
    source_versions: dict[str, str] = field(default_factory=dict)
    lineage: ProjectLineage | None = None
    source_labels: SourceLabels = field(default_factory=dict)
    labels: dict[str, dict[str, frozenset[str]]] = field(default_factory=dict)

    @property
    def project(self) -> Project:
        return self.workspace.project

    @property
    def target(self) -> str:
        return self.workspace.target

    @property
    def adapter(self) -> Adapter:
        return self.workspace.adapter

    @property
    def paths(self) -> TargetPaths:
        return self.workspace.paths


def open_session(root: str | Path, options: BuildOptions | None = None, echo: Echo = print
                 ) -> Session:
    """``open_workspace`` then ``compile_session``; the caller closes ``session.adapter``."""
    options = options or BuildOptions()
    return compile_session(open_workspace(root, options, echo), options, echo)


@contextmanager
def locked_session(root: str | Path, options: BuildOptions, echo: Echo = print,
                   events: EventLog | None = None) -> Iterator[Session]:
    """A compiled session holding the target's lock (``runner build`` and ``runner test``);
    ``events`` learn the adapter's secrets, to mask them. The caller closes the adapter."""
    workspace = open_workspace(root, options, echo)
    with target_lock(workspace.paths):
        session = compile_session(workspace, options, echo)
        if events is not None:
            events.secrets = session.adapter.secrets
        yield session


def compile_session(workspace: Workspace, options: BuildOptions, echo: Echo = print, *,
                    offline: bool = False, prepare_sources: bool = True) -> Session:
    """Pick the selection and compile it (nothing is built yet); the caller closes the adapter.

    Compiling connects to an engine that holds local sources (DuckDB, Spark) to create the
    sources it lacks (synthetic data or file views), and to one that runs translated SQL
    (DuckDB, PostgreSQL) to read the sources' column types, so the dialect layer can keep
    Spark's exact values. On every engine the sources' data versions are read where known (new
    data, new fingerprints).

    With ``offline`` nothing is connected to (``runner compile`` on Data Distiller needs no
    credentials): the sources' column types and data versions are those the last build on
    this target recorded in ``target/manifest.json``, and compiling goes without those it
    does not know.

    With ``prepare_sources=False`` (``runner plan``) the local sources are read as they are,
    never created: a missing one has no column types.
    """
    project, adapter = workspace.project, workspace.adapter
    adapter.notice = echo
    chosen = select(options.select, options.exclude, project.dag, project.models,
                    BuildHistory(project, workspace.target, workspace.paths, options.state))
    state = workspace.state()
    if options.full_refresh:
        for name in project.order(chosen):
            if project.models[name].config.materialized != "ephemeral":
                state.bump_generation(name)
    try:
        used = sorted({s for n in project.models for s in project.sources_read(n)})
        if offline:
            types, versions = known_sources(workspace.paths.manifest, workspace.target,
                                            adapter.dialect)
        else:
            types, versions = _source_facts(project, adapter, used, echo, prepare_sources)
        # before compiling: the queries it parses are the ones the compiler then takes
        lineage = _lineage(project, types, Cache(workspace.paths.cache), echo)
        with SlowStep(echo, "compiling") as slow:
            plan = compile_plan(project, adapter, chosen, generations=state.generations(),
                                source_types=types if adapter.runs_translated_sql else {},
                                source_versions=versions, on_model=slow.model,
                                cache=Cache(workspace.paths.cache))
        plan.tests = compile_tests(project, adapter, plan,
                                   types if adapter.runs_translated_sql else {})
    except BaseException:
        adapter.close()
        raise
    _render_statements(plan, adapter, Cache(workspace.paths.cache))
    given = project.config.source_labels()
    if not offline and adapter.platform is not None:  # and what Platform's datasets carry (§7)
        try:
            given = merge_labels(given, platform_source_labels(adapter, project.config, used))
        except BaseException:
            adapter.close()
            raise
    return Session(workspace, state, plan, types, versions, lineage, given,
                   derived_labels(lineage, given))


def workspace_lineage(workspace: Workspace, echo: Echo | None = None, *, platform: bool = False
                      ) -> tuple[ProjectLineage, dict[str, dict[str, frozenset[str]]], SourceLabels]:
    """The lineage, derived labels and source labels of a workspace without compiling: the
    sources' columns are project.yml's and those the last build on its target recorded; the
    labels project.yml's and, with ``platform`` on a target on Platform (its adapter open), those
    the sources' datasets carry."""
    project = workspace.project
    types, _ = known_sources(workspace.paths.manifest, workspace.target,
                             workspace.adapter.dialect)
    lineage = _lineage(project, types, Cache(workspace.paths.cache), echo)
    given = project.config.source_labels()
    if platform and workspace.adapter.platform is not None:
        used = sorted({s for n in project.models for s in project.sources_read(n)})
        given = merge_labels(given, platform_source_labels(workspace.adapter, project.config, used))
    return lineage, derived_labels(lineage, given), given


def _lineage(project: Project, types: dict[str, dict[str, exp.DataType]], cache: Cache,
             echo: Echo | None) -> ProjectLineage:
    """Every model's lineage over the sources' known columns; its warnings echoed."""
    columns = {name: list(types.get(source.identifier) or ())
               for name, source in project.config.sources.items()}
    lineage = project_lineage(project, columns, cache)
    for warning in lineage.warnings if echo is not None else ():
        echo(f"Warning: {warning}")
    return lineage


def _render_statements(plan: Plan, adapter: Adapter, cache: Cache) -> None:
    """Each model's statements, by its materialization; kept in the cache by what they are
    made of (the compiled query by its compile key, the physical name, the target's config)."""
    target = repr(adapter.config)
    for model in plan:
        key = Cache.key("statements", adapter.type, target, model.compile_key, model.physical,
                        model.materialized, model.ddl, model.incremental)
        statements = cache.get(key)
        if statements is None:
            statements = cache.put(key, strategy(model.materialized).statements(model, adapter))
        model.statements = list(statements)


def _source_facts(project: Project, adapter: Adapter, used: list[str], echo: Echo,
                  prepare: bool = True
                  ) -> tuple[dict[str, dict[str, exp.DataType]], dict[str, str]]:
    """The sources made ready on the engine; their column types (where the dialect layer needs
    them) and data versions."""
    types = {}
    if adapter.creates_local_sources:
        adapter.open()
        if prepare:
            prepare_local_sources(project.config, adapter, used, echo)
    if adapter.runs_translated_sql:  # Spark and Data Distiller run the models as written
        adapter.open()
        types = {ident: adapter.column_types(ident)
                 for ident in (project.config.sources[s].identifier for s in used)}
    return types, source_versions(project.config, adapter, used)
