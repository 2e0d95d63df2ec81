"""``runner synth --target <data_distiller target>``: the example's synthetic sources created in
a sandbox through the Schema Registry, Catalog and Batch Ingestion (``runner.run.synth_target``),
and the emulator's strict side of it (standard field groups, datasets that keep the XDM shape,
batch rows checked to the leaf: ``aep_emulator.xdm``).

On the emulator the first run's requests are checked call by call (the tenant field groups,
schemas of the XDM classes with Adobe's standard field groups, datasets, one Parquet batch
each), the tables hold every generated row with XDM's Spark types, and the example project then
builds on the emulated Data Distiller with the same training set as the local DuckDB build. A
second run creates nothing but a batch per dataset and reverts the first. The sandbox ``prod``
is refused before any call unless forced.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from aep_emulator import Emulator
from emulator_fixtures import engine_rows
from runner.cli.main import main
from runner.errors import ProjectError
from runner.sources import xdm
from runner.sources.prepare import synth_options
from runner.project.config import load_project
from runner.sources.synth import generate
from test_emulator_nested import assert_same_training_sets
from test_example_project import copy_example

pytestmark = pytest.mark.postgres

REG = "/data/foundation/schemaregistry"
DATASETS = "/data/foundation/catalog/dataSets"
IMPORT = "/data/foundation/import/batches"
TENANT = "_emu0000000000000000000001"
USERS = 150
STANDARD = {"experience_events": [
    "https://ns.adobe.com/xdm/context/experienceevent-web",
    "https://ns.adobe.com/xdm/context/experienceevent-commerce",
    "https://ns.adobe.com/xdm/context/experienceevent-directmarketing"], "profiles": [
    "https://ns.adobe.com/xdm/context/identitymap",
    "https://ns.adobe.com/xdm/context/profile-person-details",
    "https://ns.adobe.com/xdm/context/profile-personal-details",
    "https://ns.adobe.com/xdm/mixins/profile/profile-loyalty-details",
    "https://ns.adobe.com/xdm/mixins/profile-consents",
    "https://ns.adobe.com/xdm/common/external-source-system-audit-details"]}


def emulated(root: Path, **target: object) -> Path:
    """``root``'s project.yml with an ``emulated`` Data Distiller target on the environment."""
    config = yaml.safe_load((root / "project.yml").read_text(encoding="utf-8"))
    config["targets"]["emulated"] = {
        "type": "data_distiller", "ims_host": "${AEP_IMS_HOST}",
        "platform_host": "${AEP_PLATFORM_HOST}", "sslmode": "disable", "poll_interval": 0.05,
        "max_concurrent_queries": 2, **target}
    (root / "project.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return root


def synth_cli(root: Path, *args: str) -> int:
    try:
        return main(["synth", "-t", "emulated", *args, "--project-dir", str(root)])
    except SystemExit as exit_:
        return int(exit_.code)


def posted(emu: Emulator, path: str) -> list[dict]:
    return [r.json for r in emu.requests_to(path, "POST") if r.path == path]


@pytest.fixture
def on_emulator(emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example project (150 users) with an ``emulated`` target reaching ``emulator``."""
    for key, value in emulator.environment().items():
        monkeypatch.setenv(key, value)
    return emulated(copy_example(tmp_path / "example", users=USERS))


def test_synth_creates_the_sources_in_the_sandbox_and_the_example_builds_there(
        emulator: Emulator, on_emulator: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = on_emulator
    tables = generate(synth_options(load_project(root), tenant=TENANT))
    assert synth_cli(root) == 0
    out = capsys.readouterr().out
    assert f"into sandbox {emulator.sandbox}, tenant {TENANT}" in out
    for name in ("experience_events", "profiles"):
        assert (f"source {name}: dataset {name} (") in out
        assert f"source {name}: writing {tables[name].num_rows:,} rows into dataset {name} (" \
            in out
        assert f"success, {tables[name].num_rows:,} records" in out
    # the tenant field groups: _<tenant>.userid, each for its table's class
    groups = posted(emulator, f"{REG}/tenant/fieldgroups")
    assert [(g["title"], g["meta:intendedToExtend"]) for g in groups] == [
        ("experience_events fields", [xdm.EVENT_CLASS]), ("profiles fields", [xdm.PROFILE_CLASS])]
    assert all(g["definitions"]["customFields"]["properties"] == {TENANT: {
        "type": "object", "properties": {"userid": {"title": "Userid", "type": "string"}}}}
        for g in groups)
    # the schemas: the class, Adobe's standard field groups, the tenant one
    schemas = posted(emulator, f"{REG}/tenant/schemas")
    assert len(schemas) == 2
    group_ids = [g["$id"] for g in emulator.service_state("schemas", None).fieldgroups.values()]
    for schema, name, cls, group in zip(schemas, ("experience_events", "profiles"),
                                        (xdm.EVENT_CLASS, xdm.PROFILE_CLASS), group_ids):
        assert schema["title"] == name
        assert [ref["$ref"] for ref in schema["allOf"]] == [cls, *STANDARD[name], group]
    datasets = posted(emulator, DATASETS)
    assert [d["name"] for d in datasets] == ["experience_events", "profiles"]
    assert all("tags" not in d for d in datasets)  # not Profile-enabled: sources for training
    # one Parquet batch per dataset, every generated row in the table, XDM's Spark types
    assert [b["inputFormat"] for b in posted(emulator, IMPORT)] == [{"format": "parquet"}] * 2
    uploads = [r for r in emulator.requests_to(IMPORT, "PUT")]
    assert [r.headers["content-type"] for r in uploads] == ["application/octet-stream"] * 2
    sent = pq.read_table(io.BytesIO(uploads[1].body))
    assert sent.schema == tables["profiles"].schema
    for name, table in tables.items():
        assert engine_rows(emulator, f"SELECT count(*) FROM {name}") == [(table.num_rows,)]
    comments = dict(engine_rows(emulator, "SELECT a.attname, col_description(a.attrelid, "
                                          "a.attnum) FROM pg_attribute a WHERE a.attrelid = "
                                          "'profiles'::regclass AND a.attnum > 0"))
    assert comments["person"] == ("spark:struct<birthYear:smallint,gender:string>")
    assert comments["extsourcesystemaudit"].startswith(
        "spark:struct<createdBy:string,createdDate:timestamp,")
    assert comments["identitymap"] == ("spark:map<string,array<struct<id:string,"
                                       "authenticatedState:string,primary:boolean>>>")
    assert_same_training_sets(root)  # the example builds there with the local values


def test_a_second_run_creates_nothing_but_a_batch_and_reverts_the_first(
        emulator: Emulator, on_emulator: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = on_emulator
    assert synth_cli(root, "--users", "20") == 0
    creates = {path: len(posted(emulator, path)) for path in
               (f"{REG}/tenant/fieldgroups", f"{REG}/tenant/schemas", DATASETS)}
    capsys.readouterr()
    assert synth_cli(root, "--users", "20") == 0
    out = capsys.readouterr().out
    assert out.count("schema and dataset found") == 2
    assert out.count("1 earlier batch(es) reverted") == 2
    assert {path: len(posted(emulator, path)) for path in creates} == creates
    assert len(posted(emulator, IMPORT)) == 4
    reverts = [r for r in emulator.requests_to(IMPORT, "POST") if r.query.get("action") ==
               ["REVERT"]]
    assert len(reverts) == 2
    tables = generate(synth_options(load_project(root), users=20, tenant=TENANT))
    for name, table in tables.items():  # one generation of rows, not two
        assert engine_rows(emulator, f"SELECT count(*) FROM {name}") == [(table.num_rows,)]


def test_the_production_sandbox_is_refused_before_any_call_unless_forced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from emulator_fixtures import PG_DSN, require_postgres

    require_postgres()
    with Emulator(engine_dsn=PG_DSN, sandbox="prod") as emu:
        for key, value in emu.environment().items():
            monkeypatch.setenv(key, value)
        root = emulated(copy_example(tmp_path / "example", users=5))
        assert synth_cli(root) == 2
        err = capsys.readouterr().err
        assert err.strip().splitlines() == [
            "Error: runner synth would write synthetic profiles and events into the production "
            "sandbox 'prod'; set the target's sandbox (or AEP_SANDBOX) to a development "
            "sandbox, or pass --force"]
        assert emu.requests == []  # refused before the token is asked for
        assert synth_cli(root, "--force") == 0
        assert engine_rows(emu, "SELECT count(*) FROM profiles") == [(5,)]


def test_every_generated_column_has_an_xdm_home_and_a_stray_one_is_refused() -> None:
    tables = generate(synth_options(load_project(Path(__file__).parents[1]), users=3))
    for name, table in tables.items():
        layout = xdm.layout(name, table.column_names, "_acmeinc")
        assert list(layout.fieldgroups) == STANDARD[name]
    with pytest.raises(ProjectError, match="column 'createdAt' is no field of its XDM class"):
        xdm.layout("profiles", ["_id", "createdAt"], "_acmeinc")


def test_a_failed_second_source_reverts_the_runs_first_batch_and_keeps_the_last_generation(
        emulator: Emulator, on_emulator: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = on_emulator
    assert synth_cli(root, "--users", "20") == 0
    before = {name: engine_rows(emulator, f"SELECT count(*) FROM {name}")
              for name in ("experience_events", "profiles")}
    profiles = next(k for k, v in emulator.service_state("catalog", None).datasets.items()
                    if v["name"] == "profiles")
    emulator.faults.fail(f"{IMPORT}/*/datasets/{profiles}/files/*", method="PUT", status=500,
                         times=20)
    capsys.readouterr()
    assert synth_cli(root, "--users", "25") == 1
    assert "Error: " in capsys.readouterr().err
    runs = [r for r in emulator.requests_to(IMPORT, "POST") if r.path == IMPORT][2:]
    assert [r.json["datasetId"] != profiles for r in runs] == [True, False]
    actions = [r.query.get("action") for r in emulator.requests_to(IMPORT, "POST")
               if r.path != IMPORT][2:]
    assert actions == [["COMPLETE"], ["ABORT"], ["REVERT"]]  # events' batch of this run undone
    assert {name: engine_rows(emulator, f"SELECT count(*) FROM {name}")
            for name in before} == before


def test_an_empty_generated_table_or_a_foreign_dataset_is_refused_before_any_write(
        emulator: Emulator, on_emulator: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = on_emulator
    assert synth_cli(root, "--users", "1", "--days", "1", "--seed", "0") == 2
    assert capsys.readouterr().err == (
        "Error: runner synth: the generated experience_events table is empty (1 user(s) over "
        "1 day(s), seed 0); raise --users or --days\n")
    emulator.load_tables({"profiles": generate(synth_options(
        load_project(root), users=2, tenant=TENANT))["profiles"]})
    writes = len([r for r in emulator.requests if r.method != "GET"])
    assert synth_cli(root, "--users", "5") == 1
    err = capsys.readouterr().err
    assert re.fullmatch(r"Error: dataset 'profiles' \(\w+\) on target 'emulated' exists with "
                        r"schema \S+, not the schema 'profiles' runner synth makes; delete that "
                        r"dataset in Platform \(it is a source of the project, so runner "
                        r"datasets rm keeps it\) or set sources.profiles.identifier to another "
                        r"name\n", err), err
    assert len([r for r in emulator.requests if r.method != "GET"]) == writes + 1  # the token


def test_force_is_for_a_sandbox_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = copy_example(tmp_path / "example", users=5)
    assert main(["synth", "--force", "--project-dir", str(root)]) == 2
    assert capsys.readouterr().err == (
        "Error: runner synth --force allows a Data Distiller target's sandbox named prod; "
        "'local' is duckdb: drop --force\n")


def test_a_source_naming_a_table_the_generator_lacks_is_one_line_before_any_work(
        emulator: Emulator, on_emulator: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from runner.cli.emulate import synthetic_tables

    root = on_emulator
    config = yaml.safe_load((root / "project.yml").read_text(encoding="utf-8"))
    config["sources"]["profiles"]["synthetic"] = "people"
    (root / "project.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    message = ("sources.profiles.synthetic: the generator makes experience_events, profiles, "
               "not 'people'")
    for args in (["synth", "-t", "emulated"], ["synth"], ["build"]):
        assert main([*args, "--project-dir", str(root)]) == 2
        assert capsys.readouterr().err == f"Error: project.yml: {message}\n", args
    with pytest.raises(ProjectError, match=message):
        synthetic_tables(root)  # runner emulate --synth: before the emulator starts
    assert emulator.requests == []
