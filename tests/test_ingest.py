"""Batch ingestion (contract-ingest §1): the emulated Batch Ingestion API.

The emulator's refusals are checked with raw requests and their exact RFC 7807 bodies.
"""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests

from aep_emulator import Emulator
from aep_emulator.catalog import catalog
from aep_emulator.ingest import batches
from emulator_fixtures import engine_rows
from runner.platform.client import PlatformClient

pytestmark = pytest.mark.postgres

IMPORT = "/data/foundation/import/batches"
STATUS = "/data/foundation/catalog/batches/{id}"
ROWS = pa.table({"user_id": ["u1", "u2", "u3"], "score": [0.5, 0.25, 1.0], "n": [1, 2, 3]})


def dataset(emu: Emulator, table: str = "scores") -> str:
    """An empty table ``user_id text, score double precision, n bigint``; its dataset id."""
    emu.run_sql(f"CREATE TABLE {table} (user_id text, score double precision, n bigint)")
    cat = catalog(emu)
    cat.sync()
    (ds_id,) = [k for k, v in cat.datasets.items() if v["name"] == table]
    return ds_id


def headers(emu: Emulator, client: PlatformClient, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.access_token().reveal()}", "x-api-key": emu.client_id,
            "x-gw-ims-org-id": emu.org_id, "x-sandbox-name": emu.sandbox, **extra}


def problem(status: int, title: str, detail: str) -> dict:
    return {"type": f"https://ns.adobe.com/aep/errors/{title}", "status": status, "title": title,
            "detail": detail}


def parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


@pytest.fixture
def ds_id(emulator: Emulator) -> str:
    batches(emulator).delay = 0.05
    return dataset(emulator)


# -- the emulator ----------------------------------------------------------------------------
def create(emu: Emulator, client: PlatformClient, body: object, **extra: str
           ) -> requests.Response:
    return requests.post(emu.url + IMPORT, json=body, timeout=10,
                         headers=headers(emu, client, **extra))


def put(emu: Emulator, client: PlatformClient, batch: str, ds_id: str, data: bytes,
        ctype: str = "application/octet-stream", name: str = "a.parquet") -> requests.Response:
    return requests.put(f"{emu.url}{IMPORT}/{batch}/datasets/{ds_id}/files/{name}", data=data,
                        headers=headers(emu, client, **{"Content-Type": ctype}), timeout=10)


def act(emu: Emulator, client: PlatformClient, batch: str, action: str) -> requests.Response:
    return requests.post(f"{emu.url}{IMPORT}/{batch}", params={"action": action},
                         headers=headers(emu, client), timeout=10)


def wait_final(client: PlatformClient, batch: str) -> dict:
    import time

    for _ in range(500):
        record = client.get(STATUS.format(id=batch))[batch]
        if record["status"] not in ("loading", "staging"):
            return record
        time.sleep(0.01)
    raise AssertionError(f"batch {batch} did not finish")


def test_create_refuses_an_unknown_dataset_format_field_and_missing_headers(
        emulator: Emulator, platform_client: PlatformClient, ds_id: str) -> None:
    cases = [
        ({"datasetId": "nope", "inputFormat": {"format": "parquet"}},
         "Dataset 'nope' was not found"),
        ({"datasetId": ds_id, "inputFormat": {"format": "csv"}},
         "'inputFormat.format' must be parquet or json (the emulator does not ingest "
         "CSV), got 'csv'"),
        ({"datasetId": ds_id, "format": "json"}, "Unknown field(s) format; allowed: datasetId, "
         "enableErrorDiagnostics, inputFormat, partialIngestionPercent, "
         "partialIngestionPercentage, replay, tags"),
        ({"inputFormat": {"format": "json"}}, "'datasetId' is required")]
    for body, detail in cases:
        response = create(emulator, platform_client, body)
        assert (response.status_code, response.json()) == (
            400, problem(400, "BadRequestError", detail))
    no_key = {k: v for k, v in headers(emulator, platform_client).items() if k != "x-api-key"}
    response = requests.post(emulator.url + IMPORT, json={"datasetId": ds_id}, headers=no_key,
                             timeout=10)
    assert (response.status_code, response.json()) == (
        403, {"error_code": "403000", "message": "Api Key is required"})
    response = requests.post(emulator.url + IMPORT, data=b'{"datasetId": "x"}', timeout=10,
                             headers=headers(emulator, platform_client))
    assert (response.status_code, response.json()["detail"]) == (
        400, "A valid content-type must be specified")
    assert batches(emulator).items == {}
    made = create(emulator, platform_client, {"datasetId": ds_id,
                                              "inputFormat": {"format": "json"}})
    assert made.status_code == 201
    assert {k: made.json()[k] for k in ("status", "relatedObjects", "imsOrg", "version")} == {
        "status": "loading", "relatedObjects": [{"type": "dataSet", "id": ds_id}],
        "imsOrg": emulator.org_id, "version": "1.0.0"}


