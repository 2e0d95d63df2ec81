"""Data tests: checks of a built model's rows, declared in its config block in dbt's shapes.

A column may be a description or a mapping with its tests (``data_tests:``, or dbt's older
``tests:``); the model's own tests sit under a top-level ``data_tests:``::

    columns:
      user_id:
        description: ECID of the user
        data_tests: [not_null, unique]
      subscribed:
        data_tests:
          - accepted_values: {values: [0, 1], quote: false}
      tier:
        data_tests:
          - relationships: {to: tiers, field: tier, config: {severity: warn}}
    data_tests:
      - row_count: {min: 1, max: 100000}
      - expression: "n_orders >= 0"     # dbt_utils.expression_is_true: {expression: ...}

Column tests: ``not_null``, ``unique``, ``accepted_values`` (``values``, ``quote``, default
true), ``relationships`` (``to``: a model or source, ``field``); model tests: ``expression`` (a
boolean Spark SQL predicate every row must satisfy), ``row_count`` (``min``, ``max``) and
``no_leakage`` (the point-in-time audit, ``runner.run.leakage``, of a model with ``as_of``). A
column test may also be a model test naming its ``column_name`` (dbt's form). Each takes
``config: {severity: warn | error, where: <predicate>}`` (default error). Anything else is an
error naming the file, the line and the key. ``runner.compile.data_tests`` makes each a query
returning the failing rows.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot.errors import SqlglotError

from runner.errors import ProjectError
from runner.validation import did_you_mean, normalize_name, yaml_lines

COLUMN_TESTS = ("not_null", "unique", "accepted_values", "relationships")
MODEL_TESTS = ("expression", "row_count", "no_leakage")
SEVERITIES = ("error", "warn")
_ALIASES = {"expression_is_true": "expression", "dbt_utils.expression_is_true": "expression"}
_ARGUMENTS = {"not_null": set(), "unique": set(), "accepted_values": {"values", "quote"},
              "relationships": {"to", "field"}, "expression": {"expression"},
              "row_count": {"min", "max"}, "no_leakage": set()}
_REQUIRED = {"accepted_values": ("values",), "relationships": ("to", "field"),
             "expression": ("expression",)}
_CONFIG = {"severity", "where"}
_COLUMN_KEYS = {"description", "data_tests", "tests"}
_REF = re.compile(r"""^\s*(?:ref|source)\(\s*(?:['"][^'"]*['"]\s*,\s*)?['"]([^'"]+)['"]\s*\)\s*$""")

Path = tuple[Any, ...]  # a key path in the config block: keys and list indices


@dataclass(frozen=True)
class BlockLines:
    """Where the keys of a model's config block are: its file, the line the block starts on
    and its text, whose key paths' lines (``runner.validation.yaml_lines``) are found when a
    test or an error first needs one."""

    rel: str
    first_line: int
    text: str  # the block's YAML

    @functools.cached_property
    def lines(self) -> dict[Path, int]:
        """Each key path's line within the block (composed when first asked)."""
        return yaml_lines(self.text)

    def __call__(self, path: Path) -> int:
        """The file line of ``path`` (of its nearest enclosing key the block has)."""
        for end in range(len(path), 0, -1):
            if path[:end] in self.lines:
                return self.first_line + self.lines[path[:end]] - 1
        return self.first_line

    def error(self, path: Path, message: str) -> ProjectError:
        """``config block: <message>`` at ``path``'s line."""
        return ProjectError(f"config block: {message}", self.rel, self(path))


Where = BlockLines


@dataclass(frozen=True)
class DataTest:
    """One declared test.

    Attributes:
        kind: one of ``COLUMN_TESTS`` or ``MODEL_TESTS``.
        column: the column a column test checks (lower-cased), else None.
        severity: ``error`` (a failure stops the model's descendants) or ``warn``.
        line: where it is declared in the model file (1-based).
        args: its arguments, checked: ``values`` (a tuple) and ``quote``, ``to`` (a model or
            source name, lower-cased) and ``field``, ``expression``, ``min`` and ``max``.
        where: a predicate the model's rows are filtered by first (dbt's ``config.where``).
    """

    kind: str
    column: str | None
    severity: str = "error"
    line: int = 1
    args: Mapping[str, Any] = field(default_factory=dict)
    where: str | None = None


