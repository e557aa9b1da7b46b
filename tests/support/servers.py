"""Run an ASGI app on a real socket on 127.0.0.1 for the duration of a test.

``serve_in_thread(app)`` binds an ephemeral port, runs uvicorn in a background thread with its own
event loop, yields the base URL once the server accepts connections, and shuts it down afterwards.
Only loopback is ever bound.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

STARTUP_TIMEOUT_SECONDS = 10.0


@contextmanager
def serve_in_thread(
    app: Any, *, graceful_shutdown_seconds: float = 1.0, lifespan: str = "off"
) -> Iterator[str]:
    """Serve ``app`` on ``http://127.0.0.1:<ephemeral port>`` and yield that base URL (no trailing slash).

    ``lifespan="on"`` runs the app's start-up and shut-down (our service needs them).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        http="h11",
        ws="none",
        lifespan=lifespan,  # type: ignore[arg-type]
        log_level="critical",
        access_log=False,
        timeout_graceful_shutdown=graceful_shutdown_seconds,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the test server thread died during start-up")
            if time.monotonic() > deadline:
                raise RuntimeError("the test server did not start in time")
            time.sleep(0.005)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=graceful_shutdown_seconds + 5)
        sock.close()
