"""Compile data tests into queries returning the failing rows (dbt's convention).

Each test of a selected model (``runner.project.data_tests``) becomes a Spark SQL query over
the model's physical version, built as a sqlglot tree, with the project's macros and vars
expanded in its predicates, then translated for the target like a model
(``runner.compile.dialect.translate``: the same rules, the same refusals)::

    not_null         SELECT * FROM m WHERE c IS NULL
    unique           SELECT c, COUNT(*) AS n_records FROM m WHERE NOT c IS NULL GROUP BY c
                     HAVING COUNT(*) > 1
    accepted_values  SELECT c AS value_field, COUNT(*) AS n_records FROM m
                     WHERE NOT c IN (...) GROUP BY c
    relationships    SELECT child.c AS from_field FROM m AS child LEFT JOIN t AS parent
                     ON child.c = parent.f WHERE NOT child.c IS NULL AND parent.f IS NULL
    expression       SELECT * FROM m WHERE NOT (<predicate>)
    row_count        SELECT * FROM (SELECT COUNT(*) AS row_count FROM m) AS counted
                     WHERE row_count < min OR row_count > max
    no_leakage       no query: the point-in-time audit (runner.run.leakage) of the model's
                     compiled SELECT, kept as its sql

NULLs fail ``not_null`` only, as in dbt. A ``relationships`` target is read through its
physical version when the plan has one, else through its pointer view (its current version);
a source through its table.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import sqlglot
from sqlglot import exp

from runner.adapters.base import Adapter
from runner.compile.dialect.translate import translate
from runner.compile.plan import CompiledTest, Plan
from runner.errors import ProjectError
from runner.project.data_tests import DataTest
from runner.project.loader import Project
from runner.project.macros import expand
from runner.validation import did_you_mean

_UNSAFE = re.compile(r"[^0-9a-zA-Z_]+")
_LONGEST = 80


def compile_tests(project: Project, adapter: Adapter, plan: Plan,
                  source_types: dict[str, dict[str, exp.DataType]] | None = None
                  ) -> dict[str, list[CompiledTest]]:
    """The data tests of the plan's selected models, by model, in declaration order.

    Args:
        source_types: the sources' column types by identifier (as the plan was compiled
            with), for a ``relationships`` test to a source.

    Raises:
        ProjectError: a test of a column the model does not have, or a predicate that cannot
            be translated for the target, at the line the test is declared on.
    """
    taken: set[str] = set()
    tests: dict[str, list[CompiledTest]] = {}
    for name in plan.selected:
        model = project.models[name]
        for test in model.config.data_tests:
            try:
                compiled = _compile(project, adapter, plan, name, test, source_types or {})
            except ProjectError as err:
                raise ProjectError(err.message, model.path, test.line) from None
            compiled.name = _unique(compiled.name, taken)
            tests.setdefault(name, []).append(compiled)
    return tests


def data_test_name(model: str, test: DataTest, is_source: bool = False) -> str:
    """dbt's name of a test: ``not_null_orders_user_id``, ``accepted_values_orders_status__a__b``,
    ``relationships_orders_user_id__id__ref_users_``, ``expression_is_true_orders_amount_0``,
    ``row_count_orders__1__100``; a long one is cut and ends in a hash of the whole."""
    column = f"_{test.column}" if test.column else ""
    args = test.args
    if test.kind == "accepted_values":
        tail = "__" + "__".join(str(v) for v in args["values"])
    elif test.kind == "relationships":
        tail = f"__{args['field']}__{'source' if is_source else 'ref'}_{args['to']}_"
    elif test.kind == "expression":
        tail = f"_{args['expression']}"
    elif test.kind == "row_count":
        tail = f"__{args['min'] if args['min'] is not None else ''}__" \
               f"{args['max'] if args['max'] is not None else ''}"
    else:
        tail = ""
    kind = "expression_is_true" if test.kind == "expression" else test.kind
    name = _UNSAFE.sub("_", f"{kind}_{model}{column}{tail}")
    name = name if test.kind == "relationships" else name.strip("_")
    if len(name) > _LONGEST:
        digest = hashlib.md5(name.encode()).hexdigest()[:10]  # noqa: S324 - a name, not a secret
        name = f"{name[:_LONGEST - 11]}_{digest}"
    return name


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    taken.add(candidate)
    return candidate


def _compile(project: Project, adapter: Adapter, plan: Plan, name: str, test: DataTest,
             source_types: dict[str, dict[str, exp.DataType]]) -> CompiledTest:
    model, compiled = project.models[name], plan[name]
    assert compiled.physical is not None  # only built models have tests (checked on loading)
    if test.kind == "no_leakage":  # run by runner.run.leakage, not as a query on the target
        return CompiledTest(name=data_test_name(name, test), model=name, kind=test.kind,
                            column=None, severity=test.severity, path=model.path,
                            line=test.line, sql=compiled.select_sql,
                            expects="no column depends on rows at or after its cutoff")
    schema: dict[str, Any] = {}
    if compiled.columns:
        schema[compiled.physical] = compiled.columns
    _check_column(test.column, compiled.columns, f"model '{name}'")
    rows = _rows(project, model.path, compiled.physical, test, "model_rows")
    depends_on: list[str] = []
    is_source = False
    if test.kind == "relationships":
        to, field = test.args["to"], test.args["field"]
        relation, columns, is_source = _target(project, plan, to, source_types)
        if columns:
            schema[relation] = columns
        _check_column(field, columns, f"'{to}'")
        if to in plan.selected and to != name:
            if name in project.dag.upstream(to):
                raise ProjectError(f"relationships: '{to}' reads '{name}', so it is built after "
                                   f"it and cannot be looked up when '{name}' is tested; "
                                   f"declare the test on {to} (to: {name}) instead")
            depends_on.append(to)
        query = _relationships(rows, relation, test.column or "", field)
    else:
        query = _QUERIES[test.kind](rows, test, project, model.path)
    translated = translate(query, adapter.dialect, schema or None,
                           approximate=project.config.approximate)
    return CompiledTest(name=data_test_name(name, test, is_source), model=name, kind=test.kind,
                        column=test.column, severity=test.severity, path=model.path,
                        line=test.line, sql=translated.sql, depends_on=depends_on,
                        expects=_expects(test))


def _expects(test: DataTest) -> str:
    if test.kind != "row_count":
        return ""
    low, high = test.args["min"], test.args["max"]
    return (f"between {low} and {high} rows" if low is not None and high is not None
            else f"at least {low} rows" if low is not None else f"at most {high} rows")


def _check_column(column: str | None, columns: dict[str, exp.DataType], whose: str) -> None:
    """ProjectError for a column the relation does not have, where its columns are known."""
    if column is None or not columns:
        return
    if column.lower() not in {c.lower() for c in columns}:
        raise ProjectError(f"data test: {whose} has no column '{column}'"
                           f"{did_you_mean(column, columns)} (its columns: "
                           f"{', '.join(columns)})")


def _target(project: Project, plan: Plan, to: str,
            source_types: dict[str, dict[str, exp.DataType]]
            ) -> tuple[str, dict[str, exp.DataType], bool]:
    """The relation a ``relationships`` test looks rows up in, its column types where known,
    and whether it is a source."""
    if to in project.config.sources:
        identifier = project.config.sources[to].identifier
        return identifier, source_types.get(identifier, {}), True
    other = plan.get(to)
    if other is not None and other.physical is not None:
        return other.physical, other.columns, False
    return to, {}, False  # not compiled: its pointer view, the current version


def _rows(project: Project, path: str, relation: str, test: DataTest, alias: str
          ) -> exp.Expression:
    """What the test reads: the relation, or its rows that satisfy the test's ``where``."""
    table = exp.to_table(relation)
    if test.where is None:
        return table
    query = exp.select(exp.Star()).from_(table).where(_predicate(project, path, test.where))
    return query.subquery(alias)


