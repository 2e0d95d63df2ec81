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
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from runner.errors import ProjectError

PROJECT_FILE = "project.yml"
DIALECTS = ("spark",)
DEFAULT_LOCAL_TARGET = {"type": "duckdb", "path": "target/local.duckdb"}
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class SourceConfig:
    """A raw dataset the models read.

    ``identifier`` is the table's name in the engine (defaults to the source name); locally a
    source may be produced by the synthetic generator (``synthetic``) or read from a file (``path``).
    """

    name: str
    identifier: str
    description: str = ""
    columns: dict[str, str] = field(default_factory=dict)
    synthetic: str | None = None
    path: str | None = None


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
    exports: list[Any] = field(default_factory=list)
    keep_versions: int = 1

    def target(self, name: str | None) -> tuple[str, dict[str, Any]]:
        """The named (or default) target block with ``${ENV}`` references substituted."""
        name = name or self.default_target
        if name not in self.targets:
            raise ProjectError(
                f"unknown target '{name}'{did_you_mean(name, self.targets)}; "
                f"targets in project.yml: {', '.join(sorted(self.targets))}"
            )
        block = substitute_env(self.targets[name], f"targets.{name}")
        from runner.adapters import adapter_class

        adapter_class(block["type"], f"targets.{name}").validate_config(block, f"targets.{name}")
        return name, block


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (YAML would keep the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key '{key}' is given twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """Parse YAML strictly (duplicate keys are errors); raises yaml.YAMLError."""
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass


def yaml_problem(err: yaml.YAMLError) -> tuple[str, int | None, int | None]:
    """The problem, 1-based line and column of a YAML error."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    return problem, (mark.line + 1 if mark else None), (mark.column + 1 if mark else None)


def load_project(root: Path) -> ProjectConfig:
    """Read and validate ``root/project.yml``.

    Raises:
        ProjectError: the file is missing, is not YAML, or breaks the schema.
    """
    path = root / PROJECT_FILE
    if not path.is_file():
        raise ProjectError(
            f"no {PROJECT_FILE} in {root.resolve()} (run the runner from a project folder, "
            "or pass --project-dir)"
        )
    try:
        raw = load_yaml(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        problem, line, col = yaml_problem(err)
        raise ProjectError(f"not valid YAML: {problem}", PROJECT_FILE, line, col) from None
    return parse_project(raw, root)


def parse_project(raw: Any, root: Path) -> ProjectConfig:
    """Validate the parsed YAML of project.yml and build a ProjectConfig."""
    expect(raw, dict, "the top level", "a mapping of keys such as name, sources, targets")
    check_keys(raw, {"name", "dialect", "default_target", "targets", "vars", "sources", "synth",
                     "exports", "keep_versions"}, "")
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
    sources = _parse_sources(raw.get("sources") or {})
    synth = _parse_synth(raw.get("synth") or {})
    keep = expect(raw.get("keep_versions", 1), int, "keep_versions", "a whole number >= 1")
    if keep < 1:
        raise ProjectError("keep_versions: must be at least 1 (the current version)", PROJECT_FILE)
    exports_raw = substitute_env(expect(raw.get("exports") or [], list, "exports", "a list"), "exports")
    exports: list[Any] = []
    if exports_raw:
        from destinations import parse_exports

        exports = parse_exports(exports_raw, "exports")
    return ProjectConfig(name=name, root=root, dialect=dialect, default_target=default_target,
                         targets=targets, vars=vars_, sources=sources, synth=synth, exports=exports,
                         keep_versions=keep)


def _parse_targets(raw: Any) -> dict[str, dict[str, Any]]:
    if raw is None:
        return {"local": dict(DEFAULT_LOCAL_TARGET)}
    expect(raw, dict, "targets", "a mapping of target name to settings")
    targets: dict[str, dict[str, Any]] = {}
    from runner.adapters import ADAPTERS

    for name, block in raw.items():
        keypath = f"targets.{name}"
        expect(block, dict, keypath, "a mapping with at least 'type'")
        if "type" not in block:
            raise ProjectError(f"{keypath}.type: missing; one of {', '.join(sorted(ADAPTERS))}",
                               PROJECT_FILE)
        kind = expect(block["type"], str, f"{keypath}.type", "a string")
        if kind not in ADAPTERS:
            raise ProjectError(f"{keypath}.type: unknown target type '{kind}' "
                               f"(one of: {', '.join(sorted(ADAPTERS))})", PROJECT_FILE)
        if "threads" in block and (not isinstance(block["threads"], int)
                                   or isinstance(block["threads"], bool) or block["threads"] < 1):
            expect(block["threads"], int, f"{keypath}.threads", "a whole number")
            raise ProjectError(f"{keypath}.threads: expected a whole number >= 1, got "
                               f"{block['threads']}", PROJECT_FILE)
        from runner.adapters import adapter_class

        check_keys(block, {"type", "threads", *adapter_class(kind, keypath).config_keys}, keypath)
        targets[str(name)] = dict(block)
    return targets


def _parse_sources(raw: Any) -> dict[str, SourceConfig]:
    expect(raw, dict, "sources", "a mapping of source table name to settings")
    sources: dict[str, SourceConfig] = {}
    for name, block in raw.items():
        keypath = f"sources.{name}"
        block = substitute_env(block or {}, keypath)
        expect(block, dict, keypath, "a mapping (or empty)")
        check_keys(block, {"description", "columns", "identifier", "synthetic", "path"}, keypath)
        columns = block.get("columns") or {}
        if isinstance(columns, list):
            columns = {str(c): "" for c in columns}
        expect(columns, dict, f"{keypath}.columns", "a mapping of column name to description")
        for key in ("description", "identifier", "synthetic", "path"):
            if key in block:
                expect(block[key], str, f"{keypath}.{key}", "a string")
        if "synthetic" in block and "path" in block:
            raise ProjectError(f"{keypath}: give either 'synthetic' or 'path', not both", PROJECT_FILE)
        key = normalize_name(str(name))
        if key in sources:
            raise ProjectError(f"{keypath}: declared twice (source names are case-insensitive)",
                               PROJECT_FILE)
        sources[key] = SourceConfig(
            name=key, identifier=block.get("identifier", str(name)),
            description=block.get("description", ""),
            columns={str(k): str(v or "") for k, v in columns.items()},
            synthetic=block.get("synthetic"), path=block.get("path"))
    return sources


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


# -- helpers shared by every block's validation ------------------------------------------------
def normalize_name(name: str) -> str:
    """The one normalisation of table and model names (Spark resolves them case-insensitively)."""
    return name.strip().lower()


def check_keys(block: dict[str, Any], allowed: set[str], keypath: str) -> None:
    """ProjectError for the first key of ``block`` not in ``allowed``, with a suggestion."""
    for key in block:
        if key not in allowed:
            where = f"{keypath}.{key}" if keypath else str(key)
            raise ProjectError(f"{where}: unknown key{did_you_mean(str(key), allowed)} "
                               f"(allowed: {', '.join(sorted(allowed))})", PROJECT_FILE)


def expect(value: Any, kind: type | tuple[type, ...], keypath: str, what: str) -> Any:
    """Return ``value`` if it is of ``kind`` (bool is never an int here), else ProjectError."""
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        raise ProjectError(f"{keypath}: expected {what}, got {type(value).__name__} {value!r}",
                           PROJECT_FILE)
    return value


def substitute_env(value: Any, keypath: str) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string of ``value`` (recursively)."""
    if isinstance(value, dict):
        return {k: substitute_env(v, f"{keypath}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [substitute_env(v, f"{keypath}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        var, default = match.group(1), match.group(2)
        if var in os.environ:
            return os.environ[var]
        if default is not None:
            return default
        raise ProjectError(f"{keypath}: environment variable {var} is not set (set it, or write "
                           f"${{{var}:-default}})", PROJECT_FILE)

    return _ENV_REF.sub(replace, value)


def did_you_mean(name: str, choices: Any) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or an empty string."""
    import difflib

    close = difflib.get_close_matches(name.lower(), [str(c).lower() for c in choices], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
