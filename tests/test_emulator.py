"""The Adobe emulator follows the contract: gateway checks, IMS, Query Service, Catalog, faults."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
import warnings

import psycopg2
import pytest
import requests

from emulator_fixtures import PG_DSN, require_postgres, wait_for_query
from aep_emulator import Emulator, Request, Response, Router
from aep_emulator.catalog import PQS_TAG
from aep_emulator.query import Statement, translate
from aep_emulator.services import register_all
from runner.errors import PlatformError
from runner.platform.client import PlatformClient

pytestmark = pytest.mark.postgres

QUERIES = "/data/foundation/query/queries"
CATALOG = "/data/foundation/catalog/dataSets"


def headers(emu: Emulator, client: PlatformClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.access_token().reveal()}", "x-api-key": emu.client_id,
            "x-gw-ims-org-id": emu.org_id, "x-sandbox-name": emu.sandbox}


def run(client: PlatformClient, emu: Emulator, sql: str, **extra: object) -> dict:
    query = client.post(QUERIES, json={"dbName": f"{emu.sandbox}:all", "sql": sql, **extra})
    return wait_for_query(client, query["id"])


def wait_state(client: PlatformClient, query_id: str, state: str) -> dict:
    deadline = time.monotonic() + 20
    while True:
        query = client.get(f"{QUERIES}/{query_id}")
        if query["state"] == state or time.monotonic() > deadline:
            return query
        time.sleep(0.01)


# -- the gateway -----------------------------------------------------------------------------
@pytest.mark.parametrize("change, status, body", [
    ({"Authorization": None}, 403, {"error_code": "403010", "message": "Oauth token is missing."}),
    ({"Authorization": "Bearer not-a-token"}, 401, {"error_code": "401013", "message": "Oauth token is not valid"}),
    ({"x-api-key": None}, 403, {"error_code": "403000", "message": "Api Key is required"}),
    ({"x-api-key": "someone-else"}, 403, {"error_code": "403003", "message": "Api Key is invalid"}),
    ({"x-gw-ims-org-id": None}, 400, {"error_code": "400003", "message": "Missing header"}),
    ({"x-gw-ims-org-id": "OTHER@AdobeOrg"}, 403, {"error_code": "403025", "message": "Profile is not valid"}),
])
def test_gateway_rejects_bad_headers_with_the_exact_bodies(
        emulator: Emulator, platform_client: PlatformClient, change, status, body) -> None:
    sent = headers(emulator, platform_client)
    for name, value in change.items():
        sent.pop(name)
        if value is not None:
            sent[name] = value
    response = requests.get(emulator.url + CATALOG, headers=sent, timeout=10)
    assert (response.status_code, response.json()) == (status, body)


def test_lowercase_bearer_is_accepted_and_expired_tokens_are_not(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    sent = headers(emulator, platform_client)
    sent["Authorization"] = sent["Authorization"].replace("Bearer", "bearer")
    assert requests.get(emulator.url + CATALOG, headers=sent, timeout=10).status_code == 200
    emulator.tokens.expire_all()
    response = requests.get(emulator.url + CATALOG, headers=sent, timeout=10)
    assert (response.status_code, response.json()["error_code"]) == (401, "401013")


def test_post_with_a_body_needs_json_content_type(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    response = requests.post(emulator.url + QUERIES, headers=headers(emulator, platform_client),
                             data=b'{"dbName": "x"}', timeout=10)
    assert (response.status_code, response.json()) == (400, {
        "type": "https://ns.adobe.com/aep/errors/BadRequestError", "status": 400,
        "title": "BadRequestError", "detail": "A valid content-type must be specified"})


def test_unknown_sandbox_is_forbidden(emulator: Emulator, platform_client: PlatformClient) -> None:
    sent = {**headers(emulator, platform_client), "x-sandbox-name": "prod"}
    response = requests.get(emulator.url + CATALOG, headers=sent, timeout=10)
    assert (response.status_code, response.json()["detail"]) == (
        403, f"Sandbox 'prod' does not exist in org {emulator.org_id} or the credential has no "
             "access to it")


# -- IMS -------------------------------------------------------------------------------------
@pytest.mark.parametrize("form, status, error", [
    ({"client_id": "C", "client_secret": "S", "scope": "openid"}, 400,
     {"error": "invalid_request", "error_description": "Missing grant_type parameter"}),
    ({"grant_type": "password", "client_id": "C", "client_secret": "S", "scope": "openid"}, 400,
     {"error": "unsupported_grant_type", "error_description": "Unsupported grant_type password"}),
    ({"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "S", "scope": "openid"},
     400, {"error": "invalid_client", "error_description": "invalid client_id parameter"}),
    ({"grant_type": "client_credentials", "client_id": "C", "client_secret": "wrong", "scope": "openid"},
     401, {"error": "invalid_client", "error_description": "invalid client_secret parameter"}),
    ({"grant_type": "client_credentials", "client_id": "C", "client_secret": "S"}, 400,
     {"error": "invalid_scope", "error_description": "Missing scope parameter"}),
])
def test_ims_rejects_bad_token_requests(emulator: Emulator, form, status, error) -> None:
    form = {k: {"C": emulator.client_id, "S": emulator.client_secret}.get(v, v) for k, v in form.items()}
    response = requests.post(emulator.url + "/ims/token/v3", data=form, timeout=10)
    assert (response.status_code, response.json()) == (status, error)
    assert emulator.tokens.issued == 0


def test_ims_issues_opaque_expiring_tokens(emulator: Emulator) -> None:
    form = {"grant_type": "client_credentials", "client_id": emulator.client_id,
            "client_secret": emulator.client_secret, "scope": "openid,AdobeID"}
    body = requests.post(emulator.url + "/ims/token/v3", data=form, timeout=10).json()
    assert sorted(body) == ["access_token", "expires_in", "token_type"]
    assert (body["token_type"], body["expires_in"]) == ("bearer", 86399)
    assert emulator.tokens.client_of(body["access_token"]) == emulator.client_id
    json_body = requests.post(emulator.url + "/ims/token/v3", json=form, timeout=10)
    assert (json_body.status_code, json_body.json()["error"]) == (400, "invalid_request")


# -- Query Service ---------------------------------------------------------------------------
def connect(params: dict, **overrides: object) -> psycopg2.extensions.connection:
    """psycopg2 connection from connection_parameters, as aepp's InteractiveQuery2 makes it."""
    kw = {"dbname": params["dbName"], "host": params["host"], "port": params["port"],
          "user": params["username"], "password": params["token"], "sslmode": "allow",
          "connect_timeout": 10}
    kw.update(overrides)
    return psycopg2.connect(**kw)


