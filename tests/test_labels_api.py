"""Data usage labels through Platform's Dataset Service (contract §7): the emulator, the client,
and a build on the emulated Data Distiller.

The emulator's ``/data/foundation/dataset/datasets/{id}/labels`` is checked with raw requests
(every refusal with its exact RFC 7807 body); ``runner.platform.labels`` is checked by what the
emulator recorded (the exact requests, in order); a two-model build with the labels hook writes
each built dataset's labels, and the sources' labels are read back in the shape lineage uses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from aep_emulator import Emulator, EmulatorError
from emulator_fixtures import (PG_DSN, distiller_target, engine_rows, fast_client,
                               require_postgres)
from runner import BuildOptions, build
from runner.errors import PlatformError
from runner.platform.client import PlatformClient
from runner.platform.labels import apply_labels, read_labels
from runner.run.labels import apply_built_labels, platform_source_labels
from runner.run.session import open_session

pytestmark = pytest.mark.postgres

LABELS = "/data/foundation/dataset/datasets/{id}/labels"
XED = "application/vnd.adobe.xed-full+json;version=1"


def headers(emu: Emulator, client: PlatformClient, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {client.access_token().reveal()}", "x-api-key": emu.client_id,
            "x-gw-ims-org-id": emu.org_id, "x-sandbox-name": emu.sandbox, **extra}


def dataset(emu: Emulator, table: str, sql: str = "SELECT 'u1' AS user_id, 2.5 AS total") -> str:
    """A table in the sandbox and the id of its Catalog dataset."""
    emu.run_sql(f"CREATE TABLE {table} AS {sql}")
    from aep_emulator.catalog import catalog

    cat = catalog(emu)
    cat.sync()
    (ds_id,) = [k for k, v in cat.datasets.items() if v["name"] == table]
    return ds_id


def problem(status: int, title: str, detail: str) -> dict:
    return {"type": f"https://ns.adobe.com/aep/errors/{title}", "status": status, "title": title,
            "detail": detail}


def call(emu: Emulator, client: PlatformClient, method: str, ds_id: str, body: object = None,
         **extra: str) -> requests.Response:
    sent = headers(emu, client, **extra)
    if body is not None:
        sent.setdefault("Content-Type", "application/json")
    return requests.request(method, emu.url + LABELS.format(id=ds_id), headers=sent,
                            json=body, timeout=10)


def option(emu: Emulator, ds_id: str, column: str) -> dict:
    return {"id": emu.dataset(ds_id)["schemaRef"]["id"], "contentType": XED,
            "schemaPath": f"/properties/{column}"}


# -- the emulator ----------------------------------------------------------------------------
def test_labels_lifecycle_with_etags(emulator: Emulator, platform_client: PlatformClient) -> None:
    ds_id = dataset(emulator, "people")
    missing = call(emulator, platform_client, "GET", ds_id)
    assert (missing.status_code, missing.json()) == (
        404, problem(404, "NotFoundError", f"Dataset '{ds_id}' has no labels"))
    assert call(emulator, platform_client, "HEAD", ds_id).status_code == 404

    body = {"labels": ["C12", "C2"], "optionalLabels": [
        {"option": option(emulator, ds_id, "user_id"), "labels": ["I1"]}]}
    created = call(emulator, platform_client, "POST", ds_id, body)
    assert created.status_code == 201
    assert created.json() == {"parents": [], "labels": ["C12", "C2"], "optionalLabels": [
        {"option": option(emulator, ds_id, "user_id"), "labels": ["I1"]}],
        "code": "PES-201", "message": "POST Successful"}
    etag = created.headers["ETag"]

    got = call(emulator, platform_client, "GET", ds_id)
    assert got.status_code == 200 and got.headers["ETag"] == etag
    assert got.json() == {f"AEP:dataset:{ds_id}": {
        "imsOrg": emulator.org_id, "labels": ["C12", "C2"],
        "optionalLabels": [{"option": option(emulator, ds_id, "user_id"), "labels": ["I1"]}]}}
    head = call(emulator, platform_client, "HEAD", ds_id)
    assert (head.status_code, head.headers["ETag"], head.content) == (200, etag, b"")

    again = call(emulator, platform_client, "POST", ds_id, {"labels": ["C1"]})
    assert (again.status_code, again.json()) == (409, problem(
        409, "Conflict", f"Dataset '{ds_id}' already has labels; change them with PUT and "
                         "If-Match"))

    no_match = call(emulator, platform_client, "PUT", ds_id, {"labels": ["C1"]})
    assert (no_match.status_code, no_match.json()) == (428, problem(
        428, "PreconditionRequired", f"PUT of the labels of dataset '{ds_id}' requires an "
                                     "If-Match header with their current etag"))
    stale = call(emulator, platform_client, "PUT", ds_id, {"labels": ["C1"]},
                 **{"If-Match": '"not-the-etag"'})
    assert (stale.status_code, stale.json()) == (412, problem(
        412, "PreconditionFailed", f"If-Match \"not-the-etag\" does not match the current etag "
                                   f"of the labels of dataset '{ds_id}'"))

    # PUT replaces: a field it does not name (or names with []) has no labels after it
    put = call(emulator, platform_client, "PUT", ds_id, {"labels": ["C1"], "optionalLabels": [
        {"option": option(emulator, ds_id, "user_id"), "labels": []}]}, **{"If-Match": etag})
    assert put.status_code == 200 and put.json()["code"] == "PES-200"
    assert put.headers["ETag"] != etag
    assert emulator.labels(ds_id) == {"imsOrg": emulator.org_id, "labels": ["C1"],
                                      "optionalLabels": []}

    assert call(emulator, platform_client, "DELETE", ds_id).status_code == 428
    assert call(emulator, platform_client, "DELETE", ds_id, **{"If-Match": etag}).status_code == 412
    deleted = call(emulator, platform_client, "DELETE", ds_id, **{"If-Match": put.headers["ETag"]})
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert emulator.labels(ds_id) is None
    assert call(emulator, platform_client, "PUT", ds_id, {"labels": ["C1"]},
                **{"If-Match": etag}).status_code == 404


def test_unknown_dataset_is_404_on_every_method(emulator: Emulator,
                                                platform_client: PlatformClient) -> None:
    for method, body in (("GET", None), ("POST", {"labels": ["C1"]}), ("DELETE", None)):
        answer = call(emulator, platform_client, method, "0" * 24, body, **{"If-Match": '"x"'})
        assert (answer.status_code, answer.json()) == (
            404, problem(404, "NotFoundError", f"Dataset '{'0' * 24}' was not found"))
    assert call(emulator, platform_client, "HEAD", "0" * 24).status_code == 404


@pytest.mark.parametrize("body, detail", [
    ({}, "'labels' is required (an array of label names, may be empty)"),
    ([], "The request body must be a JSON object with 'labels'"),
    ({"labels": "C1"}, "'labels' must be an array of label names"),
    ({"labels": ["C99"]}, "'labels': unknown data usage label 'C99'; known labels are C1, C10, "
                          "C11, C12, C2, C3, C4, C5, C6, C7, C8, C9, I1, I2, PSPD, RHD, S1, S2, "
                          "Third-Party"),
    ({"labels": ["C1"], "tags": []}, "Unknown field(s) tags; allowed: entityId, labels, "
                                     "optionalLabels, parents"),
    ({"labels": [], "entityId": {"namespace": "AEP", "id": "other", "type": "dataset"}},
     "'entityId' must be {\"namespace\": \"AEP\", \"id\": \"{ds}\", \"type\": \"dataset\"}"),
    ({"labels": [], "optionalLabels": [{"labels": ["C1"]}]},
     "'optionalLabels[0]' must be an object with exactly 'option' and 'labels'"),
    ({"labels": [], "optionalLabels": [{"option": {"id": "x", "schemaPath": "/properties/a"},
                                        "labels": []}]},
     "'optionalLabels[0].option' must have exactly id, contentType and schemaPath"),
    ({"labels": [], "optionalLabels": [{"option": {"id": "https://other", "contentType": XED,
                                                   "schemaPath": "/properties/total"},
                                        "labels": ["C1"]}]},
     "'optionalLabels[0].option.id' must be the dataset's schema {schema}, got 'https://other'"),
    ({"labels": [], "optionalLabels": [{"option": {"id": "{schema}", "contentType": XED,
                                                   "schemaPath": "/properties/nope"},
                                        "labels": ["C1"]}]},
     "'optionalLabels[0].option.schemaPath' '/properties/nope' is not a field of the dataset's "
     "schema (expected /properties/<column>, columns: user_id, total)"),
])
def test_malformed_bodies_are_400_with_the_reason(emulator: Emulator,
                                                 platform_client: PlatformClient,
                                                 body: object, detail: str) -> None:
    ds_id = dataset(emulator, "strict")
    schema = emulator.dataset(ds_id)["schemaRef"]["id"]
    if isinstance(body, dict):
        for item in body.get("optionalLabels", []):
            if item.get("option", {}).get("id") == "{schema}":
                item["option"]["id"] = schema
    answer = call(emulator, platform_client, "POST", ds_id, body)
    expected = detail.replace("{ds}", ds_id).replace("{schema}", schema)
    assert (answer.status_code, answer.json()) == (400, problem(400, "BadRequestError", expected))
    assert emulator.labels(ds_id) is None


def test_content_type_and_gateway_headers_are_checked(emulator: Emulator,
                                                      platform_client: PlatformClient) -> None:
    ds_id = dataset(emulator, "typed")
    sent = headers(emulator, platform_client, **{"Content-Type": "text/plain"})
    answer = requests.post(emulator.url + LABELS.format(id=ds_id), headers=sent,
                           data='{"labels": ["C1"]}', timeout=10)
    assert (answer.status_code, answer.json()) == (400, problem(
        400, "BadRequestError", "A valid content-type must be specified"))
    no_key = {k: v for k, v in headers(emulator, platform_client).items() if k != "x-api-key"}
    answer = requests.get(emulator.url + LABELS.format(id=ds_id), headers=no_key, timeout=10)
    assert (answer.status_code, answer.json()) == (
        403, {"error_code": "403000", "message": "Api Key is required"})
    assert emulator.labels(ds_id) is None


def test_aepp_nested_label_lists_are_accepted(emulator: Emulator,
                                              platform_client: PlatformClient) -> None:
    ds_id = dataset(emulator, "nested")
    answer = call(emulator, platform_client, "POST", ds_id, {
        "labels": [["C1", "C2"]], "optionalLabels": [
            {"option": option(emulator, ds_id, "total"), "labels": [["S1", "S2"]]}]})
    assert answer.status_code == 201
    assert emulator.labels(ds_id)["labels"] == ["C1", "C2"]
    assert emulator.labels(ds_id)["optionalLabels"][0]["labels"] == ["S1", "S2"]


def test_seed_labels_checks_like_a_post(emulator: Emulator) -> None:
    ds_id = dataset(emulator, "seeded")
    etag = emulator.seed_labels(ds_id, ["C9"], {"user_id": ["I1", "C2"]})
    assert etag.startswith('"')
    assert emulator.labels(ds_id) == {"imsOrg": emulator.org_id, "labels": ["C9"],
                                      "optionalLabels": [{"option": option(emulator, ds_id,
                                                                           "user_id"),
                                                          "labels": ["I1", "C2"]}]}
    with pytest.raises(EmulatorError, match="unknown data usage label 'X1'"):
        emulator.seed_labels(ds_id, ["X1"])
    with pytest.raises(EmulatorError, match="'/properties/missing' is not a field"):
        emulator.seed_labels(ds_id, [], {"missing": ["C1"]})
    assert emulator.requests == []  # seeding is not a request


# -- the client ------------------------------------------------------------------------------
def sent(emu: Emulator) -> list[tuple[str, str]]:
    """The label and Catalog requests the emulator received, as (method, path)."""
    return [(r.method, r.path) for r in emu.requests
            if r.path.startswith(("/data/foundation/dataset", "/data/foundation/catalog"))]


def test_read_labels_of_a_dataset_with_and_without_labels(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    ds_id = dataset(emulator, "readme")
    assert read_labels(platform_client, ds_id) == (frozenset(), {}, None)
    etag = emulator.seed_labels(ds_id, ["C12"], {"user_id": ["I1"], "total": []})
    labels = read_labels(platform_client, ds_id)
    assert labels == ({"C12"}, {"user_id": {"I1"}}, etag)
    # an unknown dataset reads as unlabelled (both are 404s), but cannot be labelled
    assert read_labels(platform_client, "f" * 24) == (frozenset(), {}, None)
    with pytest.raises(PlatformError) as info:
        apply_labels(platform_client, "f" * 24, {"C1"}, {})
    assert str(info.value) == (f"POST {LABELS.format(id='f' * 24)} failed: 404 NotFoundError: "
                               f"Dataset '{'f' * 24}' was not found")


def test_apply_creates_then_is_idempotent_then_replaces_then_deletes(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    ds_id = dataset(emulator, "applied")
    schema = emulator.dataset(ds_id)["schemaRef"]
    path = LABELS.format(id=ds_id)
    catalog_get = ("GET", f"/data/foundation/catalog/dataSets/{ds_id}")

    assert apply_labels(platform_client, ds_id, {"C2"}, {"user_id": {"I1", "C12"}}) == "created"
    assert sent(emulator) == [("GET", path), catalog_get, ("POST", path)]
    post = emulator.requests_to(path, "POST")[0]
    assert post.json == {"entityId": {"namespace": "AEP", "id": ds_id, "type": "dataset"},
                         "labels": ["C2"], "optionalLabels": [
                             {"option": {"id": schema["id"], "contentType": XED,
                                         "schemaPath": "/properties/user_id"},
                              "labels": ["C12", "I1"]}]}

    emulator.requests.clear()
    assert apply_labels(platform_client, ds_id, {"C2"}, {"user_id": {"I1", "C12"}},
                        schema) == "unchanged"
    assert sent(emulator) == [("GET", path)]  # the second apply only reads

    emulator.requests.clear()
    etag = read_labels(platform_client, ds_id).etag
    assert apply_labels(platform_client, ds_id, set(), {"total": {"C9"}}, schema) == "replaced"
    put = emulator.requests_to(path, "PUT")[0]
    assert put.headers["if-match"] == etag
    assert put.json["labels"] == [] and put.json["optionalLabels"] == [
        {"option": {"id": schema["id"], "contentType": XED, "schemaPath": "/properties/total"},
         "labels": ["C9"]},
        {"option": {"id": schema["id"], "contentType": XED, "schemaPath": "/properties/user_id"},
         "labels": []}]
    assert emulator.labels(ds_id)["optionalLabels"] == [
        {"option": {"id": schema["id"], "contentType": XED, "schemaPath": "/properties/total"},
         "labels": ["C9"]}]

    emulator.requests.clear()
    assert apply_labels(platform_client, ds_id, (), {}) == "deleted"
    assert [r.method for r in emulator.requests_to(path)] == ["GET", "DELETE"]
    assert emulator.labels(ds_id) is None
    assert apply_labels(platform_client, ds_id, (), {"user_id": ()}) == "unchanged"


def test_a_412_race_is_reread_and_retried_once(emulator: Emulator,
                                               platform_client: PlatformClient) -> None:
    ds_id = dataset(emulator, "raced")
    emulator.seed_labels(ds_id, ["C1"])
    path = LABELS.format(id=ds_id)
    real = emulator.router.dispatch
    raced: list[str] = []

    def steward_edits_first(request):  # someone changes the labels between our GET and PUT
        if request.method == "PUT" and not raced:
            raced.append(emulator.seed_labels(ds_id, ["C3"]))
        return real(request)

    emulator.router.dispatch = steward_edits_first
    assert apply_labels(platform_client, ds_id, {"C12"}, {}) == "replaced"
    calls = [(r.method, r.headers.get("if-match")) for r in emulator.requests_to(path)]
    assert [method for method, _ in calls] == ["GET", "PUT", "GET", "PUT"]
    assert calls[1][1] != raced[0] and calls[3][1] == raced[0]  # stale, then the new etag
    assert emulator.labels(ds_id)["labels"] == ["C12"]


def test_a_second_conflict_is_an_error(emulator: Emulator,
                                       platform_client: PlatformClient) -> None:
    ds_id = dataset(emulator, "contested")
    emulator.seed_labels(ds_id, ["C1"])
    real = emulator.router.dispatch

    def always_first(request):
        if request.method == "PUT":
            emulator.seed_labels(ds_id, ["C3"])
        return real(request)

    emulator.router.dispatch = always_first
    with pytest.raises(PlatformError) as info:
        apply_labels(platform_client, ds_id, {"C12"}, {})
    assert info.value.status == 412
    assert str(info.value).startswith(f"PUT {LABELS.format(id=ds_id)} failed: 412 "
                                      "PreconditionFailed: If-Match")
    assert emulator.labels(ds_id)["labels"] == ["C3"]


@pytest.mark.parametrize("fault, outcome, methods", [
    # a 500 before the service: the transport resends, and the one POST served writes
    ("fail", "created", ["GET", "POST", "POST"]),
    # served, answer lost (504), resent: 409; the re-read finds the labels as wanted
    ("lose_answer", "unchanged", ["GET", "POST", "POST", "GET"]),
])
def test_a_fault_on_the_write_still_writes_exactly_once(emulator: Emulator, fault: str,
                                                        outcome: str, methods: list[str]) -> None:
    ds_id = dataset(emulator, "faulty")
    path = LABELS.format(id=ds_id)
    getattr(emulator.faults, fault)(path, method="POST", status=500 if fault == "fail" else 504)
    writes: list[str] = []
    real = emulator.router.dispatch
    emulator.router.dispatch = lambda r: (writes.append(r.method) if r.path == path
                                          and r.method == "POST" else None, real(r))[1]
    assert apply_labels(fast_client(emulator), ds_id, {"C2"}, {}) == outcome
    assert [r.method for r in emulator.requests_to(path)] == methods
    assert [r.json for r in emulator.requests_to(path, "POST")] == [
        {"entityId": {"namespace": "AEP", "id": ds_id, "type": "dataset"}, "labels": ["C2"]}] * 2
    assert emulator.labels(ds_id)["labels"] == ["C2"]
    # the POSTs the service itself saw: one served; with a lost answer, the resent one is a 409
    assert writes == (["POST"] if fault == "fail" else ["POST", "POST"])


# -- a build on the emulated Data Distiller ----------------------------------------------------
SECRET = "labels-build-secret-7c1d"
MODELS = {
    "users_clean": "SELECT user_id, lower(email) AS email, tier FROM raw_users",
    "user_features": "SELECT user_id, tier, length(email) AS email_length FROM users_clean",
}
DERIVED = {"users_clean": {"user_id": frozenset({"C2"}), "email": frozenset({"I1", "C12"}),
                           "tier": frozenset()},
           "user_features": {"user_id": frozenset({"C2"}), "email_length": frozenset({"C12"})}}


@pytest.fixture
def emu() -> Iterator[Emulator]:
    require_postgres()
    with Emulator(engine_dsn=PG_DSN, client_secret=SECRET) as server:
        server.run_sql("CREATE TABLE raw_users AS SELECT * FROM (VALUES ('u1', 'A@x.com', 'gold'),"
                       " ('u2', 'b@y.org', 'silver')) AS t(user_id, email, tier)")
        yield server


@pytest.fixture
def dd_root(tmp_path: Path, emu: Emulator) -> Path:
    config = {"name": "labelled", "sources": {"raw_users": {}}, "default_target": "aep",
              "targets": {"aep": distiller_target(emu, tmp_path)}}
    (tmp_path / "project.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    (tmp_path / "models").mkdir()
    for name, sql in MODELS.items():
        (tmp_path / "models" / f"{name}.sql").write_text(sql + "\n", encoding="utf-8")
    return tmp_path


def label_calls(emu: Emulator) -> list[tuple[str, str]]:
    return [(r.method, r.path.split("/")[-2]) for r in emu.requests_to("/data/foundation/dataset")]


def source_dataset(emu: Emulator, table: str) -> str:
    from aep_emulator.catalog import catalog

    cat = catalog(emu)
    cat.sync()
    (ds_id,) = [k for k, v in cat.datasets.items() if v["name"] == table]
    return ds_id


def test_with_no_labels_anywhere_a_build_only_reads_its_sources_labels(dd_root: Path,
                                                                       emu: Emulator) -> None:
    result = build(dd_root, BuildOptions(), echo=lambda line: None)
    assert result.ok and label_calls(emu) == [("GET", source_dataset(emu, "raw_users"))]
    emu.requests.clear()
    assert build(dd_root, BuildOptions(), echo=lambda line: None).ok  # no-op: the same one read
    assert label_calls(emu) == [("GET", source_dataset(emu, "raw_users"))]


def test_labels_on_the_source_dataset_follow_lineage_to_each_built_dataset(
        dd_root: Path, emu: Emulator) -> None:
    """No hook: a data steward labelled raw_users on Platform (C2 on the dataset, C12 on email);
    the build reads them, derives each model column's labels through lineage, and writes them."""
    raw = source_dataset(emu, "raw_users")
    emu.seed_labels(raw, ["C2"], {"email": ["C12"]})
    result = build(dd_root, BuildOptions(), echo=lambda line: None)
    assert result.ok, [r.message for r in result.results]
    ids = {r.name: r.dataset_id for r in result.results}
    assert label_calls(emu) == [("GET", raw), ("GET", ids["users_clean"]),
                                ("POST", ids["users_clean"]), ("GET", ids["user_features"]),
                                ("POST", ids["user_features"])]
    written = {model: {o["option"]["schemaPath"]: o["labels"]
                       for o in emu.labels(ids[model])["optionalLabels"]} for model in ids}
    assert written == {
        "users_clean": {"/properties/user_id": ["C2"], "/properties/email": ["C12", "C2"],
                        "/properties/tier": ["C2"]},
        "user_features": {"/properties/user_id": ["C2"], "/properties/tier": ["C2"],
                          "/properties/email_length": ["C12", "C2"]}}
    manifest = json.loads((dd_root / "target/manifest.json").read_text())
    assert manifest["nodes"]["model.labelled.user_features"]["meta"]["runner"]["labels"][
        "email_length"] == ["C12", "C2"]


