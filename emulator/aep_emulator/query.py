"""The emulated Query Service (Data Distiller, contract §2.1, §2.3, §3).

- ``GET /connection_parameters``: the emulated PostgreSQL endpoint (the proxy of
  :mod:`aep_emulator.pgwire`), ``dbName`` ``<sandbox>:all``, ``username`` the org id and
  the caller's IMS access token as ``token`` (the password the proxy checks).
- ``POST /queries``: validates the body as Platform does (``dbName`` required, ``<sandbox>:all``
  or ``<sandbox>:<table>`` of the ``x-sandbox-name`` sandbox; exactly one of ``sql`` and
  ``templateId``; ``ctasParameters`` needs ``datasetName`` and ``description``) and answers 202
  with the full query object in state ``SUBMITTED``. A background thread then moves it to
  ``IN_PROGRESS`` and runs it, ending in ``SUCCESS`` or ``FAILED``; SQL errors are reported in
  ``errors[{code, message}]`` (the SQLSTATE and the engine's message), never as HTTP errors.
  The Spark SQL is transpiled to PostgreSQL with sqlglot; Data Distiller's CTAS options
  ``WITH (schema=…, rowvalidation=…, label=…)`` are stripped and recorded on the new dataset
  (see :mod:`aep_emulator.catalog`). A plain CTAS on an existing table fails as on Platform.
  ``ctasParameters`` / ``insertIntoParameters`` wrap the SQL in ``CREATE TABLE <datasetName> AS``
  / ``INSERT INTO <datasetName>``; ``queryParameters`` replace ``$name`` placeholders.
  ``CREATE OR REPLACE VIEW`` replaces the view whatever its new columns, as Spark does:
  PostgreSQL refuses a column list that does not extend the old one (42P16), so then the view
  is dropped and created again in the query's transaction.
- ``GET /queries/{id}``, ``GET /queries`` (``orderby`` ``±created``/``±updated``, ``limit``,
  ``start`` an offset, ``property`` filters ``field==v``/``field!=v``; ``_links.next`` while more).
- ``PATCH /queries/{id}`` ``{"op": "cancel"}`` answers 202 and the query ends in state
  ``CANCELLED`` (the contract leaves the name open, KILLED or CANCELLED; this emulator picks
  CANCELLED, so clients must treat every state but SUBMITTED and IN_PROGRESS as terminal).
  A running statement is cancelled on the engine. ``{"op": "soft_delete"}`` hides it from lists.
- ``POST/GET /query-templates``, ``GET/DELETE /query-templates/{id}``; schedules are in
  :mod:`aep_emulator.schedules`, the HTTP paths in :mod:`aep_emulator.queryroutes`.
- ``isCTAS`` / ``isInsertInto`` are true for ``ctasParameters`` / ``insertIntoParameters`` and
  for a CTAS / INSERT INTO written in the SQL itself.

Queries wait for ``emu.query_gate`` (a set ``threading.Event``; a test clears it to hold them
in SUBMITTED) and ``emu.query_delay`` seconds before they run; once ``IN_PROGRESS`` a query
writing a table takes ``emu.table_seconds(table)`` longer (a simulated run time; cancellable).
"""

from __future__ import annotations

import copy
import functools
import re
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import psycopg2

from .catalog import catalog
from .routing import Request, Response, problem
from .nested import comment_columns, nested_columns
from .sql import SqlFailure, Statement, replace_view, translate, writes_of

__all__ = ["Queries", "Statement", "queries", "substitute", "translate", "validate"]

if TYPE_CHECKING:
    from .server import Emulator

BASE = "/data/foundation/query"
ACTIVE = ("SUBMITTED", "IN_PROGRESS")


