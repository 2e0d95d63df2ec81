"""Scores back into Platform (``Connection.ingest_scores``, ``runner scores ingest``).

Locally the example project is built on DuckDB with a score model over its training set, and
scores from a DataFrame and from that model are read back equal. On the emulated Data
Distiller the requests the emulator recorded are checked: a first run's Schema Registry and
Catalog setup and its batch, a second run that only reads the setup and appends a second
batch, a bad identity that sends nothing; the rows are read back over the PostgreSQL interface.
"""

from __future__ import annotations

import io

import pandas as pd
import psycopg2
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import runner
from aep_emulator import Emulator
from emulator_fixtures import fetch_rows
from runner.cli.main import main
from runner.errors import ProjectError
from runner.run.scores import ScoresResult
from test_distiller_build import dd_root, emu  # noqa: F401 - fixtures, used by name
from test_example_project import copy_example

QUIET = {"echo": lambda line: None}
REG = "/data/foundation/schemaregistry"
DATASETS = "/data/foundation/catalog/dataSets"
IMPORT = "/data/foundation/import/batches"
TENANT = "_emu0000000000000000000001"
SETUP = ("fieldgroup", "schema", "identity", "union", "dataset")
SCORE_MODEL = ("SELECT user_id, as_of_date, 0.25 + 0.5 * open_rate_90d AS propensity "
               "FROM training_set\n")


def frame() -> pd.DataFrame:
    return pd.DataFrame({"user_id": ["u1", "u2", "u3"], "propensity": [0.5, 0.25, None],
                         "n": [1, 2, 3]})


def pa_table() -> pa.Table:
    return pa.Table.from_pandas(frame()[["user_id", "propensity"]], preserve_index=False)


def rows(df: pd.DataFrame) -> list[tuple]:
    """``df``'s rows, NaN as None, sorted."""
    return sorted(map(tuple, df.astype(object).where(df.notna(), None).itertuples(index=False)),
                  key=str)


def cli(root, *args: str) -> int:
    try:
        return main(["scores", "ingest", *args, "--project-dir", str(root)])
    except SystemExit as exit_:
        return int(exit_.code)


# -- locally ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory):
    """The example project with a score model over its training set, built locally."""
    root = copy_example(tmp_path_factory.mktemp("scores") / "example", users=200)
    (root / "models" / "propensity.sql").write_text(SCORE_MODEL, encoding="utf-8")
    assert runner.build(root, **QUIET).ok
    return root


def test_a_dataframe_is_written_then_appended_and_read_back_equal(example) -> None:
    with runner.connect(example) as conn:
        first = conn.ingest_scores(frame(), "df_scores", identity="user_id")
        second = conn.ingest_scores(pa_table(), "df_scores", identity="user_id",
                                    scores=["propensity"])
        back = conn.read("df_scores")
    assert first == ScoresResult("df_scores", "local", "success", 3, created=("dataset",))
    assert second == ScoresResult("df_scores", "local", "success", 3, found=("dataset",))
    assert first.summary() == ("Ingested 3 record(s) into dataset df_scores on target 'local' "
                               "(created: dataset)")
    assert list(back.columns) == ["user_id", "propensity", "n"]
    assert rows(back) == sorted(rows(frame()) + [("u1", 0.5, None), ("u2", 0.25, None),
                                                 ("u3", None, None)], key=str)


def test_a_built_models_scores_are_read_back_equal(example) -> None:
    with runner.connect(example) as conn:
        result = conn.ingest_scores("propensity", "model_scores", identity="user_id",
                                    scores=["propensity"])
        back = conn.read("model_scores")
        built = conn.query("SELECT user_id, propensity FROM propensity")
    assert (result.status, result.records, result.batch_id) == ("success", len(built), None)
    assert len(built) > 100
    assert list(back.columns) == ["user_id", "propensity"]
    assert rows(back) == rows(built)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"identity": "userid"}, "identity column 'userid' is not a column of the scores (did you "
     "mean 'user_id'?) (columns: user_id, propensity, n)"),
    ({"identity": "n"}, "identity column 'n' is bigint; an identity must be a string (cast it)"),
    ({"identity": "user_id", "scores": ["score"]}, "score column(s) score are not columns of "
     "the scores (columns: user_id, propensity, n)"),
    ({"identity": "uid", "data": pa.table({f"c{i:02}": [1.0] for i in range(63)})},
     "identity column 'uid' is not a column of the scores (columns: c00, c01, c02, c03, c04, "
     "c05, c06, c07, c08, c09, and 53 more)"),
    ({"identity": "user_id", "scores": ["user_id"]}, "scores=['user_id']: name each score "
     "column once, not the identity 'user_id', and at least one"),
    ({"identity": "user_id", "dataset": "bad name"}, "'bad name' is not a dataset name; use "
     "letters, digits and underscores, starting with a letter"),
    ({"identity": "user_id", "data": frame().assign(at=pd.Timestamp("2026-01-01"))},
     "column 'at' is a timestamp without a time zone; XDM date-time needs one (make it UTC)"),
    ({"identity": "user_id", "data": pa.table({"user_id": ["u1"], "p": pa.array(
        [1], pa.decimal128(5, 2))})}, "column type 'decimal128(5, 2)' cannot be a Profile "
     "field; supported: string, boolean, double, float, int, bigint, date, timestamp (cast the "
     "column to one of them)"),
    ({"identity": "user_id", "data": "propensty"}, "'propensty' is no model of the project "
     "(did you mean 'propensity'?); pass a model's name, a DataFrame or an Arrow table"),
])
def test_refusals_locally_say_what_and_how(example, kwargs, message) -> None:
    call = {"data": frame(), "dataset": "refused", **kwargs}
    with runner.connect(example) as conn, pytest.raises(ProjectError) as err:
        conn.ingest_scores(call.pop("data"), call.pop("dataset"), **call)
    assert str(err.value) == message


