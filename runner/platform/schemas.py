"""A dataset made ready through the Schema Registry and Catalog: a Profile-enabled score
dataset, or any dataset of an XDM class with Adobe's standard field groups and a tenant one
(:func:`ensure_dataset`; the synthetic sources of ``runner synth -t``).

Ingest contract §2: the org's tenant id (``GET /stats``); a tenant field group whose fields sit
under ``_<tenant>``; a schema of the XDM Individual Profile class with that field group; a
primary identity descriptor on the identity field; the schema's ``union`` tag (Profile); and a
Catalog dataset of the schema tagged ``unifiedProfile`` and ``unifiedIdentity``
``enabled:true``. :func:`ensure_profile_dataset` finds each by name before it creates it, so a
second run sends only GETs; what exists but differs from what is asked is refused, not changed.
Creates are sent at most once; a create that fails is looked up by name before the failure
stands (its answer may have been lost after it was served).

The names: the dataset is ``name``, the schema is titled ``name`` and the field group
``<name> fields``. Every column, the identity too, is a field of ``_<tenant>``
(``/_<tenant>/<identity>`` is the descriptor's ``xdm:sourceProperty``), so a row is shaped as
``{"_<tenant>": {"userid": "u1", "propensity": 0.9}}`` (:func:`xdm_row`).

>>> xdm_field("bigint")
{'type': 'integer', 'minimum': -9007199254740991, 'maximum': 9007199254740991}
>>> xdm_row({"userid": "u1", "propensity": 0.5}, "acme", ["userid", "propensity"])
{'_acme': {'userid': 'u1', 'propensity': 0.5}}
>>> import pyarrow as pa
>>> spark_type(pa.float64()), spark_type(pa.int32()), spark_type(pa.timestamp("us", "UTC"))
('double', 'int', 'timestamp')
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runner.errors import PlatformError, ProjectError, RunError
from runner.platform.client import PlatformClient

if TYPE_CHECKING:
    import pyarrow

REGISTRY = "/data/foundation/schemaregistry"
DATASETS = "/data/foundation/catalog/dataSets"
PROFILE_CLASS = "https://ns.adobe.com/xdm/context/profile"
EVENT_CLASS = "https://ns.adobe.com/xdm/context/experienceevent"
XED = "application/vnd.adobe.xed+json"
XED_REF = "application/vnd.adobe.xed+json;version=1"
XDM_FULL = "application/vnd.adobe.xdm+json"
JSON_PATCH = "application/json-patch+json"
ENABLED = "enabled:true"
PROFILE_TAGS = ("unifiedProfile", "unifiedIdentity")
_LONG = 2**53 - 1  # XDM long: the JSON-safe integers
_INT = 2**31
XDM_TYPES: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "boolean": {"type": "boolean"},
    "double": {"type": "number"},
    "float": {"type": "number"},
    "int": {"type": "integer", "minimum": -_INT, "maximum": _INT - 1},
    "bigint": {"type": "integer", "minimum": -_LONG, "maximum": _LONG},
    "date": {"type": "string", "format": "date"},
    "timestamp": {"type": "string", "format": "date-time"},
}
SPARK_ALIASES = {"integer": "int", "long": "bigint", "bool": "boolean", "real": "float"}


@dataclass(frozen=True)
class DatasetSetup:
    """What :func:`ensure_dataset` made ready, and which steps created something."""

    tenant: str
    fieldgroup_id: str
    schema_id: str
    dataset_id: str
    created: tuple[str, ...] = ()
    found: tuple[str, ...] = ()


def xdm_field(spark_type: str) -> dict[str, Any]:
    """The XDM field definition of a Spark SQL type (``double`` -> ``number``).

    Raises:
        ProjectError: the type has no XDM counterpart here (decimal, arrays, structs, ...).
    """
    key = spark_type.strip().lower()
    key = SPARK_ALIASES.get(key, key)
    if key not in XDM_TYPES:
        raise ProjectError(f"column type '{spark_type}' cannot be a Profile field; supported: "
                           f"{', '.join(XDM_TYPES)} (cast the column to one of them)")
    return dict(XDM_TYPES[key])


def _title(column: str) -> str:
    return column.replace("_", " ").strip().title()


def fieldgroup_body(title: str, tenant: str, fields: Mapping[str, str],
                   profile: bool = True, xdm_class: str = PROFILE_CLASS) -> dict[str, Any]:
    """The ``POST /tenant/fieldgroups`` body (§2.2) with ``fields`` under ``_<tenant>``, for
    schemas of ``xdm_class``."""
    props = {column: {"title": _title(column), **xdm_field(kind)} for column, kind in fields.items()}
    what = "Score fields" if profile else "Fields"
    return {"type": "object", "title": title, "description": f"{what} of {title}",
            "allOf": [{"$ref": "#/definitions/customFields"}], "meta:containerId": "tenant",
            "meta:resourceType": "mixins", "meta:xdmType": "object",
            "definitions": {"customFields": {"type": "object", "properties": {
                f"_{tenant}": {"type": "object", "properties": props}}}},
            "meta:intendedToExtend": [xdm_class]}


def schema_body(title: str, fieldgroup_id: str, profile: bool = True,
                xdm_class: str = PROFILE_CLASS, standard: Sequence[str] = ()) -> dict[str, Any]:
    """The ``POST /tenant/schemas`` body (§2.3): the class, the ``standard`` field groups
    (Adobe's, by ``$id``) and the tenant field group."""
    what = "Profile schema" if profile else "Schema"
    return {"title": title, "description": f"{what} of {title}", "type": "object",
            "allOf": [{"$ref": ref, "type": "object", "meta:xdmType": "object"}
                      for ref in (xdm_class, *standard, fieldgroup_id)]}


def identity_body(schema_id: str, tenant: str, identity: str, namespace: str) -> dict[str, Any]:
    """The primary identity descriptor (§2.4) on ``/_<tenant>/<identity>``."""
    return {"@type": "xdm:descriptorIdentity", "xdm:sourceSchema": schema_id,
            "xdm:sourceVersion": 1, "xdm:sourceProperty": f"/_{tenant}/{identity}",
            "xdm:namespace": namespace, "xdm:property": "xdm:id", "xdm:isPrimary": True}


def dataset_body(name: str, schema_id: str, profile: bool = True) -> dict[str, Any]:
    """The ``POST /dataSets`` body (§2.6), with ``profile`` enabled for Profile and Identity
    at creation."""
    body: dict[str, Any] = {"name": name, "schemaRef": {"id": schema_id, "contentType": XED_REF},
                            "fileDescription": {"persisted": True, "containerFormat": "parquet",
                                                "format": "parquet"}}
    if profile:
        body["tags"] = {tag: [ENABLED] for tag in PROFILE_TAGS}
    return body


def _plain(column: str, value: Any) -> Any:
    """A JSON value: a date as ``YYYY-MM-DD``, a timestamp as RFC 3339 in UTC (``...Z``)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ProjectError(f"column '{column}' has a timestamp without a time zone "
                               f"({value.isoformat()}); XDM date-time needs one (make it UTC)")
        return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def xdm_row(row: Mapping[str, Any], tenant: str, columns: Sequence[str]) -> dict[str, Any]:
    """``row`` shaped for the dataset: every column under ``_<tenant>``, dates as ISO-8601.

    Raises:
        ProjectError: ``row`` has a column the dataset's field group does not, or a
            timestamp without a time zone.
    """
    extra = sorted(set(row) - set(columns))
    if extra:
        raise ProjectError(f"column(s) {', '.join(extra)} are not fields of the Profile dataset "
                           f"(fields: {', '.join(columns)})")
    return {f"_{tenant}": {column: _plain(column, row[column]) for column in columns
                           if column in row}}


def spark_type(dtype: pyarrow.DataType) -> str:
    """The Spark SQL name of an Arrow type (``str(dtype)`` for one without a counterpart
    here, which ``xdm_field`` then refuses)."""
    import pyarrow as pa

    t = pa.types
    if t.is_uint64(dtype):  # past a long's range
        return str(dtype)
    for test, name in ((t.is_string, "string"), (t.is_large_string, "string"),
                       (t.is_boolean, "boolean"), (t.is_int64, "bigint"), (t.is_uint32, "bigint"),
                       (t.is_integer, "int"), (t.is_float64, "double"), (t.is_floating, "float"),
                       (t.is_date, "date"), (t.is_timestamp, "timestamp")):
        if test(dtype):
            return name
    return str(dtype)


def arrow_fields(table: pyarrow.Table) -> dict[str, str]:
    """Each column's Spark type, checked as an XDM field (a timestamp needs a time zone).

    Raises:
        ProjectError: a type without an XDM counterpart, or a timestamp without a time zone.
    """
    fields = {}
    for field in table.schema:
        fields[field.name] = kind = spark_type(field.type)
        xdm_field(kind)
        if kind == "timestamp" and field.type.tz is None:
            raise ProjectError(f"column '{field.name}' is a timestamp without a time zone; XDM "
                               "date-time needs one (make it UTC)")
    return fields


def xdm_table(table: pyarrow.Table, tenant: str) -> pyarrow.Table:
    """``table``'s rows shaped as XDM: one struct column ``_<tenant>`` of the columns (dates
    and timestamps as ISO-8601 strings, as ``xdm_row`` makes them)."""
    import pyarrow as pa

    struct = pa.struct([pa.field(f.name, pa.string() if pa.types.is_temporal(f.type) else f.type)
                        for f in table.schema])
    rows = [xdm_row(row, tenant, table.column_names) for row in table.to_pylist()]
    return pa.Table.from_pylist(rows, schema=pa.schema([pa.field(f"_{tenant}", struct)]))


def _tenant_props(resource: Mapping[str, Any], tenant: str) -> dict[str, Any]:
    """The ``_<tenant>`` fields of a field group resource, without their titles and
    descriptions (empty when it has none)."""
    for definition in (resource.get("definitions") or {}).values():
        props = (((definition or {}).get("properties") or {}).get(f"_{tenant}") or {})
        if props.get("properties"):
            return {name: {k: v for k, v in spec.items() if k not in ("title", "description")}
                    for name, spec in props["properties"].items() if isinstance(spec, dict)}
    return {}


def _find(client: PlatformClient, kind: str, title: str) -> dict[str, Any] | None:
    """The tenant resource of ``kind`` titled ``title`` (full, ``xed+json``), or None."""
    body = client.get(f"{REGISTRY}/tenant/{kind}", params={"property": f"title=={title}"},
                      headers={"Accept": XED}) or {}
    found = [r for r in body.get("results", []) if r.get("title") == title]
    return found[0] if found else None


def _create(client: PlatformClient, path: str, body: Any,
            lookup: Callable[[], Any | None]) -> Any:
    """POST ``body`` once; when that fails, ``lookup()`` finds what it may have made anyway.

    A create is sent with ``once=True`` (never resent after it may have been served: a second
    copy would be a duplicate); if it fails, the thing is looked up by name, and only when it
    is not there does the failure stand.
    """
    try:
        return client.post(path, json=body, once=True)
    except PlatformError:
        found = lookup()
        if found is None:
            raise
        return found


def _post(client: PlatformClient, path: str, body: Any, key: str, what: str,
          lookup: Callable[[], dict[str, Any] | None]) -> dict[str, Any]:
    answer = _create(client, path, body, lookup)
    if not isinstance(answer, dict) or key not in answer:
        raise RunError(f"POST {path}: the answer has no '{key}', so the {what} cannot be used")
    return answer


def existing_fieldgroup(client: PlatformClient, tenant: str, name: str,
                        fields: Mapping[str, str]) -> dict[str, Any] | None:
    """The field group ``<name> fields`` when it exists (None when not).

    Raises:
        RunError: it exists with other ``_<tenant>`` fields than ``fields``.
    """
    title = f"{name} fields"
    group = _find(client, "fieldgroups", title)
    if group is not None and _tenant_props(group, tenant) != _tenant_props(
            fieldgroup_body(title, tenant, fields), tenant):
        raise RunError(f"field group '{title}' ({group.get('$id')}) exists with other fields than "
                       f"{', '.join(f'{c}:{t}' for c, t in fields.items())}; change or rename "
                       "it in the Schema Registry")
    return group


def _fieldgroup(client: PlatformClient, tenant: str, name: str, columns: Mapping[str, str],
                profile: bool, xdm_class: str, done: dict[str, bool]) -> dict[str, Any]:
    title = f"{name} fields"
    group = existing_fieldgroup(client, tenant, name, columns)
    done["fieldgroup"] = group is None
    if group is None:
        return _post(client, f"{REGISTRY}/tenant/fieldgroups",
                     fieldgroup_body(title, tenant, columns, profile, xdm_class), "$id",
                     "field group",
                     lambda: _find(client, "fieldgroups", title))
    return group


def find_schema(client: PlatformClient, name: str) -> dict[str, Any] | None:
    """The tenant schema titled ``name`` (None without one)."""
    return _find(client, "schemas", name)


def _schema(client: PlatformClient, name: str, group: Mapping[str, Any], profile: bool,
            xdm_class: str, standard: Sequence[str], done: dict[str, bool]) -> dict[str, Any]:
    schema = _find(client, "schemas", name)
    done["schema"] = schema is None
    if schema is None:
        return _post(client, f"{REGISTRY}/tenant/schemas",
                     schema_body(name, group["$id"], profile, xdm_class, standard),
                     "$id", "schema", lambda: _find(client, "schemas", name))
    if schema.get("meta:class") != xdm_class:
        raise RunError(f"schema '{name}' ({schema.get('$id')}) exists but is of the class "
                       f"{schema.get('meta:class')}, not {xdm_class}; rename the dataset or fix "
                       "the schema")
    refs = {item.get("$ref") for item in schema.get("allOf", [])}
    missing = [ref for ref in (group["$id"], *standard) if ref not in refs]
    if missing:
        raise RunError(f"schema '{name}' ({schema.get('$id')}) exists without the field "
                       f"group(s) {', '.join(missing)}; rename the dataset or add them to the "
                       "schema")
    return schema


def _primary(client: PlatformClient, schema_id: str) -> dict[str, Any] | None:
    """The primary identity descriptor of ``schema_id`` (None without one)."""
    listed = client.get(f"{REGISTRY}/tenant/descriptors",
                        params={"property": f"xdm:sourceSchema=={schema_id}"},
                        headers={"Accept": XDM_FULL}) or {}
    return next((d for d in listed.get("xdm:descriptorIdentity", []) if isinstance(d, dict)
                 and d.get("xdm:sourceSchema") == schema_id and d.get("xdm:isPrimary")), None)


def _identity(client: PlatformClient, schema: Mapping[str, Any], want: Mapping[str, Any],
              done: dict[str, bool]) -> None:
    primary = _primary(client, schema["$id"])
    done["identity"] = primary is None
    if primary is None:
        _post(client, f"{REGISTRY}/tenant/descriptors", want, "@id", "descriptor",
              lambda: _primary(client, schema["$id"]))
    elif any(primary.get(k) != want[k] for k in ("xdm:sourceProperty", "xdm:namespace")):
        raise RunError(f"schema '{schema.get('title')}' has the primary identity "
                       f"{primary.get('xdm:sourceProperty')} ({primary.get('xdm:namespace')}), "
                       f"not {want['xdm:sourceProperty']} ({want['xdm:namespace']})")


def _union(client: PlatformClient, schema: Mapping[str, Any], done: dict[str, bool]) -> None:
    done["union"] = "union" not in schema.get("meta:immutableTags", [])
    if done["union"]:
        client.patch(f"{REGISTRY}/tenant/schemas/{schema['meta:altId']}",
                     json=[{"op": "add", "path": "/meta:immutableTags", "value": ["union"]}])


def datasets_named(client: PlatformClient, name: str) -> dict[str, dict[str, Any]]:
    """Catalog's datasets named ``name``, by id (name, schemaRef and tags only)."""
    listed = client.get(DATASETS, params={"name": name, "properties": "name,schemaRef,tags"}) or {}
    return {k: v for k, v in listed.items() if isinstance(v, dict) and v.get("name") == name}