def test_uploads_need_octet_stream_a_loading_batch_its_dataset_and_the_size_limit(
        emulator: Emulator, platform_client: PlatformClient, ds_id: str) -> None:
    batch = create(emulator, platform_client, {"datasetId": ds_id,
                                               "inputFormat": {"format": "parquet"}}).json()["id"]
    data = parquet(ROWS)
    for ctype in ("application/json", "multipart/form-data"):
        response = put(emulator, platform_client, batch, ds_id, data, ctype)
        assert (response.status_code, response.json()) == (400, problem(
            400, "BadRequestError", "A file upload must be sent with Content-Type: "
            f"application/octet-stream, got {ctype}"))
    other = dataset(emulator, "other")
    response = put(emulator, platform_client, batch, other, data)
    assert (response.status_code, response.json()["detail"]) == (
        400, f"Batch '{batch}' belongs to dataset '{ds_id}', not '{other}'")
    batches(emulator).max_file_bytes = 10
    response = put(emulator, platform_client, batch, ds_id, data)
    assert (response.status_code, response.json()["title"]) == (413, "PayloadTooLarge")
    batches(emulator).max_file_bytes = 1 << 20
    response = put(emulator, platform_client, batch, ds_id, data, name="part1=a/x.parquet")
    assert (response.status_code, response.content) == (200, b"")
    assert batches(emulator).file_names(batch) == ["part1=a/x.parquet"]
    assert act(emulator, platform_client, batch, "complete").status_code == 200
    late = put(emulator, platform_client, batch, ds_id, data, name="late.parquet")
    assert (late.status_code, late.json()) == (400, problem(
        400, "BadRequestError", f"Batch '{batch}' is staging; files can only be uploaded while "
        "it is loading"))
    assert wait_final(platform_client, batch)["status"] == "success"
    assert act(emulator, platform_client, batch, "COMPLETE").status_code == 200  # a retry
    abort = act(emulator, platform_client, batch, "ABORT")
    assert (abort.status_code, abort.json()["detail"]) == (
        400, f"Batch '{batch}' is success; only a batch in progress can be aborted")
    missing = act(emulator, platform_client, "0" * 32, "COMPLETE")
    assert (missing.status_code, missing.json()) == (
        404, problem(404, "NotFoundError", f"Batch '{'0' * 32}' was not found"))
    assert engine_rows(emulator, "SELECT count(*) FROM scores") == [(3,)]


def test_an_empty_file_fails_with_106_and_json_lines_are_checked_per_field(
        emulator: Emulator, platform_client: PlatformClient, ds_id: str) -> None:
    body = {"datasetId": ds_id, "inputFormat": {"format": "json"}}
    empty = create(emulator, platform_client, body).json()["id"]
    put(emulator, platform_client, empty, ds_id, b"", name="a.json")
    act(emulator, platform_client, empty, "COMPLETE")
    assert wait_final(platform_client, empty)["errors"] == [
        {"code": "106", "description": "Dataset file is empty. Please upload file with data.",
         "rows": []}]
    lines = create(emulator, platform_client, body).json()["id"]
    put(emulator, platform_client, lines, ds_id, name="a.json",
        data=b'{"user_id": "j1", "score": "2.5", "n": 7}\n{"user_id": "j2"}\n')
    act(emulator, platform_client, lines, "COMPLETE")
    record = wait_final(platform_client, lines)
    assert (record["status"], record["metrics"]["outputRecordCount"]) == ("success", 2)
    bad = create(emulator, platform_client, body).json()["id"]
    put(emulator, platform_client, bad, ds_id, b'{"user_id": true}\n', name="b.json")
    act(emulator, platform_client, bad, "COMPLETE")
    assert wait_final(platform_client, bad)["errors"][0]["description"] == (
        "File 'b.json': field 'user_id' of type bool cannot be converted to the schema's type "
        "text")
    assert engine_rows(emulator, "SELECT user_id, score, n FROM scores ORDER BY user_id") == [
        ("j1", 2.5, 7), ("j2", None, None)]
