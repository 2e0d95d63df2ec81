"""Audiences on a score field end to end (``Connection.create_audience``, ``runner audience
create``), and the labels of scores and audiences at the Platform boundary.

On the emulated Data Distiller scores with known values are ingested, then an audience on them
is created and run: the segment job counts exactly the identities in range (merged with the
seeded profiles), a second call only reads; the labels a model's scores carry are applied to
their dataset, and a dataflow whose destination refuses them is refused with nothing PATCHed.
Locally the same calls write the audience as a table of identities, with no credentials.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_audiences import activation_flow
from test_destinations_flow import DESTINATIONS

import runner
from aep_emulator import Emulator
from aep_emulator.catalog import catalog
from aep_emulator.flowservice import flowservice
from aep_emulator.segments import dataset_profiles, seed_profiles, segmentation
from emulator_fixtures import fast_client
from runner.cli.main import main
from runner.errors import ProjectError
from runner.run.audiences import AudienceResult
from test_distiller_build import dd_root, emu  # noqa: F401 - fixtures, used by name
from test_example_project import copy_example

QUIET = {"echo": lambda line: None}
TENANT = "emu0000000000000000000001"
REG = "/data/foundation/schemaregistry"
DEFS = "/data/core/ups/segment/definitions"
JOBS = "/data/core/ups/segment/jobs"
FLOWS = "/data/foundation/flowservice/flows"
LABELS = "/data/foundation/dataset/datasets/{}/labels"
HIGH = f"_{TENANT}.propensity >= 0.8"


def scores(values: dict[str, float | None]) -> pd.DataFrame:
    return pd.DataFrame({"user_id": list(values), "propensity": list(values.values())})


def sent(emu: Emulator, since: int) -> list[tuple[str, str]]:
    """(method, path) of the Platform requests since ``since`` (IMS left out)."""
    return [(r.method, r.path) for r in emu.requests[since:] if not r.path.startswith("/ims/")]


def cli(root: Path, *args: str) -> int:
    try:
        return main(["audience", "create", *args, "--project-dir", str(root)])
    except SystemExit as exit_:
        return int(exit_.code)


def configure(root: Path, **changes: object) -> Path:
    """``root``'s project.yml with top-level keys changed."""
    path = root / "project.yml"
    config = {**yaml.safe_load(path.read_text(encoding="utf-8")), **changes}
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return root


# -- the emulated Data Distiller --------------------------------------------------------------
def test_a_job_counts_the_identities_in_range_then_a_second_call_only_reads(dd_root, emu
                                                                            ) -> None:
    segmentation(emu).job_polls = 0  # the first poll answers SUCCEEDED: no 60 s wait
    seed_profiles(emu, [{f"_{TENANT}": {"propensity": 0.99}}, {f"_{TENANT}": {"propensity": 0.1}}])
    with runner.connect(dd_root) as conn:
        conn.ingest_scores(scores({"u1": 0.95, "u2": 0.8, "u3": 0.5, "u4": None}),
                           "churn_scores", "user_id")
        conn.ingest_scores(scores({"u3": 0.9}), "churn_scores", "user_id")  # later value wins
        assert dataset_profiles(emu) == [
            {f"_{TENANT}": {"user_id": "u1", "propensity": 0.95}},
            {f"_{TENANT}": {"user_id": "u2", "propensity": 0.8}},
            {f"_{TENANT}": {"user_id": "u3", "propensity": 0.9}},
            {f"_{TENANT}": {"user_id": "u4"}}]
        before = len(emu.requests)
        first = conn.create_audience("high", "propensity", 0.8, run=True)
        first_sent = sent(emu, before)
        before = len(emu.requests)
        second = conn.create_audience("high", "propensity", minimum=0.8)
        second_sent = sent(emu, before)
    ((job_id, job),) = segmentation(emu).jobs.items()
    assert first == AudienceResult("high", "aep", HIGH, True, first.segment_id, profiles=4)
    assert first_sent == [("GET", f"{REG}/stats"), ("GET", DEFS), ("POST", DEFS),
                          ("POST", JOBS), ("GET", f"{JOBS}/{job_id}")]
    assert job["metrics"]["totalProfiles"] == 6  # two seeded, four identities
    assert job["metrics"]["segmentedProfileCounter"] == {first.segment_id: 4}
    assert second == AudienceResult("high", "aep", HIGH, False, first.segment_id)
    assert second_sent == [("GET", f"{REG}/stats"), ("GET", DEFS)]
    assert first.summary() == (f"Audience high (segment {first.segment_id}) created on target "
                               f"'aep': {HIGH}; 4 profile(s)")
    client = fast_client(emu)  # an estimate counts the same profiles
    preview = client.post("/data/core/ups/preview", json={
        "predicateExpression": HIGH, "predicateType": "pql/text",
        "predicateModel": "_xdm.context.profile", "graphType": "none"})
    estimate = client.get(f"/data/core/ups/estimate/{preview['previewId']}")
    client.close()
    assert (estimate["state"], estimate["estimatedSize"], estimate["totalRows"]) == (
        "RESULT_READY", 4, 6)


