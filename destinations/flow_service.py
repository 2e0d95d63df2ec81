"""Dataset export through Adobe Flow Service: the call sequence of contract §5.2 and §5.5.

One export owns four remote objects, named deterministically ``runner:<project>:<model>:<name>``
(then ``@<variant>`` under vars other than project.yml's, ``ExportContext.key``):
a base connection (the destination's credentials), a source connection (reading one Catalog
dataset through the ``activation-datalake`` spec), a target connection (bucket, path, format) and
the flow joining them. A run makes sure they exist, then triggers an ad hoc run and polls it:

1. state says nothing -> look the flow up by name (the state file may be gone), else check the
   dataset is eligible and create base, source, target connection and flow (a failure half-way
   deletes what it created);
2. state names a flow -> ``GET`` it: deleted in the UI -> delete its leftovers and recreate;
   disabled -> ``POST …/action?op=enable``; a new dataset version -> a new source connection,
   the flow re-pointed (``PATCH`` with ``If-Match``), the old source connection deleted;
   a changed destination config -> everything deleted and recreated;
3. ``POST …/adhocrun`` (retrying "not ready for dataset export" a bounded number of times), then
   ``GET /runs/{id}`` until the run finishes or ``wait.run_timeout`` passes. A version already
   exported is not run again unless ``force`` is given.

The GETs of steps 1 and 2 are one method, :meth:`FlowExport.survey`: the run acts on what it
finds, and a dry run (:meth:`FlowExport.plan`) makes the same GETs, never a POST, PATCH or
DELETE, and lists the calls the run would make after them.

Flow Service answers creates with ``{"id", "etag"}`` and gets with ``{"items": [...]}``; the
helpers ``_created`` and ``_item`` are the one place those shapes are read.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from destinations.base import BuiltDataset, ExportContext, ExportResult, result
from destinations.config import ExportSpec
from destinations.flow_payloads import FlowPayloads
from destinations.state import ExportState
from destinations.types import (ADHOC_ACCEPT, ADHOC_RUN, DESTINATION_TYPES, FLOWSERVICE,
                                NOT_READY, SOURCE_SPEC_ID, choose_auth)
from runner.errors import PlatformError, RunError, RunnerError
from runner.platform.secrets import Secret, mask

FINAL = ("success", "failed", "partialSuccess", "cancelled")
_KINDS = (("flow_id", "flows"), ("target_id", "targetConnections"),
          ("source_id", "sourceConnections"), ("base_id", "connections"))


def _created(body: Any, what: str) -> tuple[str, str | None]:
    """``(id, etag)`` of a create response; RunError if Flow Service returned no id."""
    if not isinstance(body, dict) or not body.get("id"):
        raise RunError(f"Flow Service did not return an id for the new {what}: {body!r:.200}")
    return body["id"], body.get("etag")


def _item(body: Any) -> dict[str, Any] | None:
    """The object of a get-by-id response (``{"items": [obj]}``), None if empty."""
    items = body.get("items") if isinstance(body, dict) else None
    return items[0] if items else None


class FlowCalls(FlowPayloads):
    """The Flow Service calls of a set of named objects (``spec``, ``ctx``, ``name`` set)."""

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        assert self.ctx.platform is not None
        return self.ctx.platform.request(method, path, **kw)

    def _get(self, kind: str, obj_id: str) -> dict[str, Any] | None:
        """``GET /<kind>/<id>``; None when it no longer exists."""
        try:
            return _item(self._call("GET", f"{FLOWSERVICE}/{kind}/{obj_id}"))
        except PlatformError as exc:
            if exc.status == 404:
                return None
            raise

    def _create(self, kind: str, body: dict[str, Any], what: str) -> tuple[str, str | None]:
        obj_id, etag = _created(self._call("POST", f"{FLOWSERVICE}/{kind}", json=body), what)
        self.ctx.echo(f"{self.spec.model} -> {self.spec.name}: created {what} {obj_id}")
        return obj_id, etag

    def teardown(self, record: dict[str, Any]) -> list[str]:
        """Delete the flow, then its connections (already-gone ones are fine)."""
        deleted = []
        for field, kind in _KINDS:
            if not record.get(field):
                continue
            try:
                self._call("DELETE", f"{FLOWSERVICE}/{kind}/{record[field]}")
                deleted.append(f"{kind}/{record[field]}")
            except PlatformError as exc:
                if exc.status != 404:
                    raise
        return deleted

    def _named(self, exclude: str | None = None) -> dict[str, Any] | None:
        """The flow of this destination's flow spec named ``self.name`` (not ``exclude``)."""
        params: dict[str, Any] | None = {"property": f"flowSpec.id=={self.dtype.flow_spec}"}
        path = f"{FLOWSERVICE}/flows"
        for _ in range(200):
            body = self._call("GET", path, params=params) or {}
            flow = next((f for f in body.get("items", [])
                         if f.get("name") == self.name and f.get("id") != exclude), None)
            if flow:
                return flow
            nxt = ((body.get("_links") or {}).get("next") or {}).get("href")
            if not nxt:
                return None
            # aepp reads the link as relative to the Flow Service base; accept both forms.
            path = nxt if nxt.startswith((FLOWSERVICE, "http")) else FLOWSERVICE + nxt
            params = None
        return None


