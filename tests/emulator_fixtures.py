"""Pytest fixtures for tests that talk to the Adobe emulator (import them in conftest.py).

``emulator`` starts a fresh :class:`~aep_emulator.Emulator` (its own sandbox database on the
PostgreSQL at 127.0.0.1:5432) per test; ``platform_client`` is a
:class:`~runner.platform.client.PlatformClient` for it with millisecond backoff, so retry tests do
not sleep. Without PostgreSQL the tests are skipped locally and fail when ``CI=true``.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aep_emulator import Emulator
from runner.platform.client import Credentials, Hosts, PlatformClient
from runner.platform.secrets import Secret

PG_DSN = os.environ.get("RUNNER_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def require_postgres(dsn: str = PG_DSN) -> None:
    """Skip the test if PostgreSQL is down, or fail when running in CI (``CI=true``)."""
    import psycopg2

    try:
        psycopg2.connect(dsn, connect_timeout=3).close()
    except psycopg2.Error as exc:
        message = f"PostgreSQL at {dsn} is not reachable: {str(exc).strip()}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


def emulator_credentials(emu: Emulator, **overrides: Any) -> Credentials:
    """The emulator's test credential (fields can be overridden to test rejections)."""
    fields: dict[str, Any] = {"org_id": emu.org_id, "client_id": emu.client_id,
                              "client_secret": Secret(emu.client_secret),
                              "scopes": "openid,AdobeID,read_organizations",
                              "sandbox": emu.sandbox}
    fields.update(overrides)
    return Credentials(**fields)


def client_hosts(emu: Emulator) -> Hosts:
    """The client's hosts record pointing at ``emu`` (the emulator has its own record type)."""
    return Hosts(ims=emu.hosts.ims, platform=emu.hosts.platform)


def fast_client(emu: Emulator, **overrides: Any) -> PlatformClient:
    """A PlatformClient for ``emu`` whose retries wait milliseconds, not seconds."""
    return PlatformClient(emulator_credentials(emu, **overrides), client_hosts(emu), retries=3,
                          backoff=0.001, timeout=10.0, retry_after_max=0.05)


def distiller_target(emu: Emulator, root: Path, **extra: Any) -> dict[str, Any]:
    """A ``data_distiller`` target block for ``emu``, with its credential written to
    ``root/aep.ini`` (the ``credentials_file``)."""
    (root / "aep.ini").write_text(
        f"[Credential]\nims_org_id = {emu.org_id}\nsandbox_name = {emu.sandbox}\n"
        f"client_id = {emu.client_id}\nclient_secret = {emu.client_secret}\n"
        "scopes = openid, AdobeID, read_organizations\ntech_acct_id = t@techacct.adobe.com\n")
    return {"type": "data_distiller", "credentials_file": "aep.ini", "ims_host": emu.url,
            "platform_host": emu.url, "sslmode": "disable", "poll_interval": 0.02, **extra}


def engine_rows(emu: Emulator, sql: str) -> list[tuple]:
    """Rows of ``sql`` run directly on the emulator's SQL engine (the sandbox database)."""
    return fetch_rows(emu.engine.connect(), sql)


def fetch_rows(conn: Any, sql: str) -> list[tuple]:
    """Rows of ``sql`` on ``conn``, a DB-API connection this closes."""
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.close()


def wait_for_query(client: PlatformClient, query_id: str, timeout: float = 30.0) -> dict:
    """Poll ``GET /queries/{id}`` until the query leaves SUBMITTED/IN_PROGRESS."""
    deadline = time.monotonic() + timeout
    while True:
        query = client.get(f"/data/foundation/query/queries/{query_id}")
        if query["state"] not in ("SUBMITTED", "IN_PROGRESS") or time.monotonic() > deadline:
            return query
        time.sleep(0.02)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A running emulator with its own sandbox database, stopped after the test."""
    require_postgres()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a service module not written yet
        emu = Emulator(engine_dsn=PG_DSN)
    with emu:
        yield emu


@pytest.fixture
def platform_client(emulator: Emulator) -> Iterator[PlatformClient]:
    """A fast-retrying PlatformClient authenticated against ``emulator``."""
    client = fast_client(emulator)
    yield client
    client.close()