def test_cli_on_distiller_prints_one_line_and_exits_0_or_2(dd_root, emu, capsys) -> None:
    segmentation(emu).job_polls = 0
    with runner.connect(dd_root) as conn:
        conn.ingest_scores(scores({"u1": 0.95, "u2": 0.6, "u3": 0.4}), "cli_scores", "user_id")
    assert cli(dd_root, "--name", "mid", "--field", "propensity", "--min", "0.4", "--max",
               "0.85", "--run") == 0
    (segment_id,) = segmentation(emu).definitions
    assert capsys.readouterr().out == (
        f"Audience mid (segment {segment_id}) created on target 'aep': _{TENANT}.propensity >= "
        f"0.4 and _{TENANT}.propensity <= 0.85; 2 profile(s)\n")
    before = len(emu.requests)
    assert cli(dd_root, "--name", "bad", "--field", "propensity", "--min", "0.9", "--max",
               "0.1") == 2
    assert capsys.readouterr().err == ("Error: audience on propensity: the range 0.9..0.1 is "
                                       "empty (minimum is above maximum)\n")
    assert cli(dd_root, "--name", "mid", "--field", "propensity", "--min", "0.4", "--max",
               "0.85", "--flow", "f1") == 2
    assert capsys.readouterr().err == (
        "Error: audience mid: flow='f1' needs the scores dataset the field comes from "
        "(dataset=, --dataset), whose labels the dataflow's destination must accept\n")
    assert sent(emu, before) == []


LABELLED = {"raw_orders": {"columns": {"order_id": "", "user_id": "",
                                       "amount": {"labels": ["C9"]}}},
            "raw_users": {}}
SCORE_MODEL = "SELECT user_id, total / 30.0 AS propensity FROM training_set\n"


@pytest.fixture
def labelled(dd_root: Path, emu: Emulator) -> Path:
    """dd_root named ``demo`` with C9 on raw_orders.amount, a score model over the training
    set (u1 0.83, u2 1.0, u3 0.67, u4 and u5 0), built on the emulated Data Distiller."""
    configure(dd_root, name="demo", sources=LABELLED)
    (dd_root / "models" / "propensity.sql").write_text(SCORE_MODEL, encoding="utf-8")
    assert runner.build(dd_root, **QUIET).ok
    return dd_root


def test_scores_from_a_labelled_model_carry_its_labels_and_others_none(labelled, emu) -> None:
    with runner.connect(labelled) as conn:
        before = len(emu.requests)
        result = conn.ingest_scores("propensity", "model_scores", "user_id")
        first = sent(emu, before)
        before = len(emu.requests)
        plain = conn.ingest_scores("stg_users", "tier_scores", "user_id")
        second = [r for r in emu.requests[before:] if "/labels" in r.path]
    path = LABELS.format(result.dataset_id)
    posted = [r for r in emu.requests if r.path == path and r.method in ("POST", "PUT")]
    assert result.labels == ("C9",) and result.summary().endswith("; labels C9")
    schema = {"id": catalog(emu).get(result.dataset_id)["schemaRef"]["id"],
              "contentType": "application/vnd.adobe.xed-full+json;version=1"}
    assert [r.json for r in posted] == [{  # the union on the dataset, each column's on its field
        "entityId": {"namespace": "AEP", "type": "dataset", "id": result.dataset_id},
        "labels": ["C9"], "optionalLabels": [
            {"option": {**schema, "schemaPath": f"/properties/_{TENANT}/properties/{column}"},
             "labels": ["C9"]} for column in ("propensity", "user_id")]}]
    assert first.index(("POST", path)) < first.index(("POST", "/data/foundation/import/batches"))
    assert plain.labels == () and [(r.method, r.path) for r in second
                                   if plain.dataset_id in r.path] == []


