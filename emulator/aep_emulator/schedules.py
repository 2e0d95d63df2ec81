"""The emulated scheduled queries of Query Service (contract §2.3 "Schedules").

``POST /schedules`` takes ``{"query": <a POST /queries body>, "schedule": {"schedule": <cron>,
"startDate", "endDate", "maxActiveRuns"}}`` (the query checked like a batch query, the cron a
string of five fields) and answers 202 with the schedule (``state`` ``ENABLED`` [inferred]).
``GET /schedules`` lists them as ``{"schedules": [...], "_links", "_page"}``;
``GET|DELETE /schedules/{id}``; ``PATCH /schedules/{id}`` takes
``{"body": [{"op": "replace", "path": "/state", "value": "enable"|"disable"}]}``.
Runs: ``POST /schedules/{id}/runs`` triggers one now (it runs as a batch query; the emulator
never fires on the cron by itself), ``GET /schedules/{id}/runs`` (``runsSchedules``) and
``GET /schedules/{id}/runs/{runId}`` (``state`` and ``taskStatusList``) follow the query.
"""

from __future__ import annotations

import copy
import threading
import uuid
from typing import TYPE_CHECKING, Any

from .query import BASE, Queries, iso_now, queries, validate
from .queryroutes import listing
from .routing import Request, Response, Router, problem

if TYPE_CHECKING:
    from .server import Emulator

STATES = {"enable": "ENABLED", "disable": "DISABLED"}


class Schedules:
    """The scheduled queries of one sandbox and their runs."""

    def __init__(self) -> None:
        self.items: dict[str, dict[str, Any]] = {}
        self.runs: dict[str, dict[str, dict[str, Any]]] = {}
        self.lock = threading.Lock()


def _bad(detail: str) -> Response:
    return problem(400, "BadRequestError", detail)


def _schedule_problem(schedule: Any) -> str | None:
    if not isinstance(schedule, dict) or not isinstance(schedule.get("schedule"), str):
        return "schedule.schedule (a cron expression) is required"
    if len(schedule["schedule"].split()) != 5:
        return f"schedule.schedule must be a cron expression of 5 fields, got {schedule['schedule']!r}"
    runs = schedule.get("maxActiveRuns", 1)
    if not isinstance(runs, int) or isinstance(runs, bool) or runs < 1:
        return f"schedule.maxActiveRuns must be a positive integer, got {runs!r}"
    return None


def _run_view(state: Queries, run: dict[str, Any]) -> dict[str, Any]:
    """A run as GET shows it: its state and one task, both those of the query it ran."""
    with state._lock:
        query = copy.deepcopy(state.items[run["queryId"]])
    task = {"taskId": query["id"], "state": query["state"], "startDate": query["created"],
            "endDate": query["updated"], "duration": query["elapsedTime"],
            "message": "; ".join(e["message"] for e in query["errors"])}
    return {**run, "state": query["state"], "updated": query["updated"], "taskStatusList": [task]}


def _create(emu: Emulator, sched: Schedules, state: Queries, request: Request) -> Response:
    body = request.json
    if not isinstance(body, dict) or not isinstance(body.get("query"), dict):
        return _bad("The body must be {\"query\": {...}, \"schedule\": {...}}")
    checked = validate(Request(request.method, request.path, {}, request.headers, b"",
                               body["query"]), emu, state.templates)
    if isinstance(checked, Response):
        return checked
    reason = _schedule_problem(body.get("schedule"))
    if reason:
        return _bad(reason)
    schedule_id = str(uuid.uuid4())
    url = f"{emu.url}{BASE}/schedules/{schedule_id}"
    item = {"id": schedule_id, "state": "ENABLED", "query": copy.deepcopy(body["query"]),
            "schedule": copy.deepcopy(body["schedule"]), "created": iso_now(),
            "updated": iso_now(), "userId": f"{emu.client_id}@techacct.adobe.com",
            "version": 1, "_links": {"self": {"href": url}, "runs": {"href": f"{url}/runs"}}}
    with sched.lock:
        sched.items[schedule_id] = item
        sched.runs[schedule_id] = {}
    return Response(202, copy.deepcopy(item))