def parse_columns(raw: Any, model_tests: Any, where: Where, dialect: str
                  ) -> tuple[dict[str, str], tuple[DataTest, ...]]:
    """The columns' descriptions and every data test of a config block.

    Args:
        raw: the ``columns`` value: a mapping of column to a description or to a mapping
            (``description``, ``data_tests``), or dbt's list of such mappings with ``name``.
        model_tests: the ``data_tests`` (or ``tests``) value, or None.
        where: the line of a key path (``("columns", "user_id", "data_tests", 0)``).
        dialect: the project dialect, which predicates are parsed in.

    Raises:
        ProjectError: a malformed column or test, at its line.
    """
    descriptions: dict[str, str] = {}
    tests: list[DataTest] = []
    for name, spec, path in _column_entries(raw, where):
        if isinstance(spec, Mapping):
            for key in spec:
                if key not in _COLUMN_KEYS | ({"name"} if isinstance(path[-1], int) else set()):
                    raise _fail(where, (*path, key), f"columns.{name}: unknown key '{key}'"
                                f"{did_you_mean(str(key), _COLUMN_KEYS)} (allowed: "
                                f"{', '.join(sorted(_COLUMN_KEYS))})")
            key, entries = _tests_key(spec, path, where, f"columns.{name}")
            description = spec.get("description")
            if description is not None and not isinstance(description, str):
                raise _fail(where, (*path, "description"),
                            f"columns.{name}.description: expected a string")
            descriptions[name] = description or ""
            tests.extend(_parse_list(entries, normalize_name(name), (*path, key), where,
                                     f"columns.{name}.{key}", dialect))
        elif spec is None or isinstance(spec, (str, int, float)):
            descriptions[name] = "" if spec is None else str(spec)
        else:
            raise _fail(where, path, f"columns.{name}: expected a description or a mapping of "
                        "description and data_tests")
    if model_tests is not None:
        key = model_tests[0]
        tests.extend(_parse_list(model_tests[1], None, (key,), where, key, dialect))
    return descriptions, tuple(tests)


def check_relationships(path: str, tests: tuple[DataTest, ...], models: Mapping[str, str],
                        sources: Collection[str]) -> None:
    """ProjectError at the line of the first ``relationships`` test whose ``to`` is neither a
    model that is built nor a declared source (``models``: each model's materialization)."""
    for test in tests:
        to = test.args.get("to") if test.kind == "relationships" else None
        if to is None or to in sources or models.get(to, "ephemeral") != "ephemeral":
            continue
        if to in models:
            raise ProjectError(f"config block: relationships: '{to}' is ephemeral, never built, "
                               "so no rows can be looked up in it; point 'to' at a model that "
                               "is built or a source", path, test.line)
        raise ProjectError(f"config block: relationships: 'to: {to}' is not a model or a "
                           f"declared source{did_you_mean(to, [*models, *sources])}", path,
                           test.line)


def _column_entries(raw: Any, where: Where) -> list[tuple[str, Any, Path]]:
    """(name, spec, path) of each column of the mapping or dbt's list form."""
    if raw is None:
        return []
    if isinstance(raw, Mapping):
        return [(str(name), spec, ("columns", name)) for name, spec in raw.items()]
    if not isinstance(raw, list):
        raise _fail(where, ("columns",), "columns: expected a mapping of column name to "
                    "description (or to {description, data_tests})")
    found = []
    for index, item in enumerate(raw):
        path = ("columns", index)
        if isinstance(item, str):
            found.append((item, None, path))
        elif isinstance(item, Mapping) and isinstance(item.get("name"), str):
            found.append((item["name"], item, path))
        else:
            raise _fail(where, path, f"columns[{index}]: expected a column name or a mapping "
                        "with its name (name: user_id)")
    return found


