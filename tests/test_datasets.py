"""Datasets, one interface on every target: listed with metadata, read (columns, a row limit),
written (new, replace, append; a taken name is an error naming the flags) and dropped, from
Python (``Connection.datasets/dataset/read/write/drop``) and the CLI (``runner datasets``).

Locally the example project is built on DuckDB and its training set checked against the
database file itself; on the emulated Data Distiller the listing is checked against the exact
Catalog requests the emulator recorded, the read against the engine's rows, and a write
against the exact Schema Registry, Catalog and Batch Ingestion requests it sends; on PostgreSQL the interface's defaults list,
describe and read, and a write is refused.
"""

from __future__ import annotations

import datetime as dt
import io
import json

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import runner
from aep_emulator import Emulator
from aep_emulator.catalog import catalog
from aep_emulator.schemas import registry
from runner.cli.main import main
from runner.errors import ProjectError, RunError
from test_distiller_build import SECRET, TABLES, TRAINING_SET
from test_distiller_build import dd_root, emu, pg_root  # noqa: F401 - fixtures, used by name
from test_example_project import copy_example
from test_labels import write as write_labelled

USERS = 200
QUIET = {"echo": lambda line: None}
DATASETS = "/data/foundation/catalog/dataSets"
REGISTRY = "/data/foundation/schemaregistry"
BATCHES = "/data/foundation/import/batches"
BATCH_STATUS = "/data/foundation/catalog/batches/"
PROFILE_CLASS = "https://ns.adobe.com/xdm/context/profile"


