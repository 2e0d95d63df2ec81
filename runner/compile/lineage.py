"""Column-level lineage: for every model column, the source columns it derives from.

A model's query (macros and vars expanded, as ``runner.project.loader.Queries`` gives it) is
split into sqlglot's scopes (CTEs, subqueries, set operations); each column is placed in the
relation that has it, by the columns its parents are known to have (project.yml's source
``columns:``, the columns the engine reported for a source, each upstream model's own result
columns), which also expands ``SELECT *``, ``t.*`` and ``USING``. Each result column of each
scope then reads:

- ``value``: what the value is computed from (the projection, CASE conditions included);
- ``via``: what decides which rows or groups it sees (WHERE, JOIN conditions, GROUP BY, HAVING,
  QUALIFY, a window's PARTITION BY and ORDER BY, the columns of a subquery in a condition).

A model's lineage names its direct parents' columns (``stg_events.user_id``, or a source's
``experience_events.identityMap``; a nested XDM field keeps its path when sqlglot gives it:
``experience_events.commerce.order.priceTotal``). ``project_lineage`` composes them through the
DAG (ephemeral models included) down to the sources' columns; a parent column reached through
``via`` contributes all of its own lineage as ``via``. Lineage is cached per model, keyed by its
parse key and its parents' columns, so a warm build only reads it back.

A ``SELECT *`` over a relation whose columns are unknown cannot be traced column by column: its
columns then derive from ``<relation>.*`` (every field of it) and a warning names the model.

    >>> lineage = project_lineage(project, source_columns={"raw": ["id", "x"]})  # doctest: +SKIP
    >>> lineage.trace("training_set", "emails_opened_30d").value                # doctest: +SKIP
    frozenset({'experience_events.eventType', 'experience_events.timestamp'})
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.scope import Scope, build_scope

from runner.compile.workers import Ready, Workers
from runner.graph.dag import SOURCE_PREFIX
from runner.project.cache import Cache
from runner.project.labels import SourceLabels, labels_of
from runner.project.loader import REFERENCE, Project

ALL = "*"  # a ref's column when every field of the relation is meant


@dataclass(frozen=True)
class ColumnLineage:
    """What one column derives from: ``<relation>.<column>[.<field>...]`` refs."""

    value: frozenset[str] = frozenset()
    via: frozenset[str] = frozenset()

    def to_dict(self) -> dict[str, list[str]]:
        return {"value": sorted(self.value), "via": sorted(self.via - self.value)}

    def refs(self) -> tuple[set[str], set[str]]:
        return set(self.value), set(self.via)


@dataclass(frozen=True)
class ModelLineage:
    """One model's result columns (in order) and what each reads of its direct parents.

    ``rest`` is the lineage of result columns a ``SELECT *`` over unknown columns gave (None
    when every column is known); ``warnings`` say what could not be traced.
    """

    columns: dict[str, ColumnLineage]
    rest: ColumnLineage | None = None
    warnings: tuple[str, ...] = ()

    def get(self, column: str) -> ColumnLineage | None:
        """The column's lineage (case-insensitive), ``rest`` for a column the star gave."""
        found = self.columns.get(column)
        if found is None:
            lowered = column.lower()
            found = next((c for n, c in self.columns.items() if n.lower() == lowered), None)
        return found if found is not None else self.rest


@dataclass
class ProjectLineage:
    """Every model's lineage; ``trace`` composes it down to the sources' columns."""

    models: dict[str, ModelLineage]
    sources: set[str]
    _traced: dict[tuple[str, str], ColumnLineage] = field(default_factory=dict, repr=False)

    @property
    def warnings(self) -> list[str]:
        return [w for m in self.models.values() for w in m.warnings]

    def columns(self, model: str) -> list[str]:
        """The model's result columns, in order (without those an unresolved star gave)."""
        return list(self.models[model].columns) if model in self.models else []

    def trace(self, model: str, column: str) -> ColumnLineage:
        """The source columns ``model.column`` derives from (``value`` and ``via``)."""
        key = (model, column.lower())
        if key not in self._traced:
            self._traced[key] = ColumnLineage()  # a guard; the DAG has no cycle
            own = self.models[model].get(column) if model in self.models else None
            value: set[str] = set()
            via: set[str] = set()
            for ref in own.value if own else ():
                up = self._up(ref)
                value |= up.value
                via |= up.via
            for ref in own.via if own else ():
                up = self._up(ref)
                via |= up.value | up.via
            self._traced[key] = ColumnLineage(frozenset(value), frozenset(via - value))
        return self._traced[key]

    def _up(self, ref: str) -> ColumnLineage:
        relation, _, column = ref.partition(".")
        if relation in self.models:
            return self.trace(relation, column.partition(".")[0])
        return ColumnLineage(value=frozenset([ref]))


