"""Run an ASGI app's lifespan in-process, so tests can talk to it through ``httpx.ASGITransport``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx


@contextlib.asynccontextmanager
async def running(app: Any, *, raise_app_exceptions: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    """Start ``app``'s lifespan, yield a client bound to it, then shut it down.

    ``raise_app_exceptions=False`` behaves like a real server: an exception re-raised by the app
    after it sent its 500 answer is not thrown into the test.
    """
    to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
    task = asyncio.create_task(app(scope, to_app.get, from_app.put))
    await to_app.put({"type": "lifespan.startup"})
    started = await from_app.get()
    if started["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"app failed to start: {started}")
    try:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
        async with httpx.AsyncClient(transport=transport, base_url="http://crossdock.test") as client:
            yield client
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        await from_app.get()
        await task