def test_a_flow_whose_destination_refuses_the_labels_is_refused_with_no_patch(
        labelled, emu, capsys) -> None:
    configure(labelled, exports=[{"model": "training_set", "destination": {
        "type": "data_landing_zone", **DESTINATIONS["data_landing_zone"],
        "refuse_labels": ["C9"]}}])
    client = fast_client(emu)
    flow_id = activation_flow(emu, client, labelled / "flow")
    client.close()
    assert flowservice(emu).objects["flows"][flow_id]["name"] == (
        "runner:demo:audiences:training_set:data_landing_zone")
    with runner.connect(labelled) as conn:
        conn.ingest_scores("propensity", "model_scores", "user_id")
        before = len(emu.requests)
        result = conn.create_audience("high", "propensity", 0.8, flow=flow_id,
                                      dataset="model_scores")
        assert [call for call in sent(emu, before) if call[0] != "GET"] == []  # nothing written
    line = (f"audience high: dataflow {flow_id} refused by the label policy: the audience's "
            "data carries C9 (no data science), which the destination of exports[0] "
            "(data_landing_zone) refuses; nothing was changed")
    assert (result.ok, result.export, result.flow_patched, result.summary()) == (
        False, "exports[0]", None, line)
    before = len(emu.requests)
    assert cli(labelled, "--name", "high", "--field", "propensity", "--min", "0.8",
               "--flow", flow_id, "--dataset", "model_scores") == 1
    assert capsys.readouterr().err == f"Error: {line}\n"
    assert [call for call in sent(emu, before) if call[0] != "GET"] == []
    assert segmentation(emu).definitions == {}  # a refused flow leaves no audience behind

    configure(labelled, name="other")  # the flow is now no export of this project: C12 only
    assert cli(labelled, "--name", "high", "--field", "propensity", "--min", "0.8", "--run",
               "--flow", flow_id, "--dataset", "model_scores") == 0
    (segment_id,) = segmentation(emu).definitions
    assert capsys.readouterr().out == (
        f"Audience high (segment {segment_id}) created on target 'aep': {HIGH}; 2 profile(s); "
        f"added to dataflow {flow_id} (no export of project.yml: only the C12 rule was "
        "checked)\n")
    (patch,) = [r for r in emu.requests if r.method == "PATCH" and r.path == f"{FLOWS}/{flow_id}"
                and isinstance(r.json, list) and r.json[0]["op"] == "add"]
    assert patch.json[0]["value"]["value"]["id"] == segment_id