def iso_now() -> str:
    """The current UTC time as Platform writes it (``2024-05-01T10:00:00.000Z``)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Queries:
    """The batch queries of one emulated sandbox and the threads that run them."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.items: dict[str, dict[str, Any]] = {}
        self.templates: dict[str, dict[str, Any]] = {}
        self._cancel: dict[str, threading.Event] = {}
        self._pids: dict[str, int] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def submit(self, body: dict[str, Any], sql: str) -> dict[str, Any]:
        """Record a new query and start running it."""
        query_id = str(uuid.uuid4())
        url = f"{self.emu.url}{BASE}/queries/{query_id}"
        request = {k: body[k] for k in ("dbName", "sql", "templateId", "name", "description",
                                         "queryParameters", "ctasParameters",
                                         "insertIntoParameters") if k in body}
        created = iso_now()
        ctas, insert = writes_of(substitute(sql, body.get("queryParameters")))
        query = {
            "isInsertInto": insert or "insertIntoParameters" in body, "request": request,
            "clientId": self.emu.client_id, "state": "SUBMITTED", "rowCount": 0, "errors": [],
            "isCTAS": ctas or "ctasParameters" in body, "version": 1, "id": query_id,
            "elapsedTime": 0, "updated": created, "client": "API",
            "userId": f"{self.emu.client_id}@techacct.adobe.com", "created": created,
            "_links": {
                "self": {"href": url},
                "soft_delete": {"href": url, "method": "PATCH", "body": '{"op": "soft_delete"}'},
                "cancel": {"href": url, "method": "PATCH", "body": '{"op": "cancel"}'},
            },
        }
        thread = threading.Thread(target=self._run, args=(query_id, sql, body),
                                  name=f"emulated-query-{query_id[:8]}", daemon=True)
        with self._lock:
            self.items[query_id] = query
            self._cancel[query_id] = threading.Event()
            self._threads.append(thread)
            answer = copy.deepcopy(query)
        thread.start()
        return answer

    def _set(self, query_id: str, **fields: Any) -> None:
        with self._lock:
            self.items[query_id].update(fields, updated=iso_now())

    def _run(self, query_id: str, text: str, body: dict[str, Any]) -> None:
        started = time.monotonic()
        cancelled = self._cancel[query_id]
        while not self.emu.query_gate.wait(0.05):
            if cancelled.is_set():
                break
        if cancelled.wait(self.emu.query_delay):
            self._set(query_id, state="CANCELLED")
            return
        self._set(query_id, state="IN_PROGRESS")
        try:
            rows = self._execute(query_id, text, body)
            fields: dict[str, Any] = {"state": "SUCCESS", "rowCount": rows}
        except SqlFailure as exc:
            fields = {"state": "FAILED", "errors": [{"code": exc.code, "message": exc.message}]}
        if cancelled.is_set() and fields["state"] == "FAILED":
            fields = {"state": "CANCELLED"}  # the engine error is the cancellation itself
        fields["elapsedTime"] = int((time.monotonic() - started) * 1000)
        self._set(query_id, **fields)

    def _translate(self, text: str) -> list[Any]:
        """``translate`` with the sandbox's nested columns, read on one connection (none
        while no table with nested columns was loaded)."""
        if not self.emu.holds_nested:
            return translate(text)
        conn = None

        def lookup(table: str) -> dict[str, Any]:
            nonlocal conn
            if conn is None:
                conn = self.emu.engine.connect()
            return nested_columns(conn, table)

        try:
            return translate(text, functools.lru_cache(maxsize=None)(lookup))
        except psycopg2.Error as exc:
            raise SqlFailure("08006", str(exc).strip().splitlines()[0]) from None
        finally:
            if conn is not None:
                conn.close()

    def _execute(self, query_id: str, text: str, body: dict[str, Any]) -> int:
        """Run the query's statements in one transaction; the last statement's row count."""
        text = substitute(text, body.get("queryParameters"))
        if "ctasParameters" in body:
            text = f"CREATE TABLE {body['ctasParameters']['datasetName']} AS {text}"
        elif "insertIntoParameters" in body:
            text = f"INSERT INTO {body['insertIntoParameters']['datasetName']} {text}"
        statements = self._translate(text)
        simulated = max((self.emu.table_seconds(s.creates or s.writes) for s in statements
                         if s.creates or s.writes), default=0.0)
        if simulated and self._cancel[query_id].wait(simulated):
            raise SqlFailure("57014", "canceling statement due to user request")
        cat = catalog(self.emu)
        description = (body.get("ctasParameters") or {}).get("description")
        rows = 0
        try:
            conn = self.emu.engine.connect()
        except psycopg2.Error as exc:
            raise SqlFailure("08006", str(exc).strip().splitlines()[0]) from None
        try:
            with self._lock:
                self._pids[query_id] = conn.get_backend_pid()
            if self._cancel[query_id].is_set():  # cancelled before its backend was known
                raise SqlFailure("57014", "canceling statement due to user request")
            with conn, conn.cursor() as cur:
                for statement in statements:
                    if statement.creates:
                        cat.expect(statement.creates, description=description,
                                   options=statement.options)
                    if statement.replace_view:
                        replace_view(cur, statement)
                    else:
                        cur.execute(statement.sql)
                    rows = max(cur.rowcount, 0)
                    if statement.nested:  # a CTAS or view passing nested columns on
                        comment_columns(cur, *statement.nested)
        except psycopg2.Error as exc:
            message = (exc.pgerror or str(exc)).strip().splitlines()[0]
            raise SqlFailure(exc.pgcode or "08006", message.removeprefix("ERROR:").strip()) from None
        finally:
            with self._lock:
                self._pids.pop(query_id, None)
            conn.close()
            cat.sync()
            cat.forget([s.creates for s in statements if s.creates])
        for written in {s.writes for s in statements if s.writes}:
            cat.touch(written)
        return rows

    def cancel(self, query_id: str) -> bool:
        """Ask a query to stop; False if it already ended."""
        with self._lock:
            if self.items[query_id]["state"] not in ACTIVE:
                return False
            self._cancel[query_id].set()
            pid = self._pids.get(query_id)
        if pid is not None:
            self.emu.engine.cancel_backend(pid)
        return True

    def stop(self) -> None:
        """Cancel every active query and wait for the threads (the emulator is stopping)."""
        for query_id in list(self.items):
            self.cancel(query_id)
        for thread in list(self._threads):
            thread.join(timeout=10)


