"""Flow Service exports end to end through the emulator: exact calls, landed files, idempotency.

The golden files ``tests/fixtures/destinations/flow_<type>.json`` hold, per destination type,
every request the exporter sends on a first run (method, path, query, the headers that matter,
the JSON body) with generated ids replaced by ``<id:N>``, the dataset id by ``<dataset>`` and
secrets by ``<secret:VAR>``. ``UPDATE_GOLDEN=1 pytest …`` rewrites them (then review the diff).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from collections.abc import Iterator
from typing import Any

import pytest
from emulator_fixtures import PG_DSN, fast_client, require_postgres

from destinations import BuiltDataset, ExportContext, parse_exports, run_exports
from destinations.files import read_export
from destinations.types import (ADHOC_RUN, DESTINATION_TYPES, FLOWSERVICE, NOT_READY,
                                SOURCE_SPEC_ID)
from aep_emulator.catalog import catalog
from aep_emulator import Emulator
from aep_emulator.flowservice import FlowService, flowservice

pytestmark = pytest.mark.postgres

GOLDEN = Path(__file__).parent / "fixtures" / "destinations"
CLOCK = 1_790_000_000.0
SECRETS = {"T_ACCESS": "test-access-key-id", "T_SECRET": "test-secret/key+1",
           "T_CONN": "DefaultEndpointsProtocol=https;AccountKey=test-account-key",
           "T_SPK": "test-service-principal-key", "T_PASS": "test-sftp-password"}
SPEC_IDS = {SOURCE_SPEC_ID} | {i for t in DESTINATION_TYPES.values()
                              for i in (t.connection_spec, t.flow_spec)}
WAIT = {"adhoc_retry_wait": 60, "poll_interval": 30, "run_timeout": 600}
DESTINATIONS = {
    "amazon_s3": {"bucket": "ml-bucket", "path": "feat/egress", "access_key_env": "T_ACCESS",
                  "secret_key_env": "T_SECRET"},
    "azure_blob": {"container": "ml", "path": "feat/egress", "connection_string_env": "T_CONN"},
    "adls_gen2": {"path": "ml/feat", "url": "https://acct.dfs.core.windows.net",
                  "service_principal_id": "sp-1", "tenant": "tenant-1",
                  "service_principal_key_env": "T_SPK"},
    "data_landing_zone": {"path": "cmle/egress"},
    "google_cloud_storage": {"bucket": "gcs-ml", "path": "feat", "access_key_env": "T_ACCESS",
                             "secret_key_env": "T_SECRET"},
    "sftp": {"domain": "sftp.example.com", "username": "ml", "remote_path": "/upload/feat",
             "password_env": "T_PASS"},
}


class Project:
    """A tmp project exporting tables of the emulator's sandbox through its Flow Service."""

    def __init__(self, emu: Any, client: Any, root: Path) -> None:
        self.emu, self.fs = emu, flowservice(emu)
        self.now, self.sleeps, self.lines = CLOCK, [], []
        self.ctx = ExportContext(adapter=None, target_name="prod", target_type="data_distiller",
                                 project_root=root, state_dir=root / "target", platform=client,
                                 echo=self.lines.append, project_name="demo",
                                 clock=lambda: self.now, sleep=self.sleep)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def table(self, name: str, rows: int = 250) -> BuiltDataset:
        """Create ``name`` with ``rows`` rows of mixed types; its dataset as the build reports it."""
        conn = self.emu.engine.connect()
        with conn, conn.cursor() as cur:
            cur.execute(f"""CREATE TABLE {name} AS SELECT g AS user_id, 'u' || g AS name,
                g * 1.5::float8 AS score, (g % 3 = 0) AS subscribed, DATE '2026-01-01' + g AS day,
                TIMESTAMP '2026-01-01 00:00:00' + g * INTERVAL '1 hour' AS ts,
                (g * 0.25)::numeric(10, 2) AS amount,
                CASE WHEN g % 5 = 0 THEN NULL ELSE g END AS maybe
                FROM generate_series(1, {rows}) g""")
        conn.close()
        cat = catalog(self.emu)
        cat.sync()
        ds_id = next(k for k, v in cat.datasets.items() if v["name"] == name)
        return BuiltDataset("training_set", name, name.rsplit("__", 1)[-1], ds_id)

    def run(self, dataset: BuiltDataset, dtype: str = "data_landing_zone", **entry: Any):
        params = entry.pop("destination", DESTINATIONS[dtype])
        specs = parse_exports([{"model": "training_set", "wait": WAIT,
                                "destination": {"type": dtype, **params}, **entry}])
        return run_exports(specs, {"training_set": dataset}, self.ctx, **self.flags)[0]

    flags: dict[str, bool] = {}

    def calls(self, since: int = 0) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.emu.requests[since:]
                if not r.path.startswith("/ims/")]

    def counts(self) -> dict[str, int]:
        return {kind: len(objs) for kind, objs in self.fs.objects.items() if kind != "runs"}


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[Emulator, Any]]:
    """One emulator for the module (a sandbox database per test would triple the run time)."""
    require_postgres()
    with Emulator(engine_dsn=PG_DSN) as emu:
        client = fast_client(emu)
        yield emu, client
        client.close()


