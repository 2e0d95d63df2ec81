"""Engine adapters, registered by the ``type:`` of a target in project.yml.

The registry maps a type to ``module:Class`` so drivers (psycopg2, requests) are imported only
when a target of that type is used.
"""

from __future__ import annotations

from importlib import import_module

from runner.adapters.base import Adapter, ExecResult, ModelDDLConfig
from runner.errors import ProjectError

ADAPTERS: dict[str, str] = {
    "duckdb": "runner.adapters.duckdb:DuckDBAdapter",
    "postgres": "runner.adapters.postgres:PostgresAdapter",
    "data_distiller": "runner.adapters.data_distiller:DataDistillerAdapter",
}


def adapter_class(type_name: str, keypath: str = "targets") -> type[Adapter]:
    """The adapter class for a target ``type``; ProjectError naming the choices otherwise."""
    target = ADAPTERS.get(type_name)
    if target is None:
        choices = ", ".join(sorted(ADAPTERS))
        raise ProjectError(f"{keypath}.type: unknown target type '{type_name}' (one of: {choices})",
                           "project.yml")
    module, _, cls = target.partition(":")
    return getattr(import_module(module), cls)


__all__ = ["ADAPTERS", "Adapter", "ExecResult", "ModelDDLConfig", "adapter_class"]