def test_an_audience_sent_to_an_export_makes_its_dataflow_once_and_patches_once(
        labelled, emu, capsys) -> None:
    segmentation(emu).job_polls = 0
    configure(labelled, exports=[{"model": "training_set", "name": "lake", "destination": {
        "type": "data_landing_zone", **DESTINATIONS["data_landing_zone"]}}])
    with runner.connect(labelled) as conn:
        conn.ingest_scores("propensity", "model_scores", "user_id")
        before = len(emu.requests)
        first = conn.create_audience("high", "propensity", 0.8, run=True, export="lake",
                                     dataset="model_scores")
        first_sent = [c for c in sent(emu, before) if c[0] != "GET"]
        before = len(emu.requests)
        second = conn.create_audience("high", "propensity", 0.8, export="lake",
                                      dataset="model_scores")
        second_sent = [c for c in sent(emu, before) if c[0] != "GET"]
    flows = flowservice(emu).objects["flows"]
    (flow_id,) = [k for k, v in flows.items() if v["name"] == "runner:demo:audiences:training_set:lake"]
    fs = "/data/foundation/flowservice"
    assert first_sent == [("POST", DEFS), ("POST", JOBS), ("POST", f"{fs}/connections"),
                          ("POST", f"{fs}/sourceConnections"),
                          ("POST", f"{fs}/targetConnections"), ("POST", FLOWS),
                          ("PATCH", f"{FLOWS}/{flow_id}")]
    assert (first.flow, first.flow_created, first.flow_patched, first.export) == (
        flow_id, True, True, "exports[0]")
    assert first.summary() == (f"Audience high (segment {first.segment_id}) created on target "
                               f"'aep': {HIGH}; 2 profile(s); added to new dataflow {flow_id} "
                               "(exports[0])")
    assert second_sent == [] and (second.flow_created, second.flow_patched) == (False, False)
    [selector] = flows[flow_id]["transformations"][0]["params"]["segmentSelectors"]["selectors"]
    assert (selector["value"]["id"], selector["value"]["name"]) == (first.segment_id, "high")
    assert cli(labelled, "--name", "high", "--field", "propensity", "--min", "0.8", "--export",
               "lake", "--dataset", "model_scores") == 0
    assert capsys.readouterr().out == (f"Audience high (segment {first.segment_id}) found on "
                                       f"target 'aep': {HIGH}; already in dataflow {flow_id} "
                                       "(exports[0])\n")
    before = len(emu.requests)
    assert cli(labelled, "--name", "high", "--field", "propensity", "--min", "0.8", "--export",
               "lak", "--dataset", "model_scores") == 2
    assert capsys.readouterr().err == ("Error: audience high: project.yml has no export named "
                                       "'lak' (did you mean 'lake'?) (exports: lake)\n")
    assert cli(labelled, "--name", "high", "--field", "propensity", "--min", "0.8", "--export",
               "lake") == 2
    assert capsys.readouterr().err == (
        "Error: audience high: export='lake' needs the scores dataset the field comes from "
        "(dataset=, --dataset), whose labels the dataflow's destination must accept\n")
    assert sent(emu, before) == []
    with runner.connect(labelled) as conn, pytest.raises(ProjectError) as err:
        conn.create_audience("high", "propensity", 0.8, flow=flow_id, export="lake",
                             dataset="model_scores")
    assert str(err.value) == ("audience high: give a dataflow (flow=, --flow) or an export "
                              "(export=, --export), not both")


def test_activate_now_exports_the_audience_through_the_exports_dataflow(labelled, emu,
                                                                        capsys) -> None:
    segmentation(emu).job_polls = 0
    configure(labelled, exports=[{"model": "training_set", "name": "lake", "format": "json",
                                  "destination": {"type": "data_landing_zone",
                                                  **DESTINATIONS["data_landing_zone"]}}])
    with runner.connect(labelled) as conn:
        conn.ingest_scores("propensity", "model_scores", "user_id")
        result = conn.create_audience("high", "propensity", 0.8, export="lake",
                                      dataset="model_scores", activate=True)
    run_id = result.activation.run_id
    assert result.activation == (run_id, 2, 1)
    assert result.summary().endswith(f"; added to new dataflow {result.flow} (exports[0]); "
                                     f"exported 2 profile(s) in 1 file(s) now (run {run_id})")
    (landed,) = (emu.landing_dir() / "dlz-destination" / "cmle" / "egress").glob("*.json.gz")
    with gzip.open(landed, "rt") as lines:
        rows = sorted((json.loads(line) for line in lines), key=lambda r: r[f"_{TENANT}_user_id"])
    assert rows == [{f"_{TENANT}_propensity": 25 / 30, f"_{TENANT}_user_id": "u1"},
                    {f"_{TENANT}_propensity": 1.0, f"_{TENANT}_user_id": "u2"}]
    before = len(emu.requests)
    assert cli(labelled, "--name", "high", "--field", "propensity", "--min", "0.8",
               "--activate-now") == 2
    assert capsys.readouterr().err == (
        "Error: audience high: activate=True (--activate-now) exports through a dataflow: give "
        "flow= (--flow) or export= (--export)\n")
    assert sent(emu, before) == []