@pytest.fixture
def proj(shared: tuple[Emulator, Any], tmp_path: Path,
         monkeypatch: pytest.MonkeyPatch) -> Project:
    """A fresh project on the shared emulator, reset to empty: no tables, flows or faults."""
    emu, client = shared
    conn = emu.engine.connect()
    with conn, conn.cursor() as cur:
        cur.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    conn.close()
    catalog(emu).sync()
    FlowService.__init__(flowservice(emu), emu)
    emu.faults.clear()
    emu.requests.clear()
    shutil.rmtree(emu.landing_dir())
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return Project(emu, client, tmp_path)


def normalize(requests: list[Any], dataset_id: str) -> list[dict[str, Any]]:
    """The recorded requests with generated ids and secrets replaced by stable placeholders."""
    ids: dict[str, str] = {}
    uuid = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

    def clean(text: str) -> str:
        text = text.replace(dataset_id, "<dataset>")
        for var, secret in SECRETS.items():
            text = text.replace(secret, f"<secret:{var}>")
        return uuid.sub(lambda m: ids.setdefault(m.group(), f"<id:{len(ids) + 1}>")
                        if m.group() not in SPEC_IDS else m.group(), text)

    out = []
    for r in requests:
        if r.path.startswith("/ims/"):
            continue
        headers = {k: r.headers[k] for k in ("accept", "content-type", "if-match")
                   if k in r.headers}
        if "if-match" in headers:
            headers["if-match"] = "<etag>"
        out.append({"call": clean(f"{r.method} {r.path}"),
                    "query": {k: v for k, v in r.query.items()}, "headers": headers,
                    "body": json.loads(clean(json.dumps(r.json))) if r.body else None})
    return out


@pytest.mark.parametrize("dtype", sorted(DESTINATIONS))
def test_first_run_sends_the_documented_calls(proj: Project, dtype: str) -> None:
    dataset = proj.table("training_set__a1")
    res = proj.run(dataset, dtype)
    assert (res.status, res.records, res.files) == ("success", 250, 1), res.message
    got = normalize(proj.emu.requests, dataset.dataset_id)
    path = GOLDEN / f"flow_{dtype}.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(got, indent=2) + "\n")
    assert got == json.loads(path.read_text())
    state = (proj.ctx.state_dir / "exports_state.json").read_text()
    for secret in SECRETS.values():  # no credential in the state file, the result or any line
        assert secret not in state and secret not in str(res.to_dict())
        assert not any(secret in line for line in proj.lines)


