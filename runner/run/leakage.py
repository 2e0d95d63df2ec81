"""``runner test --leakage``: prove the point-in-time models read nothing at or after their cutoff.

A model whose config has ``as_of: {var: as_of_date}`` is point-in-time: its columns (but those
in ``ignore``, such as a label, and its ``key``) must not depend on source rows at or after the
instant that var names (``CAST(var AS TIMESTAMP)``: midnight UTC for a date). Each source
declares when its rows happened (``time_column`` in project.yml: a column, or a dotted path to a
field inside a struct column, ``extSourceSystemAudit.createdDate``). The audit copies the sources
the selected models need from the target into a scratch in-memory DuckDB and builds the models
and their ancestors there three times, through the same compile as a build:

1. on the sources as they are;
2. with every row at or after the cutoff removed;
3. with those rows perturbed: each keeps its time, one day later, and takes each other
   column from another such row (the j-th column from the j-th next row, in table order), so
   the values after the cutoff and their combinations change and stay after it.

Each audited model's rows are matched on its key across the builds; a column whose value
differs in build 2 or 3 reads data at or after the cutoff, and the model fails naming it and
the rows affected (rows present in one build only are a difference of every column). DOUBLE
columns are compared to a relative 1e-9 (a sum's order may change its last bits), every other
type exactly. A target that holds the sources locally (``Adapter.creates_local_sources``:
DuckDB) gives them whole; from another one (Data Distiller) the audit reads a sample of
entities over its interactive interface: the first ``sample`` ids by md5 over the sources'
``entity_column`` (default ``user_id``), then every row of them from each source, so every
sampled entity's features are exact (``sample_sql``, ``sampled_rows_sql``).

A ``no_leakage`` data test (``data_tests: [no_leakage]``) runs the same audit on its model
after it is built, or in ``runner test``: ``LeakageAudit.run_test``, which copies each source
from the target once per command and reports ``warn`` rather than ``fail`` at severity warn.

    run = run_leakage_audit(Path("."), BuildOptions(select=["training_set"]))
    [(r.test.model, r.status, r.details) for r in run.results]
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlglot import exp

from runner.adapters import Adapter, adapter_class
from runner.compile.compiler import compile_plan
from runner.compile.plan import CompiledTest, Plan
from runner.errors import ProjectError, RunError
from runner.graph.selection import select
from runner.project.cache import Cache
from runner.project.loader import Project
from runner.project.model import AsOfConfig
from runner.run.artifacts import data_test_result, write_run_results
from runner.run.events import EventLog
from runner.run.history import BuildHistory
from runner.run.options import DEFAULT_SAMPLE, BuildOptions
from runner.run.progress import check_lines, check_summary
from runner.run.results import TestResult
from runner.run.session import open_workspace
from runner.run.state import target_lock
from runner.sources.prepare import prepare_local_sources
from runner.validation import PROJECT_FILE, did_you_mean

Echo = Callable[[str], None]
VARIANTS = {"removed": "with the rows at or after the cutoff removed",
            "perturbed": "with them perturbed"}
TOLERANCE = 1e-9


@dataclass
class LeakageRun:
    """What ``runner test --leakage`` found: one result per audited model."""

    results: list[TestResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def exit_code(self) -> int:
        return 1 if any(r.status != "pass" for r in self.results) else 0


class LeakageAudit:
    """The audit on one open target: the sources it copies from there (each once) and the
    scratch builds. ``runner test --leakage`` runs it over every tagged model; a ``no_leakage``
    data test (``runner.run.data_tests``) over its model, one at a time."""

    def __init__(self, project: Project, adapter: Adapter, cache: Path,
                 sample: int = DEFAULT_SAMPLE) -> None:
        self.project, self.adapter, self.cache, self.sample = project, adapter, cache, sample
        self.copies: dict[str, Any] = {}
        self.entities: list[Any] | None = None  # the sampled ids, on a remote target
        self._lock = threading.Lock()

    def sources(self, names: list[str]) -> list[str]:
        """The sources that ``names`` and their ancestors read, sorted."""
        project = self.project
        return sorted({s for n in names for a in (n, *project.dag.upstream(n))
                       if a in project.models for s in project.sources_read(a)})

    def copy(self, sources: list[str], echo: Echo = lambda line: None) -> None:
        """Read the sources not yet copied from the target (which must be open), as Arrow:
        whole where the target holds them locally, else every row of ``sample`` entities (the
        first ids by md5 over the sources of the first copy, the same in every source)."""
        missing = [s for s in sources if s not in self.copies]
        if not missing:
            return
        if self.adapter.creates_local_sources:
            for source in missing:
                ident = _quoted(self.project.config.sources[source].identifier)
                self.copies[source] = self.adapter.fetch_arrow(f"SELECT * FROM {ident}")
            return
        if self.entities is None:
            query = sample_sql(self._entity_columns(missing), self.sample, self.adapter.dialect)
            self.entities = self._read(query, "the sampled entities").column(0).to_pylist()
            echo(f"{time.strftime('%H:%M:%S')}  Copying a sample of {len(self.entities):,} "
                 f"entities (the first {self.sample:,} ids by md5) from target "
                 f"'{self.adapter.name}' ({self.adapter.type}): every row of each")
        for source in missing:
            ((ident, column),) = self._entity_columns([source]).items()
            query = sampled_rows_sql(ident, column, self.entities, self.adapter.dialect)
            self.copies[source] = self._read(query, f"source {source}")

    def _entity_columns(self, sources: list[str]) -> dict[str, str]:
        """Each source's identifier and the column holding its entity (default user_id)."""
        config = self.project.config.sources
        return {config[s].identifier: config[s].entity_column or "user_id" for s in sources}

    def _read(self, sql: str, what: str) -> Any:
        try:
            return self.adapter.query_arrow(sql)
        except RunError as err:
            raise RunError(f"the point-in-time audit's sample: {what}: {err}; for the audit, "
                           "a smaller --sample reads fewer rows") from None

    @property
    def scope(self) -> str:
        """What the audit ran on, for its messages: ``, on a sample of 1,000 entities``."""
        return "" if self.entities is None else f", on a sample of {len(self.entities):,} entities"

    def run(self, tests: list[CompiledTest], echo: Echo = lambda line: None
            ) -> list[TestResult]:
        """Each test's result, its model audited against its own cutoff (grouped by cutoff,
        one set of scratch builds each), in the order given.

        Raises:
            ProjectError: an ``as_of`` var is not a var, no source declares a time column, a
                time column does not exist, or a key is not unique.
        """
        groups: dict[str, list[CompiledTest]] = {}
        for test in tests:
            groups.setdefault(_cutoff(self.project, test.model), []).append(test)
        with self._lock:
            sources = self.sources([t.model for t in tests])
            timed = _time_columns(self.project, sources)
            self.copy(sources, echo)
            done = {r.test.name: r for cutoff, group in groups.items()
                    for r in _audit(self.project, group, cutoff,
                                    {s: self.copies[s] for s in sources}, timed, self.cache,
                                    echo)}
        for result in done.values():
            result.message += self.scope
        return [done[t.name] for t in tests]

    def run_test(self, test: CompiledTest) -> TestResult:
        """A ``no_leakage`` data test's result."""
        (result,) = self.run([test])
        return result


