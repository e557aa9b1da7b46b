"""Time as the HTTP client sees it: an injectable clock and the process-wide instant-waits switch.

Every wait the client makes (retry backoff, ``Retry-After``) goes through a :class:`Clock`, and every
duration it measures (elapsed time, the retry budget, the breaker's cool-down) reads one, so tests can
swap in :class:`crossdock.httpclient.testing.FakeClock` and never sleep. :func:`set_testing` is the
coarser switch for end-to-end tests that run the real clock: it makes retry and rate-limiter waits
instant everywhere in the process.

This module must not import httpx or anything else of the client: it is the bottom layer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """What the client needs from time: a monotonic reading, the wall time, and a way to wait."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin that never goes backwards (durations, deadlines)."""
        ...

    def time(self) -> float:
        """Wall-clock seconds since the epoch (``Retry-After`` dates, ``opened_at`` stamps)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...


class SystemClock:
    """The real clock: :func:`time.monotonic`, :func:`time.time` and :func:`asyncio.sleep`."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


_testing = False


def set_testing(testing: bool) -> None:
    """Make every retry and rate-limiter wait of every client instant (``True``) or real (``False``).

    Meant for end-to-end tests that exercise retries against real servers; waits are still computed
    and reported to hooks, they are just not slept.
    """
    global _testing
    _testing = testing


def is_testing() -> bool:
    """Whether :func:`set_testing` has made waits instant."""
    return _testing


@contextmanager
def instant_waits(enabled: bool = True) -> Iterator[None]:
    """Make waits instant (or real, ``enabled=False``) for the ``with`` block, then restore the switch."""
    previous = _testing
    set_testing(enabled)
    try:
        yield
    finally:
        set_testing(previous)
