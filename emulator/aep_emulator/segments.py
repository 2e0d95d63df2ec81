"""The emulated Segmentation Service: definitions, jobs, previews (ingest contract §4, §7.3).

Base ``/data/core/ups``:

- ``POST /segment/definitions`` checks the body (keys of §4.1 only; ``name`` unique in the
  sandbox, else 409 [inferred code]; ``schema.name`` ``_xdm.context.profile`` or a
  ``schema.id``; ``expression`` ``{"type": "PQL", "format": "pql/text", "value"}``; an
  ``evaluationInfo`` of ``batch``/``continuous``/``synchronous`` ``{"enabled": bool}``) and
  answers 200 with the stored definition. ``GET /segment/definitions`` pages with ``limit``
  (1-100, default 20 [inferred]) and ``start`` (a 0-based offset [inferred]), sorts with
  ``sort=<field>:asc|desc`` and filters with ``evaluationInfo.continuous.enabled=true|false``;
  the contract documents no name filter, so none is accepted (an unknown parameter is a 400
  [inferred]). ``GET /segment/definitions/{id}`` answers one definition or 404.
- The PQL this emulator understands is a conjunction (``and``) of comparisons
  ``_<tenant>.<field>[.<field>…] <op> <number>`` with ``op`` one of ``= != > >= < <=`` (§4.1);
  anything else, or another tenant than the org's, is a 400 naming the offending text.
- ``POST /segment/jobs`` takes a JSON array ``[{"segmentId"}]`` of known definitions and
  answers 200 with the job in state ``NEW``; each ``GET /segment/jobs/{id}`` moves it on:
  ``PROCESSING`` for ``job_polls`` reads, then ``SUCCEEDED`` with ``metrics.totalProfiles`` and
  ``segmentedProfileCounter``/``segmentedProfileByStatusCounter`` per segment. (The doc's create
  sample shows ``PROCESSING``; ``NEW`` is a documented state too, so a client must poll either.)
- ``POST /preview`` (``predicateExpression`` PQL as above, ``predicateType`` ``pql/text``,
  ``predicateModel`` ``_xdm.context.profile``, ``graphType`` ``none``|``pdg``) answers 201 in
  state ``NEW``; each ``GET /preview/{previewId}`` or ``GET /estimate/{previewId}`` moves it on:
  ``RUNNING`` for ``job_polls`` reads, then ``RESULT_READY`` (§4.3). Under a million profiles
  the sample is every profile, so the estimate is exact, with a standard error of 0; the seeded
  profiles carry no identity namespaces, so ``estimatedNamespaceDistribution`` is empty and a
  preview's ``results`` are the matching profiles as seeded [inferred].

The profiles a job (or a preview) evaluates are the **seeded profiles**
(``segmentation(emu).profiles``, filled by :func:`seed_profiles`) followed by the profiles of the
**Profile-enabled datasets** (:func:`dataset_profiles`): every Catalog dataset tagged
``unifiedProfile`` ``enabled:true`` whose schema has a primary identity descriptor (a scores
dataset made through the Schema Registry, as ``ingest_scores`` makes one). Each distinct value
of the identity column (the descriptor's ``xdm:sourceProperty`` ``/_<tenant>/<column>``) in
such a dataset's table is one profile, keyed by namespace and value; its ``_<tenant>.<field>``
values are the table's columns (the emulator keeps ``_<tenant>`` fields as flat columns, see
:mod:`~aep_emulator.schemas`). Rows of one identity, in one dataset or several, are merged into
one profile, a later row's non-null value replacing an earlier one (Profile's default merge
policy is most recent wins; "later" is the table's read order here [inferred]). Seeded profiles
carry no identity, so they are never merged with these. Ingesting ``u1: 0.9, u2: 0.5`` then
running a job on ``_<tenant>.propensity >= 0.8`` counts exactly ``u1``.

Segment selectors on destination dataflows (§5) are checked by :mod:`aep_emulator.activation`.
"""

from __future__ import annotations

import base64
import copy
import re
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .catalog import PQS_TAG, catalog
from .flowservice import Invalid as FlowInvalid
from .routing import Request, Response, Router, problem
from .schemas import registry

if TYPE_CHECKING:
    from .server import Emulator

