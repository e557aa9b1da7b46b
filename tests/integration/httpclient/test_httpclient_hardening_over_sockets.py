"""Hardening of ResilientClient against a real server on 127.0.0.1: a key the HTTP library refuses
(h11's own check), and bodies past the response limit."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, MutableMapping
from typing import Any

import pytest
from prometheus_client import generate_latest

from crossdock.errors import ProviderDataError, UpstreamError, UpstreamUnavailableError
from crossdock.httpclient import (
    BreakerPolicy,
    BreakerRegistry,
    ResilientClient,
    RetryPolicy,
    Timeouts,
    fan_out,
)
from crossdock.httpclient.testing import RecordingHooks
from crossdock.observability.hooks import LoggingHook
from crossdock.observability.metrics import MetricsHook
from tests.support.servers import serve_in_thread

MakeClient = Callable[..., ResilientClient]
BIG_CHUNK = b"b" * 65536


class BigBodies:
    """``/big?chunks=N`` streams N chunks of 64 KiB without Content-Length; ``hits`` counts requests."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.hits[scope["path"]] += 1
        chunks = int(scope["query_string"].decode().partition("=")[2] or "1")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for _ in range(chunks):
            await send({"type": "http.response.body", "body": BIG_CHUNK, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture(scope="module")
def big_bodies() -> BigBodies:
    return BigBodies()


@pytest.fixture(scope="module")
def base_url(big_bodies: BigBodies) -> Iterator[str]:
    with serve_in_thread(big_bodies) as url:
        yield url


@pytest.fixture
async def make_client(base_url: str) -> AsyncIterator[MakeClient]:
    clients: list[ResilientClient] = []

    def build(**overrides: Any) -> ResilientClient:
        options: dict[str, Any] = {
            "base_url": base_url,
            "timeouts": Timeouts(connect=1, read=2, total=5),
            "retry": RetryPolicy(max_attempts=4, max_total_seconds=10),
            "breaker_policy": BreakerPolicy(failure_threshold=2),
            "registry": BreakerRegistry(),
        }
        options.update(overrides)
        client = ResilientClient(options.pop("upstream", "hardening"), **options)
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.aclose()


async def test_a_key_with_a_newline_is_refused_once_and_never_shown(
    make_client: MakeClient, big_bodies: BigBodies, caplog: pytest.LogCaptureFixture
) -> None:
    """h11 refuses the header: one attempt, nothing sent, not retried, breaker untouched, no key anywhere."""
    key = "test-" + secrets.token_hex(12)  # generated per run, never a real credential
    upstream = "hardening-" + secrets.token_hex(4)
    hooks = RecordingHooks()
    client = make_client(upstream=upstream, hooks=fan_out(hooks, LoggingHook(), MetricsHook()))
    before = big_bodies.hits["/big"]
    with pytest.raises(UpstreamError) as caught:
        await client.request("GET", "/big", headers={"x-api-key": key + "\n"})
    assert not isinstance(caught.value, UpstreamUnavailableError)
    assert caught.value.attempts == 1
    assert big_bodies.hits["/big"] == before
    assert (hooks.retries, hooks.give_ups, hooks.transitions) == ([], [], [])
    assert client.breaker.snapshot().consecutive_failures == 0
    exposition = generate_latest().decode()
    assert f'crossdock_upstream_requests_total{{status="unsendable",upstream="{upstream}"}} 1.0' in exposition
    everything = str(caught.value) + hooks.all_text() + caplog.text + exposition
    assert key[5:] not in everything


async def test_a_body_past_the_limit_is_cut_over_the_wire(
    make_client: MakeClient, big_bodies: BigBodies
) -> None:
    """A 64 MiB streamed answer with a 1 MiB limit fails once with ProviderDataError; not retried."""
    before = big_bodies.hits["/big"]
    client = make_client(max_response_bytes=1024 * 1024)
    with pytest.raises(ProviderDataError) as caught:
        await client.request("GET", "/big", params={"chunks": 1024})
    assert "1048576" in caught.value.message
    assert big_bodies.hits["/big"] == before + 1


async def test_a_body_under_the_limit_arrives_whole(make_client: MakeClient) -> None:
    """Four 64 KiB chunks under a 1 MiB limit are read in full."""
    response = await make_client(max_response_bytes=1024 * 1024).request("GET", "/big", params={"chunks": 4})
    assert response.content == BIG_CHUNK * 4
