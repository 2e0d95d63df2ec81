"""Validation helpers every stage shares: strict YAML, key and type checks, name normalisation.

A leaf: it imports nothing of the runner but its errors, so project config, adapters and
``destinations`` all validate their blocks the same way, and every message names
``project.yml`` and the key path.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any

import yaml

from runner.errors import ProjectError

PROJECT_FILE = "project.yml"


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


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


def yaml_lines(text: str) -> dict[tuple[Any, ...], int]:
    """The 1-based line of every key and list item in ``text``, by its path (keys and list
    indices), so a check of a value can name the line it is on; ``{}`` if it does not parse.

    >>> yaml_lines("a:\\n  - x\\n  - {b: 1}\\n")[("a", 1, "b")]
    3
    """
    try:
        root = yaml.compose(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError:
        return {}
    lines: dict[tuple[Any, ...], int] = {}
    stack: list[tuple[tuple[Any, ...], Any]] = [((), root)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                lines[(*path, key.value)] = key.start_mark.line + 1
                stack.append(((*path, key.value), value))
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                lines[(*path, index)] = item.start_mark.line + 1
                stack.append(((*path, index), item))
    return lines


def yaml_problem(err: yaml.YAMLError) -> tuple[str, int | None, int | None]:
    """The problem, 1-based line and column of a YAML error."""
    mark = getattr(err, "problem_mark", None)
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    return problem, (mark.line + 1 if mark else None), (mark.column + 1 if mark else None)


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
    spelled = {str(c).lower(): str(c) for c in choices}
    close = difflib.get_close_matches(name.lower(), list(spelled), n=1, cutoff=0.6)
    return f" (did you mean '{spelled[close[0]]}'?)" if close else ""


def read_text(file: Path, shown: str) -> str:
    """A project file's text: UTF-8, with or without the byte-order mark Windows editors write.

    Raises:
        ProjectError: the file cannot be read, or is not UTF-8 (naming the first bad byte's
            line and column), located at ``shown`` (its path as the user knows it).
    """
    try:
        data = file.read_bytes()
    except OSError as err:
        raise ProjectError(f"cannot read the file: {err.strerror or err} (check that it exists "
                           "and is readable)", shown) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
        before = data[start:err.start]
        line = before.count(b"\n") + 1
        col = len(before) - (before.rfind(b"\n") + 1) + 1
        raise ProjectError(f"not UTF-8 (byte 0x{data[err.start]:02X} at line {line}, column "
                           f"{col}); save the file as UTF-8", shown, line, col) from None
