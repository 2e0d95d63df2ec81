"""The emulated Data Distiller PostgreSQL endpoint: a small wire-protocol proxy.

Data Distiller's interactive interface speaks the PostgreSQL protocol, takes the IMS access
token as the password, and accepts ``dbName`` ``<sandbox>:all`` or ``<sandbox>:<table>`` (a
session scoped to one dataset, contract §2.2). A stock PostgreSQL with trust authentication
does neither, so ``connection_parameters`` points clients at this proxy instead. For each
client connection it

1. answers an ``SSLRequest``/``GSSENCRequest`` with ``N`` (no TLS on loopback: clients must
   use ``sslmode`` ``disable``, ``allow`` or ``prefer``);
2. reads the ``StartupMessage``; a database whose sandbox is not the emulator's is refused
   with SQLSTATE 3D000;
3. asks for a cleartext password and checks it is a valid IMS token of the emulator (28P01
   otherwise, so an expired token breaks new connections as on Platform);
4. connects to the real server with the database rewritten to ``<sandbox>:all`` and then
   relays bytes both ways untouched (a ``<sandbox>:<table>`` session therefore sees every
   table; the scoping is a performance hint on Platform, not a permission).

With a ``latency`` (``{"latency": seconds}`` in the settings file, read as each session
connects) each chunk the client sends after authentication (a statement, or the messages of
one) waits that long before it is relayed: one simulated round trip.

The interactive limits of an ad hoc query (contract §2.4) hold as on Platform: a statement runs
at most ``interactive_timeout`` seconds (10 minutes; the engine's ``statement_timeout``, set
for the session at startup), and one past it fails with SQLSTATE 53400; a result gives a
PostgreSQL client at most ``row_limit`` rows (50,000): the rows past it are not sent and the
command tag says how many were (an output limit, not an error). The proxy reads the server's
messages for that (each framed by its type and length) and relays the others untouched. Batch
queries do not come this way, so neither limit touches them.

A ``CancelRequest`` is forwarded as is: the backend key data the client holds is the real
server's, so cancellation survives the proxy.

The proxy runs in a child process (this file run as a script, standard library only), not in
the emulator's threads: psycopg2's ``connection.cancel()`` holds the GIL while it waits for the
server, so an in-process proxy would deadlock a client that cancels. The child learns the
valid tokens from a JSON file the emulator rewrites whenever a token is issued or expired
(:class:`aep_emulator.ims.Tokens`), and exits when the emulator closes its stdin.
"""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

PROTOCOL_3 = 196608
SSL_REQUEST, GSSENC_REQUEST, CANCEL_REQUEST = 80877103, 80877104, 80877102
# The emulator's own copy of the contract's interactive limits (§2.4).
INTERACTIVE_TIMEOUT = 600.0   # seconds an ad hoc query may run
ROW_LIMIT = 50_000            # rows a result gives a PostgreSQL client
TIMEOUT_STATE = "53400"       # the SQLSTATE of an ad hoc query past its time
STATEMENT_TIMEOUT_STATE = "57014"  # PostgreSQL's query_canceled


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("client closed the connection during startup")
        data += chunk
    return data


def _read_startup(sock: socket.socket) -> bytes:
    """One untyped startup-phase packet (length included)."""
    head = _recv_exact(sock, 4)
    (length,) = struct.unpack("!i", head)
    if not 8 <= length <= 10_000:
        raise ConnectionError("malformed startup packet")
    return head + _recv_exact(sock, length - 4)


def error_message(code: str, message: str) -> bytes:
    """A FATAL ``ErrorResponse`` message."""
    fields = b"".join(tag + value.encode() + b"\0" for tag, value in
                      ((b"S", "FATAL"), (b"V", "FATAL"), (b"C", code), (b"M", message)))
    body = fields + b"\0"
    return b"E" + struct.pack("!i", len(body) + 4) + body


def parse_startup(packet: bytes) -> dict[str, str]:
    """The parameters of a protocol-3 ``StartupMessage``."""
    parts = packet[8:].split(b"\0")
    return {parts[i].decode(): parts[i + 1].decode() for i in range(0, len(parts) - 1, 2)
            if parts[i]}