def derived_labels(lineage: ProjectLineage, source_labels: SourceLabels
                   ) -> dict[str, dict[str, frozenset[str]]]:
    """Each model column's data usage labels: the union over its lineage (value and via).

    This is the one place labels are derived; callers union other sources of labels (project.yml
    today, Platform's labels API for a Data Distiller target) into ``source_labels`` first.

    Args:
        lineage: the project's lineage (``project_lineage``).
        source_labels: per source name, ``{"dataset": set[str], "fields": dict[str, set[str]]}``:
            dataset-level labels apply to every field; a field's labels apply to its sub-fields
            (a label on ``commerce`` reaches ``commerce.order.priceTotal``) and to a whole parent
            read at once.

    Returns:
        model name -> column -> labels, only the columns that carry at least one label.
    """
    found: dict[str, dict[str, frozenset[str]]] = {}
    for model, own in lineage.models.items():
        labelled = {}
        for column in own.columns:
            traced = lineage.trace(model, column)
            labels = frozenset().union(*(labels_of(ref, source_labels)
                                         for ref in traced.value | traced.via))
            if labels:
                labelled[column] = labels
        found[model] = labelled
    return found


def project_lineage(project: Project, source_columns: Mapping[str, list[str]] | None = None,
                    cache: Cache | None = None) -> ProjectLineage:
    """The lineage of every model of ``project``, in build order.

    Args:
        source_columns: the columns of each source as the engine reported them, by source name
            (project.yml's ``columns:`` are used too, first, in their spelling).
        cache: the compile cache: a model whose query and parents' columns are unchanged is
            read back, not analysed again.
    """
    known: dict[str, list[str] | None] = {}
    for name, source in project.config.sources.items():
        engine = list((source_columns or {}).get(name) or [])
        declared = list(source.columns)
        lowered = {c.lower() for c in declared}
        merged = declared + [c for c in engine if c.lower() not in lowered]
        known[name] = merged or None
    order = project.order()
    models: dict[str, ModelLineage] = {}
    keys: dict[str, str] = {}

    def parents_of(name: str) -> dict[str, list[str] | None]:
        return {_node_name(p): known.get(_node_name(p)) for p in project.dag.parents(name)}

    def done(name: str, entry: ModelLineage) -> None:
        models[name] = entry
        known[name] = list(entry.columns) if entry.rest is None else None
        ready.done(name)

    # misses go to worker processes when there are enough of them (as the compiler's do): a
    # model is ready once its parents' lineage is known; a worker that fails leaves it to here
    ready, workers, tried = Ready(project.dag, order), None, False
    try:
        while ready or (workers is not None and workers.running):
            while ready:
                name = ready.pop()
                parents = parents_of(name)
                keys[name] = Cache.key("lineage", project.keys.get(name, name), sorted(
                    (p, tuple(c) if c is not None else None) for p, c in parents.items()))
                entry = cache.get(keys[name]) if cache is not None else None
                if entry is None and not tried:
                    tried = True
                    workers = Workers.start(len(order) - len(models),
                                            functools.partial(_model_lineage, project))
                if entry is None and workers is not None:
                    workers.submit(name, 0.0, parents)
                    continue
                if entry is None:
                    entry = _model_lineage(project, name, parents)
                    if cache is not None:
                        cache.put(keys[name], entry)
                done(name, entry)
            if workers is not None and workers.running:
                for name, _, entry in workers.wait():
                    if entry is None:  # the worker had a problem: meet it here
                        entry = _model_lineage(project, name, parents_of(name))
                    if cache is not None:
                        cache.put(keys[name], entry)
                    done(name, entry)
    finally:
        if workers is not None:
            workers.stop()
    return ProjectLineage({name: models[name] for name in order}, set(project.config.sources))


def _model_lineage(project: Project, name: str, parents: Mapping[str, list[str] | None]
                   ) -> ModelLineage:
    return model_lineage(project.queries[name], parents, project.models[name].path)


