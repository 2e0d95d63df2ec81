"""The example notebooks run top to bottom (nbclient, a real Jupyter kernel): on a copy of the
example project build, explore in Spark SQL, train, score; on a copy of examples/distiller_demo
built on the emulated Data Distiller, score, ingest the scores as a Profile dataset, estimate
and make an audience on them, and activate it to the export's destination."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pyarrow.parquet as pq
import pytest
from nbclient import NotebookClient

from aep_emulator import Emulator
from aep_emulator.flowservice import flowservice
from aep_emulator.segments import segmentation

from emulator_fixtures import engine_rows
from test_example_project import copy_example

EXAMPLES = Path(__file__).parents[1] / "examples"
NOTEBOOK = EXAMPLES / "propensity.ipynb"
LOOP = EXAMPLES / "close_the_loop.ipynb"


def run_notebook(path: Path) -> list[list[dict]]:
    """Execute the notebook in a real kernel; each code cell's outputs."""
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return [cell.get("outputs", []) for cell in notebook.cells if cell.cell_type == "code"]


def stdout(outputs: list[dict]) -> str:
    return "".join(o.get("text", "") for o in outputs if o.get("name") == "stdout")


def test_the_example_notebook_runs_top_to_bottom(tmp_path, monkeypatch) -> None:
    root = copy_example(tmp_path / "example")
    monkeypatch.setenv("RUNNER_PROJECT", str(root))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(NOTEBOOK.parents[1]), os.environ.get("PYTHONPATH", "")]))
    outputs = run_notebook(NOTEBOOK)
    build_view = outputs[0][0]["data"]["text/html"]
    assert build_view.startswith("<p><b>OK</b> on target <code>local</code>:")
    assert "<td>training_set</td><td>success</td>" in build_view
    printed = stdout(outputs[2])
    assert " users, " in printed and "test AUC 0." in printed
    auc = float(printed.split("test AUC ")[1].split()[0])
    assert auc > 0.58  # the synthetic data plants a signal (0.645 with scikit-learn 1.9)
    assert "propensity" in outputs[3][0]["data"]["text/plain"]


@pytest.mark.postgres
def test_the_loop_notebook_ingests_scores_on_the_emulated_platform(emulator: Emulator, tmp_path,
                                                                   monkeypatch) -> None:
    emulator.run_sql((EXAMPLES / "distiller_demo" / "seed.sql").read_text())
    for key, value in emulator.environment().items():
        monkeypatch.setenv(key, value)
    root = tmp_path / "distiller_demo"
    shutil.copytree(EXAMPLES / "distiller_demo", root, ignore=shutil.ignore_patterns("target"))
    monkeypatch.setenv("RUNNER_PROJECT", str(root))
    outputs = run_notebook(LOOP)

    assert "<td>training_set</td><td>success</td>" in outputs[0][0]["data"]["text/html"]
    assert stdout(outputs[1]).startswith("171 users scored, propensity from 0.")
    first, second = stdout(outputs[2]).splitlines()
    assert first.startswith("Ingested 171 record(s) into dataset propensity_scores (")
    assert first.endswith("(created: fieldgroup, schema, identity, union, dataset)")
    assert second.startswith("Ingested 171 record(s) into dataset propensity_scores (")
    assert second.endswith("(found: fieldgroup, schema, identity, union, dataset, profile tags)")
    # what the emulator saw: one setup, two batches, each loaded with every scored user
    posts = [r.path for r in emulator.requests if r.method == "POST"
             and r.path.startswith("/data/foundation/schemaregistry/")]
    assert sorted(posts) == ["/data/foundation/schemaregistry/tenant/descriptors",
                             "/data/foundation/schemaregistry/tenant/fieldgroups",
                             "/data/foundation/schemaregistry/tenant/schemas"]
    datasets = [r for r in emulator.requests if r.method == "POST"
                and r.path == "/data/foundation/catalog/dataSets"]
    batches = [r for r in emulator.requests if r.method == "POST"
               and r.path == "/data/foundation/import/batches"]
    assert len(datasets) == 1 and len(batches) == 2
    rows = engine_rows(emulator, "SELECT count(*), count(DISTINCT user_id), min(propensity) > 0, "
                                 "max(propensity) < 1 FROM propensity_scores")
    assert rows == [(342, 171, True, True)]
    # the audience: one definition on the score, one job counting the users in range
    estimated, created, compared = stdout(outputs[3]).splitlines()
    threshold = float(compared.split(" at or above ")[1])
    (expected,), = engine_rows(emulator, "SELECT count(DISTINCT user_id) FROM propensity_scores "
                                         f"WHERE propensity >= {threshold}")
    assert compared == f"{expected} scored users at or above {threshold}" and expected > 0
    assert estimated.endswith(f".propensity >= {threshold} selects {expected} of 171 profile(s) "
                              "(every profile read: exact)")
    assert created.startswith("Audience high_propensity (segment ")
    assert created.endswith(f".propensity >= {threshold}; {expected} profile(s)")
    definitions = [r.json for r in emulator.requests if r.method == "POST"
                   and r.path == "/data/core/ups/segment/definitions"]
    assert [d["expression"]["value"] for d in definitions] == [
        f"_{emulator.org_id.split('@')[0].lower()}.propensity >= {threshold}"]
    assert [r.path for r in emulator.requests if r.method == "POST"
            and r.path.startswith("/data/core/ups/segment/jobs")] == ["/data/core/ups/segment/jobs"]
    # activation: the export's audience dataflow made once, the audience patched in once
    activated, again = stdout(outputs[4]).splitlines()
    flows = [r for r in emulator.requests if r.method == "POST"
             and r.path == "/data/foundation/flowservice/flows"]
    assert [f.json["name"] for f in flows] == [
        "runner:distiller_demo:training_set:data_landing_zone",
        "runner:distiller_demo:audiences:training_set:data_landing_zone"]
    flow_id = next(k for k, v in flowservice(emulator).objects["flows"].items()
                   if v["name"] == "runner:distiller_demo:audiences:training_set:data_landing_zone")
    patches = [r for r in emulator.requests if r.method == "PATCH"
               and r.path == f"/data/foundation/flowservice/flows/{flow_id}"]
    (segment_id,) = segmentation(emulator).definitions
    assert [p.json[0]["value"]["value"]["id"] for p in patches] == [segment_id]
    run_id = activated.rsplit("(run ", 1)[1].rstrip(")")
    assert activated.endswith(f"; added to new dataflow {flow_id} (exports[0]); exported "
                              f"{expected} profile(s) in 1 file(s) now (run {run_id})")
    (landed,) = (emulator.landing_dir() / "dlz-destination" / "demo" / "egress").glob(
        f"*{segment_id}*.gz.parquet")
    members = pq.read_table(landed).column(f"_{emulator.org_id.split('@')[0].lower()}_user_id")
    assert sorted(members.to_pylist()) == sorted(r[0] for r in engine_rows(
        emulator, f"SELECT DISTINCT user_id FROM propensity_scores WHERE propensity >= {threshold}"))
    assert again.endswith(f"; already in dataflow {flow_id} (exports[0])")
