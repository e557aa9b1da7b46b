"""The client-side rate limiter of one upstream: a token bucket over :class:`aiolimiter.AsyncLimiter`.

Every attempt, retries included, takes one token before it is sent. ``RateLimit(rate, burst)`` maps to
``AsyncLimiter(max_rate=burst, time_period=burst / rate)``: up to ``burst`` requests at once, then
``rate`` per second. Under :func:`crossdock.httpclient.clock.set_testing` tokens are counted but never
waited for. An ``AsyncLimiter`` belongs to the event loop that first used it, so a limiter lives with
its client (pass one ``RateLimiter`` to several clients of one loop to share it); this module must not
keep process-wide limiters. In distributed mode the client uses the limiter every process shares
instead (:class:`crossdock.httpclient.shared.SharedRateLimiter`); both are a :class:`Limiter`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from aiolimiter import AsyncLimiter

from crossdock.httpclient.clock import is_testing
from crossdock.httpclient.policy import RateLimit

OnSent = Callable[[], Awaitable[None]]
"""What a limiter may ask the client to await once an attempt's request headers are written."""


class Limiter(Protocol):
    """What the client needs from a rate limiter: ``acquire()`` once before each attempt."""

    @property
    def limit(self) -> RateLimit:
        """The limit it enforces."""
        ...

    @property
    def acquired(self) -> int:
        """How many times ``acquire()`` was called (tests, status pages)."""
        ...

    async def acquire(self) -> OnSent | None:
        """Return when one more attempt may go out, with what to await once it is written (or None)."""
        ...


class RateLimiter:
    """Hands out one token per attempt at ``limit.rate`` per second with bursts of ``limit.burst``."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self.acquired = 0
        self._limiter = AsyncLimiter(max_rate=limit.burst, time_period=limit.burst / limit.rate)

    async def acquire(self) -> None:
        """Take a token, waiting for one unless waits are instant (testing)."""
        self.acquired += 1
        if is_testing():
            return
        await self._limiter.acquire()

    def has_capacity(self) -> bool:
        """Whether a token is free right now (for tests and status pages; takes nothing)."""
        return bool(self._limiter.has_capacity())


def build_rate_limiter(limit: RateLimit | RateLimiter | None) -> RateLimiter | None:
    """A limiter for ``limit``, the shared one given, or ``None`` when the limit is absent or rate 0."""
    if limit is None or isinstance(limit, RateLimiter):
        return limit
    if not limit.enabled:
        return None
    return RateLimiter(limit)
