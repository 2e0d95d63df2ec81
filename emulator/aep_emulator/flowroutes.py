"""The HTTP paths of the emulated Flow Service, ad hoc export and Data Landing Zone (§5, §6).

Creates answer ``{"id", "etag"}``; gets answer ``{"items": [obj]}``; lists answer
``{"items": [...], "_links": {"next": {"href"}}}`` filtered by ``property=a.b==value``. A next
link is relative to the Flow Service base and carries only an opaque ``continuationToken``
(``/flows?continuationToken=<token>``) that remembers the page and the filters: aepp appends
the link to the base (``getConnections``) or takes the text after its first ``=``
(``getFlows``, ``getRuns``), so nothing may precede or follow the token. A request that sends a
token and other filters than the token's is refused.

``GET /data/foundation/connectors/landingzone[/credentials]?type=dlz_destination|user_drop_zone``
answer the Azure shape of §6; the emulator's "container" is the folder
``landing_dir()/<containerName>``, and its SAS token opens nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import uuid
from typing import TYPE_CHECKING, Any, Callable

from .catalog import catalog
from .audienceexport import ACCEPT as AUDIENCE_ACCEPT
from .audienceexport import adhoc_activation
from .exports import adhoc, poll
from .flowservice import KINDS, FlowService, Invalid, flowservice, lookup
from .routing import Request, Response, Router, problem
from .specs import (ADHOC_ACCEPT, ADHOC_RUN, DESTINATIONS, DLZ_CONTAINER, FLOWSERVICE,
                    LANDING_ZONE, SOURCE_SPEC_ID, SOURCE_SPEC_NAME)

if TYPE_CHECKING:
    from .server import Emulator

Route = Callable[[Request, dict[str, str]], Response]
DLZ_TYPES = {"dlz_destination": DLZ_CONTAINER, "user_drop_zone": "dlz-user-container"}


def _bad(detail: str) -> Response:
    return problem(400, "BadRequestError", detail)


def connection_specs() -> list[dict[str, Any]]:
    """The source spec and every destination's connection spec, as ``GET /connectionSpecs`` lists them."""
    specs = [{"id": SOURCE_SPEC_ID, "name": SOURCE_SPEC_NAME, "providerId": str(uuid.UUID(int=1)),
              "version": "1.0", "authSpec": [], "attributes": {"category": "database"}}]
    for d in DESTINATIONS.values():
        specs.append({
            "id": d.connection_spec, "name": d.title, "providerId": str(uuid.UUID(int=2)),
            "version": "1.0", "attributes": {"category": "cloudStorage", "isDestination": True},
            "authSpec": [{"name": a.spec_name, "type": a.spec_name,
                          "spec": {"required": sorted(a.params)}} for a in d.auths],
            "targetSpec": {"spec": {"required": sorted({"mode", "datasetFileType", "compression",
                                                        *d.target_params})}}})
    return specs


def flow_specs() -> list[dict[str, Any]]:
    """One dataset export flow spec per destination (§5.3); the names are [inferred]."""
    return [{"id": d.flow_spec, "name": f"{d.title} dataset export", "providerId":
             str(uuid.UUID(int=2)), "version": "1.0",
             "sourceConnectionSpecIds": [SOURCE_SPEC_ID],
             "targetConnectionSpecIds": [d.connection_spec],
             "attributes": {"isDestinationFlow": True}} for d in DESTINATIONS.values()]


def filtered(items: list[dict[str, Any]], props: list[str]) -> list[dict[str, Any]]:
    """``items`` that satisfy every ``a.b==v`` / ``a.b!=v`` filter; Invalid for another form."""
    for prop in props:
        op = "!=" if "!=" in prop else "=="
        if op not in prop:
            raise Invalid(f"Invalid property filter '{prop}': expected path==value or path!=value")
        path, _, value = prop.partition(op)

        def hit(item: dict[str, Any], path: str = path, value: str = value) -> bool:
            got = lookup(item, path.strip())
            values = got if isinstance(got, list) else [got]
            return value in [str(v).lower() if isinstance(v, bool) else str(v) for v in values]

        items = [i for i in items if hit(i) == (op == "==")]
    return items