def test_landed_files_equal_the_table_row_for_row(proj: Project) -> None:
    proj.fs.rows_per_file = 100
    dataset = proj.table("training_set__a1")
    res = proj.run(dataset)
    landed = sorted((proj.emu.landing_dir() / "dlz-destination/cmle/egress" /
                     dataset.dataset_id).rglob("part-*"))
    assert [p.parent.name.startswith("exportTime=") for p in landed] == [True] * 3
    assert [p.name[-16:] for p in landed] == ["-c000.gz.parquet"] * 3
    assert (res.records, res.files, res.bytes) == (250, 3, sum(p.stat().st_size for p in landed))
    assert res.path == f"dlz-destination/cmle/egress/{dataset.dataset_id}"
    expected = proj.emu.read_table("training_set__a1").to_pylist()
    assert sorted(read_export(landed).to_pylist(), key=lambda r: r["user_id"]) == expected
    assert res.message == (f"exported 250 rows in 3 file(s) to Data Landing Zone "
                           f"dlz-destination/cmle/egress/{dataset.dataset_id}")


def test_json_export_lands_gzip_json_lines(proj: Project) -> None:
    dataset = proj.table("training_set__a1", rows=20)
    res = proj.run(dataset, "amazon_s3", format="json")
    [part] = (proj.emu.landing_dir() / "ml-bucket/feat/egress" / dataset.dataset_id).rglob("part-*")
    assert part.name.endswith("-c000.json.gz") and res.records == 20
    rows = read_export([part]).to_pylist()
    assert rows[0] == {"user_id": 1, "name": "u1", "score": 1.5, "subscribed": False,
                       "day": "2026-01-02", "ts": "2026-01-01T01:00:00", "amount": 0.25,
                       "maybe": 1}
    assert [r["user_id"] for r in rows] == list(range(1, 21))


def test_second_run_of_the_same_version_creates_nothing(proj: Project) -> None:
    dataset = proj.table("training_set__a1")
    first = proj.run(dataset)
    mark = len(proj.emu.requests)
    again = proj.run(dataset)
    assert proj.calls(mark) == [f"GET {FLOWSERVICE}/flows/{first.flow_id}"]
    assert (again.status, again.flow_id, again.run_id, again.records) == (
        "success", first.flow_id, first.run_id, 250)
    assert again.message == (f"up to date: run {first.run_id} already exported this version "
                             "of training_set")
    assert proj.counts() == {"connections": 1, "sourceConnections": 1, "targetConnections": 1,
                             "flows": 1}


def test_new_dataset_version_repoints_the_flow_without_orphans(proj: Project) -> None:
    old = proj.run(proj.table("training_set__a1"))
    old_source = proj.fs.objects["flows"][old.flow_id]["sourceConnectionIds"][0]
    dataset = proj.table("training_set__b2", rows=40)
    mark = len(proj.emu.requests)
    res = proj.run(dataset)
    assert res.status == "success", res.message
    flow = proj.fs.objects["flows"][old.flow_id]
    [new_source] = proj.fs.objects["sourceConnections"]
    assert proj.calls(mark) == [
        f"GET {FLOWSERVICE}/flows/{old.flow_id}",
        f"GET {FLOWSERVICE}/connectionSpecs/23598e46-f560-407b-88d5-ea6207e49db0/configs",
        f"POST {FLOWSERVICE}/sourceConnections",
        f"PATCH {FLOWSERVICE}/flows/{old.flow_id}",
        f"DELETE {FLOWSERVICE}/sourceConnections/{old_source}",
        f"POST {ADHOC_RUN}",
        f"GET {FLOWSERVICE}/runs/{res.run_id}", f"GET {FLOWSERVICE}/runs/{res.run_id}"]
    assert res.status == "success", res.message
    patch = proj.emu.requests[mark + 3]
    assert patch.json == [{"op": "replace", "path": "/sourceConnectionIds", "value": [new_source]}]
    assert patch.headers["if-match"]
    assert flow["sourceConnectionIds"] == [new_source] and new_source != old_source
    assert (res.status, res.flow_id, res.records) == ("success", old.flow_id, 40)
    assert proj.counts() == {"connections": 1, "sourceConnections": 1, "targetConnections": 1,
                             "flows": 1}


