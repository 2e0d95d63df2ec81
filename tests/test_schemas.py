"""A Profile-enabled score dataset through the Schema Registry and Catalog (ingest contract §2).

``runner.platform.schemas.ensure_profile_dataset`` is checked by what the emulator recorded: the
exact requests of a first run (paths, Accept and Content-Type headers, bodies), a second run
that sends only GETs, and a sandbox set up half-way. The emulator's refusals are checked with
raw requests and their exact bodies; the Spark -> XDM type table and the row shaping are pure.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import requests

from aep_emulator import Emulator
from runner.errors import PlatformError, ProjectError, RunError
from runner.platform.client import PlatformClient
from runner.platform.schemas import DatasetSetup, ensure_profile_dataset, xdm_field, xdm_row

REG = "/data/foundation/schemaregistry"
DATASETS = "/data/foundation/catalog/dataSets"
PROFILE = "https://ns.adobe.com/xdm/context/profile"
TENANT = "emu0000000000000000000001"  # the emulator's default org id, lowercased
FIELDS = {"propensity": "double", "scored_at": "timestamp"}


def recorded(emu: Emulator) -> list[tuple[str, str, dict[str, list[str]], str | None, Any]]:
    """Platform requests (IMS left out): method, path, query, Accept or Content-Type, body."""
    out = []
    for r in emu.requests:
        if r.path.startswith("/ims/"):
            continue
        header = r.headers.get("content-type") if r.method != "GET" else r.headers.get("accept")
        out.append((r.method, r.path, r.query, header, r.json))
    return out


def problem(status: int, title: str, detail: str) -> dict[str, Any]:
    return {"type": f"https://ns.adobe.com/aep/errors/{title}", "status": status, "title": title,
            "detail": detail}


def raw(emu: Emulator, client: PlatformClient, method: str, path: str, body: Any = None,
        **headers: str) -> requests.Response:
    """A request with the gateway headers and exactly the other ``headers`` given."""
    sent = {"Authorization": f"Bearer {client.access_token().reveal()}",
            "x-api-key": emu.client_id, "x-gw-ims-org-id": emu.org_id,
            "x-sandbox-name": emu.sandbox, **{k.replace("_", "-"): v for k, v in headers.items()}}
    return requests.request(method, emu.url + path, headers=sent, json=body, timeout=10)


# -- a first run, a second run, a half-made sandbox -------------------------------------------
def test_first_run_sends_the_contract_sequence(emulator: Emulator,
                                               platform_client: PlatformClient) -> None:
    result = ensure_profile_dataset(platform_client, "churn scores", FIELDS, "userid")
    group, schema = emulator.state["schemas"].fieldgroups, emulator.state["schemas"].schemas
    (group_id,), (schema_id,) = group, schema
    alt_id = schema[schema_id]["meta:altId"]
    assert result == DatasetSetup(TENANT, group_id, schema_id, result.dataset_id,
                                    created=("fieldgroup", "schema", "identity", "union",
                                             "dataset"), found=())
    assert len(result.dataset_id) == 24
    assert group_id.startswith(f"https://ns.adobe.com/{TENANT}/mixins/")
    assert alt_id == f"_{TENANT}.schemas.{schema_id.rpartition('/')[2]}"
    xed, xdm, js = "application/vnd.adobe.xed+json", "application/vnd.adobe.xdm+json", "application/json"
    assert recorded(emulator) == [
        ("GET", f"{REG}/stats", {}, xed, None),
        ("GET", f"{REG}/tenant/fieldgroups", {"property": ["title==churn scores fields"]}, xed,
         None),
        ("POST", f"{REG}/tenant/fieldgroups", {}, js, {
            "type": "object", "title": "churn scores fields",
            "description": "Score fields of churn scores fields",
            "allOf": [{"$ref": "#/definitions/customFields"}], "meta:containerId": "tenant",
            "meta:resourceType": "mixins", "meta:xdmType": "object",
            "definitions": {"customFields": {"type": "object", "properties": {f"_{TENANT}": {
                "type": "object", "properties": {
                    "userid": {"title": "Userid", "type": "string"},
                    "propensity": {"title": "Propensity", "type": "number"},
                    "scored_at": {"title": "Scored At", "type": "string",
                                  "format": "date-time"}}}}}},
            "meta:intendedToExtend": [PROFILE]}),
        ("GET", f"{REG}/tenant/schemas", {"property": ["title==churn scores"]}, xed, None),
        ("POST", f"{REG}/tenant/schemas", {}, js, {
            "title": "churn scores", "description": "Profile schema of churn scores",
            "type": "object",
            "allOf": [{"$ref": PROFILE, "type": "object", "meta:xdmType": "object"},
                      {"$ref": group_id, "type": "object", "meta:xdmType": "object"}]}),
        ("GET", f"{REG}/tenant/descriptors", {"property": [f"xdm:sourceSchema=={schema_id}"]},
         xdm, None),
        ("POST", f"{REG}/tenant/descriptors", {}, js, {
            "@type": "xdm:descriptorIdentity", "xdm:sourceSchema": schema_id,
            "xdm:sourceVersion": 1, "xdm:sourceProperty": f"/_{TENANT}/userid",
            "xdm:namespace": "ECID", "xdm:property": "xdm:id", "xdm:isPrimary": True}),
        ("PATCH", f"{REG}/tenant/schemas/{alt_id}", {}, js,
         [{"op": "add", "path": "/meta:immutableTags", "value": ["union"]}]),
        ("GET", DATASETS, {"name": ["churn scores"], "properties": ["name,schemaRef,tags"]}, js,
         None),
        ("POST", DATASETS, {}, js, {
            "name": "churn scores",
            "schemaRef": {"id": schema_id, "contentType": "application/vnd.adobe.xed+json;version=1"},
            "fileDescription": {"persisted": True, "containerFormat": "parquet",
                                "format": "parquet"},
            "tags": {"unifiedProfile": ["enabled:true"], "unifiedIdentity": ["enabled:true"]}}),
    ]
    record = emulator.dataset(result.dataset_id)
    assert record is not None
    assert (record["name"], record["schemaRef"]["id"], record["tags"],
            record["classification"]) == (
        "churn scores", schema_id,
        {"unifiedProfile": ["enabled:true"], "unifiedIdentity": ["enabled:true"],
         "adobe/pqs/table": ["churn_scores"]},
        {"dataBehavior": "record", "managedBy": "CUSTOMER"})
    assert schema[schema_id]["meta:immutableTags"] == ["union"]


def test_second_run_sends_only_gets_and_creates_nothing(emulator: Emulator,
                                                        platform_client: PlatformClient) -> None:
    first = ensure_profile_dataset(platform_client, "churn scores", FIELDS, "userid")
    emulator.requests.clear()
    second = ensure_profile_dataset(platform_client, "churn scores", FIELDS, "userid")
    assert second == DatasetSetup(TENANT, first.fieldgroup_id, first.schema_id,
                                    first.dataset_id, created=(),
                                    found=("fieldgroup", "schema", "identity", "union", "dataset",
                                           "profile tags"))
    assert [(m, p) for m, p, *_ in recorded(emulator)] == [
        ("GET", f"{REG}/stats"), ("GET", f"{REG}/tenant/fieldgroups"),
        ("GET", f"{REG}/tenant/schemas"), ("GET", f"{REG}/tenant/descriptors"),
        ("GET", DATASETS)]
    registry = emulator.state["schemas"]
    assert (len(registry.fieldgroups), len(registry.schemas), len(registry.descriptors)) == (1, 1, 1)
    assert [k for k, v in emulator.state["catalog"].datasets.items()
            if v["name"] == "churn scores"] == [first.dataset_id]


def test_a_sandbox_with_the_schema_but_no_dataset_gets_the_rest(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    first = ensure_profile_dataset(platform_client, "churn scores", FIELDS, "userid")
    assert platform_client.delete(f"{DATASETS}/{first.dataset_id}") == [
        f"@/dataSets/{first.dataset_id}"]
    emulator.requests.clear()
    again = ensure_profile_dataset(platform_client, "churn scores", FIELDS, "userid")
    assert (again.created, again.found) == (("dataset",),
                                            ("fieldgroup", "schema", "identity", "union"))
    assert again.dataset_id != first.dataset_id
    assert [(m, p) for m, p, *_ in recorded(emulator)] == [
        ("GET", f"{REG}/stats"), ("GET", f"{REG}/tenant/fieldgroups"),
        ("GET", f"{REG}/tenant/schemas"), ("GET", f"{REG}/tenant/descriptors"),
        ("GET", DATASETS), ("POST", DATASETS)]


def test_a_dataset_without_profile_tags_is_enabled_with_a_json_patch(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    first = ensure_profile_dataset(platform_client, "churn scores", FIELDS, "userid")
    answer = platform_client.post(DATASETS, json={"name": "plain", "schemaRef": {
        "id": first.schema_id, "contentType": "application/vnd.adobe.xed-full+json;version=1"},
        "tags": {"unifiedProfile": ["enabled:false"]}})
    plain_id = answer[0].rpartition("/")[2]
    # the same schema title, another dataset name: only the dataset steps differ
    emulator.requests.clear()
    result = ensure_profile_dataset(platform_client, "churn scores", FIELDS, "userid")
    assert result.created == ()
    emulator.state["catalog"].datasets[plain_id]["name"] = "churn scores"
    emulator.state["catalog"].datasets.pop(first.dataset_id)
    emulator.requests.clear()
    result = ensure_profile_dataset(platform_client, "churn scores", FIELDS, "userid")
    assert (result.dataset_id, result.created) == (plain_id, ("profile tags",))
    assert recorded(emulator)[-1] == (
        "PATCH", f"{DATASETS}/{plain_id}", {}, "application/json-patch+json",
        [{"op": "add", "path": "/tags/unifiedProfile", "value": ["enabled:true"]},
         {"op": "add", "path": "/tags/unifiedIdentity", "value": ["enabled:true"]}])
    assert emulator.dataset(plain_id)["tags"] == {"unifiedProfile": ["enabled:true"],
                                                 "adobe/pqs/table": ["plain"],
                                                 "unifiedIdentity": ["enabled:true"]}


def test_what_exists_but_differs_is_refused_not_changed(emulator: Emulator,
                                                       platform_client: PlatformClient) -> None:
    ensure_profile_dataset(platform_client, "churn scores", FIELDS, "userid")
    with pytest.raises(RunError, match=r"^field group 'churn scores fields' \(https://ns\.adobe"
                       r"\.com/.+\) exists with other fields than userid:string, "
                       r"propensity:bigint; change or rename it in the Schema Registry$"):
        ensure_profile_dataset(platform_client, "churn scores", {"propensity": "bigint"}, "userid")
    with pytest.raises(RunError, match=r"has the primary identity /_emu\d+/userid \(ECID\), "
                       r"not /_emu\d+/userid \(CRMID\)$"):
        ensure_profile_dataset(platform_client, "churn scores", FIELDS, "userid", "CRMID")


def test_a_platform_failure_names_the_call_and_no_secret(emulator: Emulator,
                                                         platform_client: PlatformClient) -> None:
    emulator.faults.add("status", f"{REG}/tenant/schemas", method="POST", status=403)
    with pytest.raises(PlatformError) as caught:
        ensure_profile_dataset(platform_client, "churn scores", FIELDS, "userid")
    message = str(caught.value)
    assert message.startswith(f"POST {REG}/tenant/schemas")
    assert emulator.client_secret not in message
    assert platform_client.access_token().reveal() not in message


# -- the emulator's strictness ----------------------------------------------------------------
def _group_and_schema(emu: Emulator, client: PlatformClient) -> tuple[str, dict[str, Any]]:
    group = raw(emu, client, "POST", f"{REG}/tenant/fieldgroups", {
        "type": "object", "title": "g", "allOf": [{"$ref": "#/definitions/f"}],
        "definitions": {"f": {"properties": {f"_{TENANT}": {"type": "object", "properties": {
            "userid": {"type": "string"}, "score": {"type": "number"}}}}}}},
        Content_Type="application/json")
    assert group.status_code == 201
    schema = raw(emu, client, "POST", f"{REG}/tenant/schemas", {
        "title": "s", "allOf": [{"$ref": PROFILE}, {"$ref": group.json()["$id"]}]},
        Content_Type="application/json")
    assert schema.status_code == 201
    return group.json()["$id"], schema.json()


def test_profile_enabling_is_refused_without_a_primary_identity(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    _, schema = _group_and_schema(emulator, platform_client)
    union = [{"op": "add", "path": "/meta:immutableTags", "value": ["union"]}]
    refused = raw(emulator, platform_client, "PATCH", f"{REG}/tenant/schemas/{schema['meta:altId']}",
                  union, Content_Type="application/json")
    assert (refused.status_code, refused.json()) == (400, problem(
        400, "BadRequestError", "In order to enable a schema for Profile, it must have a primary "
        f"identity field defined: schema '{schema['$id']}' has none"))
    dataset = {"name": "d", "schemaRef": {"id": schema["$id"],
                                          "contentType": "application/vnd.adobe.xed+json;version=1"},
               "tags": {"unifiedProfile": ["enabled:true"]}}
    refused = raw(emulator, platform_client, "POST", DATASETS, dataset,
                  Content_Type="application/json")
    assert (refused.status_code, refused.json()) == (400, problem(
        400, "BadRequestError", "A dataset can be enabled for Profile only when its schema is: "
        "add meta:immutableTags [\"union\"] to the schema first"))
    descriptor = {"@type": "xdm:descriptorIdentity", "xdm:sourceSchema": schema["$id"],
                  "xdm:sourceVersion": 1, "xdm:sourceProperty": f"/_{TENANT}/score",
                  "xdm:namespace": "ECID", "xdm:property": "xdm:id", "xdm:isPrimary": True}
    refused = raw(emulator, platform_client, "POST", f"{REG}/tenant/descriptors", descriptor,
                  Content_Type="application/json")
    assert (refused.status_code, refused.json()["detail"]) == (
        400, f"xdm:sourceProperty '/_{TENANT}/score' is not a string field of the schema")
    descriptor["xdm:sourceProperty"] = f"/_{TENANT}/userid"
    made = raw(emulator, platform_client, "POST", f"{REG}/tenant/descriptors", descriptor,
               Content_Type="application/json")
    assert made.status_code == 201 and len(made.json()["@id"]) == 40
    again = raw(emulator, platform_client, "POST", f"{REG}/tenant/descriptors", descriptor,
                Content_Type="application/json")
    assert (again.status_code, again.json()["detail"]) == (
        400, f"Schema '{schema['$id']}' already has a primary identity")
    encoded = requests.utils.quote(schema["$id"], safe="")
    enabled = raw(emulator, platform_client, "PATCH", f"{REG}/tenant/schemas/{encoded}", union,
                  Content_Type="application/json")
    assert (enabled.status_code, enabled.json()["meta:immutableTags"]) == (200, ["union"])
    removed = raw(emulator, platform_client, "PATCH", f"{REG}/tenant/schemas/{encoded}",
                  [{"op": "remove", "path": "/meta:immutableTags"}],
                  Content_Type="application/json")
    assert (removed.status_code, removed.json()["detail"]) == (
        400, "meta:immutableTags can only be added, with an array value; it cannot be removed or "
        "replaced")
    objects = raw(emulator, platform_client, "PATCH", f"{REG}/tenant/schemas/{encoded}",
                  [{"op": "add", "path": "/meta:immutableTags", "value": [{}]}],
                  Content_Type="application/json")  # tags that are no strings: a 400, not a 500
    assert (objects.status_code, objects.json()["detail"]) == (
        400, "meta:immutableTags can only be added, with an array value; it cannot be removed or "
        "replaced")


def test_registry_gets_need_their_accept_headers(emulator: Emulator,
                                                 platform_client: PlatformClient) -> None:
    _, schema = _group_and_schema(emulator, platform_client)
    path = f"{REG}/tenant/schemas/{schema['meta:altId']}"
    plain = raw(emulator, platform_client, "GET", path, Accept="application/json")
    assert (plain.status_code, plain.json()) == (406, problem(
        406, "NotAcceptable", f"Accept 'application/json' is not supported on GET {path}; send "
        "application/vnd.adobe.xed-full+json; version=1"))
    no_version = raw(emulator, platform_client, "GET", path,
                     Accept="application/vnd.adobe.xed-full+json")
    assert no_version.status_code == 406
    full = raw(emulator, platform_client, "GET", path,
               Accept="application/vnd.adobe.xed-full+json; version=1")
    assert (full.status_code, full.json()["$id"]) == (200, schema["$id"])
    listed = raw(emulator, platform_client, "GET", f"{REG}/tenant/schemas?property=title==s",
                 Accept="application/vnd.adobe.xed-id+json")
    assert listed.json() == {"results": [{"$id": schema["$id"], "meta:altId": schema["meta:altId"],
                                          "version": "1.0", "title": "s"}],
                             "_page": {"orderby": "title", "next": None, "count": 1},
                             "_links": {}}
    assert raw(emulator, platform_client, "GET", f"{REG}/stats").status_code == 406
    stats = raw(emulator, platform_client, "GET", f"{REG}/stats",
                Accept="application/vnd.adobe.xed+json")
    assert stats.json()["tenantId"] == TENANT
    assert stats.json()["counts"] == {"schemas": 1, "mixins": 1, "datatypes": 0, "classes": 0,
                                      "unions": 0}
    links = raw(emulator, platform_client, "GET", f"{REG}/tenant/descriptors",
                Accept="application/vnd.adobe.xdm-link+json")
    assert (links.status_code, links.json()) == (200, {})


def test_registry_refuses_fields_outside_the_tenant_and_unknown_types(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    def group(props: dict[str, Any]) -> requests.Response:
        return raw(emulator, platform_client, "POST", f"{REG}/tenant/fieldgroups", {
            "type": "object", "title": "g", "allOf": [{"$ref": "#/definitions/f"}],
            "definitions": {"f": {"properties": props}}}, Content_Type="application/json")

    outside = group({"score": {"type": "number"}})
    assert (outside.status_code, outside.json()["detail"]) == (
        400, f"Custom field 'definitions.f.properties.score' must be under the tenant namespace "
        f"'_{TENANT}'")
    wrong = group({f"_{TENANT}": {"type": "object", "properties": {"s": {"type": "decimal"}}}})
    assert wrong.json()["detail"] == (
        f"Field 'definitions.f.properties._{TENANT}.properties.s' has type 'decimal'; XDM scalar "
        "types are boolean, integer, number, string (or object)")
    schemaless = raw(emulator, platform_client, "POST", f"{REG}/tenant/schemas",
                     {"title": "s", "allOf": [{"$ref": "https://ns.adobe.com/x/mixins/1"}]},
                     Content_Type="application/json")
    assert schemaless.json()["detail"] == "allOf must reference exactly one class, found 0"


def test_catalog_patch_demands_json_patch(emulator: Emulator,
                                          platform_client: PlatformClient) -> None:
    made = ensure_profile_dataset(platform_client, "churn scores", FIELDS, "userid")
    ops = [{"op": "add", "path": "/tags/unifiedProfile", "value": ["enabled:true"]}]
    wrong = raw(emulator, platform_client, "PATCH", f"{DATASETS}/{made.dataset_id}", ops,
                Content_Type="application/json")
    assert (wrong.status_code, wrong.json()) == (400, {
        "type": "/placeholder/type/uri", "status": 400, "title": "BadRequestError",
        "detail": "Content-type does not match json-patch body format, value of Content-type "
                  "should be application/json-patch+json."})
    for bad in ([1], [{"op": "remove", "path": "/tags/unifiedProfile"}],
                [{"op": "add", "path": "/name", "value": "x"}]):
        refused = raw(emulator, platform_client, "PATCH", f"{DATASETS}/{made.dataset_id}", bad,
                      Content_Type="application/json-patch+json")
        assert (refused.status_code, refused.json()["detail"]) == (
            400, f"Operation {bad[0]!r} is not supported; the emulator knows add or replace of "
            "/tags/<name>")
    not_a_patch = raw(emulator, platform_client, "POST", DATASETS, {"name": "x"},
                      Content_Type="application/json-patch+json")
    assert (not_a_patch.status_code, not_a_patch.json()) == (400, problem(
        400, "BadRequestError", "A valid content-type must be specified"))
    right = raw(emulator, platform_client, "PATCH", f"{DATASETS}/{made.dataset_id}", ops,
                Content_Type="application/json-patch+json")
    assert (right.status_code, right.json()) == (200, [f"@/dataSets/{made.dataset_id}"])
    emulator.run_sql("CREATE TABLE adhoc AS SELECT 'u1' AS userid")
    emulator.state["catalog"].sync()
    (adhoc,) = [k for k, v in emulator.state["catalog"].datasets.items() if v["name"] == "adhoc"]
    refused = raw(emulator, platform_client, "PATCH", f"{DATASETS}/{adhoc}", ops,
                  Content_Type="application/json-patch+json")
    assert (refused.status_code, refused.json()["detail"]) == (
        400, "A dataset can be enabled for Profile only when its schema is: add "
        "meta:immutableTags [\"union\"] to the schema first")
    assert emulator.dataset(adhoc)["tags"] == {"adobe/pqs/table": ["adhoc"]}
    bad_ref = raw(emulator, platform_client, "POST", DATASETS, {
        "name": "x", "schemaRef": {"id": made.schema_id, "contentType": "application/json"}},
        Content_Type="application/json")
    assert bad_ref.json()["detail"] == (
        "schemaRef.contentType 'application/json' must be "
        "application/vnd.adobe.xed[-full][-notext]+json;version=1")


# -- types and rows ---------------------------------------------------------------------------
@pytest.mark.parametrize("spark, xdm", [
    ("double", {"type": "number"}),
    ("float", {"type": "number"}),
    ("bigint", {"type": "integer", "minimum": -9007199254740991, "maximum": 9007199254740991}),
    ("long", {"type": "integer", "minimum": -9007199254740991, "maximum": 9007199254740991}),
    ("int", {"type": "integer", "minimum": -2147483648, "maximum": 2147483647}),
    ("string", {"type": "string"}),
    ("boolean", {"type": "boolean"}),
    ("date", {"type": "string", "format": "date"}),
    ("timestamp", {"type": "string", "format": "date-time"}),
    ("DOUBLE", {"type": "number"}),
])
def test_spark_types_map_to_xdm(spark: str, xdm: dict[str, Any]) -> None:
    assert xdm_field(spark) == xdm


def test_an_unsupported_type_is_refused_before_any_call() -> None:
    with pytest.raises(ProjectError) as caught:
        xdm_field("decimal(10,2)")
    assert str(caught.value) == (
        "column type 'decimal(10,2)' cannot be a Profile field; supported: string, boolean, "
        "double, float, int, bigint, date, timestamp (cast the column to one of them)")
    with pytest.raises(ProjectError, match=r"^column type 'array<int>' cannot be"):
        ensure_profile_dataset(None, "x", {"tags": "array<int>"}, "userid")  # type: ignore[arg-type]
    with pytest.raises(ProjectError, match=r"^identity column 'userid' is bigint; an identity "
                       r"must be a string \(cast it\)$"):
        ensure_profile_dataset(None, "x", {"userid": "bigint"}, "userid")  # type: ignore[arg-type]


def test_rows_are_shaped_under_the_tenant() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    row = {"userid": "u1", "propensity": 0.25,
           "scored_at": dt.datetime(2026, 12, 3, 15, 5, 0, 250000, tzinfo=paris),
           "day": dt.date(2026, 12, 3), "flag": None}
    columns = ["userid", "propensity", "scored_at", "day", "flag"]
    assert xdm_row(row, "acme", columns) == {"_acme": {
        "userid": "u1", "propensity": 0.25, "scored_at": "2026-12-03T14:05:00.250000Z",
        "day": "2026-12-03", "flag": None}}
    with pytest.raises(ProjectError) as naive:
        xdm_row({"scored_at": dt.datetime(2026, 12, 3, 14, 5)}, "acme", columns)
    assert str(naive.value) == ("column 'scored_at' has a timestamp without a time zone "
                                "(2026-12-03T14:05:00); XDM date-time needs one (make it UTC)")
    assert xdm_row({"userid": "u2"}, "acme", columns) == {"_acme": {"userid": "u2"}}
    with pytest.raises(ProjectError) as caught:
        xdm_row({"userid": "u1", "extra": 1}, "acme", ["userid"])
    assert str(caught.value) == ("column(s) extra are not fields of the Profile dataset "
                                 "(fields: userid)")


@pytest.mark.parametrize("path, lookup", [
    (f"{REG}/tenant/fieldgroups", f"{REG}/tenant/fieldgroups"),
    (f"{REG}/tenant/schemas", f"{REG}/tenant/schemas"),
    (f"{REG}/tenant/descriptors", f"{REG}/tenant/descriptors"),
    (DATASETS, DATASETS),
])
def test_a_create_whose_answer_is_lost_is_found_not_sent_again(
        emulator: Emulator, platform_client: PlatformClient, path: str, lookup: str) -> None:
    emulator.faults.lose_answer(path, method="POST", status=502)
    result = ensure_profile_dataset(platform_client, "churn scores", FIELDS, "userid")
    assert result.created == ("fieldgroup", "schema", "identity", "union", "dataset")
    sent = [(m, p) for m, p, *_ in recorded(emulator)]
    at = sent.index(("POST", path))
    assert sent[at + 1] == ("GET", lookup)  # looked up, not resent
    assert sent.count(("POST", path)) == 1
    registry = emulator.state["schemas"]
    assert (len(registry.fieldgroups), len(registry.schemas), len(registry.descriptors)) == (1, 1, 1)
    assert [k for k, v in emulator.state["catalog"].datasets.items()
            if v["name"] == "churn scores"] == [result.dataset_id]


def test_a_create_that_failed_and_made_nothing_fails(emulator: Emulator,
                                                     platform_client: PlatformClient) -> None:
    emulator.faults.add("status", DATASETS, method="POST", status=502)
    with pytest.raises(PlatformError, match=rf"^POST {DATASETS}"):
        ensure_profile_dataset(platform_client, "churn scores", FIELDS, "userid")
    assert [(m, p) for m, p, *_ in recorded(emulator)][-2:] == [("POST", DATASETS),
                                                                ("GET", DATASETS)]


def test_a_created_dataset_has_a_table_of_its_flattened_tenant_fields(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    """The table is named as Data Distiller names it and its columns are the ``_<tenant>``
    fields; a second dataset whose table name is taken is refused."""
    made = ensure_profile_dataset(platform_client, "Churn scores-v2",
                                  {**FIELDS, "n": "bigint", "ok": "boolean", "day": "date"},
                                  "userid")
    assert emulator.dataset(made.dataset_id)["tags"]["adobe/pqs/table"] == ["churn_scores_v2"]
    conn = emulator.engine.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT column_name, data_type FROM information_schema.columns WHERE "
                        "table_name = 'churn_scores_v2' ORDER BY ordinal_position")
            columns = cur.fetchall()
    finally:
        conn.close()
    assert columns == [("userid", "text"), ("propensity", "double precision"),
                       ("scored_at", "timestamp with time zone"), ("n", "bigint"),
                       ("ok", "boolean"), ("day", "date")]
    taken = raw(emulator, platform_client, "POST", DATASETS, {
        "name": "churn_scores_v2", "schemaRef": {"id": made.schema_id,
                                                 "contentType": "application/vnd.adobe.xed+json;version=1"}},
        Content_Type="application/json")
    assert (taken.status_code, taken.json()) == (400, problem(
        400, "BadRequestError", "Dataset name 'churn_scores_v2' needs the table "
        "'churn_scores_v2', which already exists in the sandbox; pick another name"))
    assert [v["name"] for v in emulator.state["catalog"].datasets.values()] == ["Churn scores-v2"]