class FlowExport(FlowCalls):
    """One export of one dataset to one Flow Service destination."""

    def __init__(self, spec: ExportSpec, dataset: BuiltDataset, ctx: ExportContext,
                 state: ExportState) -> None:
        self.spec, self.dataset, self.ctx, self.state = spec, dataset, ctx, state
        self.dtype = DESTINATION_TYPES[spec.type]
        self.auth = choose_auth(self.dtype, set(spec.params))
        self.key = ctx.key(spec)
        self.name = ctx.flow_name(spec)
        self.secrets: list[Secret] = []
        self.version = f"{dataset.dataset_id}:{dataset.fingerprint}"

    def _eligible(self) -> None:
        """Refuse a dataset the activation-datalake source does not list (§5.2 step 0)."""
        start = 0
        for _ in range(200):
            body = self._call("GET", f"{FLOWSERVICE}/connectionSpecs/{SOURCE_SPEC_ID}/configs",
                              params={"outputType": "activationDatasets",
                                      "outputField": "datasets", "start": start, "limit": 20,
                                      "properties": "name,state"})
            items = body.get("items", []) if isinstance(body, dict) else []
            if any(i.get("id") == self.dataset.dataset_id for i in items):
                return
            if not (body.get("pageInfo") or {}).get("hasNext") or not items:
                break
            start += len(items)
        raise RunError(f"dataset {self.dataset.dataset_id} ({self.dataset.relation}) is not "
                       "eligible for dataset export; check that it is enabled and not a Profile "
                       "dataset (GET connectionSpecs/…/configs?outputType=activationDatasets)")

    def _find(self, exclude: str | None = None) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """Look the flow up by name (the state file was lost); its record and the flow.

        ``exclude`` is the id of a flow about to be torn down, which does not count.
        """
        flow = self._named(exclude)
        if flow is None:
            return None
        target = self._get("targetConnections", flow["targetConnectionIds"][0]) or {}
        source = self._get("sourceConnections", flow["sourceConnectionIds"][0]) or {}
        datasets = (source.get("params") or {}).get("datasets") or [{}]
        return {"flow_id": flow["id"], "source_id": flow["sourceConnectionIds"][0],
                "target_id": flow["targetConnectionIds"][0],
                "base_id": target.get("baseConnectionId"),
                "dataset_id": datasets[0].get("dataSetId"),
                "config": self.spec.config_hash()
                if target.get("params") == self.target_params() else "unknown"}, flow

    def _build(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Create base, source, target connection and flow; undo the partial set on failure."""
        self._eligible()
        record: dict[str, Any] = {"config": self.spec.config_hash(),
                                  "dataset_id": self.dataset.dataset_id}
        try:
            record["base_id"], _ = self._create("connections", self.base_payload(),
                                                "base connection")
            record["source_id"], _ = self._create("sourceConnections", self.source_payload(),
                                                  "source connection")
            record["target_id"], _ = self._create(
                "targetConnections", self.target_payload(record["base_id"]), "target connection")
            flow_body = self.flow_payload(record["source_id"], record["target_id"])
            record["flow_id"], etag = self._create("flows", flow_body, "flow")
        except RunnerError:
            self.teardown(record)
            raise
        if self.spec.schedule and not self.spec.schedule.end_time:
            self.ctx.echo(f"warning: {self.spec.keypath}.schedule has no end_time: Adobe stops "
                          "the flow six months after creation")
        return record, {**flow_body, "id": record["flow_id"], "etag": etag, "state": "enabled"}

    def _repoint(self, record: dict[str, Any], flow: dict[str, Any]) -> None:
        """A new dataset version: a new source connection, the flow patched, the old one deleted."""
        self._eligible()
        old = record["source_id"]
        new, _ = self._create("sourceConnections", self.source_payload(), "source connection")
        try:
            self._call("PATCH", f"{FLOWSERVICE}/flows/{record['flow_id']}",
                       json=[{"op": "replace", "path": "/sourceConnectionIds", "value": [new]}],
                       headers={"If-Match": flow["etag"]})
        except RunnerError:
            self.teardown({"source_id": new})
            raise
        record.update(source_id=new, dataset_id=self.dataset.dataset_id)
        self.state.put(self.key, record)
        self.teardown({"source_id": old})
        self.ctx.echo(f"{self.spec.model} -> {self.spec.name}: flow {record['flow_id']} now "
                      f"reads dataset {self.dataset.dataset_id}")

    def survey(self) -> tuple[dict[str, Any] | None, dict[str, Any] | None,
                              list[tuple[dict[str, Any], str]], list[str]]:
        """What exists, found with GETs only, and what a run must do about it.

        Returns:
            The record and flow to reuse (``None, None`` when a new flow is needed), the
            records to tear down first with the reason, and one line per GET made saying what
            it found. :meth:`ensure_flow` acts on it and :meth:`plan` describes it, so a dry
            run plans exactly what the run does.
        """
        fs, config = FLOWSERVICE, self.spec.config_hash()
        drops: list[tuple[dict[str, Any], str]] = []
        seen: list[str] = []
        record = self.state.get(self.key)
        flow = self._get("flows", record["flow_id"]) if record else None
        skip = None
        if record:
            why = ("was deleted" if flow is None else "has a changed destination config"
                   if record.get("config") != config else "")
            seen.append(f"GET {fs}/flows/{record['flow_id']} — the flow in the state file: "
                        + (why or f"exists, {(flow or {}).get('state', 'enabled')}"))
            if why:  # a deleted flow's leftover connections go; its own DELETE would 404
                drops.append(({k: v for k, v in record.items() if k != "flow_id" or flow},
                              f"flow {record['flow_id']} {why}"))
                skip, record, flow = record["flow_id"], None, None
        if record is None:
            found = self._find(skip)
            seen.append(f"GET {fs}/flows?property=flowSpec.id=={self.dtype.flow_spec} — look "
                        f"for a flow named {self.name}: "
                        + (f"found {found[0]['flow_id']}" if found else "none"))
            if found:
                record, flow = found
                seen += [f"GET {fs}/targetConnections/{record['target_id']} — its destination "
                         "config", f"GET {fs}/sourceConnections/{record['source_id']} — its "
                         f"dataset ({record['dataset_id']})"]
                if record["config"] != config:
                    drops.append((record, f"flow {record['flow_id']} found by name has another "
                                          "destination config"))
                    record = flow = None
        return record, flow, drops, seen

    def ensure_flow(self) -> dict[str, Any]:
        """Make the flow and its connections exist, enabled, reading this dataset; its record."""
        record, flow, drops, _ = self.survey()
        for old, why in drops:
            self.ctx.echo(f"{self.spec.model} -> {self.spec.name}: {why}; replacing it")
            self.teardown(old)
            self.state.put(self.key, None)
        if record is None or flow is None:
            record, flow = self._build()
        self.state.put(self.key, record)
        if flow.get("state") == "disabled":
            answer = self._call("POST", f"{FLOWSERVICE}/flows/{record['flow_id']}/action",
                                params={"op": "enable"})
            flow = {**flow, "state": "enabled", "etag": _created(answer, "flow action")[1]}
            self.ctx.echo(f"{self.spec.model} -> {self.spec.name}: re-enabled flow "
                          f"{record['flow_id']}")
        if record["dataset_id"] != self.dataset.dataset_id:
            self._repoint(record, flow)
        return record

    def trigger(self, flow_id: str) -> str:
        """POST the ad hoc run; retry "not ready" ``wait.adhoc_retries`` times; the run id."""
        wait = self.spec.wait
        body = {"activationInfo": {"destinations": [
            {"flowId": flow_id, "datasets": [{"id": self.dataset.dataset_id}]}]}}
        for attempt in range(wait.adhoc_retries + 1):
            try:
                answer = self._call("POST", ADHOC_RUN, json=body,
                                    headers={"Accept": ADHOC_ACCEPT})
                break
            except PlatformError as exc:
                if NOT_READY not in str(exc) or attempt == wait.adhoc_retries:
                    raise
                self.ctx.echo(f"{self.spec.model} -> {self.spec.name}: flow not ready for "
                              f"export yet; retry {attempt + 1}/{wait.adhoc_retries} in "
                              f"{wait.adhoc_retry_wait:g} s")
                self.ctx.sleep(wait.adhoc_retry_wait)
        try:
            url = answer["destinations"][0]["datasets"][0]["statusURL"]
        except (KeyError, IndexError, TypeError):
            raise RunError(f"ad hoc run of flow {flow_id}: no statusURL in {answer!r:.200}") from None
        return str(url).rstrip("/").rsplit("/", 1)[-1]

    def poll(self, run_id: str) -> dict[str, Any]:
        """``GET /runs/{id}`` until it finishes; RunError after ``wait.run_timeout`` seconds."""
        wait, started = self.spec.wait, self.ctx.clock()
        while True:
            run = self._get("runs", run_id)
            status = ((run or {}).get("statusSummary") or {}).get("status", "pending")
            if status in FINAL:
                return run or {}
            elapsed = self.ctx.clock() - started
            if elapsed >= wait.run_timeout:
                raise RunError(f"run {run_id} is still {status} after {elapsed:.0f} s; follow it "
                               "in the Platform UI or raise the export's wait.run_timeout")
            self.ctx.echo(f"{self.spec.model} -> {self.spec.name}: run {run_id} {status} "
                          f"({elapsed:.0f} s)")
            self.ctx.sleep(wait.poll_interval)

    def landing(self) -> str:
        shown = {api: self.spec.params[key] for api, key in (self.auth.params.items()
                 if self.auth else ()) if not key.endswith("_env")}
        root = self.dtype.landing_root(self.target_params(), shown)
        return f"{root}/{self.dataset.dataset_id}"

    # -- entry points -------------------------------------------------------------------------
    def run(self, force: bool = False) -> ExportResult:
        """Ensure the flow, run it now, report the run's metrics; never raises a RunnerError.

        A version already exported is not exported again unless ``force`` is given: then a
        new ad hoc run of the existing flow exports it again.
        """
        if not self.dataset.dataset_id:
            return result(self.spec, "error", f"model {self.spec.model} has no Catalog dataset "
                          "id; Flow Service exports need a data_distiller build")
        record: dict[str, Any] = {}
        run_id = None
        try:
            record = self.ensure_flow()
            done = record.get("exported") or {}
            if done.get("version") == self.version and not force:
                return result(self.spec, "success", f"up to date: run {done['run_id']} already "
                              f"exported this version of {self.spec.model}",
                              flow_id=record["flow_id"], run_id=done["run_id"],
                              records=done.get("records"), bytes=done.get("bytes"),
                              files=done.get("files"), path=self.landing())
            run_id = self.trigger(record["flow_id"])
            self.ctx.echo(f"{self.spec.model} -> {self.spec.name}: run {run_id} started")
            run = self.poll(run_id)
        except RunnerError as exc:
            return result(self.spec, "error", mask(str(exc), *self.secrets),
                          flow_id=record.get("flow_id"), run_id=run_id)
        metrics = run.get("metrics") or {}
        summary = run.get("statusSummary") or {}
        records = (metrics.get("recordSummary") or {}).get("outputRecordCount")
        size = (metrics.get("sizeSummary") or {}).get("outputBytes")
        files = (metrics.get("fileSummary") or {}).get("outputFileCount")
        common = dict(flow_id=record["flow_id"], run_id=run_id, records=records, bytes=size,
                      files=files, path=self.landing())
        if summary.get("status") != "success":
            errors = "; ".join(str(e.get("message", e)) for e in summary.get("errors") or [])
            return result(self.spec, "error", f"run {run_id} of flow {record['flow_id']} "
                          f"{summary.get('status')}: {errors or 'no reason given'}", **common)
        record["exported"] = {"version": self.version, "run_id": run_id, "records": records,
                              "bytes": size, "files": files}
        self.state.put(self.key, record)
        return result(self.spec, "success", f"exported {records} rows in {files} file(s) to "
                      f"{self.dtype.title} {self.landing()}", **common)

    def delete(self, dry_run: bool = False) -> ExportResult:
        """Delete the flow, then its connections."""
        try:
            record = self.state.get(self.key) or (self._find() or (None, None))[0]
            if record is None:
                return result(self.spec, "skipped", f"no flow named {self.name} to delete")
            if dry_run:
                plan = [f"DELETE {FLOWSERVICE}/{kind}/{record[f]} — remove the {kind[:-1]}"
                        for f, kind in _KINDS if record.get(f)]
                return result(self.spec, "planned", f"delete flow {record['flow_id']} and its "
                              "connections", flow_id=record["flow_id"], plan=plan)
            deleted = self.teardown(record)
        except RunnerError as exc:
            return result(self.spec, "error", str(exc))
        self.state.put(self.key, None)
        return result(self.spec, "deleted", f"deleted {', '.join(deleted) or 'nothing (gone)'}",
                      flow_id=record["flow_id"])

    def plan(self, force: bool = False) -> ExportResult:
        """The calls a run would make, found with GETs only (no POST, PATCH or DELETE)."""
        fs, ds = FLOWSERVICE, self.dataset.dataset_id or "<dataset id after the build>"
        record, flow, drops, lines = self.survey()
        for old, why in drops:
            lines += [f"DELETE {fs}/{kind}/{old[f]} — {why}" for f, kind in _KINDS if old.get(f)]
        if record is None or flow is None:
            sched = self.schedule_params()
            when = ("ad hoc only: schedule starts "
                    + datetime.fromtimestamp(sched["startTime"], timezone.utc).strftime("%Y-%m-%d")
                    if self.spec.schedule is None else
                    f"every {sched['interval']} {sched['timeUnit']}(s)")
            auth = f"auth '{self.auth.spec_name}'" if self.auth else "no auth"
            target = ", ".join(f"{k}={v}" for k, v in self.target_params().items())
            lines += [
                f"GET {fs}/connectionSpecs/{SOURCE_SPEC_ID}/configs?outputType=activationDatasets"
                f" — check dataset {ds} is eligible for export",
                f"POST {fs}/connections — {self.dtype.title} base connection ({auth})",
                f"POST {fs}/sourceConnections — source reading dataset {ds}",
                f"POST {fs}/targetConnections — target {target}",
                f"POST {fs}/flows — flow {self.name} (flowSpec {self.dtype.flow_spec}, {when})"]
        else:
            flow_id = record["flow_id"]
            if flow.get("state") == "disabled":
                lines.append(f"POST {fs}/flows/{flow_id}/action?op=enable — re-enable the flow")
            if record.get("dataset_id") != self.dataset.dataset_id:
                lines += [f"GET {fs}/connectionSpecs/{SOURCE_SPEC_ID}/configs?outputType="
                          f"activationDatasets — check dataset {ds} is eligible for export",
                          f"POST {fs}/sourceConnections — source reading the new dataset {ds}",
                          f"PATCH {fs}/flows/{flow_id} — point the flow at it (If-Match etag)",
                          f"DELETE {fs}/sourceConnections/{record['source_id']} — the old "
                          f"source of dataset {record.get('dataset_id')}"]
            done = record.get("exported") or {}
            if done.get("version") == self.version and not force:
                return result(self.spec, "planned", "up to date: this version was exported by "
                              f"run {done['run_id']}", flow_id=flow_id, path=self.landing(),
                              plan=lines)
        wait = self.spec.wait
        lines += [f"POST {ADHOC_RUN} — export dataset {ds} now (retry 'not ready' up to "
                  f"{wait.adhoc_retries} times, {wait.adhoc_retry_wait:g} s apart)",
                  f"GET {fs}/runs/{{runId}} — poll every {wait.poll_interval:g} s until the run "
                  f"finishes (at most {wait.run_timeout:g} s)"]
        return result(self.spec, "planned", f"{len(lines)} calls to export to "
                      f"{self.dtype.title}", flow_id=record and record["flow_id"],
                      path=self.landing(), plan=lines)
