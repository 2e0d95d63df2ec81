"""The emulated Schema Registry and Catalog dataset creation (ingest contract §2, §7.2).

The minimal setup of a Profile-enabled dataset, base ``/data/foundation/schemaregistry``:

- ``GET /stats`` answers the org's ``tenantId`` (here the org id's part before ``@``, lowercased).
- ``POST|GET /tenant/fieldgroups``: a tenant field group; its custom fields must sit under
  ``_<tenantId>`` (``definitions.<name>.properties._<tenant>.properties``), each an XDM type
  (``string``, optionally ``format`` ``date``/``date-time``; ``number``; ``integer``; ``boolean``).
- ``POST|GET /tenant/schemas``: ``allOf`` is exactly one known class (Profile or
  ExperienceEvent) plus tenant field groups and Adobe's standard field groups the emulator
  knows (:mod:`~aep_emulator.xdm`: a subset of adobe/xdm), each intended for that class, none
  twice; ``PATCH /tenant/schemas/{id}`` with
  ``[{"op": "add", "path": "/meta:immutableTags", "value": ["union"]}]`` enables it for Profile,
  refused unless the schema has a primary identity descriptor; the tag cannot be removed.
- ``POST|GET /tenant/descriptors``: only ``xdm:descriptorIdentity``, whose ``xdm:sourceProperty``
  must be a string field of the schema; one primary identity per schema.

GETs must send an ``Accept`` the Registry knows: lists ``application/vnd.adobe.xed-id+json`` or
``application/vnd.adobe.xed+json`` [doc] (``xdm+json``, ``xdm-id+json`` too: aepp's
``getFieldGroups`` default); a lookup by id (``meta:altId`` or URL-encoded ``$id``) an
``application/vnd.adobe.{xed|xdm}[-full][-notext|-desc|-flat|-deprecated]+json`` with
``version=1`` [doc, aepp]; descriptor lists ``application/vnd.adobe.xdm-link+json``,
``xdm-id+json`` or ``xdm+json`` (keyed by ``@type``) [doc] or their paged ``xdm-v2[-link|-id]``
forms (``{"results", "_page"}``) [aepp], and a descriptor lookup ``application/vnd.adobe.xdm+json``
[doc]. Anything else is 406 [inferred: the code is not in the contract], as is ``/stats``
without an ``xed`` Accept [inferred from aepp's header]. Lists answer ``{"results": [...],
"_page": {"orderby", "next", "count"}, "_links": {}}`` [inferred] filtered by
``property=<field>==<value>`` or ``!=`` (top-level fields, a list field matching a member;
several in one parameter comma-separated, as aepp sends them) [doc, aepp].

Catalog (base ``/data/foundation/catalog``): ``POST /dataSets`` with ``name`` and ``schemaRef``
(a Registry schema, ``contentType`` ``application/vnd.adobe.xed[-full][-notext]+json;
version=1``) answers 201 ``["@/dataSets/<24 hex>"]``; ``PATCH /dataSets/{id}`` demands
``Content-Type: application/json-patch+json`` (else AEPP#15's 400 body) and adds tags. A
``unifiedProfile`` tag with ``enabled:true`` needs a union-tagged schema.

A dataset made by ``POST /dataSets`` gets a table in the sandbox database at once, named as
Data Distiller names a dataset's table (the name lowercased, every character that cannot be in
an identifier an underscore: ``churn scores`` -> ``churn_scores``; a name whose table exists is
a 400 [inferred]) and recorded in its ``adobe/pqs/table`` tag. Its columns are the schema's
``_<tenant>`` fields, **flattened**: ``_<tenant>.propensity`` is the column ``propensity``
(``string`` -> text, ``date`` -> date, ``date-time`` -> timestamptz, ``number`` -> double
precision, ``integer`` -> bigint, ``boolean`` -> boolean, an object -> jsonb). The batch loader
unpacks a row's ``_<tenant>`` object into those columns (:mod:`~aep_emulator.ingestload`), so
rows are sent shaped as XDM and read back with plain SQL (``SELECT userid, propensity FROM
churn_scores``). Real Data Distiller keeps the XDM shape instead: the table has a struct column
``_<tenant>`` (and the Profile class's own fields), read as ``SELECT _<tenant>.propensity``
(Spark struct access); flat columns are the simplest form PostgreSQL queries and the loader
fills, at the cost of SQL that differs from Platform's for these datasets.

A schema with a standard field group (the synthetic sources of ``runner synth -t``), or of the
ExperienceEvent class, keeps the XDM shape instead, as Data Distiller does: each top-level field
of its class and field groups (the tenant object too) is a column named by the field lowercased, a struct, map or array as
``jsonb`` with its Spark type in the column's comment (:mod:`~aep_emulator.nested`, so Spark's
nested access works on it), and batch rows are checked against the fields to the leaf
(:mod:`~aep_emulator.ingestload`).
"""

