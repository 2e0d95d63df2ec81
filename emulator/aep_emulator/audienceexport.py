"""The emulated ad hoc audience activation (ingest contract §5 step 3).

``POST /data/core/activation/disflowprovider/adhocrun`` with ``Accept:
application/vnd.adobe.adhoc.activation+json; version=2`` and ``{"activationInfo": {"<flow id>":
["<segment id>", …]}}`` runs, now, the export of each segment to the audience dataflow that
holds it (the contract's ``<destinationId>`` read as the dataflow's id [inferred]). Refused as
the service refuses: more than 80 segments in one call, a flow that is not an enabled audience
dataflow, a segment not selected in it ("Segments <name> are not part of this dataflow or out of
schedule range!"), a segment whose run is still going, or named twice in the call ("Run
already going on for segment …").
The 20-minute wait after a first scheduled activation is not emulated.

Each run evaluates the segment's PQL on the profiles segment jobs evaluate
(:mod:`aep_emulator.segments`) and lands one file of the qualifying profiles under the target's
landing root (:meth:`Destination.landing`): its name is the selector's ``filenameTemplate`` with
``%DESTINATION_NAME%`` (the dataflow's name, ``[A-Za-z0-9_-]`` kept), ``%SEGMENT_ID%``,
``%SEGMENT_NAME%``, ``%DATETIME(YYYYMMdd_HHmmss)%`` and ``%TIMESTAMP%`` filled, then the
extension of the target's ``fileType`` and ``compression``. A profile's fields are its columns,
nested names joined with ``_`` (the real columns are the UI mapping's, which is not emulated
[inferred]). The answer is ``{"order": [{"segment", "order", "statusURL"}]}``; the run is then
polled as a dataset export's is (:func:`aep_emulator.exports.poll`).
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from .exportfiles import write_part
from .exports import start_run
from .flowservice import FlowService, Invalid
from .segments import matches, parse_pql, segmentation
from .specs import FLOWSERVICE, destination

ACCEPT = "application/vnd.adobe.adhoc.activation+json; version=2"
MAX_SEGMENTS = 80
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def adhoc_activation(fs: FlowService, body: Any) -> dict[str, Any]:
    """Start one run per (flow, segment) of an ad hoc activation body; the ``order`` answer."""
    info = body.get("activationInfo") if isinstance(body, dict) else None
    if not isinstance(info, dict) or not info or not all(
            isinstance(v, list) and v and all(isinstance(s, str) for s in v)
            for v in info.values()):
        raise Invalid('The body must be {"activationInfo": {"<destinationId>": ["<segmentId>", '
                      '…]}} with at least one segment')
    count = sum(len(v) for v in info.values())
    if count > MAX_SEGMENTS:
        raise Invalid(f"An ad hoc activation job takes at most {MAX_SEGMENTS} segments, got "
                      f"{count}")
    store = segmentation(fs.emu)
    checked: list[tuple[dict[str, Any], str, dict[str, Any]]] = []
    for flow_id, segment_ids in info.items():
        try:
            flow = fs.get("flows", flow_id)
        except LookupError:
            raise Invalid(f"Destination '{flow_id}' was not found") from None
        if not fs.is_audience_flow(flow) or flow["state"] != "enabled":
            raise Invalid(f"Destination '{flow_id}' is not an enabled audience dataflow")
        selected = {s["value"]["id"]: s["value"] for s in _selectors(flow)}
        missing = [s for s in segment_ids if s not in selected]
        if missing:
            names = ", ".join(str((store.definitions.get(s) or {}).get("name", s))
                              for s in missing)
            raise Invalid(f"Segments {names} are not part of this dataflow or out of schedule "
                          "range!")
        for segment_id in segment_ids:  # one run at a time per segment, this call's included
            if any(r.get("segmentId") == segment_id and r["id"] in fs.outcomes
                   for r in fs.objects["runs"].values()) or \
                    any(seen == segment_id for _, seen, _ in checked):
                raise Invalid(f"Run already going on for segment {segment_id}")
            checked.append((flow, segment_id, selected[segment_id]))
    order = []
    for flow, segment_id, selector in checked:
        run = start_run(fs, flow, lambda started, ref, f=flow, s=selector: _export(
            fs, f, s, started), segmentId=segment_id)
        order.append({"segment": segment_id, "order": str(uuid.uuid4()),
                      "statusURL": f"{fs.emu.url}{FLOWSERVICE}/runs/{run['id']}"})
    return {"order": order}


def _selectors(flow: dict[str, Any]) -> list[dict[str, Any]]:
    transformations = flow.get("transformations") or [{}]
    params = transformations[0].get("params") or {}
    return (params.get("segmentSelectors") or {}).get("selectors") or []


def file_name(template: str, flow_name: str, segment: Mapping[str, Any], started: float) -> str:
    """``template`` with its tokens filled (see the module docstring), no extension."""
    when = dt.datetime.fromtimestamp(started, dt.timezone.utc)
    values = {"%DESTINATION_NAME%": _UNSAFE.sub("_", flow_name),
              "%SEGMENT_ID%": str(segment["id"]),
              "%SEGMENT_NAME%": _UNSAFE.sub("_", str(segment.get("name", ""))),
              "%DATETIME(YYYYMMdd_HHmmss)%": when.strftime("%Y%m%d_%H%M%S"),
              "%TIMESTAMP%": str(int(started))}
    for token, value in values.items():
        template = template.replace(token, value)
    return template


def _flat(profile: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    row: dict[str, Any] = {}
    for key, value in profile.items():
        name = f"{prefix}_{key}" if prefix else key
        row.update(_flat(value, name) if isinstance(value, Mapping) else {name: value})
    return row


def _export(fs: FlowService, flow: dict[str, Any], selector: dict[str, Any],
            started_ms: int) -> tuple[list[Path], int]:
    """Land the segment's qualifying profiles where the flow's target points."""
    store = segmentation(fs.emu)
    definition = store.definitions.get(selector["id"])
    if definition is None:
        raise RuntimeError(f"Segment '{selector['id']}' no longer exists")
    rule = parse_pql(definition["expression"]["value"], store.tenant)
    rows = [_flat(p) for p in store.evaluated() if matches(p, rule)]
    columns = sorted({key for row in rows for key in row})
    table = pa.table({c: [row.get(c) for row in rows] for c in columns})
    target = fs.get("targetConnections", flow["targetConnectionIds"][0])
    base = fs.get("connections", target["baseConnectionId"])
    params = target["params"]
    root = destination(target["connectionSpec"]["id"]).landing(  # type: ignore[union-attr]
        params, (base.get("auth") or {}).get("params") or {})
    fmt, gz = str(params["fileType"]).upper(), str(params["compression"]).upper() == "GZIP"
    ext = {"CSV": ".csv", "JSON": ".json", "PARQUET": ".parquet"}[fmt]
    ext = (".gz" + ext if fmt == "PARQUET" else ext + ".gz") if gz else ext
    name = file_name(selector["filenameTemplate"], flow["name"], selector, started_ms / 1000)
    path = fs.emu.landing_dir() / root / (name + ext)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.part")
    if fmt == "CSV":
        with (gzip.open(scratch, "wb") if gz else open(scratch, "wb")) as out:
            pacsv.write_csv(table, out)
    else:
        write_part(table, scratch, fmt, gz)
    os.replace(scratch, path)
    return [path], table.num_rows
