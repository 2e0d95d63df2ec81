"""The emulated Dataset Service: data usage labels of a dataset (contract §7).

Base ``/data/foundation/dataset``; one path, ``/datasets/{id}/labels``, five methods. A
dataset either has a labels entity or not:

- ``GET`` answers ``{"AEP:dataset:<id>": {"imsOrg", "labels": [...], "optionalLabels":
  [{"option": {"id", "contentType", "schemaPath"}, "labels": [...]}]}}`` with the entity's
  version in the ``ETag`` header; ``HEAD`` answers the header alone. Without an entity both
  answer 404 [inferred: the contract does not say what an unlabelled dataset answers].
- ``POST`` creates the entity (201; 409 when one exists, only ``PUT`` may change it then).
- ``PUT`` replaces it (a field it does not name has no labels after it; an ``optionalLabels``
  entry with empty ``labels``, the Dataset Service guide's way of removing a field's labels,
  means the same) and ``DELETE`` removes it; both need ``If-Match`` with the current etag:
  428 without the header, 412 when it is stale.

A body has ``labels`` (core label names) and optionally ``optionalLabels``, and may carry the
guide's ``entityId`` (``{"namespace": "AEP", "id": <dataset id>, "type": "dataset"}``) and
``parents``. A label list may be flat (the guide) or a list of lists (aepp's example body;
the contract marks the shape uncertain, so both are accepted). A field's ``option.id`` must be
the dataset's Catalog ``schemaRef.id`` and its ``schemaPath`` ``/properties/<column>[/...]``
of a column of the dataset's table, or, for a dataset of a Schema Registry schema, the path of
one of that schema's fields (``/properties/_<tenant>/properties/propensity``: the Registry's
XDM shape, not the flattened table the emulator keeps for tenant-only schemas). Anything else
is a 400 RFC 7807 body; a dataset Catalog does not know is a 404. The label names are the emulator's own copy of §7's list.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .catalog import PQS_TAG, catalog
from .routing import Request, Response, Router, problem
from .schemas import registry

if TYPE_CHECKING:
    from .server import Emulator

BASE = "/data/foundation/dataset"
XED_FULL = "application/vnd.adobe.xed-full+json;version=1"
# contract §7: core, identity, sensitive and the beta Third-Party label
KNOWN_LABELS = frozenset({*(f"C{n}" for n in range(1, 13)), "I1", "I2", "S1", "S2", "PSPD",
                          "RHD", "Third-Party"})
BODY_KEYS = {"labels", "optionalLabels", "entityId", "parents"}
_PATH = re.compile(r"/properties/([^/]+)(/properties/[^/]+)*")


class Invalid(Exception):
    """A request body the Dataset Service refuses (answered 400)."""


class LabelStore:
    """The labels entity of each dataset: its labels, field labels (by schema path) and etag."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.entities: dict[str, dict[str, Any]] = {}
        self.lock = threading.RLock()

    def put(self, ds_id: str, labels: list[str], fields: dict[str, list[str]]) -> dict[str, Any]:
        """Store a new version of ``ds_id``'s entity (fields without labels are dropped)."""
        entity = {"labels": labels, "fields": {p: v for p, v in fields.items() if v},
                  "etag": f'"{uuid.uuid4()}"'}
        self.entities[ds_id] = entity
        return entity

    def body(self, ds_id: str, record: dict[str, Any]) -> dict[str, Any]:
        """The GET body of ``ds_id``'s entity."""
        entity = self.entities[ds_id]
        ref = record["schemaRef"]
        return {f"AEP:dataset:{ds_id}": {
            "imsOrg": self.emu.org_id, "labels": list(entity["labels"]),
            "optionalLabels": [{"option": {"id": ref["id"], "contentType": ref["contentType"],
                                           "schemaPath": path}, "labels": list(values)}
                               for path, values in entity["fields"].items()]}}


def labels_store(emu: Emulator) -> LabelStore:
    """The label entities of ``emu`` (created on first use)."""
    return emu.service_state("labels", lambda: LabelStore(emu))


