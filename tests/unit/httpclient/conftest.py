"""Fixtures for the HTTP client's unit tests: a fake clock, a private breaker registry, recording
hooks, and clients wired to ``httpx.MockTransport`` scripts. Nothing here sleeps or opens a socket."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from crossdock.httpclient import BreakerPolicy, BreakerRegistry, ResilientClient, RetryPolicy, set_testing
from crossdock.httpclient.testing import FakeClock, RecordingHooks


@pytest.fixture(autouse=True)
def _instant_waits() -> Iterator[None]:
    """Overrides the suite-wide instant waits: here waits go through the FakeClock, which records them."""
    set_testing(False)
    yield
    set_testing(False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry() -> BreakerRegistry:
    return BreakerRegistry()


@pytest.fixture
def hooks() -> RecordingHooks:
    return RecordingHooks()


FAST_RETRY = RetryPolicy(
    max_attempts=4, max_total_seconds=1000, backoff_initial=1, backoff_max=8, max_wait=60
)


@pytest.fixture
async def make_client(
    clock: FakeClock, registry: BreakerRegistry, hooks: RecordingHooks
) -> AsyncIterator[Callable[..., ResilientClient]]:
    """Build clients on a MockTransport with the fake clock, a private registry and recording hooks."""
    clients: list[ResilientClient] = []

    def build(handler: Callable[[httpx.Request], Any], **overrides: Any) -> ResilientClient:
        options: dict[str, Any] = {
            "base_url": "http://upstream.test",
            "clock": clock,
            "registry": registry,
            "hooks": hooks,
            "retry": FAST_RETRY,
            # Breaker tests set their own threshold; elsewhere it must not cut retry sequences short.
            "breaker_policy": BreakerPolicy(failure_threshold=100),
            "transport": httpx.MockTransport(handler),
            "rng": random.Random(1234),
        }
        upstream = overrides.pop("upstream", "marketplace")
        options.update(overrides)
        client = ResilientClient(upstream, **options)
        clients.append(client)
        return client

    yield build
    for client in clients:
        await client.aclose()
