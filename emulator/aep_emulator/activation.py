"""Activating an audience: segment selectors on a destination dataflow (ingest contract §5, §7.4).

A JSON Patch on ``/transformations/…`` of a flow is applied here (:func:`patch_transformation`,
called by :mod:`aep_emulator.flowservice`): ``add``, ``replace`` and ``remove`` at a JSON
Pointer whose parent exists (``-`` appends to a list). Every segment selector of the patched
flow is then checked (:func:`check_selectors`): ``type`` ``PLATFORM_SEGMENT``, a segment id
:mod:`aep_emulator.segments` knows, not selected twice, and, every emulated destination being
file-based, a ``filenameTemplate`` with ``%DESTINATION_NAME%`` and ``%SEGMENT_ID%`` (a file
name: no ``/``, ``\\`` or ``..`` [inferred]), an ``exportMode`` and a ``schedule`` valid
for it. ``If-Match`` and the etag are Flow Service's own
rules. Only an audience activation flow (a Profile-store source, :mod:`aep_emulator.flowservice`)
takes segment selectors; it is created with its ``GeneralTransform`` at ``transformations[0]``.
A dataset export flow activates datasets: a selector on one is refused.
"""

from __future__ import annotations

import copy
import re
import time
from typing import TYPE_CHECKING, Any

from .segments import Invalid, segmentation

if TYPE_CHECKING:
    from .server import Emulator

SELECTOR_KEYS = {"id", "name", "description", "filenameTemplate", "exportMode", "schedule",
                 "createTime", "updateTime"}
EXPORT_FREQUENCIES = {"DAILY_FULL_EXPORT": {"ONCE", "DAILY"},
                      "FIRST_FULL_THEN_INCREMENTAL": {"DAILY", "EVERY_3_HOURS", "EVERY_6_HOURS",
                                                      "EVERY_8_HOURS", "EVERY_12_HOURS"}}
TRIGGERS = {"AFTER_SEGMENT_EVAL", "SCHEDULED"}
_DATE, _TIME = re.compile(r"\d{4}-\d{2}-\d{2}"), re.compile(r"([01]\d|2[0-3]):[0-5]\d")


def patch_transformation(flow: dict[str, Any], op: dict[str, Any]) -> None:
    """Apply one JSON Patch ``add``/``replace``/``remove`` under ``/transformations`` of ``flow``.

    Raises:
        Invalid: the operation or its path is not valid on this flow.
    """
    kind, path = str(op.get("op")).lower(), str(op.get("path", ""))
    if kind not in ("add", "replace", "remove"):
        raise Invalid(f"Unsupported patch operation {op.get('op')!r} on {path}")
    keys = path.strip("/").split("/")
    node: Any = flow
    for depth, key in enumerate(keys[:-1]):
        node = _child(node, key, "/" + "/".join(keys[:depth + 1]))
    last = keys[-1]
    if isinstance(node, list):
        size = len(node) + (kind == "add")
        if last == "-" and kind == "add":
            node.append(copy.deepcopy(op.get("value")))
            return
        if not last.isdigit() or int(last) >= size:
            raise Invalid(f"Path '{path}' does not exist: index {last} of a list of {len(node)}")
        if kind == "add":
            node.insert(int(last), copy.deepcopy(op.get("value")))
        elif kind == "replace":
            node[int(last)] = copy.deepcopy(op.get("value"))
        else:
            del node[int(last)]
    elif isinstance(node, dict):
        if kind != "add" and last not in node:
            raise Invalid(f"Path '{path}' does not exist")
        if kind == "remove":
            del node[last]
        else:
            node[last] = copy.deepcopy(op.get("value"))
    else:
        raise Invalid(f"Path '{path}' does not exist")


def _child(node: Any, key: str, where: str) -> Any:
    if isinstance(node, list) and key.isdigit() and int(key) < len(node):
        return node[int(key)]
    if isinstance(node, dict) and key in node:
        return node[key]
    raise Invalid(f"Path '{where}' does not exist in the flow")