def audit_test(project: Project, model: str) -> CompiledTest:
    """The check ``runner test --leakage`` makes of a tagged model (error severity)."""
    compiled = project.models[model]
    return CompiledTest(name=f"no_leakage_{model}", model=model, kind="no_leakage", column=None,
                        severity="error", path=compiled.path, line=1, sql="",
                        expects="no column depends on rows at or after its cutoff")


def run_leakage_audit(root: str | Path, options: BuildOptions | None = None, echo: Echo = print,
                      events: EventLog | None = None) -> LeakageRun:
    """Audit the selected models that have an ``as_of`` config (see the module docstring).

    Raises:
        ProjectError: an ``as_of`` var is not a var, a source time column does not exist, or
            a key is not unique.
        RunError: the target cannot be reached, or the sample passes its row limit.
    """
    started = time.monotonic()
    options = options or BuildOptions()
    workspace = open_workspace(root, options)
    project, adapter = workspace.project, workspace.adapter
    chosen = select(options.select, options.exclude, project.dag, project.models,
                    BuildHistory(project, workspace.target, workspace.paths, options.state))
    audited = [n for n in project.order(chosen) if project.models[n].config.as_of is not None]
    if not audited:
        echo("Nothing to audit: no selected model has an as_of config "
             "(as_of: {var: as_of_date} in its config block).")
        return LeakageRun()
    tests = [audit_test(project, n) for n in audited]
    for name in audited:
        _cutoff(project, name)
    audit = LeakageAudit(project, adapter, workspace.paths.cache, options.sample)
    needed = audit.sources(audited)
    _time_columns(project, needed)
    with target_lock(workspace.paths), adapter:
        prepare_local_sources(project.config, adapter, needed, echo)
        audit.copy(needed, echo)
    run = LeakageRun(audit.run(tests, echo))
    for result in run.results:
        _report(result, echo, events, project.config.name)
    run.seconds = time.monotonic() - started
    _summary(run, echo)
    write_run_results(workspace.paths.run_results,
                      [data_test_result(project.config.name, r) for r in run.results],
                      run.seconds, {"which": "leakage", "target": workspace.target,
                                    "select": options.select, "exclude": options.exclude,
                                    "vars": project.vars})
    return run


