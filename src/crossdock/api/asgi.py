"""ASGI types and the request-metrics layer every answer of the service goes through.

Requests are counted and timed by route template (``/search``, later ``/events/{id}``), read from the
route the framework matched, so the labels stay a small closed set whatever paths clients send;
anything else is ``other``. Capabilities' own ASGI fast paths sit in front of this layer and count
their routes themselves.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from crossdock.observability.metrics import HTTP_LATENCY, HTTP_REQUESTS

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OTHER_ROUTE = "other"


def route_label(scope: Scope) -> str:
    """The template of the route that handled the request, or ``other``."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else OTHER_ROUTE


class RequestMetrics:
    """Counts requests by route template and status, and times them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = route_label(scope)
            HTTP_REQUESTS.labels(route, str(status)).inc()
            HTTP_LATENCY.labels(route).observe(time.perf_counter() - started)
