"""The emulated Flow Service and ad hoc dataset export (contract §5, §6).

Objects (base ``/data/foundation/flowservice``): ``connections`` (base connections with the
destination's auth), ``sourceConnections`` (the ``activation-datalake`` spec reading Catalog
datasets), ``targetConnections`` (bucket/container/path, format, compression), ``flows`` and
``runs``. Creates answer ``{"id", "etag"}``; gets answer ``{"items": [obj]}``; lists answer
``{"items": [...], "_links": {"next": {"href"}}}`` filtered by ``property=a.b==value``. Every
payload is checked as strictly as the real service would: unknown spec ids, a flow spec that
does not match its target connection's spec, missing or unknown params, an invalid schedule, a
PATCH without ``If-Match`` or with a stale etag, and deleting a connection a flow still uses.

``POST /data/core/activation/disflowprovider/adhocrun`` (Accept
``application/vnd.adobe.adhoc.dataset.activation+json; version=1``) really exports: it reads the
dataset's table (Catalog tag ``adobe/pqs/table``) from the SQL engine and writes Spark-style part
files under ``landing_dir()/<container or bucket>/<path>/<datasetId>/exportTime=…/``; the run
reports ``inProgress`` for ``run_polls`` GETs, then ``success`` with metrics matching the files.

Test knobs on :class:`FlowService` (``flowservice(emu)``): ``not_ready`` (ad hoc calls per new
flow answered "not ready"), ``fail_runs`` / ``fail_message`` (runs that fail), ``run_polls``,
``rows_per_file``, ``page_size``, ``ineligible`` (dataset ids not offered for export).
"""

from __future__ import annotations

import copy
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from destinations.files import write_export
from destinations.types import (ADHOC_ACCEPT, ADHOC_RUN, DESTINATION_TYPES, FLOWSERVICE,
                                NOT_READY, SOURCE_SPEC_ID, SOURCE_SPEC_NAME, by_connection_spec,
                                schedule_problem)
from aep_emulator.catalog import PQS_TAG, catalog
from aep_emulator.server import Request, Response, Router, problem

if TYPE_CHECKING:
    from aep_emulator.server import Emulator

KINDS = ("connections", "sourceConnections", "targetConnections", "flows", "runs")
SIX_MONTHS = 182 * 86400
_READONLY = {"id", "etag", "createdAt", "updatedAt", "createdBy", "updatedBy", "createdClient",
             "sandboxId", "sandboxName", "imsOrgId", "connectionSpec", "flowSpec", "state",
             "inheritedAttributes"}


class Invalid(Exception):
    """A request the service refuses: becomes an RFC 7807 400 body."""


def _bad(detail: str) -> Response:
    return problem(400, "BadRequestError", detail)


def _need(obj: Any, dotted: str) -> Any:
    """``obj[a][b]…`` for ``a.b…``; Invalid naming the field when it is missing or empty."""
    for part in dotted.split("."):
        if not isinstance(obj, dict) or obj.get(part) in (None, "", [], {}):
            raise Invalid(f"Required field '{dotted}' is missing")
        obj = obj[part]
    return obj