def duck(root, sql: str) -> list[tuple]:
    con = duckdb.connect(str(root / "target" / "local.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory):
    """The example project built locally (one build for the module)."""
    root = copy_example(tmp_path_factory.mktemp("datasets") / "example", users=USERS)
    result = runner.build(root, **QUIET)
    assert result.ok
    return root


def frame() -> pd.DataFrame:
    return pd.DataFrame({"user_id": ["a", "b", None], "score": [0.5, 0.25, 1.0],
                         "n": [1, 2, 3], "day": [dt.date(2026, 1, d) for d in (1, 2, 3)]})


# -- Python, locally --------------------------------------------------------------------------
def test_ls_lists_the_training_set_with_its_columns_types_and_rows(example) -> None:
    with runner.connect(example) as conn:
        listed = {d.name: d for d in conn.datasets()}
    (rows,), = duck(example, "SELECT count(*) FROM training_set")
    types = dict(duck(example, "SELECT column_name, data_type FROM information_schema.columns "
                               "WHERE table_name = 'training_set' ORDER BY ordinal_position"))
    training = listed["training_set"]
    assert (training.kind, training.rows, training.rows_exact, training.profile) == (
        "model", rows, True, False)
    assert rows > 100 and list(training.columns) == list(types)
    assert {k: training.columns[k] for k in ("as_of_date", "user_id", "age", "emails_sent_7d",
                                             "open_rate_90d", "subscribed")} == {
        "as_of_date": "DATE", "user_id": "STRING", "age": "INT", "emails_sent_7d": "BIGINT",
        "open_rate_90d": "DOUBLE", "subscribed": "INT"}
    assert training.table.startswith("training_set__")  # its current version underneath
    assert listed["experience_events"].kind == "source"
    assert listed["experience_events"].columns["identityMap"].startswith("MAP<STRING, ARRAY<")
    # no versions, pointers or the runner's own tables
    assert not [name for name in listed if "__" in name or name.startswith("_")]


def test_read_with_columns_and_limit_returns_exactly_those_rows(example) -> None:
    with runner.connect(example) as conn:
        df = conn.read("training_set", columns=["user_id", "subscribed"], limit=3)
        table = conn.read("training_set", columns=["subscribed"], arrow=True)
        info = conn.dataset("training_set")
    expected = duck(example, "SELECT user_id, subscribed FROM training_set LIMIT 3")
    assert list(df.columns) == ["user_id", "subscribed"]
    assert [tuple(r) for r in df.itertuples(index=False)] == expected
    assert isinstance(table, pa.Table) and table.num_rows == info.rows
    assert table.column_names == ["subscribed"]


def test_write_new_then_read_back_equal_and_a_taken_name_needs_a_flag(example) -> None:
    with runner.connect(example) as conn:
        info = conn.write("scores", frame())
        assert (info.name, info.rows, info.columns) == (
            "scores", 3, {"user_id": "STRING", "score": "DOUBLE", "n": "BIGINT", "day": "DATE"})
        pd.testing.assert_frame_equal(conn.read("scores"), frame())
        with pytest.raises(ProjectError) as err:
            conn.write("scores", frame())
        assert str(err.value) == (
            "dataset 'scores' exists on target 'local'; pass replace=True to replace it or "
            "append=True to add the rows to it (runner datasets write --replace / --append)")
        assert conn.write("scores", frame(), append=True).rows == 6
        assert conn.write("scores", frame().head(1), replace=True).rows == 1
        assert conn.read("scores")["user_id"].tolist() == ["a"]
        assert conn.query("SELECT count(*) AS n FROM scores")["n"].tolist() == [1]
        assert "scores" in {d.name for d in conn.datasets()}
        assert conn.drop("scores").name == "scores"
        assert "scores" not in {d.name for d in conn.datasets()}


@pytest.mark.parametrize(("call", "message"), [
    (lambda c: c.write("training_set", frame(), replace=True),
     "'training_set' is a model of the project (or a version of one), which runner build "
     "writes; pick another name for the dataset"),
    (lambda c: c.write("profiles", frame()),
     "'profiles' is a source of the project (project.yml declares it); pick another name for "
     "the dataset"),
    (lambda c: c.write("x", frame(), replace=True, append=True),
     "replace=True and append=True exclude each other; pick one"),
    (lambda c: c.write("nowhere", frame(), append=True),
     "append=True: no dataset 'nowhere' on target 'local' to append to; write it without "
     "append=True first"),
    (lambda c: c.write("bad name", frame()),
     "'bad name' is not a dataset name; use letters, digits and underscores, starting with a "
     "letter"),
    (lambda c: c.drop("training_set"),
     "'training_set' is a model of the project; runner datasets drops only other datasets "
     "(remove the model and run runner clean)"),
    (lambda c: c.dataset("training_sett"),
     "no dataset 'training_sett' on target 'local' (did you mean 'training_set'?); runner "
     "datasets ls lists them"),
])
def test_refusals_say_what_and_how(example, call, message) -> None:
    with runner.connect(example) as conn, pytest.raises(ProjectError) as err:
        call(conn)
    assert str(err.value) == message


def test_labels_locally_are_the_projects(tmp_path) -> None:
    """A model's labels are those its build derived (the manifest), a source's project.yml's
    (``""``: the whole dataset)."""
    root = write_labelled(tmp_path / "p", orders={"amount": {"description": "", "labels": ["C9"]}},
                          users={"labels": ["C5"]}, exports=[])
    assert runner.build(root, **QUIET).ok
    with runner.connect(root) as conn:
        listed = {d.name: d.labels for d in conn.datasets()}
        shown = conn.dataset("training_set").labels
    assert listed["training_set"] == shown == {"tier": {"C5"}, "spend": {"C5", "C9"}}
    assert (listed["raw_orders"], listed["raw_users"]) == ({"amount": {"C9"}}, {"": {"C5"}})


# -- the CLI, locally -------------------------------------------------------------------------
def cli(root, *args: str) -> int:
    """``runner datasets ARGS --project-dir root``'s exit code (argparse exits on a usage
    error, as the console script does)."""
    try:
        return main(["datasets", *args, "--project-dir", str(root)])
    except SystemExit as exit_:
        return int(exit_.code)


def test_cli_ls_show_read_write_rm(example, tmp_path, capsys) -> None:
    (rows,), = duck(example, "SELECT count(*) FROM training_set")
    assert cli(example, "ls") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["name", "kind", "rows", "columns", "profile", "updated", "id"]
    assert next(line for line in out if line.startswith("training_set ")).split() == [
        "training_set", "model", str(rows), "63", "no", "-", "-"]
    assert out[-1] == "11 dataset(s) on target 'local'"

    assert cli(example, "ls", "--output", "json") == 0
    training = next(json.loads(line) for line in capsys.readouterr().out.splitlines()
                    if json.loads(line)["name"] == "training_set")
    assert training["rows"] == rows and training["columns"]["user_id"] == "STRING"

    assert cli(example, "show", "training_set") == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[:2] == ["name: training_set", f"kind: model (table {training['table']})"]
    assert f"rows: {rows}" in shown and "columns (63):" in shown
    assert any(line.split() == ["subscribed", "INT"] for line in shown)

    assert cli(example, "read", "training_set", "--columns", "user_id,subscribed",
               "--limit", "2") == 0
    printed = capsys.readouterr().out.splitlines()
    expected = duck(example, "SELECT user_id, subscribed FROM training_set LIMIT 2")
    assert [line.split() for line in printed] == [["user_id", "subscribed"]] + [
        [u, str(s)] for u, s in expected]

    out_file = tmp_path / "ts.parquet"
    assert cli(example, "read", "training_set", "--out", str(out_file)) == 0
    assert capsys.readouterr().out == f"Wrote {rows:,} row(s) of training_set to {out_file}\n"
    assert pq.read_table(out_file).num_rows == rows

    csv_file = tmp_path / "scores.csv"
    frame().to_csv(csv_file, index=False)
    assert cli(example, "write", "cli_scores", str(csv_file)) == 0
    assert capsys.readouterr().out == (
        f"Wrote dataset cli_scores on target 'local' from {csv_file}: 3 row(s), 4 column(s)\n")
    assert cli(example, "write", "cli_scores", str(csv_file)) == 2
    assert "dataset 'cli_scores' exists on target 'local'" in capsys.readouterr().err
    assert cli(example, "write", "cli_scores", str(out_file), "--append") == 1  # other columns
    assert "writing cli_scores" in capsys.readouterr().err
    assert cli(example, "write", "cli_scores", str(csv_file), "--append") == 0
    assert "Appended to dataset cli_scores" in capsys.readouterr().out
    assert duck(example, "SELECT count(*) FROM cli_scores") == [(6,)]

    assert cli(example, "rm", "cli_scores") == 2
    assert capsys.readouterr().err == (
        "Error: runner datasets rm cli_scores drops the dataset for good; add --yes to confirm\n")
    assert cli(example, "rm", "cli_scores", "--yes") == 0
    assert capsys.readouterr().out == "Dropped dataset cli_scores on target 'local'\n"
    assert cli(example, "rm", "cli_scores", "--yes") == 2
    assert "no dataset 'cli_scores' on target 'local'" in capsys.readouterr().err


@pytest.mark.parametrize("args", [
    (), ("lsx",), ("show",), ("read", "training_set", "--limit", "-1"),
    ("read", "training_set", "--out", "rows.csv"), ("write", "x"),
    ("write", "x", "f.parquet", "--replace", "--append"), ("write", "x", "f.json"),
])
def test_cli_usage_errors_exit_2(example, args, capsys) -> None:
    assert cli(example, *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and err.count("\n") == 1


# -- the emulated Data Distiller --------------------------------------------------------------
@pytest.fixture
def distiller(dd_root, emu: Emulator):
    """The seven-model project of test_distiller_build, built on the emulated Data Distiller."""
    assert runner.build(dd_root, **QUIET).ok
    return dd_root


def test_distiller_ls_from_catalog_and_read_over_pg(distiller, emu) -> None:
    before = len(emu.requests)
    with runner.connect(distiller) as conn:
        listed = {d.name: d for d in conn.datasets()}
        calls = [r for r in emu.requests[before:] if r.path.startswith(DATASETS)]
        assert [(r.method, r.path, r.query) for r in calls] == [
            ("GET", DATASETS, {"limit": ["100"], "start": ["0"],
                               "properties": ["name,created,updated,tags,extensions"],
                               "orderBy": ["asc:created"]})]
        headers = calls[0].headers
        assert (headers["x-api-key"], headers["x-gw-ims-org-id"], headers["x-sandbox-name"],
                headers["accept"]) == (emu.client_id, emu.org_id, emu.sandbox,
                                       "application/json")
        assert headers["authorization"].startswith("Bearer ") and SECRET not in str(headers)

        training = listed["training_set"]
        state = json.loads((distiller / "target" / "state" / "aep.json").read_text())
        assert (training.kind, training.table, training.id) == (
            "model", state["models"]["training_set"]["current"],
            state["models"]["training_set"]["dataset_id"])
        assert (training.rows, training.rows_exact, training.columns) == (5, False, None)
        assert training.created is not None and training.updated >= training.created
        assert listed["user_orders"].profile and not training.profile  # label: PROFILE
        assert {"raw_orders", "raw_users"} <= listed.keys()
        assert not [name for name in listed if "__" in name]

        before = len(emu.requests)
        described = conn.dataset("training_set")
        assert (described.rows, described.rows_exact) == (5, True)  # SELECT COUNT(*) over PG
        assert list(described.columns) == ["user_id", "tier", "n_orders", "total", "label"]
        assert described.labels == {}
        assert [r.path for r in emu.requests[before:] if "/labels" in r.path] == [
            f"/data/foundation/dataset/datasets/{training.id}/labels"]

        df = conn.read("training_set", columns=["user_id", "label"], limit=10)
        assert sorted(map(tuple, df.itertuples(index=False))) == [
            (u, label) for u, _, _, _, label in TRAINING_SET]


def calls(emu: Emulator, before: int) -> list[tuple[str, str, dict]]:
    """The Schema Registry, Catalog dataset and batch requests sent since ``before`` (the
    polls of a batch's status left out)."""
    return [(r.method, r.path, r.query) for r in emu.requests[before:]
            if r.path.startswith((REGISTRY, DATASETS, BATCHES))]


def batch_calls(emu: Emulator, before: int, dataset_id: str) -> list[tuple[str, str, dict]]:
    """The three requests of one batch into ``dataset_id`` (its id read from the upload)."""
    batch_id = next(r.path.split("/")[5] for r in emu.requests[before:] if r.method == "PUT")
    batch = f"{BATCHES}/{batch_id}"
    return [("POST", BATCHES, {}),
            ("PUT", f"{batch}/datasets/{dataset_id}/files/part-00000.parquet", {}),
            ("POST", batch, {"action": ["COMPLETE"]})]


def rows_of(df: pd.DataFrame) -> list[tuple]:
    """``df``'s rows as tuples (nulls as None), sorted."""
    return sorted(map(tuple, df.astype(object).where(df.notna(), None)
                      .itertuples(index=False)), key=str)


def uploaded(emu: Emulator, before: int) -> list[dict]:
    """The rows of the Parquet file uploaded since ``before``."""
    put = next(r for r in emu.requests[before:] if r.method == "PUT")
    assert put.headers["content-type"] == "application/octet-stream"
    return pq.read_table(io.BytesIO(put.body)).to_pylist()


def test_distiller_write_creates_a_dataset_from_a_dataframe(distiller, emu) -> None:
    """A new dataset: a field group of the columns under ``_<tenant>``, a schema of the
    Profile class, a Catalog dataset without Profile tags, then the rows shaped as XDM in one
    batch; read back over PG and listed."""
    reg, tenant = registry(emu), f"_{registry(emu).tenant}"
    with runner.connect(distiller) as conn:
        before = len(emu.requests)
        written = conn.write("scores", frame())
        group = next(g for g in reg.fieldgroups.values() if g["title"] == "scores fields")
        schema = next(s for s in reg.schemas.values() if s["title"] == "scores")
        ds_id = next(k for k, v in catalog(emu).datasets.items() if v["name"] == "scores")
        polls = [r for r in emu.requests[before:] if r.path.startswith(BATCH_STATUS)]
        assert calls(emu, before) == [
            ("GET", f"{REGISTRY}/stats", {}),
            ("GET", f"{REGISTRY}/tenant/fieldgroups", {"property": ["title==scores fields"]}),
            ("POST", f"{REGISTRY}/tenant/fieldgroups", {}),
            ("GET", f"{REGISTRY}/tenant/schemas", {"property": ["title==scores"]}),
            ("POST", f"{REGISTRY}/tenant/schemas", {}),
            ("GET", DATASETS, {"name": ["scores"], "properties": ["name,schemaRef,tags"]}),
            ("POST", DATASETS, {}), *batch_calls(emu, before, ds_id)]
        posts = [r.json for r in emu.requests[before:] if r.method == "POST" and r.json]
        assert posts == [
            {"type": "object", "title": "scores fields", "description": "Fields of scores fields",
             "allOf": [{"$ref": "#/definitions/customFields"}], "meta:containerId": "tenant",
             "meta:resourceType": "mixins", "meta:xdmType": "object",
             "definitions": {"customFields": {"type": "object", "properties": {tenant: {
                 "type": "object", "properties": {
                     "user_id": {"title": "User Id", "type": "string"},
                     "score": {"title": "Score", "type": "number"},
                     "n": {"title": "N", "type": "integer", "minimum": -(2**53 - 1),
                           "maximum": 2**53 - 1},
                     "day": {"title": "Day", "type": "string", "format": "date"}}}}}},
             "meta:intendedToExtend": [PROFILE_CLASS]},
            {"title": "scores", "description": "Schema of scores", "type": "object",
             "allOf": [{"$ref": PROFILE_CLASS, "type": "object", "meta:xdmType": "object"},
                       {"$ref": group["$id"], "type": "object", "meta:xdmType": "object"}]},
            {"name": "scores", "schemaRef": {"id": schema["$id"],
                                             "contentType": "application/vnd.adobe.xed+json;version=1"},
             "fileDescription": {"persisted": True, "containerFormat": "parquet",
                                 "format": "parquet"}},
            {"datasetId": ds_id, "inputFormat": {"format": "parquet"}}]
        batch_id = next(r.path.split("/")[5] for r in emu.requests[before:] if r.method == "PUT")
        assert polls and {(r.method, r.path) for r in polls} == {
            ("GET", BATCH_STATUS + batch_id)}
        assert uploaded(emu, before) == [
            {tenant: {"user_id": "a", "score": 0.5, "n": 1, "day": "2026-01-01"}},
            {tenant: {"user_id": "b", "score": 0.25, "n": 2, "day": "2026-01-02"}},
            {tenant: {"user_id": None, "score": 1.0, "n": 3, "day": "2026-01-03"}}]
        assert catalog(emu).datasets[ds_id]["tags"] == {"adobe/pqs/table": ["scores"]}
        assert (written.rows, written.rows_exact, written.columns) == (
            3, True, {"user_id": "STRING", "score": "DOUBLE", "n": "BIGINT", "day": "DATE"})
        assert rows_of(conn.read("scores")) == rows_of(frame())
        listed = {d.name: d for d in conn.datasets()}
        assert (listed["scores"].kind, listed["scores"].id, listed["scores"].profile) == (
            "table", ds_id, False)
        before = len(emu.requests)
        with pytest.raises(ProjectError) as err:
            conn.write("scores", frame())
    assert str(err.value) == (
        "dataset 'scores' exists on target 'aep'; pass replace=True to replace it or "
        "append=True to add the rows to it (runner datasets write --replace / --append)")
    assert calls(emu, before) == []  # nothing was sent


def test_distiller_replace_deletes_the_dataset_and_makes_it_again(distiller, emu) -> None:
    """replace=True: the dataset is looked up, checked as made from rows, deleted in Catalog
    and made again with the schema it had (found by name), then the new rows ingested."""
    reg = registry(emu)
    with runner.connect(distiller) as conn:
        conn.write("scores", frame())
        old_id = next(k for k, v in catalog(emu).datasets.items() if v["name"] == "scores")
        before = len(emu.requests)
        written = conn.write("scores", frame().head(2), replace=True)
        new_id = next(k for k, v in catalog(emu).datasets.items() if v["name"] == "scores")
        schema = next(s for s in reg.schemas.values() if s["title"] == "scores")
        assert new_id != old_id and old_id not in catalog(emu).datasets
        assert calls(emu, before) == [
            ("GET", DATASETS, {"name": ["scores"], "properties": ["name,tags,schemaRef"]}),
            ("GET", f"{REGISTRY}/tenant/schemas", {"property": ["title==scores"]}),
            ("GET", f"{REGISTRY}/stats", {}),
            ("GET", f"{REGISTRY}/tenant/fieldgroups", {"property": ["title==scores fields"]}),
            ("DELETE", f"{DATASETS}/{old_id}", {}),
            ("GET", f"{REGISTRY}/stats", {}),
            ("GET", f"{REGISTRY}/tenant/fieldgroups", {"property": ["title==scores fields"]}),
            ("GET", f"{REGISTRY}/tenant/schemas", {"property": ["title==scores"]}),
            ("GET", DATASETS, {"name": ["scores"], "properties": ["name,schemaRef,tags"]}),
            ("POST", DATASETS, {}), *batch_calls(emu, before, new_id)]
        assert [r.json for r in emu.requests[before:] if r.method == "POST" and r.json] == [
            {"name": "scores", "schemaRef": {"id": schema["$id"],
                                             "contentType": "application/vnd.adobe.xed+json;version=1"},
             "fileDescription": {"persisted": True, "containerFormat": "parquet",
                                 "format": "parquet"}},
            {"datasetId": new_id, "inputFormat": {"format": "parquet"}}]
        assert written.rows == 2
        assert rows_of(conn.read("scores")) == rows_of(frame().head(2))
        before = len(emu.requests)
        with pytest.raises(RunError) as err:
            conn.write("scores", frame().drop(columns=["day"]), replace=True)
        assert str(err.value).startswith("field group 'scores fields' (")
        assert str(err.value).endswith(") exists with other fields than user_id:string, "
                                       "score:double, n:bigint; change or rename it in the "
                                       "Schema Registry")
        assert [r for r in emu.requests[before:] if r.method != "GET"] == []  # not deleted
        assert rows_of(conn.read("scores")) == rows_of(frame().head(2))


def test_distiller_replace_of_a_profile_dataset_is_refused(distiller, emu) -> None:
    with runner.connect(distiller) as conn:
        conn.ingest_scores(frame().head(2), "scores", identity="user_id")
        before = len(emu.requests)
        with pytest.raises(RunError) as err:
            conn.write("scores", frame().head(2), replace=True)
        assert [r for r in emu.requests[before:] if r.method != "GET"] == []  # nothing sent
    assert str(err.value) == (
        "target 'aep' (data_distiller) cannot replace dataset 'scores': it is enabled for "
        "Profile (runner scores ingest made it) and replacing it would lose its identity; "
        "ingest the scores again (runner scores ingest) or write the rows under another name")


def test_distiller_append_after_create_adds_the_rows_as_xdm(distiller, emu) -> None:
    tenant = f"_{registry(emu).tenant}"
    with runner.connect(distiller) as conn:
        conn.write("scores", frame().head(1))
        ds_id = next(k for k, v in catalog(emu).datasets.items() if v["name"] == "scores")
        before = len(emu.requests)
        written = conn.write("scores", frame().tail(2), append=True)
        assert calls(emu, before) == [
            ("GET", DATASETS, {"name": ["scores"], "properties": ["name,tags,schemaRef"]}),
            ("GET", f"{REGISTRY}/tenant/schemas", {"property": ["title==scores"]}),
            ("GET", f"{REGISTRY}/stats", {}), *batch_calls(emu, before, ds_id)]
        assert uploaded(emu, before) == [
            {tenant: {"user_id": "b", "score": 0.25, "n": 2, "day": "2026-01-02"}},
            {tenant: {"user_id": None, "score": 1.0, "n": 3, "day": "2026-01-03"}}]
        assert written.rows == 3
        assert rows_of(conn.read("scores")) == rows_of(frame())


def test_distiller_appends_a_dataframe_through_batch_ingestion(distiller, emu) -> None:
    """A dataset made with SQL takes a DataFrame's rows as one Parquet batch: create, upload,
    complete, then Catalog polled to success; the rows read back over PG."""
    with runner.connect(distiller) as conn:
        made = conn.query("SELECT user_id, CAST(0.0 AS DOUBLE) AS score, 0 AS n, "
                          "CAST(NULL AS DATE) AS day FROM training_set WHERE 1 = 0",
                          into="scores")
        assert conn.dataset("scores").rows == 0
        before = len(emu.requests)
        written = conn.write("scores", frame(), append=True)
        sent = [r for r in emu.requests[before:] if "/batches" in r.path]
        batch_id = sent[1].path.split("/")[5]
        batch = f"/data/foundation/import/batches/{batch_id}"
        assert [(r.method, r.path, r.query) for r in sent[:3]] == [
            ("POST", "/data/foundation/import/batches", {}),
            ("PUT", f"{batch}/datasets/{made.dataset_id}/files/part-00000.parquet", {}),
            ("POST", batch, {"action": ["COMPLETE"]})]
        assert {(r.method, r.path) for r in sent[3:]} == {
            ("GET", f"/data/foundation/catalog/batches/{batch_id}")}
        assert sent[0].json == {"datasetId": made.dataset_id, "inputFormat": {"format": "parquet"}}
        assert sent[1].headers["content-type"] == "application/octet-stream"
        assert pq.read_table(io.BytesIO(sent[1].body)).to_pandas().equals(frame())
        assert (written.rows, written.rows_exact) == (3, True)
        back = conn.read("scores")
        before = len(emu.requests)
        with pytest.raises(RunError) as err:
            conn.write("scores", frame(), replace=True)
        assert [r for r in emu.requests[before:] if r.method != "GET"] == []  # nothing sent
    assert rows_of(back) == rows_of(frame())
    assert str(err.value) == (
        "target 'aep' (data_distiller) cannot replace dataset 'scores': it was not made from "
        "rows (its schema is not the Schema Registry's 'scores'), so replacing it would lose its "
        "schema; drop it (runner datasets rm scores) and make it again with SQL "
        "(query(sql, into='scores')), or write the rows under another name")


def test_distiller_cli_write_creates_then_replaces(distiller, tmp_path, capsys) -> None:
    path = tmp_path / "scores.parquet"
    pq.write_table(pa.Table.from_pandas(frame()), path)
    assert cli(distiller, "write", "scores", str(path)) == 0
    assert capsys.readouterr().out == (
        f"Wrote dataset scores on target 'aep' from {path}: 3 row(s), 4 column(s)\n")
    assert cli(distiller, "write", "scores", str(path)) == 2
    assert capsys.readouterr().err == (
        "Error: dataset 'scores' exists on target 'aep'; pass replace=True to replace it or "
        "append=True to add the rows to it (runner datasets write --replace / --append)\n")
    pq.write_table(pa.Table.from_pandas(frame().head(1)), path)
    assert cli(distiller, "write", "scores", str(path), "--replace") == 0
    assert capsys.readouterr().out == (
        f"Replaced dataset scores on target 'aep' from {path}: 1 row(s), 4 column(s)\n")
    assert cli(distiller, "ls") == 0
    out = capsys.readouterr().out.splitlines()
    line = next(x for x in out if x.startswith("training_set"))
    assert line.split()[:5] == ["training_set", "model", "~5", "-", "no"]
    assert next(x for x in out if x.startswith("scores")).split()[:5] == [
        "scores", "table", "~1", "-", "no"]


def test_distiller_show_and_rm_of_a_query_dataset(distiller, emu, capsys) -> None:
    with runner.connect(distiller) as conn:
        made = conn.query("SELECT tier, count(*) AS users FROM training_set GROUP BY tier",
                          into="tier_counts")
    assert cli(distiller, "show", "tier_counts") == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[:3] == ["name: tier_counts", "kind: table", f"id: {made.dataset_id}"]
    assert "rows: 3" in shown and "columns (2):" in shown and "profile: no" in shown
    assert cli(distiller, "rm", "tier_counts", "--yes") == 0
    assert capsys.readouterr().out == "Dropped dataset tier_counts on target 'aep'\n"
    catalog(emu).sync()
    assert "tier_counts" not in {r["name"] for r in catalog(emu).datasets.values()}


# -- PostgreSQL: the interface's defaults -----------------------------------------------------
def test_postgres_lists_describes_and_reads_and_refuses_writes(pg_root) -> None:
    root, _, _ = pg_root
    assert runner.build(root, **QUIET).ok
    with runner.connect(root) as conn:
        listed = conn.datasets()
        described = conn.dataset("training_set")
        df = conn.read("training_set", columns=["user_id", "label"], limit=10)
        with pytest.raises(RunError) as err:
            conn.write("scores", frame())
    assert sorted(d.name for d in listed) == sorted(["stg_orders", *TABLES])
    assert (described.rows, list(described.columns)) == (
        5, ["user_id", "tier", "n_orders", "total", "label"])
    assert sorted(map(tuple, df.itertuples(index=False))) == [
        (u, label) for u, _, _, _, label in TRAINING_SET]
    assert str(err.value) == "target 'pg' (postgres) cannot write datasets"