def test_a_build_applies_each_models_derived_labels(dd_root: Path, emu: Emulator) -> None:
    lines: list[str] = []
    result = build(dd_root, BuildOptions(), echo=lines.append, labels_for=DERIVED.__getitem__)
    assert result.ok, [r.message for r in result.results]
    ids = {r.name: r.dataset_id for r in result.results}
    raw = source_dataset(emu, "raw_users")
    assert label_calls(emu) == [  # the source's, then in dependency order (schemaRef: Catalog)
        ("GET", raw), ("GET", ids["users_clean"]), ("POST", ids["users_clean"]),
        ("GET", ids["user_features"]), ("POST", ids["user_features"])]

    def payload(model: str, fields: dict[str, list[str]]) -> dict:
        schema = emu.dataset(ids[model])["schemaRef"]["id"]
        return {"entityId": {"namespace": "AEP", "id": ids[model], "type": "dataset"},
                "labels": [], "optionalLabels": [
                    {"option": {"id": schema, "contentType": XED,
                                "schemaPath": f"/properties/{column}"}, "labels": labels}
                    for column, labels in fields.items()]}

    posts = {r.path.split("/")[-2]: r.json
             for r in emu.requests_to("/data/foundation/dataset", "POST")}
    assert posts == {
        ids["users_clean"]: payload("users_clean", {"email": ["C12", "I1"], "user_id": ["C2"]}),
        ids["user_features"]: payload("user_features", {"email_length": ["C12"],
                                                        "user_id": ["C2"]})}
    assert emu.labels(ids["users_clean"])["optionalLabels"] == payload(
        "users_clean", {"email": ["C12", "I1"], "user_id": ["C2"]})["optionalLabels"]

    run_results = json.loads((dd_root / "target/run_results.json").read_text())
    responses = {r["unique_id"]: r["adapter_response"] for r in run_results["results"]}
    assert responses["model.labelled.users_clean"]["data_usage_labels"] == {
        "outcome": "created", "dataset": [], "fields": {"email": ["C12", "I1"],
                                                        "user_id": ["C2"]}}

    emu.requests.clear()  # up to date: the labels are read, and they are right
    again = build(dd_root, BuildOptions(), echo=lines.append, labels_for=DERIVED.__getitem__)
    assert {r.status for r in again.results} == {"noop"}
    assert label_calls(emu) == [("GET", raw), ("GET", ids["users_clean"]),
                                ("GET", ids["user_features"])]
    assert {r.labels["outcome"] for r in again.results} == {"unchanged"}

    emu.requests.clear()  # the lineage changed: the up-to-date dataset is corrected
    fewer = {**DERIVED, "user_features": {}}
    third = build(dd_root, BuildOptions(), echo=lines.append, labels_for=fewer.__getitem__)
    assert third.by_name()["user_features"].labels["outcome"] == "deleted"
    assert label_calls(emu)[-2:] == [("GET", ids["user_features"]),
                                     ("DELETE", ids["user_features"])]
    assert emu.labels(ids["user_features"]) is None


