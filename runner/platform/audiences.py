"""Audiences on a score field: segment definitions, segment jobs and activation (§4, §5).

An audience here is a Segmentation Service segment definition whose PQL is a threshold or a
range on a numeric tenant field (``_<tenant>.propensity >= 0.8``; a range is the CMLE form
``_<tenant>.f >= a and _<tenant>.f <= b``). :func:`ensure_audience` makes it once: it looks the
name up first (the list has no documented name filter, so it pages and compares), reuses a
definition with the same PQL and refuses one with another PQL, never changing it.
:func:`run_segment_job` evaluates it on demand and returns how many profiles qualified;
:func:`estimate_audience` previews a PQL without making anything (§4.3: ``POST /preview``, then
``GET /estimate/{previewId}`` until ``RESULT_READY``; aepp's loop on that state never ends).
:func:`add_to_dataflow` adds it to an existing destination dataflow with a JSON Patch sent with
``If-Match: <etag>``, only when it is not there yet, and re-reads the flow once if the etag
went stale (412). :func:`activate_now` exports it through that dataflow now (the ad hoc
activation of §5 step 3) and polls the flow run to its end.

>>> audience_pql("propensity", minimum=0.8, tenant="acme")
'_acme.propensity >= 0.8'
>>> audience_pql("propensity", minimum=0.2, maximum=0.93, tenant="acme")
'_acme.propensity >= 0.2 and _acme.propensity <= 0.93'
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from runner.errors import PlatformError, ProjectError
from runner.platform.client import PlatformClient

DEFINITIONS = "/data/core/ups/segment/definitions"
JOBS = "/data/core/ups/segment/jobs"
PREVIEW = "/data/core/ups/preview"
ESTIMATE = "/data/core/ups/estimate"
FLOWS = "/data/foundation/flowservice/flows"
RUNS = "/data/foundation/flowservice/runs"
ADHOC_RUN = "/data/core/activation/disflowprovider/adhocrun"
ADHOC_ACCEPT = "application/vnd.adobe.adhoc.activation+json; version=2"
FINAL_RUN = ("success", "failed", "partialSuccess", "cancelled")
SELECTORS = "/transformations/0/params/segmentSelectors/selectors"
PROFILE_SCHEMA = "_xdm.context.profile"
PAGE = 100
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_TENANT = re.compile(r"[A-Za-z0-9]+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class Audience(NamedTuple):
    """A segment definition: its id, name, PQL and whether this call created it."""

    id: str
    name: str
    pql: str
    created: bool


class Estimate(NamedTuple):
    """A preview's estimate (§4.3): profiles matched, out of ``total`` read, with its error."""

    profiles: int
    total: int
    standard_error: float
    confidence: str


class ActivationRun(NamedTuple):
    """A finished ad hoc activation run: its id and the profiles and files it exported."""

    run_id: str
    records: int | None
    files: int | None


@dataclass(frozen=True)
class FileExport:
    """The fields a file-based destination requires of a segment selector (§5 step 2)."""

    start_date: str  # YYYY-MM-DD
    export_mode: str = "DAILY_FULL_EXPORT"
    frequency: str = "ONCE"
    trigger_type: str = "AFTER_SEGMENT_EVAL"
    filename_template: str = "%DESTINATION_NAME%_%SEGMENT_ID%_%DATETIME(YYYYMMdd_HHmmss)%"

    def fields(self) -> dict[str, Any]:
        """``filenameTemplate``, ``exportMode`` and ``schedule`` of the selector value."""
        if not _DATE.fullmatch(self.start_date):
            raise ProjectError(f"audience export start_date must be YYYY-MM-DD, got "
                               f"{self.start_date!r}")
        schedule: dict[str, Any] = {"frequency": self.frequency, "startDate": self.start_date}
        if self.export_mode == "DAILY_FULL_EXPORT":
            schedule["triggerType"] = self.trigger_type
        return {"filenameTemplate": self.filename_template, "exportMode": self.export_mode,
                "schedule": schedule}


