"""ResilientClient against a real server on 127.0.0.1 that injects faults (uvicorn in a thread)."""

from __future__ import annotations

import hashlib
import io
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from crossdock.errors import UpstreamUnavailableError
from crossdock.httpclient import (
    BreakerPolicy,
    BreakerRegistry,
    RateLimit,
    ResilientClient,
    RetryPolicy,
    Timeouts,
    attempts_of,
    instant_waits,
)
from crossdock.httpclient.testing import FakeClock, RecordingHooks
from tests.integration.httpclient.faulty_upstream import FULL_BODY

MakeClient = Callable[..., ResilientClient]


@pytest.fixture
def key() -> str:
    return uuid.uuid4().hex


@pytest.fixture
async def make_client(upstream_url: str) -> AsyncIterator[MakeClient]:
    clients: list[ResilientClient] = []

    def build(**overrides: Any) -> ResilientClient:
        options: dict[str, Any] = {
            "base_url": upstream_url,
            "timeouts": Timeouts(connect=1, read=1, total=2),
            "retry": RetryPolicy(max_attempts=4, max_total_seconds=10),
            "breaker_policy": BreakerPolicy(failure_threshold=50),
            "registry": BreakerRegistry(),
        }
        options.update(overrides)
        client = ResilientClient("faulty", **options)
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.aclose()


async def test_503s_then_200_are_retried_over_the_wire(make_client: MakeClient, key: str) -> None:
    """Two real 503 answers are retried (waits instant via set_testing) and the 200 comes back."""
    response = await make_client().request("GET", "/flaky", params={"fail": 2, "key": key})
    assert response.json() == {"attempt": 3}
    assert attempts_of(response) == 3


async def test_429_retry_after_is_honoured(make_client: MakeClient, key: str) -> None:
    """A real 429 with Retry-After: 1 makes the client wait 1 s (on a FakeClock, so instantly)."""
    clock = FakeClock()
    hooks = RecordingHooks()
    with instant_waits(False):
        response = await make_client(clock=clock, hooks=hooks).request(
            "GET", "/throttled", params={"key": key}
        )
    assert response.status_code == 200
    assert clock.sleeps == [1.0]
    assert hooks.retries[0].reason == "HTTP 429"


async def test_a_server_that_never_answers_hits_the_read_timeout(make_client: MakeClient, key: str) -> None:
    """A handler that never answers fails each attempt after the 0.2 s read timeout, then gives up."""
    client = make_client(timeouts=Timeouts(connect=1, read=0.2, total=5), retry=RetryPolicy(max_attempts=2))
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailableError) as caught:
        await client.request("GET", "/hang", params={"key": key})
    elapsed = time.monotonic() - started
    assert "timeout (ReadTimeout" in str(caught.value)
    assert caught.value.attempts == 2
    assert 0.35 < elapsed < 2


async def test_total_timeout_covers_a_slow_body(make_client: MakeClient, key: str) -> None:
    """A body trickling in faster than the read timeout is still cut by the total per-attempt timeout."""
    client = make_client(timeouts=Timeouts(connect=1, read=1, total=0.3), retry=RetryPolicy(max_attempts=1))
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailableError) as caught:
        await client.request("GET", "/trickle", params={"key": key})
    assert time.monotonic() - started < 1.5
    assert "total attempt time exceeded" in str(caught.value)


async def test_download_retries_a_body_cut_short(make_client: MakeClient, key: str) -> None:
    """A body shorter than its Content-Length (connection dropped) is retried and the file restarted."""
    dest = io.BytesIO()
    result = await make_client().download("GET", "/cut", params={"key": key}, dest=dest)
    assert dest.getvalue() == FULL_BODY
    assert result.attempts == 2
    assert result.bytes_written == len(FULL_BODY)
    assert result.sha256_hex == hashlib.sha256(FULL_BODY).hexdigest()


async def test_connection_refused_is_retried_then_reported(make_client: MakeClient) -> None:
    """Nobody listening on the port: each attempt is a connection error, and the error says so."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    client = make_client(base_url=f"http://127.0.0.1:{free_port}", retry=RetryPolicy(max_attempts=3))
    with pytest.raises(UpstreamUnavailableError) as caught:
        await client.request("GET", "/ok", params={"api_key": "never-shown-1234"})
    assert caught.value.attempts == 3
    assert "connection error (ConnectError" in str(caught.value)
    assert "never-shown-1234" not in str(caught.value)


async def test_rate_limiter_really_spaces_requests(make_client: MakeClient) -> None:
    """At 20 requests/s with burst 1, five requests take at least ~0.2 s of real time."""
    client = make_client(rate_limit=RateLimit(rate=20, burst=1))
    with instant_waits(False):
        started = time.monotonic()
        for _ in range(5):
            await client.request("GET", "/ok")
        elapsed = time.monotonic() - started
    assert elapsed >= 0.18
    assert elapsed < 2
