"""Column-level lineage: for every model column, the source columns it derives from.

A model's query (macros and vars expanded, as ``runner.project.loader.Queries`` gives it) is
qualified by sqlglot against the columns its parents are known to have (project.yml's source
``columns:``, the columns the engine reported for a source, each upstream model's own result
columns), which also expands ``SELECT *``, ``t.*`` and ``USING``. sqlglot's scopes then give, for
each result column of each scope (CTEs, subqueries, set operations), the columns it reads:

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

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, build_scope

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
    models: dict[str, ModelLineage] = {}
    for name in project.order():
        parents = {_node_name(p): known.get(_node_name(p)) for p in project.dag.parents(name)}
        key = Cache.key("lineage", project.keys.get(name, name), sorted(
            (p, tuple(c) if c is not None else None) for p, c in parents.items()))
        entry = cache.get(key) if cache is not None else None
        if entry is None:
            entry = model_lineage(project.queries[name], parents, project.models[name].path)
            if cache is not None:
                cache.put(key, entry)
        models[name] = entry
        known[name] = list(entry.columns) if entry.rest is None else None
    return ProjectLineage(models, set(project.config.sources))


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
    spelled = _spellings(query, parents)
    tables = {}
    for table in query.find_all(exp.Table):
        node = _node_name(table.meta[REFERENCE][1]) if REFERENCE in table.meta else table.name
        if node in parents and not table.args.get("db"):
            tables[table.name] = node
    schema = {t: {c: "string" for c in parents[n]} for t, n in tables.items() if parents[n]}
    problem = "not a query"
    try:
        root = build_scope(qualify(query.copy(), schema=schema, dialect="spark",
                                   validate_qualify_columns=False, identify=False,
                                   quote_identifiers=False))
    except SqlglotError as err:
        root, problem = None, str(err).splitlines()[0]
    if root is None:
        every = frozenset(f"{n}.{ALL}" for n in parents)
        return ModelLineage({}, ColumnLineage(every), (
            f"{path}: lineage could not be traced ({problem}); every column is taken to "
            "derive from every field of its inputs",))
    walker = _Walker(parents, spelled)
    outputs, rest = walker.outputs(root)
    warnings = []
    if walker.unknown:
        names = ", ".join(sorted(walker.unknown))
        warnings.append(f"{path}: SELECT * over {names}, whose columns are unknown: its columns "
                        f"are taken to derive from every field of {names}; declare them under "
                        "`sources.<name>.columns` in project.yml (or build once) to trace them")
    return ModelLineage({spelled(c): v for c, v in outputs.items()}, rest, tuple(warnings))


def _spellings(query: exp.Query, parents: Mapping[str, list[str] | None]
               ) -> Callable[[str], str]:
    """Identifiers as written (qualify lower-cases them): the parents' columns first."""
    spelling: dict[str, str] = {}
    for node in query.find_all(exp.Identifier):
        spelling.setdefault(node.name.lower(), node.name)
    for columns in parents.values():
        for column in columns or ():
            spelling[column.lower()] = column
    return lambda name: spelling.get(name.lower(), name)


Refs = tuple[set[str], set[str]]  # (value, via)