def _dataset(client: PlatformClient, name: str, schema_id: str, profile: bool,
             done: dict[str, bool]) -> str:
    matches = datasets_named(client, name)
    done["dataset"] = not matches
    if not matches:
        answer = _create(client, DATASETS, dataset_body(name, schema_id, profile),
                         lambda: [f"@/dataSets/{k}" for k in datasets_named(client, name)] or None)
        if not (isinstance(answer, list) and answer and str(answer[0]).startswith("@/dataSets/")):
            raise RunError(f"POST {DATASETS}: the answer {answer!r} names no dataset")
        return str(answer[0]).rpartition("/")[2]
    if len(matches) > 1:
        raise RunError(f"Catalog has {len(matches)} datasets named '{name}' "
                       f"({', '.join(sorted(matches))}); delete or rename all but one")
    ((dataset_id, record),) = matches.items()
    have = (record.get("schemaRef") or {}).get("id")
    if have != schema_id:
        raise RunError(f"dataset '{name}' ({dataset_id}) has schema {have}, not {schema_id}; "
                       "rename it")
    if not profile:
        return dataset_id
    tags = record.get("tags") or {}
    missing = [tag for tag in PROFILE_TAGS if ENABLED not in tags.get(tag, [])]
    done["profile tags"] = bool(missing)
    if missing:
        client.patch(f"{DATASETS}/{dataset_id}", headers={"Content-Type": JSON_PATCH}, json=[
            {"op": "add", "path": f"/tags/{tag}",
             "value": [t for t in tags.get(tag, []) if not t.startswith("enabled:")] + [ENABLED]}
            for tag in missing])
    return dataset_id


