"""Pure-ASGI layers in front of the FastAPI app: the /search hot path and request metrics.

The hot path answers ``GET /search`` from pre-serialized bytes without FastAPI's per-request
machinery (the FastAPI route documents the same contract and shares the same service function).
It must stay free of awaits other than the two ``send`` calls, and must never raise: anything
unexpected becomes the 500 envelope.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from crossdock.api.errors import INTERNAL_ERROR_BODY, error_answer
from crossdock.errors import CrossdockError, InvalidInputError
from crossdock.marketplace import service as marketplace_service
from crossdock.marketplace.readmodel import SearchIndexHolder
from crossdock.observability.metrics import HTTP_LATENCY, HTTP_REQUESTS

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger(__name__)

KNOWN_ROUTES = frozenset(
    {"/search", "/health", "/metrics", "/marketplace/runs", "/openapi.json", "/docs", "/redoc"}
)
_JSON_HEADERS = [(b"content-type", b"application/json")]


def search_from_query_string(holder: SearchIndexHolder, query_string: bytes) -> tuple[int, bytes]:
    """Status and body of ``GET /search?<query_string>``, cached per raw query string."""
    cached = holder.raw_cache.get(query_string)
    if cached is not None:
        return cached
    params: dict[str, str] = {}
    try:
        for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
            if name in ("starts_at", "ends_at"):
                if name in params:
                    raise InvalidInputError(f"{name} is given more than once", code="duplicate_parameter")
                params[name] = value
        answer = (
            200,
            marketplace_service.search_answer(
                holder.index, starts_at=params.get("starts_at"), ends_at=params.get("ends_at")
            ),
        )
    except CrossdockError as exc:
        answer = error_answer(exc)
    holder.remember(query_string, answer)
    return answer


class SearchFastPath:
    """Answers ``GET``/``HEAD /search`` itself; passes everything else to ``app``."""

    def __init__(self, app: ASGIApp, holder: SearchIndexHolder) -> None:
        self.app = app
        self.holder = holder
        self._ok = HTTP_REQUESTS.labels("/search", "200")
        self._latency = HTTP_LATENCY.labels("/search")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/search" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            status, body = search_from_query_string(self.holder, scope["query_string"])
        except Exception:
            logger.exception("unhandled error in /search")
            status, body = 500, INTERNAL_ERROR_BODY
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body if scope["method"] == "GET" else b""})
        (self._ok if status == 200 else HTTP_REQUESTS.labels("/search", str(status))).inc()
        self._latency.observe(time.perf_counter() - started)


class RequestMetrics:
    """Counts requests by route template and status and times them (routes outside a fixed set: 'other')."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = scope["path"] if scope["path"] in KNOWN_ROUTES else "other"
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
            HTTP_REQUESTS.labels(route, str(status)).inc()
            HTTP_LATENCY.labels(route).observe(time.perf_counter() - started)