def test_flow_deleted_in_the_ui_is_recreated(proj: Project) -> None:
    dataset = proj.table("training_set__a1")
    old = proj.run(dataset)
    ids = json.loads((proj.ctx.state_dir / "exports_state.json").read_text())[
        "training_set:data_landing_zone"]
    proj.fs.objects["flows"].clear()  # deleted in the UI; its connections stay behind
    mark = len(proj.emu.requests)
    res = proj.run(dataset)
    fs = FLOWSERVICE
    assert [c.replace(res.run_id, "<run>").replace(res.flow_id, "<new>")
            for c in proj.calls(mark)] == [
        f"GET {fs}/flows/{old.flow_id}",  # 404: gone, so no DELETE of it
        f"GET {fs}/flows",  # another flow of that name would be reused
        f"DELETE {fs}/targetConnections/{ids['target_id']}",
        f"DELETE {fs}/sourceConnections/{ids['source_id']}",
        f"DELETE {fs}/connections/{ids['base_id']}",
        f"GET {fs}/connectionSpecs/23598e46-f560-407b-88d5-ea6207e49db0/configs",
        f"POST {fs}/connections", f"POST {fs}/sourceConnections", f"POST {fs}/targetConnections",
        f"POST {fs}/flows", f"POST {ADHOC_RUN}", f"GET {fs}/runs/<run>", f"GET {fs}/runs/<run>"]
    assert res.status == "success" and res.flow_id != old.flow_id
    assert proj.lines.count(f"training_set -> data_landing_zone: flow {old.flow_id} was "
                            "deleted; replacing it") == 1
    assert proj.counts() == {"connections": 1, "sourceConnections": 1, "targetConnections": 1,
                             "flows": 1}


def test_disabled_flow_is_enabled_again(proj: Project) -> None:
    first = proj.run(proj.table("training_set__a1"))
    proj.fs.objects["flows"][first.flow_id]["state"] = "disabled"
    mark = len(proj.emu.requests)
    res = proj.run(proj.table("training_set__b2", rows=10))
    enable = proj.emu.requests[mark + 1]
    assert (enable.method, enable.path, enable.query, enable.body) == (
        "POST", f"{FLOWSERVICE}/flows/{first.flow_id}/action", {"op": ["enable"]}, b"")
    assert "content-type" not in enable.headers
    assert proj.fs.objects["flows"][first.flow_id]["state"] == "enabled"
    assert (res.status, res.records) == ("success", 10)


def test_state_file_lost_the_flow_is_found_by_name(proj: Project) -> None:
    dataset = proj.table("training_set__a1")
    first = proj.run(dataset)
    (proj.ctx.state_dir / "exports_state.json").unlink()
    mark = len(proj.emu.requests)
    res = proj.run(dataset)
    assert [c for c in proj.calls(mark) if c.startswith("POST")] == [f"POST {ADHOC_RUN}"]
    assert proj.emu.requests[mark].query == {
        "property": ["flowSpec.id==cd2fc47e-e838-4f38-a581-8fff2f99b63a"]}
    assert (res.status, res.flow_id) == ("success", first.flow_id)


def test_changed_destination_replaces_everything(proj: Project) -> None:
    dataset = proj.table("training_set__a1")
    first = proj.run(dataset)
    res = proj.run(dataset, destination={"path": "cmle/v2"})
    assert res.flow_id != first.flow_id and res.status == "success"
    [target] = proj.fs.objects["targetConnections"].values()
    assert target["params"]["path"] == "cmle/v2"
    assert proj.counts() == {"connections": 1, "sourceConnections": 1, "targetConnections": 1,
                             "flows": 1}


def test_failed_run_is_reported_as_an_error(proj: Project) -> None:
    proj.fs.fail_runs = 1
    res = proj.run(proj.table("training_set__a1"))
    assert (res.status, res.records) == ("error", 0)
    assert res.message == (f"run {res.run_id} of flow {res.flow_id} failed: Export failed: "
                           "destination rejected the write")
    assert not any(proj.emu.landing_dir().rglob("part-*"))


