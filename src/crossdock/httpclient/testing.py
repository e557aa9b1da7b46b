"""Test doubles for code that uses the HTTP client: a fake clock and hooks that record events.

Import these from tests only. :class:`FakeClock` makes retries, ``Retry-After`` dates and breaker
cool-downs deterministic without sleeping; :class:`RecordingHooks` keeps every event for assertions
(the event classes are re-exported from :mod:`crossdock.httpclient.hooks`).
``set_testing``/``instant_waits`` are re-exported for end-to-end tests that keep the real clock.
Nothing here may touch the network or sleep for real.
"""

from __future__ import annotations

from typing import TypeVar

from crossdock.httpclient.clock import instant_waits, is_testing, set_testing
from crossdock.httpclient.hooks import (
    BreakerEvent,
    ClientEvent,
    GiveUpEvent,
    RequestEvent,
    RetryEvent,
)

__all__ = [
    "BreakerEvent",
    "FakeClock",
    "GiveUpEvent",
    "RecordingHooks",
    "RequestEvent",
    "RetryEvent",
    "instant_waits",
    "is_testing",
    "set_testing",
]

E = TypeVar("E", bound=ClientEvent)

DEFAULT_WALL_START = 1_700_000_000.0
"""2023-11-14T22:13:20Z: a fixed wall time so HTTP-date arithmetic in tests is reproducible."""


class FakeClock:
    """A clock that only moves when told: ``sleep`` advances it instantly and records the wait."""

    def __init__(self, *, monotonic_start: float = 0.0, wall_start: float = DEFAULT_WALL_START) -> None:
        self._monotonic = monotonic_start
        self._wall = wall_start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self._monotonic

    def time(self) -> float:
        return self._wall

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Move both the monotonic and the wall reading forward by ``seconds`` (breaker cool-downs)."""
        if seconds < 0:
            raise ValueError("a clock does not go backwards")
        self._monotonic += seconds
        self._wall += seconds

    @property
    def slept(self) -> float:
        """Total seconds waited through :meth:`sleep`."""
        return sum(self.sleeps)


class RecordingHooks:
    """A :class:`ClientHook` keeping every event it is handed, in order, for tests to assert on.

    ``events`` holds them all; ``requests``, ``retries``, ``give_ups`` and ``transitions`` are the
    events of one class each, still in order.
    """

    def __init__(self) -> None:
        self.events: list[ClientEvent] = []

    def __call__(self, event: ClientEvent, /) -> None:
        self.events.append(event)

    def of_type(self, kind: type[E]) -> list[E]:
        """The recorded events of class ``kind``, in the order they happened."""
        return [event for event in self.events if isinstance(event, kind)]

    @property
    def requests(self) -> list[RequestEvent]:
        return self.of_type(RequestEvent)

    @property
    def retries(self) -> list[RetryEvent]:
        return self.of_type(RetryEvent)

    @property
    def give_ups(self) -> list[GiveUpEvent]:
        return self.of_type(GiveUpEvent)

    @property
    def transitions(self) -> list[BreakerEvent]:
        return self.of_type(BreakerEvent)

    def all_text(self) -> str:
        """Every recorded payload as one string, to assert a secret appears in none of them."""
        return "\n".join(repr(event) for event in self.events)