def _token(kind: str, start: int, props: list[str]) -> str:
    raw = json.dumps({"k": kind, "s": start, "p": props}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _untoken(kind: str, token: str) -> tuple[int, list[str]]:
    """The page start and filters of a continuation token this service issued for ``kind``."""
    try:
        state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if state["k"] == kind and isinstance(state["s"], int) and isinstance(state["p"], list):
            return state["s"], state["p"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        pass
    raise Invalid(f"continuationToken '{token}' was not issued by this service for {kind}")


def page(fs: FlowService, kind: str, request: Request) -> dict[str, Any]:
    """One page of ``GET /<kind>``, its next link carrying only the continuation token."""
    props = request.query.get("property", [])
    start, token = 0, request.param("continuationToken")
    if token:
        start, issued = _untoken(kind, token)
        if props and props != issued:
            raise Invalid(f"continuationToken was issued for property={issued}, not {props}")
        props = issued
    limit = request.param("limit", str(fs.page_size)) or ""
    if not (limit.isdigit() and 0 < int(limit) <= 100):
        raise Invalid(f"limit must be an integer from 1 to 100, got {limit!r}")
    items = filtered([fs.public(kind, o) for o in fs.objects[kind].values()], props)
    size = int(limit)
    body: dict[str, Any] = {"items": items[start:start + size], "_links": {}}
    if start + size < len(items):
        body["_links"]["next"] = {"href": f"/{kind}?continuationToken="
                                          f"{_token(kind, start + size, props)}"}
    return body


def _guarded(fs: FlowService, fn: Route) -> Route:
    """``fn`` under the service lock, Invalid as 400 and LookupError as 404."""
    def handler(request: Request, params: dict[str, str]) -> Response:
        try:
            with fs.lock:
                return fn(request, params)
        except Invalid as exc:
            return _bad(str(exc))
        except LookupError as exc:
            return problem(404, "NotFoundError", str(exc).strip("'\""))
    return handler


def _object_routes(router: Router, fs: FlowService, kind: str) -> None:
    """List, get, create, patch and delete of one object kind (runs: list and get only)."""
    def list_objects(request: Request, params: dict[str, str]) -> Response:
        return Response(200, page(fs, kind, request))

    def get_object(request: Request, params: dict[str, str]) -> Response:
        obj = fs.get(kind, params["id"])
        return Response(200, {"items": [fs.public(kind, poll(fs, obj) if kind == "runs" else obj)]})

    def create_object(request: Request, params: dict[str, str]) -> Response:
        obj = fs.created(kind, request.json)
        return Response(200, {"id": obj["id"], "etag": obj["etag"]})

    def delete_object(request: Request, params: dict[str, str]) -> Response:
        fs.get(kind, params["id"])
        users = fs.users(kind, params["id"])
        if users:
            raise Invalid(f"{kind[:-1]} '{params['id']}' is used by {', '.join(users)}; "
                          "delete those first")
        del fs.objects[kind][params["id"]]
        return Response(204)

    def patch_object(request: Request, params: dict[str, str]) -> Response:
        obj = fs.get(kind, params["id"])
        etag = request.headers.get("if-match")
        if not etag:
            raise Invalid("The If-Match header is required (the object's etag)")
        if etag.strip('"') != obj["etag"].strip('"'):
            return problem(412, "PreconditionFailed", f"If-Match {etag} does not match the "
                           f"current etag of {kind[:-1]} '{obj['id']}'")
        updated = fs.patched(kind, obj, request.json)
        fs.objects[kind][obj["id"]] = updated
        return Response(200, {"id": obj["id"], "etag": updated["etag"]})

    base = f"{FLOWSERVICE}/{kind}"
    router.add("GET", base, _guarded(fs, list_objects))
    router.add("GET", f"{base}/{{id}}", _guarded(fs, get_object))
    if kind != "runs":
        router.add("POST", base, _guarded(fs, create_object))
        router.add("DELETE", f"{base}/{{id}}", _guarded(fs, delete_object))
        router.add("PATCH", f"{base}/{{id}}", _guarded(fs, patch_object))


def _spec_routes(router: Router, fs: FlowService, what: str,
                 specs: Callable[[], list[dict[str, Any]]]) -> None:
    """``GET /<what>`` (with ``property`` filters) and ``GET /<what>/{id}``."""
    def list_specs(request: Request, params: dict[str, str]) -> Response:
        return Response(200, {"items": filtered(specs(), request.query.get("property", []))})

    def get_spec(request: Request, params: dict[str, str]) -> Response:
        spec = next((s for s in specs() if s["id"] == params["id"]), None)
        if spec is None:
            raise LookupError(f"{what[:-1]} '{params['id']}' was not found")
        return Response(200, {"items": [spec]})

    router.add("GET", f"{FLOWSERVICE}/{what}", _guarded(fs, list_specs))
    router.add("GET", f"{FLOWSERVICE}/{what}/{{id}}", _guarded(fs, get_spec))


def _eligible(emu: Emulator, fs: FlowService) -> Route:
    """``GET /connectionSpecs/{id}/configs?outputType=activationDatasets`` (§5.2 step 0)."""
    def spec_configs(request: Request, params: dict[str, str]) -> Response:
        if params["id"] != SOURCE_SPEC_ID:
            raise Invalid(f"Connection spec '{params['id']}' has no activationDatasets configs")
        if request.param("outputType") != "activationDatasets":
            raise Invalid("Query parameter outputType must be activationDatasets")
        start, limit = request.param("start", "0") or "", request.param("limit", "20") or ""
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
        chunk = items[s:s + n]
        return Response(200, {"items": chunk, "pageInfo": {
            "start": s, "end": s + len(chunk), "total": len(items), "hasNext": s + n < len(items)}})
    return spec_configs


def _landing_zone(emu: Emulator, credentials: bool) -> Route:
    """``GET …/landingzone`` (container and TTL) or ``…/landingzone/credentials`` (Azure shape)."""
    def answer(request: Request, params: dict[str, str]) -> Response:
        kind = request.param("type")
        if kind not in DLZ_TYPES:
            return _bad(f"Query parameter type must be one of {', '.join(DLZ_TYPES)}, got {kind!r}")
        container = DLZ_TYPES[kind]
        (emu.landing_dir() / container).mkdir(parents=True, exist_ok=True)
        if not credentials:
            return Response(200, {"containerName": container, "containerTTL": "7"})
        account = "aepemulator"
        sas = f"sv=2020-10-02&si=emulator&sr=c&sig={secrets.token_urlsafe(24)}"
        return Response(200, {"containerName": container, "SASToken": sas,
                              "storageAccountName": account,
                              "SASUri": f"https://{account}.blob.core.windows.net/{container}?{sas}"})
    return answer


def register(router: Router, emu: Emulator) -> None:
    """Add the Flow Service paths, the ad hoc run and the Data Landing Zone paths."""
    fs = flowservice(emu)

    def action(request: Request, params: dict[str, str]) -> Response:
        flow = fs.get("flows", params["id"])
        op = request.param("op")
        if op not in ("enable", "disable"):
            raise Invalid(f"Query parameter op must be enable or disable, got {op!r}")
        if request.body:
            raise Invalid("A flow action takes no request body")
        flow.update(state=f"{op}d", etag=f'"{uuid.uuid4()}"')
        return Response(200, {"id": flow["id"], "etag": flow["etag"]})

    def adhoc_run(request: Request, params: dict[str, str]) -> Response:
        accept = request.headers.get("accept", "").replace(" ", "").lower()
        if accept == ADHOC_ACCEPT.replace(" ", "").lower():
            return Response(200, adhoc(fs, request.json))
        if accept == AUDIENCE_ACCEPT.replace(" ", "").lower():
            return Response(200, adhoc_activation(fs, request.json))
        return problem(406, "NotAcceptable", f"Accept must be '{ADHOC_ACCEPT}' for ad hoc "
                       f"dataset export or '{AUDIENCE_ACCEPT}' for ad hoc audience activation, "
                       f"got '{request.headers.get('accept', '')}'")

    _spec_routes(router, fs, "connectionSpecs", connection_specs)
    _spec_routes(router, fs, "flowSpecs", flow_specs)
    router.add("GET", f"{FLOWSERVICE}/connectionSpecs/{{id}}/configs", _guarded(fs, _eligible(emu, fs)))
    for kind in KINDS:
        _object_routes(router, fs, kind)
    router.add("POST", f"{FLOWSERVICE}/flows/{{id}}/action", _guarded(fs, action))
    router.add("POST", ADHOC_RUN, _guarded(fs, adhoc_run))
    router.add("GET", LANDING_ZONE, _landing_zone(emu, credentials=False))
    router.add("GET", f"{LANDING_ZONE}/credentials", _landing_zone(emu, credentials=True))
