"""A dbt-style SQL feature-project runner for Adobe Experience Platform Data Distiller.

The public surface (locked by tests/test_public_api.py)::

    from runner import build, BuildOptions, load, RunnerError
"""

__version__ = "0.1.0"

from runner.build import BuildOptions, BuildResult, build, clean, open_session  # noqa: E402
from runner.errors import PlatformError, ProjectError, RunError, RunnerError  # noqa: E402
from runner.project import Project, load  # noqa: E402

__all__ = [
    "BuildOptions",
    "BuildResult",
    "PlatformError",
    "Project",
    "ProjectError",
    "RunError",
    "RunnerError",
    "__version__",
    "build",
    "clean",
    "load",
    "open_session",
]
