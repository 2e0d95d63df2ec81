"""project.yml validation: every error names project.yml, the key path and what is expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.errors import ProjectError
from runner.project.config import load_project, parse_project
from runner.run.session import check_config

ROOT = Path(".")


@pytest.mark.parametrize(("raw", "message"), [
    ([], "project.yml: the top level: expected a mapping of keys such as name, sources, targets, "
         "got list []"),
    ({}, "project.yml: name: missing; give the project a name (name: my_features)"),
    ({"name": "x", "srcs": {}}, "project.yml: srcs: unknown key"),
    ({"name": 3}, "project.yml: name: expected a string, got int 3"),
    ({"name": "x", "dialect": "tsql"}, "project.yml: dialect: 'tsql' is not supported"),
    ({"name": "x", "default_target": "t", "targets": {"t": {"path": "a"}}},
     "project.yml: targets.t.type: missing"),
    ({"name": "x", "default_target": "t", "targets": {"t": {"type": "oracle"}}},
     "project.yml: targets.t.type: unknown target type 'oracle' (one of: data_distiller, duckdb, "
     "postgres, spark)"),
    ({"name": "x", "targets": {"t": {"type": "duckdb", "threads": "4"}}},
     "project.yml: targets.t.threads: expected a whole number, got str '4'"),
    ({"name": "x", "targets": {"t": {"type": "duckdb", "threads": 0}}},
     "project.yml: targets.t.threads: expected a whole number >= 1, got 0"),
    ({"name": "x", "targets": {"t": {"type": "duckdb", "threads": -3}}},
     "project.yml: targets.t.threads: expected a whole number >= 1, got -3"),
    ({"name": "x", "default_target": "prod"},
     "project.yml: default_target: 'prod' is not one of targets (local)"),
    ({"name": "x", "sources": {"ev": {"descrption": "d"}}},
     "project.yml: sources.ev.descrption: unknown key (did you mean 'description'?)"),
    ({"name": "x", "sources": {"ev": {"synthetic": "a", "path": "b"}}},
     "project.yml: sources.ev: give either 'synthetic' or 'path', not both"),
    ({"name": "x", "vars": [1]}, "project.yml: vars: expected a mapping, got list [1]"),
    ({"name": "x", "keep_versions": 0}, "project.yml: keep_versions: must be at least 1"),
    ({"name": "x", "keep_versions": True},
     "project.yml: keep_versions: expected a whole number >= 1, got bool True"),
    ({"name": "x", "synth": {"users": "many"}},
     "project.yml: synth.users: expected a whole number, got str 'many'"),
])
def test_invalid(raw, message) -> None:
    with pytest.raises(ProjectError) as info:
        check_config(parse_project(raw, ROOT))
    assert str(info.value).startswith(message)
    assert info.value.exit_code == 2


def test_defaults() -> None:
    cfg = parse_project({"name": "x"}, ROOT)
    assert cfg.default_target == "local"
    assert cfg.targets == {"local": {"type": "duckdb", "path": "target/local.duckdb"}}
    assert cfg.dialect == "spark" and cfg.keep_versions == 1 and cfg.exports == []


def test_env_substitution(monkeypatch) -> None:
    monkeypatch.setenv("AS_OF", "2026-05-01")
    cfg = parse_project({"name": "x", "vars": {"as_of": "${AS_OF}", "n": "${N:-7}"}}, ROOT)
    assert cfg.vars == {"as_of": "2026-05-01", "n": "7"}
    monkeypatch.delenv("AS_OF")
    with pytest.raises(ProjectError, match=r"project.yml: vars.as_of: environment variable AS_OF "
                                           r"is not set"):
        parse_project({"name": "x", "vars": {"as_of": "${AS_OF}"}}, ROOT)


def test_target_env_is_substituted_only_when_used(monkeypatch) -> None:
    monkeypatch.delenv("PG_DSN", raising=False)
    raw = {"name": "x", "targets": {"local": {"type": "duckdb"},
                                    "pg": {"type": "postgres", "dsn": "${PG_DSN}"}}}
    cfg = parse_project(raw, ROOT)  # loading does not need PG_DSN
    assert cfg.target(None)[0] == "local"
    with pytest.raises(ProjectError, match="targets.pg.dsn: environment variable PG_DSN"):
        cfg.target("pg")


def test_yaml_syntax_error_has_line(tmp_path) -> None:
    (tmp_path / "project.yml").write_text("name: x\nvars:\n  a: [1, 2\n")
    with pytest.raises(ProjectError) as info:
        load_project(tmp_path)
    assert str(info.value).startswith("project.yml:4:1: not valid YAML")


def test_missing_project_file(tmp_path) -> None:
    with pytest.raises(ProjectError, match="no project.yml in"):
        load_project(tmp_path)


def test_duplicate_keys_are_errors(tmp_path) -> None:
    (tmp_path / "project.yml").write_text("name: x\nkeep_versions: 2\nkeep_versions: 1\n")
    with pytest.raises(ProjectError) as info:
        load_project(tmp_path)
    assert str(info.value) == "project.yml:3:1: not valid YAML: key 'keep_versions' is given twice"


def test_a_dot_env_file_sets_what_the_environment_does_not(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("RUNNER_TEST_AS_OF", raising=False)
    monkeypatch.setenv("RUNNER_TEST_KEPT", "from the shell")
    (tmp_path / "project.yml").write_text(
        "name: x\nvars: {as_of: '${RUNNER_TEST_AS_OF}', kept: '${RUNNER_TEST_KEPT}'}\n")
    (tmp_path / ".env").write_text("RUNNER_TEST_AS_OF=2026-05-31\nRUNNER_TEST_KEPT=from .env\n")
    try:
        cfg = load_project(tmp_path)
        assert cfg.vars == {"as_of": "2026-05-31", "kept": "from the shell"}
    finally:
        monkeypatch.delenv("RUNNER_TEST_AS_OF", raising=False)