def model_tests_entry(raw: Mapping[str, Any], where: Where) -> tuple[str, Any] | None:
    """The block's ``data_tests`` (or ``tests``) as (key, value), or None."""
    key, entries = _tests_key(raw, (), where, "")
    return None if entries is None else (key, entries)


def _tests_key(spec: Mapping[str, Any], path: Path, where: Where, shown: str
               ) -> tuple[str, Any]:
    if "data_tests" in spec and "tests" in spec:
        raise _fail(where, (*path, "tests"), f"{shown + '.' if shown else ''}tests: 'tests' is "
                    "the older name of 'data_tests'; give the tests under one of them")
    key = "tests" if "tests" in spec else "data_tests"
    return key, spec.get(key)


def _parse_list(entries: Any, column: str | None, path: Path, where: Where, shown: str,
                dialect: str) -> list[DataTest]:
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise _fail(where, path, f"{shown}: expected a list of tests, e.g. [not_null, unique]")
    return [_parse_test(entry, column, (*path, i), where, f"{shown}[{i}]", dialect)
            for i, entry in enumerate(entries)]


def _parse_test(entry: Any, column: str | None, path: Path, where: Where, shown: str,
                dialect: str) -> DataTest:
    """One list item: ``name`` or ``{name: {arguments..., config: {...}}}``."""
    if isinstance(entry, str):
        name, args, at = entry, {}, path
    elif isinstance(entry, Mapping) and len(entry) == 1:
        name, args = next(iter(entry.items()))
        at = (*path, name)
    else:
        raise _fail(where, path, f"{shown}: expected a test name (not_null) or one mapping "
                    "such as {accepted_values: {values: [a, b]}}")
    kind = _ALIASES.get(str(name), str(name))
    allowed = COLUMN_TESTS if column is not None else (*MODEL_TESTS, *COLUMN_TESTS)
    if kind not in allowed:
        hint = did_you_mean(str(name), [*allowed, *_ALIASES])
        if column is not None and kind in MODEL_TESTS:
            hint = f" ({kind} tests the whole model: put it under the model's data_tests)"
        raise _fail(where, at, f"{shown}: unknown data test '{name}'{hint} "
                    f"(allowed: {', '.join(allowed)})")
    if kind == "expression" and isinstance(args, str):
        args = {"expression": args}
    if args is None:
        args = {}
    if not isinstance(args, Mapping):
        raise _fail(where, at, f"{shown}.{name}: expected a mapping of its arguments")
    if isinstance(args.get("arguments"), Mapping):  # dbt 1.10's form: {arguments: {...}}
        args = {**{k: v for k, v in args.items() if k != "arguments"}, **args["arguments"]}
    extra = {"column_name"} if column is None and kind in COLUMN_TESTS else set()
    known = _ARGUMENTS[kind] | _CONFIG | {"config"} | extra
    for key in args:
        if key not in known:
            raise _fail(where, (*at, key), f"{shown}.{name}: unknown key '{key}'"
                        f"{did_you_mean(str(key), known)} (allowed: {', '.join(sorted(known))})")
    for key in _REQUIRED.get(kind, ()) + tuple(sorted(extra)):
        if key not in args:
            raise _fail(where, at, f"{shown}.{name}: missing '{key}'{_EXAMPLES[kind]}")
    if extra:
        column = _name(args["column_name"], where, (*at, "column_name"), f"{shown}.column_name")
    config = args.get("config") or {}
    if not isinstance(config, Mapping):
        raise _fail(where, (*at, "config"), f"{shown}.config: expected a mapping such as "
                    "{severity: warn}")
    for key in config:
        if key not in _CONFIG:
            raise _fail(where, (*at, "config", key), f"{shown}.config: unknown key '{key}'"
                        f"{did_you_mean(str(key), _CONFIG)} (allowed: {', '.join(sorted(_CONFIG))})")
    settings = {**{k: args[k] for k in _CONFIG if k in args}, **config}
    severity = str(settings.get("severity", "error")).lower()
    if severity not in SEVERITIES:
        place = (*at, "config", "severity") if "severity" in config else (*at, "severity")
        raise _fail(where, place, f"{shown}.config.severity: '{settings['severity']}' is not one of "
                    "error, warn")
    condition = settings.get("where")
    if kind == "no_leakage" and condition is not None:
        raise _fail(where, (*at, "config", "where") if "where" in config else (*at, "where"),
                    f"{shown}.config.where: no_leakage audits every row of the model; remove "
                    "where")
    if condition is not None:
        _predicate(condition, where, at, f"{shown}.config.where", dialect)
    checked = _arguments(kind, args, where, at, shown, dialect)
    return DataTest(kind=kind, column=column, severity=severity, line=where(path), args=checked,
                    where=condition)