def _patch(sched: Schedules, item: dict[str, Any], body: Any) -> Response:
    ops = body.get("body") if isinstance(body, dict) else None
    if not isinstance(ops, list) or not ops:
        return _bad("The body must be {\"body\": [{\"op\": \"replace\", \"path\": \"/state\", "
                    "\"value\": \"enable\"|\"disable\"}]}")
    for op in ops:
        if not (isinstance(op, dict) and op.get("op") == "replace" and op.get("path") == "/state"
                and op.get("value") in STATES):
            return _bad(f"Unsupported operation {op!r}: only replace /state with enable or disable")
    with sched.lock:
        for op in ops:
            item.update(state=STATES[op["value"]], updated=iso_now())
    return Response(200, {"message": "Request to patch accepted", "statusCode": 200})


def _trigger(emu: Emulator, sched: Schedules, state: Queries, item: dict[str, Any]) -> Response:
    if item["state"] != "ENABLED":
        return _bad(f"Schedule '{item['id']}' is disabled; enable it first")
    sql = state.templates[item["query"]["templateId"]]["sql"] if item["query"].get(
        "templateId") else item["query"]["sql"]
    query = state.submit(item["query"], sql)
    run_id = str(uuid.uuid4())
    url = f"{emu.url}{BASE}/schedules/{item['id']}/runs/{run_id}"
    run = {"id": run_id, "queryId": query["id"], "externalTrigger": True, "created": iso_now(),
           "_links": {"self": {"href": url},
                      "cancel": {"href": url, "method": "PATCH", "body": '{"op": "cancel"}'}}}
    with sched.lock:
        sched.runs[item["id"]][run_id] = run
    return Response(202, {"message": "Request to trigger run of a scheduled query accepted.",
                          "statusCode": 202})


def register(router: Router, emu: Emulator) -> None:
    """Add the ``/schedules`` paths."""
    sched, state = emu.service_state("schedules", Schedules), queries(emu)

    def found(params: dict[str, str]) -> dict[str, Any] | Response:
        item = sched.items.get(params["id"])
        return item if item is not None else problem(
            404, "NotFoundError", f"Schedule '{params['id']}' was not found")

    def one(request: Request, params: dict[str, str]) -> Response:
        item = found(params)
        if isinstance(item, Response):
            return item
        if request.method == "DELETE":
            with sched.lock:
                sched.items.pop(item["id"]), sched.runs.pop(item["id"])
            return Response(202, {"message": "Schedule deleted", "statusCode": 202})
        if request.method == "PATCH":
            return _patch(sched, item, request.json)
        return Response(200, copy.deepcopy(item))

    def runs(request: Request, params: dict[str, str]) -> Response:
        item = found(params)
        if isinstance(item, Response):
            return item
        if request.method == "POST":
            return _trigger(emu, sched, state, item)
        listed = [_run_view(state, r) for r in sched.runs[item["id"]].values()]
        return listing(request, listed, "runsSchedules", f"{emu.url}{BASE}/schedules/{item['id']}/runs")

    def run(request: Request, params: dict[str, str]) -> Response:
        found_run = sched.runs.get(params["id"], {}).get(params["run"])
        if found_run is None:
            return problem(404, "NotFoundError", f"Run '{params['run']}' of schedule "
                           f"'{params['id']}' was not found")
        return Response(200, _run_view(state, found_run))

    router.add("POST", f"{BASE}/schedules", lambda r, p: _create(emu, sched, state, r))
    router.add("GET", f"{BASE}/schedules", lambda r, p: listing(
        r, [copy.deepcopy(i) for i in sched.items.values()], "schedules", f"{emu.url}{BASE}/schedules"))
    for method in ("GET", "DELETE", "PATCH"):
        router.add(method, f"{BASE}/schedules/{{id}}", one)
    for method in ("GET", "POST"):
        router.add(method, f"{BASE}/schedules/{{id}}/runs", runs)
    router.add("GET", f"{BASE}/schedules/{{id}}/runs/{{run}}", run)