def _label_list(value: Any, where: str) -> list[str]:
    """A flat, checked, de-duplicated list of label names (a list of lists is flattened)."""
    if not isinstance(value, list):
        raise Invalid(f"'{where}' must be an array of label names")
    flat = [v for item in value for v in (item if isinstance(item, list) else [item])]
    names: list[str] = []
    for name in flat:
        if not isinstance(name, str):
            raise Invalid(f"'{where}' must be an array of label names, got {name!r}")
        if name not in KNOWN_LABELS:
            raise Invalid(f"'{where}': unknown data usage label '{name}'; known labels are "
                          f"{', '.join(sorted(KNOWN_LABELS))}")
        if name not in names:
            names.append(name)
    return names


def parse_body(body: Any, ds_id: str, record: dict[str, Any], columns: list[str],
               schema_paths: set[str] | None = None) -> tuple[list[str], dict[str, list[str]]]:
    """The labels and field labels (by schema path) of a POST or PUT body (``schema_paths``:
    the field paths of the dataset's Registry schema, when it has one; else a path must start
    at one of the table's ``columns``).

    Raises:
        Invalid: the body is not the contract's shape, names an unknown label, another
            dataset, another schema or a field the dataset does not have.
    """
    if not isinstance(body, dict):
        raise Invalid("The request body must be a JSON object with 'labels'")
    unknown = sorted(set(body) - BODY_KEYS)
    if unknown:
        raise Invalid(f"Unknown field(s) {', '.join(unknown)}; allowed: "
                      f"{', '.join(sorted(BODY_KEYS))}")
    if "labels" not in body:
        raise Invalid("'labels' is required (an array of label names, may be empty)")
    entity = body.get("entityId")
    if entity is not None and entity != {"namespace": "AEP", "id": ds_id, "type": "dataset"}:
        raise Invalid(f"'entityId' must be {{\"namespace\": \"AEP\", \"id\": \"{ds_id}\", "
                      "\"type\": \"dataset\"}")
    if not isinstance(body.get("parents", []), list):
        raise Invalid("'parents' must be an array")
    labels = _label_list(body["labels"], "labels")
    optional = body.get("optionalLabels", [])
    if not isinstance(optional, list):
        raise Invalid("'optionalLabels' must be an array")
    fields: dict[str, list[str]] = {}
    for i, item in enumerate(optional):
        where = f"optionalLabels[{i}]"
        if not isinstance(item, dict) or set(item) != {"option", "labels"}:
            raise Invalid(f"'{where}' must be an object with exactly 'option' and 'labels'")
        option = item["option"]
        if not isinstance(option, dict) or set(option) != {"id", "contentType", "schemaPath"}:
            raise Invalid(f"'{where}.option' must have exactly id, contentType and schemaPath")
        if option["id"] != record["schemaRef"]["id"]:
            raise Invalid(f"'{where}.option.id' must be the dataset's schema "
                          f"{record['schemaRef']['id']}, got {option['id']!r}")
        if option["contentType"] != XED_FULL:
            raise Invalid(f"'{where}.option.contentType' must be {XED_FULL}, got "
                          f"{option['contentType']!r}")
        path = option["schemaPath"]
        if schema_paths is not None and path not in schema_paths:
            raise Invalid(f"'{where}.option.schemaPath' {path!r} is not a field of the "
                          f"dataset's schema (fields: {', '.join(sorted(schema_paths))})")
        match = _PATH.fullmatch(path) if isinstance(path, str) else None
        if schema_paths is None and (match is None or match.group(1) not in columns):
            raise Invalid(f"'{where}.option.schemaPath' {path!r} is not a field of the dataset's "
                          f"schema (expected /properties/<column>, columns: {', '.join(columns)})")
        if path in fields:
            raise Invalid(f"'{where}': schemaPath {path} is given twice")
        fields[path] = _label_list(item["labels"], f"{where}.labels")
    return labels, fields