_EXAMPLES = {"accepted_values": " (e.g. accepted_values: {values: [a, b]})",
             "relationships": " (e.g. relationships: {to: users, field: user_id})",
             "expression": " (e.g. expression: {expression: \"amount >= 0\"})",
             "not_null": " (e.g. not_null: {column_name: user_id})",
             "unique": " (e.g. unique: {column_name: user_id})"}


def _arguments(kind: str, args: Mapping[str, Any], where: Where, at: Path, shown: str,
               dialect: str) -> dict[str, Any]:
    """The test's arguments, type-checked."""
    if kind == "accepted_values":
        values = args["values"]
        if not isinstance(values, list) or not values or not all(
                isinstance(v, (str, int, float, bool)) for v in values):
            raise _fail(where, (*at, "values"), f"{shown}.values: expected a non-empty list "
                        "of values, e.g. [0, 1] or [gold, silver]")
        quote = args.get("quote", True)
        if not isinstance(quote, bool):
            raise _fail(where, (*at, "quote"), f"{shown}.quote: expected true or false")
        return {"values": tuple(values), "quote": quote}
    if kind == "relationships":
        to = args["to"]
        match = _REF.match(to) if isinstance(to, str) else None
        name = _name(match[1] if match else to, where, (*at, "to"), f"{shown}.to")
        return {"to": name, "field": _name(args["field"], where, (*at, "field"),
                                           f"{shown}.field")}
    if kind == "expression":
        _predicate(args["expression"], where, (*at, "expression"), f"{shown}.expression",
                   dialect)
        return {"expression": args["expression"]}
    if kind == "row_count":
        bounds = {}
        for key in ("min", "max"):
            value = args.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                      or value < 0):
                raise _fail(where, (*at, key), f"{shown}.{key}: expected a whole number >= 0")
            bounds[key] = value
        if bounds["min"] is None and bounds["max"] is None:
            raise _fail(where, at, f"{shown}.row_count: give min, max or both "
                        "(e.g. row_count: {min: 1})")
        if None not in bounds.values() and bounds["min"] > bounds["max"]:
            raise _fail(where, at, f"{shown}.row_count: min {bounds['min']} is more than max "
                        f"{bounds['max']}")
        return bounds
    return {}


def _name(value: Any, where: Where, at: Path, shown: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, at, f"{shown}: expected a name")
    return normalize_name(value)


def _predicate(text: Any, where: Where, at: Path, shown: str, dialect: str) -> None:
    """ProjectError unless ``text`` is one SQL expression in ``dialect``."""
    if not isinstance(text, str) or not text.strip():
        raise _fail(where, at, f"{shown}: expected a boolean SQL expression, e.g. amount >= 0")
    try:
        sqlglot.parse_one(text, read=dialect)
    except SqlglotError as err:
        detail = str(err).splitlines()[0]
        raise _fail(where, at, f"{shown}: not a SQL expression ({detail})") from None


def _fail(where: Where, path: Path, message: str) -> ProjectError:
    return where.error(path, message)
