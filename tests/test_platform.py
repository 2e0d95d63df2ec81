"""The Platform REST client against the emulator: headers, token lifecycle, retries, errors."""

from __future__ import annotations

import logging
import socket
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs

import pytest

from emulator_fixtures import client_hosts, fast_client
from aep_emulator import Emulator, Request, Response
from aep_emulator.server import problem
from runner.errors import PlatformError
from runner.platform.client import Credentials, Hosts, PlatformClient, describe_error
from runner.platform.secrets import MaskingFilter, Secret, mask

pytestmark = pytest.mark.postgres

CATALOG = "/data/foundation/catalog/dataSets"
PARAMS = "/data/foundation/query/connection_parameters"


def calls(emu: Emulator) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in emu.requests]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- secrets ---------------------------------------------------------------------------------
def test_secret_hides_its_value_everywhere_but_reveal() -> None:
    secret = Secret("s3cr3t/+=")
    creds = Credentials("ORG@AdobeOrg", "cid", secret, "openid")
    assert (str(secret), repr(secret), secret.reveal()) == ("***", "Secret('***')", "s3cr3t/+=")
    assert "s3cr3t" not in repr(creds) and "client_secret=Secret('***')" in repr(creds)
    assert secret == Secret("s3cr3t/+=") and secret != Secret("other")


def test_mask_replaces_raw_and_url_encoded_forms() -> None:
    text = "secret=s3cr3t/+= form=s3cr3t%2F%2B%3D plus=s3cr3t%2F%2B%3D tok=abc"
    assert mask(text, Secret("s3cr3t/+="), "abc", None, "") == "secret=*** form=*** plus=*** tok=***"