class _Walker:
    """Result columns of each scope, bottom up, as refs to the parents' columns."""

    def __init__(self, parents: Mapping[str, list[str] | None],
                 spelled: Callable[[str], str]) -> None:
        self.parents, self.spelled = parents, spelled
        self.unknown: set[str] = set()  # relations a star could not expand
        self._done: dict[int, tuple[dict[str, ColumnLineage], ColumnLineage | None]] = {}

    def outputs(self, scope: Scope) -> tuple[dict[str, ColumnLineage], ColumnLineage | None]:
        if id(scope) not in self._done:
            self._done[id(scope)] = (self._set_operation(scope)
                                     if isinstance(scope.expression, exp.SetOperation)
                                     else self._select(scope))
        return self._done[id(scope)]

    def _set_operation(self, scope: Scope
                       ) -> tuple[dict[str, ColumnLineage], ColumnLineage | None]:
        branches = [self.outputs(s) for s in scope.set_operation_scopes]
        names = list(branches[0][0])
        columns = {}
        for index, name in enumerate(names):
            parts = [list(b[0].values())[index] for b in branches if index < len(b[0])]
            columns[name] = ColumnLineage(frozenset().union(*(p.value for p in parts)),
                                          frozenset().union(*(p.via for p in parts)))
        rests = [b[1] for b in branches if b[1] is not None]
        rest = (ColumnLineage(frozenset().union(*(r.value for r in rests)),
                              frozenset().union(*(r.via for r in rests))) if rests else None)
        return columns, rest

    def _select(self, scope: Scope) -> tuple[dict[str, ColumnLineage], ColumnLineage | None]:
        select = scope.expression
        if not isinstance(select, exp.Select):
            return {}, None
        subqueries = {id(s.expression): s for s in scope.subquery_scopes}
        shared: set[str] = set()
        for key in ("where", "group", "having", "qualify"):
            if select.args.get(key) is not None:
                value, via = self._refs(select.args[key], scope, subqueries)
                shared |= value | via
        for join in select.args.get("joins") or ():
            for key in ("on", "using"):
                if join.args.get(key):
                    for part in (join.args[key] if isinstance(join.args[key], list)
                                 else [join.args[key]]):
                        value, via = self._refs(part, scope, subqueries)
                        shared |= value | via
        columns: dict[str, ColumnLineage] = {}
        rest: ColumnLineage | None = None
        for projection in select.expressions:
            if isinstance(projection, exp.Star) or (isinstance(projection, exp.Column)
                                                   and projection.is_star):
                value, via = self._star(projection, scope)
                rest = ColumnLineage(frozenset(value), frozenset(via | shared))
                continue
            value, via = self._refs(projection, scope, subqueries)
            columns[projection.alias_or_name] = ColumnLineage(frozenset(value),
                                                              frozenset(via | shared))
        return columns, rest

    def _star(self, star: exp.Expression, scope: Scope) -> Refs:
        """A star sqlglot could not expand: every field of the relations it covers."""
        table = star.table if isinstance(star, exp.Column) else ""
        value: set[str] = set()
        via: set[str] = set()
        for alias, source in scope.sources.items():
            if table and alias != table:
                continue
            if isinstance(source, Scope):
                columns, rest = self.outputs(source)
                for lineage in [*columns.values(), *([rest] if rest else [])]:
                    value |= lineage.value
                    via |= lineage.via
            elif isinstance(source, exp.Table):
                node = self._node(source)
                if node is not None:
                    value.add(f"{node}.{ALL}")
                    if not self.parents.get(node):
                        self.unknown.add(node)
        return value, via

    def _refs(self, node: exp.Expression, scope: Scope, subqueries: dict[int, Scope]) -> Refs:
        """The refs of the columns ``node`` reads in ``scope``."""
        value: set[str] = set()
        via: set[str] = set()
        for column, as_via in _columns(node):
            if isinstance(column, exp.Column):
                got_value, got_via = self._column(column, scope)
            else:  # a subquery: its results, and what decides its rows
                inner = subqueries.get(id(column)) or subqueries.get(id(column.this))
                got_value, got_via = set(), set()
                if inner is not None:
                    columns, rest = self.outputs(inner)
                    for lineage in [*columns.values(), *([rest] if rest else [])]:
                        got_value |= lineage.value
                        got_via |= lineage.via
            (via if as_via else value).update(got_value)
            via.update(got_via)
        return value, via

    def _column(self, column: exp.Column, scope: Scope) -> Refs:
        if column.is_star:
            return self._star(column, scope)
        sources = _visible(scope)
        if column.table:
            found = [sources[column.table]] if column.table in sources else []
        else:  # unqualified: sqlglot could not place it; its scope's only relation, or any unknown one
            found = list(scope.sources.values())
            if len(found) > 1:
                found = [s for s in found if self._unknown_columns(s)]
        value: set[str] = set()
        via: set[str] = set()
        for source in found:
            if isinstance(source, Scope):
                lineage = self.outputs(source)[0].get(column.name)
                if lineage is None:
                    lineage = next((c for n, c in self.outputs(source)[0].items()
                                    if n.lower() == column.name.lower()), self.outputs(source)[1])
                if lineage is not None:
                    value |= lineage.value
                    via |= lineage.via
            elif isinstance(source, exp.Table):
                node = self._node(source)
                if node is not None:
                    value.add(".".join([node, *map(self.spelled, _field_path(column))]))
        return value, via

    def _unknown_columns(self, source: object) -> bool:
        if isinstance(source, Scope):
            return self.outputs(source)[1] is not None
        node = self._node(source) if isinstance(source, exp.Table) else None
        return node is not None and not self.parents.get(node)

    def _node(self, table: exp.Table) -> str | None:
        if REFERENCE in table.meta:
            return _node_name(table.meta[REFERENCE][1])
        return table.name if table.name in self.parents else None


def _visible(scope: Scope) -> dict[str, object]:
    """The relations a column of ``scope`` may name: its own, then its outer scopes'."""
    sources: dict[str, object] = {}
    current: Scope | None = scope
    while current is not None:
        for alias, source in current.sources.items():
            sources.setdefault(alias, source)
        current = current.parent
    return sources


def _field_path(column: exp.Column) -> list[str]:
    """The column and the struct fields read of it (``commerce.order.priceTotal``); a map
    or array subscript ends the path."""
    path = [column.name]
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
