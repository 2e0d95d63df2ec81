"""The emulator's Flow Service is strict: what the real API refuses, it refuses with the same shape."""

from __future__ import annotations

from typing import Any

import pytest

from destinations.types import ADHOC_ACCEPT, ADHOC_RUN, FLOWSERVICE, SOURCE_SPEC_ID
from aep_emulator.catalog import catalog
from runner.errors import PlatformError

pytestmark = pytest.mark.postgres

S3_SPEC, S3_FLOW = "4fce964d-3f37-408f-9778-e597338a21ee", "269ba276-16fc-47db-92b0-c1049a3c131f"
DLZ_FLOW = "cd2fc47e-e838-4f38-a581-8fff2f99b63a"
FS = FLOWSERVICE


@pytest.fixture
def objs(emulator: Any, platform_client: Any) -> dict[str, str]:
    """A valid S3 base, source and target connection and flow; their ids and the dataset id."""
    conn = emulator.engine.connect()
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE feats AS SELECT g AS id FROM generate_series(1, 3) g")
    conn.close()
    catalog(emulator).sync()
    [ds] = catalog(emulator).datasets
    post = platform_client.post
    base = post(f"{FS}/connections", json={
        "name": "b", "connectionSpec": {"id": S3_SPEC, "version": "1.0"},
        "auth": {"specName": "Access Key", "params": {"s3AccessKey": "a", "s3SecretKey": "s"}}})
    src = post(f"{FS}/sourceConnections", json={
        "name": "s", "connectionSpec": {"id": SOURCE_SPEC_ID, "version": "1.0"},
        "params": {"datasets": [{"dataSetId": ds}]}})
    tgt = post(f"{FS}/targetConnections", json={
        "name": "t", "baseConnectionId": base["id"],
        "connectionSpec": {"id": S3_SPEC, "version": "1.0"},
        "params": {"mode": "Server-to-server", "datasetFileType": "parquet",
                   "compression": "gzip", "bucketName": "b", "path": "p"}})
    flow = post(f"{FS}/flows", json=flow_body(src["id"], tgt["id"]))
    return {"dataset": ds, "base": base["id"], "source": src["id"], "target": tgt["id"],
            "flow": flow["id"], "etag": flow["etag"]}


def flow_body(src: str, tgt: str, spec: str = S3_FLOW, **schedule: Any) -> dict[str, Any]:
    return {"name": "f", "flowSpec": {"id": spec, "version": "1.0"},
            "sourceConnectionIds": [src], "targetConnectionIds": [tgt], "transformations": [],
            "scheduleParams": {"startTime": 1_790_000_000, "timeUnit": "day", "interval": 1,
                               **schedule}}


def refused(call: Any, *args: Any, **kw: Any) -> tuple[int | None, str]:
    with pytest.raises(PlatformError) as err:
        call(*args, **kw)
    return err.value.status, str(err.value)


def test_get_shapes_and_secrets_hidden(platform_client: Any, objs: dict[str, str]) -> None:
    [base] = platform_client.get(f"{FS}/connections/{objs['base']}")["items"]
    assert base["auth"] == {"specName": "Access Key", "params": {}}
    listed = platform_client.get(f"{FS}/flows", params={"property": f"flowSpec.id=={S3_FLOW}"})
    assert [f["id"] for f in listed["items"]] == [objs["flow"]] and listed["_links"] == {}
    assert platform_client.get(f"{FS}/flows", params={
        "property": f"flowSpec.id=={DLZ_FLOW}"})["items"] == []
    [spec] = platform_client.get(f"{FS}/connectionSpecs",
                                 params={"property": "name==activation-datalake"})["items"]
    assert spec["id"] == SOURCE_SPEC_ID