def _node_name(node: str) -> str:
    return node[len(SOURCE_PREFIX):] if node.startswith(SOURCE_PREFIX) else node


def model_lineage(query: exp.Query, parents: Mapping[str, list[str] | None], path: str
                  ) -> ModelLineage:
    """The lineage of one model's query over its parents' columns (None: unknown).

    Args:
        query: the model's query (not modified); its table references carry the loader's
            ``REFERENCE`` mark naming their DAG node.
        parents: each parent relation's columns by name, None where they are unknown.
        path: the model's file, for warnings.
    """
    try:
        root = build_scope(query)
    except SqlglotError as err:
        root, problem = None, str(err).splitlines()[0]
    else:
        problem = "not a query"
    if root is None:
        every = frozenset(f"{n}.{ALL}" for n in parents)
        return ModelLineage({}, ColumnLineage(every), (
            f"{path}: lineage could not be traced ({problem}); every column is taken to "
            "derive from every field of its inputs",))
    walker = _Walker(parents)
    outputs, rest = walker.outputs(root)
    warnings = []
    if walker.unknown:
        names = ", ".join(sorted(walker.unknown))
        warnings.append(f"{path}: SELECT * over {names}, whose columns are unknown: its columns "
                        f"are taken to derive from every field of {names}; declare them under "
                        "`sources.<name>.columns` in project.yml (or build once) to trace them")
    return ModelLineage(outputs, rest, tuple(warnings))


Refs = tuple[set[str], set[str]]  # (value, via)
Outputs = tuple[dict[str, ColumnLineage], "ColumnLineage | None"]


