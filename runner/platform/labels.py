"""Data usage labels of a dataset, through Platform's Dataset Service (contract §7).

Base ``/data/foundation/dataset``; a dataset's labels live at ``/datasets/{id}/labels``:
``GET`` answers ``{"AEP:dataset:<id>": {"labels": [...], "optionalLabels": [{"option":
{"id": <schema $id>, "contentType", "schemaPath": "/properties/<column>"}, "labels": [...]}]}}``
with the version in the ``ETag`` header; ``POST`` creates them, ``PUT`` replaces and
``DELETE`` removes them, both with ``If-Match: <etag>``. Dataset labels are a set of names
(``C12``); field labels are keyed here by column, ``/properties/a/properties/b`` being
``a.b``. Field labels name the dataset's schema, whose id is Catalog's ``schemaRef``.

:func:`apply_labels` is idempotent: it reads first and writes only what differs, so applying
the same labels twice costs one ``GET``. A write refused because someone else changed the
labels in between (412 on a stale etag, 409 on a create that lost a race or whose answer was
lost after it was served) is re-read and tried once more.

>>> field_path("total")
'/properties/total'
>>> column_of("/properties/person/properties/name")
'person.name'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from runner.errors import PlatformError
from runner.platform.client import PlatformClient

LABELS = "/data/foundation/dataset/datasets/{id}/labels"
DATASET = "/data/foundation/catalog/dataSets/{id}"
XED_FULL = "application/vnd.adobe.xed-full+json;version=1"
CONFLICTS = (409, 412)


class Labels(NamedTuple):
    """A dataset's labels: on the dataset, per column, and the etag (None: it has none)."""

    dataset: frozenset[str]
    fields: dict[str, frozenset[str]]
    etag: str | None


def field_path(column: str) -> str:
    """The schema path of a column (``a.b`` is a nested field)."""
    return "".join(f"/properties/{part}" for part in column.split("."))


def column_of(path: str) -> str:
    """The column (dotted for a nested field) of a schema path."""
    return ".".join(part for part in path.split("/") if part and part != "properties")


def _names(value: Any) -> frozenset[str]:
    """Label names from a flat list or aepp's list of lists (§7: the shape is uncertain)."""
    if not isinstance(value, list):
        return frozenset()
    return frozenset(str(v) for item in value
                     for v in (item if isinstance(item, list) else [item]))


def read_labels(client: PlatformClient, dataset_id: str) -> Labels:
    """The labels of ``dataset_id`` (empty with etag None when it has none: a 404).

    Raises:
        PlatformError: the call failed (other than 404).
    """
    path = LABELS.format(id=dataset_id)
    try:
        body, headers = client.exchange("GET", path)
    except PlatformError as err:
        if err.status == 404:
            return Labels(frozenset(), {}, None)
        raise
    entity = next(iter(body.values()), {}) if isinstance(body, dict) else {}
    fields: dict[str, frozenset[str]] = {}
    for item in entity.get("optionalLabels") or []:
        names = _names(item.get("labels"))
        path_of = (item.get("option") or {}).get("schemaPath")
        if names and isinstance(path_of, str):
            fields[column_of(path_of)] = fields.get(column_of(path_of), frozenset()) | names
    etag = headers.get("ETag")
    if etag is None:  # the contract names HEAD as where the etag is
        etag = client.exchange("HEAD", path)[1].get("ETag")
    return Labels(_names(entity.get("labels")), fields, etag)


def dataset_schema_ref(client: PlatformClient, dataset_id: str) -> dict[str, str]:
    """Catalog's ``schemaRef`` (``id``, ``contentType``) of ``dataset_id`` (§4).

    Raises:
        PlatformError: the call failed or the record has no schemaRef.
    """
    path = DATASET.format(id=dataset_id)
    body = client.get(path, params={"properties": "schemaRef"}) or {}
    ref = (body.get(dataset_id) or {}).get("schemaRef") if isinstance(body, dict) else None
    if not isinstance(ref, dict) or "id" not in ref:
        raise PlatformError(f"GET {path}: Catalog has no schemaRef for dataset '{dataset_id}', "
                            "so its field labels cannot be applied")
    return {"id": str(ref["id"]), "contentType": str(ref.get("contentType") or XED_FULL)}


def _clean(dataset_labels: Iterable[str], field_labels: Mapping[str, Iterable[str]]
           ) -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    fields = {column: frozenset(names) for column, names in field_labels.items()}
    return frozenset(dataset_labels), {c: n for c, n in fields.items() if n}


def labels_body(dataset_id: str, dataset_labels: frozenset[str],
                fields: Mapping[str, frozenset[str]], schema_ref: Mapping[str, str] | None,
                removed: Iterable[str] = ()) -> dict[str, Any]:
    """The POST/PUT body: ``entityId``, sorted ``labels`` and, when there are field labels
    (or ``removed`` columns, sent with empty labels), ``optionalLabels``."""
    body: dict[str, Any] = {"entityId": {"namespace": "AEP", "id": dataset_id,
                                         "type": "dataset"},
                            "labels": sorted(dataset_labels)}
    entries = {**{column: frozenset() for column in removed}, **fields}
    if entries:
        assert schema_ref is not None
        body["optionalLabels"] = [
            {"option": {"id": schema_ref["id"], "contentType": schema_ref["contentType"],
                        "schemaPath": field_path(column)}, "labels": sorted(entries[column])}
            for column in sorted(entries)]
    return body


def apply_labels(client: PlatformClient, dataset_id: str, dataset_labels: Iterable[str],
                 field_labels: Mapping[str, Iterable[str]],
                 schema_ref: Mapping[str, str] | None = None) -> str:
    """Make ``dataset_id``'s labels exactly these; what it did.

    Args:
        client: the Platform client.
        dataset_id: the Catalog dataset id.
        dataset_labels: labels of the whole dataset.
        field_labels: labels per column (a column without labels is left out or empty).
        schema_ref: the dataset's Catalog ``schemaRef``; looked up when field labels must be
            sent and it is not given.

    Returns:
        ``unchanged`` (only a GET was sent), ``created`` (POST), ``replaced`` (PUT) or
        ``deleted`` (DELETE: no labels are wanted and some were there).

    Raises:
        PlatformError: a call failed, or the labels changed under us twice in a row.
    """
    want, fields = _clean(dataset_labels, field_labels)
    path = LABELS.format(id=dataset_id)
    for attempt in (1, 2):
        current = read_labels(client, dataset_id)
        if current.dataset == want and current.fields == fields:
            return "unchanged"
        removed = sorted(set(current.fields) - set(fields)) if current.etag else []
        deleting = current.etag is not None and not want and not fields
        if (fields or removed) and not deleting and schema_ref is None:
            schema_ref = dataset_schema_ref(client, dataset_id)
        try:
            if current.etag is None:
                client.post(path, json=labels_body(dataset_id, want, fields, schema_ref))
                return "created"
            if deleting:
                client.delete(path, headers={"If-Match": current.etag})
                return "deleted"
            client.put(path, json=labels_body(dataset_id, want, fields, schema_ref, removed),
                       headers={"If-Match": current.etag})
            return "replaced"
        except PlatformError as err:
            if err.status not in CONFLICTS or attempt == 2:
                raise
    raise AssertionError("unreachable")