@pytest.mark.parametrize("path, body, status, message", [
    ("connections", {"name": "b", "connectionSpec": {"id": "0000"}}, 400,
     "Connection spec '0000' is not a destination connection spec"),
    ("connections", {"name": "b", "connectionSpec": {"id": S3_SPEC},
                     "auth": {"specName": "Access Key", "params": {"s3AccessKey": "a"}}}, 400,
     "auth.params: missing ['s3SecretKey'], unknown nothing (expected s3AccessKey, s3SecretKey)"),
    ("connections", {"connectionSpec": {"id": S3_SPEC}}, 400, "Required field 'name' is missing"),
    ("sourceConnections", {"name": "s", "connectionSpec": {"id": S3_SPEC},
                           "params": {"datasets": [{"dataSetId": "x"}]}}, 400,
     f"Connection spec '{S3_SPEC}' cannot be used for a dataset export source connection; use "
     f"{SOURCE_SPEC_ID} (activation-datalake)"),
    ("sourceConnections", {"name": "s", "connectionSpec": {"id": SOURCE_SPEC_ID},
                           "params": {"datasets": [{"dataSetId": "nope"}]}}, 400,
     "Dataset 'nope' does not exist in sandbox"),
])
def test_invalid_creates_are_refused(platform_client: Any, objs: dict[str, str], path: str,
                                     body: dict, status: int, message: str) -> None:
    got_status, text = refused(platform_client.post, f"{FS}/{path}", json=body)
    assert got_status == status and f"400 BadRequestError: {message}" in text


def test_target_and_flow_checks(platform_client: Any, objs: dict[str, str]) -> None:
    post = platform_client.post
    _, text = refused(post, f"{FS}/targetConnections", json={
        "name": "t", "baseConnectionId": objs["base"], "connectionSpec": {"id": S3_SPEC},
        "params": {"mode": "Server-to-server", "datasetFileType": "JSON", "compression": "NONE",
                   "bucketName": "b", "path": "p"}})
    assert text.endswith("JSON files can only be exported compressed: set compression GZIP")
    _, text = refused(post, f"{FS}/flows", json=flow_body(objs["source"], objs["target"],
                                                          DLZ_FLOW))
    assert text.endswith(f"Flow spec '{DLZ_FLOW}' does not support target connection spec "
                         f"'{S3_SPEC}'")
    _, text = refused(post, f"{FS}/flows", json=flow_body(objs["source"], objs["target"],
                                                          timeUnit="hour", interval=5))
    assert text.endswith("scheduleParams: hourly exports run every 3, 6, 9 or 12 hours, got 5")


def test_patch_needs_the_current_etag(platform_client: Any, objs: dict[str, str]) -> None:
    path, ops = f"{FS}/flows/{objs['flow']}", [{"op": "Replace", "path": "/name", "value": "g"}]
    assert refused(platform_client.patch, path, json=ops)[0] == 400
    fresh = platform_client.patch(path, json=ops, headers={"If-Match": objs["etag"]})
    assert fresh["id"] == objs["flow"] and fresh["etag"] != objs["etag"]
    status, text = refused(platform_client.patch, path, json=ops,
                           headers={"If-Match": objs["etag"]})
    assert status == 412 and "does not match the current etag" in text
    assert platform_client.get(path)["items"][0]["name"] == "g"


def test_patch_of_schedule_params_merges_then_checks(platform_client: Any,
                                                      objs: dict[str, str]) -> None:
    path, etag = f"{FS}/flows/{objs['flow']}", objs["etag"]

    def replace(value: dict[str, Any]) -> dict[str, Any]:
        return platform_client.patch(path, headers={"If-Match": etag}, json=[
            {"op": "Replace", "path": "/scheduleParams", "value": value}])

    etag = replace({"startTime": 1_800_000_000})["etag"]  # the contract's §5.3 example
    [flow] = platform_client.get(path)["items"]
    assert {k: flow["scheduleParams"][k] for k in ("startTime", "timeUnit", "interval")} == {
        "startTime": 1_800_000_000, "timeUnit": "day", "interval": 1}
    for value, message in (
            ({"timeUnit": "hour", "interval": 5}, "hourly exports run every 3, 6, 9 or 12 hours"),
            ({"startTime": "soon"}, "scheduleParams.startTime must be an integer (unix seconds)"),
            ({"interval": "1"}, "scheduleParams.interval must be an integer, got '1'")):
        status, text = refused(replace, value)
        assert status == 400 and message in text