def _predicate(project: Project, path: str, text: str) -> exp.Expression:
    """A predicate of the config block, parsed in the project dialect, macros and vars
    expanded."""
    parsed = sqlglot.parse_one(text, read=project.config.dialect)
    return expand(parsed, project.macros, project.vars, path, text, copy=False)


def _aliased(rows: exp.Expression, alias: str) -> exp.Expression:
    if isinstance(rows, exp.Table):
        return exp.alias_(rows, alias, table=True)
    rows.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
    return rows


def _count() -> exp.Count:
    return exp.Count(this=exp.Star())


def _not_null(rows: exp.Expression, test: DataTest, *_: Any) -> exp.Query:
    return exp.select(exp.Star()).from_(rows).where(exp.column(test.column).is_(exp.null()))


def _unique_values(rows: exp.Expression, test: DataTest, *_: Any) -> exp.Query:
    column = exp.column(test.column)
    return (exp.select(column, exp.alias_(_count(), "n_records")).from_(rows)
            .where(exp.not_(column.is_(exp.null()))).group_by(column.copy())
            .having(exp.GT(this=_count(), expression=exp.Literal.number(1))))


def _accepted_values(rows: exp.Expression, test: DataTest, *_: Any) -> exp.Query:
    column = exp.column(test.column)
    quote = test.args["quote"]
    values = [exp.Literal.string(str(v)) if quote else _literal(v) for v in test.args["values"]]
    return (exp.select(exp.alias_(column, "value_field"), exp.alias_(_count(), "n_records"))
            .from_(rows).where(exp.not_(exp.In(this=column.copy(), expressions=values)))
            .group_by(column.copy()))


def _literal(value: Any) -> exp.Expression:
    """An unquoted value (``quote: false``): a number or boolean as such, other text as SQL."""
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, (int, float)):
        return exp.Literal.number(value)
    return sqlglot.parse_one(str(value), read="spark")


def _relationships(rows: exp.Expression, relation: str, column: str, field: str) -> exp.Query:
    child, parent = exp.column(column, table="child"), exp.column(field, table="parent")
    return (exp.select(exp.alias_(child, "from_field")).from_(_aliased(rows, "child"))
            .join(exp.alias_(exp.to_table(relation), "parent", table=True),
                  on=exp.EQ(this=child.copy(), expression=parent), join_type="left")
            .where(exp.and_(exp.not_(child.copy().is_(exp.null())),
                            parent.copy().is_(exp.null()))))


def _expression(rows: exp.Expression, test: DataTest, project: Project, path: str
                ) -> exp.Query:
    predicate = _predicate(project, path, test.args["expression"])
    return exp.select(exp.Star()).from_(rows).where(exp.not_(exp.paren(predicate)))


def _row_count(rows: exp.Expression, test: DataTest, *_: Any) -> exp.Query:
    counted = exp.select(exp.alias_(_count(), "row_count")).from_(rows).subquery("counted")
    total = exp.column("row_count")
    bounds = []
    if test.args["min"] is not None:
        bounds.append(exp.LT(this=total, expression=exp.Literal.number(test.args["min"])))
    if test.args["max"] is not None:
        bounds.append(exp.GT(this=total.copy(),
                             expression=exp.Literal.number(test.args["max"])))
    return exp.select(exp.Star()).from_(counted).where(exp.or_(*bounds))


_QUERIES = {"not_null": _not_null, "unique": _unique_values,
            "accepted_values": _accepted_values, "expression": _expression,
            "row_count": _row_count}