class _Walker:
    """Result columns of each scope, bottom up, as refs to the parents' columns.

    Columns are placed the way Spark resolves them, case-insensitively: ``alias.column``; an
    unqualified name in the one relation (of its scope, then of the outer ones) that has it;
    else a lateral view's or an earlier select item's alias. A name no known relation has goes
    to the relations whose columns are unknown. Each ``SELECT *`` is expanded from the known
    columns (``USING`` columns once, first, from every side). sqlglot's ``qualify`` would do the
    same, but copying and qualifying each query cost five times the rest (measured on
    bench/scale.py's N=200 project), and the lineage of a query needs no rewritten tree.
    """

    def __init__(self, parents: Mapping[str, list[str] | None]) -> None:
        self.parents = parents
        self.unknown: set[str] = set()  # relations a star could not expand
        self._done: dict[int, Outputs] = {}
        self._lower = {n: {c.lower(): c for c in cols} if cols is not None else None
                       for n, cols in parents.items()}

    def outputs(self, scope: Scope) -> Outputs:
        if id(scope) not in self._done:
            self._done[id(scope)] = (self._set_operation(scope)
                                     if isinstance(scope.expression, exp.SetOperation)
                                     else self._select(scope))
        return self._done[id(scope)]

    def _set_operation(self, scope: Scope) -> Outputs:
        branches = [self.outputs(s) for s in scope.set_operation_scopes]
        names = list(branches[0][0])
        columns = {}
        for index, name in enumerate(names):
            parts = [list(b[0].values())[index] for b in branches if index < len(b[0])]
            columns[name] = _union(parts)
        rests = [b[1] for b in branches if b[1] is not None]
        return columns, _union(rests) if rests else None

    def _select(self, scope: Scope) -> Outputs:
        select = scope.expression
        if not isinstance(select, exp.Select):
            return {}, None
        subqueries = {id(s.expression): s for s in scope.subquery_scopes}
        laterals: dict[str, Refs] = {}
        for lateral in select.args.get("laterals") or ():
            got = self._refs(lateral.this, scope, subqueries, {}, laterals)
            alias = lateral.args.get("alias")
            for name in ([alias.name, *(c.name for c in alias.columns)] if alias else []):
                laterals[name.lower()] = got
        aliases: dict[str, Refs] = {}  # earlier select items, for Spark's lateral alias refs
        shared: set[str] = set()
        for key in ("where", "group", "having", "qualify"):
            if select.args.get(key) is not None:
                value, via = self._refs(select.args[key], scope, subqueries, laterals, aliases,
                                        all_aliases=select)
                shared |= value | via
        using: list[str] = []
        for join in select.args.get("joins") or ():
            if join.args.get("on") is not None:
                value, via = self._refs(join.args["on"], scope, subqueries, laterals, {})
                shared |= value | via
            for name in join.args.get("using") or ():
                using.append(name.name)
                value, via = self._from_sources(name.name, list(scope.sources.values()))
                shared |= value | via
        columns: dict[str, ColumnLineage] = {}
        rest: ColumnLineage | None = None
        for projection in select.expressions:
            if isinstance(projection, exp.Star) or (isinstance(projection, exp.Column)
                                                   and projection.is_star):
                expanded, unknown = self._star(projection, select, scope, using)
                for name, (value, via) in expanded.items():
                    columns.setdefault(name, ColumnLineage(frozenset(value),
                                                           frozenset(via | shared)))
                if unknown is not None:
                    rest = ColumnLineage(frozenset(unknown[0]), frozenset(unknown[1] | shared))
                continue
            value, via = self._refs(projection, scope, subqueries, laterals, aliases)
            name = projection.alias_or_name
            aliases[name.lower()] = (value, via)
            columns[name] = ColumnLineage(frozenset(value), frozenset(via | shared))
        return columns, rest

    def _star(self, star: exp.Expression, select: exp.Select, scope: Scope, using: list[str]
              ) -> tuple[dict[str, Refs], Refs | None]:
        """The columns a star stands for, and what the columns of relations whose columns are
        unknown derive from (None when every relation is known)."""
        table = star.table if isinstance(star, exp.Column) else ""
        order = [select.args["from_"].this] if select.args.get("from_") else []
        order += [j.this for j in select.args.get("joins") or ()]
        names = [n.alias_or_name for n in order if n.alias_or_name in scope.sources]
        names += [n for n in scope.sources if n not in names]
        expanded: dict[str, Refs] = {}
        if not table:
            for name in using:
                expanded[name] = self._from_sources(name, list(scope.sources.values()))
        taken = {n.lower() for n in expanded}
        value: set[str] = set()
        via: set[str] = set()
        unknown = False
        for alias in names:
            if table and alias.lower() != table.lower():
                continue
            source = scope.sources[alias]
            known = self._columns_of(source)
            if known is None:
                unknown = True
                got = self._everything(source)
                value |= got[0]
                via |= got[1]
                continue
            for column in known:
                if column.lower() not in taken or table:
                    expanded.setdefault(column, self._in_source(source, [column]))
                    taken.add(column.lower())
        return expanded, (value, via) if unknown else None

    def _columns_of(self, source: object) -> list[str] | None:
        """The columns of a relation in a scope, None when unknown."""
        if isinstance(source, Scope):
            columns, rest = self.outputs(source)
            return None if rest is not None else list(columns)
        node = self._node(source) if isinstance(source, exp.Table) else None
        return self.parents.get(node) if node is not None else None

    def _everything(self, source: object) -> Refs:
        """Every field of a relation whose columns are unknown."""
        if isinstance(source, Scope):
            columns, rest = self.outputs(source)
            return _union([*columns.values(), *([rest] if rest else [])]).refs()
        node = self._node(source) if isinstance(source, exp.Table) else None
        if node is None:
            return set(), set()
        if self.parents.get(node) is None:
            self.unknown.add(node)
        return {f"{node}.{ALL}"}, set()

    def _refs(self, node: exp.Expression, scope: Scope, subqueries: dict[int, Scope],
              laterals: dict[str, Refs], aliases: dict[str, Refs],
              all_aliases: exp.Select | None = None) -> Refs:
        """The refs of the columns ``node`` reads in ``scope``."""
        value: set[str] = set()
        via: set[str] = set()
        for column, as_via in _columns(node):
            if isinstance(column, exp.Column):
                got_value, got_via = self._column(column, scope, laterals, aliases, all_aliases,
                                                  subqueries)
            else:  # a subquery: its results, and what decides its rows
                inner = subqueries.get(id(column)) or subqueries.get(id(column.this))
                got_value, got_via = (_union(list(self.outputs(inner)[0].values()) + (
                    [self.outputs(inner)[1]] if self.outputs(inner)[1] else [])).refs()
                    if inner is not None else (set(), set()))
            (via if as_via else value).update(got_value)
            via.update(got_via)
        return value, via

    def _column(self, column: exp.Column, scope: Scope, laterals: dict[str, Refs],
                aliases: dict[str, Refs], all_aliases: exp.Select | None,
                subqueries: dict[int, Scope]) -> Refs:
        if column.is_star:
            return self._everything_visible(scope, column.table)
        parts = [p.name for p in column.parts]
        name = parts[0].lower()
        current: Scope | None = scope
        while current is not None:  # its own scope first, then the outer ones (correlation)
            by_alias = {a.lower(): s for a, s in current.sources.items()}
            if len(parts) > 1 and name in by_alias:
                return self._in_source(by_alias[name], parts[1:] + _dots(column))
            having = [s for s in current.sources.values()
                      if name in {c.lower() for c in self._columns_of(s) or ()}]
            if having:
                return self._from_sources(parts[0], having, parts[1:] + _dots(column))
            if current is scope:
                if name in laterals:
                    return laterals[name]
                if name in aliases:
                    return aliases[name]
                for item in all_aliases.expressions if all_aliases is not None else ():
                    if item.alias_or_name.lower() == name and not isinstance(item, exp.Column):
                        return self._refs(item, scope, subqueries, laterals, {})  # HAVING x
            unknown = [s for s in current.sources.values() if self._columns_of(s) is None]
            if unknown:
                return self._from_sources(parts[0], unknown, parts[1:] + _dots(column))
            current = current.parent
        return set(), set()

    def _everything_visible(self, scope: Scope, table: str) -> Refs:
        value: set[str] = set()
        via: set[str] = set()
        for alias, source in scope.sources.items():
            if not table or alias.lower() == table.lower():
                got = (self._in_source(source, [c]) for c in self._columns_of(source) or ())
                for v, w in [*got, *([self._everything(source)]
                                     if self._columns_of(source) is None else [])]:
                    value |= v
                    via |= w
        return value, via

    def _from_sources(self, name: str, sources: list[object], path: list[str] | None = None
                      ) -> Refs:
        value: set[str] = set()
        via: set[str] = set()
        for source in sources:
            got = self._in_source(source, [name, *(path or [])])
            value |= got[0]
            via |= got[1]
        return value, via

    def _in_source(self, source: object, path: list[str]) -> Refs:
        """The refs of ``path`` (a column and the struct fields read of it) in one relation."""
        if isinstance(source, Scope):
            columns, rest = self.outputs(source)
            wanted = path[0].lower()
            found = next((c for n, c in columns.items() if n.lower() == wanted), rest)
            return found.refs() if found is not None else (set(), set())
        node = self._node(source) if isinstance(source, exp.Table) else None
        if node is None:
            return set(), set()
        spelled = (self._lower.get(node) or {}).get(path[0].lower(), path[0])
        return {".".join([node, spelled, *path[1:]])}, set()

    def _node(self, table: exp.Table) -> str | None:
        if REFERENCE in table.meta:
            return _node_name(table.meta[REFERENCE][1])
        return table.name if table.name in self.parents else None


