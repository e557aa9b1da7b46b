"""A tiny raw-ASGI upstream that injects the faults the resilient client must survive.

Routes (``?key=`` separates counters between tests sharing a server):
  /flaky?fail=N        N answers 503, then 200 with JSON
  /throttled           one 429 with ``Retry-After: 1``, then 200
  /hang                never answers (returns when the client disconnects)
  /trickle             sends one byte every 50 ms of a body that never completes
  /cut                 first answer declares 1000 bytes, sends 100, drops the connection; then the body
  /ok                  200 with ``ok``
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

FULL_BODY = bytes(range(256)) * 40


class FaultyUpstream:
    """The ASGI app; ``hits`` counts requests per path and key."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        query = {name: values[0] for name, values in parse_qs(scope["query_string"].decode()).items()}
        path = scope["path"]
        self.hits[f"{path}:{query.get('key', '')}"] += 1
        seen = self.hits[f"{path}:{query.get('key', '')}"]
        if path == "/flaky":
            if seen <= int(query.get("fail", "0")):
                await _answer(send, 503, b'{"message": "warming up"}')
            else:
                await _answer(send, 200, b'{"attempt": %d}' % seen)
        elif path == "/throttled":
            if seen == 1:
                await _answer(send, 429, b'{"message": "slow down"}', [(b"retry-after", b"1")])
            else:
                await _answer(send, 200, b"{}")
        elif path == "/hang":
            await _wait_for_disconnect(receive)
        elif path == "/trickle":
            await _trickle(receive, send)
        elif path == "/cut":
            if seen == 1:
                await _start(send, 200, [(b"content-length", b"1000")])
                await send({"type": "http.response.body", "body": FULL_BODY[:100], "more_body": True})
                # Returning mid-body makes the server drop the connection: the client sees a short body.
                return
            await _answer(send, 200, FULL_BODY, [(b"content-type", b"application/octet-stream")])
        else:
            await _answer(send, 200, b"ok")


async def _start(send: Send, status: int, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def _answer(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    all_headers = [(b"content-length", str(len(body)).encode()), *(headers or [])]
    if not any(name == b"content-type" for name, _ in all_headers):
        all_headers.append((b"content-type", b"application/json"))
    await _start(send, status, all_headers)
    await send({"type": "http.response.body", "body": body})


async def _wait_for_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _trickle(receive: Receive, send: Send) -> None:
    await _start(send, 200, [(b"content-length", b"100000")])
    disconnected = asyncio.Event()

    async def watch() -> None:
        await _wait_for_disconnect(receive)
        disconnected.set()

    watcher = asyncio.create_task(watch())
    try:
        for _ in range(400):
            if disconnected.is_set():
                return
            await send({"type": "http.response.body", "body": b"x", "more_body": True})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(disconnected.wait(), 0.05)
    finally:
        watcher.cancel()