def schema_paths(emu: Emulator, record: dict[str, Any]) -> set[str] | None:
    """The ``schemaPath`` of every field of the dataset's Registry schema (None for a
    dataset the Registry did not make)."""
    schema = registry(emu).schemas.get(str((record.get("schemaRef") or {}).get("id")))
    if schema is None:
        return None
    return {"".join(f"/properties/{part}" for part in path.split("/")[1:])
            for path in registry(emu).fields_of(schema)}


def seed(emu: Emulator, store: LabelStore, ds_id: str, labels: Iterable[str],
         field_labels: Mapping[str, Iterable[str]]) -> str:
    """Replace ``ds_id``'s labels with ``labels`` and per-column ``field_labels``, checked as a
    POST body is; the new etag (``Emulator.seed_labels``).

    Raises:
        Invalid: the dataset is unknown, or a label or column is not valid.
    """
    record = catalog(emu).get(ds_id)
    if record is None:
        raise Invalid(f"Dataset '{ds_id}' was not found")
    ref = record["schemaRef"]
    body = {"labels": list(labels), "optionalLabels": [
        {"option": {"id": ref["id"], "contentType": ref["contentType"],
                    "schemaPath": f"/properties/{column}"}, "labels": list(values)}
        for column, values in field_labels.items()]}
    with store.lock:
        parsed, fields = parse_body(body, ds_id, record,
                                    emu.engine.columns(record["tags"][PQS_TAG][0]))
        return store.put(ds_id, parsed, fields)["etag"]


def register(router: Router, emu: Emulator) -> None:
    """Add the dataset labels paths."""
    store, cat = labels_store(emu), catalog(emu)
    path = f"{BASE}/datasets/{{id}}/labels"

    def handler(request: Request, params: dict[str, str]) -> Response:
        ds_id = params["id"]
        record = cat.get(ds_id)
        if record is None:
            return problem(404, "NotFoundError", f"Dataset '{ds_id}' was not found")
        with store.lock:
            try:
                return _serve(request, ds_id, record)
            except Invalid as exc:
                return problem(400, "BadRequestError", str(exc))

    def _serve(request: Request, ds_id: str, record: dict[str, Any]) -> Response:
        entity = store.entities.get(ds_id)
        method = request.method
        if method in ("PUT", "DELETE"):
            etag = request.headers.get("if-match")
            if not etag:
                return problem(428, "PreconditionRequired", f"{method} of the labels of dataset "
                               f"'{ds_id}' requires an If-Match header with their current etag")
        if entity is None and method != "POST":
            return problem(404, "NotFoundError", f"Dataset '{ds_id}' has no labels")
        if method in ("PUT", "DELETE") and _bare(etag) != _bare(entity["etag"]):
            return problem(412, "PreconditionFailed", f"If-Match {etag} does not match the "
                           f"current etag of the labels of dataset '{ds_id}'")
        if method in ("GET", "HEAD"):
            return Response(200, store.body(ds_id, record), {"ETag": entity["etag"]})
        if method == "DELETE":
            del store.entities[ds_id]
            return Response(204)
        if method == "POST" and entity is not None:
            return problem(409, "Conflict", f"Dataset '{ds_id}' already has labels; change them "
                           "with PUT and If-Match")
        if request.json is None:
            raise Invalid("The request body must be a JSON object with 'labels'")
        columns = emu.engine.columns(record["tags"][PQS_TAG][0])
        labels, fields = parse_body(request.json, ds_id, record, columns,
                                    schema_paths(emu, record))
        created = store.put(ds_id, labels, fields)
        code, status = ("PES-201", 201) if method == "POST" else ("PES-200", 200)
        answer = store.body(ds_id, record)[f"AEP:dataset:{ds_id}"]
        return Response(status, {"parents": [], "optionalLabels": answer["optionalLabels"],
                                 "labels": answer["labels"], "code": code,
                                 "message": f"{method} Successful"}, {"ETag": created["etag"]})

    for method in ("GET", "HEAD", "POST", "PUT", "DELETE"):
        router.add(method, path, handler)


def _bare(etag: str) -> str:
    """An etag without a weak prefix and quotes, to compare."""
    return etag.strip().removeprefix("W/").strip('"')