def test_masking_filter_masks_log_records(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.masking")
    logger.addFilter(MaskingFilter(Secret("hunter2")))
    with caplog.at_level(logging.INFO, logger="test.masking"):
        logger.info("password is %s", "hunter2")
    assert caplog.messages == ["password is ***"]


# -- error bodies ----------------------------------------------------------------------------
@pytest.mark.parametrize("body, text, expected", [
    ({"error_code": "403003", "message": "Api Key is invalid"}, "", ("403003", "Api Key is invalid")),
    ({"type": "t", "status": 400, "title": "BadRequestError", "detail": "A valid content-type must be specified"},
     "", ("BadRequestError", "A valid content-type must be specified")),
    ({"errorMessage": "Flow not found", "errorCode": "FLOW-404"}, "", ("FLOW-404", "Flow not found")),
    ({"error": "invalid_client", "error_description": "invalid client_secret parameter"}, "",
     ("invalid_client", "invalid client_secret parameter")),
    ([{"code": "CONNECTOR-1001-400", "message": "bad spec"}], "", ("CONNECTOR-1001-400", "bad spec")),
    (None, "<html>\n Bad   Gateway</html>", (None, "<html> Bad Gateway</html>")),
    (None, "", (None, "(empty response body)")),
])
def test_describe_error_reads_every_platform_error_shape(body, text, expected) -> None:
    assert describe_error(body, text) == expected


# -- headers and payloads --------------------------------------------------------------------
def test_first_call_fetches_token_then_sends_the_platform_headers(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    params = platform_client.get(PARAMS)
    token_call, call = emulator.requests
    assert (token_call.method, token_call.path) == ("POST", "/ims/token/v3")
    assert token_call.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(token_call.body.decode()) == {
        "grant_type": ["client_credentials"], "client_id": [emulator.client_id],
        "client_secret": [emulator.client_secret], "scope": ["openid,AdobeID,read_organizations"]}
    token = platform_client.access_token().reveal()
    assert params["token"] == token
    assert (call.method, call.path, call.body) == ("GET", PARAMS, b"")
    assert {k: call.headers.get(k) for k in ("authorization", "x-api-key", "x-gw-ims-org-id",
                                              "x-sandbox-name", "accept", "content-type")} == {
        "authorization": f"Bearer {token}", "x-api-key": emulator.client_id,
        "x-gw-ims-org-id": emulator.org_id, "x-sandbox-name": emulator.sandbox,
        "accept": "application/json", "content-type": None}


def test_json_body_sends_content_type_and_headers_override(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    seen: list[Request] = []

    def echo(request: Request, params: dict[str, str]) -> Response:
        seen.append(request)
        return Response(201, {"id": params["id"], "got": request.json})

    emulator.router.add("POST", "/data/test/things/{id}", echo)
    body = platform_client.post("/data/test/things/t1", json={"a": [1, 2]},
                                params={"op": "enable"}, headers={"Accept": "application/vnd.x+json",
                                                                  "If-Match": '"etag-1"'})
    assert body == {"id": "t1", "got": {"a": [1, 2]}}
    request = seen[0]
    assert request.query == {"op": ["enable"]}
    assert (request.headers["content-type"], request.headers["accept"],
            request.headers["if-match"]) == ("application/json", "application/vnd.x+json", '"etag-1"')


def test_empty_body_returns_none_and_full_urls_are_accepted(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    emulator.router.add("DELETE", "/data/test/things/{id}", lambda r, p: Response(204))
    assert platform_client.delete("/data/test/things/x") is None
    assert platform_client.delete(f"{emulator.url}/data/test/things/y") is None
    assert calls(emulator)[1:] == [("DELETE", "/data/test/things/x"), ("DELETE", "/data/test/things/y")]


# -- token lifecycle -------------------------------------------------------------------------
def test_token_is_fetched_once_for_many_requests(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    for _ in range(5):
        platform_client.get(CATALOG)
    assert calls(emulator) == [("POST", "/ims/token/v3")] + [("GET", CATALOG)] * 5
    assert len({r.headers["authorization"] for r in emulator.requests[1:]}) == 1


def test_token_is_refreshed_shortly_before_it_expires(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    clock = FakeClock()
    platform_client.auth.clock = clock
    first = platform_client.access_token()
    clock.now += 86399 - 300 - 1        # still inside the lifetime minus the 300 s margin
    assert platform_client.access_token() == first
    clock.now += 2
    second = platform_client.access_token()
    assert second != first and emulator.tokens.issued == 2
    platform_client.get(CATALOG)
    assert emulator.requests[-1].headers["authorization"] == f"Bearer {second.reveal()}"


def test_a_401_fetches_a_new_token_and_replays_once(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    platform_client.get(CATALOG)
    emulator.faults.expire_token(CATALOG)
    assert platform_client.get(CATALOG) == {}
    assert calls(emulator) == [("POST", "/ims/token/v3"), ("GET", CATALOG), ("GET", CATALOG),
                               ("POST", "/ims/token/v3"), ("GET", CATALOG)]
    auths = [r.headers["authorization"] for r in emulator.requests if r.path == CATALOG]
    assert auths[0] == auths[1] != auths[2]


def test_concurrent_401s_fetch_one_new_token(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    platform_client.get(CATALOG)
    emulator.tokens.expire_all()
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lambda _: platform_client.get(CATALOG), range(8))) == [{}] * 8
    assert emulator.tokens.issued == 2
    assert len(emulator.requests_to("/ims/token/v3")) == 2


def test_a_second_401_is_an_error_not_a_loop(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    emulator.faults.expire_token(CATALOG, times=2)
    with pytest.raises(PlatformError) as info:
        platform_client.get(CATALOG)
    assert (info.value.status, info.value.code) == (401, "401013")
    assert str(info.value) == f"GET {CATALOG} failed: 401 401013: Oauth token is not valid"
    assert calls(emulator) == [("POST", "/ims/token/v3"), ("GET", CATALOG),
                               ("POST", "/ims/token/v3"), ("GET", CATALOG)]


def test_wrong_client_secret_fails_without_leaking_it(emulator: Emulator) -> None:
    client = fast_client(emulator, client_secret=Secret("wrong-secret-value"))
    with pytest.raises(PlatformError) as info:
        client.get(CATALOG)
    error = info.value
    assert (error.status, error.code) == (401, "invalid_client")
    assert str(error) == (f"POST {emulator.url}/ims/token/v3 failed: 401 invalid_client: invalid "
                          "client_secret parameter (check the client id, client secret and scopes "
                          "of the credential)")
    assert calls(emulator) == [("POST", "/ims/token/v3")]   # 401 from IMS is not retried


def test_error_messages_mask_secrets_a_service_echoes(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    def leaky(request: Request, params: dict[str, str]) -> Response:
        return problem(400, "BadRequestError", f"bad auth {request.headers['authorization']} "
                       f"and secret {emulator.client_secret}")

    emulator.router.add("GET", "/data/test/leaky", leaky)
    with pytest.raises(PlatformError) as info:
        platform_client.get("/data/test/leaky")
    assert str(info.value) == "GET /data/test/leaky failed: 400 BadRequestError: bad auth Bearer *** and secret ***"
    assert calls(emulator).count(("GET", "/data/test/leaky")) == 1


# -- retries ---------------------------------------------------------------------------------
def test_429_is_retried_after_retry_after(emulator: Emulator, platform_client: PlatformClient) -> None:
    emulator.faults.throttle(CATALOG, retry_after=1)
    assert platform_client.get(CATALOG) == {}
    assert calls(emulator) == [("POST", "/ims/token/v3"), ("GET", CATALOG), ("GET", CATALOG)]


def test_a_throttled_token_request_is_retried(emulator: Emulator,
                                              platform_client: PlatformClient) -> None:
    emulator.faults.throttle("/ims/token/v3")
    assert platform_client.get(CATALOG) == {}
    assert calls(emulator) == [("POST", "/ims/token/v3")] * 2 + [("GET", CATALOG)]
    assert emulator.tokens.issued == 1


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_5xx_is_retried_for_every_method(emulator: Emulator, platform_client: PlatformClient,
                                         method: str) -> None:
    emulator.router.add(method, "/data/test/thing", lambda r, p: Response(200, {"ok": r.json}))
    emulator.faults.fail("/data/test/thing", times=2, status=503)
    assert platform_client.request(method, "/data/test/thing", json={"n": 1}) == {"ok": {"n": 1}}
    assert calls(emulator)[1:] == [(method, "/data/test/thing")] * 3
    assert [r.json for r in emulator.requests[1:]] == [{"n": 1}] * 3


def test_a_request_sent_once_is_retried_only_when_it_was_not_served(
        emulator: Emulator, platform_client: PlatformClient) -> None:
    """``once=True`` (an INSERT): a 429 is sent again, a 5xx or a timeout never is."""
    emulator.router.add("POST", "/data/test/append", lambda r, p: Response(200, {"ok": r.json}))
    emulator.faults.throttle("/data/test/append", retry_after=0)
    assert platform_client.post("/data/test/append", json={"n": 1}, once=True) == {"ok": {"n": 1}}
    assert calls(emulator)[1:] == [("POST", "/data/test/append")] * 2
    emulator.faults.fail("/data/test/append", status=503)
    with pytest.raises(PlatformError) as info:
        platform_client.post("/data/test/append", json={"n": 2}, once=True)
    assert info.value.status == 503
    assert calls(emulator)[1:] == [("POST", "/data/test/append")] * 3
    emulator.faults.slow("/data/test/append", delay=1.0)
    slow = PlatformClient(platform_client.credentials, client_hosts(emulator), retries=2,
                          backoff=0.001, timeout=0.3)
    with pytest.raises(PlatformError, match="ReadTimeout"):
        slow.post("/data/test/append", json={"n": 3}, once=True)
    assert calls(emulator).count(("POST", "/data/test/append")) == 4
    slow.close()


def test_400_is_not_retried(emulator: Emulator, platform_client: PlatformClient) -> None:
    with pytest.raises(PlatformError) as info:
        platform_client.post("/data/foundation/query/queries", json={"sql": "SELECT 1"})
    assert (info.value.status, info.value.code) == (400, "BadRequestError")
    assert str(info.value) == ("POST /data/foundation/query/queries failed: 400 BadRequestError: "
                               "dbName is required")
    assert calls(emulator)[1:] == [("POST", "/data/foundation/query/queries")]


def test_retries_give_up_with_the_last_status(emulator: Emulator, platform_client: PlatformClient) -> None:
    emulator.faults.throttle(CATALOG, times=10)
    with pytest.raises(PlatformError) as info:
        platform_client.get(CATALOG)
    assert (info.value.status, info.value.code) == (429, "TooManyRequests")
    assert calls(emulator)[1:] == [("GET", CATALOG)] * 4      # the first try and 3 retries


def test_a_slow_response_times_out_and_is_retried(emulator: Emulator) -> None:
    client = PlatformClient(fast_client(emulator).credentials, client_hosts(emulator), retries=2,
                            backoff=0.001, timeout=0.3)
    client.access_token()
    emulator.faults.slow(CATALOG, delay=1.0)
    assert client.get(CATALOG) == {}
    assert calls(emulator)[1:] == [("GET", CATALOG)] * 2


def test_unreachable_platform_is_a_platform_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    client = PlatformClient(Credentials("O@AdobeOrg", "cid", Secret("topsecret"), "openid"),
                            Hosts(ims=url, platform=url), retries=1, backoff=0.001)
    with pytest.raises(PlatformError) as info:
        client.get(CATALOG)
    assert info.value.status is None
    assert str(info.value).startswith(f"POST {url}/ims/token/v3: cannot reach IMS (")
    assert "topsecret" not in str(info.value)


def test_client_repr_names_org_and_sandbox_only(platform_client: PlatformClient,
                                                emulator: Emulator) -> None:
    platform_client.access_token()
    assert repr(platform_client) == (
        f"PlatformClient(org_id='{emulator.org_id}', client_id='{emulator.client_id}', "
        f"sandbox='{emulator.sandbox}', platform='{emulator.url}')")
