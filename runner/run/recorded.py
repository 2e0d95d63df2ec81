"""What the last build recorded of the sources in ``target/manifest.json`` (see
``runner.run.manifest``), read back so ``runner compile`` on a remote engine needs no connection:
each source's column types and data version, from a manifest of the same target.
"""

from __future__ import annotations

from pathlib import Path

from sqlglot import exp

from runner.run.atomic import read_json

EXTENSION = "runner"  # the key of the runner's own facts in each node's ``meta``


def known_sources(path: Path, target: str, dialect: str
                  ) -> tuple[dict[str, dict[str, exp.DataType]], dict[str, str]]:
    """What the manifest at ``path`` recorded of the sources on ``target``: column types by
    identifier, data versions by source name (empty when it is from another target or absent)."""
    types: dict[str, dict[str, exp.DataType]] = {}
    versions: dict[str, str] = {}
    for source in (read_json(path, {}).get("sources") or {}).values():
        runner = (source.get("meta") or {}).get(EXTENSION) or {}
        if runner.get("target") != target:
            continue
        if "data_version" in runner:
            versions[source["name"]] = runner["data_version"]
        columns = {}
        for column, info in (source.get("columns") or {}).items():
            try:
                columns[column] = exp.DataType.build(info["data_type"], dialect=dialect)
            except Exception:  # noqa: BLE001 - absent or unreadable: the type is unknown
                continue
        if columns:
            types[source["identifier"]] = columns
    return types, versions