def test_an_export_is_named_unambiguously_and_only_on_its_targets(labelled, emu, capsys) -> None:
    dlz = {"type": "data_landing_zone", **DESTINATIONS["data_landing_zone"]}
    configure(labelled, exports=[
        {"model": "training_set", "name": "lake", "destination": dlz},
        {"model": "propensity", "name": "lake", "destination": {**dlz, "path": "scores"}},
        {"model": "training_set", "name": "prod_lake", "destination": dlz,
         "targets": ["prod"]}])
    with runner.connect(labelled) as conn:
        conn.ingest_scores("propensity", "model_scores", "user_id")
    args = ("--name", "high", "--field", "propensity", "--min", "0.8", "--dataset",
            "model_scores", "--export")
    before = len(emu.requests)
    assert cli(labelled, *args, "lake") == 2
    assert capsys.readouterr().err == (
        "Error: audience high: 2 exports are named 'lake'; give one as <model>:<name> "
        "(training_set:lake, propensity:lake)\n")
    assert cli(labelled, *args, "prod_lake") == 2
    assert capsys.readouterr().err == (
        "Error: audience high: export 'prod_lake' (exports[2]) is declared for target(s) prod, "
        "not 'aep'\n")
    assert [c for c in sent(emu, before) if c[0] != "GET"] == []
    assert cli(labelled, *args, "propensity:lake") == 0
    (flow_id,) = [k for k, v in flowservice(emu).objects["flows"].items()
                  if v["name"] == "runner:demo:audiences:propensity:lake"]
    assert capsys.readouterr().out.endswith(f"; added to new dataflow {flow_id} (exports[1])\n")
    target = flowservice(emu).objects["targetConnections"][
        flowservice(emu).objects["flows"][flow_id]["targetConnectionIds"][0]]
    assert target["params"]["path"] == "scores"


def test_an_export_whose_destination_refuses_the_labels_gets_no_dataflow(labelled, emu,
                                                                         capsys) -> None:
    configure(labelled, exports=[
        {"model": "training_set", "name": "lake", "destination": {
            "type": "data_landing_zone", **DESTINATIONS["data_landing_zone"],
            "refuse_labels": ["C9"]}},
        {"model": "training_set", "name": "files", "destination": {"type": "local"}}])
    with runner.connect(labelled) as conn:
        conn.ingest_scores("propensity", "model_scores", "user_id")
    made = {kind: set(objs) for kind, objs in flowservice(emu).objects.items()}
    before = len(emu.requests)
    assert cli(labelled, "--name", "high", "--field", "propensity", "--min", "0.8", "--export",
               "lake", "--dataset", "model_scores") == 1
    assert capsys.readouterr().err == (
        "Error: audience high: the dataflow of exports[0] refused by the label policy: the "
        "audience's data carries C9 (no data science), which the destination of exports[0] "
        "(lake) refuses; nothing was changed\n")
    assert [c for c in sent(emu, before) if c[0] != "GET"] == []
    assert {kind: set(objs) for kind, objs in flowservice(emu).objects.items()} == made
    assert segmentation(emu).definitions == {}
    assert cli(labelled, "--name", "high", "--field", "propensity", "--min", "0.8", "--export",
               "files", "--dataset", "model_scores") == 2
    assert capsys.readouterr().err == (
        "Error: audience high: export 'files' (exports[1]) writes local files; an audience "
        "needs a Flow Service destination\n")


def test_the_notebook_flow_on_distiller(labelled, emu) -> None:
    """Read the training set, compute a score, ingest it, make and run an audience on it."""
    segmentation(emu).job_polls = 0
    with runner.connect(labelled) as conn:
        df = conn.read("training_set")
        df["propensity"] = df["total"].astype(float) / 30.0  # numeric: Decimals
        conn.ingest_scores(df[["user_id", "propensity"]], "nb_scores", "user_id")
        audience = conn.create_audience("nb_high", "propensity", 0.8, run=True)
    assert (audience.created, audience.profiles) == (True, 2)  # u1 (25/30) and u2 (30/30)


