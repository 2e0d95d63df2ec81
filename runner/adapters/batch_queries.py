"""Data Distiller batch queries: submit one, wait for it, cancel it, adopt a twin.

A statement that materializes (CTAS, INSERT, DROP, views) is submitted with
``POST /data/foundation/query/queries`` and polled with ``GET /queries/{id}`` with growing
pauses until it leaves ``SUBMITTED``/``IN_PROGRESS``. ``FAILED`` becomes a RunError naming every
``errors[]`` message. On timeout, on Ctrl-C and when the adapter is closed mid-query the query
is cancelled (``PATCH {"op": "cancel"}``). A CTAS whose POST the client sent twice (the first
answer was lost) fails the second time because the first created the table; the first copy is
then found in the query listing and adopted. An ``INSERT INTO`` is never sent twice (a second
copy would append the rows again): its POST is sent with ``once=True``, and when its answer is
lost (a 5xx, a broken connection) the query it may have started is looked for in the listing
and followed; if none is listed, the model fails without resending it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from runner.errors import PlatformError, RunError

if TYPE_CHECKING:
    from runner.platform.client import PlatformClient

QUERIES = "/data/foundation/query/queries"
RUNNING_STATES = frozenset({"SUBMITTED", "IN_PROGRESS"})
MAX_POLL_INTERVAL = 30.0
LISTING_SLACK = 60.0  # seconds of clock difference allowed between this machine and Platform


class BatchQueries:
    """The batch queries one adapter submits, and the ids of those still running.

    Args:
        platform: returns the target's Platform client (created on first use).
        poll_interval: seconds between the first polls (the pause grows to 30 s).
        query_timeout: seconds before a running query is cancelled.
    """

    def __init__(self, platform: Callable[[], PlatformClient], *, poll_interval: float,
                 query_timeout: float) -> None:
        self._platform = platform
        self.poll_interval = poll_interval
        self.query_timeout = query_timeout
        self._lock = threading.Lock()
        self._inflight: dict[str, str] = {}  # id -> the name it was submitted with
        self._answered: set[str] = set()  # ids of the queries this adapter's POSTs returned

    def running(self) -> list[str]:
        """Ids of the queries being waited for, sorted."""
        with self._lock:
            return sorted(self._inflight)

    def running_by_name(self) -> dict[str, str]:
        """The ids of the queries being waited for, by the ``name`` each was submitted with."""
        with self._lock:
            return {name: query_id for query_id, name in self._inflight.items()}

    def submit(self, body: dict[str, Any], *, where: str, creates_table: bool = False,
               once: bool = False) -> dict[str, Any]:
        """POST a batch query and wait for it; return the final query object.

        Args:
            body: the request (``dbName``, ``sql``, ``name``, ``description``).
            where: the start of an error message (the target, and the model when known).
            creates_table: a CTAS, whose failure may be a twin's (see the module docstring).
            once: a statement that must run at most once (an INSERT; the module docstring).

        Raises:
            RunError: the query failed (every ``errors[]`` message), was cancelled, or timed out.
        """
        posted, posted_at = time.monotonic(), datetime.now(timezone.utc)
        if once:
            query = self._post_once(body, posted_at, where)
        else:
            query = self._platform().post(QUERIES, json=body)
        post_seconds = time.monotonic() - posted
        with self._lock:
            self._answered.add(query["id"])
        query = self._follow(query, where, body.get("name", ""))
        if query.get("state") == "FAILED" and creates_table:
            query = self._twin(query, body, post_seconds, where) or query
        state = query.get("state")
        if state == "FAILED":
            errors = "; ".join(str(e.get("message", e)) for e in query.get("errors") or [])
            raise RunError(f"{where}: query {query['id']} failed: {errors or 'no error message'}")
        if state != "SUCCESS":
            raise RunError(f"{where}: query {query['id']} ended in state {state}")
        return query

    def cancel_all(self) -> None:
        """Cancel every query still being waited for (Ctrl-C, or the adapter is closing)."""
        for query_id in self.running():
            self.cancel(query_id)

    def cancel(self, query_id: str) -> None:
        """Ask Query Service to cancel a query; best effort (the query may have just ended)."""
        try:
            self._platform().patch(f"{QUERIES}/{query_id}", json={"op": "cancel"})
        except PlatformError:
            pass

    def _follow(self, query: dict[str, Any], where: str, name: str) -> dict[str, Any]:
        """Wait for a submitted query, cancelling it on Ctrl-C; return its final object."""
        query_id = query["id"]
        with self._lock:
            self._inflight[query_id] = name
        try:
            return self._wait(query, where)
        except KeyboardInterrupt:
            self.cancel(query_id)
            raise
        finally:
            with self._lock:
                self._inflight.pop(query_id, None)

    def _post_once(self, body: dict[str, Any], posted_at: datetime, where: str
                   ) -> dict[str, Any]:
        """POST a query that must not run twice; when the answer is lost, the query it started
        (same name and SQL, created since, never answered to this adapter) from the listing."""
        try:
            return self._platform().post(QUERIES, json=body, once=True)
        except PlatformError as err:
            if err.status is not None and err.status < 500:
                raise  # refused: it did not run
            lost = err
        since = posted_at - timedelta(seconds=LISTING_SLACK)
        listing = self._platform().get(QUERIES, params={"orderby": "-created", "limit": 50}) or {}
        for other in listing.get("queries", []):
            request = other.get("request") or {}
            try:
                created = datetime.fromisoformat(other["created"])
            except (KeyError, TypeError, ValueError):
                continue
            with self._lock:
                answered = other.get("id") in self._answered
            if (not answered and request.get("sql") == body["sql"]
                    and request.get("name") == body["name"] and created >= since):
                return other
        raise RunError(f"{where}: the submission of a statement that must run once got no "
                       f"answer ({lost}) and no such query is listed; it was not sent again, so "
                       "nothing ran twice: build again") from None

    def _twin(self, failed: dict[str, Any], body: dict[str, Any], window: float,
              where: str) -> dict[str, Any] | None:
        """The successful first copy of a CTAS whose POST was sent twice, or None.

        A POST that got a 5xx or timed out after Query Service had accepted it is retried by
        the client; the second CTAS then fails because the first created the table. The first
        has the same name and SQL, was created at most the POST's duration earlier, and its id
        was never answered to this adapter (a CTAS it ran itself before is not a twin).
        """
        listing = self._platform().get(QUERIES, params={"orderby": "-created", "limit": 50}) or {}
        try:
            failed_at = datetime.fromisoformat(failed["created"])
        except (KeyError, TypeError, ValueError):
            return None
        for other in listing.get("queries", []):
            request = other.get("request") or {}
            try:
                gap = (failed_at - datetime.fromisoformat(other["created"])).total_seconds()
            except (KeyError, TypeError, ValueError):
                continue
            with self._lock:
                answered = other.get("id") in self._answered
            if (not answered and request.get("sql") == body["sql"]
                    and request.get("name") == body["name"] and 0 <= gap <= window + 0.01):
                twin = self._follow(other, where, body["name"])
                return twin if twin.get("state") == "SUCCESS" else None
        return None

    def _wait(self, query: dict[str, Any], where: str) -> dict[str, Any]:
        """Poll until the query leaves SUBMITTED/IN_PROGRESS; cancel it past query_timeout."""
        deadline = time.monotonic() + self.query_timeout
        delay = self.poll_interval
        while query.get("state") in RUNNING_STATES:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.cancel(query["id"])
                raise RunError(f"{where}: query {query['id']} still {query.get('state')} after "
                               f"{self.query_timeout:g} s; cancelled it (raise query_timeout)")
            time.sleep(min(delay, remaining))
            delay = min(delay * 1.5, max(MAX_POLL_INTERVAL, self.poll_interval))
            query = self._platform().get(f"{QUERIES}/{query['id']}")
        return query