def sample_sql(entities: dict[str, str], count: int, dialect: str) -> str:
    """The first ``count`` entity ids by md5 of their text, over the sources' entity columns
    (identifier -> column), names rendered in ``dialect``: plain SQL that Spark and
    PostgreSQL read alike."""
    union = " UNION ".join(f"SELECT DISTINCT {_name(column, dialect)} AS entity FROM "
                           f"{_table(ident, dialect)}" for ident, column in entities.items())
    return (f"SELECT entity FROM ({union}) AS entities WHERE entity IS NOT NULL "
            f"ORDER BY md5(concat(entity, '')) LIMIT {count}")


def sampled_rows_sql(ident: str, column: str, entities: list[Any], dialect: str) -> str:
    """Every row of a source whose entity is one of ``entities``."""
    values = ", ".join(exp.convert(v).sql(dialect) for v in entities) or "NULL"
    return (f"SELECT * FROM {_table(ident, dialect)} WHERE {_name(column, dialect)} "
            f"IN ({values})")


def _name(name: str, dialect: str) -> str:
    return exp.to_identifier(name).sql(dialect)


def _table(ident: str, dialect: str) -> str:
    return exp.to_table(ident).sql(dialect)


def _cutoff(project: Project, name: str) -> str:
    """The cutoff instant of a model's ``as_of`` var, as a timestamp text."""
    as_of = project.models[name].config.as_of
    assert as_of is not None
    if as_of.var not in project.vars:
        raise ProjectError(f"config block: as_of.var: '{as_of.var}' is not a var"
                           f"{did_you_mean(as_of.var, project.vars)}; declare it under vars: "
                           "in project.yml", project.models[name].path)
    return str(project.vars[as_of.var])


def _time_columns(project: Project, sources: list[str]) -> dict[str, str]:
    """Each needed source's time column, by source; ProjectError when none declares one."""
    timed = {s: column for s in sources if (column := project.config.sources[s].time_column)}
    if not timed:
        raise ProjectError(f"the point-in-time audit needs to know when rows happened: declare "
                           f"sources.<name>.time_column for {', '.join(sources)} (e.g. "
                           "time_column: timestamp)", PROJECT_FILE)
    return timed


def _scratch(project: Project) -> Adapter:
    adapter = adapter_class("duckdb")("leakage", {"type": "duckdb", "path": ":memory:"},
                                      project.root)
    adapter.open()
    adapter.execute("SET threads = 1")  # one order of rows: sums of doubles repeat exactly
    return adapter