def build_startup(params: dict[str, str]) -> bytes:
    """A protocol-3 ``StartupMessage`` carrying ``params``."""
    body = struct.pack("!i", PROTOCOL_3) + b"".join(
        k.encode() + b"\0" + v.encode() + b"\0" for k, v in params.items()) + b"\0"
    return struct.pack("!i", len(body) + 4) + body


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def error_fields(body: bytes) -> list[tuple[bytes, bytes]]:
    """The ``(tag, value)`` fields of an ``ErrorResponse`` body (its bytes after the length)."""
    fields = []
    for part in body.split(b"\0"):
        if part:
            fields.append((part[:1], part[1:]))
    return fields


def _message(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!i", len(body) + 4) + body


def _past_time(message: bytes, seconds: float) -> bytes:
    """A ``statement_timeout`` cancellation re-told as Data Distiller's ad hoc time limit."""
    fields = error_fields(message[5:])
    if (b"C", STATEMENT_TIMEOUT_STATE.encode()) not in fields or not any(
            tag == b"M" and b"statement timeout" in value for tag, value in fields):
        return message
    text = (f"Query exceeded the maximum execution time of {seconds:g} seconds for an ad hoc "
            "query; run it as a batch query (CREATE TABLE ... AS) instead").encode()
    kept = [(tag, TIMEOUT_STATE.encode() if tag == b"C" else text if tag == b"M" else value)
            for tag, value in fields if tag not in (b"F", b"L", b"R")]
    return _message(b"E", b"".join(tag + value + b"\0" for tag, value in kept) + b"\0")


def _cut_tag(message: bytes, limit: int) -> bytes:
    """A ``CommandComplete`` whose row count is the rows that were sent (``SELECT <limit>``)."""
    words = message[5:].rstrip(b"\0").split(b" ")
    if words[-1].isdigit():
        words[-1] = str(limit).encode()
    return _message(b"C", b" ".join(words) + b"\0")


def _relay_results(source: socket.socket, sink: socket.socket, row_limit: int,
                   timeout: float) -> None:
    """Copy the server's messages to the client until either side closes, holding each result
    to ``row_limit`` rows and re-telling a statement timeout as SQLSTATE 53400."""
    pending, rows, cut = b"", 0, False
    try:
        while data := source.recv(65536):
            pending += data
            out, pos = [], 0
            while len(pending) - pos >= 5:
                (length,) = struct.unpack("!i", pending[pos + 1:pos + 5])
                if len(pending) - pos < 1 + length:
                    break
                message, kind = pending[pos:pos + 1 + length], pending[pos:pos + 1]
                pos += 1 + length
                if kind == b"T":
                    rows, cut = 0, False
                elif kind == b"D":
                    rows += 1
                    if rows > row_limit:
                        cut = True
                        continue
                elif kind == b"C":
                    if cut:
                        message = _cut_tag(message, row_limit)
                    rows, cut = 0, False
                elif kind == b"E":
                    message = _past_time(message, timeout)
                out.append(message)
            pending = pending[pos:]
            if out:
                sink.sendall(b"".join(out))
    except OSError:
        pass
    finally:
        _close(sink)
        _close(source)


def _pump(source: socket.socket, sink: socket.socket, latency: float = 0.0) -> None:
    """Copy bytes from ``source`` to ``sink`` until either side closes, each chunk ``latency``
    seconds late."""
    try:
        while data := source.recv(65536):
            if latency:
                time.sleep(latency)
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _close(sink)
        _close(source)


class Relay:
    """The proxy loop (runs in the child process).

    Args:
        upstream: ``(host, port)`` of the PostgreSQL server.
        sandbox: the emulator's sandbox name.
        dbname: the real database, ``<sandbox>:all``.
        tokens: the JSON file ``{token: monotonic expiry}`` of valid IMS tokens.
        settings: the JSON file ``{"latency": seconds, "interactive_timeout": seconds,
            "row_limit": rows}`` read as each session connects: how long each client chunk
            waits before it is relayed (0 when missing) and the interactive limits (the
            contract's when missing).
    """

    def __init__(self, upstream: tuple[str, int], sandbox: str, dbname: str, tokens: Path,
                 settings: Path | None = None) -> None:
        self.upstream = upstream
        self.settings = settings
        self.sandbox = sandbox
        self.dbname = dbname
        self.tokens = tokens

    def token_valid(self, token: str) -> bool:
        try:
            expiry = json.loads(self.tokens.read_text()).get(token)
        except (OSError, ValueError):
            return False
        return expiry is not None and time.monotonic() < expiry

    def setting(self, key: str, default: float) -> float:
        """A value of the settings file (``default`` when it or the key is missing)."""
        try:
            return float(json.loads(self.settings.read_text()).get(key, default))
        except (AttributeError, OSError, ValueError):
            return default

    def latency(self) -> float:
        return self.setting("latency", 0.0)

    def serve(self, listener: socket.socket) -> None:
        while True:
            client, _ = listener.accept()
            threading.Thread(target=self.session, args=(client,), daemon=True).start()

    def session(self, client: socket.socket) -> None:
        try:
            packet = _read_startup(client)
            code = struct.unpack("!i", packet[4:8])[0]
            while code in (SSL_REQUEST, GSSENC_REQUEST):
                client.sendall(b"N")
                packet = _read_startup(client)
                code = struct.unpack("!i", packet[4:8])[0]
            if code == CANCEL_REQUEST:
                with socket.create_connection(self.upstream) as upstream:
                    upstream.sendall(packet)
                    upstream.recv(1)  # the server closes once it has read the request
                return _close(client)
            if code != PROTOCOL_3:
                client.sendall(error_message("08P01", f"unsupported frontend protocol {code >> 16}"))
                return _close(client)
            upstream = self.authenticate(client, parse_startup(packet))
        except (OSError, ConnectionError):
            return _close(client)
        if upstream is None:
            return _close(client)
        limits = (int(self.setting("row_limit", ROW_LIMIT)), self.timeout())
        threading.Thread(target=_relay_results, args=(upstream, client, *limits),
                         daemon=True).start()
        _pump(client, upstream, self.latency())

    def timeout(self) -> float:
        return self.setting("interactive_timeout", INTERACTIVE_TIMEOUT)

    def authenticate(self, client: socket.socket, params: dict[str, str]) -> socket.socket | None:
        """Check database and token; the connection to the engine, or None after an error."""
        user = params.get("user", "")
        database = params.get("database", user)
        sandbox, sep, scope = database.partition(":")
        if sandbox != self.sandbox or not sep or not scope:
            client.sendall(error_message("3D000", f'database "{database}" does not exist (use '
                                         f"'{self.sandbox}:all' or '{self.sandbox}:<table>')"))
            return None
        client.sendall(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
        kind = _recv_exact(client, 1)
        (length,) = struct.unpack("!i", _recv_exact(client, 4))
        password = _recv_exact(client, length - 4).rstrip(b"\0").decode(errors="replace")
        if kind != b"p" or not self.token_valid(password):
            client.sendall(error_message("28P01", f'password authentication failed for user "{user}" '
                                         "(the password is an IMS access token; fetch a new one)"))
            return None
        params["database"] = self.dbname
        limit = f"-c statement_timeout={int(self.timeout() * 1000)}"
        params["options"] = f"{params['options']} {limit}" if params.get("options") else limit
        upstream = socket.create_connection(self.upstream)
        upstream.sendall(build_startup(params))
        return upstream


class WireProxy:
    """The emulator's handle on the proxy child process."""

    def __init__(self, *, upstream: tuple[str, int], sandbox: str, dbname: str,
                 tokens: Path, settings: Path) -> None:
        self.args = [upstream[0], str(upstream[1]), sandbox, dbname, str(tokens), str(settings)]
        self.port = 0
        self._process: subprocess.Popen[str] | None = None

    def start(self, host: str = "127.0.0.1") -> None:
        """Start the child listening on a free port of ``host``."""
        self._process = subprocess.Popen([sys.executable, "-I", "-S", __file__, host, *self.args],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self._process.stdout.readline()  # type: ignore[union-attr]
        if not line.strip().isdigit():
            self.stop()
            raise RuntimeError("emulator: the PostgreSQL proxy did not start")
        self.port = int(line)

    def stop(self) -> None:
        """Stop the child, cutting every relayed session."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            for stream in (self._process.stdin, self._process.stdout):
                if stream is not None:
                    stream.close()
            self._process = None


def main(argv: list[str]) -> None:
    """``pgwire.py HOST UPSTREAM_HOST UPSTREAM_PORT SANDBOX DBNAME TOKENS_FILE SETTINGS_FILE``."""
    host, up_host, up_port, sandbox, dbname, tokens, settings = argv
    listener = socket.create_server((host, 0))
    relay = Relay((up_host, int(up_port)), sandbox, dbname, Path(tokens), Path(settings))
    threading.Thread(target=relay.serve, args=(listener,), daemon=True).start()
    print(listener.getsockname()[1], flush=True)
    sys.stdin.read()  # returns when the emulator closes the pipe or dies


if __name__ == "__main__":
    main(sys.argv[1:])
