"""No internal error is reachable from input: Hypothesis breaks a small real project's files
(project.yml, models, macros) and command lines, and the runner must answer every one either
with success or with a one-line ``RunnerError`` (a usage error from argparse is exit 2).

`python tests/fuzz/run_fuzz.py --examples 5000` runs the same properties longer.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mutations import EVENTS, MACROS, MODELS, PROJECT_YML, command_lines, mutated, yaml_documents
from runner.cli.main import main
from runner.errors import ProjectError, RunnerError
from runner.run.options import BuildOptions
from runner.run.session import load, open_session

EXAMPLES = int(os.environ.get("RUNNER_FUZZ_EXAMPLES", "80"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
LOCATED = ("project.yml", "models/", "macros/")


def write_project(root: Path, files: dict[str, bytes]) -> None:
    base = {"project.yml": PROJECT_YML.encode(), "macros/m.sql": MACROS.encode(),
            "data/events.csv": EVENTS.encode(),
            **{f"models/{name}.sql": sql.encode() for name, sql in MODELS.items()}}
    for rel, data in {**base, **files}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)


def check(files: dict[str, bytes], compile_too: bool = True) -> None:
    """Load (and compile) the project: success, or a RunnerError saying where, in one line."""
    root = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        write_project(root, files)
        try:
            load(root)
            if compile_too:
                session = open_session(root, BuildOptions(), echo=lambda _: None)
                session.adapter.close()
        except RunnerError as err:
            text = str(err)
            assert text and "\n" not in text, repr(text)
            assert "Traceback" not in text and "<class" not in text, text
            if isinstance(err, ProjectError):  # the file is named whenever one is at fault
                assert err.path is None or err.path.startswith(LOCATED), text
    finally:
        shutil.rmtree(root, ignore_errors=True)


@FUZZ
@given(st.sampled_from(sorted(MODELS)), st.data())
def test_broken_model_files(name, data) -> None:
    check({f"models/{name}.sql": data.draw(mutated(MODELS[name]))})


@FUZZ
@given(st.data())
def test_broken_macro_files(data) -> None:
    check({"macros/m.sql": data.draw(mutated(MACROS))})


@FUZZ
@given(st.data())
def test_broken_project_yml_text(data) -> None:
    check({"project.yml": data.draw(mutated(PROJECT_YML))}, compile_too=False)


@FUZZ
@given(yaml_documents)
def test_generated_project_yml_documents(document) -> None:
    check({"project.yml": yaml.safe_dump(document).encode()}, compile_too=False)


@FUZZ
@given(command_lines)
def test_command_lines(argv) -> None:
    root = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        write_project(root, {})
        if "build" in argv or "clean" in argv:  # keep to what reads the project
            argv = [a for a in argv if a not in ("build", "clean")] or ["ls"]
        try:
            code = main([*argv, "--project-dir", str(root)])
        except SystemExit as stop:  # argparse: a usage error, one line, exit 2
            assert stop.code in (0, 2)
            return
        assert code in (0, 1, 2)
    finally:
        shutil.rmtree(root, ignore_errors=True)
