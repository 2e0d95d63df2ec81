"""A dbt-style SQL feature-project runner for Adobe Experience Platform Data Distiller.

The public surface (locked by tests/test_public_api.py)::

    from runner import build, plan, retry, BuildOptions, connect, load, RunnerError

Names are imported on first use (PEP 562), so importing one stage module (``runner.errors``,
``runner.validation``) does not import the whole runner, and no submodule depends on this one.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from runner.version import __version__

_PUBLIC = {
    "BuildOptions": "runner.run.options",
    "BuildResult": "runner.run.results",
    "build": "runner.run.build",
    "plan": "runner.run.planner",
    "PlanResult": "runner.run.planner",
    "retry": "runner.run.retry",
    "clean": "runner.run.clean",
    "connect": "runner.run.connection",
    "Connection": "runner.run.connection",
    "open_session": "runner.run.session",
    "load": "runner.run.session",
    "Project": "runner.project.loader",
    "PlatformError": "runner.errors",
    "ProjectError": "runner.errors",
    "RunError": "runner.errors",
    "RunnerError": "runner.errors",
}

__all__ = sorted([*_PUBLIC, "__version__"])

if TYPE_CHECKING:
    from runner.errors import PlatformError, ProjectError, RunError, RunnerError
    from runner.project.loader import Project
    from runner.run.build import build
    from runner.run.clean import clean
    from runner.run.connection import Connection, connect
    from runner.run.options import BuildOptions
    from runner.run.planner import PlanResult, plan
    from runner.run.results import BuildResult
    from runner.run.retry import retry
    from runner.run.session import load, open_session


# IPython's hook for ``%load_ext runner`` (not part of the public surface).
_HOOKS = {"load_ipython_extension": "runner.run.magic"}


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name) or _HOOKS.get(name)
    if module is None:
        raise AttributeError(f"module 'runner' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
