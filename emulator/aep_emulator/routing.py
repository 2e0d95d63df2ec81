"""Requests, responses and the path router every emulated service registers on.

A handler takes a :class:`Request` and the ``{name}`` parameters of its path pattern and
answers a :class:`Response`; :func:`problem` and :func:`gateway_error` build the two error
bodies of contract §9.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass
class Request:
    """One request as the emulator received it (header names lowercased)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    json: Any

    def param(self, name: str, default: str | None = None) -> str | None:
        """The first value of query parameter ``name``."""
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Response:
    """What a handler answers: a status, a JSON-able body (or bytes) and extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request, dict[str, str]], Response]


def problem(status: int, title: str, detail: str) -> Response:
    """An RFC 7807 service error body (contract §9)."""
    return Response(status, {"type": f"https://ns.adobe.com/aep/errors/{title}", "status": status,
                             "title": title, "detail": detail})


def gateway_error(status: int, code: str, message: str) -> Response:
    """A gateway error body ``{"error_code", "message"}`` (contract §9)."""
    return Response(status, {"error_code": code, "message": message})


class Router:
    """Maps ``METHOD /path/{param}`` patterns to handlers."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        """Route ``method`` requests whose path matches ``pattern`` to ``handler``.

        Args:
            method: the HTTP method.
            pattern: like ``/data/foundation/flowservice/flows/{id}``; a ``{name}`` matches one
                path segment and is passed to the handler as ``params[name]``; a ``{name*}``
                matches the rest of the path, slashes included.
            handler: called with the request and the path parameters.
        """
        regex = re.escape(pattern.rstrip("/") or "/")
        regex = re.sub(r"\\\{(\w+)\\\*\\\}", r"(?P<\1>.+)", regex)
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", regex)
        self._routes.append((method.upper(), re.compile(f"^{regex}/?$"), handler))

    def dispatch(self, request: Request) -> Response:
        """Call the handler for ``request``; 404 or 405 RFC 7807 bodies when none fits."""
        allowed = False
        for method, regex, handler in self._routes:
            match = regex.match(request.path)
            if match:
                allowed = True
                if method == request.method:
                    return handler(request, match.groupdict())
        if allowed:
            return problem(405, "MethodNotAllowed",
                           f"{request.method} is not allowed on {request.path}")
        return problem(404, "NotFound", f"No resource at {request.path}")
