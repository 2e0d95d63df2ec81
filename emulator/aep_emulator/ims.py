"""The emulated IMS token endpoint (contract §1.1).

``POST /ims/token/v3`` takes a form-encoded OAuth server-to-server request
(``grant_type=client_credentials``, ``client_id``, ``client_secret``, ``scope``) and answers
``{"access_token", "token_type": "bearer", "expires_in"}`` with an opaque random token valid
``token_ttl`` seconds. Errors use the OAuth body ``{"error", "error_description"}`` (the
contract marks the IMS error shape [inferred]): a missing or unsupported ``grant_type`` or a
missing ``scope`` is 400, an unknown client id is 400 ``invalid_client``, a wrong secret 401
``invalid_client``. :class:`Tokens` is the store the gateway checks bearer tokens against.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from .server import Request, Response, Router

if TYPE_CHECKING:
    from .server import Emulator


class Tokens:
    """Issued access tokens: which client each belongs to and when it expires.

    With ``path`` set, the valid tokens are also written to that JSON file
    (``{token: time.monotonic() expiry}``) for the PostgreSQL proxy's child process.
    """

    def __init__(self, ttl: int, path: Path | None = None) -> None:
        self.ttl = ttl
        self.path = path
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self.issued = 0

    def issue(self, client_id: str) -> str:
        """A new opaque token for ``client_id``."""
        token = "eyJ" + secrets.token_urlsafe(48)
        with self._lock:
            self._tokens[token] = (client_id, time.monotonic() + self.ttl)
            self.issued += 1
            self._persist()
        return token

    def client_of(self, token: str) -> str | None:
        """The client a valid token was issued to; None if unknown or expired."""
        with self._lock:
            entry = self._tokens.get(token)
        if entry is None or time.monotonic() >= entry[1]:
            return None
        return entry[0]

    def expire_all(self) -> None:
        """Expire every token issued so far (a test makes the next call fail with 401013)."""
        with self._lock:
            self._tokens = {t: (client, 0.0) for t, (client, _) in self._tokens.items()}
            self._persist()

    def _persist(self) -> None:
        if self.path is None:
            return
        now = time.monotonic()
        valid = {t: expiry for t, (_, expiry) in self._tokens.items() if expiry > now}
        scratch = self.path.with_suffix(".tmp")
        scratch.write_text(json.dumps(valid))
        os.replace(scratch, self.path)


def _oauth_error(status: int, error: str, description: str) -> Response:
    return Response(status, {"error": error, "error_description": description})


def register(router: Router, emu: Emulator) -> None:
    """Add the IMS token endpoint."""

    def token(request: Request, params: dict[str, str]) -> Response:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            return _oauth_error(400, "invalid_request",
                                "Content-Type must be application/x-www-form-urlencoded")
        form = {k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
        grant = form.get("grant_type")
        if not grant:
            return _oauth_error(400, "invalid_request", "Missing grant_type parameter")
        if grant != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", f"Unsupported grant_type {grant}")
        if not form.get("client_id"):
            return _oauth_error(400, "invalid_request", "Missing client_id parameter")
        if form["client_id"] != emu.client_id:
            return _oauth_error(400, "invalid_client", "invalid client_id parameter")
        if form.get("client_secret") != emu.client_secret:
            return _oauth_error(401, "invalid_client", "invalid client_secret parameter")
        if not form.get("scope"):
            return _oauth_error(400, "invalid_scope", "Missing scope parameter")
        return Response(200, {"access_token": emu.tokens.issue(form["client_id"]),
                              "token_type": "bearer", "expires_in": emu.tokens.ttl})

    router.add("POST", "/ims/token/v3", token)
