"""Unit tests of model logic: fixture rows in, expected rows out (dbt 1.8's ``unit_tests:``).

A unit test lives in a YAML file of the project's ``unit_tests/`` folder (``unit_test_paths``
in project.yml). It names a model, gives rows for the models or sources it reads, and the rows
it must return; ``runner test --unit`` runs it on an in-memory DuckDB (``runner.run.unit_tests``)::

    unit_tests:
      - name: revenue_windows
        model: user_purchases
        given:
          - input: ref('stg_events')          # or source('experience_events'), or a name
            rows:
              - {user_id: u1, event_type: commerce.purchases, order_total: 10.5}
          - input: stg_profiles
            format: csv
            rows: |
              user_id,created_at
              u1,2026-01-01 00:00:00
        expect:
          rows:
            - {user_id: u1, revenue_30d: 10.5}
        overrides:
          vars: {as_of_date: "2026-05-31"}

Everything here is checked on load, at the file and line of the key: the keys, the model, each
input (a model or source the model reads, through the ephemeral models it inlines), the rows.
The columns of rows are checked when the test runs, against the input's and the result's types.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from runner.errors import ProjectError
from runner.graph.dag import SOURCE_PREFIX
from runner.project.loader import Project
from runner.validation import did_you_mean, load_yaml, read_text, yaml_lines, yaml_problem

DEFAULT_PATHS = ("unit_tests",)
_TEST_KEYS = {"name", "model", "description", "given", "expect", "overrides", "config"}
_GIVEN_KEYS = {"input", "rows", "format"}
_EXPECT_KEYS = {"rows", "format"}
_OVERRIDE_KEYS = {"vars", "macros"}
_CONFIG_KEYS = {"tags", "enabled", "meta"}
_FORMATS = ("dict", "csv")
_REF = re.compile(r"""^\s*(ref|source)\s*\((.*)\)\s*$""")
_ARG = re.compile(r"""^\s*(['"])([^'"]+)\1\s*$""")


@dataclass(frozen=True)
class Rows:
    """Fixture rows as written: each a mapping of column to value (a CSV row's values are
    text, an empty field NULL), with the file line of each row."""

    rows: tuple[dict[str, Any], ...]
    lines: tuple[int, ...]
    line: int  # the line of ``rows:``


@dataclass(frozen=True)
class GivenInput:
    """Rows for one table the model reads: ``node`` is a model name or ``source:<name>``."""

    node: str
    rows: Rows

    @property
    def name(self) -> str:
        """The model's or source's name."""
        return self.node.removeprefix(SOURCE_PREFIX)

    @property
    def is_source(self) -> bool:
        return self.node.startswith(SOURCE_PREFIX)


@dataclass(frozen=True)
class UnitTest:
    """One entry of a ``unit_tests:`` list (where it is: ``path`` and ``line``)."""

    __test__ = False  # not a pytest class

    name: str
    model: str
    path: str
    line: int
    given: tuple[GivenInput, ...]
    expect: Rows
    description: str = ""
    vars: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()


def unit_test_files(root: Path, folders: tuple[str, ...]) -> list[Path]:
    """The ``*.yml`` and ``*.yaml`` files under the unit test folders, in path order."""
    files: set[Path] = set()
    for folder in folders:
        base = root / folder
        if base.is_dir():
            files.update(f for f in base.rglob("*")
                         if f.suffix in (".yml", ".yaml") and f.is_file())
    return sorted(files)


def load_unit_tests(project: Project, folders: tuple[str, ...] = DEFAULT_PATHS) -> list[UnitTest]:
    """Every enabled unit test of the project, in file order.

    Raises:
        ProjectError: a file that is not YAML, an unknown key, model or input, a model input
            the model does not read, rows that are not a list of mappings; at the file and line.
    """
    tests: list[UnitTest] = []
    seen: dict[str, str] = {}
    for file in unit_test_files(project.root, folders):
        rel = file.relative_to(project.root).as_posix()
        for test in _load_file(project, rel, read_text(file, rel)):
            key = f"{test.model}.{test.name}"
            if key in seen:
                raise ProjectError(f"unit test '{test.name}' of model '{test.model}' is declared "
                                   f"twice (also at {seen[key]}); rename one", rel, test.line)
            seen[key] = f"{rel}:{test.line}"
            tests.append(test)
    return tests


class _File:
    """One unit test file: its path and the line of each key path."""

    def __init__(self, rel: str, text: str) -> None:
        self.rel, self.lines = rel, yaml_lines(text)

    def line(self, path: tuple[Any, ...]) -> int:
        for end in range(len(path), 0, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return 1

    def error(self, path: tuple[Any, ...], message: str) -> ProjectError:
        return ProjectError(message, self.rel, self.line(path))


def _load_file(project: Project, rel: str, text: str) -> list[UnitTest]:
    try:
        raw = load_yaml(text)
    except yaml.YAMLError as err:
        problem, line, col = yaml_problem(err)
        raise ProjectError(f"not valid YAML: {problem}", rel, line, col) from None
    where = _File(rel, text)
    if raw is None:
        return []
    if not isinstance(raw, dict) or set(raw) - {"unit_tests", "version"}:
        extra = sorted(set(raw) - {"unit_tests", "version"}) if isinstance(raw, dict) else []
        key = str(extra[0]) if extra else ""
        raise where.error((key,) if key else (), (
            f"unknown key '{key}'{did_you_mean(key, ['unit_tests'])}; " if key else "") +
            "a unit test file holds 'unit_tests:', a list of tests with name, model, given "
            "and expect")
    entries = raw.get("unit_tests") or []
    if not isinstance(entries, list):
        raise where.error(("unit_tests",), "unit_tests: expected a list of tests")
    return [test for index, entry in enumerate(entries)
            if (test := _test(project, where, ("unit_tests", index), entry)) is not None]


def _test(project: Project, where: _File, path: tuple[Any, ...], raw: Any) -> UnitTest | None:
    if not isinstance(raw, dict):
        raise where.error(path, "a unit test: expected a mapping with name, model, given and "
                                "expect")
    _check_keys(where, path, raw, _TEST_KEYS, "a unit test")
    for key in ("name", "model"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise where.error((*path, key) if key in raw else path,
                              f"{key}: missing; every unit test has a name and the model it tests")
    name, model = raw["name"].strip(), raw["model"].strip().lower()
    if model not in project.models:
        raise where.error((*path, "model"), f"model: '{model}' is not a model"
                                            f"{did_you_mean(model, project.models)}")
    if project.models[model].config.materialized == "ephemeral":
        raise where.error((*path, "model"), f"model: '{model}' is ephemeral (inlined, never "
                          "built); test a model that reads it")
    config = raw.get("config") or {}
    if not isinstance(config, dict):
        raise where.error((*path, "config"), "config: expected a mapping (tags, enabled, meta)")
    _check_keys(where, (*path, "config"), config, _CONFIG_KEYS, "config")
    if config.get("enabled", True) is False:
        return None
    tags = config.get("tags", [])
    tags = [tags] if isinstance(tags, str) else tags
    overrides = raw.get("overrides") or {}
    if not isinstance(overrides, dict):
        raise where.error((*path, "overrides"), "overrides: expected a mapping with vars")
    _check_keys(where, (*path, "overrides"), overrides, _OVERRIDE_KEYS, "overrides")
    if "macros" in overrides:
        raise where.error((*path, "overrides", "macros"), "overrides.macros: not supported: "
                          "macros here are SQL functions expanded into the query; override the "
                          "vars they read (overrides.vars) instead")
    vars_ = overrides.get("vars") or {}
    if not isinstance(vars_, dict):
        raise where.error((*path, "overrides", "vars"), "overrides.vars: expected a mapping")
    given = raw.get("given") or []
    if not isinstance(given, list):
        raise where.error((*path, "given"), "given: expected a list of inputs with their rows")
    readable = _inputs(project, model)
    inputs: list[GivenInput] = []
    for index, item in enumerate(given):
        item_path = (*path, "given", index)
        if not isinstance(item, dict) or "input" not in item:
            raise where.error(item_path, "given: each input is a mapping with input and rows")
        _check_keys(where, item_path, item, _GIVEN_KEYS, "an input")
        node = _input_node(project, where, (*item_path, "input"), item["input"])
        if node not in readable:
            raise where.error((*item_path, "input"), _not_read(project, model, node, readable))
        if any(g.node == node for g in inputs):
            raise where.error((*item_path, "input"), f"input '{node}' is given twice")
        inputs.append(GivenInput(node, _rows(where, item_path, item)))
    expect = raw.get("expect")
    if not isinstance(expect, dict) or "rows" not in expect:
        raise where.error((*path, "expect") if "expect" in raw else path,
                          "expect: missing; give the rows the model must return "
                          "(expect: {rows: [...]})")
    _check_keys(where, (*path, "expect"), expect, _EXPECT_KEYS, "expect")
    description = raw.get("description") or ""
    return UnitTest(name=name, model=model, path=where.rel, line=where.line(path),
                    given=tuple(inputs), expect=_rows(where, (*path, "expect"), expect),
                    description=str(description), vars=dict(vars_),
                    tags=tuple(str(t) for t in tags or ()))


def _check_keys(where: _File, path: tuple[Any, ...], raw: dict[str, Any], allowed: set[str],
                what: str) -> None:
    for key in raw:
        if key not in allowed:
            raise where.error((*path, key), f"{what}: unknown key '{key}'"
                              f"{did_you_mean(str(key), allowed)} (allowed: "
                              f"{', '.join(sorted(allowed))})")


def _inputs(project: Project, model: str) -> set[str]:
    """What a model reads as a build runs it: its built parents and the sources it reads,
    looking through the ephemeral models it inlines."""
    return {*project.build_parents(model),
            *(SOURCE_PREFIX + s for s in project.sources_read(model))}


def _not_read(project: Project, model: str, node: str, readable: set[str]) -> str:
    name = node.removeprefix(SOURCE_PREFIX)
    shown = sorted(n.removeprefix(SOURCE_PREFIX) for n in readable)
    if node in project.models and project.models[node].config.materialized == "ephemeral":
        why = f"'{name}' is ephemeral (inlined into '{model}'): give what it reads instead"
    else:
        why = f"'{model}' does not read '{name}'"
    return f"input: {why}; its inputs are {', '.join(shown) or 'none'}"


def _input_node(project: Project, where: _File, path: tuple[Any, ...], raw: Any) -> str:
    """``ref('m')``, ``source('s', 't')``/``source('t')`` or a plain name, as a DAG node."""
    if not isinstance(raw, str):
        raise where.error(path, "input: expected ref('model'), source('name') or a name")
    match = _REF.match(raw)
    if match:
        args = [_ARG.match(a) for a in match[2].split(",")]
        if not args or any(a is None for a in args):
            raise where.error(path, f"input: cannot read {raw!r}; write ref('model') or "
                                    "source('name')")
        name, kind = args[-1][2].strip().lower(), match[1]
    else:
        name, kind = raw.strip().lower(), None
    if kind != "source" and name in project.models:
        return name
    if kind != "ref" and name in project.config.sources:
        return SOURCE_PREFIX + name
    choices = ([*project.models] if kind == "ref" else [*project.config.sources]
               if kind == "source" else [*project.models, *project.config.sources])
    what = "model" if kind == "ref" else "declared source" if kind == "source" else \
        "model or declared source"
    raise where.error(path, f"input: '{name}' is not a {what}{did_you_mean(name, choices)}")


def _rows(where: _File, path: tuple[Any, ...], raw: dict[str, Any]) -> Rows:
    fmt = raw.get("format", "dict")
    if fmt not in _FORMATS:
        raise where.error((*path, "format"), f"format: '{fmt}' is not one of "
                          f"{', '.join(_FORMATS)}{did_you_mean(str(fmt), _FORMATS)}")
    rows, line = raw.get("rows"), where.line((*path, "rows"))
    if fmt == "csv":
        if not isinstance(rows, str):
            raise where.error((*path, "rows"), "rows: with format: csv, give the rows as text "
                                               "(a header line, then one line per row)")
        return _csv_rows(where, path, rows, line)
    rows = [] if rows is None else rows
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise where.error((*path, "rows"), "rows: expected a list of mappings of column to "
                                           "value, e.g. [{user_id: u1, amount: 10}]")
    for index, row in enumerate(rows):
        for key in row:
            if not isinstance(key, str):
                raise where.error((*path, "rows", index), f"rows: column {key!r} is not a name")
    return Rows(tuple({k.lower(): v for k, v in r.items()} for r in rows),
                tuple(where.line((*path, "rows", i)) for i in range(len(rows))), line)


def _csv_rows(where: _File, path: tuple[Any, ...], text: str, line: int) -> Rows:
    lines = [row for row in csv.reader(io.StringIO(text.strip("\n")))]
    if not lines or not lines[0]:
        raise where.error((*path, "rows"), "rows: the CSV has no header line")
    header = [h.strip().lower() for h in lines[0]]
    rows, numbers = [], []
    for offset, values in enumerate(lines[1:], start=2):
        if not values:
            continue
        if len(values) != len(header):
            raise ProjectError(f"rows: CSV row {offset - 1} has {len(values)} values for "
                               f"{len(header)} columns ({', '.join(header)})", where.rel,
                               line + offset)
        rows.append({h: (v if v != "" else None) for h, v in zip(header, values)})
        numbers.append(line + offset)
    return Rows(tuple(rows), tuple(numbers), line)