def _number(value: float, what: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ProjectError(f"{what} must be a finite number, got {value!r}")
    return repr(value) if isinstance(value, float) else str(value)


def audience_pql(field: str, minimum: float | None = None, maximum: float | None = None, *,
                 tenant: str, subject: str = "audience") -> str:
    """The PQL of ``minimum <= _<tenant>.<field> <= maximum`` (either bound may be left out);
    ``subject`` begins each error (``audience``, ``estimate``).

    Raises:
        ProjectError: the field or tenant is not a valid name, no bound is given, a bound is
            not a finite number, or the range is empty.
    """
    if not isinstance(field, str) or not _FIELD.fullmatch(field):
        raise ProjectError(f"{subject} field {field!r} is not a valid field name (letters, digits "
                           "and _, dotted for a nested field, e.g. propensity)")
    if not isinstance(tenant, str) or not _TENANT.fullmatch(tenant.lstrip("_")):
        raise ProjectError(f"tenant {tenant!r} is not a tenant id (letters and digits)")
    if minimum is None and maximum is None:
        raise ProjectError(f"{subject} on {field}: give a minimum, a maximum or both")
    path = f"_{tenant.lstrip('_')}.{field}"
    low = _number(minimum, f"{subject} minimum") if minimum is not None else None
    high = _number(maximum, f"{subject} maximum") if maximum is not None else None
    if minimum is not None and maximum is not None and minimum > maximum:
        raise ProjectError(f"{subject} on {field}: the range {minimum}..{maximum} is empty "
                           "(minimum is above maximum)")
    parts = ([f"{path} >= {low}"] if low is not None else []) + (
        [f"{path} <= {high}"] if high is not None else [])
    return " and ".join(parts)


def definition_body(name: str, pql: str, description: str = "") -> dict[str, Any]:
    """The ``POST /segment/definitions`` body of a batch-evaluated audience (§4.1)."""
    return {"name": name, "profileInstanceId": "ups", "description": description,
            "expression": {"type": "PQL", "format": "pql/text", "value": pql},
            "evaluationInfo": {"batch": {"enabled": True}, "continuous": {"enabled": False},
                               "synchronous": {"enabled": False}},
            "schema": {"name": PROFILE_SCHEMA}, "payloadSchema": "string", "ttlInDays": 60}


def find_definition(client: PlatformClient, name: str) -> dict[str, Any] | None:
    """The segment definition named ``name``, paging through the list; None if there is none.

    The list has no documented name filter; it pages with ``limit`` and ``start``, read as an
    offset [inferred: the contract names the parameter, not its unit].

    Raises:
        PlatformError: a call failed.
    """
    start = 0
    while True:
        body = client.get(DEFINITIONS, params={"start": start, "limit": PAGE}) or {}
        segments = body.get("segments") or []
        found = next((s for s in segments if s.get("name") == name), None)
        total = (body.get("page") or {}).get("totalCount", 0)
        if found is not None or not segments or start + len(segments) >= total:
            return found
        start += len(segments)


def ensure_audience(client: PlatformClient, name: str, field: str, minimum: float | None = None,
                    maximum: float | None = None, *, tenant: str,
                    description: str = "") -> Audience:
    """The segment definition ``name`` on ``field`` in ``[minimum, maximum]``, made if missing.

    Args:
        client: the Platform client.
        name: the definition's name (unique in the sandbox).
        field: the score field under the tenant namespace (``propensity``).
        minimum, maximum: inclusive bounds; at least one.
        tenant: the org's tenant id (Schema Registry ``/stats``), without the ``_``.
        description: the definition's description on create.

    Raises:
        ProjectError: the bounds or field are not valid (nothing is sent), or a definition
            named ``name`` exists with another PQL.
        PlatformError: a call failed.
    """
    pql = audience_pql(field, minimum, maximum, tenant=tenant)
    for attempt in (1, 2):
        existing = find_definition(client, name)
        if existing is not None:
            current = (existing.get("expression") or {}).get("value")
            if current != pql:
                raise ProjectError(f"audience '{name}' exists as segment definition "
                                   f"{existing['id']} with PQL '{current}', not '{pql}'; rename "
                                   "the audience or change that definition in Platform")
            return Audience(existing["id"], name, pql, created=False)
        try:
            created = client.post(DEFINITIONS, json=definition_body(name, pql, description))
        except PlatformError as err:
            if err.status != 409 or attempt == 2:  # 409: made meanwhile (or a retried create)
                raise
            continue
        return Audience(created["id"], name, pql, created=True)
    raise AssertionError("unreachable")


def run_segment_job(client: PlatformClient, segment_id: str, timeout: float = 3600.0,
                    poll_interval: float = 60.0, *, sleep: Callable[[float], None] = time.sleep,
                    clock: Callable[[], float] = time.monotonic) -> int:
    """Evaluate ``segment_id`` now (a segment job) and return how many profiles qualified.

    Raises:
        PlatformError: a call failed, the job ended FAILED or CANCELLED, or it did not
            finish within ``timeout`` seconds.
    """
    job = client.post(JOBS, json=[{"segmentId": segment_id}])
    path = f"{JOBS}/{job['id']}"
    job = _poll(lambda: client.get(path), lambda body: body.get("status"),
                ("SUCCEEDED", "FAILED", "CANCELLED", "CANCELLING"), timeout, poll_interval,
                sleep, clock, lambda status: f"GET {path}: segment job for {segment_id} still "
                f"{status} after {timeout:g} s (raise the timeout or check the job in Platform)")
    status = job.get("status")
    if status != "SUCCEEDED":
        raise PlatformError(f"GET {path}: segment job for {segment_id} ended {status}")
    counts = (job.get("metrics") or {}).get("segmentedProfileCounter") or {}
    return int(counts.get(segment_id, 0))


def _poll(read: Callable[[], Any], state: Callable[[Any], Any], final: tuple[str, ...],
          timeout: float, poll_interval: float, sleep: Callable[[float], None],
          clock: Callable[[], float], still: Callable[[Any], str]) -> Any:
    """``read()`` every ``poll_interval`` s until ``state`` of it is in ``final``; that read.

    Raises:
        PlatformError: ``still(state)`` once ``timeout`` s have passed.
    """
    deadline = clock() + timeout
    while True:
        body = read()
        current = state(body)
        if current in final:
            return body
        if clock() >= deadline:
            raise PlatformError(still(current))
        sleep(poll_interval)


def estimate_audience(client: PlatformClient, pql: str, timeout: float = 600.0,
                      poll_interval: float = 5.0, *,
                      sleep: Callable[[float], None] = time.sleep,
                      clock: Callable[[], float] = time.monotonic) -> Estimate:
    """Estimate how many profiles ``pql`` selects, making nothing (a preview, §4.3).

    Raises:
        PlatformError: a call failed, the preview ended FAILED (its error shown), or it was not
            ready within ``timeout`` seconds.
    """
    started = client.post(PREVIEW, json={"predicateExpression": pql, "predicateType": "pql/text",
                                         "predicateModel": PROFILE_SCHEMA, "graphType": "none"})
    preview_id = started.get("previewId") if isinstance(started, dict) else None
    if not isinstance(preview_id, str) or not preview_id:
        raise PlatformError(f"POST {PREVIEW}: the answer has no previewId ({started!r:.200})")
    path = f"{ESTIMATE}/{preview_id}"

    def read() -> dict[str, Any]:
        body = client.get(path)
        return body if isinstance(body, dict) else {}

    body = _poll(read, lambda b: b.get("state"), ("RESULT_READY", "FAILED", "ERROR"), timeout,
                 poll_interval, sleep, clock, lambda state: f"GET {path}: the estimate of "
                 f"'{pql}' still {state} after {timeout:g} s (raise the timeout or preview it "
                 "in Platform)")
    state = body["state"]
    if state != "RESULT_READY":  # ERROR: the state aepp checks for
        error = body.get("error")
        error = (error.get("description") if isinstance(error, dict) else error) or \
            "no reason given"
        raise PlatformError(f"GET {path}: the estimate of '{pql}' ended {state}: {error}")
    try:
        return Estimate(int(body["estimatedSize"]), int(body.get("totalRows") or 0),
                        float(body.get("standardError") or 0.0),
                        str(body.get("confidenceInterval") or ""))
    except (KeyError, TypeError, ValueError):
        raise PlatformError(f"GET {path}: a ready estimate without a numeric estimatedSize "
                            f"({body!r:.200})") from None


def _selectors(flow: dict[str, Any], flow_id: str) -> list[dict[str, Any]]:
    try:
        selectors = flow["transformations"][0]["params"]["segmentSelectors"]["selectors"]
    except (KeyError, IndexError, TypeError):
        selectors = None
    if not isinstance(selectors, list):
        raise ProjectError(f"dataflow {flow_id} has no transformations[0].params."
                           "segmentSelectors: it is not an audience activation dataflow")
    return selectors


def add_to_dataflow(client: PlatformClient, flow_id: str, segment_id: str, *,
                    name: str | None = None, file_export: FileExport | None = None) -> bool:
    """Add segment ``segment_id`` to destination dataflow ``flow_id`` unless it is there.

    Args:
        client: the Platform client.
        flow_id: the destination dataflow.
        segment_id: the segment definition to activate.
        name: the selector's name (optional).
        file_export: the export fields a file-based destination requires; None for a
            streaming destination (``{id, name}`` only).

    Returns:
        True if a PATCH was sent, False if the segment was already in the dataflow.

    Raises:
        ProjectError: the flow has no segment selectors.
        PlatformError: a call failed, or the etag went stale twice in a row.
    """
    value: dict[str, Any] = {"id": segment_id, **({"name": name} if name else {}),
                             **(file_export.fields() if file_export else {})}
    ops = [{"op": "add", "path": f"{SELECTORS}/-",
            "value": {"type": "PLATFORM_SEGMENT", "value": value}}]
    path = f"{FLOWS}/{flow_id}"
    for attempt in (1, 2):
        flow = ((client.get(path) or {}).get("items") or [{}])[0]
        if any((s.get("value") or {}).get("id") == segment_id for s in _selectors(flow, flow_id)):
            return False
        try:
            client.patch(path, json=ops, headers={"If-Match": flow["etag"]})
            return True
        except PlatformError as err:
            if err.status != 412 or attempt == 2:
                raise
    raise AssertionError("unreachable")


def activate_now(client: PlatformClient, flow_id: str, segment_id: str, timeout: float = 3600.0,
                 poll_interval: float = 60.0, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> ActivationRun:
    """Export segment ``segment_id`` through dataflow ``flow_id`` now and wait for the run.

    The segment must already be in the dataflow (:func:`add_to_dataflow`); the contract's
    ``<destinationId>`` is sent as the dataflow's id [inferred]. Platform asks for 20 minutes
    after a first scheduled activation and answers "out of schedule range" before that; the
    error then says to run it again later (the emulator does not make it wait).

    Raises:
        PlatformError: a call failed (a segment not in the dataflow, a run already going on),
            the run did not succeed (its errors shown), or it was still going after ``timeout``.
    """
    try:
        answer = client.post(ADHOC_RUN, json={"activationInfo": {flow_id: [segment_id]}},
                             headers={"Accept": ADHOC_ACCEPT})
    except PlatformError as err:
        if "out of schedule range" not in str(err):
            raise
        raise PlatformError(f"{err} (an audience just added to a dataflow can be activated "
                            "ad hoc only about 20 minutes after its first scheduled run: run "
                            "it again later)", err.status, err.code) from None
    order = answer.get("order") if isinstance(answer, dict) else None
    url = next((o.get("statusURL") for o in order if isinstance(o, dict)
                and o.get("segment") == segment_id), None) if isinstance(order, list) else None
    if not url:
        raise PlatformError(f"POST {ADHOC_RUN}: no statusURL for segment {segment_id} in "
                            f"{answer!r:.200}")
    run_id = str(url).rstrip("/").rsplit("/", 1)[-1]

    def read() -> dict[str, Any]:
        body = client.get(f"{RUNS}/{run_id}")
        items = body.get("items") if isinstance(body, dict) else None
        return items[0] if isinstance(items, list) and items and isinstance(items[0], dict) \
            else {}

    def status_of(run: dict[str, Any]) -> dict[str, Any]:
        summary = run.get("statusSummary")
        return summary if isinstance(summary, dict) else {}

    run = _poll(read, lambda r: status_of(r).get("status", "pending"), FINAL_RUN, timeout,
                poll_interval, sleep, clock, lambda status: f"GET {RUNS}/{run_id}: the "
                f"activation of {segment_id} is still {status} after {timeout:g} s (follow it "
                "in Platform)")
    summary = status_of(run)
    status = summary["status"]
    if status != "success":
        errors = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e)
                           for e in summary.get("errors") or [])
        raise PlatformError(f"GET {RUNS}/{run_id}: the activation of {segment_id} through "
                            f"dataflow {flow_id} ended {status}: {errors or 'no reason given'}")
    metrics = run.get("metrics") if isinstance(run.get("metrics"), dict) else {}
    records = (metrics.get("recordSummary") or {}).get("outputRecordCount")
    files = (metrics.get("fileSummary") or {}).get("outputFileCount")
    return ActivationRun(run_id, records if isinstance(records, int) else None,
                         files if isinstance(files, int) else None)