def test_a_null_identity_is_refused(example) -> None:
    with runner.connect(example) as conn, pytest.raises(ProjectError) as err:
        conn.ingest_scores(frame().assign(user_id=["u1", None, "u3"]), "nulls", "user_id")
    assert str(err.value) == ("identity column 'user_id' has 1 null value(s); every profile "
                              "record needs its identity")


def test_cli_locally_from_a_file_and_a_model(example, tmp_path, capsys) -> None:
    csv = tmp_path / "scores.csv"
    frame().to_csv(csv, index=False)
    assert cli(example, "--dataset", "cli_scores", "--identity", "user_id", "--file", str(csv)) == 0
    assert capsys.readouterr().out == ("Ingested 3 record(s) into dataset cli_scores on target "
                                       "'local' (created: dataset)\n")
    assert cli(example, "--dataset", "cli_scores", "--identity", "user_id", "--scores",
               "propensity,n", "--file", str(csv)) == 0
    assert capsys.readouterr().out == ("Ingested 3 record(s) into dataset cli_scores on target "
                                       "'local' (found: dataset)\n")
    assert cli(example, "--dataset", "cli_model", "--identity", "user_id", "--model",
               "propensity", "--target", "local") == 0
    with runner.connect(example) as conn:
        built = len(conn.query("SELECT user_id FROM propensity"))
    assert capsys.readouterr().out == (f"Ingested {built} record(s) into dataset cli_model on "
                                       "target 'local' (created: dataset)\n")


@pytest.mark.parametrize(("args", "error"), [
    (("--dataset", "x", "--identity", "user_id"),
     "Error: runner scores ingest: one of the arguments --model --file is required"),
    (("--dataset", "x", "--identity", "user_id", "--model", "propensity", "--file", "f.csv"),
     "Error: runner scores ingest: argument --file: not allowed with argument --model"),
    (("--identity", "user_id", "--model", "propensity"),
     "Error: runner scores ingest: the following arguments are required: --dataset"),
    (("--dataset", "x", "--identity", "userid", "--model", "propensity"),
     "Error: identity column 'userid' is not a column of the scores (did you mean 'user_id'?) "
     "(columns: user_id, as_of_date, propensity)"),
    (("--dataset", "x", "--identity", "user_id", "--file", "scores.json"),
     "Error: scores.json: expected a .parquet or .csv file"),
])
def test_cli_usage_and_project_errors_exit_2_with_one_line(example, args, error, capsys) -> None:
    assert cli(example, *args) == 2
    err = capsys.readouterr().err
    assert err.startswith(error) and err.count("\n") == 1


# -- the emulated Data Distiller --------------------------------------------------------------
def platform(emu: Emulator, since: int) -> list:
    """The Platform requests since ``since`` (IMS left out)."""
    return [r for r in emu.requests[since:] if not r.path.startswith("/ims/")]


def steps(requests: list) -> list[tuple[str, str]]:
    """(method, path) of each request, a batch's polls collapsed into one."""
    out: list[tuple[str, str]] = []
    for r in requests:
        if not (out and (r.method, r.path) == out[-1] and r.method == "GET"):
            out.append((r.method, r.path))
    return out


def wire_rows(emu: Emulator, sql: str) -> list[tuple]:
    return fetch_rows(psycopg2.connect(emu.engine.dsn), sql)