def test_list_pages_through_opaque_tokens_only(platform_client: Any, objs: dict[str, str]) -> None:
    for name in ("b2", "b3"):
        platform_client.post(f"{FS}/connections", json={
            "name": name, "connectionSpec": {"id": S3_SPEC, "version": "1.0"},
            "auth": {"specName": "Access Key", "params": {"s3AccessKey": "a", "s3SecretKey": "s"}}})
    first = platform_client.get(f"{FS}/connections", params={"limit": 2})
    href = first["_links"]["next"]["href"]
    assert href.startswith("/connections?continuationToken=") and "&" not in href
    second = platform_client.get(f"{FS}{href}")
    assert [c["name"] for c in first["items"] + second["items"]] == ["b", "b2", "b3"]
    assert second["_links"] == {}
    token = href.partition("=")[2]
    for params, message in (
            ({"continuationToken": "25"}, "was not issued by this service for connections"),
            ({"continuationToken": token, "property": "name==b"}, "was issued for property=[]"),
            ({"limit": "101"}, "limit must be an integer from 1 to 100")):
        status, text = refused(platform_client.get, f"{FS}/connections", params=params)
        assert status == 400 and message in text
    status, text = refused(platform_client.get, f"{FS}/flows", params={"continuationToken": token})
    assert status == 400 and "for flows" in text


def test_delete_order_and_actions(platform_client: Any, objs: dict[str, str]) -> None:
    status, text = refused(platform_client.delete, f"{FS}/sourceConnections/{objs['source']}")
    assert status == 400 and f"is used by {objs['flow']}; delete those first" in text
    assert refused(platform_client.post, f"{FS}/flows/{objs['flow']}/action",
                   params={"op": "pause"})[0] == 400
    platform_client.post(f"{FS}/flows/{objs['flow']}/action", params={"op": "disable"})
    _, text = refused(platform_client.post, ADHOC_RUN, headers={"Accept": ADHOC_ACCEPT}, json={
        "activationInfo": {"destinations": [{"flowId": objs["flow"],
                                             "datasets": [{"id": objs["dataset"]}]}]}})
    assert text.endswith(f"Flow '{objs['flow']}' is disabled; enable it first")
    assert platform_client.delete(f"{FS}/flows/{objs['flow']}") is None
    assert refused(platform_client.get, f"{FS}/flows/{objs['flow']}")[0] == 404
    status, text = refused(platform_client.delete, f"{FS}/connections/{objs['base']}")
    assert status == 400 and f"is used by {objs['target']}" in text
    for kind, key in (("targetConnections", "target"), ("sourceConnections", "source"),
                      ("connections", "base")):
        assert platform_client.delete(f"{FS}/{kind}/{objs[key]}") is None
    assert platform_client.get(f"{FS}/connections")["items"] == []


def test_adhoc_run_needs_its_accept_header(platform_client: Any, objs: dict[str, str]) -> None:
    body = {"activationInfo": {"destinations": [{"flowId": objs["flow"],
                                                 "datasets": [{"id": objs["dataset"]}]}]}}
    status, text = refused(platform_client.post, ADHOC_RUN, json=body)
    assert status == 406 and f"Accept must be '{ADHOC_ACCEPT}'" in text
    answer = platform_client.post(ADHOC_RUN, json=body, headers={
        "Accept": "application/vnd.adobe.adhoc.dataset.activation+json;version=1"})
    url = answer["destinations"][0]["datasets"][0]["statusURL"]
    [run] = platform_client.get(url)["items"]
    assert run["statusSummary"] == {"status": "inProgress"}
    [run] = platform_client.get(url)["items"]
    assert run["statusSummary"] == {"status": "success"}
    assert run["metrics"]["recordSummary"]["outputRecordCount"] == 3
    assert run["metrics"]["fileSummary"] == {"outputFileCount": 1}
    listed = platform_client.get(f"{FS}/runs", params={"property": f"flowId=={objs['flow']}"})
    assert [r["id"] for r in listed["items"]] == [run["id"]]