def tenant_id(client: PlatformClient) -> str:
    """The org's tenant id (``GET /stats``), without the ``_``.

    Raises:
        RunError: the answer has no tenant id.
        PlatformError: the call failed.
    """
    stats = client.get(f"{REGISTRY}/stats", headers={"Accept": XED}) or {}
    tenant = stats.get("tenantId")
    if not tenant:
        raise RunError(f"GET {REGISTRY}/stats: the answer has no tenantId")
    return str(tenant)


def ensure_dataset(client: PlatformClient, name: str, fields: Mapping[str, str], *,
                   profile: bool = False, identity: str | None = None,
                   namespace: str = "ECID", xdm_class: str = PROFILE_CLASS,
                   standard: Sequence[str] = ()) -> DatasetSetup:
    """Make dataset ``name`` of ``xdm_class`` ready to take rows, creating only what is
    missing: the field group, the schema (the class, the ``standard`` field groups and the
    tenant one) and the dataset, and with ``profile`` the primary identity descriptor on
    ``identity``, the schema's union tag and the dataset's Profile tags.

    Args:
        client: the Platform client.
        name: the dataset name and schema title (the field group is ``<name> fields``).
        fields: column -> Spark type (:data:`XDM_TYPES`), in order.
        profile: enable the dataset for Profile (needs ``identity``).
        identity: the identity column (a string field; added first when not in ``fields``).
        namespace: the identity namespace code of the primary identity.
        xdm_class: the schema's class (the Individual Profile class by default).
        standard: Adobe's field groups the schema includes besides the tenant one.

    Returns:
        The tenant, the field group, schema and dataset ids, and which steps created
        something and which found it done.

    Raises:
        ProjectError: a column type has no XDM counterpart, or the identity is not a string.
        RunError: something exists under these names but differs from what is asked.
        PlatformError: a call failed.
    """
    if profile and identity is None:
        raise ProjectError(f"dataset '{name}': a Profile dataset needs an identity column")
    columns = dict(fields)
    if identity is not None:
        if identity in fields and xdm_field(fields[identity]) != XDM_TYPES["string"]:
            raise ProjectError(f"identity column '{identity}' is {fields[identity]}; an "
                               "identity must be a string (cast it)")
        columns = {identity: "string", **{c: t for c, t in fields.items() if c != identity}}
    for kind in columns.values():
        xdm_field(kind)
    tenant = tenant_id(client)
    done: dict[str, bool] = {}
    group = _fieldgroup(client, tenant, name, columns, profile, xdm_class, done)
    schema = _schema(client, name, group, profile, xdm_class, standard, done)
    if profile and identity is not None:
        _identity(client, schema, identity_body(schema["$id"], tenant, identity, namespace),
                  done)
        _union(client, schema, done)
    dataset_id = _dataset(client, name, schema["$id"], profile, done)
    return DatasetSetup(tenant, group["$id"], schema["$id"], dataset_id,
                          tuple(k for k, v in done.items() if v),
                          tuple(k for k, v in done.items() if not v))


def ensure_profile_dataset(client: PlatformClient, name: str, fields: Mapping[str, str],
                           identity: str, namespace: str = "ECID") -> DatasetSetup:
    """Make dataset ``name`` ready to take Profile rows, creating only what is missing
    (:func:`ensure_dataset` with ``profile=True``).

    Args:
        client: the Platform client.
        name: the dataset name and schema title (the field group is ``<name> fields``).
        fields: column -> Spark type of the score columns (:data:`XDM_TYPES`).
        identity: the identity column (a string field; added when not in ``fields``).
        namespace: the identity namespace code of the primary identity.

    Returns:
        The tenant, the field group, schema and dataset ids, and which of the steps
        ``fieldgroup``, ``schema``, ``identity``, ``union``, ``dataset`` (and, for a dataset
        found, ``profile tags``) created something and which found it done.

    Raises:
        ProjectError: a column type has no XDM counterpart, or the identity is not a string.
        RunError: something exists under these names but differs from what is asked.
        PlatformError: a call failed.
    """
    return ensure_dataset(client, name, fields, profile=True, identity=identity,
                          namespace=namespace)
