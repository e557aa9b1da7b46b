"""The ``/search`` hot path: a pure-ASGI layer answering ``GET``/``HEAD /search`` before FastAPI.

It answers from pre-serialized bytes without FastAPI's per-request machinery (the FastAPI route in
:mod:`crossdock.marketplace.router` documents the same contract and shares :func:`answer_query`). It
must stay free of awaits other than the two ``send`` calls, and must never raise: anything unexpected
becomes the 500 envelope.
"""

from __future__ import annotations

import logging
import time

from crossdock.api.asgi import ASGIApp, Receive, Scope, Send
from crossdock.api.errors import INTERNAL_ERROR_BODY
from crossdock.marketplace.readmodel import SearchIndexHolder
from crossdock.marketplace.search import answer_query
from crossdock.observability.metrics import HTTP_LATENCY, HTTP_REQUESTS

logger = logging.getLogger(__name__)

ROUTE = "/search"
_JSON_HEADERS = [(b"content-type", b"application/json")]


class SearchFastPath:
    """Answers ``GET``/``HEAD /search`` itself (and counts and times it); passes everything else on."""

    def __init__(self, app: ASGIApp, holder: SearchIndexHolder) -> None:
        self.app = app
        self.holder = holder
        self._ok = HTTP_REQUESTS.labels(ROUTE, "200")
        self._latency = HTTP_LATENCY.labels(ROUTE)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != ROUTE or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            status, body = answer_query(self.holder, scope["query_string"])
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
        (self._ok if status == 200 else HTTP_REQUESTS.labels(ROUTE, str(status))).inc()
        self._latency.observe(time.perf_counter() - started)
