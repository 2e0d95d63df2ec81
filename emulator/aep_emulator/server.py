"""A loopback HTTP server that stands in for Adobe IMS and Platform.

The :class:`Emulator` serves both the IMS token endpoint and the Platform services from one
``http://127.0.0.1:<port>`` URL; ``emu.hosts`` (:class:`Hosts`) holds it for a client. It
follows /work/shared/aep-contract.md strictly
and rejects what the real gateway rejects: every Platform path (everything but ``/ims/``) is
checked for the §1.2 headers and answered with the exact §9 gateway error bodies, and a POST,
PUT or PATCH with a body must say ``Content-Type: application/json`` (except on the paths a
service lists in ``raw_body_paths``, such as batch file uploads, which it checks itself).

A request passes through, in order: recording (``Emulator.requests``), fault injection
(:mod:`aep_emulator.faults`), the gateway checks, and the :class:`Router`, which hands it to
a service module (:mod:`~aep_emulator.ims`, :mod:`~aep_emulator.query`,
:mod:`~aep_emulator.catalog`, Flow Service, :mod:`~aep_emulator.labels`,
:mod:`~aep_emulator.ingest`). Each service module has
``register(router, emu)``; :mod:`aep_emulator.services` lists them.

The SQL engine is a real PostgreSQL (``engine_dsn``, trust authentication). Each emulator
instance gets a random sandbox name (``emu-<8 hex>``) and creates a database named
``<sandbox>:all`` owned by a login role named after the org id, so concurrent emulators never
see each other's tables; ``stop()`` drops the database. ``connection_parameters`` hands out
the loopback port of :mod:`aep_emulator.pgwire`, a proxy in front of that database that
checks the password is a valid IMS access token and accepts ``<sandbox>:<table>`` database
names, as Data Distiller's PostgreSQL endpoint does.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import secrets as _random
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, TypeVar
from urllib.parse import parse_qs, urlsplit

from .faults import FaultPlan
from .pgwire import INTERACTIVE_TIMEOUT, ROW_LIMIT
from .routing import Handler, Request, Response, Router, gateway_error, problem

if TYPE_CHECKING:
    import pyarrow

    from .engine import Engine
    from .pgwire import WireProxy

__all__ = ["Emulator", "Handler", "Hosts", "Request", "Response", "Router", "gateway_error",
           "problem"]

log = logging.getLogger(__name__)

T = TypeVar("T")
# the body types the gateway lets through: [not PATCH, PATCH] (Catalog's PATCH demands json-patch)
JSON_TYPES = (("application/json",), ("application/json", "application/json-patch+json"))
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class Hosts:
    """Where a client finds IMS and Platform: both are the emulator's loopback URL once started."""

    ims: str = ""
    platform: str = ""


