"""The emulator proven by the real client: aepp 0.6.0 driven the way Adobe's notebooks use it.

aepp is configured with the emulator's test credential (``aepp.configure``) and pointed at the
emulator's loopback URL for both IMS and Platform (aepp keeps them in module globals; the
fixture restores them). Every call both sides share runs through aepp; the assertions are on
what aepp gets back. Where aepp itself is wrong (contract §10, contract-ingest §6) a comment
says so and the emulator's contract-conformant answer is checked directly instead. aepp runs in
``tmp_path`` and a socket guard fails the test if anything connects beyond loopback. Without
aepp or PostgreSQL the tests are skipped locally and fail under ``CI=true``.
"""

from __future__ import annotations

import copy
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pyarrow.parquet as pq
import pytest
import requests

from aep_emulator import Emulator
from emulator_fixtures import engine_rows

pytestmark = pytest.mark.postgres

SOURCE_SPEC = "23598e46-f560-407b-88d5-ea6207e49db0"
DLZ_SPEC, DLZ_FLOW = "10440537-2a7b-4583-ac39-ed38d4b848e8", "cd2fc47e-e838-4f38-a581-8fff2f99b63a"
FS = "/data/foundation/flowservice"
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def require_aepp() -> Any:
    """aepp, or a skip (a failure when ``CI=true``) if it is not installed."""
    try:
        import aepp
    except ImportError as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"aepp is not installed (the test extra pins aepp==0.6.0): {exc}")
        pytest.skip(f"aepp is not installed: {exc}")
    return aepp


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Refuse (and record) every socket connection to an address that is not loopback."""
    refused: list[Any] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in LOOPBACK:
            refused.append(address)
            raise OSError(f"test_aepp: connection to {address} refused (loopback only)")

    monkeypatch.setattr(socket.socket, "connect",
                        lambda self, a: (check(self, a), real_connect(self, a))[1])
    monkeypatch.setattr(socket.socket, "connect_ex",
                        lambda self, a: (check(self, a), real_connect_ex(self, a))[1])
    return refused


@pytest.fixture
def aepp(emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
         loopback_only: list[Any]) -> Iterator[Any]:
    """aepp configured for ``emulator`` (IMS and Platform at its URL), run in ``tmp_path``."""
    module = require_aepp()
    from aepp import config

    saved = [(d, copy.deepcopy(d)) for d in (config.config_object, config.header, config.endpoints)]
    monkeypatch.chdir(tmp_path)
    module.configure(org_id=emulator.org_id, client_id=emulator.client_id,
                     secret=emulator.client_secret, scopes="openid,AdobeID,read_organizations",
                     sandbox=emulator.sandbox)
    # aepp derives both hosts from `environment`; point them at the emulator (contract §1.3/1.4).
    config.endpoints["global"] = emulator.url
    config.config_object["imsEndpoint"] = emulator.url
    config.config_object["oauthTokenEndpointV2"] = f"{emulator.url}/ims/token/v3"
    try:
        yield module
    finally:
        for live, copy_ in saved:
            live.clear()
            live.update(copy_)
        assert loopback_only == []


def table(emu: Emulator, name: str, rows: int) -> str:
    """Create table ``name`` with ``rows`` rows; the id of its dataset."""
    emu.run_sql(f"CREATE TABLE {name} AS SELECT g AS user_id, g * 1.5 AS score "
                f"FROM generate_series(1, {rows}) g")
    from aep_emulator.catalog import catalog

    catalog(emu).sync()
    [ds_id] = [k for k, v in catalog(emu).datasets.items() if v["name"] == name]
    return ds_id


def wait(fetch: Any, done: Any, timeout: float = 30.0) -> Any:
    """Call ``fetch()`` until ``done(result)``; the last result."""
    deadline = time.monotonic() + timeout
    while True:
        result = fetch()
        if done(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def direct(emu: Emulator, token: str, path: str, **params: Any) -> requests.Response:
    """A GET straight to the emulator with the standard headers (to check what aepp cannot)."""
    return requests.get(f"{emu.url}{path}", params=params, timeout=10, headers={
        "Authorization": f"Bearer {token}", "x-api-key": emu.client_id,
        "x-gw-ims-org-id": emu.org_id, "x-sandbox-name": emu.sandbox})


# -- IMS and Query Service --------------------------------------------------------------------
def test_token_and_connection_parameters(aepp: Any, emulator: Emulator) -> None:
    from aepp import queryservice

    qs = queryservice.QueryService()
    [token_call] = emulator.requests_to("/ims/token/v3", "POST")
    assert b"grant_type=client_credentials" in token_call.body
    assert emulator.tokens.client_of(qs.connector.token) == emulator.client_id
    conn = qs.connection()
    assert conn == {"username": emulator.org_id, "dbName": f"{emulator.sandbox}:all",
                    "host": "127.0.0.1", "port": emulator.wire.port, "version": 1,  # type: ignore[union-attr]
                    "token": qs.connector.token, "compressedToken": qs.connector.token,
                    "websocketHost": f"127.0.0.1:{emulator.wire.port}"}  # type: ignore[union-attr]
    [call] = emulator.requests_to("/data/foundation/query/connection_parameters")
    assert call.headers["x-sandbox-name"] == emulator.sandbox


def test_interactive_query2_over_the_wire_proxy(aepp: Any, emulator: Emulator) -> None:
    from aepp import queryservice

    table(emulator, "events", 3)
    conn = queryservice.QueryService().connection()
    # aepp 0.6.0's constructor (unlike the contract's §2.2 HEAD) first reads the Query
    # Accelerated Store table qsaccel.profile_agg.adwh_dim_merge_policies, which a sandbox
    # without Real-Time Customer Profile data lacks: the emulator answers with the SQL error.
    with pytest.raises(psycopg2.errors.FeatureNotSupported, match="qsaccel"):
        queryservice.InteractiveQuery2(conn)
    # So query() runs on an instance connected exactly as aepp's constructor connects.
    iq = queryservice.InteractiveQuery2.__new__(queryservice.InteractiveQuery2)
    iq.connect = psycopg2.connect(dbname=conn["dbName"], host=conn["host"], user=conn["username"],
                                  password=conn["token"], port=conn["port"], sslmode="allow")
    try:
        frame = iq.query("SELECT user_id, score FROM events ORDER BY user_id")
        assert frame.to_dict("records") == [{"user_id": i, "score": i * 1.5} for i in (1, 2, 3)]
        assert iq.query("SELECT * FROM events WHERE user_id > 9").empty
        assert iq.query("SELECT count(*) AS n FROM events", output="raw").fetchone() == (3,)
        # Contract §2.2: a CTAS through a result cursor has no rows to fetch.
        with pytest.raises(psycopg2.ProgrammingError, match="no results to fetch"):
            iq.query("CREATE TABLE top_users AS SELECT * FROM events WHERE user_id > 1")
        iq.connect.commit()
    finally:
        iq.close()
    assert engine_rows(emulator, "SELECT count(*) FROM top_users") == [(2,)]


def test_dbname_trick_and_its_trip_up(aepp: Any, emulator: Emulator) -> None:
    from aepp import queryservice

    table(emulator, "events", 2)
    conn = queryservice.QueryService().connection()

    def connect(c: dict[str, Any]) -> Any:  # InteractiveQuery2's own connect arguments
        return psycopg2.connect(dbname=c["dbName"], host=c["host"], user=c["username"],
                                password=c["token"], port=c["port"], sslmode="allow")

    scoped = connect({**conn, "dbName": f"{emulator.sandbox}:events"})
    with scoped, scoped.cursor() as cur:
        cur.execute("SELECT count(*) FROM events")
        assert cur.fetchone() == (2,)
    scoped.close()
    # Contract §10.1: the notebooks set lowercase "dbname", which aepp never reads.
    ignored = connect({**conn, "dbname": "other:events"})
    assert ignored.info.dbname == f"{emulator.sandbox}:all"
    ignored.close()
    with pytest.raises(psycopg2.OperationalError, match="3D000|does not exist"):
        connect({**conn, "dbName": "other:all"})


def test_batch_queries_ctas_and_paging(aepp: Any, emulator: Emulator) -> None:
    from aepp import queryservice

    table(emulator, "events", 4)
    qs, db = queryservice.QueryService(), f"{emulator.sandbox}:all"
    ctas = qs.postQueries(name="ctas", dbname=db,
                          sql="CREATE TABLE feats AS SELECT user_id FROM events WHERE user_id > 1")
    assert (ctas["state"], ctas["isCTAS"], ctas["isInsertInto"]) == ("SUBMITTED", True, False)
    done = wait(lambda: qs.getQuery(ctas["id"]), lambda q: q["state"] not in ("SUBMITTED",
                                                                                "IN_PROGRESS"))
    assert (done["state"], done["errors"]) == ("SUCCESS", [])
    insert = qs.createQuery(name="insert", dbname=db, sql="INSERT INTO feats SELECT 9")
    assert (insert["isCTAS"], insert["isInsertInto"]) == (False, True)
    ids = [ctas["id"], insert["id"]] + [
        qs.postQueries(name=f"q{i}", dbname=db, sql=f"SELECT {i}")["id"] for i in range(3)]
    before = len(emulator.requests_to("/data/foundation/query/queries", "GET"))
    listed = qs.getQueries(limit=2, n_results=5)
    assert [q["id"] for q in listed] == ids[::-1]  # newest first, over three pages
    pages = emulator.requests_to("/data/foundation/query/queries", "GET")[before:]
    assert [p.param("start") for p in pages if p.path.endswith("/queries")] == [None, "2", "4"]
    assert [q["id"] for q in qs.getQueries(limit=2, n_results="inf")] == ids[::-1]
    assert len(qs.getQueries(limit=2, n_results=3)) == 3


def test_templates_schedules_and_statistics(aepp: Any, emulator: Emulator) -> None:
    from aepp import queryservice

    ds_id = table(emulator, "events", 5)
    qs, db = queryservice.QueryService(), f"{emulator.sandbox}:all"
    template = qs.createQueryTemplate(name="t", sql="SELECT * FROM events WHERE user_id > $low")
    assert [t["id"] for t in qs.getTemplates()] == [template["id"]]
    run = qs.postQueries(name="from template", dbname=db, templateId=template["id"],
                         queryParameters={"low": 3})
    done = wait(lambda: qs.getQuery(run["id"]), lambda q: q["state"] == "SUCCESS")
    assert done["rowCount"] == 2
    schedule = qs.createSchedule(name="nightly", dbname=db, sql="SELECT count(*) FROM events",
                                 schedule={"schedule": "0 2 * * *", "maxActiveRuns": 1})
    assert [s["id"] for s in qs.getSchedules()] == [schedule["id"]]
    qs.disableSchedule(schedule["id"])
    assert qs.getSchedule(schedule["id"])["state"] == "DISABLED"
    qs.enableSchedule(schedule["id"])
    assert qs.getSchedule(schedule["id"])["state"] == "ENABLED"
    assert qs.getScheduleRuns(schedule["id"]) == []
    # aepp has no call that triggers a run; its connector posts the §2.3 trigger.
    accepted = qs.connector.postData(f"{qs.endpoint}/schedules/{schedule['id']}/runs")
    assert accepted["statusCode"] == 202
    [sched_run] = qs.getScheduleRuns(schedule["id"])
    finished = wait(lambda: qs.getScheduleRun(schedule["id"], sched_run["id"]),
                    lambda r: r["state"] == "SUCCESS")
    assert finished["state"] == "SUCCESS" and finished["taskStatusList"][0]["state"] == "SUCCESS"
    assert qs.deleteSchedule(schedule["id"]) == 202 and qs.getSchedules() == []
    # aepp's default statisticType is "table HTTP/1.1" (a pasted request line): refused.
    assert qs.getDatasetStatistics(ds_id)["status"] == 400
    stats = qs.getDatasetStatistics(ds_id, statisticType="table")
    assert stats["statistics"] == {"rowCount": 5, "columnCount": 2}


# -- Catalog ----------------------------------------------------------------------------------
def test_catalog_get_datasets(aepp: Any, emulator: Emulator) -> None:
    from aepp import catalog

    ids = [table(emulator, f"t{i}", i + 1) for i in range(5)]
    cat = catalog.Catalog()
    everything = cat.getDataSets()
    assert sorted(everything) == sorted(ids)
    assert cat.data.table_names == {f"t{i}": [f"t{i}"] for i in range(5)}
    infos = cat.getDatasetsInfos(caching=cat.getDataSets(output="list"))
    assert set(infos["dataBehavior"]) == {"record"} and set(infos["qs_table"]) == {
        f"t{i}" for i in range(5)}
    [(only, record)] = cat.getDataSets(name="t2").items()  # CMLE: exactly one key per name
    assert (only, record["tags"]["adobe/pqs/table"]) == (ids[2], ["t2"])
    assert list(cat.getDataSet(ids[0])) == [ids[0]]
    # aepp pages from start=1+limit (contract-ingest §6): with limit 2 it skips the third.
    assert sorted(cat.getDataSets(limit=2)) == sorted(ids[:2] + ids[3:])
    page = direct(emulator, cat.connector.token, "/data/foundation/catalog/dataSets",
                  limit=2, start=2).json()
    assert list(page) == ids[2:4]


def test_dataset_labels(aepp: Any, emulator: Emulator) -> None:
    from aepp import datasets

    ds_id = table(emulator, "labelled", 2)
    labels = datasets.DataSets()
    schema = emulator.dataset(ds_id)["schemaRef"]["id"]
    # aepp's own example body: label lists of lists (contract §7 [uncertain]), schemaPath fields
    body = copy.deepcopy(labels.REFERENCE_LABELS_CREATION)
    body["optionalLabels"][0]["option"].update(id=schema, schemaPath="/properties/score")
    created = labels.createLabels(ds_id, body)
    assert (created["code"], created["labels"]) == ("PES-201", ["C1", "C2"])
    key = f"AEP:dataset:{ds_id}"
    assert labels.getLabelSchemaTests(ds_id) == {key: {
        "imsOrg": emulator.org_id, "labels": ["C1", "C2"], "optionalLabels": [
            {"option": {"id": schema, "contentType": "application/vnd.adobe.xed-full+json;"
                                                     "version=1",
                        "schemaPath": "/properties/score"}, "labels": ["S1", "S2"]}]}}
    assert labels.createLabels(ds_id, body)["title"] == "Conflict"  # aepp returns error bodies
    # aepp's headLabels calls `res.headers()` (not callable): on a 200 it returns {}, so the
    # etag it documents as coming from there is read directly
    assert labels.headLabels(ds_id) == {}

    def etag() -> str:
        return requests.head(f"{emulator.url}/data/foundation/dataset/datasets/{ds_id}/labels",
                             timeout=10, headers={
                                 "Authorization": f"Bearer {labels.connector.token}",
                                 "x-api-key": emulator.client_id,
                                 "x-gw-ims-org-id": emulator.org_id,
                                 "x-sandbox-name": emulator.sandbox}).headers["ETag"]

    stale = labels.updateLabels(ds_id, {"labels": ["C12"]}, ifMatch='"stale"')
    assert (stale["status"], stale["title"]) == (412, "PreconditionFailed")
    first = etag()
    updated = labels.updateLabels(ds_id, {"labels": ["C12"]}, ifMatch=first)
    assert (updated["code"], updated["labels"], updated["optionalLabels"]) == (
        "PES-200", ["C12"], [])
    assert labels.deleteLabels(ds_id, ifMatch=first)["status"] == 412  # PUT made a new etag
    assert labels.deleteLabels(ds_id, ifMatch=etag()) == 204
    assert labels.getLabelSchemaTests(ds_id)["title"] == "NotFoundError"
    assert emulator.labels(ds_id) is None


# -- Flow Service -----------------------------------------------------------------------------
def dlz_connections(fs: Any, count: int) -> list[str]:
    return [fs.createConnection(data={"name": f"dlz{i}", "auth": None,
                                      "connectionSpec": {"id": DLZ_SPEC, "version": "1.0"}})["id"]
            for i in range(count)]


def test_flow_service_listing_pages(aepp: Any, emulator: Emulator) -> None:
    from aepp import flowservice

    ds_id = table(emulator, "feats", 2)
    fs = flowservice.FlowService()
    bases = dlz_connections(fs, 5)
    assert [c["id"] for c in fs.getConnections(limit=2)] == bases  # three pages
    flows = []
    for i, base in enumerate(bases[:3]):
        src = fs.createSourceConnectionDataLake(name=f"s{i}", dataset_ids=[ds_id], format="parquet")
        tgt = fs.createTargetConnection(data={
            "name": f"t{i}", "baseConnectionId": base,
            "connectionSpec": {"id": DLZ_SPEC, "version": "1.0"},
            "params": {"mode": "Server-to-server", "compression": "gzip",
                       "datasetFileType": "parquet", "path": f"p{i}"}})
        flows.append(fs.createFlow(flow_spec_id=DLZ_FLOW, obj={
            "name": f"f{i}", "flowSpec": {"id": DLZ_FLOW, "version": "1.0"},
            "sourceConnectionIds": [src["id"]], "targetConnectionIds": [tgt["id"]],
            "transformations": [], "scheduleParams": {"startTime": int(time.time()),
                                                      "timeUnit": "hour", "interval": 3}})["id"])
    assert [f["id"] for f in fs.getFlows(limit=2)] == flows
    assert [f["id"] for f in fs.getFlows(limit=1, onlyDestinations=True)] == flows
    assert fs.getFlows(prop=f"flowSpec.id=={DLZ_FLOW}", limit=2, n_results=1)[0]["id"] == flows[0]
    assert len(fs.getSourceConnections(limit=2)) == 3 and len(fs.getTargetConnections(limit=1)) == 3
    links = direct(emulator, fs.connector.token, f"{FS}/flows", limit=1).json()["_links"]
    assert links["next"]["href"].startswith("/flows?continuationToken=")
    assert "&" not in links["next"]["href"]


def test_specs_and_landing_zone(aepp: Any, emulator: Emulator) -> None:
    from aepp import flowservice

    fs = flowservice.FlowService()
    assert fs.getConnectionSpecIdFromName("activation-datalake") == SOURCE_SPEC
    assert fs.getConnectionSpec(DLZ_SPEC)["items"][0]["name"] == "Data Landing Zone"
    specs = fs.getFlowSpecs()
    assert len(specs) == 6 and {s["id"] for s in specs} >= {DLZ_FLOW}
    dlz = fs.getFlowSpec(DLZ_FLOW)
    assert (dlz["sourceConnectionSpecIds"], dlz["targetConnectionSpecIds"]) == ([SOURCE_SPEC],
                                                                                [DLZ_SPEC])
    [named] = fs.getFlowSpecs(prop=f"name=={dlz['name']}")
    assert named["id"] == DLZ_FLOW
    creds = fs.getLandingZoneCredential("dlz_destination")
    assert creds["containerName"] == "dlz-destination" and "sig=" in creds["SASToken"]
    assert fs.getLandingZoneStorageName("dlz_destination") == "dlz-destination"
    assert fs.getLandingZoneStorageName() == "dlz-user-container"  # aepp's default type
    assert fs.getLandingZoneStorageTTL() == 7
    assert fs.getLandingZoneCredential("other")["status"] == 400


def test_dataset_export_sequence_adhoc_run_patch_and_actions(aepp: Any, emulator: Emulator,
                                                              tmp_path: Path) -> None:
    from aepp import destinationinstanceservice, exportDatasetToDataLandingZone, flowservice

    ds_id = table(emulator, "feats", 4)
    fs = flowservice.FlowService()
    # §5.2 step 0 asks the source spec; aepp's getExportableDatasetsDLZ asks the DLZ destination
    # spec instead, which has no activationDatasets configs, and so finds nothing.
    assert [d["id"] for d in fs.getExportableDatasets(SOURCE_SPEC)] == [ds_id]
    assert fs.getExportableDatasetsDLZ() == []
    ini = tmp_path / "config.ini"
    ini.write_text("[Platform]\ndataflow_id =\n")
    export = exportDatasetToDataLandingZone.ExportDatasetToDataLandingZone()
    # on_schedule=True: aepp 0.6.0's createFlowRun (on_schedule=False) indexes getRun(...)
    # ["items"] although getRun already returns the items list, and waits forever (§5.6, §10.3);
    # its remaining steps are driven below with the same calls.
    flow_id = export.createDataFlowRunIfNotExists(ds_id, "gzip", "parquet", "cmle/egress", True,
                                                  str(ini), "cmle")
    assert f"dataflow_id = {flow_id}" in ini.read_text()
    flow = fs.getFlow(flow_id)
    assert (flow["state"], flow["flowSpec"]["id"]) == ("enabled", DLZ_FLOW)
    assert (flow["scheduleParams"]["timeUnit"], flow["scheduleParams"]["interval"]) == ("hour", 3)
    [src] = [fs.getSourceConnection(flow["sourceConnectionIds"][0])]
    assert src["params"]["datasets"] == [{"dataSetId": ds_id}]

    answer = destinationinstanceservice.DestinationInstanceService().createAdHocDatasetExport(
        {flow_id: [ds_id]})
    run_id = answer["destinations"][0]["datasets"][0]["statusURL"].rsplit("/", 1)[-1]
    with pytest.raises(TypeError):
        fs.getRun(run_id)["items"]  # the aepp bug above: getRun returns a list
    run = wait(lambda: fs.getRun(run_id)[0], lambda r: r["statusSummary"]["status"] != "inProgress")
    assert run["statusSummary"]["status"] == "success"
    assert run["metrics"]["recordSummary"]["outputRecordCount"] == 4
    assert run["metrics"]["fileSummary"]["outputFileCount"] == 1
    [part] = (emulator.landing_dir() / "dlz-destination/cmle/egress" / ds_id).glob(
        "exportTime=*/part-*.gz.parquet")
    assert sorted(pq.read_table(part).column("user_id").to_pylist()) == [1, 2, 3, 4]
    assert [r["id"] for r in fs.getRuns(prop=f"flowId=={flow_id}")] == [run_id]

    year_ahead = int(time.time()) + 365 * 86400  # createFlowRun's PATCH, with the flow's etag
    patched = fs.updateFlow(flow_id, flow["etag"], [
        {"op": "Replace", "path": "/scheduleParams", "value": {"startTime": year_ahead}}])
    assert patched["id"] == flow_id and patched["etag"] != flow["etag"]
    schedule = fs.getFlow(flow_id)["scheduleParams"]
    assert (schedule["startTime"], schedule["timeUnit"], schedule["interval"]) == (
        year_ahead, "hour", 3)
    stale = fs.updateFlow(flow_id, flow["etag"], [
        {"op": "Replace", "path": "/name", "value": "x"}])
    assert stale["status"] == 412
    fs.postFlowAction(flow_id, "disable")
    assert fs.getFlow(flow_id)["state"] == "disabled"
    refused = destinationinstanceservice.DestinationInstanceService().createAdHocDatasetExport(
        {flow_id: [ds_id]})
    assert refused["status"] == 400 and "disabled" in refused["detail"]
    # Run again with the flow id stored: the same flow, enabled again, nothing new created.
    assert export.createDataFlowRunIfNotExists(ds_id, "gzip", "parquet", "cmle/egress", True,
                                               str(ini), "cmle") == flow_id
    assert fs.getFlow(flow_id)["state"] == "enabled"
    assert [f["id"] for f in fs.getFlows()] == [flow_id]
    assert fs.postFlowAction(flow_id, "pause")["status"] == 400


# -- Batch ingestion --------------------------------------------------------------------------
def test_batch_ingestion_the_way_the_notebooks_do_it(aepp: Any, emulator: Emulator) -> None:
    from aepp import catalog, ingestion

    ds_id = table(emulator, "scored", 0)
    ing = ingestion.DataIngestion()
    batch = ing.createBatch(ds_id, format="json")
    assert (batch["status"], batch["relatedObjects"], batch["inputFormat"]) == (
        "loading", [{"type": "dataSet", "id": ds_id}], {"format": "json"})
    [create] = emulator.requests_to("/data/foundation/import/batches", "POST")
    assert create.json == {"datasetId": ds_id,
                           "inputFormat": {"format": "json", "isMultiLineJson": False}}
    # aepp sends the list as one JSON array on one line (contract-ingest §1.7)
    rows = [{"user_id": 7, "score": 0.5}, {"user_id": 8, "score": 2.25}]
    assert ing.uploadSmallFile(batch["id"], ds_id, "scores.json", rows) == {}
    assert ing.uploadSmallFileFinish(batch["id"]) == {}
    cat = catalog.Catalog()
    record = wait(lambda: cat.getBatch(batch["id"])[batch["id"]],
                  lambda r: r["status"] not in ("loading", "staging"))
    assert (record["status"], record["errors"], record["metrics"]["outputRecordCount"]) == (
        "success", [], 2)
    assert engine_rows(emulator, "SELECT user_id, score FROM scored ORDER BY 1") == [
        (7, 0.5), (8, 2.25)]
    late = ing.uploadSmallFile(batch["id"], ds_id, "more.json", rows)
    assert late["status"] == 400 and "files can only be uploaded while it is loading" in (
        late["detail"])
