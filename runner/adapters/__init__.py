"""Engine adapters, registered by the ``type:`` of a target in project.yml.

The registry maps a type to ``module:Class`` so drivers (psycopg2, requests, pyspark) are imported only
when a target of that type is used.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from runner.adapters.base import Adapter, ExecResult
from runner.errors import ProjectError
from runner.validation import PROJECT_FILE, check_keys, expect

ADAPTERS: dict[str, str] = {
    "duckdb": "runner.adapters.duckdb:DuckDBAdapter",
    "postgres": "runner.adapters.postgres:PostgresAdapter",
    "data_distiller": "runner.adapters.data_distiller:DataDistillerAdapter",
    "spark": "runner.adapters.spark:SparkAdapter",
}


def check_target(block: dict[str, Any], keypath: str) -> type[Adapter]:
    """Check a ``targets.<name>`` block's type and keys (ProjectError naming project.yml and
    the key path); returns its adapter class."""
    if "type" not in block:
        raise ProjectError(f"{keypath}.type: missing; one of {', '.join(sorted(ADAPTERS))}",
                           PROJECT_FILE)
    cls = adapter_class(expect(block["type"], str, f"{keypath}.type", "a string"), keypath)
    check_keys(block, {"type", "threads", *cls.config_keys}, keypath)
    return cls


def adapter_class(type_name: str, keypath: str = "targets") -> type[Adapter]:
    """The adapter class for a target ``type``; ProjectError naming the choices otherwise."""
    target = ADAPTERS.get(type_name)
    if target is None:
        choices = ", ".join(sorted(ADAPTERS))
        raise ProjectError(f"{keypath}.type: unknown target type '{type_name}' (one of: {choices})",
                           PROJECT_FILE)
    module, _, cls = target.partition(":")
    return getattr(import_module(module), cls)


__all__ = ["ADAPTERS", "Adapter", "ExecResult", "adapter_class", "check_target"]