from __future__ import annotations

import re
import secrets
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from psycopg2 import sql

from . import xdm
from .catalog import BASE as CATALOG, PQS_TAG, catalog, now_ms
from .nested import PREFIX as SPARK_COMMENT, pg_type
from .routing import Request, Response, Router, problem

if TYPE_CHECKING:
    from .server import Emulator

BASE = "/data/foundation/schemaregistry"
PROFILE_CLASS = "https://ns.adobe.com/xdm/context/profile"
CLASSES = {PROFILE_CLASS: ("XDM Individual Profile", "record"),
           "https://ns.adobe.com/xdm/context/experienceevent": ("XDM ExperienceEvent",
                                                               "time-series")}
LIST_ACCEPT = {"application/vnd.adobe.xed-id+json", "application/vnd.adobe.xed+json",
               "application/vnd.adobe.xdm-id+json", "application/vnd.adobe.xdm+json"}
LOOKUP_ACCEPT = re.compile(r"application/vnd\.adobe\.(xed|xdm)(-full)?"
                           r"(-notext|-desc|-flat|-deprecated)*\+json;\s*version=1")
REF_TYPE = re.compile(r"application/vnd\.adobe\.xed(-full)?(-notext)?\+json;\s*version=1")
DESCRIPTOR_LISTS = {"application/vnd.adobe.xdm-link+json": "link",
                    "application/vnd.adobe.xdm-id+json": "id", "application/vnd.adobe.xdm+json": "full",
                    "application/vnd.adobe.xdm-v2-link+json": "link",
                    "application/vnd.adobe.xdm-v2-id+json": "id",
                    "application/vnd.adobe.xdm-v2+json": "full"}
_FILTER_SPLIT = re.compile(r",(?=[\w:@.]+(?:==|!=))")
SCALARS = {"string", "number", "integer", "boolean"}
# The column type of a tenant field: by XDM type, a string by its format.
COLUMN_TYPES = {"string": "text", "date": "date", "date-time": "timestamp with time zone",
                "number": "double precision", "integer": "bigint", "boolean": "boolean",
                "object": "jsonb"}
_NOT_IDENTIFIER = re.compile(r"[^a-z0-9_]")
FORMATS = {"date", "date-time"}
JSON_PATCH = "application/json-patch+json"
PATCH_TYPE_ERROR = {"type": "/placeholder/type/uri", "status": 400, "title": "BadRequestError",
                    "detail": "Content-type does not match json-patch body format, value of "
                              "Content-type should be application/json-patch+json."}
PROFILE_NEEDS_IDENTITY = ("In order to enable a schema for Profile, it must have a primary "
                          "identity field defined")


class Invalid(Exception):
    """A request the Registry or Catalog refuses (answered 400)."""


