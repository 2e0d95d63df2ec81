"""The Adobe Experience Platform REST client.

Every Platform call goes through :class:`PlatformClient`: a ``requests.Session`` whose
transport retries throttling (429, honouring ``Retry-After``), server errors (5xx) and
connection failures with exponential backoff (urllib3 ``Retry`` on an ``HTTPAdapter``), and
whose authentication is a pluggable :class:`TokenAuth` object. ``TokenAuth`` fetches an OAuth
server-to-server access token from IMS (``POST {ims}/ims/token/v3``, form-encoded
``client_credentials``), caches it, fetches a new one shortly before it expires, and, when the
gateway answers 401 anyway (a token revoked or expired early), fetches a new one and replays
the request once.

Failures surface as one :class:`~runner.errors.PlatformError` whose one-line message names the
call and what the service said, whatever error body shape the service used (see
:func:`describe_error`). Secrets (the client secret and the access token) are masked in every
message; :class:`~runner.platform.secrets.Secret` keeps them out of reprs.

Retrying a POST on a 5xx or a broken connection may run it twice; Platform's creates are not
idempotent, but the alternative (failing a long build on one gateway hiccup) is worse, and
every caller of a create looks its result up by name afterwards. A request that must run at
most once (an ``INSERT INTO`` batch query: a second copy appends the rows again) is sent with
``once=True``: it is retried only when it cannot have been served (429, a connection that was
never made), never after a 5xx or a lost answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from runner.errors import PlatformError
from runner.platform.secrets import Secret, mask

TOKEN_PATH = "/ims/token/v3"
RETRY_STATUSES = (429, 500, 502, 503, 504)
RETRY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Hosts:
    """Where IMS and Platform live (the emulator points both at itself)."""

    ims: str = "https://ims-na1.adobelogin.com"
    platform: str = "https://platform.adobe.io"


@dataclass(frozen=True)
class Credentials:
    """An OAuth server-to-server credential and the org and sandbox it acts in."""

    org_id: str
    client_id: str
    client_secret: Secret
    scopes: str
    sandbox: str = "prod"
    tech_account_id: str | None = None


class _Retry(Retry):
    """urllib3's ``Retry`` with a cap on ``Retry-After`` (urllib3 before 2.6 has no ``retry_after_max``)."""

    def __init__(self, *args: Any, retry_after_cap: float = 120.0, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.retry_after_cap = retry_after_cap

    def new(self, **kw: Any) -> _Retry:
        kw.setdefault("retry_after_cap", self.retry_after_cap)
        return super().new(**kw)

    def parse_retry_after(self, retry_after: str) -> float:
        return min(super().parse_retry_after(retry_after), self.retry_after_cap)


def describe_error(body: Any, text: str = "") -> tuple[str | None, str]:
    """The ``(code, message)`` of a Platform error body, whatever its shape.

    Shapes (contract §9): gateway ``{"error_code", "message"}``; RFC 7807 ``{"type", "status",
    "title", "detail"}``; ``{"errorMessage"}``; OAuth ``{"error", "error_description"}``; a
    Flow Service style ``{"code", "message"}``; anything else falls back to the raw text.

    >>> describe_error({"error_code": "401013", "message": "Oauth token is not valid"})
    ('401013', 'Oauth token is not valid')
    >>> describe_error({"type": "x", "status": 400, "title": "BadRequestError", "detail": "no"})
    ('BadRequestError', 'no')
    """
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]
    if isinstance(body, dict):
        if "error_code" in body:
            return str(body["error_code"]), str(body.get("message", ""))
        if "title" in body or "detail" in body:
            title = body.get("title")
            return (str(title) if title else None), str(body.get("detail") or title or "")
        if "errorMessage" in body:
            code = body.get("errorCode") or body.get("code")
            return (str(code) if code else None), str(body["errorMessage"])
        if "error" in body and isinstance(body["error"], str):
            return body["error"], str(body.get("error_description") or body["error"])
        if "message" in body:
            code = body.get("code") or body.get("errorCode")
            return (str(code) if code else None), str(body["message"])
    text = " ".join(text.split())
    return None, text[:300] if text else "(empty response body)"


