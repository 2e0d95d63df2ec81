"""The adapter contract: what every engine declares, its typed config, and local sources.

The core never asks an adapter what it is (``type``, ``dialect``) to decide what to do; it reads
the capabilities each concrete adapter declares itself. These tests hold every registered
adapter to that, and check the one engine that holds local sources (DuckDB) against one that
does not (PostgreSQL) on the same project.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from pathlib import Path

import pyarrow as pa
import pytest

from runner.adapters import ADAPTERS, Adapter, adapter_class
from runner.adapters.base import TargetConfig
from runner.adapters.data_distiller import DataDistillerAdapter, DataDistillerConfig
from runner.adapters.duckdb import DuckDBAdapter, DuckDBConfig
from runner.adapters.pg_common import StatementInfo, statement_info
from runner.adapters.postgres import PostgresAdapter, PostgresConfig
from runner.cli.commands import run_synth
from runner.errors import ProjectError
from runner.project.config import load_project
from runner.run.options import BuildOptions
from runner.sources.prepare import (VERSIONS_TABLE, prepare_local_sources, record_versions,
                                    source_versions)

CLASSES = [adapter_class(name) for name in sorted(ADAPTERS)]
# Nothing listens on port 1: an adapter that tried to connect would fail loudly.
DEAD_DSN = "postgresql://runner:s3cret@127.0.0.1:1/nowhere?connect_timeout=1"


# -- the contract -------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.type)
def test_every_adapter_implements_the_whole_interface(cls: type[Adapter]) -> None:
    assert not inspect.isabstract(cls), sorted(cls.__abstractmethods__)
    assert ADAPTERS[cls.type].endswith(f":{cls.__name__}")
    for name in ("type", "dialect", "config_class", *Adapter.CAPABILITIES):
        assert name in vars(cls), f"{cls.__name__} does not declare {name} itself"
    assert isinstance(cls.binds, bool) and isinstance(cls.runs_translated_sql, bool)
    assert isinstance(cls.creates_local_sources, bool)
    assert isinstance(cls.file_suffixes, frozenset)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.type)
def test_local_sources_are_declared_together_with_their_methods(cls: type[Adapter]) -> None:
    implements = {name: getattr(cls, name) is not getattr(Adapter, name)
                  for name in ("load_arrow", "file_view_sql")}
    assert implements == {"load_arrow": cls.creates_local_sources,
                          "file_view_sql": cls.creates_local_sources}
    assert bool(cls.file_suffixes) == cls.creates_local_sources


def test_the_capabilities_of_each_engine() -> None:
    table = {cls.type: tuple(getattr(cls, name) for name in Adapter.CAPABILITIES[:3])
             for cls in CLASSES}
    # (binds, runs_translated_sql, creates_local_sources)
    assert table == {"data_distiller": (False, False, False), "duckdb": (True, True, True),
                     "postgres": (True, True, False), "spark": (True, False, True)}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.type)
def test_the_typed_config_has_exactly_the_documented_keys(cls: type[Adapter]) -> None:
    config_class = cls.config_class
    assert issubclass(config_class, TargetConfig) and config_class is not TargetConfig
    assert dataclasses.fields(config_class)  # a dataclass
    assert {f.name for f in dataclasses.fields(config_class)} == {"threads", *cls.config_keys}
    config = cls.parse_config({**_minimal_block(cls), "threads": 2}, "targets.t")
    assert type(config) is config_class and config.threads == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.threads = 3  # type: ignore[misc]


def _minimal_block(cls: type[Adapter]) -> dict[str, object]:
    return {"type": cls.type, **({"dsn": DEAD_DSN} if cls is PostgresAdapter else {})}


# -- typed config -------------------------------------------------------------------------------
def test_configs_are_typed_with_their_defaults(tmp_path: Path) -> None:
    duck = DuckDBAdapter("local", {"type": "duckdb"}, tmp_path)
    assert duck.config == DuckDBConfig(threads=None, path="target/local.duckdb")
    assert duck.path == str((tmp_path / "target/local.duckdb").resolve())
    pg = PostgresAdapter("pg", {"type": "postgres", "dsn": DEAD_DSN, "threads": 2}, tmp_path)
    assert (pg.config.dsn, pg.config.schema, pg.config.threads, pg.schema) == (
        DEAD_DSN, None, 2, None)
    dd = DataDistillerAdapter("aep", {"type": "data_distiller", "poll_interval": 2,
                                      "sandbox": "dev"}, tmp_path)
    assert dd.config == DataDistillerConfig(sandbox="dev", poll_interval=2.0)
    assert isinstance(dd.config.poll_interval, float)
    assert (dd.config.query_timeout, dd.config.sslmode, dd.config.max_concurrent_queries,
            dd.config.single_dataset, dd.config.ims_host) == (86400.0, "require", 1, False, None)


def test_a_postgres_config_never_shows_its_dsn() -> None:
    config = PostgresConfig.from_block({"type": "postgres", "dsn": DEAD_DSN, "schema": "f"},
                                       "targets.pg")
    assert repr(config) == "PostgresConfig(threads=None, schema='f')"
    assert "s3cret" not in repr(config)


@pytest.mark.parametrize(("block", "message"), [
    ({"type": "duckdb", "path": 3}, "targets.t.path: expected a file path, got int 3"),
    ({"type": "duckdb", "pth": "x"}, "targets.t.pth: unknown key (did you mean 'path'?)"),
    ({"type": "postgres"}, "targets.t.dsn: missing; set a PostgreSQL connection string"),
    ({"type": "postgres", "dsn": DEAD_DSN, "schema": 1},
     "targets.t.schema: expected a schema name, got int 1"),
    ({"type": "data_distiller", "poll_interval": -1},
     "targets.t.poll_interval: expected seconds > 0, got -1"),
])
def test_an_adapter_refuses_a_malformed_block(tmp_path: Path, block: dict, message: str) -> None:
    cls = adapter_class(str(block["type"]))
    with pytest.raises(ProjectError) as err:
        cls("t", block, tmp_path)
    assert str(err.value).startswith(f"project.yml: {message}")


# -- local sources ------------------------------------------------------------------------------
@pytest.fixture
def sources_project(tmp_path: Path) -> Path:
    """A project with a synthetic source and CSV, JSON and Parquet file sources."""
    import pyarrow.parquet as pq

    (tmp_path / "people.csv").write_text("id,name\n1,ann\n2,bob\n", encoding="utf-8")
    (tmp_path / "clicks.jsonl").write_text(
        "\n".join(json.dumps({"id": i, "n": i * 10}) for i in (1, 2, 3)) + "\n", encoding="utf-8")
    pq.write_table(pa.table({"v": [1.5, 2.5]}), tmp_path / "values.parquet")
    (tmp_path / "project.yml").write_text(
        "name: demo\n"
        "sources:\n"
        "  events: {synthetic: profiles, identifier: synth_people}\n"
        "  people: {path: people.csv}\n"
        "  clicks: {path: clicks.jsonl}\n"
        "  values: {path: values.parquet}\n"
        "synth: {users: 7, days: 3, seed: 1}\n", encoding="utf-8")
    return tmp_path


def test_duckdb_creates_synthetic_and_file_sources(sources_project: Path) -> None:
    config = load_project(sources_project)
    lines: list[str] = []
    with DuckDBAdapter("local", {"type": "duckdb", "path": ":memory:"}, sources_project) as duck:
        created = prepare_local_sources(config, duck, config.sources, lines.append)
        assert sorted(created) == ["clicks", "people", "synth_people", "values"]
        assert duck.relations() == {"synth_people": "table", "people": "view",
                                    "clicks": "view", "values": "view", VERSIONS_TABLE: "table"}
        assert duck.fetch("SELECT count(*) FROM synth_people") == [(7,)]
        assert duck.fetch("SELECT id, name FROM people ORDER BY id") == [(1, "ann"), (2, "bob")]
        assert duck.fetch("SELECT sum(n) FROM clicks") == [(60,)]
        assert duck.fetch("SELECT sum(v) FROM \"values\"") == [(4.0,)]
        assert prepare_local_sources(config, duck, config.sources, lines.append) == []
        versions = source_versions(config, duck, config.sources)
    assert sorted(versions) == ["clicks", "events", "people", "values"]
    assert versions["events"].startswith("synth SynthOptions(users=7, days=3, seed=1")
    assert versions["people"].startswith("file [('people.csv', 20, ")
    assert lines == ["source synth_people: generated 7 synthetic rows (users=7, days=3, seed=1)",
                     "source clicks: view over clicks.jsonl", "source people: view over people.csv",
                     "source values: view over values.parquet"]


def test_recording_a_version_again_replaces_it() -> None:
    with DuckDBAdapter("local", {"type": "duckdb", "path": ":memory:"}, Path(".")) as duck:
        record_versions(duck, {"Events": "synth a"})
        record_versions(duck, {"events": "synth b", "people": "synth b"})
        assert sorted(duck.fetch(f"SELECT * FROM {VERSIONS_TABLE}")) == [
            ("events", "synth b"), ("people", "synth b")]


def test_an_unreadable_file_type_names_the_readable_ones(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x\n", encoding="utf-8")
    (tmp_path / "project.yml").write_text("name: demo\nsources:\n  notes: {path: notes.txt}\n",
                                          encoding="utf-8")
    config = load_project(tmp_path)
    with DuckDBAdapter("local", {"type": "duckdb", "path": ":memory:"}, tmp_path) as duck:
        with pytest.raises(ProjectError) as err:
            prepare_local_sources(config, duck, ["notes"], print)
    assert str(err.value) == ("project.yml: sources.notes.path: unknown file type '.txt' (one of "
                              ".csv, .json, .jsonl, .ndjson, .parquet)")


def test_a_synthetic_source_needs_a_plain_table_name(tmp_path: Path) -> None:
    (tmp_path / "project.yml").write_text(
        "name: demo\nsources:\n  events: {synthetic: profiles, identifier: raw.events}\n"
        "synth: {users: 2, days: 1}\n", encoding="utf-8")
    config = load_project(tmp_path)
    with DuckDBAdapter("local", {"type": "duckdb", "path": ":memory:"}, tmp_path) as duck:
        with pytest.raises(ProjectError) as err:
            prepare_local_sources(config, duck, ["events"], print)
        assert duck.relations() == {}
    assert str(err.value) == "synthetic data: table name 'raw.events' must be a plain identifier"


def test_an_engine_without_local_sources_is_left_alone(sources_project: Path) -> None:
    config = load_project(sources_project)
    lines: list[str] = []
    pg = PostgresAdapter("pg", {"type": "postgres", "dsn": DEAD_DSN}, sources_project)
    # neither call connects (the DSN is dead) nor reports a version it cannot see change
    assert prepare_local_sources(config, pg, config.sources, lines.append) == []
    assert source_versions(config, pg, config.sources) == {}
    assert lines == []


def test_synth_refuses_a_target_without_local_sources(sources_project: Path) -> None:
    text = (sources_project / "project.yml").read_text(encoding="utf-8")
    targets = f"targets:\n  local: {{type: duckdb}}\n  pg: {{type: postgres, dsn: '{DEAD_DSN}'}}\n"
    (sources_project / "project.yml").write_text(text + targets, encoding="utf-8")
    (sources_project / "models").mkdir()
    (sources_project / "models" / "m.sql").write_text("SELECT 1 AS x\n", encoding="utf-8")
    with pytest.raises(ProjectError) as err:
        run_synth(sources_project, BuildOptions(target="pg"), echo=print)
    assert str(err.value) == ("runner synth writes into a DuckDB target or a Data Distiller "
                              "sandbox; 'pg' is postgres (use --out DIR for Parquet files)")


# -- statement_info reads sources through the project's one extractor ---------------------------
@pytest.mark.parametrize(("sql", "info"), [
    ("WITH c AS (SELECT * FROM s) INSERT INTO t SELECT * FROM c",
     StatementInfo("insert", False, "t", ("s",))),
    ("CREATE TABLE t AS WITH x AS (SELECT * FROM Src) SELECT * FROM x JOIN y ON TRUE",
     StatementInfo("create_table", False, "t", ("src", "y"))),
    ("SELECT * FROM (SELECT * FROM db.Tab) q WHERE EXISTS (SELECT 1 FROM w)",
     StatementInfo("select", True, None, ("db.tab", "w"))),
    ("INSERT INTO t VALUES (1)", StatementInfo("insert", False, "t", ())),
    ("CREATE TABLE t AS SELECT * FROM t__old", StatementInfo("create_table", False, "t",
                                                               ("t__old",))),
])
def test_statement_sources_exclude_ctes_and_the_target(sql: str, info: StatementInfo) -> None:
    assert statement_info(sql, "postgres") == info


@pytest.mark.parametrize("wait", ["soon", -1, True])
def test_a_bad_lock_wait_is_a_project_error(tmp_path, wait) -> None:
    from runner.adapters.duckdb import DuckDBAdapter
    from runner.errors import ProjectError

    with pytest.raises(ProjectError) as raised:
        DuckDBAdapter("local", {"type": "duckdb", "lock_wait": wait}, tmp_path)
    assert str(raised.value) == ("project.yml: targets.local.lock_wait must be a number of "
                                 f"seconds (0 or more), got {wait!r}")