def check_selectors(emu: Emulator, flow: dict[str, Any], *, audience: bool) -> None:
    """Invalid unless every segment selector of ``flow`` is valid for a file-based destination
    (``audience``: the flow reads the Profile store; a dataset export flow takes none)."""
    seen: set[str] = set()
    store = segmentation(emu)
    for t, transformation in enumerate(flow.get("transformations") or []):
        params = transformation.get("params") if isinstance(transformation, dict) else None
        chosen = params.get("segmentSelectors") if isinstance(params, dict) else None
        if chosen is not None and not isinstance(chosen, dict):
            raise Invalid(f"transformations[{t}].params.segmentSelectors must be an object")
        selectors = (chosen or {}).get("selectors", [])
        if not isinstance(selectors, list):
            raise Invalid(f"transformations[{t}].params.segmentSelectors.selectors must be a list")
        if selectors and not audience:
            raise Invalid(f"Flow '{flow.get('id')}' exports datasets (its source connection reads "
                          "the data lake): it takes no segment selectors; activate audiences "
                          "through a dataflow whose source is the Profile store")
        for i, selector in enumerate(selectors):
            where = f"transformations[{t}].params.segmentSelectors.selectors[{i}]"
            if not isinstance(selector, dict) or selector.get("type") != "PLATFORM_SEGMENT":
                raise Invalid(f"{where}.type must be PLATFORM_SEGMENT")
            value = selector.get("value")
            if not isinstance(value, dict) or set(selector) != {"type", "value"}:
                raise Invalid(f"{where} must be exactly {{\"type\", \"value\"}}")
            unknown = sorted(set(value) - SELECTOR_KEYS)
            if unknown:
                raise Invalid(f"{where}.value: unknown field(s) {', '.join(unknown)}")
            segment_id = value.get("id")
            if not isinstance(segment_id, str) or segment_id not in store.definitions:
                raise Invalid(f"{where}.value.id: segment definition {segment_id!r} was not found")
            if segment_id in seen:
                raise Invalid(f"{where}: segment '{segment_id}' is already in this dataflow")
            seen.add(segment_id)
            _file_fields(value, f"{where}.value")
            value.setdefault("name", store.definitions[segment_id]["name"])
            now = int(time.time() * 1000)
            value.setdefault("createTime", now)
            value.setdefault("updateTime", now)


def _file_fields(value: dict[str, Any], where: str) -> None:
    """Invalid unless the file-based export fields of a selector value are valid (§5 step 2)."""
    template = value.get("filenameTemplate")
    if not isinstance(template, str) or not all(m in template for m in
                                                ("%DESTINATION_NAME%", "%SEGMENT_ID%")):
        raise Invalid(f"{where}.filenameTemplate is required by a file-based destination and "
                      "must contain %DESTINATION_NAME% and %SEGMENT_ID%")
    if any(part in template for part in ("/", "\\", "..")):
        raise Invalid(f"{where}.filenameTemplate names a file, not a path: no '/', '\\' or "
                      "'..' [inferred]")
    mode = value.get("exportMode")
    if mode not in EXPORT_FREQUENCIES:
        raise Invalid(f"{where}.exportMode must be one of {', '.join(EXPORT_FREQUENCIES)}, "
                      f"got {mode!r}")
    schedule = value.get("schedule")
    if not isinstance(schedule, dict):
        raise Invalid(f"{where}.schedule is required by a file-based destination")
    frequency = schedule.get("frequency")
    if frequency not in EXPORT_FREQUENCIES[mode]:
        raise Invalid(f"{where}.schedule.frequency {frequency!r} is not valid with {mode} "
                      f"(one of {', '.join(sorted(EXPORT_FREQUENCIES[mode]))})")
    if not isinstance(schedule.get("startDate"), str) or not _DATE.fullmatch(schedule["startDate"]):
        raise Invalid(f"{where}.schedule.startDate must be YYYY-MM-DD")
    if mode == "DAILY_FULL_EXPORT":
        trigger = schedule.get("triggerType")
        if trigger not in TRIGGERS:
            raise Invalid(f"{where}.schedule.triggerType must be one of "
                          f"{', '.join(sorted(TRIGGERS))} with DAILY_FULL_EXPORT")
        if trigger == "SCHEDULED" and not _TIME.fullmatch(str(schedule.get("startTime", ""))):
            raise Invalid(f"{where}.schedule.startTime (HH:mm UTC) is required with SCHEDULED")
        if frequency == "ONCE" and "endDate" in schedule:
            raise Invalid(f"{where}.schedule.endDate does not apply to a ONCE export")
