"""The HTTP paths of the emulated Query Service (contract §2.1, §2.3).

Lists page by offset: ``start`` is where the page begins, ``_links.next.href`` is the full URL
of the next page (``…?orderby=-created&start=40&limit=20``, the other parameters kept) and is
absent on the last page. aepp's ``_getPaginated`` merges the link's query into its own.

``GET /statistics?dataSet=<id>&statisticType=table`` answers
``{"dataSet", "statisticType", "statistics": {"rowCount", "columnCount"}}`` — the contract names
the path and parameters but not the body, so this shape is [inferred].
"""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import urlencode

from .catalog import PQS_TAG, catalog
from .query import BASE, Queries, iso_now, queries, validate
from .routing import Request, Response, Router, problem

if TYPE_CHECKING:
    from .server import Emulator

Route = Callable[[Request, dict[str, str]], Response]
ORDERS = ("created", "updated")


def _bad(detail: str) -> Response:
    return problem(400, "BadRequestError", detail)


def _int(request: Request, name: str, default: int, low: int) -> int | Response:
    raw = request.param(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) < low:
        return _bad(f"Query parameter '{name}' must be an integer >= {low}, got {raw!r}")
    return int(raw)


def _matches(item: dict[str, Any], filters: str) -> bool | Response:
    """Whether ``item`` passes every comma-separated ``field==v`` / ``field!=v`` filter."""
    for part in filter(None, (p.strip() for p in filters.split(","))):
        op = "!=" if "!=" in part else "=="
        field, sep, value = part.partition(op)
        if not sep or not field.isidentifier():
            return _bad(f"Unsupported property filter '{part}': the emulator takes field==value "
                        "and field!=value")
        if (str(item.get(field)) == value) != (op == "=="):
            return False
    return True


def listing(request: Request, items: list[dict[str, Any]], key: str, url: str) -> Response:
    """One page of ``items`` under ``key``, ordered and filtered as the request asks."""
    limit, start = _int(request, "limit", 20, 1), _int(request, "start", 0, 0)
    for value in (limit, start):
        if isinstance(value, Response):
            return value
    orderby = request.param("orderby", "-created") or ""
    if orderby.lstrip("+-") not in ORDERS:
        return _bad(f"orderby must be created or updated, prefixed + or -, got {orderby!r}")
    kept = []
    for index, item in enumerate(items):  # the index breaks ties of equal timestamps
        hit = _matches(item, request.param("property", "") or "")
        if isinstance(hit, Response):
            return hit
        if hit:
            kept.append((item[orderby.lstrip("+-")], index, item))
    kept.sort(key=lambda entry: entry[:2], reverse=orderby.startswith("-"))
    kept = [entry[2] for entry in kept]
    page = kept[start:start + limit]  # type: ignore[operator]
    body: dict[str, Any] = {key: page, "version": 1, "_links": {}, "_page": {
        "orderby": orderby, "start": start, "count": len(page), "next": ""}}
    if start + limit < len(kept):  # type: ignore[operator]
        query = {k: v[0] for k, v in request.query.items()}
        query.update(orderby=orderby, start=str(start + limit), limit=str(limit))  # type: ignore[operator]
        body["_links"]["next"] = {"href": f"{url}?{urlencode(query)}"}
        body["_page"]["next"] = query["start"]
    return Response(200, body)


