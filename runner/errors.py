"""The runner's exceptions, one small tree.

    RunnerError                 root; ``exit_code`` is what the CLI exits with
    ├── ProjectError            exit 2: the project or the command line is wrong (project.yml,
    │                           a model or macro file, a selector, a construct that cannot be
    │                           transpiled). Carries an optional location ``path:line:col``.
    └── RunError                exit 1: the project is fine but running it failed (a database
        │                       error, an interrupted build, a failed export)
        └── PlatformError       an Adobe Platform REST call failed; carries ``status`` and ``code``

A message says what is wrong, where, and what to do. Messages never contain secrets: code that
formats a message from a response or a DSN masks credentials first (``runner.platform.secrets``).
"""

from __future__ import annotations

from pathlib import Path


class RunnerError(Exception):
    """Root of every error the runner reports to a user."""

    exit_code = 1


class ProjectError(RunnerError):
    """The project, its configuration or the command line is wrong (exit code 2).

    Args:
        message: what is wrong and how to fix it.
        path: the file it is in, if any (shown relative to the project when possible).
        line: 1-based line in ``path``.
        col: 1-based column in ``path``.
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        path: str | Path | None = None,
        line: int | None = None,
        col: int | None = None,
    ) -> None:
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.col = col
        super().__init__(self._render())

    def _render(self) -> str:
        if self.path is None:
            return self.message
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
            if self.col is not None:
                where += f":{self.col}"
        return f"{where}: {self.message}"

    def at(self, path: str | Path, line: int | None = None, col: int | None = None) -> ProjectError:
        """Return a copy of this error located in ``path`` (used when a location is learnt late)."""
        return type(self)(self.message, path, line if line is not None else self.line,
                          col if col is not None else self.col)


class RunError(RunnerError):
    """Running the project failed (exit code 1)."""

    exit_code = 1


class PlatformError(RunError):
    """An Adobe Platform API call failed.

    Args:
        message: one line naming the call and what the service said.
        status: the HTTP status, or None when no response arrived.
        code: the service's error code (``error_code``, ``title`` or ``code``), if any.
    """

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        self.status = status
        self.code = code
        super().__init__(message)