def test_the_sources_labels_read_back_in_the_lineage_shape(dd_root: Path, emu: Emulator) -> None:
    from aep_emulator.catalog import catalog

    cat = catalog(emu)
    cat.sync()
    (source_id,) = cat.datasets
    emu.seed_labels(source_id, ["C9"], {"email": ["I1", "C12"], "tier": []})
    session = open_session(dd_root, BuildOptions(), echo=lambda line: None)
    try:
        labels = platform_source_labels(session.adapter, session.project.config, ["raw_users"])
    finally:
        session.adapter.close()
    assert labels == {"raw_users": {"dataset": {"C9"}, "fields": {"email": {"I1", "C12"}}}}


def test_a_failed_label_call_fails_the_model_and_keeps_its_table(dd_root: Path,
                                                                 emu: Emulator) -> None:
    wrong = {**DERIVED, "users_clean": {"email": frozenset({"NOT-A-LABEL"})}}
    lines: list[str] = []
    result = build(dd_root, BuildOptions(), echo=lines.append, labels_for=wrong.__getitem__)
    outcome = result.by_name()
    assert result.exit_code == 1
    assert outcome["users_clean"].status == "error"
    ds_id = outcome["users_clean"].dataset_id
    assert outcome["users_clean"].message == (
        f"{outcome['users_clean'].physical} is built and kept, but its data usage labels were "
        f"not applied: POST {LABELS.format(id=ds_id)} failed: 400 BadRequestError: "
        "'optionalLabels[0].labels': unknown data usage label 'NOT-A-LABEL'; known labels are "
        "C1, C10, C11, C12, C2, C3, C4, C5, C6, C7, C8, C9, I1, I2, PSPD, RHD, S1, S2, "
        "Third-Party; run the build again to apply them")
    assert outcome["user_features"].status == "skipped"  # an unlabelled copy goes no further
    assert [row[0] for row in engine_rows(emu, "SELECT user_id FROM users_clean ORDER BY 1")] == [
        "u1", "u2"]  # the build stays, the pointer moved
    text = "\n".join(lines)
    assert f"  models/users_clean.sql: {outcome['users_clean'].message}" in text
    tokens = {r.headers["authorization"].split()[1] for r in emu.requests
              if "authorization" in r.headers}
    artifacts = "\n".join(p.read_text() for p in (dd_root / "target").rglob("*.json"))
    for secret in [SECRET, *tokens]:
        assert secret not in text and secret not in artifacts

    fixed = build(dd_root, BuildOptions(), echo=lines.append, labels_for=DERIVED.__getitem__)
    assert fixed.ok and fixed.by_name()["users_clean"].status == "noop"
    assert fixed.by_name()["users_clean"].labels["outcome"] == "created"


def test_apply_built_labels_labels_each_dataset(emulator: Emulator,
                                                platform_client: PlatformClient) -> None:
    a, b = dataset(emulator, "model_a"), dataset(emulator, "model_b")
    done = apply_built_labels(platform_client, {"model_a": a, "model_b": b},
                              {"model_a": {"total": frozenset({"C12"})}})
    assert done == {"model_a": "created", "model_b": "unchanged"}
    assert emulator.labels(a)["optionalLabels"][0]["labels"] == ["C12"]
    assert emulator.labels(b) is None