# -- locally ----------------------------------------------------------------------------------
def test_the_notebook_flow_locally_needs_no_credentials(tmp_path: Path) -> None:
    root = copy_example(tmp_path / "example", users=200)
    assert runner.build(root, **QUIET).ok
    with runner.connect(root) as conn:
        df = conn.read("training_set")
        df["propensity"] = 0.25 + 0.5 * df["open_rate_90d"]
        scored = df[["user_id", "propensity"]].drop_duplicates("user_id", keep="last")
        conn.ingest_scores(scored, "nb_scores", "user_id")
        audience = conn.create_audience("nb_high", "propensity", 0.5, dataset="nb_scores")
        members = conn.read("audience_nb_high")
    expected = sorted(scored.loc[scored["propensity"] >= 0.5, "user_id"])
    assert 0 < len(expected) < len(scored)
    assert (audience.segment_id, audience.profiles) == (None, len(expected))
    assert members["user_id"].tolist() == expected


@pytest.fixture
def local(tmp_path: Path) -> Path:
    root = tmp_path / "demo"
    (root / "models").mkdir(parents=True)
    (root / "project.yml").write_text("name: demo\n", encoding="utf-8")
    (root / "models" / "m.sql").write_text("SELECT 1 AS n", encoding="utf-8")
    return root


def test_locally_the_audience_is_a_table_of_the_identities_in_range(local, capsys) -> None:
    with runner.connect(local) as conn:
        conn.ingest_scores(scores({"u1": 0.95, "u2": 0.8, "u3": 0.5, "u4": None}), "churn",
                           "user_id")
        first = conn.create_audience("high", "propensity", 0.8, dataset="churn")
        members = conn.read("audience_high")
        with pytest.raises(ProjectError) as err:
            conn.create_audience("high", "propensity", 0.8)
    assert first == AudienceResult("high", "local", "_local.propensity >= 0.8", True,
                                   table="audience_high", profiles=2)
    assert members.to_dict("list") == {"user_id": ["u1", "u2"]}
    assert str(err.value) == ("audience high: on target 'local' (off Platform) give the scores "
                              "dataset whose identities it selects (dataset=, --dataset)")
    assert cli(local, "--name", "high", "--field", "propensity", "--max", "0.9", "--dataset",
               "churn") == 0
    assert capsys.readouterr().out == ("Audience high (table audience_high) found on target "
                                       "'local': _local.propensity <= 0.9; 2 profile(s)\n")
    with runner.connect(local) as conn:
        assert conn.read("audience_high").to_dict("list") == {"user_id": ["u2", "u3"]}
    assert cli(local, "--name", "high", "--field", "propensity", "--min", "0.8") == 2
    assert capsys.readouterr().err == (
        "Error: audience high: on target 'local' (off Platform) give the scores dataset whose "
        "identities it selects (dataset=, --dataset)\n")
    assert cli(local, "--name", "high", "--field", "propensty", "--min", "0.8", "--dataset",
               "churn") == 2
    assert capsys.readouterr().err == (
        "Error: audience high: 'propensty' is not a score column of dataset 'churn' (did you "
        "mean 'propensity'?) (identity: user_id; scores: propensity)\n")


# -- estimates ------------------------------------------------------------------------------
def estimate_cli(root: Path, *args: str) -> int:
    try:
        return main(["audience", "estimate", *args, "--project-dir", str(root)])
    except SystemExit as exit_:
        return int(exit_.code)


