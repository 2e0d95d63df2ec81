"""The emulator's simulated latency: per round trip (HTTP and the PostgreSQL endpoint) and per
table a batch query writes. Only lower bounds are checked: a delay configured is a delay seen."""

from __future__ import annotations

import time
import warnings

import psycopg2
import pytest

from aep_emulator import Emulator
from emulator_fixtures import PG_DSN, fast_client, require_postgres, wait_for_query

pytestmark = pytest.mark.postgres

QUERIES = "/data/foundation/query/queries"
LATENCY = 0.2


def _emulator(**settings: object) -> Emulator:
    require_postgres()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return Emulator(engine_dsn=PG_DSN, **settings)  # type: ignore[arg-type]


def test_every_round_trip_takes_the_latency() -> None:
    with _emulator(latency=LATENCY) as emu:
        client = fast_client(emu)
        try:
            began = time.monotonic()
            params = client.get("/data/foundation/query/connection_parameters")
            assert time.monotonic() - began >= LATENCY  # the token request and this one
            began = time.monotonic()
            client.get("/data/foundation/query/connection_parameters")
            assert time.monotonic() - began >= LATENCY
            emu.latency = 2 * LATENCY  # a session that connects now takes the new value
            conn = psycopg2.connect(dbname=params["dbName"], host=params["host"],
                                    port=params["port"], user=params["username"],
                                    password=params["token"], sslmode="disable")
            try:
                with conn.cursor() as cur:
                    began = time.monotonic()
                    cur.execute("SELECT 1")
                    assert cur.fetchone() == (1,)
                    assert time.monotonic() - began >= 2 * LATENCY
            finally:
                conn.close()
        finally:
            client.close()


def test_a_batch_query_runs_as_long_as_its_table_says() -> None:
    asked: list[str] = []
    patterns = {"slow_*": 0.5, "*": 0.0}
    with _emulator(table_latency=patterns) as emu:
        assert (emu.table_seconds("SLOW_one"), emu.table_seconds("quick")) == (0.5, 0.0)
        client = fast_client(emu)
        try:
            submitted = client.post(QUERIES, json={"dbName": f"{emu.sandbox}:all",
                                                   "sql": "CREATE TABLE slow_t AS SELECT 1 AS a"})
            query = wait_for_query(client, submitted["id"])
            assert query["state"] == "SUCCESS"
            assert query["elapsedTime"] >= 500
        finally:
            client.close()

    def seconds(table: str) -> float:
        asked.append(table)
        return 0.3

    with _emulator(table_latency=seconds) as emu:
        client = fast_client(emu)
        try:
            for sql in ("CREATE TABLE t1 AS SELECT 1 AS a", "INSERT INTO t1 SELECT 2",
                        "SELECT 1"):
                submitted = client.post(QUERIES, json={"dbName": f"{emu.sandbox}:all",
                                                       "sql": sql})
                query = wait_for_query(client, submitted["id"])
                assert query["state"] == "SUCCESS", query
                if sql != "SELECT 1":
                    assert query["elapsedTime"] >= 300
        finally:
            client.close()
    assert asked == ["t1", "t1"]  # a query that writes nothing takes no simulated time