def test_connection_parameters_open_the_sandbox_database(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    params = platform_client.get("/data/foundation/query/connection_parameters")
    assert {k: params[k] for k in ("dbName", "host", "port", "username", "version")} == {
        "dbName": f"{emulator.sandbox}:all", "host": "127.0.0.1", "port": emulator.wire.port,
        "username": emulator.org_id, "version": 1}
    assert params["token"] == platform_client.access_token().reveal()
    for db_name in (params["dbName"], f"{emulator.sandbox}:some_table"):
        conn = connect(params, dbname=db_name)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT current_database(), current_user")
                assert cur.fetchone() == (f"{emulator.sandbox}:all", emulator.org_id)
        finally:
            conn.close()


def test_wire_endpoint_checks_database_and_token(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    params = platform_client.get("/data/foundation/query/connection_parameters")
    with pytest.raises(psycopg2.OperationalError) as wrong_db:
        connect(params, dbname="prod:all")
    assert (f'FATAL:  database "prod:all" does not exist (use \'{emulator.sandbox}:all\' or '
            f"'{emulator.sandbox}:<table>')") in str(wrong_db.value)
    with pytest.raises(psycopg2.OperationalError) as bad_token:
        connect(params, password="not-a-token")
    assert (f'FATAL:  password authentication failed for user "{emulator.org_id}" (the password is '
            "an IMS access token; fetch a new one)") in str(bad_token.value)
    kept = connect(params)
    emulator.tokens.expire_all()
    with pytest.raises(psycopg2.OperationalError) as expired:
        connect(params)
    assert "password authentication failed" in str(expired.value)
    with kept.cursor() as cur:     # an open session outlives its token, as on Platform
        cur.execute("SELECT 1")
        assert cur.fetchone() == (1,)
    kept.close()


def test_wire_cancel_and_terminate_reach_the_engine(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    params = platform_client.get("/data/foundation/query/connection_parameters")
    conn = connect(params)
    timer = threading.Timer(0.2, conn.cancel)   # in-process: must not deadlock on the GIL
    timer.start()
    with pytest.raises(psycopg2.errors.QueryCanceled):
        with conn.cursor() as cur:
            cur.execute("SELECT pg_sleep(30)")
    timer.join()
    conn.rollback()
    emulator.faults.terminate_connections(CATALOG)
    platform_client.get(CATALOG)
    with pytest.raises(psycopg2.OperationalError):
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
    conn.close()


@pytest.mark.parametrize("body, detail", [
    ({"sql": "SELECT 1"}, "dbName is required"),
    ({"dbName": "prod:all", "sql": "SELECT 1"}, "dbName 'prod:all' must be '{sb}:all' or '{sb}:<table>' for sandbox '{sb}'"),
    ({"dbName": "{sb}", "sql": "SELECT 1"}, "dbName '{sb}' must be '{sb}:all' or '{sb}:<table>' for sandbox '{sb}'"),
    ({"dbName": "{sb}:all"}, "Exactly one of sql and templateId is required"),
    ({"dbName": "{sb}:all", "sql": "SELECT 1", "templateId": "t"}, "Exactly one of sql and templateId is required"),
    ({"dbName": "{sb}:all", "sql": "SELECT 1", "ctasParameters": {"datasetName": "x"}},
     "ctasParameters requires datasetName and description"),
    ({"dbName": "{sb}:all", "sql": "SELECT 1", "insertIntoParameters": {}}, "insertIntoParameters requires datasetName"),
])
def test_post_queries_validates_the_body(emulator: Emulator, platform_client: PlatformClient,
                                         body: dict, detail: str) -> None:
    body = {k: v.replace("{sb}", emulator.sandbox) if isinstance(v, str) else v for k, v in body.items()}
    with pytest.raises(PlatformError) as info:
        platform_client.post(QUERIES, json=body)
    assert (info.value.status, str(info.value)) == (
        400, f"POST {QUERIES} failed: 400 BadRequestError: {detail.replace('{sb}', emulator.sandbox)}")
    assert emulator.requests_to(QUERIES) == emulator.requests[1:2]


def test_query_moves_submitted_in_progress_success(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    emulator.query_gate.clear()
    blocker = emulator.engine.connect()
    try:
        with blocker.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(4242)")
        sql = "SELECT pg_advisory_lock(4242) AS locked"
        created = platform_client.post(QUERIES, json={"dbName": f"{emulator.sandbox}:all",
                                                      "sql": sql, "name": "q1"})
        assert created["state"] == "SUBMITTED"
        assert sorted(created) == sorted([
            "_links", "client", "clientId", "created", "elapsedTime", "errors", "id", "isCTAS",
            "isInsertInto", "request", "rowCount", "state", "updated", "userId", "version"])
        assert created["request"] == {"dbName": f"{emulator.sandbox}:all", "sql": sql, "name": "q1"}
        assert (created["errors"], created["isCTAS"], created["rowCount"]) == ([], False, 0)
        assert created["_links"]["cancel"] == {"href": f"{emulator.url}{QUERIES}/{created['id']}",
                                               "method": "PATCH", "body": '{"op": "cancel"}'}
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", created["created"])
        assert platform_client.get(f"{QUERIES}/{created['id']}")["state"] == "SUBMITTED"
        emulator.query_gate.set()
        assert wait_state(platform_client, created["id"], "IN_PROGRESS")["state"] == "IN_PROGRESS"
    finally:
        blocker.close()             # releases the advisory lock
    done = wait_for_query(platform_client, created["id"])
    assert (done["state"], done["rowCount"], done["errors"]) == ("SUCCESS", 1, [])


@pytest.mark.parametrize("sql, code, message", [
    ("SELECT * FROM missing_table", "42P01", 'relation "missing_table" does not exist'),
    ("SELEC 1 FROM", "42601", None),
])
def test_sql_errors_fail_the_query_not_the_http_call(
        emulator: Emulator, platform_client: PlatformClient, sql: str, code: str, message) -> None:
    done = run(platform_client, emulator, sql)
    assert done["state"] == "FAILED"
    assert [e["code"] for e in done["errors"]] == [code]
    if message:
        assert done["errors"][0]["message"] == message


def test_ctas_registers_exactly_one_dataset_with_its_options(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    sql = ("CREATE TABLE features WITH (schema='Feature Schema', rowvalidation='false', "
           "label='PROFILE') AS SELECT id, upper(name) AS name FROM VALUES (1, 'a'), (2, 'b') AS t(id, name)")
    done = run(platform_client, emulator, sql)
    assert (done["state"], done["rowCount"]) == ("SUCCESS", 2)
    found = platform_client.get(CATALOG, params={"name": "features", "limit": 10})
    assert len(found) == 1
    (ds_id, record), = found.items()
    assert re.fullmatch(r"[0-9a-f]{24}", ds_id)
    assert record["name"] == "features"
    assert record["tags"] == {PQS_TAG: ["features"], "unifiedProfile": ["enabled:true"]}
    assert record["created"] == record["updated"] and isinstance(record["created"], int)
    assert record["schemaRef"]["title"] == "Feature Schema"
    assert platform_client.get(f"{CATALOG}/{ds_id}") == {ds_id: record}
    assert emulator.dataset(ds_id) == record
    from aep_emulator.catalog import catalog
    assert catalog(emulator).options[ds_id] == {"schema": "Feature Schema", "rowvalidation": "false",
                                                "label": "PROFILE"}
    assert emulator.read_table("features").to_pydict() == {"id": [1, 2], "name": ["A", "B"]}
    assert platform_client.get(CATALOG, params={"properties": "name"}) == {ds_id: {"name": "features"}}


def test_data_distiller_statement_semantics(emulator: Emulator, platform_client: PlatformClient) -> None:
    assert run(platform_client, emulator, "CREATE TABLE t AS SELECT 1 AS a")["state"] == "SUCCESS"
    again = run(platform_client, emulator, "CREATE TABLE t AS SELECT 2 AS a")
    assert (again["state"], again["errors"]) == ("FAILED", [{"code": "42P07",
                                                             "message": 'relation "t" already exists'}])
    assert run(platform_client, emulator, "CREATE TABLE IF NOT EXISTS t AS SELECT 3 AS a")["state"] == "SUCCESS"
    (before,) = platform_client.get(CATALOG).values()
    inserted = run(platform_client, emulator, "INSERT INTO t SELECT 4 AS a UNION ALL SELECT 5")
    assert (inserted["state"], inserted["rowCount"]) == ("SUCCESS", 2)
    (after,) = platform_client.get(CATALOG).values()
    assert after["created"] == before["created"] and after["updated"] > before["updated"]
    assert run(platform_client, emulator, "CREATE OR REPLACE VIEW v AS SELECT a * 10 AS b FROM t")["state"] == "SUCCESS"
    assert emulator.read_table("v").to_pydict() == {"b": [10, 40, 50]}
    assert [r["name"] for r in platform_client.get(CATALOG).values()] == ["t"]   # views are not datasets
    assert run(platform_client, emulator, "DROP VIEW IF EXISTS v")["state"] == "SUCCESS"
    assert run(platform_client, emulator, "DROP TABLE IF EXISTS t")["state"] == "SUCCESS"
    assert platform_client.get(CATALOG) == {}


def test_create_or_replace_view_takes_any_column_list_as_spark_does(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    assert run(platform_client, emulator, "CREATE TABLE t AS SELECT 1 AS a, 2 AS b, 3 AS c")["state"] == "SUCCESS"
    assert run(platform_client, emulator, "CREATE OR REPLACE VIEW v AS SELECT a, b FROM t")["state"] == "SUCCESS"
    # a view reading v survives a replacement PostgreSQL accepts as it is (a column added)
    assert run(platform_client, emulator, "CREATE VIEW w AS SELECT b FROM v")["state"] == "SUCCESS"
    assert run(platform_client, emulator, "CREATE OR REPLACE VIEW v AS SELECT a, b, c FROM t")["state"] == "SUCCESS"
    assert emulator.read_table("w").to_pydict() == {"b": [2]}
    assert run(platform_client, emulator, "DROP VIEW w")["state"] == "SUCCESS"
    # reordered, renamed, dropped and retyped columns: PostgreSQL alone answers 42P16
    for sql, columns in [("SELECT b, a FROM t", {"b": [2], "a": [1]}),
                         ("SELECT c AS x FROM t", {"x": [3]}),
                         ("SELECT 'text' AS x", {"x": ["text"]})]:
        done = run(platform_client, emulator, f"CREATE OR REPLACE VIEW v AS {sql}")
        assert (done["state"], done["errors"]) == ("SUCCESS", [])
        assert emulator.read_table("v").to_pydict() == columns
    # one transaction: a replacement that fails leaves the old view
    failed = run(platform_client, emulator, "CREATE OR REPLACE VIEW v AS SELECT a FROM missing")
    assert (failed["state"], failed["errors"]) == ("FAILED", [
        {"code": "42P01", "message": 'relation "missing" does not exist'}])
    assert emulator.read_table("v").to_pydict() == {"x": ["text"]}
    # a table is not replaced by a view, as on Spark
    clash = run(platform_client, emulator, "CREATE OR REPLACE VIEW t AS SELECT 1 AS z")
    assert (clash["state"], clash["errors"]) == ("FAILED", [
        {"code": "42809", "message": '"t" is not a view'}])
    assert emulator.read_table("t").to_pydict() == {"a": [1], "b": [2], "c": [3]}


def test_ctas_and_insert_parameters_and_templates(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    done = run(platform_client, emulator, "SELECT 7 AS n",
               ctasParameters={"datasetName": "seven", "description": "a seven"})
    assert (done["state"], done["isCTAS"], done["rowCount"]) == ("SUCCESS", True, 1)
    (record,) = platform_client.get(CATALOG, params={"name": "seven"}).values()
    assert record["description"] == "a seven"
    template = platform_client.post("/data/foundation/query/query-templates",
                                    json={"name": "add", "sql": "SELECT $n AS n"})
    query = platform_client.post(QUERIES, json={
        "dbName": f"{emulator.sandbox}:all", "templateId": template["id"], "queryParameters": {"n": 8},
        "insertIntoParameters": {"datasetName": "seven"}})
    done = wait_for_query(platform_client, query["id"])
    assert (done["state"], done["isInsertInto"]) == ("SUCCESS", True)
    assert emulator.read_table("seven").to_pydict() == {"n": [7, 8]}


def test_cancel_a_running_and_a_submitted_query(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    blocker = emulator.engine.connect()
    try:
        with blocker.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(77)")
        running = platform_client.post(QUERIES, json={"dbName": f"{emulator.sandbox}:all",
                                                      "sql": "SELECT pg_advisory_lock(77)"})
        assert wait_state(platform_client, running["id"], "IN_PROGRESS")["state"] == "IN_PROGRESS"
        answer = platform_client.patch(f"{QUERIES}/{running['id']}", json={"op": "cancel"})
        assert answer == {"message": "Query cancel request received", "statusCode": 202}
        assert wait_for_query(platform_client, running["id"])["state"] == "CANCELLED"
    finally:
        blocker.close()
    emulator.query_gate.clear()
    waiting = platform_client.post(QUERIES, json={"dbName": f"{emulator.sandbox}:all", "sql": "SELECT 1"})
    platform_client.patch(f"{QUERIES}/{waiting['id']}", json={"op": "cancel"})
    assert wait_for_query(platform_client, waiting["id"])["state"] == "CANCELLED"
    with pytest.raises(PlatformError) as info:
        platform_client.patch(f"{QUERIES}/{waiting['id']}", json={"op": "cancel"})
    assert info.value.status == 400


def test_list_queries_newest_first_and_soft_delete(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    first = run(platform_client, emulator, "SELECT 1")
    second = run(platform_client, emulator, "SELECT 2")
    listed = platform_client.get(QUERIES, params={"limit": 1})
    assert [q["id"] for q in listed["queries"]] == [second["id"]]
    assert listed["_page"] == {"orderby": "-created", "start": 0, "count": 1, "next": "1"}
    platform_client.patch(f"{QUERIES}/{second['id']}", json={"op": "soft_delete"})
    assert [q["id"] for q in platform_client.get(QUERIES)["queries"]] == [first["id"]]



def test_list_queries_links_filters_and_refusals(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    ok = run(platform_client, emulator, "SELECT 1")
    bad = run(platform_client, emulator, "SELECT * FROM missing_table")
    listed = platform_client.get(QUERIES, params={"limit": 1, "orderby": "+created"})
    assert [q["id"] for q in listed["queries"]] == [ok["id"]]
    assert listed["_links"]["next"] == {
        "href": f"{emulator.url}{QUERIES}?limit=1&orderby=%2Bcreated&start=1"}
    last = platform_client.get(QUERIES, params={"limit": 1, "orderby": "+created", "start": 1})
    assert [q["id"] for q in last["queries"]] == [bad["id"]] and last["_links"] == {}
    failed = platform_client.get(QUERIES, params={"property": "state==FAILED"})["queries"]
    assert [q["id"] for q in failed] == [bad["id"]]
    for params, message in (({"orderby": "name"}, "orderby must be created or updated"),
                            ({"property": "created>2024-01-01"}, "Unsupported property filter"),
                            ({"limit": "0"}, "'limit' must be an integer >= 1")):
        with pytest.raises(PlatformError, match=message):
            platform_client.get(QUERIES, params=params)


def test_schedules_are_checked(emulator: Emulator, platform_client: PlatformClient) -> None:
    schedules, db = "/data/foundation/query/schedules", f"{emulator.sandbox}:all"
    query = {"dbName": db, "sql": "SELECT 1", "name": "n"}
    for body, message in (
            ({"query": query, "schedule": {"schedule": "daily"}}, "cron expression of 5 fields"),
            ({"query": {**query, "dbName": "prod:all"}, "schedule": {"schedule": "0 0 * * *"}},
             "dbName 'prod:all' must be"),
            ({"query": query}, "schedule.schedule (a cron expression) is required")):
        with pytest.raises(PlatformError, match=re.escape(message)):
            platform_client.post(schedules, json=body)
    created = platform_client.post(schedules, json={"query": query,
                                                    "schedule": {"schedule": "0 0 * * *"}})
    with pytest.raises(PlatformError, match="only replace /state with enable or disable"):
        platform_client.patch(f"{schedules}/{created['id']}", json={"body": [
            {"op": "replace", "path": "/state", "value": "pause"}]})
    platform_client.patch(f"{schedules}/{created['id']}", json={"body": [
        {"op": "replace", "path": "/state", "value": "disable"}]})
    with pytest.raises(PlatformError, match="is disabled; enable it first"):
        platform_client.post(f"{schedules}/{created['id']}/runs")


# -- Catalog ---------------------------------------------------------------------------------
def test_read_table_keeps_the_schema_of_an_empty_table(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    sql = ("CREATE TABLE empty_t AS SELECT CAST(1 AS BIGINT) AS n, 'x' AS s, CAST(1.5 AS DOUBLE) AS d, "
           "TRUE AS b, DATE'2024-01-02' AS day, TIMESTAMP'2024-01-02 03:04:05' AS ts WHERE 1 = 0")
    assert run(platform_client, emulator, sql)["state"] == "SUCCESS"
    table = emulator.read_table("empty_t")
    assert (table.num_rows, [str(t) for t in table.schema.types]) == (
        0, ["int64", "string", "double", "bool", "date32[day]", "timestamp[us, tz=UTC]"])


def test_delete_dataset_drops_its_table(emulator: Emulator, platform_client: PlatformClient) -> None:
    run(platform_client, emulator, "CREATE TABLE gone AS SELECT 1 AS a")
    (ds_id,) = platform_client.get(CATALOG, params={"name": "gone"})
    assert platform_client.delete(f"{CATALOG}/{ds_id}") == [f"@/dataSets/{ds_id}"]
    assert "gone" not in emulator.engine.tables()
    with pytest.raises(PlatformError) as info:
        platform_client.get(f"{CATALOG}/{ds_id}")
    assert (info.value.status, info.value.code) == (404, "NotFoundError")


def test_a_table_created_over_the_wire_is_a_dataset_too(emulator: Emulator,
                                                       platform_client: PlatformClient) -> None:
    conn = emulator.engine.connect()
    with conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE wire AS SELECT 1 AS a")
    conn.close()
    assert [r["tags"][PQS_TAG] for r in platform_client.get(CATALOG).values()] == [["wire"]]


def test_catalog_limit_and_start_page_by_creation(emulator: Emulator,
                                                 platform_client: PlatformClient) -> None:
    run(platform_client, emulator, "CREATE TABLE a1 AS SELECT 1 AS a; CREATE TABLE a2 AS SELECT 2 AS a")
    names = [r["name"] for r in platform_client.get(CATALOG, params={"limit": 1, "start": 1}).values()]
    assert names == ["a2"]
    with pytest.raises(PlatformError) as info:
        platform_client.get(CATALOG, params={"limit": 0})
    assert str(info.value).endswith("Query parameter 'limit' must be an integer from 1 to 100")


def test_catalog_listing_defaults_orders_and_snapshots_metrics(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    """Ingest contract §6: 20 a page by default, at most 20 with observableSchema, orderBy
    keys, and the lakehouse metrics as a snapshot that a write over the wire does not move."""
    conn = emulator.engine.connect()
    with conn, conn.cursor() as cur:
        cur.execute("".join(f"CREATE TABLE t{n:02d} AS SELECT generate_series(1, {n}) AS a;"
                            for n in range(1, 23)))
    conn.close()
    assert len(platform_client.get(CATALOG)) == 20
    assert len(platform_client.get(CATALOG, params={"limit": 100})) == 22
    by_name = platform_client.get(CATALOG, params={"orderBy": "desc:name", "limit": 3,
                                                   "properties": "name,extensions"})
    assert [r["name"] for r in by_name.values()] == ["t22", "t21", "t20"]
    assert [r["extensions"]["adobe_lakeHouse"]["metrics"]["rowCount"] for r in
            by_name.values()] == [22, 21, 20]
    assert all(set(r) == {"name", "extensions"} for r in by_name.values())
    for params, message in [
            ({"properties": "name,observableSchema", "limit": 21},
             "Query parameter 'limit' must be an integer from 1 to 20"),
            ({"orderBy": "up:name"}, "Query parameter 'orderBy' has an invalid key 'up:name'")]:
        with pytest.raises(PlatformError) as info:
            platform_client.get(CATALOG, params=params)
        assert message in str(info.value)
    conn = emulator.engine.connect()
    with conn, conn.cursor() as cur:
        cur.execute("INSERT INTO t01 VALUES (2), (3)")
    conn.close()
    t01 = platform_client.get(CATALOG, params={"name": "t01"})
    assert next(iter(t01.values()))["extensions"]["adobe_lakeHouse"]["metrics"]["rowCount"] == 1


# -- faults, recording, routing, lifecycle ---------------------------------------------------
def test_terminate_fault_kills_engine_connections(emulator: Emulator,
                                                  platform_client: PlatformClient) -> None:
    victim = emulator.engine.connect()
    emulator.faults.terminate_connections(CATALOG)
    platform_client.get(CATALOG)
    with pytest.raises(psycopg2.OperationalError):
        with victim.cursor() as cur:
            cur.execute("SELECT 1")
    victim.close()
    assert emulator.faults.faults[0].fired == 1


def test_requests_are_recorded_in_order(emulator: Emulator, platform_client: PlatformClient) -> None:
    platform_client.get(CATALOG, params={"name": "x"})
    platform_client.post("/data/foundation/query/query-templates", json={"name": "n", "sql": "SELECT 1"})
    recorded = emulator.requests
    assert [(r.method, r.path, r.query) for r in recorded] == [
        ("POST", "/ims/token/v3", {}), ("GET", CATALOG, {"name": ["x"]}),
        ("POST", "/data/foundation/query/query-templates", {})]
    assert recorded[2].json == {"name": "n", "sql": "SELECT 1"}
    assert recorded[2].headers["x-sandbox-name"] == emulator.sandbox


def test_router_path_params_404_and_405() -> None:
    router = Router()
    router.add("GET", "/a/{id}/b", lambda r, p: Response(200, p))

    def request(method: str, path: str) -> Request:
        return Request(method, path, {}, {}, b"", None)

    assert router.dispatch(request("GET", "/a/x1/b")).body == {"id": "x1"}
    assert router.dispatch(request("GET", "/a/x1/b/")).body == {"id": "x1"}
    assert router.dispatch(request("DELETE", "/a/x1/b")).status == 405
    missing = router.dispatch(request("GET", "/a/x1"))
    assert (missing.status, missing.body["detail"]) == (404, "No resource at /a/x1")


def test_missing_service_modules_are_skipped_with_a_warning() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert register_all(Router(), None, ["nonexistent_service"]) == []  # type: ignore[arg-type]
    assert [str(w.message) for w in caught] == [
        "emulator: service module aep_emulator.nonexistent_service is missing; its paths answer 404"]


def test_stop_drops_the_sandbox_database() -> None:
    require_postgres()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        emu = Emulator(engine_dsn=PG_DSN)
    with emu:
        name = emu.engine.dbname
        landing = emu.landing_dir()
        assert landing.is_dir()
    conn = psycopg2.connect(PG_DSN)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,))
        assert cur.fetchone() == (0,)
    conn.close()
    assert not landing.exists()


def test_translate_strips_data_distiller_options() -> None:
    assert translate("CREATE TABLE x WITH (schema='S', rowvalidation='false') AS SELECT 1 AS a; "
                     "INSERT INTO x SELECT explode(array(2, 3))") == [
        Statement("CREATE TABLE x AS SELECT 1 AS a", "x", {"schema": "S", "rowvalidation": "false"}, None),
        Statement("INSERT INTO x SELECT UNNEST(ARRAY[2, 3])", None, {}, "x")]
    assert translate("CREATE OR REPLACE VIEW v AS SELECT b, a FROM t") == [
        Statement("CREATE OR REPLACE VIEW v AS SELECT b, a FROM t", None, {}, None,
                  ("DROP VIEW IF EXISTS v", "CREATE VIEW v AS SELECT b, a FROM t"))]


def test_serve_prints_url_and_credentials_and_cleans_up_on_interrupt() -> None:
    require_postgres()
    proc = subprocess.Popen([sys.executable, "-W", "ignore", "-c",
                             f"from aep_emulator import serve; serve(engine_dsn={PG_DSN!r}, "
                             "client_secret='cli-secret')"],
                            stdout=subprocess.PIPE, text=True)
    try:
        lines = [proc.stdout.readline() for _ in range(8)]
        url = lines[0].split(" at ")[1].strip()
        sandbox = lines[5].split()[-1]
        assert lines[4].split()[2] == "cli-secret"
        assert lines[6].startswith("  PostgreSQL:    127.0.0.1:")
        form = {"grant_type": "client_credentials", "client_id": "emulator-client-id",
                "client_secret": "cli-secret", "scope": "openid"}
        assert requests.post(f"{url}/ims/token/v3", data=form, timeout=10).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    conn = psycopg2.connect(PG_DSN)
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (f"{sandbox}:all",))
        assert cur.fetchone() == (0,)
    conn.close()
