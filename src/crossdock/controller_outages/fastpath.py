"""The hot paths: a pure-ASGI layer answering ``GET /events`` and ``POST /outages`` before FastAPI.

``GET /events`` is answered from the read model when it names one ``controller_id`` with every
parameter valid and given once. ``POST /outages`` is answered when the body is a record or a
non-empty array within the limits and at least one record is usable; it calls the same service
function as the route and serializes the same answer. With API keys, the key must hold the route's
scope. Anything else — an error to report, a listing across controllers, a missing or refused key —
goes on to FastAPI (the body read so far is handed on), whose routes give the answer and document
the contract in ``/openapi.json``. It never raises: an unexpected failure also goes on to the route.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

import orjson

from crossdock.api.asgi import ASGIApp, Message, Receive, Scope, Send
from crossdock.controller_outages import service
from crossdock.errors import CrossdockError
from crossdock.observability.metrics import HTTP_LATENCY, HTTP_REQUESTS

if TYPE_CHECKING:
    from crossdock.controller_outages.runtime import ControllerOutagesRuntime

logger = logging.getLogger(__name__)

ROUTE = "/events"
POST_ROUTE = "/outages"
READ = f"{service.CAPABILITY}:read"
WRITE = f"{service.CAPABILITY}:write"
_PARAMETERS = frozenset(
    ("controller_id", "outage_type", "start_time", "end_time", "status", "limit", "cursor")
)
_JSON_HEADERS = [(b"content-type", b"application/json")]


def parse_query(query_string: bytes) -> service.EventQuery | None:
    """The query when the fast path can answer it the route's way, else None (the route answers)."""
    given: dict[str, str] = {}
    # As Starlette reads a query string.
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if name in _PARAMETERS:
            if name in given or not value:
                return None
            given[name] = value
    controller = given.get("controller_id")
    if controller is None or len(controller) > 64 or len(given.get("cursor", "")) > 200:
        return None
    limit = given.get("limit", "100")
    if not (limit.isascii() and limit.isdigit() and len(limit) <= 4):
        return None
    return service.EventQuery(
        controller_id=controller,
        outage_type=given.get("outage_type"),
        start_time=given.get("start_time"),
        end_time=given.get("end_time"),
        status=given.get("status"),
        limit=int(limit),
        cursor=given.get("cursor"),
    )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


class EventsFastPath:
    """Answers ``GET /events?controller_id=…`` from the read model; passes everything else on."""

    def __init__(self, app: ASGIApp, runtime: ControllerOutagesRuntime) -> None:
        self.app = app
        self.runtime = runtime
        self._ok = HTTP_REQUESTS.labels(ROUTE, "200")
        self._latency = HTTP_LATENCY.labels(ROUTE)
        self._posted = HTTP_REQUESTS.labels(POST_ROUTE, "200")
        self._post_latency = HTTP_LATENCY.labels(POST_ROUTE)

    def _allowed(self, scope: Scope, needed: str = READ) -> bool:
        keys = self.runtime.keys
        if not keys.enabled:
            return True
        authorization = _header(scope, b"authorization")
        if authorization is not None:
            scheme, _, presented = authorization.strip().partition(" ")
            if scheme.lower() != "bearer":
                return False
            key = presented.strip()
        else:
            key = (_header(scope, b"x-api-key") or "").strip()
        principal = keys.identify(key) if key else None
        return principal is not None and principal.may(needed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == POST_ROUTE and scope["method"] == "POST":
            await self._post(scope, receive, send)
            return
        if (
            scope["type"] != "http"
            or scope["path"] != ROUTE
            or scope["method"] != "GET"
            or not self.runtime.model.loaded
        ):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        body: bytes | None = None
        try:
            query = parse_query(scope["query_string"])
            if query is not None and self._allowed(scope):
                body = await self.runtime.answer(query)
        except CrossdockError:
            body = None  # a bad filter or an unreachable database: the route says so, in its envelope
        except Exception:
            logger.exception("unexpected error in the /events fast path; the route answers")
            body = None
        if body is None:
            await self.app(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
        self._ok.inc()
        self._latency.observe(time.perf_counter() - started)

    async def _post(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        received: list[Message] = []
        body: bytes | None = None
        try:
            if self._allowed(scope, WRITE):
                body = await self._ingest(scope, receive, received)
        except CrossdockError:
            body = None  # nothing was stored (a failed transaction is rolled back): the route says why
        except Exception:
            logger.exception("unexpected error in the /outages fast path; the route answers")
            body = None
        if body is None:
            await self.app(scope, _replaying(received, receive), send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})
        self._posted.inc()
        self._post_latency.observe(time.perf_counter() - started)

    async def _ingest(self, scope: Scope, receive: Receive, received: list[Message]) -> bytes | None:
        """Read the body (kept in ``received``), store it; the answer, or None for the route to answer."""
        group = self.runtime.group
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > group.max_body_bytes):
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > group.max_body_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        try:
            parsed = orjson.loads(b"".join(chunks))
        except orjson.JSONDecodeError:
            return None
        records = [parsed] if isinstance(parsed, dict) else parsed
        if not isinstance(records, list) or not records or len(records) > group.max_batch_records:
            return None
        answer = await self.runtime.ingest(records)
        if answer is None:
            return None
        return orjson.dumps(answer.model_dump())


def _replaying(received: list[Message], receive: Receive) -> Receive:
    """``receive`` giving back the messages already read first."""
    pending = list(received)

    async def again() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return again