def platform_error(call: str, response: requests.Response, *secrets: Secret | None,
                   hint: str = "") -> PlatformError:
    """The one :class:`PlatformError` for a failed response: ``<call> failed: <status> <code>:
    <message>[ (hint)]``, secrets masked.

    Args:
        call: ``METHOD path`` as the caller named it.
        response: the final response (status >= 400, or a 200 without the expected body).
        secrets: values to mask in the message.
        hint: what the user can do, appended in parentheses.
    """
    code, message = describe_error(_parse(response), response.text)
    detail = f"{code}: {message}" if code and code not in message else message
    text = f"{call} failed: {response.status_code} {detail}" + (f" ({hint})" if hint else "")
    return PlatformError(mask(text, *secrets), response.status_code, code)


def _parse(response: requests.Response) -> Any:
    """The JSON body of a response, its text if it is not JSON, or None if empty."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


class TokenAuth(requests.auth.AuthBase):
    """Bearer authentication with a cached IMS access token, refreshed before expiry and on 401.

    Args:
        credentials: the OAuth server-to-server credential.
        token_url: the IMS token endpoint.
        session: the session that sends the token request (its retries apply).
        timeout: seconds to wait for IMS.
    """

    def __init__(self, credentials: Credentials, token_url: str, session: requests.Session,
                 timeout: float = 60.0) -> None:
        self.credentials = credentials
        self.token_url = token_url
        self.session = session
        self.timeout = timeout
        self._token: Secret | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()
        self.clock = time.monotonic  # replaceable in tests

    def token(self, *, stale: Secret | None = None) -> Secret:
        """The current access token; a new one if there is none, it is near expiry, or it is
        ``stale`` (a token the gateway refused: when several threads get a 401 at once, only
        the first fetches a new token and the others reuse it)."""
        with self._lock:
            if (self._token is None or self.clock() >= self._expires_at
                    or (stale is not None and stale == self._token)):
                self._token, lifetime = self._fetch()
                # Refresh a little early: a token must not expire between the check and its use.
                self._expires_at = self.clock() + lifetime - min(300.0, lifetime / 10)
            return self._token

    @property
    def cached(self) -> Secret | None:
        """The token in the cache, if any (to mask it), without fetching one."""
        return self._token

    def _fetch(self) -> tuple[Secret, float]:
        creds = self.credentials
        form = {"grant_type": "client_credentials", "client_id": creds.client_id,
                "client_secret": creds.client_secret.reveal(), "scope": creds.scopes}
        try:
            response = self.session.post(self.token_url, data=form, timeout=self.timeout,
                                         headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise PlatformError(mask(f"POST {self.token_url}: cannot reach IMS ({exc})",
                                     creds.client_secret), None) from None
        body = _parse(response)
        if response.status_code >= 400 or not isinstance(body, dict) or "access_token" not in body:
            raise platform_error(f"POST {self.token_url}", response, creds.client_secret,
                                 hint="check the client id, client secret and scopes of the "
                                      "credential")
        return Secret(body["access_token"]), float(body.get("expires_in", 86399))

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token().reveal()}"
        request.register_hook("response", self._replay_on_401)
        return request

    def _replay_on_401(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        """On a 401, fetch a new token and send the request once more (like requests' digest auth)."""
        if response.status_code != 401 or getattr(response.request, "_token_replayed", False):
            return response
        response.content  # noqa: B018 - drain the body so the connection can be reused
        response.close()
        refused = Secret(response.request.headers.get("Authorization", "").partition(" ")[2])
        replay = response.request.copy()
        replay.headers["Authorization"] = f"Bearer {self.token(stale=refused).reveal()}"
        replay._token_replayed = True  # type: ignore[attr-defined]
        replay.hooks = {"response": []}
        retried = response.connection.send(replay, **kwargs)
        retried.history.append(response)
        retried.request = replay
        return retried


class PlatformClient:
    """A session with Platform for one credential, org and sandbox.

    Args:
        credentials: who calls and in which org and sandbox.
        hosts: the IMS and Platform base URLs.
        retries: attempts after the first for 429, 5xx and connection errors.
        backoff: the backoff factor in seconds: the first retry is immediate, later ones wait
            2, 4, 8 x ``backoff`` (capped at 8 x), or what ``Retry-After`` says.
        timeout: seconds to wait for a connection and for each response.
        retry_after_max: the longest ``Retry-After`` honoured, in seconds.
    """

    def __init__(self, credentials: Credentials, hosts: Hosts = Hosts(), *, retries: int = 5,
                 backoff: float = 0.5, timeout: float = 60.0,
                 retry_after_max: float = 120.0) -> None:
        self.credentials = credentials
        self.hosts = hosts
        self.timeout = timeout
        self.session = requests.Session()
        retry = _Retry(total=retries, connect=retries, read=retries, status=retries, redirect=0,
                       backoff_factor=backoff, backoff_max=max(backoff * 8, backoff),
                       status_forcelist=RETRY_STATUSES, allowed_methods=RETRY_METHODS,
                       respect_retry_after_header=True, retry_after_cap=retry_after_max,
                       raise_on_status=False)
        adapter = HTTPAdapter(max_retries=retry, pool_maxsize=32)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        # at most once: only what was never served is sent again (see the module docstring)
        self._once = requests.Session()
        once = HTTPAdapter(max_retries=_Retry(
            total=retries, connect=retries, read=0, status=retries, other=0, redirect=0,
            backoff_factor=backoff, backoff_max=max(backoff * 8, backoff),
            status_forcelist=(429,), allowed_methods=RETRY_METHODS,
            respect_retry_after_header=True, retry_after_cap=retry_after_max,
            raise_on_status=False), pool_maxsize=32)
        self._once.mount("http://", once)
        self._once.mount("https://", once)
        self.auth = TokenAuth(credentials, hosts.ims.rstrip("/") + TOKEN_PATH, self.session,
                              timeout)

    def __repr__(self) -> str:
        c = self.credentials
        return (f"PlatformClient(org_id={c.org_id!r}, client_id={c.client_id!r}, "
                f"sandbox={c.sandbox!r}, platform={self.hosts.platform!r})")

    def access_token(self) -> Secret:
        """The current IMS access token (fetched lazily, cached, refreshed before expiry)."""
        return self.auth.token()

    def headers(self) -> dict[str, str]:
        """The §1.2 headers every Platform call carries, except Authorization."""
        c = self.credentials
        return {"x-api-key": c.client_id, "x-gw-ims-org-id": c.org_id,
                "x-sandbox-name": c.sandbox, "Accept": "application/json"}

    def request(self, method: str, path: str, *, json: Any = None, data: bytes | None = None,
                params: dict[str, Any] | None = None,
                headers: dict[str, str] | None = None, once: bool = False) -> Any:
        """Call Platform and return the parsed JSON body (None for an empty body).

        Args:
            method: the HTTP method.
            path: absolute on the platform host (``/data/foundation/catalog/dataSets``), or a
                full URL (a ``statusURL`` returned by a service).
            json: the JSON body; sets ``Content-Type: application/json``.
            data: a raw body instead (the caller says its ``Content-Type`` in ``headers``).
            params: query-string parameters.
            headers: headers that override or add to the standard ones (``Accept``, ``If-Match``).
            once: never resend a request that may have been served (see the module docstring).

        Raises:
            PlatformError: for a final status >= 400 or when Platform cannot be reached.
        """
        return self.exchange(method, path, json=json, data=data, params=params,
                             headers=headers, once=once)[0]

    def exchange(self, method: str, path: str, *, json: Any = None, data: bytes | None = None,
                 params: dict[str, Any] | None = None, headers: dict[str, str] | None = None,
                 once: bool = False) -> tuple[Any, Mapping[str, str]]:
        """:meth:`request`, returning the response headers too (an ``ETag``), case-insensitive.

        Raises:
            PlatformError: for a final status >= 400 or when Platform cannot be reached.
        """
        method = method.upper()
        url = path if path.startswith(("http://", "https://")) else (
            self.hosts.platform.rstrip("/") + "/" + path.lstrip("/"))
        sent = self.headers()
        if json is not None:
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        try:
            session = self._once if once else self.session
            response = session.request(method, url, json=json, data=data, params=params,
                                       headers=sent, auth=self.auth, timeout=self.timeout)
        except requests.RequestException as exc:
            raise PlatformError(mask(
                f"{method} {path}: cannot reach Platform at {self.hosts.platform} "
                f"({type(exc).__name__}: {exc})", self.credentials.client_secret,
                self.auth.cached), None) from None
        if response.status_code >= 400:
            raise platform_error(f"{method} {path}", response, self.credentials.client_secret,
                                 self.auth.cached)
        return _parse(response), response.headers

    def get(self, path: str, **kw: Any) -> Any:
        """``request("GET", path, ...)``."""
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Any:
        """``request("POST", path, ...)``."""
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Any:
        """``request("PUT", path, ...)``."""
        return self.request("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> Any:
        """``request("PATCH", path, ...)``."""
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        """``request("DELETE", path, ...)``."""
        return self.request("DELETE", path, **kw)

    def close(self) -> None:
        """Close the connection pools."""
        self.session.close()
        self._once.close()

    def __enter__(self) -> PlatformClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
