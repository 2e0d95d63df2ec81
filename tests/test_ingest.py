"""Batch ingestion (contract-ingest §1): the emulated Batch Ingestion API and
``runner.platform.ingest.ingest_table`` against it.

The client is checked by what the emulator recorded (the exact requests, in order, with their
headers and bodies) and by the rows that land in the dataset's table; the emulator's refusals
are checked with raw requests and their exact RFC 7807 bodies.
"""

from __future__ import annotations

import datetime as dt
import io

import psycopg2
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests

from aep_emulator import Emulator
from aep_emulator.catalog import catalog
from aep_emulator.ingest import batches
from emulator_fixtures import engine_rows, fetch_rows
from runner.errors import PlatformError, RunError
from runner.platform.client import PlatformClient
from runner.platform.ingest import BatchError, IngestResult, ingest_table
from runner.platform.schemas import ensure_profile_dataset

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


def platform_calls(emu: Emulator) -> list[tuple[str, str, dict, str | None]]:
    """``(method, path, query, content type)`` of every Platform request (IMS left out)."""
    return [(r.method, r.path, r.query, r.headers.get("content-type"))
            for r in emu.requests if not r.path.startswith("/ims/")]


def wire_rows(client: PlatformClient, sql: str) -> list[tuple]:
    """Rows of ``sql`` on the emulated PostgreSQL interface, as Data Distiller clients see them."""
    params = client.get("/data/foundation/query/connection_parameters")
    return fetch_rows(psycopg2.connect(
        dbname=params["dbName"], host=params["host"], port=params["port"],
        user=params["username"], password=params["token"], sslmode="allow", connect_timeout=10),
        sql)


def parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def ingest(client: PlatformClient, ds_id: str, table: pa.Table = ROWS, **kw: object
           ) -> IngestResult:
    return ingest_table(client, ds_id, table, poll_interval=0.01, timeout=30, **kw)


@pytest.fixture
def ds_id(emulator: Emulator) -> str:
    batches(emulator).delay = 0.05
    return dataset(emulator)


# -- the client ------------------------------------------------------------------------------
def test_one_ingest_sends_create_upload_complete_and_polls_catalog(
        emulator: Emulator, platform_client: PlatformClient, ds_id: str) -> None:
    result = ingest(platform_client, ds_id)
    batch = result.batch_id
    assert result == IngestResult(batch, "success", 3, 1, ())
    calls = platform_calls(emulator)
    polls = len(calls) - 3
    assert polls >= 2  # the batch was staging at least once
    assert calls == [
        ("POST", IMPORT, {}, "application/json"),
        ("PUT", f"{IMPORT}/{batch}/datasets/{ds_id}/files/part-00000.parquet", {},
         "application/octet-stream"),
        ("POST", f"{IMPORT}/{batch}", {"action": ["COMPLETE"]}, None),
        *[("GET", STATUS.format(id=batch), {}, None)] * polls]
    sent = [r for r in emulator.requests if not r.path.startswith("/ims/")]
    assert sent[0].json == {"datasetId": ds_id, "inputFormat": {"format": "parquet"}}
    assert pq.read_table(io.BytesIO(sent[1].body)).equals(ROWS)
    assert sent[2].body == b""
    token = platform_client.access_token().reveal()
    for request in sent:
        assert {k: request.headers.get(k) for k in ("authorization", "x-api-key",
                                                     "x-gw-ims-org-id", "x-sandbox-name")} == {
            "authorization": f"Bearer {token}", "x-api-key": emulator.client_id,
            "x-gw-ims-org-id": emulator.org_id, "x-sandbox-name": emulator.sandbox}
    # the rows are the dataset's table, readable at once on the PostgreSQL interface
    assert wire_rows(platform_client, "SELECT user_id, score, n FROM scores ORDER BY n") == [
        ("u1", 0.5, 1), ("u2", 0.25, 2), ("u3", 1.0, 3)]
    record = platform_client.get(STATUS.format(id=batch))[batch]
    assert (record["status"], record["errors"], record["relatedObjects"],
            record["inputFormat"]) == ("success", [], [{"type": "dataSet", "id": ds_id}],
                                       {"format": "parquet"})
    assert {k: record["metrics"][k] for k in ("inputRecordCount", "outputRecordCount",
                                              "inputFileCount", "outputFileCount")} == {
        "inputRecordCount": 3, "outputRecordCount": 3, "inputFileCount": 1, "outputFileCount": 1}
    assert (emulator.dataset(ds_id)["lastBatchId"],
            emulator.dataset(ds_id)["lastBatchStatus"]) == (batch, "success")