def test_an_estimate_on_distiller_previews_and_polls_and_makes_nothing(dd_root, emu,
                                                                       capsys) -> None:
    seed_profiles(emu, [{f"_{TENANT}": {"propensity": 0.99}}, {f"_{TENANT}": {"propensity": 0.1}}])
    with runner.connect(dd_root) as conn:
        conn.ingest_scores(scores({"u1": 0.95, "u2": 0.8, "u3": 0.5}), "est_scores", "user_id")
        segmentation(emu).job_polls = 1  # the first read answers RUNNING, the second is ready
        before = len(emu.requests)
        found = conn.estimate_audience("propensity", 0.8)
        made = sent(emu, before)
    (preview_id,) = segmentation(emu).previews
    assert (found.pql, found.profiles, found.total, found.standard_error, found.confidence) == (
        HIGH, 3, 5, 0.0, "95%")
    assert made == [("GET", f"{REG}/stats"), ("POST", "/data/core/ups/preview"),
                    ("GET", f"/data/core/ups/estimate/{preview_id}"),
                    ("GET", f"/data/core/ups/estimate/{preview_id}")]
    assert emu.requests_to("/data/core/ups/preview", "POST")[0].json == {
        "predicateExpression": HIGH, "predicateType": "pql/text",
        "predicateModel": "_xdm.context.profile", "graphType": "none"}
    assert segmentation(emu).definitions == {} and segmentation(emu).jobs == {}
    segmentation(emu).job_polls = 0
    assert estimate_cli(dd_root, "--field", "propensity", "--max", "0.5") == 0
    assert capsys.readouterr().out == (f"Estimate on target 'aep': _{TENANT}.propensity <= 0.5 "
                                       "selects 2 of 5 profile(s) (every profile read: "
                                       "exact)\n")
    before = len(emu.requests)
    assert estimate_cli(dd_root, "--field", "propensity") == 2
    assert capsys.readouterr().err == ("Error: estimate on propensity: give a minimum, a maximum "
                                       "or both\n")
    assert sent(emu, before) == []


def test_a_failed_or_endless_estimate_is_an_error_naming_the_state() -> None:
    from runner.errors import PlatformError
    from runner.platform.audiences import estimate_audience

    class Client:
        def __init__(self, states: list[dict]) -> None:
            self.states = states

        def post(self, path: str, json: object) -> dict:
            return {"previewId": "p1", "state": "NEW"}

        def get(self, path: str) -> dict:
            return self.states.pop(0) if len(self.states) > 1 else self.states[0]

    failed = Client([{"state": "RUNNING"}, {"state": "FAILED", "error": {
        "description": "Unknown field _t.nope"}}])
    with pytest.raises(PlatformError) as err:
        estimate_audience(failed, "_t.nope >= 1", sleep=lambda s: None)  # type: ignore[arg-type]
    assert str(err.value) == ("GET /data/core/ups/estimate/p1: the estimate of '_t.nope >= 1' "
                              "ended FAILED: Unknown field _t.nope")
    ticks = iter(range(100))
    with pytest.raises(PlatformError) as err:
        estimate_audience(Client([{"state": "RUNNING"}]), "_t.p >= 1", timeout=3,  # type: ignore[arg-type]
                          sleep=lambda s: None, clock=lambda: float(next(ticks)))
    assert str(err.value) == ("GET /data/core/ups/estimate/p1: the estimate of '_t.p >= 1' "
                              "still RUNNING after 3 s (raise the timeout or preview it in "
                              "Platform)")


def test_locally_an_estimate_counts_the_identities_and_writes_nothing(local, capsys) -> None:
    with runner.connect(local) as conn:
        conn.ingest_scores(scores({"u1": 0.95, "u2": 0.8, "u3": 0.5, "u4": None}), "churn",
                           "user_id")
        found = conn.estimate_audience("propensity", 0.8, dataset="churn")
        names = [d.name for d in conn.datasets()]
    assert (found.pql, found.profiles, found.total) == ("_local.propensity >= 0.8", 2, 4)
    assert "audience_high" not in names and not any(n.startswith("audience_") for n in names)
    assert estimate_cli(local, "--field", "propensity", "--min", "0.5", "--max", "0.9",
                        "--dataset", "churn") == 0
    assert capsys.readouterr().out == ("Estimate on target 'local': _local.propensity >= 0.5 "
                                       "and _local.propensity <= 0.9 selects 2 of 4 profile(s)\n")
    assert estimate_cli(local, "--field", "propensity", "--min", "0.5") == 2
    assert capsys.readouterr().err == (
        "Error: estimate on propensity: on target 'local' (off Platform) give the scores "
        "dataset to count (dataset=, --dataset)\n")