def _audit(project: Project, tests: list[CompiledTest], cutoff: str, copies: dict[str, Any],
           timed: dict[str, str], cache: Path, echo: Echo) -> list[TestResult]:
    """Build the tests' models three times on scratch databases and compare (one cutoff)."""
    began, started_at = time.monotonic(), time.time()
    names = [t.model for t in tests]
    base = _scratch(project)
    variants = {v: _scratch(project) for v in VARIANTS}
    try:
        literal = exp.Literal.string(cutoff).sql("duckdb")
        echo(f"{time.strftime('%H:%M:%S')}  Auditing {len(names)} point-in-time model(s) at "
             f"{cutoff} on a scratch DuckDB: built on the sources as they are, with their rows "
             "at or after the cutoff removed, and with those rows perturbed")
        for source, table in copies.items():
            ident = project.config.sources[source].identifier
            for adapter in (base, *variants.values()):
                adapter.load_arrow({ident: table})
            column = timed.get(source)
            if column is None:
                echo(f"  source {source}: no time_column, copied as it is")
                continue
            column = _check_column(base, ident, column, source)
            # a dotted time column is its quoted parts joined by dots: DuckDB reads a struct field
            after = f"CAST({_quoted(column)} AS TIMESTAMP) >= CAST({literal} AS TIMESTAMP)"
            (count,), = base.fetch(f"SELECT count(*) FROM {_quoted(ident)} WHERE {after}")
            echo(f"  source {source}: {count:,} of {table.num_rows:,} rows at or after the "
                 f"cutoff ({column})")
            variants["removed"].execute(f"DELETE FROM {_quoted(ident)} WHERE {after}")
            _perturb(variants["perturbed"], ident, column, after)
        types = {project.config.sources[s].identifier:
                 base.column_types(project.config.sources[s].identifier) for s in copies}
        plan = compile_plan(project, base, set(names), source_types=types, cache=Cache(cache))
        for adapter in (base, *variants.values()):
            _build(adapter, plan)
        for variant, adapter in variants.items():
            for name in names:
                base.load_arrow({f"__{variant}_{name}": adapter.fetch_arrow(
                    f"SELECT * FROM {_quoted(plan[name].physical or name)}")})
        results = []
        for test in tests:
            test.sql = test.sql or plan[test.model].select_sql  # what was audited
            result = _compare(project, base, plan, test, cutoff)
            result.seconds, result.started_at, result.completed_at = (
                time.monotonic() - began, started_at, time.time())
            result.thread = threading.current_thread().name
            results.append(result)
        return results
    finally:
        for adapter in (base, *variants.values()):
            adapter.close()


def _check_column(adapter: Adapter, ident: str, column: str, source: str) -> str:
    """``column`` as ``ident`` spells it (names match case-insensitively, as in DuckDB and
    Spark): a column or, dotted (``extSourceSystemAudit.createdDate``), a field inside one of
    its struct columns; ProjectError when it is neither."""
    types = adapter.column_types(ident)
    top, *path = column.split(".")
    where = f"sources.{source}.time_column: '{column}'"
    found = _named(top, types)
    if found is None:
        hint = f": it has no column '{top}'" if path else ""
        raise ProjectError(f"{where} is not a column of {ident}{hint}"
                           f"{did_you_mean(top if path else column, types)}", PROJECT_FILE)
    dtype, at = types[found], found
    for name in path:
        fields = _fields(dtype)
        field = _named(name, fields)
        if field is None:
            what = (f"has no field '{name}'{did_you_mean(name, fields)}" if fields
                    else f"is {dtype.sql('duckdb')}, not a struct")
            raise ProjectError(f"{where} is not a field of {ident}: {at} {what}", PROJECT_FILE)
        dtype, at = fields[field], f"{at}.{field}"
    return at


def _named(name: str, names: Any) -> str | None:
    """The one of ``names`` that is ``name`` case-insensitively (None when none is)."""
    return next((n for n in names if n.lower() == name.lower()), None)


