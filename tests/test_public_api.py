"""The public surface of the runner package is deliberate: this test locks it."""

from __future__ import annotations

import runner


def test_exported_members() -> None:
    assert sorted(runner.__all__) == [
        "BuildOptions", "BuildResult", "PlatformError", "Project", "ProjectError", "RunError",
        "RunnerError", "__version__", "build", "clean", "load", "open_session",
    ]
    for name in runner.__all__:
        assert hasattr(runner, name), name


def test_error_tree() -> None:
    assert issubclass(runner.ProjectError, runner.RunnerError)
    assert issubclass(runner.RunError, runner.RunnerError)
    assert issubclass(runner.PlatformError, runner.RunError)
    assert runner.ProjectError("x").exit_code == 2
    assert runner.RunError("x").exit_code == 1
    assert str(runner.ProjectError("bad", "models/a.sql", 3, 14)) == "models/a.sql:3:14: bad"