def test_distiller_first_run_sets_up_and_ingests_a_second_only_reads_and_appends(
        dd_root, emu) -> None:
    before = len(emu.requests)
    with runner.connect(dd_root) as conn:
        first = conn.ingest_scores(frame(), "churn_scores", identity="user_id")
        sent = platform(emu, before)
        ds_id = first.dataset_id
        group = emu.state["schemas"].fieldgroups
        ((group_id, resource),) = group.items()
        ((schema_id, schema),) = emu.state["schemas"].schemas.items()
        batch = f"{IMPORT}/{first.batch_id}"
        assert steps(sent) == [
            ("GET", f"{REG}/stats"), ("GET", f"{REG}/tenant/fieldgroups"),
            ("POST", f"{REG}/tenant/fieldgroups"), ("GET", f"{REG}/tenant/schemas"),
            ("POST", f"{REG}/tenant/schemas"), ("GET", f"{REG}/tenant/descriptors"),
            ("POST", f"{REG}/tenant/descriptors"),
            ("PATCH", f"{REG}/tenant/schemas/{schema['meta:altId']}"),
            ("GET", DATASETS), ("POST", DATASETS),
            ("POST", IMPORT), ("PUT", f"{batch}/datasets/{ds_id}/files/part-00000.parquet"),
            ("POST", batch), ("GET", f"/data/foundation/catalog/batches/{first.batch_id}")]
        by_step = {(r.method, r.path): r for r in sent}
        assert by_step[("POST", f"{REG}/tenant/fieldgroups")].json["definitions"][
            "customFields"]["properties"][TENANT]["properties"] == {
            "user_id": {"title": "User Id", "type": "string"},
            "propensity": {"title": "Propensity", "type": "number"},
            "n": {"title": "N", "type": "integer", "minimum": -2**53 + 1, "maximum": 2**53 - 1}}
        assert by_step[("POST", f"{REG}/tenant/descriptors")].json["xdm:sourceProperty"] == (
            f"/{TENANT}/user_id")
        assert by_step[("POST", DATASETS)].json["schemaRef"]["id"] == schema_id
        assert by_step[("POST", IMPORT)].json == {"datasetId": ds_id,
                                                  "inputFormat": {"format": "parquet"}}
        uploaded = by_step[("PUT", f"{batch}/datasets/{ds_id}/files/part-00000.parquet")]
        assert pq.read_table(io.BytesIO(uploaded.body)).to_pylist() == [
            {TENANT: {"user_id": "u1", "propensity": 0.5, "n": 1}},
            {TENANT: {"user_id": "u2", "propensity": 0.25, "n": 2}},
            {TENANT: {"user_id": "u3", "propensity": None, "n": 3}}]
        assert first == ScoresResult("churn_scores", "aep", "success", 3, first.batch_id, ds_id,
                                     created=SETUP)
        assert group_id == resource["$id"] and first.summary() == (
            f"Ingested 3 record(s) into dataset churn_scores ({ds_id}) on target 'aep' as batch "
            f"{first.batch_id} (created: {', '.join(SETUP)})")
        assert wire_rows(emu, "SELECT user_id, propensity, n FROM churn_scores ORDER BY 1") == [
            ("u1", 0.5, 1), ("u2", 0.25, 2), ("u3", None, 3)]

        before = len(emu.requests)
        second = conn.ingest_scores(frame().head(2), "churn_scores", identity="user_id")
        sent = platform(emu, before)
        back = conn.read("churn_scores")
    setup = sent[:next(i for i, r in enumerate(sent) if r.path == IMPORT)]
    assert [(r.method, r.path) for r in setup] == [
        ("GET", f"{REG}/stats"), ("GET", f"{REG}/tenant/fieldgroups"),
        ("GET", f"{REG}/tenant/schemas"), ("GET", f"{REG}/tenant/descriptors"), ("GET", DATASETS)]
    assert [r.method for r in sent[len(setup):len(setup) + 3]] == ["POST", "PUT", "POST"]
    assert second == ScoresResult("churn_scores", "aep", "success", 2, second.batch_id, ds_id,
                                  found=(*SETUP, "profile tags"))
    assert second.batch_id != first.batch_id
    assert (len(emu.state["schemas"].fieldgroups), len(emu.state["schemas"].schemas),
            len(emu.state["schemas"].descriptors)) == (1, 1, 1)
    assert [v["name"] for v in emu.state["catalog"].datasets.values()].count("churn_scores") == 1
    assert rows(back) == sorted([("u1", 0.5, 1), ("u2", 0.25, 2), ("u3", None, 3),
                                 ("u1", 0.5, 1), ("u2", 0.25, 2)], key=str)


def test_distiller_a_bad_identity_sends_nothing(dd_root, emu) -> None:
    with runner.connect(dd_root) as conn:
        before = len(emu.requests)
        with pytest.raises(ProjectError) as err:
            conn.ingest_scores(frame(), "churn_scores", identity="userid")
    assert str(err.value) == ("identity column 'userid' is not a column of the scores (did you "
                              "mean 'user_id'?) (columns: user_id, propensity, n)")
    assert platform(emu, before) == []


