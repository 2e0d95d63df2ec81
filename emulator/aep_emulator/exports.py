"""The emulated ad hoc dataset export and its flow runs (contract §5.2 step 5, §5.5, §6).

``POST /data/core/activation/disflowprovider/adhocrun`` really exports: for each dataset it
reads the dataset's table (Catalog tag ``adobe/pqs/table``) from the SQL engine and lands part
files under ``landing_dir()/<container, bucket or host>/<path>/<datasetId>/exportTime=…/``
(:mod:`aep_emulator.exportfiles`). The run reports ``inProgress`` for ``run_polls`` GETs, then
``success`` with metrics matching the files, or ``failed`` with ``errors``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .catalog import PQS_TAG, catalog
from .exportfiles import land
from .flowservice import FlowService, Invalid, need
from .specs import FLOWSERVICE, NOT_READY, destination


def adhoc(fs: FlowService, body: Any) -> dict[str, Any]:
    """Start one run per (flow, dataset) of an ad hoc body; the answer with their status URLs."""
    answer = []
    for dest in need({"b": body}, "b.activationInfo.destinations"):
        flow = fs.get("flows", need(dest, "flowId"))
        if flow["state"] != "enabled":
            raise Invalid(f"Flow '{flow['id']}' is disabled; enable it first")
        if fs.is_audience_flow(flow):
            raise Invalid(f"Flow '{flow['id']}' activates audiences, not datasets: it has no "
                          "dataset to export")
        source = fs.get("sourceConnections", flow["sourceConnectionIds"][0])
        allowed = {d["dataSetId"] for d in source["params"]["datasets"]}
        if fs.not_ready_left.get(flow["id"], 0) > 0:
            fs.not_ready_left[flow["id"]] -= 1
            raise Invalid(f"{NOT_READY}: {flow['id']}")
        runs = []
        for item in need(dest, "datasets"):
            ds_id = need(item, "id")
            if ds_id not in allowed:
                raise Invalid(f"Dataset '{ds_id}' is not a source of flow '{flow['id']}'")
            run = start_run(fs, flow, lambda started, ref, ds_id=ds_id: _export(
                fs, flow, ds_id, started, ref))
            runs.append({"id": ds_id, "statusURL": f"{fs.emu.url}{FLOWSERVICE}/runs/{run['id']}"})
        answer.append({"flowId": flow["id"], "datasets": runs})
    return {"destinations": answer}


def start_run(fs: FlowService, flow: dict[str, Any],
              produce: Callable[[int, str], tuple[list[Path], int]],
              **fields: Any) -> dict[str, Any]:
    """A new run of ``flow`` (with ``fields``); ``produce(started_ms, run_ref)`` lands its
    files now and returns them with the row count; its outcome shows after polls."""
    started = int(time.time() * 1000)
    run = fs.new("runs", {"flowId": flow["id"], "flowSpec": flow["flowSpec"],
                          "providerRefId": str(uuid.uuid4()),
                          "statusSummary": {"status": "inProgress"},
                          "metrics": {"durationSummary": {"startedAtUTC": started}},
                          "activities": [], **fields})
    try:
        if fs.fail_runs > 0:
            fs.fail_runs -= 1
            raise RuntimeError(fs.fail_message)
        files, rows = produce(started, run["providerRefId"])
        size = sum(f.stat().st_size for f in files)
        status: dict[str, Any] = {"status": "success"}
        summary = {"recordSummary": _records(rows),
                   "sizeSummary": {"inputBytes": size, "outputBytes": size},
                   "fileSummary": {"outputFileCount": len(files)}}
    except Exception as exc:  # the run fails; the API call itself succeeded
        status = {"status": "failed", "errors": [{"code": "EXPORT-500", "message": str(exc)}]}
        summary = {"recordSummary": _records(0)}
    fs.outcomes[run["id"]] = {"statusSummary": status, "metrics": summary}
    fs.polls_left[run["id"]] = fs.run_polls
    return run


def _records(rows: int) -> dict[str, Any]:
    return {"inputRecordCount": rows, "outputRecordCount": rows, "skippedRecordCount": 0,
            "sourceSummaries": []}


def _export(fs: FlowService, flow: dict[str, Any], ds_id: str, started: int,
            run_id: str) -> tuple[list[Any], int]:
    """Land the dataset's rows where the flow's target points; the files and the row count."""
    record = catalog(fs.emu).get(ds_id)
    if record is None:
        raise RuntimeError(f"Dataset '{ds_id}' no longer exists")
    table = fs.emu.read_table(record["tags"][PQS_TAG][0])
    target = fs.get("targetConnections", flow["targetConnectionIds"][0])
    base = fs.get("connections", target["baseConnectionId"])
    dest = destination(target["connectionSpec"]["id"])
    params = target["params"]
    root = dest.landing(params, (base.get("auth") or {}).get("params") or {})  # type: ignore[union-attr]
    files = land(table, fs.emu.landing_dir() / root / ds_id, started / 1000,
                 params["datasetFileType"], params["compression"], run_id, fs.rows_per_file)
    return files, table.num_rows


def poll(fs: FlowService, run: dict[str, Any]) -> dict[str, Any]:
    """A run as one GET sees it: ``inProgress`` for ``run_polls`` GETs, then its outcome."""
    if fs.polls_left.get(run["id"], 0) > 0:
        fs.polls_left[run["id"]] -= 1
    elif run["id"] in fs.outcomes:
        outcome = fs.outcomes.pop(run["id"])
        run["statusSummary"] = outcome["statusSummary"]
        run["metrics"] = {**run["metrics"], **outcome["metrics"]}
        run["metrics"]["durationSummary"]["completedAtUTC"] = int(time.time() * 1000)
        run["updatedAt"] = run["metrics"]["durationSummary"]["completedAtUTC"]
    return run
