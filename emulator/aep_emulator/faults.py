"""Fault injection for the emulator: make chosen calls fail the way Platform fails.

A :class:`FaultPlan` holds faults, each armed for requests whose path matches a glob pattern
(``fnmatch``, e.g. ``/data/foundation/query/queries*``) and optionally one method, for a number
of matching requests. A fault fires before the gateway checks, like a proxy in front of the
service would. Kinds:

- ``status``: answer 429 (with ``Retry-After``) or a 5xx instead of calling the service;
- ``lose_answer``: serve the request, then answer a 5xx instead of the service's answer (the
  service acted, but the client cannot know: a gateway timeout after the work was accepted);
- ``delay``: sleep, then serve the request normally (a slow response; a client timeout fires);
- ``expire_token``: expire every issued access token, then serve (the call gets 401013);
- ``terminate``: terminate the SQL engine's backend connections, then serve.

>>> plan = FaultPlan()
>>> _ = plan.throttle("/data/*", times=1, retry_after=2)
>>> [f.status for f in plan.take("GET", "/data/x")], plan.take("GET", "/data/x")
([429], [])
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from fnmatch import fnmatchcase


@dataclass
class Fault:
    """One armed fault; ``times`` counts down with each request it fires on."""

    kind: str
    pattern: str = "*"
    method: str | None = None
    times: int = 1
    status: int = 0
    retry_after: int = 1
    delay: float = 0.0
    fired: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.times > 0 and (self.method is None or self.method == method)
                and fnmatchcase(path, self.pattern))


class FaultPlan:
    """The faults armed on an emulator (thread-safe)."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, kind: str, pattern: str = "*", *, method: str | None = None, times: int = 1,
            status: int = 0, retry_after: int = 1, delay: float = 0.0) -> Fault:
        """Arm a fault of ``kind`` for the next ``times`` requests matching ``pattern``."""
        if kind not in ("status", "lose_answer", "delay", "expire_token", "terminate"):
            raise ValueError(f"unknown fault kind {kind!r}")
        fault = Fault(kind, pattern, method.upper() if method else None, times, status,
                      retry_after, delay)
        with self._lock:
            self.faults.append(fault)
        return fault

    def throttle(self, pattern: str = "*", *, times: int = 1, retry_after: int = 1,
                 method: str | None = None) -> Fault:
        """Answer 429 with ``Retry-After: retry_after``."""
        return self.add("status", pattern, method=method, times=times, status=429,
                        retry_after=retry_after)

    def fail(self, pattern: str = "*", *, times: int = 1, status: int = 500,
             method: str | None = None) -> Fault:
        """Answer ``status`` (a 5xx) with an RFC 7807 body."""
        return self.add("status", pattern, method=method, times=times, status=status)

    def lose_answer(self, pattern: str = "*", *, times: int = 1, status: int = 504,
                    method: str | None = None) -> Fault:
        """Serve the request, then answer ``status`` (a 5xx) in place of the service's answer."""
        return self.add("lose_answer", pattern, method=method, times=times, status=status)

    def slow(self, pattern: str = "*", *, delay: float, times: int = 1,
             method: str | None = None) -> Fault:
        """Wait ``delay`` seconds before serving."""
        return self.add("delay", pattern, method=method, times=times, delay=delay)

    def expire_token(self, pattern: str = "*", *, times: int = 1,
                     method: str | None = None) -> Fault:
        """Expire the issued tokens just before serving (the request then gets 401013)."""
        return self.add("expire_token", pattern, method=method, times=times)

    def terminate_connections(self, pattern: str = "*", *, times: int = 1,
                              method: str | None = None) -> Fault:
        """Terminate the SQL engine's backend connections before serving."""
        return self.add("terminate", pattern, method=method, times=times)

    def take(self, method: str, path: str) -> list[Fault]:
        """The faults that fire on this request (each one's count goes down by one)."""
        fired = []
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    fault.fired += 1
                    fired.append(fault)
        return fired

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self.faults.clear()