def _fields(dtype: exp.DataType) -> dict[str, exp.DataType]:
    """A struct type's fields by name (none for any other type)."""
    if not dtype.is_type(exp.DataType.Type.STRUCT):
        return {}
    return {f.name: f.args["kind"] for f in dtype.expressions if isinstance(f, exp.ColumnDef)}


def _perturb(adapter: Adapter, ident: str, column: str, after: str) -> None:
    """Each row at or after the cutoff gets its own time one day later (inside its struct for a
    dotted time column, the struct's other fields kept) and, for its j-th other top-level
    column, the value of the j-th next such row (in table order, wrapping round), so the values
    change and their combinations too."""
    types = adapter.column_types(ident)
    top, *path = column.split(".")
    table, others = _quoted(ident), [c for c in types if c != top]
    adapter.execute(f"CREATE TABLE __post AS SELECT *, row_number() OVER (ORDER BY rowid) AS "
                    f"__n, count(*) OVER () AS __c FROM {table} WHERE {after}")
    lists = ", ".join(f"list({_quoted(c)} ORDER BY __n) AS {_quoted(c)}" for c in others)
    adapter.execute(f"CREATE TABLE __lists AS SELECT {lists or '1 AS __none'} FROM __post")
    dtype = types[top]
    for name in path:
        dtype = _fields(dtype)[name]
    shifted = f"CAST(a.{_quoted(column)} + INTERVAL 1 DAY AS {dtype.sql('duckdb')})"
    for depth in reversed(range(len(path))):  # rebuild each enclosing struct, innermost first
        parent = _quoted(".".join([top, *path[:depth]]))
        shifted = f"struct_update(a.{parent}, {_quoted(path[depth])} := {shifted})"
    picked = {c: f"l.{_quoted(c)}[(a.__n - 1 + {j}) % a.__c + 1]"
              for j, c in enumerate(others, start=1)}
    columns = ", ".join(shifted if c == top else picked[c] for c in types)
    adapter.execute(f"DELETE FROM {table} WHERE {after}")
    adapter.execute(f"INSERT INTO {table} SELECT {columns} FROM __post AS a, __lists AS l "
                    "ORDER BY a.__n")
    adapter.execute("DROP TABLE __post")
    adapter.execute("DROP TABLE __lists")


def _build(adapter: Adapter, plan: Plan) -> None:
    """Every built model of the plan as a table, in build order."""
    for model in plan:
        if model.built:
            adapter.execute(f"CREATE TABLE {_quoted(model.physical or model.name)} AS "
                            f"{model.select_sql}")


