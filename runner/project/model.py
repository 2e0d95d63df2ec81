"""Models: one ``models/**/*.sql`` file each, named by its stem.

A model file is plain SQL, one query in the project dialect. Its optional config lives in a
leading block comment whose first word is ``config``, followed by YAML, so any editor and
unmodified sqlglot read the file as it is::

    /* config
    materialized: table          # table | view | ephemeral | incremental
    tags: [features]
    description: Per-user counts.
    columns: {user_id: ECID of the user}
    with: {label: PROFILE}       # Data Distiller CTAS options: schema, rowvalidation, label
    */
    SELECT ...

A column may also carry data tests, and the model its own (``runner.project.data_tests``)::

    columns:
      user_id: {description: ECID of the user, data_tests: [not_null, unique]}
    data_tests:
      - row_count: {min: 1}

An ``incremental`` model also names how new rows are found (``runner.run.materialize``)::

    materialized: incremental
    incremental: {time_column: event_ts, lookback: 2 days, unique_key: event_id}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlglot import exp

from runner.validation import did_you_mean, load_yaml, normalize_name, read_text, yaml_problem
from runner.errors import ProjectError
from runner.project.data_tests import BlockLines, DataTest, model_tests_entry, parse_columns
from runner.project.parsing import parse_query

MATERIALIZATIONS = ("table", "view", "ephemeral", "incremental")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_CONFIG_KEYS = {"materialized", "tags", "description", "columns", "with", "incremental",
                "data_tests", "tests", "as_of"}
_AS_OF_KEYS = {"var", "ignore", "key"}
_WITH_KEYS = {"schema", "rowvalidation", "label"}
_INCREMENTAL_KEYS = {"time_column", "lookback", "unique_key"}
_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}
_DURATION = re.compile(r"^\s*(\d+)\s*(second|minute|hour|day|week)s?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class ModelDDLConfig:
    """What of a model's config reaches its DDL (Data Distiller's ``WITH (...)`` options)."""

    schema: str | None = None
    rowvalidation: bool | None = None
    label: str | None = None


@dataclass(frozen=True)
class IncrementalConfig:
    """How an incremental model finds its new rows.

    Attributes:
        time_column: the result column whose maximum in the table is the watermark.
        lookback: seconds before the watermark that are read again (late events).
        unique_key: the columns that identify a row; a re-read row whose key the table has is
            not inserted again.
    """

    time_column: str
    lookback: int = 0
    unique_key: tuple[str, ...] = ()


@dataclass(frozen=True)
class AsOfConfig:
    """A point-in-time model (``runner test --leakage``): its columns must not depend on
    source rows at or after the instant ``var`` names.

    Attributes:
        var: the var holding the as-of date (or timestamp).
        ignore: columns that may look past it (a label).
        key: the columns that identify a row (default ``user_id`` if the model has it).
    """

    var: str
    ignore: tuple[str, ...] = ()
    key: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelConfig:
    """The config block of a model file."""

    materialized: str = "table"
    tags: tuple[str, ...] = ()
    description: str = ""
    columns: dict[str, str] = field(default_factory=dict)
    ddl: ModelDDLConfig = field(default_factory=ModelDDLConfig)
    incremental: IncrementalConfig | None = None
    data_tests: tuple[DataTest, ...] = ()  # its columns' and its own (runner.project.data_tests)
    as_of: AsOfConfig | None = None

    def fingerprint_items(self) -> dict[str, Any]:
        """What of the config changes the built table (tags and docs do not)."""
        items: dict[str, Any] = {"materialized": self.materialized, "ddl": [
            self.ddl.schema, self.ddl.rowvalidation, self.ddl.label]}
        if self.incremental is not None:  # absent otherwise: other fingerprints stay as they were
            inc = self.incremental
            items["incremental"] = [inc.time_column, inc.lookback, list(inc.unique_key)]
        return items


class Model:
    """A model file.

    Attributes:
        name: the model's name (the file stem, lowercased: names are case-insensitive).
        path: the file, relative to the project root, in POSIX form (``models/x.sql``).
        text: the file's text.
        config: its config block (None only while the loader has not read it yet).
        dialect: the project dialect it is written in.
        query: the parsed query (config comment removed), parsed when first read: a model
            the parse cache already knows is not parsed unless something needs its tree.
    """

    def __init__(self, name: str, path: str, text: str, config: ModelConfig | None, dialect: str,
                 query: exp.Query | None = None) -> None:
        self.name, self.path, self.text, self.config, self.dialect = name, path, text, config, dialect
        self._query = query

    @property
    def query(self) -> exp.Query:
        if self._query is None:
            sql = split_config(self.text, self.path, self.dialect)[1]
            self._query = parse_query(sql, self.path, self.dialect)
        return self._query

    def take_query(self) -> exp.Query:
        """The parsed query, handed over to be rewritten: the model lets go of it (and parses
        its file again if asked for its tree later)."""
        query, self._query = self.query, None
        return query

    def __repr__(self) -> str:
        return f"Model({self.name!r}, {self.path!r})"


def model_files(root: Path) -> list[tuple[str, str, str]]:
    """Every ``models/**/*.sql`` under ``root`` as (path relative to root, model name, text),
    in path order; nothing is parsed.

    Raises:
        ProjectError: no models/ folder, a file name that is no usable model name, or two files
            that share a name (case-insensitively).
    """
    models_dir = root / "models"
    if not models_dir.is_dir():
        raise ProjectError("no models/ folder in the project; create models/ and put one "
                           "SELECT per .sql file in it", root)
    found: dict[str, str] = {}
    files = []
    for file in sorted(models_dir.rglob("*.sql")):
        rel = file.relative_to(root).as_posix()
        name = normalize_name(file.stem)
        if not _NAME.match(name):
            raise ProjectError(f"'{file.stem}' is not a usable model name: a model becomes a "
                               "table, so its file name may hold only letters, digits and _ and "
                               "must not start with a digit; rename the file", rel)
        if name in found:
            raise ProjectError(f"model name '{name}' is used by two files: {found[name]} and "
                               f"{rel}; model names are file stems and must be unique "
                               "(case-insensitively); rename one", rel)
        found[name] = rel
        files.append((rel, name, read_text(file, rel)))
    return files


def read_model(text: str, rel: str, name: str, dialect: str) -> Model:
    """Parse one model file (config block + query)."""
    config, sql = split_config(text, rel, dialect)
    return Model(name, rel, text, config, dialect, parse_query(sql, rel, dialect))


def split_config(text: str, rel: str, dialect: str = "spark") -> tuple[ModelConfig, str]:
    """Return the config block and the SQL with that block blanked (line numbers kept)."""
    stripped = text.lstrip()
    if not stripped.startswith("/*"):
        return ModelConfig(), text
    start = len(text) - len(stripped)
    end = text.find("*/", start)
    body = text[start + 2:end] if end >= 0 else ""
    if end < 0 or body.split(None, 1)[:1] != ["config"]:
        return ModelConfig(), text
    first_line = text.count("\n", 0, start) + 1
    yaml_text = body.split("config", 1)[1]
    config = _parse_config(yaml_text, rel, first_line, dialect)
    blanked = "".join(c if c == "\n" else " " for c in text[start:end + 2])
    return config, text[:start] + blanked + text[end + 2:]


def _parse_config(yaml_text: str, rel: str, first_line: int, dialect: str) -> ModelConfig:
    try:
        raw = load_yaml(yaml_text) or {}
    except yaml.YAMLError as err:
        problem, line, _ = yaml_problem(err)
        raise ProjectError(f"config block: {problem}", rel,
                           first_line + line - 1 if line else first_line) from None
    if not isinstance(raw, dict):
        raise ProjectError("config block: expected YAML keys such as 'materialized: table'", rel,
                           first_line)

    where = BlockLines(rel, first_line, yaml_text)

    def fail(message: str) -> ProjectError:
        return ProjectError(f"config block: {message}", rel, first_line)

    for key in raw:
        if key not in _CONFIG_KEYS:
            raise where.error((key,), f"unknown key '{key}'{did_you_mean(str(key), _CONFIG_KEYS)} "
                              f"(allowed: {', '.join(sorted(_CONFIG_KEYS))})")
    materialized = raw.get("materialized", "table")
    if materialized not in MATERIALIZATIONS:
        raise fail(f"materialized: '{materialized}' is not one of {', '.join(MATERIALIZATIONS)}")
    tags = raw.get("tags", [])
    tags = [tags] if isinstance(tags, str) else tags
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise fail("tags: expected a list of strings, e.g. tags: [features, daily]")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise fail("description: expected a string")
    columns, data_tests = parse_columns(raw.get("columns"), model_tests_entry(raw, where),
                                        where, dialect)
    if data_tests and materialized == "ephemeral":
        raise where.error(("columns",) if "columns" in raw else ("data_tests",),
                          "data tests: an ephemeral model is never built, so its rows cannot "
                          "be tested; test a model that reads it, or make it a view")
    ddl = _parse_with(raw.get("with", {}) or {}, fail)
    if materialized not in ("table", "incremental") and ddl != ModelDDLConfig():
        raise fail("with: only table models have CTAS options; remove 'with' or use "
                   "materialized: table")
    incremental = None
    if materialized == "incremental":
        incremental = _parse_incremental(raw.get("incremental"), fail)
    elif "incremental" in raw:
        raise fail("incremental: only incremental models have it; remove it or use "
                   "materialized: incremental")
    as_of = _parse_as_of(raw["as_of"], where) if raw.get("as_of") is not None else None
    if as_of is not None and materialized == "ephemeral":
        raise where.error(("as_of",), "as_of: an ephemeral model is never built, so its rows "
                          "cannot be audited; put as_of on a model that reads it")
    unaudited = next((t for t in data_tests if t.kind == "no_leakage" and as_of is None), None)
    if unaudited is not None:
        raise ProjectError("config block: no_leakage: the model has no as_of config, so there is "
                           "no cutoff to audit; add as_of: {var: as_of_date} (the var holding "
                           "the as-of date)", where.rel, unaudited.line)
    return ModelConfig(materialized=materialized, tags=tuple(tags), description=description,
                       columns=columns, ddl=ddl, incremental=incremental, data_tests=data_tests,
                       as_of=as_of)


def _parse_as_of(raw: Any, where: BlockLines) -> AsOfConfig:
    """``as_of: as_of_date`` or ``as_of: {var: as_of_date, ignore: [label], key: user_id}``."""
    raw = {"var": raw} if isinstance(raw, str) else raw
    if not isinstance(raw, dict) or not isinstance(raw.get("var"), str):
        raise where.error(("as_of",), "as_of: expected the var holding the as-of date, e.g. "
                          "as_of: {var: as_of_date, ignore: [subscribed]}")
    for key in raw:
        if key not in _AS_OF_KEYS:
            raise where.error(("as_of", key), f"as_of: unknown key '{key}'"
                              f"{did_you_mean(str(key), _AS_OF_KEYS)} (allowed: "
                              f"{', '.join(sorted(_AS_OF_KEYS))})")
    lists = {}
    for key in ("ignore", "key"):
        value = raw.get(key, [])
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise where.error(("as_of", key), f"as_of.{key}: expected a column name or a list "
                                              "of them")
        lists[key] = tuple(v.lower() for v in value)
    return AsOfConfig(raw["var"], lists["ignore"], lists["key"])


def _parse_incremental(raw: Any, fail: Any) -> IncrementalConfig:
    """``incremental: {time_column, lookback, unique_key}`` (time_column required)."""
    if not isinstance(raw, dict) or "time_column" not in raw:
        raise fail("materialized: incremental needs incremental: {time_column: <column>}, "
                   "e.g. incremental: {time_column: event_ts, lookback: 2 days, "
                   "unique_key: event_id}")
    for key in raw:
        if key not in _INCREMENTAL_KEYS:
            hint = did_you_mean(str(key), _INCREMENTAL_KEYS)
            raise fail(f"incremental: unknown key '{key}'{hint} "
                       f"(allowed: {', '.join(sorted(_INCREMENTAL_KEYS))})")
    column = raw["time_column"]
    if not isinstance(column, str) or not _NAME.match(column.lower()):
        raise fail("incremental.time_column: expected the name of a result column")
    lookback = _seconds(raw.get("lookback", 0))
    if lookback is None:
        raise fail(f"incremental.lookback: '{raw['lookback']}' is not a duration; write seconds "
                   "(3600) or a number and a unit (2 days, 6 hours, 30 minutes)")
    keys = raw.get("unique_key", [])
    keys = [keys] if isinstance(keys, str) else keys
    if not isinstance(keys, list) or not all(isinstance(k, str) and _NAME.match(k.lower())
                                             for k in keys):
        raise fail("incremental.unique_key: expected a column name or a list of them")
    if lookback and not keys:
        raise fail("incremental.lookback: re-read rows would be inserted twice without a "
                   "unique_key; add incremental.unique_key or remove lookback")
    return IncrementalConfig(column.lower(), lookback, tuple(k.lower() for k in keys))


def _seconds(value: Any) -> int | None:
    """A lookback in seconds: a whole number of seconds, or ``<n> <unit>``; None if neither."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = _DURATION.match(value) if isinstance(value, str) else None
    return int(match[1]) * _SECONDS[match[2].lower()] if match else None


def _parse_with(raw: Any, fail: Any) -> ModelDDLConfig:
    if not isinstance(raw, dict):
        raise fail("with: expected a mapping of schema, rowvalidation, label")
    for key in raw:
        if key not in _WITH_KEYS:
            raise fail(f"with: unknown option '{key}' (allowed: {', '.join(sorted(_WITH_KEYS))})")
    schema, label, rowvalidation = raw.get("schema"), raw.get("label"), raw.get("rowvalidation")
    if schema is not None and not isinstance(schema, str):
        raise fail("with.schema: expected the title of an XDM schema (a string)")
    if label is not None and not isinstance(label, str):
        raise fail("with.label: expected a string such as PROFILE")
    if rowvalidation is not None and not isinstance(rowvalidation, bool):
        raise fail("with.rowvalidation: expected true or false")
    return ModelDDLConfig(schema=schema, rowvalidation=rowvalidation, label=label)