def _union(parts: list[ColumnLineage]) -> ColumnLineage:
    return ColumnLineage(frozenset().union(*(p.value for p in parts)),
                         frozenset().union(*(p.via for p in parts)))


def _dots(column: exp.Column) -> list[str]:
    """The struct fields read of a column by ``.field`` after it (``col.a.b`` parsed as a
    Dot chain); a map or array subscript ends the path."""
    path = []
    node: exp.Expression = column
    while isinstance(node.parent, exp.Dot) and node.parent.this is node:
        node = node.parent
        path.append(node.expression.name)
    return path


_VIA_ARGS = {exp.Window: ("partition_by", "order"), exp.Filter: ("expression",)}


def _columns(node: exp.Expression) -> Iterator[tuple[exp.Expression, bool]]:
    """The columns and subqueries ``node`` reads (not inside a subquery), each with whether
    it decides rows or order rather than the value (a window's PARTITION BY and ORDER BY, an
    aggregate's FILTER)."""
    stack: list[tuple[exp.Expression, bool]] = [(node, False)]
    while stack:
        current, as_via = stack.pop()
        if isinstance(current, exp.Column):
            yield current, as_via
            continue
        if current is not node and isinstance(current, (exp.Subquery, exp.Query)):
            yield current, as_via
            continue
        via_args = next((args for kind, args in _VIA_ARGS.items()
                         if isinstance(current, kind)), ())
        for key, value in current.args.items():
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, exp.Expression):
                    stack.append((child, as_via or key in via_args))