def test_a_schema_mismatch_fails_the_batch_with_a_one_line_error(
        emulator: Emulator, platform_client: PlatformClient, ds_id: str) -> None:
    wrong = ROWS.append_column("age", pa.array([30, 40, 50]))
    with pytest.raises(RunError) as caught:
        ingest(platform_client, ds_id, wrong)
    (batch,) = batches(emulator).items
    assert str(caught.value) == (
        f"batch {batch} into dataset {ds_id} failed: TypeCompatibilityException: File "
        "'part-00000.parquet': field 'age' is not in the dataset's schema (fields: user_id, "
        "score, n)")
    token = platform_client.access_token().reveal()
    for unwanted in ("\n", emulator.client_secret, token):
        assert unwanted not in str(caught.value)
    record = platform_client.get(STATUS.format(id=batch))[batch]
    assert (record["status"], record["errors"]) == ("failed", [{
        "code": "TypeCompatibilityException", "description": "File 'part-00000.parquet': field "
        "'age' is not in the dataset's schema (fields: user_id, score, n)", "rows": []}])
    assert [c[2] for c in platform_calls(emulator) if c[0] == "POST"] == [
        {}, {"action": ["COMPLETE"]}]  # a failed batch is final: no ABORT
    assert engine_rows(emulator, "SELECT count(*) FROM scores") == [(0,)]


def test_a_type_the_schema_does_not_accept_is_a_failed_result_without_check(
        emulator: Emulator, platform_client: PlatformClient, ds_id: str) -> None:
    booleans = pa.table({"user_id": ["u1"], "score": [True]})
    result = ingest(platform_client, ds_id, booleans, check=False)
    assert result == IngestResult(result.batch_id, "failed", 0, 1, (BatchError(
        "TypeCompatibilityException", "File 'part-00000.parquet': field 'score' of type bool "
        "cannot be converted to the schema's type double precision"),))
    # strings convert to numbers (BI-OV), and a value that does not parse fails the batch
    ok = ingest(platform_client, ds_id, pa.table({"user_id": ["u9"], "score": ["0.75"]}))
    assert (ok.status, ok.records) == ("success", 1)
    bad = ingest(platform_client, ds_id, pa.table({"score": ["high"]}), check=False)
    assert (bad.status, bad.errors[0].code) == ("failed", "TypeCompatibilityException")
    assert "invalid input syntax for type double precision" in bad.errors[0].description
    assert engine_rows(emulator, "SELECT user_id, score, n FROM scores") == [("u9", 0.75, None)]


def test_an_empty_table_is_refused_before_any_call(
        emulator: Emulator, platform_client: PlatformClient, ds_id: str) -> None:
    with pytest.raises(RunError, match=f"^ingest into dataset {ds_id}: the table has no rows"):
        ingest(platform_client, ds_id, ROWS.slice(0, 0))
    assert emulator.requests == []


@pytest.mark.parametrize("fault", ["fail", "lose_answer"])
def test_a_5xx_mid_upload_is_retried_into_the_same_file(
        emulator: Emulator, platform_client: PlatformClient, ds_id: str, fault: str) -> None:
    getattr(emulator.faults, fault)(f"{IMPORT}/*/files/part-00001.parquet", method="PUT",
                                    status=503)
    result = ingest(platform_client, ds_id, max_file_bytes=len(parquet(ROWS.slice(0, 1))))
    files = [f"part-0000{i}.parquet" for i in (0, 1, 2)]
    puts = [c[1].rsplit("/", 1)[1] for c in platform_calls(emulator) if c[0] == "PUT"]
    assert puts == [files[0], files[1], files[1], files[2]]
    assert batches(emulator).file_names(result.batch_id) == files
    assert (result.status, result.records, result.files) == ("success", 3, 3)
    assert engine_rows(emulator, "SELECT count(*) FROM scores") == [(3,)]


def test_a_lost_answer_to_complete_is_retried_and_the_batch_loads_once(
        emulator: Emulator, platform_client: PlatformClient, ds_id: str) -> None:
    emulator.faults.lose_answer(IMPORT, method="POST", status=504)  # served, then 504
    with pytest.raises(PlatformError, match=f"^POST {IMPORT} failed: 504 "):
        ingest(platform_client, ds_id)  # the create is never resent: it could make a 2nd batch
    assert len(batches(emulator).items) == 1
    emulator.faults.lose_answer(f"{IMPORT}/*", method="POST", status=504)
    result = ingest(platform_client, ds_id)
    completes = [c for c in platform_calls(emulator) if c[2] == {"action": ["COMPLETE"]}]
    assert completes == [("POST", f"{IMPORT}/{result.batch_id}", {"action": ["COMPLETE"]},
                          None)] * 2
    assert (result.status, result.records) == ("success", 3)
    assert engine_rows(emulator, "SELECT count(*) FROM scores") == [(3,)]


