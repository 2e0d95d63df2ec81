"""Models: one ``models/**/*.sql`` file each, named by its stem.

A model file is plain SQL, one query in the project dialect. Its optional config lives in a
leading block comment whose first word is ``config``, followed by YAML, so any editor and
unmodified sqlglot read the file as it is::

    /* config
    materialized: table          # table | view | ephemeral
    tags: [features]
    description: Per-user counts.
    columns: {user_id: ECID of the user}
    with: {label: PROFILE}       # Data Distiller CTAS options: schema, rowvalidation, label
    */
    SELECT ...
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
from runner.project.parsing import parse_query

MATERIALIZATIONS = ("table", "view", "ephemeral")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_CONFIG_KEYS = {"materialized", "tags", "description", "columns", "with"}
_WITH_KEYS = {"schema", "rowvalidation", "label"}


@dataclass(frozen=True)
class ModelDDLConfig:
    """What of a model's config reaches its DDL (Data Distiller's ``WITH (...)`` options)."""

    schema: str | None = None
    rowvalidation: bool | None = None
    label: str | None = None


@dataclass(frozen=True)
class ModelConfig:
    """The config block of a model file."""

    materialized: str = "table"
    tags: tuple[str, ...] = ()
    description: str = ""
    columns: dict[str, str] = field(default_factory=dict)
    ddl: ModelDDLConfig = field(default_factory=ModelDDLConfig)

    def fingerprint_items(self) -> dict[str, Any]:
        """What of the config changes the built table (tags and docs do not)."""
        return {"materialized": self.materialized, "ddl": [self.ddl.schema, self.ddl.rowvalidation,
                                                          self.ddl.label]}


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
            self._query = parse_query(split_config(self.text, self.path)[1], self.path,
                                      self.dialect)
        return self._query

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
    config, sql = split_config(text, rel)
    return Model(name, rel, text, config, dialect, parse_query(sql, rel, dialect))


def split_config(text: str, rel: str) -> tuple[ModelConfig, str]:
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
    config = _parse_config(yaml_text, rel, first_line)
    blanked = "".join(c if c == "\n" else " " for c in text[start:end + 2])
    return config, text[:start] + blanked + text[end + 2:]


def _parse_config(yaml_text: str, rel: str, first_line: int) -> ModelConfig:
    try:
        raw = load_yaml(yaml_text) or {}
    except yaml.YAMLError as err:
        problem, line, _ = yaml_problem(err)
        raise ProjectError(f"config block: {problem}", rel,
                           first_line + line - 1 if line else first_line) from None
    if not isinstance(raw, dict):
        raise ProjectError("config block: expected YAML keys such as 'materialized: table'", rel,
                           first_line)

    def fail(message: str) -> ProjectError:
        return ProjectError(f"config block: {message}", rel, first_line)

    for key in raw:
        if key not in _CONFIG_KEYS:
            raise fail(f"unknown key '{key}'{did_you_mean(str(key), _CONFIG_KEYS)} "
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
    columns = raw.get("columns", {}) or {}
    if isinstance(columns, list):
        columns = {str(c): "" for c in columns}
    if not isinstance(columns, dict):
        raise fail("columns: expected a mapping of column name to description")
    ddl = _parse_with(raw.get("with", {}) or {}, fail)
    if materialized != "table" and ddl != ModelDDLConfig():
        raise fail("with: only table models have CTAS options; remove 'with' or use "
                   "materialized: table")
    return ModelConfig(materialized=materialized, tags=tuple(tags), description=description,
                       columns={str(k): str(v or "") for k, v in columns.items()}, ddl=ddl)


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