def _compare(project: Project, base: Adapter, plan: Plan, test: CompiledTest, cutoff: str
             ) -> TestResult:
    """The model's rows in each variant against the base build, column by column."""
    name = test.model
    model, as_of = plan[name], project.models[name].config.as_of
    assert as_of is not None and model.physical is not None
    types = base.column_types(model.physical)
    key = _key(as_of, list(types), project.models[name].path)
    table = _quoted(model.physical)
    keys = ", ".join(_quoted(k) for k in key)
    (dupes,), = base.fetch(f"SELECT count(*) FROM (SELECT {keys} FROM {table} GROUP BY {keys} "
                           "HAVING count(*) > 1)")
    if dupes:
        raise ProjectError(f"config block: as_of.key: ({', '.join(key)}) is not unique in "
                           f"{name} ({dupes} values repeat); set as_of.key to the columns that "
                           "identify a row", project.models[name].path)
    features = [c for c in types if c not in key and c.lower() not in as_of.ignore]
    changed: dict[str, dict[str, int]] = {}
    affected = 0
    rows = base.row_count(model.physical)
    for variant in VARIANTS:
        other = _quoted(f"__{variant}_{name}")
        on = " AND ".join(f"b.{_quoted(k)} IS NOT DISTINCT FROM v.{_quoted(k)}" for k in key)
        counts = [f"count(*) FILTER (WHERE b.__in IS NULL OR v.__in IS NULL)",
                  "count(*) FILTER (WHERE b.__in IS NULL OR v.__in IS NULL OR NOT (" +
                  " AND ".join(_same(c, types[c]) for c in features) + "))" if features else "0",
                  *(f"count(*) FILTER (WHERE b.__in IS NULL OR v.__in IS NULL OR NOT "
                    f"{_same(c, types[c])})" for c in features)]
        values = base.fetch(f"SELECT {', '.join(counts)} FROM (SELECT *, true AS __in FROM "
                            f"{table}) AS b FULL OUTER JOIN (SELECT *, true AS __in FROM "
                            f"{other}) AS v ON {on}")[0]
        affected = max(affected, int(values[1]))
        for column, count in zip(features, values[2:]):
            if count:
                changed.setdefault(column, {})[variant] = int(count)
        if values[0]:
            changed.setdefault("(rows)", {})[variant] = int(values[0])
    if not changed:
        return TestResult(test, "pass", failures=0,
                          message=f"{len(features)} column(s) unchanged in {rows:,} rows")
    details = [f"{column}: {_counts(counts)}" for column, counts in changed.items()]
    columns = [c for c in changed if c != "(rows)"]
    shown = ", ".join(f"{name}.{c}" for c in columns) or "its rows"
    message = (f"{shown} read{'s' if len(columns) == 1 else ''} data at or after the cutoff "
               f"({as_of.var} = {cutoff}): {affected:,} of {rows:,} rows affected")
    sample = [{"column": c, **counts} for c, counts in changed.items()]
    return TestResult(test, "warn" if test.severity == "warn" else "fail", failures=affected,
                      sample=sample, message=message, details=details)


def _counts(counts: dict[str, int]) -> str:
    """``36 rows differ with the rows at or after the cutoff removed, 36 with them perturbed``."""
    parts = [f"{n:,}{(' row differs' if n == 1 else ' rows differ') if not i else ''} "
             f"{VARIANTS[v]}" for i, (v, n) in enumerate(counts.items())]
    return ", ".join(parts)


def _key(as_of: AsOfConfig, columns: list[str], path: str) -> list[str]:
    key = list(as_of.key) or (["user_id"] if "user_id" in columns else [])
    if not key:
        raise ProjectError("config block: as_of.key: the model has no user_id column; set "
                           "as_of.key to the columns that identify a row", path)
    for column in key:
        if column not in columns:
            raise ProjectError(f"config block: as_of.key: '{column}' is not a column"
                               f"{did_you_mean(column, columns)}", path)
    return key


def _same(column: str, dtype: exp.DataType) -> str:
    """SQL: the column has the same value in ``b`` and ``v`` (DOUBLEs to ``TOLERANCE``)."""
    b, v = f"b.{_quoted(column)}", f"v.{_quoted(column)}"
    if dtype.this in (exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT):
        return (f"({b} IS NOT DISTINCT FROM {v} OR abs({b} - {v}) <= {TOLERANCE} * "
                f"greatest(abs({b}), abs({v})))")
    return f"({b} IS NOT DISTINCT FROM {v})"


def _quoted(name: str) -> str:
    return ".".join(exp.to_identifier(p, quoted=True).sql("duckdb") for p in name.split("."))


def _report(result: TestResult, echo: Echo, events: EventLog | None, project: str) -> None:
    test = result.test
    if events is not None:
        events.emit("test", unique_id=f"test.{project}.{test.name}", model=test.model,
                    status=result.status, severity=test.severity, failures=result.failures,
                    execution_time=round(result.seconds, 3), message=result.message or None)
    count = f" {result.failures:,}" if result.failures else ""
    for line in check_lines(result, f"leakage {test.model}", f"{result.status.upper()}{count}",
                            test.path):
        echo(line)


def _summary(run: LeakageRun, echo: Echo) -> None:
    check_summary([(f"{r.test.model}: {r.test.path}", r) for r in run.results],
                  f"Audited {len(run.results)} point-in-time model(s) in {run.seconds:.2f}s.",
                  "{n} model(s) read data at or after their cutoff:", "Leakage", echo)