BASE = "/data/core/ups"
PROFILE_SCHEMA = "_xdm.context.profile"
DEFINITION_KEYS = {"name", "profileInstanceId", "description", "expression", "evaluationInfo",
                   "schema", "payloadSchema", "ttlInDays", "mergePolicyId"}
PREVIEW_KEYS = {"predicateExpression", "predicateType", "predicateModel", "graphType"}
EVALUATION_KINDS = {"batch", "continuous", "synchronous"}
OPS = {"=": float.__eq__, "!=": float.__ne__, ">": float.__gt__, ">=": float.__ge__,
       "<": float.__lt__, "<=": float.__le__}
_COMPARISON = re.compile(r"(_[A-Za-z0-9]+(?:\.[A-Za-z_][A-Za-z0-9_]*)+)\s*(>=|<=|!=|=|>|<)\s*"
                         r"(-?\d+(?:\.\d+)?)")

Comparison = tuple[tuple[str, ...], str, float]


class Invalid(FlowInvalid):
    """A request the Segmentation Service, or a segment selector patch, refuses (a 400)."""


class Segmentation:
    """The segment definitions, jobs and seeded profiles of one emulated sandbox."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.tenant = emu.org_id.split("@")[0].lower()  # as the Schema Registry's /stats
        self.definitions: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.profiles: list[dict[str, Any]] = []
        self.previews: dict[str, dict[str, Any]] = {}
        self.job_polls = 1  # reads a job (preview) answers PROCESSING (RUNNING) before done
        self.lock = threading.RLock()

    def define(self, body: Any) -> dict[str, Any]:
        """Check and store a segment definition; the stored definition."""
        if not isinstance(body, dict):
            raise Invalid("The request body must be a JSON object")
        unknown = sorted(set(body) - DEFINITION_KEYS)
        if unknown:
            raise Invalid(f"Unknown field(s) {', '.join(unknown)}; allowed: "
                          f"{', '.join(sorted(DEFINITION_KEYS))}")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise Invalid("'name' is required (a non-empty string)")
        schema = body.get("schema")
        if not isinstance(schema, dict) or not (schema.get("name") == PROFILE_SCHEMA
                                                or isinstance(schema.get("id"), str)):
            raise Invalid(f"'schema' must be {{\"name\": \"{PROFILE_SCHEMA}\"}} or name an id")
        expression = body.get("expression")
        if not isinstance(expression, dict) or expression.get("type") != "PQL":
            raise Invalid("'expression.type' must be PQL")
        if expression.get("format") != "pql/text":
            raise Invalid("'expression.format' must be pql/text on create")
        parse_pql(expression.get("value"), self.tenant)
        _evaluation(body.get("evaluationInfo", {}))
        if any(d["name"] == name for d in self.definitions.values()):
            raise Conflict(f"A segment definition named '{name}' already exists")
        now = time.time()
        sandbox = {"sandboxId": self.emu.sandbox, "sandboxName": self.emu.sandbox,
                   "type": "development", "default": False}
        stored = {"ttlInDays": 30, "profileInstanceId": "ups", "description": "",
                  "evaluationInfo": {}, **copy.deepcopy(body), "id": str(uuid.uuid4()),
                  "imsOrgId": self.emu.org_id, "sandbox": sandbox,
                  "dataGovernancePolicy": {"excludeOptOut": True},
                  "creationTime": int(now * 1000), "updateEpoch": int(now),
                  "updateTime": int(now * 1000)}
        self.definitions[stored["id"]] = stored
        return stored

    def start_job(self, body: Any) -> dict[str, Any]:
        """Check and store a segment job (state NEW); the job."""
        if not isinstance(body, list) or not body:
            raise Invalid('The request body must be a non-empty JSON array [{"segmentId": ...}]')
        segments = []
        for i, item in enumerate(body):
            if not isinstance(item, dict) or set(item) != {"segmentId"} \
                    or not isinstance(item["segmentId"], str):
                raise Invalid(f"Item {i} must be an object with exactly 'segmentId', a string")
            definition = self.definitions.get(item["segmentId"])
            if definition is None:
                raise Invalid(f"Segment definition '{item['segmentId']}' was not found")
            segments.append({"segmentId": definition["id"], "segment": {
                "id": definition["id"], "expression": definition["expression"]}})
        now = int(time.time() * 1000)
        job_id = str(uuid.uuid4())
        job = {"id": job_id, "status": "NEW", "segments": segments, "metrics": {},
               "requestId": str(uuid.uuid4()), "schema": {"name": PROFILE_SCHEMA},
               "_links": {"cancel": {"href": f"{BASE}/segment/jobs/{job_id}", "method": "DELETE"},
                          "checkStatus": {"href": f"{BASE}/segment/jobs/{job_id}",
                                          "method": "GET"}},
               "creationTime": now, "updateTime": now, "_polls": 0}
        self.jobs[job_id] = job
        return job

    def poll(self, job: dict[str, Any]) -> dict[str, Any]:
        """Move ``job`` on one read (NEW -> PROCESSING x ``job_polls`` -> SUCCEEDED)."""
        if job["status"] in ("NEW", "PROCESSING"):
            job["_polls"] += 1
            if job["_polls"] <= self.job_polls:
                job["status"] = "PROCESSING"
            else:
                self._finish(job)
        return self.view(job)

    @staticmethod
    def view(job: dict[str, Any]) -> dict[str, Any]:
        """``job`` as the service answers it (without the emulator's poll counter)."""
        return copy.deepcopy({k: v for k, v in job.items() if k != "_polls"})

    def evaluated(self) -> list[dict[str, Any]]:
        """The profiles a job or preview evaluates: the seeded ones, then the datasets'."""
        return [*self.profiles, *dataset_profiles(self.emu)]

    def _finish(self, job: dict[str, Any]) -> None:
        counts = {}
        profiles = self.evaluated()
        for item in job["segments"]:
            rule = parse_pql(item["segment"]["expression"]["value"], self.tenant)
            counts[item["segmentId"]] = sum(matches(p, rule) for p in profiles)
        now = int(time.time() * 1000)
        spent = {"startTimeInMs": job["creationTime"], "endTimeInMs": now,
                 "totalTimeInMs": now - job["creationTime"]}
        job.update(status="SUCCEEDED", updateTime=now, metrics={
            "totalTime": spent, "profileSegmentationTime": spent,
            "totalProfiles": len(profiles), "segmentedProfileCounter": counts,
            "segmentedProfileByStatusCounter": {s: {"realized": n, "exited": 0}
                                                for s, n in counts.items()}})


    def preview(self, body: Any) -> dict[str, Any]:
        """Check and store a preview (state NEW); what ``POST /preview`` answers."""
        if not isinstance(body, dict) or set(body) - PREVIEW_KEYS:
            raise Invalid(f"The request body must be an object with only "
                          f"{', '.join(sorted(PREVIEW_KEYS))}")
        if body.get("predicateType") != "pql/text":
            raise Invalid("'predicateType' must be pql/text")
        if body.get("predicateModel") != PROFILE_SCHEMA:
            raise Invalid(f"'predicateModel' must be {PROFILE_SCHEMA}")
        if body.get("graphType", "none") not in ("none", "pdg"):
            raise Invalid("'graphType' must be none or pdg")
        rule = parse_pql(body.get("predicateExpression"), self.tenant)
        preview_id = base64.b64encode(f"app-{uuid.uuid4()}:0".encode()).decode().rstrip("=")
        self.previews[preview_id] = {"rule": rule, "state": "NEW", "polls": 0}
        return {"state": "NEW", "previewQueryId": str(uuid.uuid4()), "previewQueryStatus": "NEW",
                "previewId": preview_id, "previewExecutionId": len(self.previews)}

    def read_preview(self, preview_id: str, estimate: bool) -> dict[str, Any]:
        """``GET /preview/{id}`` (``estimate`` False) or ``GET /estimate/{id}``, one read on."""
        preview = self.previews.get(preview_id)
        if preview is None:
            raise LookupError(f"Preview '{preview_id}' was not found")
        preview["polls"] += 1
        ready = preview["polls"] > self.job_polls
        preview["state"] = "RESULT_READY" if ready else "RUNNING"
        profiles = self.evaluated()
        matched = [p for p in profiles if matches(p, preview["rule"])] if ready else []
        read = len(profiles) if ready else 0
        if not estimate:
            return {"results": copy.deepcopy(matched), "state": preview["state"],
                    "links": {"_self": f"{BASE}/preview/{preview_id}", "next": "", "prev": ""},
                    "page": {"offset": 0, "size": len(matched)}}
        return {"estimatedSize": len(matched), "numRowsToRead": len(profiles),
                "estimatedNamespaceDistribution": [], "state": preview["state"],
                "profilesReadSoFar": read, "standardError": 0.0,
                "error": {"description": "", "traceback": ""},
                "profilesMatchedSoFar": len(matched), "totalRows": len(profiles),
                "confidenceInterval": "95%",
                "_links": {"preview": f"{BASE}/preview/{preview_id}"}}


class Conflict(Invalid):
    """A definition whose name is taken (answered 409)."""


def segmentation(emu: Emulator) -> Segmentation:
    """The Segmentation Service of ``emu`` (created on first use)."""
    return emu.service_state("segments", lambda: Segmentation(emu))


def seed_profiles(emu: Emulator, profiles: Iterable[Mapping[str, Any]]) -> None:
    """Replace the profiles jobs and previews evaluate (XDM: ``{"_<tenant>": {"score": 0.9}}``)."""
    store = segmentation(emu)
    with store.lock:
        store.profiles = [copy.deepcopy(dict(p)) for p in profiles]


def dataset_profiles(emu: Emulator) -> list[dict[str, Any]]:
    """The profiles of the Profile-enabled datasets (see the module docstring), as XDM
    ``{"_<tenant>": {<column>: value, ...}}``, in the order their identities were first read."""
    store, reg = catalog(emu), registry(emu)
    store.sync()
    tenant = emu.org_id.split("@")[0].lower()
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for record in list(store.datasets.values()):
        tags = record["tags"]
        if "enabled:true" not in tags.get("unifiedProfile", []) or PQS_TAG not in tags:
            continue
        descriptor = reg.primary(str((record.get("schemaRef") or {}).get("id")))
        if descriptor is None:
            continue
        column = str(descriptor["xdm:sourceProperty"]).rsplit("/", 1)[-1]
        for row in emu.engine.read_table(tags[PQS_TAG][0]).to_pylist():
            if row.get(column) is not None:
                key = (str(descriptor.get("xdm:namespace")), str(row[column]))
                merged.setdefault(key, {}).update(
                    {name: value for name, value in row.items() if value is not None})
    return [{f"_{tenant}": fields} for fields in merged.values()]


def parse_pql(text: Any, tenant: str) -> list[Comparison]:
    """The comparisons of a PQL conjunction on ``_<tenant>`` fields.

    >>> parse_pql("_t.score >= 0.5 and _t.score < 1", "t")
    [(('_t', 'score'), '>=', 0.5), (('_t', 'score'), '<', 1.0)]

    Raises:
        Invalid: the text is not such a conjunction, or names another tenant.
    """
    if not isinstance(text, str) or not text.strip():
        raise Invalid("'expression.value' must be a non-empty PQL string")
    rule = []
    for part in re.split(r"\s+and\s+", text.strip()):
        match = _COMPARISON.fullmatch(part.strip())
        if match is None:
            raise Invalid(f"Invalid PQL expression '{text}': cannot parse '{part.strip()}' "
                          "(expected _<tenant>.<field> <op> <number>, joined by 'and')")
        path = tuple(match.group(1).split("."))
        if path[0] != f"_{tenant}":
            raise Invalid(f"Invalid PQL expression '{text}': '{path[0]}' is not this org's "
                          f"tenant namespace _{tenant}")
        rule.append((path, match.group(2), float(match.group(3))))
    return rule


def matches(profile: Mapping[str, Any], rule: list[Comparison]) -> bool:
    """Whether every comparison of ``rule`` holds for ``profile`` (a missing field: no)."""
    for path, op, number in rule:
        value: Any = profile
        for key in path:
            value = value.get(key) if isinstance(value, Mapping) else None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if not OPS[op](float(value), number):
            return False
    return True


def _evaluation(info: Any) -> None:
    if not isinstance(info, dict) or set(info) - EVALUATION_KINDS:
        raise Invalid(f"'evaluationInfo' may only have {', '.join(sorted(EVALUATION_KINDS))}")
    for kind, value in info.items():
        if not isinstance(value, dict) or not isinstance(value.get("enabled"), bool):
            raise Invalid(f"'evaluationInfo.{kind}' must be {{\"enabled\": true|false}}")


# -- HTTP --------------------------------------------------------------------------------
def _page(store: Segmentation, request: Request) -> dict[str, Any]:
    """One page of ``GET /segment/definitions`` (see the module docstring)."""
    allowed = {"start", "limit", "sort", "evaluationInfo.continuous.enabled"}
    unknown = sorted(set(request.query) - allowed)
    if unknown:
        raise Invalid(f"Unknown query parameter(s) {', '.join(unknown)}; allowed: "
                      f"{', '.join(sorted(allowed))}")
    start, limit = request.param("start", "0") or "", request.param("limit", "20") or ""
    if not (start.isdigit() and limit.isdigit() and 0 < int(limit) <= 100):
        raise Invalid(f"start must be >= 0 and limit 1-100, got start={start!r} limit={limit!r}")
    items = list(store.definitions.values())
    continuous = request.param("evaluationInfo.continuous.enabled")
    if continuous is not None:
        if continuous not in ("true", "false"):
            raise Invalid("evaluationInfo.continuous.enabled must be true or false")
        items = [d for d in items if (d["evaluationInfo"].get("continuous") or {}).get(
            "enabled", False) == (continuous == "true")]
    field, _, order = (request.param("sort") or "updateTime:desc").partition(":")
    if field not in ("name", "creationTime", "updateTime") or order not in ("asc", "desc"):
        raise Invalid("sort must be name, creationTime or updateTime, then :asc or :desc")
    made = {d["id"]: n for n, d in enumerate(store.definitions.values())}  # ties: creation order
    items.sort(key=lambda d: (d[field], made[d["id"]]), reverse=order == "desc")
    s, n = int(start), int(limit)
    return {"segments": items[s:s + n], "page": {
        "totalCount": len(items), "totalPages": -(-len(items) // n), "sortField": field,
        "sort": order, "pageSize": len(items[s:s + n]), "limit": n}, "link": {}}


def register(router: Router, emu: Emulator) -> None:
    """Add the segment definition, segment job, preview and estimate paths."""
    store = segmentation(emu)

    def guarded(fn: Any) -> Any:
        def handler(request: Request, params: dict[str, str]) -> Response:
            with store.lock:
                try:
                    return fn(request, params)
                except Conflict as exc:
                    return problem(409, "Conflict", str(exc))
                except Invalid as exc:
                    return problem(400, "BadRequestError", str(exc))
        return handler

    def create_definition(request: Request, params: dict[str, str]) -> Response:
        return Response(200, store.define(request.json))

    def list_definitions(request: Request, params: dict[str, str]) -> Response:
        return Response(200, _page(store, request))

    def get_definition(request: Request, params: dict[str, str]) -> Response:
        definition = store.definitions.get(params["id"])
        if definition is None:
            return problem(404, "NotFoundError",
                           f"Segment definition '{params['id']}' was not found")
        return Response(200, definition)

    def create_job(request: Request, params: dict[str, str]) -> Response:
        return Response(200, store.view(store.start_job(request.json)))

    def get_job(request: Request, params: dict[str, str]) -> Response:
        job = store.jobs.get(params["id"])
        if job is None:
            return problem(404, "NotFoundError", f"Segment job '{params['id']}' was not found")
        return Response(200, store.poll(job))

    def create_preview(request: Request, params: dict[str, str]) -> Response:
        return Response(201, store.preview(request.json))

    def read(estimate: bool) -> Any:
        def handler(request: Request, params: dict[str, str]) -> Response:
            try:
                return Response(200, store.read_preview(params["id"], estimate))
            except LookupError as exc:
                return problem(404, "NotFoundError", str(exc))
        return handler

    router.add("POST", f"{BASE}/segment/definitions", guarded(create_definition))
    router.add("GET", f"{BASE}/segment/definitions", guarded(list_definitions))
    router.add("GET", f"{BASE}/segment/definitions/{{id}}", guarded(get_definition))
    router.add("POST", f"{BASE}/segment/jobs", guarded(create_job))
    router.add("GET", f"{BASE}/segment/jobs/{{id}}", guarded(get_job))
    router.add("POST", f"{BASE}/preview", guarded(create_preview))
    router.add("GET", f"{BASE}/preview/{{id}}", guarded(read(estimate=False)))
    router.add("GET", f"{BASE}/estimate/{{id}}", guarded(read(estimate=True)))