def test_an_upload_that_keeps_failing_aborts_the_batch(
        emulator: Emulator, platform_client: PlatformClient, ds_id: str) -> None:
    emulator.faults.fail(f"{IMPORT}/*/files/*", method="PUT", status=500, times=10)
    with pytest.raises(PlatformError, match=r"^PUT .*/files/part-00000.parquet failed: 500 "):
        ingest(platform_client, ds_id)
    (batch,) = batches(emulator).items
    assert platform_calls(emulator)[-1] == ("POST", f"{IMPORT}/{batch}", {"action": ["ABORT"]},
                                            None)
    assert batches(emulator).items[batch].record["status"] == "aborted"


def test_ctrl_c_while_polling_aborts_the_batch_and_re_raises(
        emulator: Emulator, platform_client: PlatformClient, ds_id: str) -> None:
    batches(emulator).delay = 5.0
    seen: list[str] = []

    def interrupt(record: dict) -> None:
        seen.append(record["status"])
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingest(platform_client, ds_id, on_poll=interrupt)
    (batch,) = batches(emulator).items
    assert seen == ["staging"]
    assert [c[:3] for c in platform_calls(emulator)[-2:]] == [
        ("GET", STATUS.format(id=batch), {}), ("POST", f"{IMPORT}/{batch}", {"action": ["ABORT"]})]
    assert platform_client.get(STATUS.format(id=batch))[batch]["status"] == "aborted"
    assert engine_rows(emulator, "SELECT count(*) FROM scores") == [(0,)]


def test_a_batch_still_staging_at_the_timeout_is_aborted(
        emulator: Emulator, platform_client: PlatformClient, ds_id: str) -> None:
    batches(emulator).delay = 5.0
    with pytest.raises(RunError, match=r"is still staging after 0.05 s; it was aborted"):
        ingest_table(platform_client, ds_id, ROWS, poll_interval=0.01, timeout=0.05)
    (batch,) = batches(emulator).items
    assert batches(emulator).items[batch].record["status"] == "aborted"


def test_a_large_table_is_split_into_files_under_the_limit(
        emulator: Emulator, platform_client: PlatformClient, ds_id: str) -> None:
    big = pa.table({"user_id": [f"user-{i:05d}" for i in range(2000)],
                    "score": [i / 7 for i in range(2000)], "n": list(range(2000))})
    limit = 12_000
    result = ingest(platform_client, ds_id, big, max_file_bytes=limit)
    puts = [r for r in emulator.requests if r.method == "PUT"]
    assert result.files == len(puts) >= 3
    assert [r.path.rsplit("/", 1)[1] for r in puts] == [
        f"part-{i:05d}.parquet" for i in range(result.files)]
    assert all(len(r.body) <= limit for r in puts)
    parts = pa.concat_tables(pq.read_table(io.BytesIO(r.body)) for r in puts)
    assert parts.equals(big)
    assert (result.status, result.records) == ("success", 2000)
    assert engine_rows(emulator, "SELECT count(*), sum(n) FROM scores") == [(2000, 1999000)]


def test_a_row_over_the_limit_is_refused_and_the_batch_aborted(
        emulator: Emulator, platform_client: PlatformClient, ds_id: str) -> None:
    with pytest.raises(RunError, match=r"^row 0 alone makes a \d+-byte Parquet file, over the "
                                       r"100-byte limit"):
        ingest(platform_client, ds_id, max_file_bytes=100)
    assert [c[0] for c in platform_calls(emulator)] == ["POST", "POST"]  # create, abort


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


def test_an_aborted_batch_takes_no_files_and_cannot_be_completed_or_aborted_again(
        emulator: Emulator, platform_client: PlatformClient, ds_id: str) -> None:
    batch = create(emulator, platform_client, {"datasetId": ds_id,
                                               "inputFormat": {"format": "parquet"}}).json()["id"]
    assert act(emulator, platform_client, batch, "abort").status_code == 200
    details = [put(emulator, platform_client, batch, ds_id, parquet(ROWS)).json()["detail"],
               act(emulator, platform_client, batch, "COMPLETE").json()["detail"],
               act(emulator, platform_client, batch, "ABORT").json()["detail"],
               act(emulator, platform_client, batch, "REVERT").json()["detail"],
               act(emulator, platform_client, batch, "FAIL").json()["detail"]]
    assert details == [
        f"Batch '{batch}' is aborted; files can only be uploaded while it is loading",
        f"Batch '{batch}' is aborted and cannot be completed",
        f"Batch '{batch}' is aborted; only a batch in progress can be aborted",
        f"Batch '{batch}' is aborted; only a successful batch can be reverted (abort a batch in "
        "progress)",
        "Query parameter 'action' must be COMPLETE, ABORT or REVERT, got 'FAIL'"]
    assert platform_client.get(STATUS.format(id=batch))[batch]["status"] == "aborted"


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


