"""Audiences through the emulated Segmentation Service and Flow Service (ingest contract §4, §5).

``runner.platform.audiences`` is checked by what the emulator recorded: the exact requests of
a first and a second ``ensure_audience``, a segment job polled to SUCCEEDED with the count of
the seeded profiles, and a segment added to a destination dataflow the exporter made (as
``tests/test_destinations_flow.py`` makes one) with ``If-Match``: once, not twice, and again
after a stale etag. The emulator's refusals are checked with raw requests and exact bodies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import requests
from test_destinations_flow import DESTINATIONS, WAIT, Project

from aep_emulator import Emulator
from destinations import AudienceFlow, ExportSpec, parse_exports
from aep_emulator.flowservice import flowservice
from aep_emulator.segments import seed_profiles, segmentation
from runner.errors import PlatformError, ProjectError, RunError
from runner.platform.audiences import (FileExport, activate_now, add_to_dataflow, audience_pql,
                                       ensure_audience, run_segment_job)
from runner.platform.client import PlatformClient

pytestmark = pytest.mark.postgres

UPS = "/data/core/ups"
DEFS = f"{UPS}/segment/definitions"
FLOWS = "/data/foundation/flowservice/flows"
TENANT = "emu0000000000000000000001"  # the emulator's default org id, lowercased
HIGH = f"_{TENANT}.propensity >= 0.8"
SELECTORS = "/transformations/0/params/segmentSelectors/selectors"
EXPORT = FileExport(start_date="2026-12-04")
EXPORT_FIELDS = {"filenameTemplate": "%DESTINATION_NAME%_%SEGMENT_ID%_%DATETIME(YYYYMMdd_HHmmss)%",
                 "exportMode": "DAILY_FULL_EXPORT",
                 "schedule": {"frequency": "ONCE", "startDate": "2026-12-04",
                              "triggerType": "AFTER_SEGMENT_EVAL"}}


def recorded(emu: Emulator) -> list[tuple[str, str, dict[str, list[str]], Any]]:
    """Platform requests (IMS left out): method, path, query, JSON body."""
    return [(r.method, r.path, r.query, r.json) for r in emu.requests
            if not r.path.startswith("/ims/")]


def raw(emu: Emulator, client: PlatformClient, method: str, path: str, body: Any = None,
        **headers: str) -> requests.Response:
    """A request with the gateway headers and exactly the other ``headers`` given."""
    sent = {"Authorization": f"Bearer {client.access_token().reveal()}",
            "x-api-key": emu.client_id, "x-gw-ims-org-id": emu.org_id,
            "x-sandbox-name": emu.sandbox, **{k.replace("_", "-"): v for k, v in headers.items()}}
    return requests.request(method, emu.url + path, headers=sent, json=body, timeout=10)


def bad_request(detail: str) -> dict[str, Any]:
    return {"type": "https://ns.adobe.com/aep/errors/BadRequestError", "status": 400,
            "title": "BadRequestError", "detail": detail}


def definition(name: str, pql: str) -> dict[str, Any]:
    """The body the runner sends to create an audience (§4.1)."""
    return {"name": name, "profileInstanceId": "ups", "description": "",
            "expression": {"type": "PQL", "format": "pql/text", "value": pql},
            "evaluationInfo": {"batch": {"enabled": True}, "continuous": {"enabled": False},
                               "synchronous": {"enabled": False}},
            "schema": {"name": "_xdm.context.profile"}, "payloadSchema": "string",
            "ttlInDays": 60}


# -- the PQL ----------------------------------------------------------------------------------
def test_pql_of_a_threshold_and_a_range() -> None:
    assert audience_pql("propensity", minimum=0.8, tenant="acme") == "_acme.propensity >= 0.8"
    assert audience_pql("propensity", maximum=0.1, tenant="acme") == "_acme.propensity <= 0.1"
    assert audience_pql("churn.score", 2, 7, tenant="acme") == (
        "_acme.churn.score >= 2 and _acme.churn.score <= 7")


@pytest.mark.parametrize(("field", "low", "high", "message"), [
    ("propensity; drop", 0.5, None, "audience field 'propensity; drop' is not a valid field name "
     "(letters, digits and _, dotted for a nested field, e.g. propensity)"),
    ("propensity", 0.9, 0.2, "audience on propensity: the range 0.9..0.2 is empty (minimum is "
     "above maximum)"),
    ("propensity", None, None, "audience on propensity: give a minimum, a maximum or both"),
    ("propensity", float("nan"), None, "audience minimum must be a finite number, got nan"),
])
def test_a_bad_audience_is_refused_before_anything_is_sent(
        emulator: Emulator, platform_client: PlatformClient, field: str, low: float | None,
        high: float | None, message: str) -> None:
    with pytest.raises(ProjectError) as info:
        ensure_audience(platform_client, "bad", field, low, high, tenant=TENANT)
    assert str(info.value) == message
    assert emulator.requests == []


# -- ensure_audience --------------------------------------------------------------------------
def test_first_run_posts_the_definition_and_a_second_run_only_reads(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    first = ensure_audience(platform_client, "likely churners", "propensity", 0.8, tenant=TENANT)
    (seg_id,) = segmentation(emulator).definitions
    assert first == (seg_id, "likely churners", HIGH, True)
    listing = ("GET", DEFS, {"start": ["0"], "limit": ["100"]}, None)
    assert recorded(emulator) == [listing, ("POST", DEFS, {}, definition("likely churners", HIGH))]
    assert emulator.requests_to(DEFS, "POST")[0].headers["content-type"] == "application/json"
    emulator.requests.clear()
    again = ensure_audience(platform_client, "likely churners", "propensity", 0.8, tenant=TENANT)
    assert again == (seg_id, "likely churners", HIGH, False)
    assert recorded(emulator) == [listing]


def test_a_name_taken_by_another_expression_is_refused_not_changed(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    made = ensure_audience(platform_client, "mid", "propensity", 0.2, 0.93, tenant=TENANT)
    emulator.requests.clear()
    with pytest.raises(ProjectError) as info:
        ensure_audience(platform_client, "mid", "propensity", 0.3, 0.93, tenant=TENANT)
    assert str(info.value) == (
        f"audience 'mid' exists as segment definition {made.id} with PQL "
        f"'_{TENANT}.propensity >= 0.2 and _{TENANT}.propensity <= 0.93', not "
        f"'_{TENANT}.propensity >= 0.3 and _{TENANT}.propensity <= 0.93'; rename the audience "
        "or change that definition in Platform")
    assert [r[0] for r in recorded(emulator)] == ["GET"]
    assert segmentation(emulator).definitions[made.id]["expression"]["value"] == made.pql


def test_the_definition_list_pages_until_it_finds_the_name(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    for n in range(101):
        ensure_audience(platform_client, f"a{n:03}", "propensity", n / 100, tenant=TENANT)
    emulator.requests.clear()
    oldest = ensure_audience(platform_client, "a000", "propensity", 0.0, tenant=TENANT)
    assert oldest.created is False  # the list is newest first: a000 is on the second page
    assert [r[2] for r in recorded(emulator)] == [{"start": ["0"], "limit": ["100"]},
                                                  {"start": ["100"], "limit": ["100"]}]


def test_a_create_whose_answer_was_lost_is_found_by_name_not_made_twice(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    emulator.faults.lose_answer(DEFS, method="POST")  # served, then a 504; the client resends
    audience = ensure_audience(platform_client, "high", "propensity", 0.8, tenant=TENANT)
    (seg_id,) = segmentation(emulator).definitions
    assert audience == (seg_id, "high", HIGH, False)
    assert [(r[0], r[1]) for r in recorded(emulator)] == [("GET", DEFS), ("POST", DEFS),
                                                          ("POST", DEFS), ("GET", DEFS)]


# -- the emulator's strictness ----------------------------------------------------------------
@pytest.mark.parametrize(("pql", "detail"), [
    (f"_{TENANT}.propensity >> 0.8", f"Invalid PQL expression '_{TENANT}.propensity >> 0.8': "
     f"cannot parse '_{TENANT}.propensity >> 0.8' (expected _<tenant>.<field> <op> <number>, "
     "joined by 'and')"),
    ("_other.propensity > 1", "Invalid PQL expression '_other.propensity > 1': '_other' is not "
     f"this org's tenant namespace _{TENANT}"),
    ("", "'expression.value' must be a non-empty PQL string"),
])
def test_the_emulator_refuses_pql_it_cannot_parse(emulator: Emulator,
                                                  platform_client: PlatformClient, pql: str,
                                                  detail: str) -> None:
    answer = raw(emulator, platform_client, "POST", DEFS, definition("x", pql))
    assert (answer.status_code, answer.json()) == (400, bad_request(detail))
    assert segmentation(emulator).definitions == {}


def test_the_emulator_refuses_other_formats_duplicates_and_unknown_fields(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    body = definition("x", HIGH)
    wrong = {**body, "expression": {**body["expression"], "format": "pql/json"}}
    answer = raw(emulator, platform_client, "POST", DEFS, wrong)
    assert answer.json() == bad_request("'expression.format' must be pql/text on create")
    answer = raw(emulator, platform_client, "POST", DEFS, {**body, "segmentName": "x"})
    assert answer.json()["detail"].startswith("Unknown field(s) segmentName; allowed: ")
    assert raw(emulator, platform_client, "POST", DEFS, body).status_code == 200
    again = raw(emulator, platform_client, "POST", DEFS, body)
    assert (again.status_code, again.json()["detail"]) == (
        409, "A segment definition named 'x' already exists")
    (seg_id,) = segmentation(emulator).definitions
    got = raw(emulator, platform_client, "GET", f"{DEFS}/{seg_id}").json()
    assert (got["name"], got["expression"], got["schema"]) == (
        "x", body["expression"], {"name": "_xdm.context.profile"})
    unknown = raw(emulator, platform_client, "GET", DEFS + "?name=x")
    assert unknown.json() == bad_request("Unknown query parameter(s) name; allowed: "
                                         "evaluationInfo.continuous.enabled, limit, sort, start")


# -- segment jobs -----------------------------------------------------------------------------
def test_a_segment_job_is_polled_to_succeeded_and_counts_the_profiles(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    seed_profiles(emulator, [{f"_{TENANT}": {"propensity": p}} for p in (0.95, 0.8, 0.5, 0.1)]
                  + [{f"_{TENANT}": {}}])
    segmentation(emulator).job_polls = 2
    audience = ensure_audience(platform_client, "high", "propensity", 0.8, tenant=TENANT)
    emulator.requests.clear()
    sleeps: list[float] = []
    count = run_segment_job(platform_client, audience.id, timeout=60, poll_interval=5,
                            sleep=sleeps.append)
    (job_id,) = segmentation(emulator).jobs
    assert count == 2 and sleeps == [5, 5]
    job_path = f"{UPS}/segment/jobs/{job_id}"
    assert recorded(emulator) == [("POST", f"{UPS}/segment/jobs", {}, [{"segmentId": audience.id}])
                                  ] + [("GET", job_path, {}, None)] * 3
    job = raw(emulator, platform_client, "GET", job_path).json()
    assert job["status"] == "SUCCEEDED"
    assert {k: job["metrics"][k] for k in ("totalProfiles", "segmentedProfileCounter",
                                           "segmentedProfileByStatusCounter")} == {
        "totalProfiles": 5, "segmentedProfileCounter": {audience.id: 2},
        "segmentedProfileByStatusCounter": {audience.id: {"realized": 2, "exited": 0}}}


def test_a_segment_job_that_does_not_finish_in_time_is_an_error(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    segmentation(emulator).job_polls = 100
    audience = ensure_audience(platform_client, "high", "propensity", 0.8, tenant=TENANT)
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(PlatformError) as info:
        run_segment_job(platform_client, audience.id, timeout=10, poll_interval=4, sleep=sleep,
                        clock=lambda: now[0])
    (job_id,) = segmentation(emulator).jobs
    assert str(info.value) == (f"GET {UPS}/segment/jobs/{job_id}: segment job for {audience.id} "
                               "still PROCESSING after 10 s (raise the timeout or check the job "
                               "in Platform)")
    assert len(emulator.requests_to(f"{UPS}/segment/jobs/", "GET")) == 4  # at 0, 4, 8 and 12 s


def test_a_job_body_must_be_an_array_of_known_segments(emulator: Emulator,
                                                       platform_client: PlatformClient) -> None:
    jobs = f"{UPS}/segment/jobs"
    answer = raw(emulator, platform_client, "POST", jobs, {"segmentId": "x"})
    assert answer.json() == bad_request(
        'The request body must be a non-empty JSON array [{"segmentId": ...}]')
    answer = raw(emulator, platform_client, "POST", jobs, [{"segmentId": "nope"}])
    assert answer.json() == bad_request("Segment definition 'nope' was not found")
    answer = raw(emulator, platform_client, "POST", jobs, [{"segmentId": ["x"]}])  # not a 500
    assert answer.json() == bad_request("Item 0 must be an object with exactly 'segmentId', "
                                        "a string")


# -- preview and estimate ---------------------------------------------------------------------
def test_a_preview_runs_then_answers_the_matching_profiles_and_an_exact_estimate(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    profiles = [{f"_{TENANT}": {"propensity": p}} for p in (0.9, 0.85, 0.2)]
    seed_profiles(emulator, profiles)
    body = {"predicateExpression": HIGH, "predicateType": "pql/text",
            "predicateModel": "_xdm.context.profile", "graphType": "none"}
    answer = raw(emulator, platform_client, "POST", f"{UPS}/preview", body)
    created = answer.json()
    assert (answer.status_code, created["state"], created["previewQueryStatus"]) == (
        201, "NEW", "NEW")
    preview_id = created["previewId"]
    running = raw(emulator, platform_client, "GET", f"{UPS}/preview/{preview_id}").json()
    assert (running["state"], running["results"]) == ("RUNNING", [])
    ready = raw(emulator, platform_client, "GET", f"{UPS}/preview/{preview_id}").json()
    assert ready == {"results": profiles[:2], "state": "RESULT_READY",
                     "links": {"_self": f"{UPS}/preview/{preview_id}", "next": "", "prev": ""},
                     "page": {"offset": 0, "size": 2}}
    estimate = raw(emulator, platform_client, "GET", f"{UPS}/estimate/{preview_id}").json()
    assert estimate == {
        "estimatedSize": 2, "numRowsToRead": 3, "estimatedNamespaceDistribution": [],
        "state": "RESULT_READY", "profilesReadSoFar": 3, "standardError": 0.0,
        "error": {"description": "", "traceback": ""}, "profilesMatchedSoFar": 2,
        "totalRows": 3, "confidenceInterval": "95%",
        "_links": {"preview": f"{UPS}/preview/{preview_id}"}}
    wrong = raw(emulator, platform_client, "POST", f"{UPS}/preview",
                {**body, "predicateType": "pql/json"})
    assert wrong.json() == bad_request("'predicateType' must be pql/text")
    missing = raw(emulator, platform_client, "GET", f"{UPS}/estimate/nope")
    assert (missing.status_code, missing.json()["detail"]) == (404, "Preview 'nope' was not found")


# -- activation -------------------------------------------------------------------------------
def audience_export(dtype: str = "data_landing_zone", **entry: Any) -> ExportSpec:
    """An export of model training_set to a ``dtype`` destination, as project.yml declares it."""
    params = entry.pop("destination", DESTINATIONS[dtype])
    (spec,) = parse_exports([{"model": "training_set", "wait": WAIT,
                              "destination": {"type": dtype, **params}, **entry}])
    return spec


def activation_flow(emu: Emulator, client: PlatformClient, root: Path) -> str:
    """The audience dataflow to a Data Landing Zone export's destination (project ``demo``),
    as :class:`destinations.AudienceFlow` makes it (no segment selectors yet)."""
    proj = Project(emu, client, root)
    return AudienceFlow(audience_export(), proj.ctx).ensure().id


@pytest.fixture
def flow(emulator: Emulator, platform_client: PlatformClient, tmp_path: Path) -> str:
    """:func:`activation_flow`, with the requests cleared."""
    flow_id = activation_flow(emulator, platform_client, tmp_path)
    emulator.requests.clear()
    return flow_id


def test_add_to_dataflow_patches_once_with_if_match(emulator: Emulator,
                                                    platform_client: PlatformClient,
                                                    flow: str) -> None:
    audience = ensure_audience(platform_client, "high", "propensity", 0.8, tenant=TENANT)
    etag = flowservice(emulator).objects["flows"][flow]["etag"]
    emulator.requests.clear()
    assert add_to_dataflow(platform_client, flow, audience.id, name="high",
                           file_export=EXPORT) is True
    selector = {"type": "PLATFORM_SEGMENT", "value": {"id": audience.id, "name": "high",
                                                       **EXPORT_FIELDS}}
    assert recorded(emulator) == [
        ("GET", f"{FLOWS}/{flow}", {}, None),
        ("PATCH", f"{FLOWS}/{flow}", {}, [{"op": "add", "path": f"{SELECTORS}/-",
                                           "value": selector}])]
    patch = emulator.requests_to(FLOWS, "PATCH")[0]
    assert (patch.headers["if-match"], patch.headers["content-type"]) == (etag,
                                                                          "application/json")
    stored = flowservice(emulator).objects["flows"][flow]
    assert stored["etag"] != etag
    [value] = [s["value"] for s in stored["transformations"][0]["params"]["segmentSelectors"]
               ["selectors"]]
    assert {k: v for k, v in value.items() if k not in ("createTime", "updateTime")} == \
        selector["value"]
    emulator.requests.clear()
    assert add_to_dataflow(platform_client, flow, audience.id, name="high",
                           file_export=EXPORT) is False
    assert recorded(emulator) == [("GET", f"{FLOWS}/{flow}", {}, None)]


def test_a_flow_without_segment_selectors_is_refused_without_a_patch(
        emulator: Emulator, platform_client: PlatformClient, tmp_path: Path) -> None:
    proj = Project(emulator, platform_client, tmp_path)
    proj.run(proj.table("training_set__a1", rows=5))
    (flow_id,) = flowservice(emulator).objects["flows"]
    emulator.requests.clear()
    with pytest.raises(ProjectError) as info:
        add_to_dataflow(platform_client, flow_id, "any", file_export=EXPORT)
    assert str(info.value) == (f"dataflow {flow_id} has no transformations[0].params."
                               "segmentSelectors: it is not an audience activation dataflow")
    assert [r[0] for r in recorded(emulator)] == ["GET"]


def test_a_stale_etag_is_answered_412_and_retried_with_a_fresh_get(
        emulator: Emulator, platform_client: PlatformClient, flow: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    audience = ensure_audience(platform_client, "high", "propensity", 0.8, tenant=TENANT)
    real_get, changed = platform_client.get, []

    def get_then_someone_disables(path: str, **kw: Any) -> Any:
        body = real_get(path, **kw)
        if path.startswith(FLOWS) and not changed:  # another user changes the flow meanwhile
            changed.append(raw(emulator, platform_client, "POST",
                               f"{FLOWS}/{flow}/action?op=disable").json()["etag"])
        return body

    monkeypatch.setattr(platform_client, "get", get_then_someone_disables)
    emulator.requests.clear()
    assert add_to_dataflow(platform_client, flow, audience.id, file_export=EXPORT) is True
    calls = [(r.method, r.path, r.headers.get("if-match")) for r in emulator.requests
             if not r.path.startswith("/ims/")]
    first_etag = calls[2][2]
    assert calls == [("GET", f"{FLOWS}/{flow}", None), ("POST", f"{FLOWS}/{flow}/action", None),
                     ("PATCH", f"{FLOWS}/{flow}", first_etag), ("GET", f"{FLOWS}/{flow}", None),
                     ("PATCH", f"{FLOWS}/{flow}", changed[0])]
    assert first_etag != changed[0]


def test_the_emulator_checks_if_match_and_the_file_based_fields(
        emulator: Emulator, platform_client: PlatformClient, flow: str) -> None:
    audience = ensure_audience(platform_client, "high", "propensity", 0.8, tenant=TENANT)
    etag = flowservice(emulator).objects["flows"][flow]["etag"]
    path = f"{FLOWS}/{flow}"

    def op(value: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"op": "add", "path": f"{SELECTORS}/-",
                 "value": {"type": "PLATFORM_SEGMENT", "value": value}}]

    full = op({"id": audience.id, **EXPORT_FIELDS})
    answer = raw(emulator, platform_client, "PATCH", path, full)
    assert answer.json() == bad_request("The If-Match header is required (the object's etag)")
    answer = raw(emulator, platform_client, "PATCH", path, full, If_Match='"stale"')
    assert (answer.status_code, answer.json()["title"]) == (412, "PreconditionFailed")
    where = "transformations[0].params.segmentSelectors.selectors[0].value"
    answer = raw(emulator, platform_client, "PATCH", path, op({"id": audience.id}),
                 If_Match=etag)
    assert answer.json() == bad_request(
        f"{where}.filenameTemplate is required by a file-based destination and must contain "
        "%DESTINATION_NAME% and %SEGMENT_ID%")
    no_trigger = {**EXPORT_FIELDS, "schedule": {"frequency": "ONCE", "startDate": "2026-12-04"}}
    answer = raw(emulator, platform_client, "PATCH", path, op({"id": audience.id, **no_trigger}),
                 If_Match=etag)
    assert answer.json() == bad_request(f"{where}.schedule.triggerType must be one of "
                                        "AFTER_SEGMENT_EVAL, SCHEDULED with DAILY_FULL_EXPORT")
    answer = raw(emulator, platform_client, "PATCH", path, op({"id": "nope", **EXPORT_FIELDS}),
                 If_Match=etag)
    assert answer.json() == bad_request(f"{where}.id: segment definition 'nope' was not found")
    answer = raw(emulator, platform_client, "PATCH", path, op({"id": ["x"], **EXPORT_FIELDS}),
                 If_Match=etag)  # an id that is no string: a 400, not a 500
    assert answer.json() == bad_request(f"{where}.id: segment definition ['x'] was not found")
    answer = raw(emulator, platform_client, "PATCH", path, [{
        "op": "add", "path": "/transformations/0/params/segmentSelectors", "value": "x"}],
        If_Match=etag)
    assert answer.json() == bad_request(
        "transformations[0].params.segmentSelectors must be an object")
    answer = raw(emulator, platform_client, "PATCH", path,
                 [{**full[0], "path": "/transformations/1/params/segmentSelectors/selectors/-"}],
                 If_Match=etag)
    assert answer.json() == bad_request("Path '/transformations/1' does not exist in the flow")
    assert flowservice(emulator).objects["flows"][flow]["etag"] == etag  # nothing was applied
    ok = raw(emulator, platform_client, "PATCH", path, full, If_Match=etag)
    assert ok.status_code == 200 and ok.json()["etag"] != etag


# -- the audience dataflow of an export ---------------------------------------------------------
AUDIENCE_FLOW = "runner:demo:audiences:training_set:data_landing_zone"


def test_an_audience_flow_is_made_once_with_a_profile_source_then_found_by_name(
        emulator: Emulator, platform_client: PlatformClient, tmp_path: Path) -> None:
    ctx = Project(emulator, platform_client, tmp_path).ctx
    emulator.requests.clear()
    made = AudienceFlow(audience_export(), ctx).ensure()
    fs = flowservice(emulator).objects
    (base_id,), (source_id,), (target_id,) = fs["connections"], fs["sourceConnections"], \
        fs["targetConnections"]
    assert (made.id, made.name, made.created) == (next(iter(fs["flows"])), AUDIENCE_FLOW, True)
    assert recorded(emulator) == [
        ("GET", FLOWS, {"property": ["flowSpec.id==cd2fc47e-e838-4f38-a581-8fff2f99b63a"]},
         None),
        ("POST", "/data/foundation/flowservice/connections", {}, {
            "name": f"{AUDIENCE_FLOW}:base", "connectionSpec": {
                "id": "10440537-2a7b-4583-ac39-ed38d4b848e8", "version": "1.0"}}),
        ("POST", "/data/foundation/flowservice/sourceConnections", {}, {
            "name": f"{AUDIENCE_FLOW}:source", "description": "the Profile store",
            "connectionSpec": {"id": "8a9c3494-9708-43d7-ae3f-cda01e5030e1", "version": "1.0"},
            "data": {"format": "CSV", "schema": None}, "params": {}}),
        ("POST", "/data/foundation/flowservice/targetConnections", {}, {
            "name": f"{AUDIENCE_FLOW}:target", "baseConnectionId": base_id,
            "connectionSpec": {"id": "10440537-2a7b-4583-ac39-ed38d4b848e8", "version": "1.0"},
            "params": {"mode": "Server-to-server", "fileType": "PARQUET", "compression": "GZIP",
                       "path": DESTINATIONS["data_landing_zone"]["path"]}}),
        ("POST", FLOWS, {}, {
            "name": AUDIENCE_FLOW,
            "description": "runner audiences to Data Landing Zone (exports[0])",
            "flowSpec": {"id": "cd2fc47e-e838-4f38-a581-8fff2f99b63a", "version": "1.0"},
            "sourceConnectionIds": [source_id], "targetConnectionIds": [target_id],
            "transformations": [], "scheduleParams": {
                "startTime": int(ctx.clock()) + 365 * 86400, "timeUnit": "day",
                "interval": 1}})]
    assert fs["flows"][made.id]["transformations"] == [{"name": "GeneralTransform", "params": {
        "segmentSelectors": {"selectors": []}, "profileSelectors": {"selectors": []}}}]
    emulator.requests.clear()
    again = AudienceFlow(audience_export(), ctx).ensure()
    assert again == (made.id, AUDIENCE_FLOW, False)
    assert [r[:2] for r in recorded(emulator)] == [  # found, then checked: source and target
        ("GET", FLOWS), ("GET", f"/data/foundation/flowservice/sourceConnections/{source_id}"),
        ("GET", f"/data/foundation/flowservice/targetConnections/{target_id}")]
    moved = audience_export(destination={"path": "elsewhere"})
    with pytest.raises(RunError) as err:
        AudienceFlow(moved, ctx).ensure()
    assert str(err.value) == (
        f"dataflow {made.id} named {AUDIENCE_FLOW} writes with {{'mode': 'Server-to-server', "
        "'fileType': 'PARQUET', 'compression': 'GZIP', 'path': 'cmle/egress'}, not {'mode': "
        "'Server-to-server', 'fileType': 'PARQUET', 'compression': 'GZIP', 'path': "
        "'elsewhere'}: exports[0] changed since it was made; delete that dataflow in Platform "
        "(its audiences go with it) or give the export another name")
    other_model = parse_exports([{"model": "scores", "destination": {
        "type": "data_landing_zone", "path": "other"}}])[0]
    assert AudienceFlow(other_model, ctx).ensure().id != made.id  # its own flow
    audience = ensure_audience(platform_client, "high", "propensity", 0.8, tenant=TENANT)
    assert add_to_dataflow(platform_client, made.id, audience.id, file_export=EXPORT) is True


def test_a_failed_audience_flow_leaves_nothing_and_masks_the_secret(
        emulator: Emulator, platform_client: PlatformClient, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S3_SECRET", "s3cr3t-value")
    monkeypatch.setenv("T_ACCESS", "AKIAEXAMPLE")
    ctx = Project(emulator, platform_client, tmp_path).ctx
    spec = audience_export("amazon_s3", destination={
        **DESTINATIONS["amazon_s3"], "secret_key_env": "S3_SECRET"})
    real = platform_client.request

    def refuse_the_flow(method: str, path: str, **kw: Any) -> Any:
        if method == "POST" and path == FLOWS:
            raise PlatformError("POST /flows: 400 bad flow (auth s3cr3t-value)", 400)
        return real(method, path, **kw)

    monkeypatch.setattr(platform_client, "request", refuse_the_flow)
    with pytest.raises(PlatformError) as err:
        AudienceFlow(spec, ctx).ensure()
    assert str(err.value) == "POST /flows: 400 bad flow (auth ***)" and err.value.status == 400
    assert all(not objects for kind, objects in flowservice(emulator).objects.items())


def test_the_emulator_keeps_audience_and_dataset_flows_apart(
        emulator: Emulator, platform_client: PlatformClient, tmp_path: Path) -> None:
    proj = Project(emulator, platform_client, tmp_path)
    proj.run(proj.table("training_set__a1", rows=5))
    (dataset_flow,) = flowservice(emulator).objects["flows"]
    audience_flow = activation_flow(emulator, platform_client, tmp_path)
    audience = ensure_audience(platform_client, "high", "propensity", 0.8, tenant=TENANT)
    fs = flowservice(emulator).objects
    profile_source = next(k for k, v in fs["sourceConnections"].items()
                          if v["connectionSpec"]["id"] == "8a9c3494-9708-43d7-ae3f-cda01e5030e1")
    dataset_target = fs["flows"][dataset_flow]["targetConnectionIds"][0]
    flow_body = {**{k: fs["flows"][audience_flow][k] for k in ("flowSpec", "scheduleParams")},
                 "name": "mixed", "sourceConnectionIds": [profile_source],
                 "targetConnectionIds": [dataset_target]}
    mixed = raw(emulator, platform_client, "POST", FLOWS, flow_body)
    assert mixed.json() == bad_request(
        f"Target connection '{dataset_target}' is for a dataset export (datasetFileType), but "
        f"source connection '{profile_source}' reads the Profile store")
    etag = fs["flows"][dataset_flow]["etag"]
    selector = {"type": "PLATFORM_SEGMENT", "value": {"id": audience.id, **EXPORT_FIELDS}}
    answer = raw(emulator, platform_client, "PATCH", f"{FLOWS}/{dataset_flow}", [{
        "op": "add", "path": "/transformations", "value": [{"name": "GeneralTransform",
                                                           "params": {"segmentSelectors": {
                                                               "selectors": [selector]}}}]}],
        If_Match=etag)
    assert answer.json()["detail"] == bad_request(
        f"Flow '{dataset_flow}' exports datasets (its source connection reads the data lake): it "
        "takes no segment selectors; activate audiences through a dataflow whose source is the "
        "Profile store")["detail"]
    source = raw(emulator, platform_client, "POST", "/data/foundation/flowservice/"
                 "sourceConnections", {"name": "p", "connectionSpec": {
                     "id": "8a9c3494-9708-43d7-ae3f-cda01e5030e1", "version": "1.0"},
                     "params": {"datasets": [{"dataSetId": "x"}]}, "data": {"format": "CSV"}})
    assert source.json() == bad_request("A Profile store source connection takes empty params "
                                        "(it reads profiles, not datasets)")
    adhoc = raw(emulator, platform_client, "POST",
                "/data/core/activation/disflowprovider/adhocrun",
                {"activationInfo": {"destinations": [{"flowId": audience_flow,
                                                      "datasets": [{"id": "x"}]}]}},
                Accept="application/vnd.adobe.adhoc.dataset.activation+json; version=1")
    assert adhoc.json() == bad_request(f"Flow '{audience_flow}' activates audiences, not "
                                       "datasets: it has no dataset to export")


# -- ad hoc activation --------------------------------------------------------------------------
ADHOC = "/data/core/activation/disflowprovider/adhocrun"
ACTIVATION_ACCEPT = "application/vnd.adobe.adhoc.activation+json; version=2"


def test_activate_now_lands_the_qualifying_profiles_and_reports_the_run(
        emulator: Emulator, platform_client: PlatformClient, flow: str) -> None:
    seed_profiles(emulator, [{f"_{TENANT}": {"propensity": p, "tier": t}}
                             for p, t in ((0.95, "gold"), (0.2, "silver"), (0.85, None))])
    audience = ensure_audience(platform_client, "high", "propensity", 0.8, tenant=TENANT)
    add_to_dataflow(platform_client, flow, audience.id, name="high", file_export=EXPORT)
    emulator.requests.clear()
    sleeps: list[float] = []
    run = activate_now(platform_client, flow, audience.id, poll_interval=7, sleep=sleeps.append)
    (run_id,) = [k for k, v in flowservice(emulator).objects["runs"].items()
                 if v.get("segmentId") == audience.id]
    assert run == (run_id, 2, 1) and sleeps == [7]
    assert recorded(emulator) == [
        ("POST", ADHOC, {}, {"activationInfo": {flow: [audience.id]}}),
        ("GET", f"/data/foundation/flowservice/runs/{run_id}", {}, None),
        ("GET", f"/data/foundation/flowservice/runs/{run_id}", {}, None)]
    assert emulator.requests_to(ADHOC, "POST")[0].headers["accept"] == ACTIVATION_ACCEPT
    (landed,) = (emulator.landing_dir() / "dlz-destination" / "cmle" / "egress").glob("*")
    name = f"runner_demo_audiences_training_set_data_landing_zone_{audience.id}_"
    assert landed.name.startswith(name) and landed.name.endswith(".gz.parquet")
    assert len(landed.name) == len(name) + len("YYYYMMdd_HHmmss.gz.parquet")
    assert pq.read_table(landed).to_pylist() == [
        {f"_{TENANT}_propensity": 0.95, f"_{TENANT}_tier": "gold"},
        {f"_{TENANT}_propensity": 0.85, f"_{TENANT}_tier": None}]


def test_an_activation_is_refused_as_the_service_refuses_it(
        emulator: Emulator, platform_client: PlatformClient, flow: str, tmp_path: Path) -> None:
    audience = ensure_audience(platform_client, "high", "propensity", 0.8, tenant=TENANT)
    other = ensure_audience(platform_client, "low", "propensity", maximum=0.2, tenant=TENANT)
    add_to_dataflow(platform_client, flow, audience.id, file_export=EXPORT)
    with pytest.raises(PlatformError) as err:
        activate_now(platform_client, flow, other.id, sleep=lambda s: None)
    assert err.value.status == 400 and str(err.value).endswith(
        "Segments low are not part of this dataflow or out of schedule range! (an audience just "
        "added to a dataflow can be activated ad hoc only about 20 minutes after its first "
        "scheduled run: run it again later)")

    def post(body: Any, accept: str = ACTIVATION_ACCEPT) -> requests.Response:
        return raw(emulator, platform_client, "POST", ADHOC, body, Accept=accept)

    assert post({"activationInfo": {flow: [audience.id]}}).status_code == 200
    assert post({"activationInfo": {flow: [audience.id]}}).json() == bad_request(
        f"Run already going on for segment {audience.id}")
    assert post({"activationInfo": {flow: [f"s{i}" for i in range(81)]}}).json() == bad_request(
        "An ad hoc activation job takes at most 80 segments, got 81")
    assert post({"activationInfo": {flow: []}}).json()["detail"].startswith("The body must be")
    proj = Project(emulator, platform_client, tmp_path / "datasets")
    proj.run(proj.table("training_set__a1", rows=5))
    (dataset_flow,) = [k for k, v in flowservice(emulator).objects["flows"].items()
                       if not flowservice(emulator).is_audience_flow(v)]
    assert post({"activationInfo": {dataset_flow: [audience.id]}}).json() == bad_request(
        f"Destination '{dataset_flow}' is not an enabled audience dataflow")
    wrong = post({"activationInfo": {flow: [audience.id]}}, accept="application/json")
    assert wrong.status_code == 406 and wrong.json()["detail"] == (
        "Accept must be 'application/vnd.adobe.adhoc.dataset.activation+json; version=1' for ad "
        f"hoc dataset export or '{ACTIVATION_ACCEPT}' for ad hoc audience activation, got "
        "'application/json'")


def test_a_failed_activation_run_is_an_error_naming_its_errors(
        emulator: Emulator, platform_client: PlatformClient, flow: str) -> None:
    audience = ensure_audience(platform_client, "high", "propensity", 0.8, tenant=TENANT)
    add_to_dataflow(platform_client, flow, audience.id, file_export=EXPORT)
    flowservice(emulator).fail_runs = 1
    with pytest.raises(PlatformError) as err:
        activate_now(platform_client, flow, audience.id, sleep=lambda s: None)
    assert str(err.value).endswith(
        f"the activation of {audience.id} through dataflow {flow} ended failed: Export failed: "
        "destination rejected the write")


def test_the_emulator_refuses_a_path_in_a_file_name_and_a_segment_twice_in_one_call(
        emulator: Emulator, platform_client: PlatformClient, flow: str) -> None:
    audience = ensure_audience(platform_client, "high", "propensity", 0.8, tenant=TENANT)
    etag = flowservice(emulator).objects["flows"][flow]["etag"]
    sneaky = {**EXPORT_FIELDS, "filenameTemplate": "../../x_%DESTINATION_NAME%_%SEGMENT_ID%"}
    answer = raw(emulator, platform_client, "PATCH", f"{FLOWS}/{flow}", [{
        "op": "add", "path": f"{SELECTORS}/-", "value": {"type": "PLATFORM_SEGMENT", "value": {
            "id": audience.id, **sneaky}}}], If_Match=etag)
    assert answer.json()["detail"] == (
        "transformations[0].params.segmentSelectors.selectors[0].value.filenameTemplate names a "
        "file, not a path: no '/', '\\' or '..' [inferred]")
    add_to_dataflow(platform_client, flow, audience.id, file_export=EXPORT)
    twice = raw(emulator, platform_client, "POST", ADHOC,
                {"activationInfo": {flow: [audience.id, audience.id]}}, Accept=ACTIVATION_ACCEPT)
    assert twice.json() == bad_request(f"Run already going on for segment {audience.id}")
    assert [r for r in flowservice(emulator).objects["runs"].values()] == []
    fs = "/data/foundation/flowservice"
    base_id = next(iter(flowservice(emulator).objects["connections"]))

    def target(params: Any) -> str:
        return raw(emulator, platform_client, "POST", f"{fs}/targetConnections", {
            "name": "t", "baseConnectionId": base_id, "params": params, "connectionSpec": {
                "id": "10440537-2a7b-4583-ac39-ed38d4b848e8", "version": "1.0"}}).json()["detail"]

    assert target("fileType") == "params must be an object"  # was a 500
    csv = {"mode": "Server-to-server", "fileType": "CSV", "compression": "NONE", "path": "p"}
    assert target({**csv, "csvOptions": {"delimiter": ";", "bogus": 1}}) == (
        "params.csvOptions: unknown option(s) bogus (one of delimiter, emptyValue, escape, "
        "nullValue, quote)")
    assert target({**csv, "fileType": "JSON", "csvOptions": {}}) == (
        "params.csvOptions is an object and applies only with fileType CSV")
    source = raw(emulator, platform_client, "POST", f"{fs}/sourceConnections", {
        "name": "p", "connectionSpec": {"id": "8a9c3494-9708-43d7-ae3f-cda01e5030e1",
                                        "version": "1.0"},
        "data": {"format": "CSV", "schema": {"any": 1}}, "params": {}})
    assert source.json()["detail"].startswith('A Profile store source connection takes data '
                                              '{"format": "CSV", "schema": null}')
