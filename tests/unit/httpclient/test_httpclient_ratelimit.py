"""The client-side token bucket: configuration, one token per attempt, and the testing switch."""

from __future__ import annotations

from collections.abc import Callable

from crossdock.httpclient import RateLimit, RateLimiter, ResilientClient, instant_waits
from crossdock.httpclient.ratelimit import build_rate_limiter
from tests.support.http_mocks import Script

MakeClient = Callable[..., ResilientClient]


def test_rate_zero_or_none_disables_the_limiter() -> None:
    """RateLimit(rate=0) and None build no limiter at all."""
    assert build_rate_limiter(None) is None
    assert build_rate_limiter(RateLimit(rate=0, burst=5)) is None


async def test_burst_tokens_are_available_at_once_then_the_bucket_is_empty() -> None:
    """A bucket of burst=2 gives two tokens without waiting and then has no capacity left."""
    limiter = RateLimiter(RateLimit(rate=1, burst=2))
    await limiter.acquire()
    await limiter.acquire()
    assert limiter.acquired == 2
    assert not limiter.has_capacity()


async def test_every_attempt_takes_a_token(make_client: MakeClient) -> None:
    """Retries go through the limiter too: three attempts take three tokens."""
    client = make_client(Script([503, 502, 200]), rate_limit=RateLimit(rate=1000, burst=1000))
    await client.request("GET", "/x")
    assert client.rate_limiter is not None
    assert client.rate_limiter.acquired == 3


async def test_instant_waits_skip_rate_limiter_waits(make_client: MakeClient) -> None:
    """Under instant_waits() an exhausted bucket (1 request per hour) does not block."""
    client = make_client(Script([200]), rate_limit=RateLimit(rate=1 / 3600, burst=1))
    with instant_waits():
        for _ in range(3):
            await client.request("GET", "/x")
    assert client.rate_limiter is not None
    assert client.rate_limiter.acquired == 3


async def test_a_shared_limiter_is_used_as_given(make_client: MakeClient) -> None:
    """Passing one RateLimiter to two clients makes them share the bucket."""
    shared = RateLimiter(RateLimit(rate=1000, burst=1000))
    first = make_client(Script([200]), rate_limit=shared)
    second = make_client(Script([200]), rate_limit=shared, upstream="other")
    await first.request("GET", "/x")
    await second.request("GET", "/x")
    assert first.rate_limiter is second.rate_limiter is shared
    assert shared.acquired == 2