def test_not_ready_is_retried_then_given_up(proj: Project) -> None:
    proj.fs.not_ready = 2
    res = proj.run(proj.table("training_set__a1"))
    assert res.status == "success" and proj.sleeps == [60, 60, 30]
    assert proj.lines[4:6] == [
        "training_set -> data_landing_zone: flow not ready for export yet; retry 1/5 in 60 s",
        "training_set -> data_landing_zone: flow not ready for export yet; retry 2/5 in 60 s"]
    proj.fs.not_ready = 9
    res = proj.run(proj.table("training_set__b2"), destination={"path": "other"},
                   wait={"adhoc_retries": 1, "adhoc_retry_wait": 5})
    assert res.status == "error" and res.run_id is None
    assert res.message.startswith(f"POST {ADHOC_RUN} failed: 400 BadRequestError: {NOT_READY}")


def test_run_that_never_finishes_times_out(proj: Project) -> None:
    proj.fs.run_polls = 100
    res = proj.run(proj.table("training_set__a1"),
                   wait={"run_timeout": 90, "poll_interval": 30})
    assert (res.status, res.message) == ("error", f"run {res.run_id} is still inProgress after "
                                         "90 s; follow it in the Platform UI or raise the "
                                         "export's wait.run_timeout")
    assert proj.sleeps == [30, 30, 30]


def test_failed_create_leaves_no_orphans(proj: Project) -> None:
    proj.emu.faults.fail(f"{FLOWSERVICE}/flows", method="POST", times=10, status=500)
    res = proj.run(proj.table("training_set__a1"))
    assert res.status == "error" and res.message.startswith(
        f"POST {FLOWSERVICE}/flows failed: 500")
    assert proj.counts() == {"connections": 0, "sourceConnections": 0, "targetConnections": 0,
                             "flows": 0}