class Emulator:
    """Adobe IMS and Platform on loopback, backed by a real PostgreSQL.

    Args:
        engine_dsn: an admin DSN of the PostgreSQL server that runs the SQL.
        org_id: the IMS org the credential belongs to.
        client_id: the credential's client id (also the expected ``x-api-key``).
        client_secret: the credential's client secret.
        token_ttl: seconds an issued access token is valid.
        sandbox: the sandbox name (random ``emu-<hex>`` by default, for isolation).
        query_delay: seconds a batch query stays SUBMITTED before it runs.
        landing: where exports land (a temporary directory, removed on stop, by default).
        latency: seconds added to every round trip: each HTTP request, and each message a
            client sends on the PostgreSQL endpoint (a statement, or a batch of them). It may
            be changed while serving (``emu.latency = 0.1``): requests take it at once, the
            PostgreSQL endpoint in the sessions that connect afterwards.
        table_latency: seconds a batch query runs (``IN_PROGRESS``) before its statements, by
            the table it creates or writes: a mapping of case-insensitive ``fnmatch`` patterns
            (the first that matches wins; a table none matches takes 0) or a function of the
            table name. A query writing several tables takes the largest.
        interactive_timeout, row_limit: the limits of an ad hoc query on the PostgreSQL
            endpoint (contract §2.4: 600 seconds, then SQLSTATE 53400; 50,000 rows a result);
            smaller ones let a test reach them. Changed while serving, they hold for the
            sessions that connect afterwards.
    """

    def __init__(self, *, engine_dsn: str = DEFAULT_DSN, org_id: str = "EMU0000000000000000000001@AdobeOrg",
                 client_id: str = "emulator-client-id", client_secret: str = "emulator-client-secret",
                 token_ttl: int = 86399, sandbox: str | None = None, query_delay: float = 0.0,
                 landing: str | Path | None = None, latency: float = 0.0,
                 table_latency: Mapping[str, float] | Callable[[str], float] | None = None,
                 interactive_timeout: float = INTERACTIVE_TIMEOUT, row_limit: int = ROW_LIMIT
                 ) -> None:
        from .engine import Engine
        from .ims import Tokens
        from .services import register_all

        self.org_id = org_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.sandbox = sandbox or f"emu-{_random.token_hex(4)}"
        self.query_delay = query_delay
        self._latency = latency
        self._limits = {"interactive_timeout": interactive_timeout, "row_limit": row_limit}
        self.table_latency = table_latency
        self.query_gate = threading.Event()  # cleared by a test to hold queries in SUBMITTED
        self.query_gate.set()
        self.tokens = Tokens(token_ttl)
        self.faults = FaultPlan()
        self.requests: list[Request] = []
        self.router = Router()
        self.engine: Engine = Engine(engine_dsn, f"{self.sandbox}:all", org_id)
        self.url = ""
        self.hosts = Hosts()
        self._landing = Path(landing) if landing is not None else None
        self._own_landing = landing is None
        self._lock = threading.RLock()
        self._stoppers: list[Callable[[], None]] = []
        self._server: ThreadingHTTPServer | None = None
        self._workdir: Path | None = None
        self.wire: WireProxy | None = None  # the PostgreSQL endpoint, see aep_emulator.pgwire
        self._thread: threading.Thread | None = None
        self.state: dict[str, Any] = {}  # per-service state, keyed by service name
        # fnmatch patterns of paths whose bodies are raw bytes, not JSON (a service checks them)
        self.raw_body_paths: list[str] = []
        register_all(self.router, self)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Create the sandbox database and start serving (on a free loopback port by default)."""
        self.engine.create()
        try:
            self._serve(host, port)
        except BaseException:
            self.stop()  # drop the database and whatever did start
            raise

    def _serve(self, host: str, port: int) -> None:
        from .pgwire import WireProxy

        self._workdir = Path(tempfile.mkdtemp(prefix="aep-emulator-"))
        self.tokens.path = self._workdir / "tokens.json"
        self.wire = WireProxy(upstream=(self.engine.host, self.engine.port),
                              sandbox=self.sandbox, dbname=self.engine.dbname,
                              tokens=self.tokens.path, settings=self._workdir / "wire.json")
        self.latency = self._latency  # writes the settings file the proxy reads
        self.wire.start(host)
        server = ThreadingHTTPServer((host, port), _handler_class(self))
        server.daemon_threads = True
        self._server = server
        host, port = server.server_address[:2]
        self.url = f"http://{host}:{port}"
        self.hosts = Hosts(ims=self.url, platform=self.url)
        self._thread = threading.Thread(target=server.serve_forever, name="aep-emulator",
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, finish background queries and drop the sandbox database."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        for stopper in self._stoppers:
            stopper()
        if self.wire is not None:
            self.wire.stop()
            self.wire = None
        self.engine.drop()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        if self._own_landing and self._landing is not None:
            shutil.rmtree(self._landing, ignore_errors=True)
            self._landing = None

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def on_stop(self, stopper: Callable[[], None]) -> None:
        """Register a callback ``stop()`` runs before dropping the database (a service's cleanup)."""
        self._stoppers.append(stopper)

    def service_state(self, name: str, factory: Callable[[], T]) -> T:
        """The state object of service ``name``, made by ``factory`` on first use (thread-safe)."""
        with self._lock:
            if name not in self.state:
                self.state[name] = factory()
            return self.state[name]

    # -- what tests read ---------------------------------------------------------------------
    def dataset(self, dataset_id: str) -> dict | None:
        """The Catalog record of ``dataset_id`` (None if there is none)."""
        from .catalog import catalog

        return catalog(self).get(dataset_id)

    def seed_labels(self, dataset_id: str, labels: Iterable[str] = (),
                    field_labels: Mapping[str, Iterable[str]] | None = None) -> str:
        """Give dataset ``dataset_id`` data usage labels, as a data steward would (§7): dataset
        labels and labels per column (``/properties/<column>`` of its schema). Returns the
        new etag.

        Raises:
            EmulatorError: the dataset is unknown, or a label or column is not valid.
        """
        from .errors import EmulatorError
        from .labels import Invalid, labels_store, seed

        try:
            return seed(self, labels_store(self), dataset_id, labels, field_labels or {})
        except Invalid as exc:
            raise EmulatorError(f"seed_labels({dataset_id!r}): {exc}") from None

    def labels(self, dataset_id: str) -> dict | None:
        """The labels of ``dataset_id`` as GET answers them (the inner object), or None."""
        from .labels import labels_store

        store, record = labels_store(self), self.dataset(dataset_id)
        with store.lock:
            if record is None or dataset_id not in store.entities:
                return None
            return store.body(dataset_id, record)[f"AEP:dataset:{dataset_id}"]

    def read_table(self, table: str) -> pyarrow.Table:
        """Every row of ``table`` in the sandbox database."""
        return self.engine.read_table(table)

    def run_sql(self, statements: str) -> None:
        """Run SQL in the sandbox database as the org's role (e.g. to create raw sources)."""
        conn = self.engine.connect()
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(statements)
        finally:
            conn.close()

    #: Whether a table with nested (jsonb) columns was loaded: until then batch queries skip
    #: the nested-access rewrite and its lookups (:mod:`aep_emulator.nested`).
    holds_nested = False

    @property
    def tenant(self) -> str:
        """The org's tenant namespace, ``_<tenantId>`` (the Schema Registry's ``/stats``)."""
        return "_" + self.org_id.split("@")[0].lower()

    def load_tables(self, tables: Mapping[str, Any]) -> dict[str, int]:
        """Create a table (and so a dataset) in the sandbox from each Arrow table, nested XDM
        columns as jsonb (:mod:`aep_emulator.nested`); the row count by table."""
        import pyarrow as pa

        from .catalog import catalog

        counts = {name: self.engine.load_arrow(name.lower(), table)
                  for name, table in tables.items()}
        self.holds_nested = self.holds_nested or any(
            any(pa.types.is_nested(f.type) for f in table.schema) for table in tables.values())
        catalog(self).sync()
        return counts

    def environment(self) -> dict[str, str]:
        """The variables a ``data_distiller`` target reads to reach this emulator."""
        return {"AEP_IMS_HOST": self.url, "AEP_PLATFORM_HOST": self.url,
                "AEP_ORG_ID": self.org_id, "AEP_CLIENT_ID": self.client_id,
                "AEP_CLIENT_SECRET": self.client_secret, "AEP_SCOPES": "openid,AdobeID",
                "AEP_SANDBOX": self.sandbox}

    def landing_dir(self) -> Path:
        """The directory exports land in (created on first use)."""
        if self._landing is None:
            self._landing = Path(tempfile.mkdtemp(prefix="aep-emulator-landing-"))
        self._landing.mkdir(parents=True, exist_ok=True)
        return self._landing

    @property
    def latency(self) -> float:
        """Seconds added to every round trip (see the class docstring)."""
        return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._latency = seconds
        self._write_settings()

    def set_interactive_limits(self, *, interactive_timeout: float | None = None,
                               row_limit: int | None = None) -> None:
        """Change the ad hoc query limits of the PostgreSQL endpoint (new sessions)."""
        for key, value in (("interactive_timeout", interactive_timeout),
                           ("row_limit", row_limit)):
            if value is not None:
                self._limits[key] = value
        self._write_settings()

    def _write_settings(self) -> None:
        """The settings file the PostgreSQL proxy reads as each session connects."""
        if self._workdir is not None:  # serving
            path = self._workdir / "wire.json"
            path.with_suffix(".tmp").write_text(json.dumps({"latency": self._latency,
                                                            **self._limits}))
            path.with_suffix(".tmp").replace(path)

    def table_seconds(self, table: str) -> float:
        """How long a batch query writing ``table`` runs before its statements (``table_latency``)."""
        if self.table_latency is None:
            return 0.0
        if callable(self.table_latency):
            return float(self.table_latency(table))
        for pattern, seconds in self.table_latency.items():
            if fnmatch.fnmatchcase(table.lower(), pattern.lower()):
                return float(seconds)
        return 0.0

    def requests_to(self, path_prefix: str, method: str | None = None) -> list[Request]:
        """The recorded requests whose path starts with ``path_prefix`` (and have ``method``)."""
        with self._lock:
            return [r for r in self.requests if r.path.startswith(path_prefix)
                    and (method is None or r.method == method.upper())]

    # -- the request pipeline ----------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        """Record, inject faults, check the gateway headers, then route ``request``."""
        with self._lock:
            self.requests.append(request)
        if self.latency:
            time.sleep(self.latency)
        lost = None
        for fault in self.faults.take(request.method, request.path):
            if fault.kind == "lose_answer":
                lost = fault
            elif fault.kind == "delay":
                time.sleep(fault.delay)
            elif fault.kind == "expire_token":
                self.tokens.expire_all()
            elif fault.kind == "terminate":
                self.engine.terminate_backends()
            elif fault.kind == "status":
                headers = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else {}
                title = HTTPStatus(fault.status).phrase.replace(" ", "")
                response = problem(fault.status, title, f"Injected fault on {request.path}")
                response.headers.update(headers)
                return response
        if not request.path.startswith("/ims/"):
            rejected = self.check_gateway(request)
            if rejected is not None:
                return rejected
        try:
            response = self.router.dispatch(request)
        except Exception as exc:  # a bug in a service must not kill the server thread
            log.exception("emulator handler failed")
            return problem(500, "InternalServerError", f"{type(exc).__name__}: {exc}")
        if lost is not None:  # served, but the answer never reaches the client
            return problem(lost.status, HTTPStatus(lost.status).phrase.replace(" ", ""),
                           f"Injected fault on {request.path} (the request was served)")
        return response

    def check_gateway(self, request: Request) -> Response | None:
        """The §1.2 header checks with the §9 gateway bodies; None when the request passes."""
        h = request.headers
        auth = h.get("authorization", "")
        if not auth:
            return gateway_error(403, "403010", "Oauth token is missing.")
        scheme, _, token = auth.partition(" ")
        client = self.tokens.client_of(token.strip()) if scheme.lower() == "bearer" else None
        if client is None:
            return gateway_error(401, "401013", "Oauth token is not valid")
        api_key = h.get("x-api-key")
        if not api_key:
            return gateway_error(403, "403000", "Api Key is required")
        if api_key != client:
            return gateway_error(403, "403003", "Api Key is invalid")
        org = h.get("x-gw-ims-org-id")
        if not org:
            return gateway_error(400, "400003", "Missing header")
        if org != self.org_id:
            return gateway_error(403, "403025", "Profile is not valid")
        sandbox = h.get("x-sandbox-name", "prod")
        if sandbox != self.sandbox:
            # Not in the contract: the emulator's only sandbox is its random one [inferred].
            return problem(403, "Forbidden", f"Sandbox '{sandbox}' does not exist in org "
                           f"{self.org_id} or the credential has no access to it")
        raw = any(fnmatch.fnmatchcase(request.path, p) for p in self.raw_body_paths)
        if request.method in ("POST", "PUT", "PATCH") and request.body and not raw:
            ctype = h.get("content-type", "").split(";")[0].strip().lower()
            if ctype not in JSON_TYPES[request.method == "PATCH"]:
                return problem(400, "BadRequestError", "A valid content-type must be specified")
        return None


def _handler_class(emu: Emulator) -> type[BaseHTTPRequestHandler]:
    """An HTTP handler class bound to ``emu``."""

    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "aep-emulator"

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parsed: Any = None
            if body:
                try:
                    parsed = json.loads(body)
                except ValueError:
                    parsed = None
            request = Request(self.command, parts.path, parse_qs(parts.query, keep_blank_values=True),
                              {k.lower(): v for k, v in self.headers.items()}, body, parsed)
            response = emu.handle(request)
            self._send(response)

        def _send(self, response: Response) -> None:
            if isinstance(response.body, bytes):
                payload, ctype = response.body, "application/octet-stream"
            elif response.body is None:
                payload, ctype = b"", "application/json"
            else:
                payload, ctype = json.dumps(response.body).encode(), "application/json"
            self.send_response(response.status)
            headers = {"Content-Type": ctype, **response.headers, "Content-Length": str(len(payload))}
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            log.debug("emulator: " + format, *args)

    return _Handler
