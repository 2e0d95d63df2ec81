"""The public surface of the runner package is deliberate: this test locks it."""

from __future__ import annotations

import runner


def test_exported_members() -> None:
    assert sorted(runner.__all__) == [
        "BuildOptions", "BuildResult", "Connection", "PlanResult", "PlatformError", "Project",
        "ProjectError", "RunError", "RunnerError", "__version__", "build", "clean", "connect",
        "load", "open_session", "plan", "retry",
    ]
    for name in runner.__all__:
        assert hasattr(runner, name), name


def test_connection_methods() -> None:
    """The notebook API is deliberate too: a Connection's public methods."""
    assert sorted(name for name in vars(runner.Connection) if not name.startswith("_")) == [
        "build", "close", "create_audience", "dataset", "datasets", "drop", "estimate_audience",
        "ingest_scores", "query", "read", "show", "table", "translate", "workspace", "write",
    ]


def test_error_tree() -> None:
    assert issubclass(runner.ProjectError, runner.RunnerError)
    assert issubclass(runner.RunError, runner.RunnerError)
    assert issubclass(runner.PlatformError, runner.RunError)
    assert runner.ProjectError("x").exit_code == 2
    assert runner.RunError("x").exit_code == 1
    assert str(runner.ProjectError("bad", "models/a.sql", 3, 14)) == "models/a.sql:3:14: bad"


def test_build_takes_a_string_path_and_default_options(tmp_path, monkeypatch) -> None:
    """From a notebook: ``runner.build("path")`` builds the project there, twice if asked."""
    root = tmp_path / "demo"
    (root / "models").mkdir(parents=True)
    (root / "project.yml").write_text("name: demo\n")
    (root / "models" / "m.sql").write_text("SELECT 1 AS n")
    lines: list[str] = []
    first = runner.build(str(root), echo=lines.append)
    second = runner.build(str(root), echo=lines.append)
    assert [r.status for r in first.results] == ["success"]
    assert [r.status for r in second.results] == ["noop"]
    assert runner.load(str(root)).models.keys() == {"m"}
    assert runner.clean(str(root), echo=lines.append) == []