class Registry:
    """The tenant field groups, schemas and descriptors of one emulated sandbox."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.tenant = emu.org_id.split("@")[0].lower()
        self.fieldgroups: dict[str, dict[str, Any]] = {}  # $id -> resource
        self.schemas: dict[str, dict[str, Any]] = {}
        self.descriptors: dict[str, dict[str, Any]] = {}  # @id -> descriptor
        self.lock = threading.RLock()

    def _resource(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """A new tenant resource: ``body`` with its ids and registry metadata."""
        token = secrets.token_hex(16)
        now = now_ms()
        return {**body, "$id": f"https://ns.adobe.com/{self.tenant}/{kind}/{token}",
                "meta:altId": f"_{self.tenant}.{kind}.{token}", "meta:resourceType": kind,
                "version": "1.0", "meta:containerId": "tenant", "meta:sandboxId": self.emu.sandbox,
                "meta:tenantNamespace": f"_{self.tenant}", "imsOrg": self.emu.org_id,
                "meta:registryMetadata": {"repo:createdDate": now, "repo:lastModifiedDate": now,
                                          "xdm:createdClientId": self.emu.client_id}}

    def find(self, store: dict[str, dict[str, Any]], ref: str) -> dict[str, Any] | None:
        """The resource whose ``$id`` or ``meta:altId`` is ``ref`` (URL-decoded)."""
        ref = unquote(ref)
        for resource in store.values():
            if ref in (resource["$id"], resource["meta:altId"]):
                return resource
        return None

    def add_fieldgroup(self, body: Any) -> dict[str, Any]:
        """Check and store a field group; the stored resource."""
        body = _object(body, "field group")
        for key in ("title", "type", "definitions", "allOf"):
            if key not in body:
                raise Invalid(f"The field group has no '{key}'")
        self._unique_title(self.fieldgroups, body["title"], "field group")
        if body["type"] != "object" or not isinstance(body["definitions"], dict):
            raise Invalid("A field group must be 'type': 'object' with 'definitions' an object")
        for ref in _refs(body["allOf"]):
            name = ref.removeprefix("#/definitions/")
            if name == ref or name not in body["definitions"]:
                raise Invalid(f"allOf $ref '{ref}' is not '#/definitions/<a definition>'")
        extends = body.get("meta:intendedToExtend", [])
        if not isinstance(extends, list):
            raise Invalid("meta:intendedToExtend must be an array of class ids")
        for cls in extends:
            if not isinstance(cls, str) or cls not in CLASSES:
                raise Invalid(f"meta:intendedToExtend names unknown class '{cls}'")
        for name, definition in body["definitions"].items():
            props = _object(definition, f"definitions.{name}").get("properties", {})
            for key, value in _object(props, f"definitions.{name}.properties").items():
                if key != f"_{self.tenant}":
                    raise Invalid(f"Custom field 'definitions.{name}.properties.{key}' must be "
                                  f"under the tenant namespace '_{self.tenant}'")
                _check_fields(value, f"definitions.{name}.properties.{key}")
        resource = self._resource("mixins", {**body, "meta:xdmType": "object"})
        self.fieldgroups[resource["$id"]] = resource
        return resource

    def add_schema(self, body: Any) -> dict[str, Any]:
        """Check and store a schema (one class + tenant field groups); the stored resource."""
        body = _object(body, "schema")
        if "title" not in body or "allOf" not in body:
            raise Invalid("A schema needs 'title' and 'allOf'")
        self._unique_title(self.schemas, body["title"], "schema")
        refs = _refs(body["allOf"])
        classes = [r for r in refs if r in CLASSES]
        if len(classes) != 1:
            raise Invalid(f"allOf must reference exactly one class, found {len(classes)}")
        groups = []
        for ref in refs:
            if ref in CLASSES:
                continue
            group = self.fieldgroups.get(ref)
            if group is None and (known := xdm.standard_fieldgroup(ref)) is not None:
                group = {"meta:intendedToExtend": known["intendedToExtend"]}
            if group is None:
                raise Invalid(f"allOf references unknown field group '{ref}'")
            if ref in groups:
                raise Invalid(f"allOf references field group '{ref}' twice")
            intended = group.get("meta:intendedToExtend") or [classes[0]]
            if classes[0] not in intended:
                raise Invalid(f"Field group '{ref}' does not extend class '{classes[0]}'")
            groups.append(ref)
        owners = {name: classes[0] for name in
                  (xdm.standard_class(classes[0]) or {}).get("properties", {})}
        for ref in groups:
            for name in (xdm.standard_fieldgroup(ref) or {}).get("properties", {}):
                if name in owners:
                    raise Invalid(f"Field '{name}' of field group '{ref}' is already defined "
                                  f"by '{owners[name]}'")
                owners[name] = ref
        title, behaviour = CLASSES[classes[0]]
        resource = self._resource("schemas", {
            **body, "type": "object", "meta:class": classes[0], "meta:extends": [classes[0], *groups],
            "meta:xdmType": "object", "additionalInfo": {"classTitle": title,
                                                         "behavior": behaviour.title()}})
        self.schemas[resource["$id"]] = resource
        return resource

    def properties_of(self, schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The schema's top-level fields (its class's, its standard field groups' and the
        tenant object of its tenant field groups, merged), by name."""
        props: dict[str, dict[str, Any]] = dict(
            (xdm.standard_class(schema["meta:class"]) or {}).get("properties", {}))
        for ref in schema["meta:extends"][1:]:
            standard = xdm.standard_fieldgroup(ref)
            if standard is not None:
                props.update(standard["properties"])
                continue
            for definition in self.fieldgroups[ref]["definitions"].values():
                for name, node in (definition.get("properties") or {}).items():
                    props[name] = _merge(props.get(name), node)
        return props

    def fields_of(self, schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The schema's fields by path (``/_<tenant>/userid``, ``/web/webPageDetails``)."""
        fields: dict[str, dict[str, Any]] = {}
        _walk(self.properties_of(schema), "", fields)
        return fields

    def nested(self, schema: dict[str, Any]) -> bool:
        """Whether the schema's dataset keeps the XDM shape (an ExperienceEvent schema, or one
        with a standard field group); a Profile schema of tenant field groups only is
        flattened (the module docstring)."""
        return schema["meta:class"] != PROFILE_CLASS or any(
            xdm.standard_fieldgroup(ref) for ref in schema["meta:extends"][1:])

    def columns_of(self, schema: dict[str, Any]) -> dict[str, str]:
        """The table columns of a schema's dataset, by name, with their PostgreSQL type:
        each ``_<tenant>`` field (flattened), or each top-level field (:meth:`nested`, its
        name lowercased; an object or array is ``jsonb``)."""
        if self.nested(schema):
            return {name.lower(): pg_type(xdm.spark_type(node))
                    for name, node in self.properties_of(schema).items()}
        columns = {}
        for path, node in self.fields_of(schema).items():
            parts = path.split("/")[1:]
            if len(parts) == 2 and parts[0] == f"_{self.tenant}":
                kind = node.get("format") if node.get("type") == "string" else node.get("type")
                columns[parts[1]] = COLUMN_TYPES.get(str(kind), "text")
        return columns

    def comments_of(self, schema: dict[str, Any]) -> dict[str, str]:
        """The ``spark:<type>`` comment of each jsonb column of a nested dataset's table."""
        if not self.nested(schema):
            return {}
        return {name.lower(): SPARK_COMMENT + spark for name, node in
                self.properties_of(schema).items()
                if pg_type(spark := xdm.spark_type(node)) == "jsonb"}

    def shape_of(self, dataset: dict[str, Any]) -> xdm.Shape | None:
        """The top-level fields a batch row of the Catalog ``dataset`` may have and those it
        must have, when its table keeps the XDM shape (None: flattened, or no Registry
        schema)."""
        schema = self.schemas.get(str((dataset.get("schemaRef") or {}).get("id")))
        if not schema or not self.nested(schema):
            return None
        required = (xdm.standard_class(schema["meta:class"]) or {}).get("required", [])
        return xdm.Shape(self.properties_of(schema), tuple(required))

    def primary(self, schema_id: str) -> dict[str, Any] | None:
        """The primary identity descriptor of ``schema_id`` (None without one)."""
        return next((d for d in self.descriptors.values() if d["xdm:sourceSchema"] == schema_id
                     and d.get("xdm:isPrimary")), None)

    def add_descriptor(self, body: Any) -> dict[str, Any]:
        """Check and store an identity descriptor; the stored descriptor."""
        body = _object(body, "descriptor")
        if body.get("@type") != "xdm:descriptorIdentity":
            raise Invalid(f"Descriptor '@type' {body.get('@type')!r} is not supported; the "
                          "emulator knows 'xdm:descriptorIdentity'")
        for key in ("xdm:sourceSchema", "xdm:sourceVersion", "xdm:sourceProperty", "xdm:namespace",
                    "xdm:property"):
            if key not in body:
                raise Invalid(f"The descriptor has no '{key}'")
        schema = self.schemas.get(str(body["xdm:sourceSchema"]))
        if schema is None:
            raise Invalid(f"xdm:sourceSchema '{body['xdm:sourceSchema']}' is not a tenant schema")
        if body["xdm:sourceVersion"] != 1:
            raise Invalid("xdm:sourceVersion must be 1")
        path = body["xdm:sourceProperty"]
        if not isinstance(path, str) or not path.startswith("/") or "/properties/" in f"{path}/":
            raise Invalid(f"xdm:sourceProperty {path!r} must start with '/' and have no "
                          "'properties' segments")
        field = self.fields_of(schema).get(path)
        if field is None or field.get("type") != "string":
            raise Invalid(f"xdm:sourceProperty '{path}' is not a string field of the schema")
        if not isinstance(body["xdm:namespace"], str) or not body["xdm:namespace"]:
            raise Invalid("xdm:namespace must be an identity namespace code")
        if body["xdm:property"] not in ("xdm:id", "xdm:code"):
            raise Invalid("xdm:property must be 'xdm:id' or 'xdm:code'")
        if not isinstance(body.get("xdm:isPrimary", False), bool):
            raise Invalid("xdm:isPrimary must be true or false")
        if body.get("xdm:isPrimary") and self.primary(schema["$id"]) is not None:
            raise Invalid(f"Schema '{schema['$id']}' already has a primary identity")
        descriptor = {**body, "@id": secrets.token_hex(20), "meta:containerId": "tenant",
                      "imsOrg": self.emu.org_id, "version": "1", "meta:sandboxId": self.emu.sandbox}
        self.descriptors[descriptor["@id"]] = descriptor
        return descriptor

    def patch_schema(self, schema: dict[str, Any], ops: Any) -> dict[str, Any]:
        """Apply the union tag (the only patch the emulator knows); the updated schema."""
        if not isinstance(ops, list) or not ops:
            raise Invalid("The PATCH body must be a JSON Patch array of operations")
        for op in ops:
            if not isinstance(op, dict) or op.get("path") != "/meta:immutableTags":
                raise Invalid(f"Operation {op!r} is not supported; the emulator knows "
                              "add /meta:immutableTags")
            if op.get("op") != "add" or not isinstance(op.get("value"), list) \
                    or not all(isinstance(tag, str) for tag in op["value"]):
                raise Invalid("meta:immutableTags can only be added, with an array value; it "
                              "cannot be removed or replaced")
            if set(op["value"]) != {"union"}:
                raise Invalid(f"meta:immutableTags {op['value']!r}: only 'union' is known")
            if self.primary(schema["$id"]) is None:
                raise Invalid(f"{PROFILE_NEEDS_IDENTITY}: schema '{schema['$id']}' has none")
        schema["meta:immutableTags"] = ["union"]
        schema["meta:registryMetadata"]["repo:lastModifiedDate"] = now_ms()
        return schema

    def _unique_title(self, store: dict[str, dict[str, Any]], title: Any, kind: str) -> None:
        if not isinstance(title, str) or not title:
            raise Invalid(f"The {kind} 'title' must be a non-empty string")
        if any(r["title"] == title for r in store.values()):
            raise Invalid(f"A {kind} titled '{title}' already exists in the tenant")


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Invalid(f"The {what} must be a JSON object")
    return value


def _refs(all_of: Any) -> list[str]:
    if not isinstance(all_of, list) or not all(isinstance(i, dict) and isinstance(i.get("$ref"), str)
                                               for i in all_of):
        raise Invalid("'allOf' must be an array of {\"$ref\": ...} objects")
    return [item["$ref"] for item in all_of]


def _check_fields(node: Any, where: str) -> None:
    """Every leaf under an object field is a scalar XDM type."""
    node = _object(node, where)
    if node.get("type") == "object":
        for key, child in _object(node.get("properties", {}), f"{where}.properties").items():
            _check_fields(child, f"{where}.properties.{key}")
        return
    if node.get("type") not in SCALARS:
        raise Invalid(f"Field '{where}' has type {node.get('type')!r}; XDM scalar types are "
                      f"{', '.join(sorted(SCALARS))} (or object)")
    if "format" in node and (node["type"] != "string" or node["format"] not in FORMATS):
        raise Invalid(f"Field '{where}' has format {node['format']!r}; a string may be "
                      "'date' or 'date-time'")


def _merge(have: dict[str, Any] | None, node: dict[str, Any]) -> dict[str, Any]:
    """Two definitions of one object field (the tenant object of two field groups) as one."""
    if not have or have.get("type") != "object" or node.get("type") != "object":
        return node
    props = dict(have.get("properties") or {})
    for name, child in (node.get("properties") or {}).items():
        props[name] = _merge(props.get(name), child)
    return {**have, **node, "properties": props}


def _walk(props: dict[str, Any], prefix: str, out: dict[str, dict[str, Any]]) -> None:
    for key, node in props.items():
        path = f"{prefix}/{key}"
        out[path] = node
        if node.get("type") == "object":
            _walk(node.get("properties", {}), path, out)


def registry(emu: Emulator) -> Registry:
    """The Schema Registry of ``emu`` (created on first use)."""
    return emu.service_state("schemas", lambda: Registry(emu))


def _accept(request: Request) -> str:
    return " ".join(request.headers.get("accept", "").split()).replace("; ", ";").strip()


def _not_acceptable(request: Request, wanted: str) -> Response:
    return problem(406, "NotAcceptable", f"Accept {request.headers.get('accept')!r} is not "
                   f"supported on {request.method} {request.path}; send {wanted}")


def _filters(request: Request) -> list[tuple[str, bool, str]]:
    """``property=<field>==<value>`` / ``!=`` filters as (field, equal, value); one parameter
    may hold several, comma-separated (aepp's ``getDescriptors``)."""
    out = []
    for raw in request.query.get("property", []):
        for expression in _FILTER_SPLIT.split(raw):
            field, sep, value = expression.partition("!=")
            if not sep:
                field, sep, value = expression.partition("==")
            if not sep or not field:
                raise Invalid(f"property filter {expression!r} is not '<field>==<value>' or "
                              "'<field>!=<value>'")
            out.append((field, sep == "==", value))
    return out


def _matches(resource: dict[str, Any], filters: list[tuple[str, bool, str]]) -> bool:
    """All ``filters`` hold for ``resource`` (a list field matches a member)."""
    for field, equal, value in filters:
        have = resource.get(field)
        if (value in have if isinstance(have, list) else have == value) != equal:
            return False
    return True


def _listing(request: Request, store: dict[str, dict[str, Any]]) -> Response:
    accept = _accept(request).split(";")[0]
    if accept not in LIST_ACCEPT:
        return _not_acceptable(request, " or ".join(sorted(LIST_ACCEPT)))
    filters = _filters(request)
    found = [r for r in store.values() if _matches(r, filters)]
    if accept == "application/vnd.adobe.xed-id+json":
        found = [{k: r[k] for k in ("$id", "meta:altId", "version", "title")} for r in found]
    return Response(200, {"results": found, "_page": {"orderby": "title", "next": None,
                                                      "count": len(found)}, "_links": {}})


def _lookup(request: Request, store: dict[str, dict[str, Any]], reg: Registry, ref: str,
            kind: str) -> Response:
    if not LOOKUP_ACCEPT.fullmatch(_accept(request)):
        return _not_acceptable(request, "application/vnd.adobe.xed-full+json; version=1")
    found = reg.find(store, ref)
    if found is None:
        return problem(404, "NotFound", f"No {kind} '{unquote(ref)}' in the tenant")
    return Response(200, found)


def register(router: Router, emu: Emulator) -> None:
    """Add the Schema Registry paths and Catalog's dataset create and patch."""
    reg, cat = registry(emu), catalog(emu)

    def guarded(action: Any) -> Any:
        def handler(request: Request, params: dict[str, str]) -> Response:
            with reg.lock:
                try:
                    return action(request, params)
                except Invalid as exc:
                    return problem(400, "BadRequestError", str(exc))
        return handler

    def stats(request: Request, params: dict[str, str]) -> Response:
        if not _accept(request).startswith("application/vnd.adobe.xed"):
            return _not_acceptable(request, "application/vnd.adobe.xed+json")
        return Response(200, {"imsOrg": emu.org_id, "tenantId": reg.tenant, "counts": {
            "schemas": len(reg.schemas), "mixins": len(reg.fieldgroups), "datatypes": 0,
            "classes": 0, "unions": sum(1 for s in reg.schemas.values()
                                        if "union" in s.get("meta:immutableTags", []))},
            "recentlyCreatedResources": [], "recentlyUpdatedResources": [], "classUsage": {}})

    def post(store_add: Any) -> Any:
        return lambda request, params: Response(201, store_add(request.json))

    def patch_schema(request: Request, params: dict[str, str]) -> Response:
        schema = reg.find(reg.schemas, params["id"])
        if schema is None:
            return problem(404, "NotFound", f"No schema '{unquote(params['id'])}' in the tenant")
        return Response(200, reg.patch_schema(schema, request.json))

    def list_descriptors(request: Request, params: dict[str, str]) -> Response:
        accept = _accept(request).split(";")[0]
        if accept not in DESCRIPTOR_LISTS:
            return _not_acceptable(request, " or ".join(sorted(DESCRIPTOR_LISTS)))
        filters = _filters(request)
        found = [d for d in reg.descriptors.values() if _matches(d, filters)]
        shape = {"link": lambda d: f"/descriptors/{d['@id']}", "id": lambda d: d["@id"],
                 "full": lambda d: d}[DESCRIPTOR_LISTS[accept]]
        if "-v2" in accept:  # the paged form aepp asks for [aepp; the page shape is inferred]
            return Response(200, {"results": [shape(d) for d in found],
                                  "_page": {"next": None, "count": len(found)}, "_links": {}})
        return Response(200, {"xdm:descriptorIdentity": [shape(d) for d in found]} if found else {})

    def get_descriptor(request: Request, params: dict[str, str]) -> Response:
        if _accept(request).split(";")[0] != "application/vnd.adobe.xdm+json":
            return _not_acceptable(request, "application/vnd.adobe.xdm+json")
        found = reg.descriptors.get(params["id"])
        if found is None:
            return problem(404, "NotFound", f"No descriptor '{params['id']}' in the tenant")
        return Response(200, found)

    def create_dataset(request: Request, params: dict[str, str]) -> Response:
        body = _object(request.json, "dataset")
        if not isinstance(body.get("name"), str) or not body["name"]:
            raise Invalid("A dataset needs a 'name'")
        ref = _object(body.get("schemaRef"), "schemaRef")
        schema = reg.schemas.get(str(ref.get("id", "")))
        if schema is None:
            raise Invalid(f"schemaRef.id {ref.get('id')!r} is not a schema of the tenant")
        if not REF_TYPE.fullmatch(" ".join(str(ref.get("contentType")).split())
                                  .replace("; ", ";")):
            raise Invalid(f"schemaRef.contentType {ref.get('contentType')!r} must be "
                          "application/vnd.adobe.xed[-full][-notext]+json;version=1")
        tags = _tags(body.get("tags", {}))
        _check_profile(tags, schema)
        ds_id = secrets.token_hex(12)
        created = now_ms()
        table = table_name(body["name"])
        record = {"name": body["name"], "description": body.get("description", ""),
                  "imsOrg": emu.org_id, "sandboxName": emu.sandbox,
                  "tags": {**tags, PQS_TAG: [table]},
                  "version": "1.0.0", "created": created, "updated": created,
                  "createdClient": emu.client_id,
                  "createdUser": f"{emu.client_id}@techacct.adobe.com",
                  "schemaRef": {"id": schema["$id"], "contentType": ref["contentType"]},
                  "fileDescription": body.get("fileDescription", {}),
                  "files": f"@/dataSetFiles?dataSetId={ds_id}",
                  "classification": {"dataBehavior": CLASSES[schema["meta:class"]][1],
                                     "managedBy": "CUSTOMER"}}
        with cat._lock:  # no sync may see the table before its dataset
            if table in emu.engine.tables():
                raise Invalid(f"Dataset name '{body['name']}' needs the table '{table}', which "
                              "already exists in the sandbox; pick another name")
            _create_table(emu, table, reg.columns_of(schema), reg.comments_of(schema))
            emu.holds_nested = emu.holds_nested or reg.nested(schema)
            cat.datasets[ds_id] = record
        return Response(201, [f"@/dataSets/{ds_id}"])

    def patch_dataset(request: Request, params: dict[str, str]) -> Response:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != JSON_PATCH:
            return Response(400, dict(PATCH_TYPE_ERROR))
        record = cat.get(params["id"])
        if record is None:
            return problem(404, "NotFoundError", f"Dataset '{params['id']}' was not found")
        if not isinstance(request.json, list) or not request.json:
            raise Invalid("The PATCH body must be a JSON Patch array of operations")
        tags = {k: list(v) for k, v in record["tags"].items()}
        for op in request.json:
            path = str(op.get("path", "")) if isinstance(op, dict) else ""
            if not path.startswith("/tags/") or op.get("op") not in ("add", "replace"):
                raise Invalid(f"Operation {op!r} is not supported; the emulator knows add or "
                              "replace of /tags/<name>")
            tags[path.removeprefix("/tags/")] = op.get("value")
        tags = _tags(tags)
        _check_profile(tags, reg.schemas.get(record["schemaRef"]["id"]))
        with cat._lock:
            record["tags"] = tags
            record["updated"] = now_ms()
        return Response(200, [f"@/dataSets/{params['id']}"])

    router.add("GET", f"{BASE}/stats", stats)
    for kind, store, add in (("fieldgroups", reg.fieldgroups, reg.add_fieldgroup),
                             ("schemas", reg.schemas, reg.add_schema)):
        router.add("POST", f"{BASE}/tenant/{kind}", guarded(post(add)))
        router.add("GET", f"{BASE}/tenant/{kind}",
                   guarded(lambda request, params, store=store: _listing(request, store)))
        router.add("GET", f"{BASE}/tenant/{kind}/{{id}}", guarded(
            lambda request, params, store=store, kind=kind:
            _lookup(request, store, reg, params["id"], kind.rstrip("s"))))
    router.add("PATCH", f"{BASE}/tenant/schemas/{{id}}", guarded(patch_schema))
    router.add("POST", f"{BASE}/tenant/descriptors", guarded(post(reg.add_descriptor)))
    router.add("GET", f"{BASE}/tenant/descriptors", guarded(list_descriptors))
    router.add("GET", f"{BASE}/tenant/descriptors/{{id}}", guarded(get_descriptor))
    router.add("POST", f"{CATALOG}/dataSets", guarded(create_dataset))
    router.add("PATCH", f"{CATALOG}/dataSets/{{id}}", guarded(patch_dataset))


def _create_table(emu: Emulator, table: str, columns: dict[str, str],
                  comments: dict[str, str]) -> None:
    """``CREATE TABLE table (column type, ...)`` in the sandbox database, with a comment on
    the columns in ``comments``."""
    statement = sql.SQL("CREATE TABLE {} ({})").format(sql.Identifier(table), sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(column), sql.SQL(kind))
        for column, kind in columns.items()))
    conn = emu.engine.connect()
    try:
        with conn, conn.cursor() as cur:
            cur.execute(statement)
            for column, comment in comments.items():
                cur.execute(sql.SQL("COMMENT ON COLUMN {}.{} IS %s").format(
                    sql.Identifier(table), sql.Identifier(column)), (comment,))
    finally:
        conn.close()


def table_name(dataset: str) -> str:
    """The table of a dataset named ``dataset``, as Data Distiller names it.

    >>> table_name("Churn scores-v2")
    'churn_scores_v2'
    """
    return _NOT_IDENTIFIER.sub("_", dataset.lower())[:63]  # PostgreSQL's identifier length


def _check_profile(tags: dict[str, list[str]], schema: dict[str, Any] | None) -> None:
    """Refuse ``unifiedProfile`` ``enabled:true`` unless the schema is union-tagged."""
    enabled = {t.replace(" ", "") for t in tags.get("unifiedProfile", [])}  # aepp adds spaces
    if "enabled:true" in enabled and (
            schema is None or "union" not in schema.get("meta:immutableTags", [])):
        raise Invalid("A dataset can be enabled for Profile only when its schema is: add "
                      "meta:immutableTags [\"union\"] to the schema first")


def _tags(value: Any) -> dict[str, list[str]]:
    if not isinstance(value, dict) or not all(
            isinstance(v, list) and all(isinstance(s, str) for s in v) for v in value.values()):
        raise Invalid("'tags' must be an object of arrays of strings")
    return {k: list(v) for k, v in value.items()}
