"""The emulated Flow Service objects and the checks on them (contract §5).

Objects (base ``/data/foundation/flowservice``): ``connections`` (base connections with the
destination's auth), ``sourceConnections`` (the ``activation-datalake`` spec reading Catalog
datasets, or the Profile store of an audience activation), ``targetConnections``
(bucket/container/path, format, compression), ``flows`` and ``runs``.

Two kinds of destination flow share the destinations' connection and flow specs (the
file-based audience tutorial uses the dataset export's flow spec ids): a **dataset export**
(an ``activation-datalake`` source with ``params.datasets``, a target with ``datasetFileType``)
and an **audience activation** (a Profile-store source, spec ``8a9c3494-…``, with
``data: {"format": "CSV", "schema": null}`` and empty ``params``; a target with ``fileType``
``CSV``/``JSON``/``PARQUET``, ``csvOptions`` only with CSV). A flow joins a source and a target
of the same kind. An audience flow created with ``transformations: []`` is given its
``transformations[0]``, a ``GeneralTransform`` with empty ``segmentSelectors`` and
``profileSelectors``: the tutorial creates the flow with ``[]`` and then patches
``/transformations/0/params/…`` [inferred]. A dataset export flow takes no segment selectors. Every payload is checked as strictly as the real service would: unknown spec ids, a
flow spec that does not match its target connection's spec, missing or unknown params, an
invalid schedule, a PATCH without ``If-Match`` or with a stale etag, and deleting a connection
a flow still uses. The ids and rules come from :mod:`aep_emulator.specs`; the HTTP paths are in
:mod:`aep_emulator.flowroutes` and the ad hoc export in :mod:`aep_emulator.exports`.

A JSON Patch ``replace`` of ``/scheduleParams`` merges its keys into the flow's schedule: the
contract's own example (§5.3) and aepp's ``createFlowRun`` send only ``startTime`` [inferred].

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

from .catalog import catalog
from .specs import (AUDIENCE_FILE_TYPES, DESTINATIONS, PROFILE_SPEC_ID, SOURCE_SPEC_ID,
                    SOURCE_SPEC_NAME, destination, schedule_problem)

if TYPE_CHECKING:
    from .server import Emulator

KINDS = ("connections", "sourceConnections", "targetConnections", "flows", "runs")
SIX_MONTHS = 182 * 86400
#: The CSV options of an audience target connection's targetSpec (file-based tutorial).
CSV_OPTIONS = frozenset({"quote", "escape", "delimiter", "nullValue", "emptyValue"})
_READONLY = {"id", "etag", "createdAt", "updatedAt", "createdBy", "updatedBy", "createdClient",
             "sandboxId", "sandboxName", "imsOrgId", "connectionSpec", "flowSpec", "state",
             "inheritedAttributes"}


class Invalid(Exception):
    """A request the service refuses: becomes an RFC 7807 400 body."""


def need(obj: Any, dotted: str) -> Any:
    """``obj[a][b]…`` for ``a.b…``; Invalid naming the field when it is missing or empty."""
    for part in dotted.split("."):
        if not isinstance(obj, dict) or obj.get(part) in (None, "", [], {}):
            raise Invalid(f"Required field '{dotted}' is missing")
        obj = obj[part]
    return obj


def lookup(obj: Any, dotted: str) -> Any:
    """``obj[a][b]…`` for ``a.b…``, None where a step is missing."""
    for part in dotted.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def _exact(params: dict[str, Any], expected: set[str] | frozenset[str], where: str) -> None:
    missing = sorted(k for k in expected if not params.get(k))
    unknown = sorted(set(params) - set(expected))
    if missing or unknown:
        raise Invalid(f"{where}: missing {missing or 'nothing'}, unknown {unknown or 'nothing'}"
                      f" (expected {', '.join(sorted(expected))})")


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
        self.not_ready_left: dict[str, int] = {}
        self.polls_left: dict[str, int] = {}
        self.outcomes: dict[str, dict[str, Any]] = {}
        self.default_end: dict[str, int] = {}

    # -- objects -----------------------------------------------------------------------------
    def new(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """Store a new object of ``kind`` made of ``body`` and the server-side fields."""
        now = int(time.time() * 1000)
        user = f"{self.emu.client_id}@AdobeID"
        obj = {**copy.deepcopy(body), "id": str(uuid.uuid4()), "createdAt": now, "updatedAt": now,
               "createdBy": user, "updatedBy": user, "createdClient": self.emu.client_id,
               "sandboxName": self.emu.sandbox, "imsOrgId": self.emu.org_id,
               "etag": f'"{uuid.uuid4()}"'}
        self.objects[kind][obj["id"]] = obj
        return obj

    def created(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """Check ``body`` and store it; a flow starts enabled with its default end time."""
        self.check(kind, body)
        if kind == "flows":
            from .activation import check_selectors

            check_selectors(self.emu, body, audience=self.is_audience_flow(body))
        obj = self.new(kind, body)
        if kind == "flows":
            obj["state"] = "enabled"
            obj.setdefault("transformations", [])
            if self.is_audience_flow(obj) and not obj["transformations"]:
                obj["transformations"] = [{"name": "GeneralTransform", "params": {
                    "segmentSelectors": {"selectors": []},
                    "profileSelectors": {"selectors": []}}}]  # see the module docstring
            sched = obj["scheduleParams"]
            if "endTime" not in sched:
                sched["endTime"] = self.default_end[obj["id"]] = obj["createdAt"] // 1000 + SIX_MONTHS
            obj["inheritedAttributes"] = {"properties": {"isDestinationFlow": True}}
            self.not_ready_left[obj["id"]] = self.not_ready
        return obj

    def is_audience_flow(self, flow: dict[str, Any]) -> bool:
        """Whether ``flow`` reads the Profile store (activates audiences, not datasets)."""
        sources = flow.get("sourceConnectionIds") or [""]
        source = self.objects["sourceConnections"].get(sources[0]) or {}
        return lookup(source, "connectionSpec.id") == PROFILE_SPEC_ID

    def get(self, kind: str, obj_id: str) -> dict[str, Any]:
        """The object, or LookupError (a 404)."""
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
        dest = destination(obj["connectionSpec"]["id"])
        secret = {p for a in (dest.auths if dest else ()) for p in a.secret}
        params = {k: v for k, v in obj["auth"].get("params", {}).items() if k not in secret}
        return {**obj, "auth": {**obj["auth"], "params": params}}

    def patched(self, kind: str, obj: dict[str, Any], ops: Any) -> dict[str, Any]:
        """A checked copy of ``obj`` with the JSON Patch ``ops`` applied, new etag."""
        if not isinstance(ops, list) or not ops:
            raise Invalid("The body must be a non-empty JSON Patch list")
        from .activation import check_selectors, patch_transformation

        updated = copy.deepcopy(obj)
        for op in ops:
            if isinstance(op, dict) and str(op.get("path", "")).startswith("/transformations/"):
                patch_transformation(updated, op)  # segment selectors (§5), aep_emulator.activation
                continue
            if not isinstance(op, dict) or str(op.get("op")).lower() not in ("replace", "add"):
                raise Invalid(f"Unsupported patch operation {op!r}: use replace or add")
            keys = str(op.get("path", "")).strip("/").split("/")
            if keys[0] in _READONLY or not keys[0]:
                raise Invalid(f"Path '{op.get('path')}' cannot be patched")
            node = updated
            for key in keys[:-1]:
                node = node.setdefault(key, {})
            value = copy.deepcopy(op.get("value"))
            if keys == ["scheduleParams"] and isinstance(value, dict):
                value = {**node.get("scheduleParams", {}), **value}  # see the module docstring
            node[keys[-1]] = value
        self.check(kind, updated)
        if kind == "flows":
            check_selectors(self.emu, updated, audience=self.is_audience_flow(updated))
        updated.update(etag=f'"{uuid.uuid4()}"', updatedAt=int(time.time() * 1000))
        return updated

    # -- validation (each raises Invalid) ------------------------------------------------------
    def check(self, kind: str, body: Any) -> None:
        """Invalid unless ``body`` is a valid object of ``kind``."""
        if not isinstance(body, dict):
            raise Invalid("The request body must be a JSON object")
        need(body, "name")
        getattr(self, f"_check_{kind}")(body)

    def _check_connections(self, body: dict[str, Any]) -> None:
        spec_id = need(body, "connectionSpec.id")
        dest = destination(spec_id)
        if dest is None:
            raise Invalid(f"Connection spec '{spec_id}' is not a destination connection spec")
        auth = body.get("auth")
        if not dest.auths:
            if auth:
                raise Invalid(f"Connection spec '{spec_id}' takes no auth (authSpec is empty)")
            return
        name = need(body, "auth.specName")
        chosen = next((a for a in dest.auths if a.spec_name == name), None)
        if chosen is None:
            names = ", ".join(a.spec_name for a in dest.auths)
            raise Invalid(f"auth.specName '{name}' is not valid for {dest.title} (one of: {names})")
        _exact(auth.get("params") or {}, chosen.params, "auth.params")

    def _check_sourceConnections(self, body: dict[str, Any]) -> None:
        spec_id = need(body, "connectionSpec.id")
        if spec_id == PROFILE_SPEC_ID:  # an audience activation reads the Profile store
            data, params = body.get("data"), body.get("params", {})
            if not isinstance(data, dict) or set(data) - {"format", "schema"} or \
                    str(data.get("format", "")).upper() != "CSV" or \
                    data.get("schema") is not None:
                raise Invalid('A Profile store source connection takes data {"format": "CSV", '
                              f'"schema": null}}, got {data!r}')
            if params not in ({}, None):
                raise Invalid("A Profile store source connection takes empty params (it reads "
                              "profiles, not datasets)")
            return
        if spec_id != SOURCE_SPEC_ID:
            raise Invalid(f"Connection spec '{spec_id}' cannot be used for a dataset export source "
                          f"connection; use {SOURCE_SPEC_ID} ({SOURCE_SPEC_NAME})")
        datasets = need(body, "params.datasets")
        for item in datasets if isinstance(datasets, list) else [None]:
            ds_id = need(item, "dataSetId")
            if catalog(self.emu).get(ds_id) is None:
                raise Invalid(f"Dataset '{ds_id}' does not exist in sandbox {self.emu.sandbox}")

    def _check_targetConnections(self, body: dict[str, Any]) -> None:
        spec_id = need(body, "connectionSpec.id")
        dest = destination(spec_id)
        if dest is None:
            raise Invalid(f"Connection spec '{spec_id}' is not a destination connection spec")
        base_id = need(body, "baseConnectionId")
        base = self.objects["connections"].get(base_id)
        if base is None:
            raise Invalid(f"Base connection '{base_id}' was not found")
        if base["connectionSpec"]["id"] != spec_id:
            raise Invalid(f"Base connection '{base_id}' has connection spec "
                          f"'{base['connectionSpec']['id']}', not '{spec_id}'")
        params = need(body, "params")
        if not isinstance(params, dict):
            raise Invalid("params must be an object")
        if "fileType" in params:
            self._check_audience_target(params, dest.target_params)
            return
        _exact(params, {"mode", "datasetFileType", "compression", *dest.target_params}, "params")
        if params["mode"] != "Server-to-server":
            raise Invalid(f"params.mode must be 'Server-to-server', got {params['mode']!r}")
        fmt, comp = str(params["datasetFileType"]).upper(), str(params["compression"]).upper()
        if fmt not in ("JSON", "PARQUET") or comp not in ("NONE", "GZIP"):
            raise Invalid("params.datasetFileType must be JSON or PARQUET and params.compression "
                          "NONE or GZIP")
        if (fmt, comp) == ("JSON", "NONE"):
            raise Invalid("JSON files can only be exported compressed: set compression GZIP")

    @staticmethod
    def _check_audience_target(params: dict[str, Any], destination_params: frozenset[str]
                               ) -> None:
        """The params of an audience export's target connection (``fileType``, not
        ``datasetFileType``; ``csvOptions`` only with CSV)."""
        expected = {"mode", "fileType", "compression", *destination_params}
        _exact({k: v for k, v in params.items() if k != "csvOptions"}, expected, "params")
        if params["mode"] != "Server-to-server":
            raise Invalid(f"params.mode must be 'Server-to-server', got {params['mode']!r}")
        fmt, comp = str(params["fileType"]).upper(), str(params["compression"]).upper()
        if fmt not in AUDIENCE_FILE_TYPES or comp not in ("NONE", "GZIP"):
            raise Invalid(f"params.fileType must be one of {', '.join(AUDIENCE_FILE_TYPES)} and "
                          "params.compression NONE or GZIP")
        options = params.get("csvOptions", {})
        if "csvOptions" in params and (fmt != "CSV" or not isinstance(options, dict)):
            raise Invalid("params.csvOptions is an object and applies only with fileType CSV")
        unknown = sorted(set(options) - CSV_OPTIONS)
        if unknown:
            raise Invalid(f"params.csvOptions: unknown option(s) {', '.join(unknown)} (one of "
                          f"{', '.join(sorted(CSV_OPTIONS))})")

    def _check_flows(self, body: dict[str, Any]) -> None:
        spec_id = need(body, "flowSpec.id")
        if spec_id not in {d.flow_spec for d in DESTINATIONS.values()}:
            raise Invalid(f"Flow spec '{spec_id}' was not found")
        sources, targets = need(body, "sourceConnectionIds"), need(body, "targetConnectionIds")
        if len(sources) != 1:
            raise Invalid("A dataset export flow takes exactly one source connection")
        if sources[0] not in self.objects["sourceConnections"]:
            raise Invalid(f"Source connection '{sources[0]}' was not found")
        audience = self.is_audience_flow(body)
        for target_id in targets:
            target = self.objects["targetConnections"].get(target_id)
            if target is None:
                raise Invalid(f"Target connection '{target_id}' was not found")
            if ("fileType" in target["params"]) != audience:
                kinds = (("audiences (fileType)", "datasets"), (
                    "a dataset export (datasetFileType)", "the Profile store"))[audience]
                raise Invalid(f"Target connection '{target_id}' is for {kinds[0]}, but source "
                              f"connection '{sources[0]}' reads {kinds[1]}")
            tspec = target["connectionSpec"]["id"]
            if destination(tspec).flow_spec != spec_id:  # type: ignore[union-attr]
                raise Invalid(f"Flow spec '{spec_id}' does not support target connection spec "
                              f"'{tspec}'")
        if not isinstance(body.get("transformations", []), list):
            raise Invalid("transformations must be a list")
        self._check_schedule(body.get("id"), need(body, "scheduleParams"))

    def _check_schedule(self, flow_id: str | None, sched: dict[str, Any]) -> None:
        for key, what in (("startTime", "unix seconds"), ("timeUnit", "hour or day"),
                          ("interval", "an integer")):
            if key not in sched:
                raise Invalid(f"scheduleParams.{key} ({what}) is required")
        start = sched["startTime"]
        if not isinstance(start, int) or isinstance(start, bool):
            raise Invalid(f"scheduleParams.startTime must be an integer (unix seconds), "
                          f"got {start!r}")
        if not isinstance(sched["interval"], int) or isinstance(sched["interval"], bool):
            raise Invalid(f"scheduleParams.interval must be an integer, got {sched['interval']!r}")
        reason = schedule_problem(sched["timeUnit"], sched["interval"], sched.get("exportMode"))
        if reason:
            raise Invalid(f"scheduleParams: {reason}")
        end = sched.get("endTime")
        # The server's own default end (six months after creation) may precede a far start.
        if end is not None and end <= start and end != self.default_end.get(flow_id or ""):
            raise Invalid("scheduleParams.endTime must be after startTime")


def flowservice(emu: Emulator) -> FlowService:
    """The Flow Service of ``emu`` (created on first use)."""
    return emu.service_state("flowservice", lambda: FlowService(emu))