def _query_routes(router: Router, emu: Emulator, state: Queries) -> None:
    def post_query(request: Request, params: dict[str, str]) -> Response:
        sql = validate(request, emu, state.templates)
        if isinstance(sql, Response):
            return sql
        return Response(202, state.submit(request.json, sql))

    def get_query(request: Request, params: dict[str, str]) -> Response:
        with state._lock:
            query = copy.deepcopy(state.items.get(params["id"]))
        if query is None:
            return problem(404, "NotFoundError", f"Query '{params['id']}' was not found")
        return Response(200, query)

    def list_queries(request: Request, params: dict[str, str]) -> Response:
        with state._lock:
            items = [copy.deepcopy(q) for q in state.items.values() if not q.get("softDeleted")]
        return listing(request, items, "queries", f"{emu.url}{BASE}/queries")

    def patch_query(request: Request, params: dict[str, str]) -> Response:
        query_id = params["id"]
        if query_id not in state.items:
            return problem(404, "NotFoundError", f"Query '{query_id}' was not found")
        op = request.json.get("op") if isinstance(request.json, dict) else None
        if op == "cancel":
            if not state.cancel(query_id):
                return _bad(f"Query '{query_id}' has already ended and cannot be cancelled")
            return Response(202, {"message": "Query cancel request received", "statusCode": 202})
        if op == "soft_delete":
            state._set(query_id, softDeleted=True)
            return Response(202, {"message": "Query soft delete request received",
                                  "statusCode": 202})
        return _bad("op must be 'cancel' or 'soft_delete'")

    router.add("POST", f"{BASE}/queries", post_query)
    router.add("GET", f"{BASE}/queries", list_queries)
    router.add("GET", f"{BASE}/queries/{{id}}", get_query)
    router.add("PATCH", f"{BASE}/queries/{{id}}", patch_query)


def _template_routes(router: Router, emu: Emulator, state: Queries) -> None:
    def post_template(request: Request, params: dict[str, str]) -> Response:
        body = request.json
        if not isinstance(body, dict) or not body.get("name") or not body.get("sql"):
            return _bad("A template requires name and sql")
        template = {"id": str(uuid.uuid4()), "name": body["name"], "sql": body["sql"],
                    "queryParameters": body.get("queryParameters", {}), "created": iso_now(),
                    "updated": iso_now(), "userId": f"{emu.client_id}@techacct.adobe.com"}
        state.templates[template["id"]] = template
        return Response(202, template)

    def list_templates(request: Request, params: dict[str, str]) -> Response:
        return listing(request, list(state.templates.values()), "templates",
                       f"{emu.url}{BASE}/query-templates")

    def get_template(request: Request, params: dict[str, str]) -> Response:
        template = state.templates.get(params["id"])
        if template is None:
            return problem(404, "NotFoundError", f"Template '{params['id']}' was not found")
        return Response(200, template)

    def delete_template(request: Request, params: dict[str, str]) -> Response:
        if state.templates.pop(params["id"], None) is None:
            return problem(404, "NotFoundError", f"Template '{params['id']}' was not found")
        return Response(202, {"message": "Deleted", "statusCode": 202})

    router.add("POST", f"{BASE}/query-templates", post_template)
    router.add("GET", f"{BASE}/query-templates", list_templates)
    router.add("GET", f"{BASE}/query-templates/{{id}}", get_template)
    router.add("DELETE", f"{BASE}/query-templates/{{id}}", delete_template)


def _statistics(emu: Emulator) -> Route:
    def statistics(request: Request, params: dict[str, str]) -> Response:
        kind = request.param("statisticType")
        if kind != "table":
            return _bad(f"Query parameter statisticType must be 'table', got {kind!r}")
        ds_id = request.param("dataSet") or ""
        record = catalog(emu).get(ds_id)
        if record is None:
            return problem(404, "NotFoundError", f"Dataset '{ds_id}' was not found")
        table = emu.read_table(record["tags"][PQS_TAG][0])
        return Response(200, {"dataSet": ds_id, "statisticType": kind, "statistics": {
            "rowCount": table.num_rows, "columnCount": table.num_columns}})
    return statistics


def register(router: Router, emu: Emulator) -> None:
    """Add the Query Service paths (schedules: :mod:`aep_emulator.schedules`)."""
    state = queries(emu)

    def connection_parameters(request: Request, params: dict[str, str]) -> Response:
        token = request.headers["authorization"].partition(" ")[2].strip()
        host, port = "127.0.0.1", emu.wire.port if emu.wire else emu.engine.port
        return Response(200, {"username": emu.engine.role, "dbName": emu.engine.dbname,
                              "host": host, "port": port, "version": 1,
                              "token": token, "compressedToken": token,
                              "websocketHost": f"{host}:{port}"})

    router.add("GET", f"{BASE}/connection_parameters", connection_parameters)
    router.add("GET", f"{BASE}/statistics", _statistics(emu))
    _query_routes(router, emu, state)
    _template_routes(router, emu, state)
