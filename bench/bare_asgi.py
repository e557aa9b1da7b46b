"""The fastest possible ASGI answer: a constant body, no routing, no framework (a reference point).

Run it under the same server as Crossdock to see the server's own ceiling for a body size:

    BARE_BODY_BYTES=73140 .venv/bin/granian --interface asgi --port 8766 --working-dir bench bare_asgi:app
    wrk -t2 -c64 -d10s --latency http://127.0.0.1:8766/search
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

BODY = b"x" * int(os.environ.get("BARE_BODY_BYTES", "1234"))
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
