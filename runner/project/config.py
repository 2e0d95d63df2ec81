"""project.yml: load, validate strictly, substitute ``${ENV}`` references.

Every problem is one ``ProjectError`` naming ``project.yml``, the key path and what is expected.
Target blocks are checked for shape on load but their ``${ENV}`` references are substituted only
when that target is used, so a local build never needs Adobe credentials in the environment.

    >>> cfg = parse_project({"name": "demo"}, Path("."))
    >>> cfg.default_target, sorted(cfg.targets)
    ('local', ['local'])
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from dotenv import dotenv_values

from runner.errors import ProjectError
from runner.project.labels import CORE_LABELS, SourceLabels, check_labels
from runner.validation import (PROJECT_FILE, check_keys, did_you_mean, expect, load_yaml,
                               normalize_name, read_text, substitute_env, yaml_problem)

DIALECTS = ("spark",)
APPROXIMATE = ("exact", "refuse")  # runner.compile.dialect.approximate
DEFAULT_LOCAL_TARGET = {"type": "duckdb", "path": "target/local.duckdb"}


@dataclass(frozen=True)
class SourceConfig:
    """A raw dataset the models read.

    ``identifier`` is the table's name in the engine (defaults to the source name); locally a
    source may be produced by the synthetic generator (``synthetic``) or read from a file (``path``).
    ``labels`` are its dataset-level data usage labels, ``column_labels`` its fields'
    (``runner.project.labels``).
    """

    name: str
    identifier: str
    description: str = ""
    columns: dict[str, str] = field(default_factory=dict)
    synthetic: str | None = None
    path: str | None = None
    time_column: str | None = None  # when each row happened (the point-in-time audit)
    entity_column: str | None = None  # whose row it is (the audit's sample on a remote target)
    labels: frozenset[str] = frozenset()
    column_labels: dict[str, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class SynthConfig:
    """Defaults of ``runner synth`` and of the synthetic sources a fresh build creates."""

    users: int = 2000
    days: int = 120
    seed: int = 42
    end: str | None = None


@dataclass
class ProjectConfig:
    """The validated content of project.yml."""

    name: str
    root: Path
    dialect: str = "spark"
    default_target: str = "local"
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)
    vars: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, SourceConfig] = field(default_factory=dict)
    synth: SynthConfig = field(default_factory=SynthConfig)
    exports: list[Any] = field(default_factory=list)  # as written; ``destinations`` validates
    keep_versions: int = 1
    approximate: str = "exact"
    unit_test_paths: tuple[str, ...] = ("unit_tests",)  # folders of unit test files
    custom_labels: tuple[str, ...] = ()

    def source_labels(self) -> SourceLabels:
        """The data usage labels project.yml gives the sources (``runner.project.labels``)."""
        return {name: {"dataset": set(s.labels),
                       "fields": {c: set(v) for c, v in s.column_labels.items()}}
                for name, s in self.sources.items() if s.labels or s.column_labels}

    def target(self, name: str | None) -> tuple[str, dict[str, Any]]:
        """The named (or default) target block with ``${ENV}`` references substituted."""
        name = name or self.default_target
        if name not in self.targets:
            raise ProjectError(
                f"unknown target '{name}'{did_you_mean(name, self.targets)}; "
                f"targets in project.yml: {', '.join(sorted(self.targets))}"
            )
        return name, substitute_env(self.targets[name], f"targets.{name}")


def load_env_file(root: Path) -> None:
    """Set the variables of ``root/.env`` that the environment does not already set (so
    ``${VAR}`` in project.yml, the Adobe credential and export secrets can live there)."""
    env = root / ".env"
    if env.is_file():
        for key, value in dotenv_values(env).items():
            if value is not None and key not in os.environ:
                os.environ[key] = value


def load_project(root: Path) -> ProjectConfig:
    """Read and validate ``root/project.yml``.

    Raises:
        ProjectError: the file is missing, is not YAML, or breaks the schema.
    """
    path = root / PROJECT_FILE
    load_env_file(root)
    if not path.is_file():
        raise ProjectError(
            f"no {PROJECT_FILE} in {root.resolve()} (run the runner from a project folder, "
            "or pass --project-dir)"
        )
    try:
        raw = load_yaml(read_text(path, PROJECT_FILE))
    except yaml.YAMLError as err:
        problem, line, col = yaml_problem(err)
        raise ProjectError(f"not valid YAML: {problem}", PROJECT_FILE, line, col) from None
    return parse_project(raw, root)


def parse_project(raw: Any, root: Path) -> ProjectConfig:
    """Validate the parsed YAML of project.yml and build a ProjectConfig."""
    expect(raw, dict, "the top level", "a mapping of keys such as name, sources, targets")
    check_keys(raw, {"name", "dialect", "default_target", "targets", "vars", "sources", "synth",
                     "exports", "keep_versions", "approximate", "unit_test_paths",
                     "custom_labels"}, "")
    if "name" not in raw:
        raise ProjectError("name: missing; give the project a name (name: my_features)", PROJECT_FILE)
    name = expect(substitute_env(raw["name"], "name"), str, "name", "a string")
    dialect = expect(raw.get("dialect", "spark"), str, "dialect", "a string")
    if dialect not in DIALECTS:
        raise ProjectError(f"dialect: '{dialect}' is not supported; models are written in "
                           f"{' or '.join(DIALECTS)} (Data Distiller's dialect)", PROJECT_FILE)
    targets = _parse_targets(raw.get("targets"))
    default_target = expect(raw.get("default_target", "local"), str, "default_target", "a string")
    if default_target not in targets:
        raise ProjectError(f"default_target: '{default_target}' is not one of targets "
                           f"({', '.join(sorted(targets))})", PROJECT_FILE)
    vars_ = substitute_env(expect(raw.get("vars") or {}, dict, "vars", "a mapping"), "vars")
    custom = _parse_custom_labels(raw.get("custom_labels") or [])
    sources = _parse_sources(raw.get("sources") or {}, (*CORE_LABELS, *custom), root)
    synth = _parse_synth(raw.get("synth") or {})
    keep = expect(raw.get("keep_versions", 1), int, "keep_versions", "a whole number >= 1")
    if keep < 1:
        raise ProjectError("keep_versions: must be at least 1 (the current version)", PROJECT_FILE)
    exports = substitute_env(expect(raw.get("exports") or [], list, "exports", "a list"), "exports")
    approximate = expect(raw.get("approximate", "exact"), str, "approximate", "exact or refuse")
    if approximate not in APPROXIMATE:
        raise ProjectError(f"approximate: '{approximate}' is not one of exact, refuse"
                           f"{did_you_mean(approximate, APPROXIMATE)}; it says how the local "
                           "engine runs percentile_approx and approx_count_distinct", PROJECT_FILE)
    unit_test_paths = raw.get("unit_test_paths", ["unit_tests"])
    unit_test_paths = [unit_test_paths] if isinstance(unit_test_paths, str) else unit_test_paths
    expect(unit_test_paths, list, "unit_test_paths", "a list of folders")
    for index, folder in enumerate(unit_test_paths):
        expect(folder, str, f"unit_test_paths[{index}]", "a folder relative to the project")
    return ProjectConfig(name=name, root=root, dialect=dialect, default_target=default_target,
                         targets=targets, vars=vars_, sources=sources, synth=synth, exports=exports,
                         keep_versions=keep, approximate=approximate, custom_labels=custom,
                         unit_test_paths=tuple(unit_test_paths))


def _parse_custom_labels(raw: Any) -> tuple[str, ...]:
    expect(raw, list, "custom_labels", "a list of label names")
    for index, label in enumerate(raw):
        if not isinstance(label, str) or not label.strip() or label in CORE_LABELS:
            raise ProjectError(f"custom_labels[{index}]: expected a new label name (a string "
                               f"that is not a core label), got {label!r}", PROJECT_FILE)
    return tuple(label.strip() for label in raw)


def _parse_targets(raw: Any) -> dict[str, dict[str, Any]]:
    if raw is None:
        return {"local": dict(DEFAULT_LOCAL_TARGET)}
    expect(raw, dict, "targets", "a mapping of target name to settings")
    targets: dict[str, dict[str, Any]] = {}
    for name, block in raw.items():
        keypath = f"targets.{name}"
        expect(block, dict, keypath, "a mapping with at least 'type'")
        if "threads" in block and (not isinstance(block["threads"], int)
                                   or isinstance(block["threads"], bool) or block["threads"] < 1):
            expect(block["threads"], int, f"{keypath}.threads", "a whole number")
            raise ProjectError(f"{keypath}.threads: expected a whole number >= 1, got "
                               f"{block['threads']}", PROJECT_FILE)
        targets[str(name)] = dict(block)  # its keys are the adapter's to check
    return targets


def _parse_sources(raw: Any, known: tuple[str, ...] = tuple(CORE_LABELS),
                   root: Path = Path(".")) -> dict[str, SourceConfig]:
    expect(raw, dict, "sources", "a mapping of source table name to settings")
    sources: dict[str, SourceConfig] = {}
    for name, block in raw.items():
        keypath = f"sources.{name}"
        block = substitute_env(block or {}, keypath)
        expect(block, dict, keypath, "a mapping (or empty)")
        check_keys(block, {"description", "columns", "identifier", "synthetic", "path",
                           "time_column", "entity_column", "labels"}, keypath)
        columns = block.get("columns") or {}
        if isinstance(columns, list):
            columns = {str(c): "" for c in columns}
        expect(columns, dict, f"{keypath}.columns", "a mapping of column name to description")
        for key in ("description", "identifier", "synthetic", "path", "time_column",
                    "entity_column"):
            if key in block:
                expect(block[key], str, f"{keypath}.{key}", "a string")
        if "synthetic" in block and "path" in block:
            raise ProjectError(f"{keypath}: give either 'synthetic' or 'path', not both", PROJECT_FILE)
        descriptions, column_labels = _parse_columns(columns, name, known, root)
        labels = (check_labels(block["labels"], ("sources", name, "labels"), known, root)
                  if "labels" in block else frozenset())
        key = normalize_name(str(name))
        if key in sources:
            raise ProjectError(f"{keypath}: declared twice (source names are case-insensitive)",
                               PROJECT_FILE)
        sources[key] = SourceConfig(
            name=key, identifier=block.get("identifier", str(name)),
            description=block.get("description", ""),
            columns=descriptions, synthetic=block.get("synthetic"), path=block.get("path"),
            time_column=block.get("time_column"), entity_column=block.get("entity_column"),
            labels=labels, column_labels=column_labels)
    return sources


def _parse_columns(columns: dict[Any, Any], source: str, known: tuple[str, ...], root: Path
                   ) -> tuple[dict[str, str], dict[str, frozenset[str]]]:
    """A source's ``columns:``: each a description, or ``{description, labels}``."""
    descriptions: dict[str, str] = {}
    labels: dict[str, frozenset[str]] = {}
    for column, entry in columns.items():
        keypath = f"sources.{source}.columns.{column}"
        if isinstance(entry, dict):
            check_keys(entry, {"description", "labels"}, keypath)
            if "labels" in entry:
                labels[str(column)] = check_labels(
                    entry["labels"], ("sources", source, "columns", column, "labels"), known, root)
            entry = expect(entry.get("description") or "", str, f"{keypath}.description",
                           "a string")
        descriptions[str(column)] = str(entry or "")
    return descriptions, {c: v for c, v in labels.items() if v}


def _parse_synth(raw: Any) -> SynthConfig:
    expect(raw, dict, "synth", "a mapping with users, days, seed, end")
    raw = substitute_env(raw, "synth")
    check_keys(raw, {"users", "days", "seed", "end"}, "synth")
    for key in ("users", "days", "seed"):
        if key in raw:
            expect(raw[key], int, f"synth.{key}", "a whole number")
    end = raw.get("end")
    return SynthConfig(users=raw.get("users", 2000), days=raw.get("days", 120),
                       seed=raw.get("seed", 42), end=str(end) if end is not None else None)


