"""Scripted ``httpx.MockTransport`` handlers and broken bodies for tests of HTTP callers.

Use with ``httpx.MockTransport(Script([503, 200]))``: no socket is opened and nothing sleeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable

import httpx

Step = int | httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class Script:
    """A MockTransport handler answering each request with the next step (the last one repeats).

    A step is a status code (answered with a small JSON body), an ``httpx.Response`` (copied, so it
    can repeat; a streamed one is returned as is, once), an exception to raise, or a callable.
    """

    def __init__(self, steps: Iterable[Step]) -> None:
        self.steps = list(steps)
        self.requests: list[httpx.Request] = []

    @property
    def calls(self) -> int:
        return len(self.requests)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        step = self.steps[min(len(self.requests), len(self.steps)) - 1]
        if isinstance(step, Exception):
            raise step
        if isinstance(step, int):
            return httpx.Response(step, json={"ok": step < 400})
        if isinstance(step, httpx.Response):
            return _fresh_copy(step)
        return step(request)


class BrokenBody(httpx.AsyncByteStream):
    """A response body that sends ``head`` and then fails like a connection cut mid-body."""

    def __init__(self, head: bytes) -> None:
        self.head = head

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.head
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")

    async def aclose(self) -> None:
        return None


def _fresh_copy(response: httpx.Response) -> httpx.Response:
    try:
        content = response.content
    except httpx.ResponseNotRead:
        return response
    return httpx.Response(response.status_code, headers=response.headers, content=content)