def _lookup(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


class FlowService:
    """The Flow Service objects of one emulated sandbox."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.objects: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in KINDS}
        self.lock = threading.RLock()
        self.not_ready = 0
        self.fail_runs = 0
        self.fail_message = "Export failed: destination rejected the write"
        self.run_polls = 1
        self.rows_per_file = 1_000_000
        self.page_size = 25
        self.ineligible: set[str] = set()
        self._not_ready: dict[str, int] = {}
        self._polls: dict[str, int] = {}
        self._outcome: dict[str, dict[str, Any]] = {}
        self._default_end: dict[str, int] = {}

    # -- objects -----------------------------------------------------------------------------
    def new(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        now = int(time.time() * 1000)
        obj = {**copy.deepcopy(body), "id": str(uuid.uuid4()), "createdAt": now, "updatedAt": now,
               "createdBy": f"{self.emu.client_id}@AdobeID", "updatedBy": f"{self.emu.client_id}@AdobeID",
               "createdClient": self.emu.client_id, "sandboxName": self.emu.sandbox,
               "imsOrgId": self.emu.org_id, "etag": f'"{uuid.uuid4()}"'}
        self.objects[kind][obj["id"]] = obj
        return obj

    def get(self, kind: str, obj_id: str) -> dict[str, Any]:
        obj = self.objects[kind].get(obj_id)
        if obj is None:
            raise LookupError(f"{kind[:-1]} '{obj_id}' was not found")
        return obj

    def users(self, kind: str, obj_id: str) -> list[str]:
        """Ids of the objects that still reference ``obj_id`` (so it cannot be deleted)."""
        if kind == "connections":
            return [t["id"] for t in self.objects["targetConnections"].values()
                    if t.get("baseConnectionId") == obj_id]
        field = {"sourceConnections": "sourceConnectionIds",
                 "targetConnections": "targetConnectionIds"}.get(kind)
        return [f["id"] for f in self.objects["flows"].values() if obj_id in f.get(field or "", [])]

    def public(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` as GET shows it: a base connection's secret auth params are not returned."""
        if kind != "connections" or not obj.get("auth"):
            return obj
        dtype = by_connection_spec(obj["connectionSpec"]["id"])
        secret = {api for a in (dtype.auths if dtype else ()) for api, key in a.params.items()
                  if key.endswith("_env")}
        params = {k: v for k, v in obj["auth"].get("params", {}).items() if k not in secret}
        return {**obj, "auth": {**obj["auth"], "params": params}}

    # -- validation (each raises Invalid) ------------------------------------------------------
    def check(self, kind: str, body: Any) -> None:
        if not isinstance(body, dict):
            raise Invalid("The request body must be a JSON object")
        _need(body, "name")
        getattr(self, f"_check_{kind}")(body)

    def _check_connections(self, body: dict[str, Any]) -> None:
        spec_id = _need(body, "connectionSpec.id")
        dtype = by_connection_spec(spec_id)
        if dtype is None:
            raise Invalid(f"Connection spec '{spec_id}' is not a destination connection spec")
        auth = body.get("auth")
        if not dtype.auths:
            if auth:
                raise Invalid(f"Connection spec '{spec_id}' takes no auth (authSpec is empty)")
            return
        name = _need(body, "auth.specName")
        chosen = next((a for a in dtype.auths if a.spec_name == name), None)
        if chosen is None:
            names = ", ".join(a.spec_name for a in dtype.auths)
            raise Invalid(f"auth.specName '{name}' is not valid for {dtype.title} (one of: {names})")
        self._exact(auth.get("params") or {}, set(chosen.params), "auth.params")

    def _check_sourceConnections(self, body: dict[str, Any]) -> None:
        spec_id = _need(body, "connectionSpec.id")
        if spec_id != SOURCE_SPEC_ID:
            raise Invalid(f"Connection spec '{spec_id}' cannot be used for a dataset export source "
                          f"connection; use {SOURCE_SPEC_ID} ({SOURCE_SPEC_NAME})")
        datasets = _need(body, "params.datasets")
        for item in datasets if isinstance(datasets, list) else [None]:
            ds_id = _need(item, "dataSetId")
            if catalog(self.emu).get(ds_id) is None:
                raise Invalid(f"Dataset '{ds_id}' does not exist in sandbox {self.emu.sandbox}")

    def _check_targetConnections(self, body: dict[str, Any]) -> None:
        spec_id = _need(body, "connectionSpec.id")
        dtype = by_connection_spec(spec_id)
        if dtype is None:
            raise Invalid(f"Connection spec '{spec_id}' is not a destination connection spec")
        base_id = _need(body, "baseConnectionId")
        base = self.objects["connections"].get(base_id)
        if base is None:
            raise Invalid(f"Base connection '{base_id}' was not found")
        if base["connectionSpec"]["id"] != spec_id:
            raise Invalid(f"Base connection '{base_id}' has connection spec "
                          f"'{base['connectionSpec']['id']}', not '{spec_id}'")
        params = _need(body, "params")
        self._exact(params, {"mode", "datasetFileType", "compression", *dtype.target_params},
                    "params")
        if params["mode"] != "Server-to-server":
            raise Invalid(f"params.mode must be 'Server-to-server', got {params['mode']!r}")
        fmt, comp = str(params["datasetFileType"]).upper(), str(params["compression"]).upper()
        if fmt not in ("JSON", "PARQUET") or comp not in ("NONE", "GZIP"):
            raise Invalid("params.datasetFileType must be JSON or PARQUET and params.compression "
                          "NONE or GZIP")
        if (fmt, comp) == ("JSON", "NONE"):
            raise Invalid("JSON files can only be exported compressed: set compression GZIP")

    def _check_flows(self, body: dict[str, Any]) -> None:
        spec_id = _need(body, "flowSpec.id")
        if spec_id not in {t.flow_spec for t in DESTINATION_TYPES.values()}:
            raise Invalid(f"Flow spec '{spec_id}' was not found")
        sources, targets = _need(body, "sourceConnectionIds"), _need(body, "targetConnectionIds")
        if len(sources) != 1:
            raise Invalid("A dataset export flow takes exactly one source connection")
        source = self.objects["sourceConnections"].get(sources[0])
        if source is None:
            raise Invalid(f"Source connection '{sources[0]}' was not found")
        for target_id in targets:
            target = self.objects["targetConnections"].get(target_id)
            if target is None:
                raise Invalid(f"Target connection '{target_id}' was not found")
            tspec = target["connectionSpec"]["id"]
            if by_connection_spec(tspec).flow_spec != spec_id:  # type: ignore[union-attr]
                raise Invalid(f"Flow spec '{spec_id}' does not support target connection spec "
                              f"'{tspec}'")
        if not isinstance(body.get("transformations", []), list):
            raise Invalid("transformations must be a list")
        sched = _need(body, "scheduleParams")
        start = _need(sched, "startTime")
        if not isinstance(start, int) or not isinstance(sched.get("interval"), int):
            raise Invalid("scheduleParams.startTime (unix seconds) and interval must be integers")
        reason = schedule_problem(_need(sched, "timeUnit"), sched["interval"],
                                  sched.get("exportMode"))
        if reason:
            raise Invalid(f"scheduleParams: {reason}")
        end = sched.get("endTime")
        # The server's own default end (six months after creation) may precede a far start.
        if end is not None and end <= start and end != self._default_end.get(body.get("id")):
            raise Invalid("scheduleParams.endTime must be after startTime")

    @staticmethod
    def _exact(params: dict[str, Any], expected: set[str], where: str) -> None:
        missing = sorted(k for k in expected if not params.get(k))
        unknown = sorted(set(params) - expected)
        if missing or unknown:
            raise Invalid(f"{where}: missing {missing or 'nothing'}, unknown {unknown or 'nothing'}"
                          f" (expected {', '.join(sorted(expected))})")

    # -- ad hoc export -------------------------------------------------------------------------
    def adhoc(self, body: Any) -> dict[str, Any]:
        destinations = _need({"b": body}, "b.activationInfo.destinations")
        answer = []
        for dest in destinations:
            flow = self.get("flows", _need(dest, "flowId"))
            if flow["state"] != "enabled":
                raise Invalid(f"Flow '{flow['id']}' is disabled; enable it first")
            source = self.get("sourceConnections", flow["sourceConnectionIds"][0])
            allowed = {d["dataSetId"] for d in source["params"]["datasets"]}
            if self._not_ready.get(flow["id"], 0) > 0:
                self._not_ready[flow["id"]] -= 1
                raise Invalid(f"{NOT_READY}: {flow['id']}")
            runs = []
            for item in _need(dest, "datasets"):
                ds_id = _need(item, "id")
                if ds_id not in allowed:
                    raise Invalid(f"Dataset '{ds_id}' is not a source of flow '{flow['id']}'")
                run = self.start_run(flow, ds_id)
                runs.append({"id": ds_id, "statusURL": f"{self.emu.url}{FLOWSERVICE}/runs/{run['id']}"})
            answer.append({"flowId": flow["id"], "datasets": runs})
        return {"destinations": answer}

    def start_run(self, flow: dict[str, Any], ds_id: str) -> dict[str, Any]:
        started = int(time.time() * 1000)
        run = self.new("runs", {"flowId": flow["id"], "flowSpec": flow["flowSpec"],
                                "providerRefId": str(uuid.uuid4()),
                                "statusSummary": {"status": "inProgress"},
                                "metrics": {"durationSummary": {"startedAtUTC": started}},
                                "activities": []})
        target = self.get("targetConnections", flow["targetConnectionIds"][0])
        base = self.get("connections", target["baseConnectionId"])
        try:
            if self.fail_runs > 0:
                self.fail_runs -= 1
                raise RuntimeError(self.fail_message)
            record = catalog(self.emu).get(ds_id)
            if record is None:
                raise RuntimeError(f"Dataset '{ds_id}' no longer exists")
            table = self.emu.read_table(record["tags"][PQS_TAG][0])
            dtype = by_connection_spec(target["connectionSpec"]["id"])
            root = dtype.landing_root(target["params"], (base.get("auth") or {}).get("params") or {})
            params = target["params"]
            files = write_export(table, self.emu.landing_dir() / root / ds_id, started / 1000,
                                 params["datasetFileType"].lower(), params["compression"].lower(),
                                 run_id=run["providerRefId"], rows_per_file=self.rows_per_file)
            size = sum(f.stat().st_size for f in files)
            status = {"status": "success"}
            summary = {"recordSummary": {"inputRecordCount": table.num_rows,
                                         "outputRecordCount": table.num_rows,
                                         "skippedRecordCount": 0, "sourceSummaries": []},
                       "sizeSummary": {"inputBytes": size, "outputBytes": size},
                       "fileSummary": {"outputFileCount": len(files)}}
        except Exception as exc:  # the run fails; the API call itself succeeded
            status = {"status": "failed", "errors": [{"code": "EXPORT-500", "message": str(exc)}]}
            summary = {"recordSummary": {"inputRecordCount": 0, "outputRecordCount": 0,
                                         "skippedRecordCount": 0, "sourceSummaries": []}}
        self._outcome[run["id"]] = {"statusSummary": status, "metrics": summary}
        self._polls[run["id"]] = self.run_polls
        return run

    def poll(self, run: dict[str, Any]) -> dict[str, Any]:
        """A run as one GET sees it: ``inProgress`` for ``run_polls`` GETs, then its outcome."""
        if self._polls.get(run["id"], 0) > 0:
            self._polls[run["id"]] -= 1
        elif run["id"] in self._outcome:
            outcome = self._outcome.pop(run["id"])
            run["statusSummary"] = outcome["statusSummary"]
            run["metrics"] = {**run["metrics"], **outcome["metrics"]}
            run["metrics"]["durationSummary"]["completedAtUTC"] = int(time.time() * 1000)
            run["updatedAt"] = run["metrics"]["durationSummary"]["completedAtUTC"]
        return run


def flowservice(emu: Emulator) -> FlowService:
    """The Flow Service of ``emu`` (created on first use)."""
    with emu._lock:
        return emu.state.setdefault("flowservice", FlowService(emu))


def _connection_specs() -> list[dict[str, Any]]:
    specs = [{"id": SOURCE_SPEC_ID, "name": SOURCE_SPEC_NAME, "providerId": str(uuid.UUID(int=1)),
              "version": "1.0", "authSpec": [], "attributes": {"category": "database"}}]
    for t in DESTINATION_TYPES.values():
        specs.append({
            "id": t.connection_spec, "name": t.title, "providerId": str(uuid.UUID(int=2)),
            "version": "1.0", "attributes": {"category": "cloudStorage", "isDestination": True},
            "authSpec": [{"name": a.spec_name, "type": a.spec_name,
                          "spec": {"required": sorted(a.params)}} for a in t.auths],
            "targetSpec": {"spec": {"required": ["mode", "datasetFileType", "compression",
                                                 *t.target_params]}}})
    return specs


def _filtered(items: list[dict[str, Any]], request: Request) -> list[dict[str, Any]] | Response:
    """``items`` that satisfy every ``property=a.b==v`` / ``a.b!=v`` filter of the request."""
    for prop in request.query.get("property", []):
        op = "!=" if "!=" in prop else "=="
        if op not in prop:
            return _bad(f"Invalid property filter '{prop}': expected path==value or path!=value")
        path, _, value = prop.partition(op)

        def hit(item: dict[str, Any], path: str = path, value: str = value) -> bool:
            got = _lookup(item, path.strip())
            values = got if isinstance(got, list) else [got]
            return value in [str(v).lower() if isinstance(v, bool) else str(v) for v in values]

        items = [i for i in items if hit(i) == (op == "==")]
    return items


def register(router: Router, emu: Emulator) -> None:
    """Add the Flow Service paths and the ad hoc run."""
    fs = flowservice(emu)

    def answer(fn: Any) -> Any:
        """Turn Invalid into 400 and LookupError into 404, under the service lock."""
        def handler(request: Request, params: dict[str, str]) -> Response:
            try:
                with fs.lock:
                    return fn(request, params)
            except Invalid as exc:
                return _bad(str(exc))
            except LookupError as exc:
                return problem(404, "NotFoundError", str(exc).strip("'\""))
        return handler

    def listing(kind: str) -> Any:
        def list_objects(request: Request, params: dict[str, str]) -> Response:
            items = _filtered([fs.public(kind, o) for o in fs.objects[kind].values()], request)
            if isinstance(items, Response):
                return items
            token = request.param("continuationToken", "0")
            limit = request.param("limit", str(fs.page_size))
            if not (token.isdigit() and limit.isdigit() and 0 < int(limit) <= 100):
                return _bad("limit must be 1-100 and continuationToken one this service issued")
            start, size = int(token), int(limit)
            body: dict[str, Any] = {"items": items[start:start + size], "_links": {}}
            if start + size < len(items):
                query = {k: v for k, v in request.query.items() if k != "continuationToken"}
                query["continuationToken"] = [str(start + size)]
                body["_links"]["next"] = {"href": f"{FLOWSERVICE}/{kind}?"
                                                  f"{urlencode(query, doseq=True)}"}
            return Response(200, body)
        return list_objects

    def create(kind: str) -> Any:
        def create_object(request: Request, params: dict[str, str]) -> Response:
            fs.check(kind, request.json)
            obj = fs.new(kind, request.json)
            if kind == "flows":
                obj["state"] = "enabled"
                obj.setdefault("transformations", [])
                sched = obj["scheduleParams"]
                if "endTime" not in sched:
                    sched["endTime"] = fs._default_end[obj["id"]] = (obj["createdAt"] // 1000
                                                                     + SIX_MONTHS)
                obj["inheritedAttributes"] = {"properties": {"isDestinationFlow": True}}
                fs._not_ready[obj["id"]] = fs.not_ready
            return Response(200, {"id": obj["id"], "etag": obj["etag"]})
        return create_object

    def get_one(kind: str) -> Any:
        def get_object(request: Request, params: dict[str, str]) -> Response:
            obj = fs.get(kind, params["id"])
            if kind == "runs":
                obj = fs.poll(obj)
            return Response(200, {"items": [fs.public(kind, obj)]})
        return get_object

    def delete(kind: str) -> Any:
        def delete_object(request: Request, params: dict[str, str]) -> Response:
            fs.get(kind, params["id"])
            users = fs.users(kind, params["id"])
            if users:
                raise Invalid(f"{kind[:-1]} '{params['id']}' is used by {', '.join(users)}; "
                              "delete those first")
            del fs.objects[kind][params["id"]]
            return Response(204)
        return delete_object

    def patch(kind: str) -> Any:
        def patch_object(request: Request, params: dict[str, str]) -> Response:
            obj = fs.get(kind, params["id"])
            etag = request.headers.get("if-match")
            if not etag:
                raise Invalid("The If-Match header is required (the object's etag)")
            if etag.strip('"') != obj["etag"].strip('"'):
                return problem(412, "PreconditionFailed", f"If-Match {etag} does not match the "
                               f"current etag of {kind[:-1]} '{obj['id']}'")
            ops = request.json
            if not isinstance(ops, list) or not ops:
                raise Invalid("The body must be a non-empty JSON Patch list")
            updated = copy.deepcopy(obj)
            for op in ops:
                if not isinstance(op, dict) or str(op.get("op")).lower() not in ("replace", "add"):
                    raise Invalid(f"Unsupported patch operation {op!r}: use replace or add")
                keys = str(op.get("path", "")).strip("/").split("/")
                if keys[0] in _READONLY or not keys[0]:
                    raise Invalid(f"Path '{op.get('path')}' cannot be patched")
                node = updated
                for key in keys[:-1]:
                    node = node.setdefault(key, {})
                node[keys[-1]] = copy.deepcopy(op.get("value"))
            fs.check(kind, updated)
            updated.update(etag=f'"{uuid.uuid4()}"', updatedAt=int(time.time() * 1000))
            fs.objects[kind][obj["id"]] = updated
            return Response(200, {"id": obj["id"], "etag": updated["etag"]})
        return patch_object

    def action(request: Request, params: dict[str, str]) -> Response:
        flow = fs.get("flows", params["id"])
        op = request.param("op")
        if op not in ("enable", "disable"):
            raise Invalid(f"Query parameter op must be enable or disable, got {op!r}")
        if request.body:
            raise Invalid("A flow action takes no request body")
        flow.update(state=f"{op}d", etag=f'"{uuid.uuid4()}"')
        return Response(200, {"id": flow["id"], "etag": flow["etag"]})

    def list_specs(request: Request, params: dict[str, str]) -> Response:
        items = _filtered(_connection_specs(), request)
        return items if isinstance(items, Response) else Response(200, {"items": items})

    def get_spec(request: Request, params: dict[str, str]) -> Response:
        spec = next((s for s in _connection_specs() if s["id"] == params["id"]), None)
        if spec is None:
            raise LookupError(f"Connection spec '{params['id']}' was not found")
        return Response(200, {"items": [spec]})

    def spec_configs(request: Request, params: dict[str, str]) -> Response:
        if params["id"] != SOURCE_SPEC_ID:
            raise Invalid(f"Connection spec '{params['id']}' has no activationDatasets configs")
        if request.param("outputType") != "activationDatasets":
            raise Invalid("Query parameter outputType must be activationDatasets")
        start, limit = request.param("start", "0"), request.param("limit", "20")
        if not (start.isdigit() and limit.isdigit() and 0 < int(limit) <= 100):
            raise Invalid("start must be >= 0 and limit 1-100")
        cat = catalog(emu)
        cat.sync()
        with cat._lock:
            items = [{"id": k, "name": v["name"], "description": v.get("description", ""),
                      "fileDescription": {"persisted": True, "containerFormat": "parquet",
                                          "format": "parquet"},
                      "aspect": "production", "state": "ENABLED"}
                     for k, v in cat.datasets.items() if k not in fs.ineligible]
        s, n = int(start), int(limit)
        page = items[s:s + n]
        return Response(200, {"items": page, "pageInfo": {
            "start": s, "end": s + len(page), "total": len(items), "hasNext": s + n < len(items)}})

    def adhoc(request: Request, params: dict[str, str]) -> Response:
        accept = request.headers.get("accept", "").replace(" ", "").lower()
        if accept != ADHOC_ACCEPT.replace(" ", "").lower():
            return problem(406, "NotAcceptable", f"Accept must be '{ADHOC_ACCEPT}' for ad hoc "
                           f"dataset export, got '{request.headers.get('accept', '')}'")
        return Response(200, fs.adhoc(request.json))

    base = FLOWSERVICE
    router.add("GET", f"{base}/connectionSpecs", answer(list_specs))
    router.add("GET", f"{base}/connectionSpecs/{{id}}", answer(get_spec))
    router.add("GET", f"{base}/connectionSpecs/{{id}}/configs", answer(spec_configs))
    for kind in KINDS:
        router.add("GET", f"{base}/{kind}", answer(listing(kind)))
        router.add("GET", f"{base}/{kind}/{{id}}", answer(get_one(kind)))
        if kind != "runs":
            router.add("POST", f"{base}/{kind}", answer(create(kind)))
            router.add("DELETE", f"{base}/{kind}/{{id}}", answer(delete(kind)))
            router.add("PATCH", f"{base}/{kind}/{{id}}", answer(patch(kind)))
    router.add("POST", f"{base}/flows/{{id}}/action", answer(action))
    router.add("POST", ADHOC_RUN, answer(adhoc))