def substitute(sql: str, parameters: dict[str, Any] | None) -> str:
    """``sql`` with each ``$name`` placeholder replaced by its ``queryParameters`` value."""
    for name, value in (parameters or {}).items():
        sql = re.sub(rf"\${re.escape(name)}\b", str(value), sql)
    return sql


def queries(emu: Emulator) -> Queries:
    """The Query Service state of ``emu`` (created on first use)."""
    def create() -> Queries:
        state = Queries(emu)
        emu.on_stop(state.stop)
        return state

    return emu.service_state("query", create)


def validate(request: Request, emu: Emulator, templates: dict[str, dict]) -> str | Response:
    """The SQL a ``POST /queries`` body asks to run, or the 400 Platform answers."""
    body = request.json
    if not isinstance(body, dict):
        return problem(400, "BadRequestError", "The request body must be a JSON object")
    db_name = body.get("dbName")
    sandbox = request.headers.get("x-sandbox-name", "prod")
    if not isinstance(db_name, str) or not db_name:
        return problem(400, "BadRequestError", "dbName is required")
    db_sandbox, sep, db_table = db_name.partition(":")
    if not sep or not db_table or db_sandbox != sandbox:
        return problem(400, "BadRequestError", f"dbName '{db_name}' must be '{sandbox}:all' or "
                       f"'{sandbox}:<table>' for sandbox '{sandbox}'")
    has_sql, has_template = bool(body.get("sql")), bool(body.get("templateId"))
    if has_sql == has_template:
        return problem(400, "BadRequestError", "Exactly one of sql and templateId is required")
    ctas = body.get("ctasParameters")
    if ctas is not None and not (isinstance(ctas, dict) and ctas.get("datasetName")
                                 and ctas.get("description")):
        return problem(400, "BadRequestError",
                       "ctasParameters requires datasetName and description")
    insert = body.get("insertIntoParameters")
    if insert is not None and not (isinstance(insert, dict) and insert.get("datasetName")):
        return problem(400, "BadRequestError", "insertIntoParameters requires datasetName")
    if ctas is not None and insert is not None:
        return problem(400, "BadRequestError",
                       "ctasParameters and insertIntoParameters cannot both be given")
    params = body.get("queryParameters")
    if params is not None and not isinstance(params, dict):
        return problem(400, "BadRequestError", "queryParameters must be an object")
    if has_template:
        template = templates.get(body["templateId"])
        if template is None:
            return problem(404, "NotFoundError", f"Template '{body['templateId']}' was not found")
        return template["sql"]
    if not isinstance(body["sql"], str):
        return problem(400, "BadRequestError", "sql must be a string")
    return body["sql"]