def test_missing_credential_variable_makes_no_call(proj: Project,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("T_SECRET")
    res = proj.run(proj.table("training_set__a1"), "amazon_s3")
    assert (res.status, res.message) == ("error", "exports[0].destination.secret_key_env: "
                                         "environment variable T_SECRET is not set; export it "
                                         "before running")
    assert proj.counts() == {"connections": 0, "sourceConnections": 0, "targetConnections": 0,
                             "flows": 0}


def test_dataset_not_eligible_is_refused(proj: Project) -> None:
    dataset = proj.table("training_set__a1")
    proj.fs.ineligible.add(dataset.dataset_id)
    res = proj.run(dataset)
    assert (res.status, res.message) == ("error", f"dataset {dataset.dataset_id} "
        "(training_set__a1) is not eligible for dataset export; check that it is enabled and "
        "not a Profile dataset (GET connectionSpecs/…/configs?outputType=activationDatasets)")


def test_dry_run_plan_then_delete(proj: Project) -> None:
    dataset = proj.table("training_set__a1")
    proj.flags = {"dry_run": True}
    plan = proj.run(dataset, "amazon_s3")
    assert proj.calls() == [f"GET {FLOWSERVICE}/flows"]  # GETs only, never a write
    ds = dataset.dataset_id
    assert (plan.status, plan.message) == ("planned", "8 calls to export to Amazon S3")
    assert plan.plan == [
        f"GET {FLOWSERVICE}/flows?property=flowSpec.id==269ba276-16fc-47db-92b0-c1049a3c131f — "
        "look for a flow named runner:demo:training_set:amazon_s3: none",
        f"GET {FLOWSERVICE}/connectionSpecs/23598e46-f560-407b-88d5-ea6207e49db0/configs?"
        f"outputType=activationDatasets — check dataset {ds} is eligible for export",
        f"POST {FLOWSERVICE}/connections — Amazon S3 base connection (auth 'Access Key')",
        f"POST {FLOWSERVICE}/sourceConnections — source reading dataset {ds}",
        f"POST {FLOWSERVICE}/targetConnections — target mode=Server-to-server, "
        "datasetFileType=PARQUET, compression=GZIP, bucketName=ml-bucket, path=feat/egress",
        f"POST {FLOWSERVICE}/flows — flow runner:demo:training_set:amazon_s3 (flowSpec "
        "269ba276-16fc-47db-92b0-c1049a3c131f, ad hoc only: schedule starts 2027-09-21)",
        f"POST {ADHOC_RUN} — export dataset {ds} now (retry 'not ready' up to 5 times, 60 s "
        "apart)",
        f"GET {FLOWSERVICE}/runs/{{runId}} — poll every 30 s until the run finishes (at most "
        "600 s)"]
    proj.flags = {}
    done = proj.run(dataset, "amazon_s3")
    proj.flags = {"delete": True, "dry_run": True}
    (proj.ctx.state_dir / "exports_state.json").unlink()  # found by name for the plan too
    flow = proj.fs.objects["flows"][done.flow_id]
    mark = len(proj.emu.requests)
    planned = proj.run(dataset, "amazon_s3")
    assert proj.calls(mark) == [
        f"GET {FLOWSERVICE}/flows",
        f"GET {FLOWSERVICE}/targetConnections/{flow['targetConnectionIds'][0]}",
        f"GET {FLOWSERVICE}/sourceConnections/{flow['sourceConnectionIds'][0]}"]
    assert (planned.status, planned.flow_id, len(planned.plan)) == ("planned", done.flow_id, 4)
    proj.flags = {"delete": True}
    mark = len(proj.emu.requests)
    gone = proj.run(dataset, "amazon_s3")
    assert [c.rsplit("/", 1)[0] for c in proj.calls(mark) if not c.startswith("GET")] == [
        f"DELETE {FLOWSERVICE}/flows", f"DELETE {FLOWSERVICE}/targetConnections",
        f"DELETE {FLOWSERVICE}/sourceConnections", f"DELETE {FLOWSERVICE}/connections"]
    assert (gone.status, gone.flow_id) == ("deleted", done.flow_id)
    assert proj.counts() == {"connections": 0, "sourceConnections": 0, "targetConnections": 0,
                             "flows": 0}
    assert proj.run(dataset, "amazon_s3").status == "skipped"  # nothing left to delete


def test_recurring_schedule_is_sent_as_declared(proj: Project) -> None:
    proj.run(proj.table("training_set__a1"), schedule={
        "time_unit": "hour", "interval": 6, "start_time": 1_790_003_600,
        "export_mode": "FIRST_FULL_THEN_INCREMENTAL"})
    [flow] = proj.fs.objects["flows"].values()
    assert flow["scheduleParams"] == {"startTime": 1_790_003_600, "timeUnit": "hour",
                                      "interval": 6, "exportMode": "FIRST_FULL_THEN_INCREMENTAL",
                                      "endTime": flow["createdAt"] // 1000 + 182 * 86400}
    assert ("warning: exports[0].schedule has no end_time: Adobe stops the flow six months "
            "after creation") in proj.lines


def test_throttled_and_failing_calls_are_retried_by_the_client(proj: Project) -> None:
    proj.emu.faults.throttle(ADHOC_RUN, times=1, retry_after=0)
    proj.emu.faults.fail(f"{FLOWSERVICE}/runs/*", times=1, status=503)
    res = proj.run(proj.table("training_set__a1"))
    assert (res.status, res.records) == ("success", 250)
    calls = proj.calls()
    assert calls.count(f"POST {ADHOC_RUN}") == 2
    assert calls.count(f"GET {FLOWSERVICE}/runs/{res.run_id}") == 3


def test_force_runs_the_existing_flow_again(proj: Project) -> None:
    dataset = proj.table("training_set__a1")
    first = proj.run(dataset)
    proj.flags = {"dry_run": True, "force": True}
    plan = proj.run(dataset)
    assert plan.plan == [
        f"GET {FLOWSERVICE}/flows/{first.flow_id} — the flow in the state file: exists, enabled",
        f"POST {ADHOC_RUN} — export dataset {dataset.dataset_id} now (retry 'not ready' up to 5 "
        "times, 60 s apart)",
        f"GET {FLOWSERVICE}/runs/{{runId}} — poll every 30 s until the run finishes (at most "
        "600 s)"]
    proj.flags = {"force": True}
    mark = len(proj.emu.requests)
    again = proj.run(dataset)
    assert [c for c in proj.calls(mark) if not c.startswith("GET")] == [f"POST {ADHOC_RUN}"]
    assert (again.status, again.flow_id, again.records) == ("success", first.flow_id, 250)
    assert again.run_id != first.run_id
    assert proj.counts() == {"connections": 1, "sourceConnections": 1, "targetConnections": 1,
                             "flows": 1}
    proj.flags = {}
    assert proj.run(dataset).message == (f"up to date: run {again.run_id} already exported "
                                         "this version of training_set")


def test_dry_run_after_the_state_file_is_lost_plans_the_reuse(proj: Project) -> None:
    dataset = proj.table("training_set__a1")
    first = proj.run(dataset)
    flow = proj.fs.objects["flows"][first.flow_id]
    (proj.ctx.state_dir / "exports_state.json").unlink()
    proj.flags = {"dry_run": True}
    plan = proj.run(dataset)
    fs, target, source = FLOWSERVICE, flow["targetConnectionIds"][0], flow["sourceConnectionIds"][0]
    assert plan.plan == [
        f"GET {fs}/flows?property=flowSpec.id==cd2fc47e-e838-4f38-a581-8fff2f99b63a — look for a "
        f"flow named runner:demo:training_set:data_landing_zone: found {first.flow_id}",
        f"GET {fs}/targetConnections/{target} — its destination config",
        f"GET {fs}/sourceConnections/{source} — its dataset ({dataset.dataset_id})",
        f"POST {ADHOC_RUN} — export dataset {dataset.dataset_id} now (retry 'not ready' up to 5 "
        "times, 60 s apart)",
        f"GET {fs}/runs/{{runId}} — poll every 30 s until the run finishes (at most 600 s)"]
    assert plan.flow_id == first.flow_id
    assert not (proj.ctx.state_dir / "exports_state.json").exists()


def _disable(proj: Project, flow_id: str) -> None:
    proj.fs.objects["flows"][flow_id]["state"] = "disabled"


@pytest.mark.parametrize("change", ["none", "force", "state lost", "flow deleted",
                                    "disabled, new version", "new destination",
                                    "state lost, new destination"])
def test_the_plan_lists_the_calls_the_run_makes(proj: Project, change: str) -> None:
    dataset = proj.table("training_set__a1")
    first = proj.run(dataset)
    entry: dict[str, Any] = {}
    flags = {"force": True} if change == "force" else {}
    if change.startswith("state lost"):
        (proj.ctx.state_dir / "exports_state.json").unlink()
    if change == "flow deleted":
        proj.fs.objects["flows"].clear()
    elif change == "disabled, new version":
        _disable(proj, first.flow_id)
        dataset = proj.table("training_set__b2", rows=5)
    elif change.endswith("new destination"):
        entry = {"destination": {"path": "cmle/v2"}}
    proj.flags = {"dry_run": True, **flags}
    mark = len(proj.emu.requests)
    plan = proj.run(dataset, **entry)
    planned_calls = proj.calls(mark)
    assert all(c.startswith("GET ") for c in planned_calls), planned_calls
    proj.flags = flags
    mark = len(proj.emu.requests)
    res = proj.run(dataset, **entry)
    assert res.status == "success", res.message
    made = [c.replace(res.run_id or "-", "{runId}") for c in proj.calls(mark)]
    promised = [line.split(" — ")[0].split("?")[0] for line in plan.plan]
    assert [c for c in promised if not c.startswith("GET")] == [
        c for c in made if not c.startswith("GET")]
    assert set(promised) == set(made)
    assert set(planned_calls) <= set(made)