def test_distiller_cli_exit_0_then_1_for_a_failed_batch(dd_root, emu, tmp_path, capsys) -> None:
    path = tmp_path / "scores.parquet"
    pq.write_table(pa_table(), path)
    args = ("--dataset", "cli_scores", "--identity", "user_id", "--file", str(path))
    assert cli(dd_root, *args) == 0
    out = capsys.readouterr().out
    assert out.startswith("Ingested 3 record(s) into dataset cli_scores (") and out.endswith(
        f" (created: {', '.join(SETUP)})\n") and out.count("\n") == 1
    emu.run_sql("ALTER TABLE cli_scores DROP COLUMN propensity")  # the next batch cannot load
    assert cli(dd_root, *args) == 1
    captured = capsys.readouterr()
    (ds_id,) = [k for k, v in emu.state["catalog"].datasets.items() if v["name"] == "cli_scores"]
    assert captured.out == ""
    assert captured.err.startswith("Error: batch ") and captured.err.endswith(
        f" into dataset {ds_id} failed: TypeCompatibilityException: File 'part-00000.parquet': "
        "field 'propensity' is not in the dataset's schema (fields: user_id)\n")


def test_distiller_replace_reverts_the_earlier_batches_once_the_new_one_succeeded(
        dd_root, emu, tmp_path, capsys) -> None:
    with runner.connect(dd_root) as conn:
        first = conn.ingest_scores(frame(), "rep_scores", "user_id")
        second = conn.ingest_scores(frame(), "rep_scores", "user_id")
        before = len(emu.requests)
        third = conn.ingest_scores(frame().assign(propensity=[0.9, 0.8, 0.7]), "rep_scores",
                                   "user_id", replace=True)
        sent = platform(emu, before)
        back = conn.read("rep_scores")
    assert third.reverted == (second.batch_id, first.batch_id)  # newest first
    assert third.summary().endswith(f"; replaced 2 earlier batch(es): {second.batch_id}, "
                                    f"{first.batch_id}")
    reverts = [(r.path, r.query) for r in sent if r.method == "POST" and r.query.get("action")
               == ["REVERT"]]
    assert reverts == [(f"/data/foundation/import/batches/{b}", {"action": ["REVERT"]})
                       for b in (second.batch_id, first.batch_id)]
    (listing,) = [r for r in sent if r.path == "/data/foundation/catalog/batches"]
    assert listing.query == {"dataSet": [third.dataset_id], "orderBy": ["desc:created"],
                             "limit": ["100"], "start": ["0"]}
    assert sent.index(listing) > max(i for i, r in enumerate(sent)
                                     if r.path.startswith(f"/data/foundation/catalog/batches/"
                                                          f"{third.batch_id}"))
    assert rows(back[["user_id", "propensity", "n"]]) == [("u1", 0.9, 1), ("u2", 0.8, 2),
                                                          ("u3", 0.7, 3)]
    statuses = {b: emu.state["ingest"].items[b].record["status"]
                for b in (first.batch_id, second.batch_id, third.batch_id)}
    assert statuses == {first.batch_id: "inactive", second.batch_id: "inactive",
                        third.batch_id: "success"}
    # a failed replacement reverts nothing: the earlier scores stay
    path = tmp_path / "scores.parquet"
    pq.write_table(pa.Table.from_pandas(frame(), preserve_index=False), path)
    emu.run_sql("ALTER TABLE rep_scores DROP COLUMN propensity")  # the next batch cannot load
    before = len(emu.requests)
    assert cli(dd_root, "--dataset", "rep_scores", "--identity", "user_id", "--file", str(path),
               "--replace") == 1
    assert "failed: TypeCompatibilityException" in capsys.readouterr().err
    assert [r for r in platform(emu, before) if r.query.get("action") == ["REVERT"]] == []
    assert emu.state["ingest"].items[third.batch_id].record["status"] == "success"


def test_locally_replace_keeps_only_the_new_scores(tmp_path) -> None:
    root = tmp_path / "demo"
    (root / "models").mkdir(parents=True)
    (root / "project.yml").write_text("name: demo\n", encoding="utf-8")
    (root / "models" / "m.sql").write_text("SELECT 1 AS n", encoding="utf-8")
    with runner.connect(root) as conn:
        conn.ingest_scores(frame(), "local_scores", "user_id")
        conn.ingest_scores(frame(), "local_scores", "user_id")
        assert len(conn.read("local_scores")) == 6
        result = conn.ingest_scores(frame().head(2), "local_scores", "user_id", replace=True)
        assert (result.records, result.found, len(conn.read("local_scores"))) == (
            2, ("dataset",), 2)