def test_a_profile_dataset_takes_xdm_shaped_rows_into_its_flattened_columns(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    """A dataset made through the Schema Registry and Catalog (``ensure_profile_dataset``)
    has a table; a batch of ``{"_<tenant>": {...}}`` rows lands in its columns."""
    made = ensure_profile_dataset(platform_client, "churn scores", {"score": "double"}, "userid")
    tenant = f"_{made.tenant}"
    rows = pa.table({tenant: pa.array([{"userid": "u1", "score": 0.5},
                                       {"userid": "u2", "score": None}])})
    result = ingest(platform_client, made.dataset_id, rows)
    assert result == IngestResult(result.batch_id, "success", 2, 1, ())
    assert wire_rows(platform_client, "SELECT userid, score FROM churn_scores ORDER BY 1") == [
        ("u1", 0.5), ("u2", None)]
    wrong = pa.table({tenant: pa.array([{"userid": "u3", "other": 1}])})
    failed = ingest(platform_client, made.dataset_id, wrong, check=False)
    assert (failed.status, failed.errors) == ("failed", (BatchError(
        "TypeCompatibilityException", "File 'part-00000.parquet': field 'other' is not in the "
        "dataset's schema (fields: userid, score)"),))


def test_json_lines_shaped_as_xdm_land_in_a_profile_datasets_columns(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    made = ensure_profile_dataset(platform_client, "json scores", {"score": "double",
                                                                   "day": "date"}, "userid")
    tenant = f"_{made.tenant}"
    batch = create(emulator, platform_client, {"datasetId": made.dataset_id,
                                               "inputFormat": {"format": "json"}}).json()["id"]
    put(emulator, platform_client, batch, made.dataset_id, name="a.json", data=(
        f'{{"{tenant}": {{"userid": "j1", "score": 0.5, "day": "2026-01-02"}}}}\n'
        f'{{"{tenant}": {{"userid": "j2"}}}}\n').encode())
    act(emulator, platform_client, batch, "COMPLETE")
    record = wait_final(platform_client, batch)
    assert (record["status"], record["metrics"]["outputRecordCount"]) == ("success", 2)
    assert engine_rows(emulator, "SELECT userid, score, day FROM json_scores ORDER BY 1") == [
        ("j1", 0.5, dt.date(2026, 1, 2)), ("j2", None, None)]


def test_a_reverted_batch_takes_its_rows_away_and_catalog_lists_batches_newest_first(
        emulator: Emulator, platform_client: PlatformClient, ds_id: str) -> None:
    first = ingest(platform_client, ds_id).batch_id
    second = ingest(platform_client, ds_id, ROWS.slice(0, 2)).batch_id
    other = ingest(platform_client, dataset(emulator, "other_scores")).batch_id
    listed = platform_client.get("/data/foundation/catalog/batches", params={"dataSet": ds_id})
    assert list(listed) == [second, first]
    assert listed[first]["relatedObjects"] == [{"type": "dataSet", "id": ds_id}]
    oldest = platform_client.get("/data/foundation/catalog/batches",
                                 params={"orderBy": "asc:created", "limit": 1, "start": 1})
    assert list(oldest) == [second]
    assert engine_rows(emulator, "SELECT count(*) FROM scores") == [(5,)]
    assert act(emulator, platform_client, first, "REVERT").status_code == 200
    assert engine_rows(emulator, "SELECT user_id, n FROM scores ORDER BY n") == [
        ("u1", 1), ("u2", 2)]  # the second batch's rows only
    assert platform_client.get(STATUS.format(id=first))[first]["status"] == "inactive"
    assert act(emulator, platform_client, first, "revert").status_code == 200  # again: a no-op
    assert engine_rows(emulator, "SELECT count(*) FROM scores") == [(2,)]
    assert list(platform_client.get("/data/foundation/catalog/batches",
                                    params={"dataSet": ds_id, "status": "success"})) == [second]
    assert engine_rows(emulator, "SELECT count(*) FROM other_scores") == [(3,)]
    assert other not in listed
    loading = create(emulator, platform_client, {"datasetId": ds_id,
                                                 "inputFormat": {"format": "parquet"}}).json()
    assert act(emulator, platform_client, loading["id"], "REVERT").json()["detail"] == (
        f"Batch '{loading['id']}' is loading; only a successful batch can be reverted (abort a "
        "batch in progress)")
    bad = requests.get(emulator.url + "/data/foundation/catalog/batches", timeout=10,
                       params={"dataset": ds_id}, headers=headers(emulator, platform_client))
    assert bad.status_code == 400 and bad.json()["detail"] == (
        "Unknown query parameter(s) dataset; allowed: dataSet, limit, orderBy, start, status")
