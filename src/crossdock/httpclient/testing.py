"""Test doubles for code that uses the HTTP client: a fake clock and hooks that record events.

Import these from tests only. :class:`FakeClock` makes retries, ``Retry-After`` dates and breaker
cool-downs deterministic without sleeping; :class:`RecordingHooks` keeps every event for assertions.
``set_testing``/``instant_waits`` are re-exported for end-to-end tests that keep the real clock.
Nothing here may touch the network or sleep for real.
"""

from __future__ import annotations

from dataclasses import dataclass

from crossdock.httpclient.breaker import BreakerState
from crossdock.httpclient.clock import instant_waits, is_testing, set_testing
from crossdock.httpclient.hooks import ClientHooks

__all__ = [
    "BreakerTransitionEvent",
    "FakeClock",
    "GiveUpEvent",
    "RecordingHooks",
    "RequestEvent",
    "RetryEvent",
    "instant_waits",
    "is_testing",
    "set_testing",
]

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


@dataclass(frozen=True, slots=True)
class RequestEvent:
    upstream: str
    method: str
    redacted_url: str
    status: int | None
    elapsed_seconds: float
    error: str | None


@dataclass(frozen=True, slots=True)
class RetryEvent:
    upstream: str
    method: str
    redacted_url: str
    attempt: int
    wait_seconds: float
    reason: str


@dataclass(frozen=True, slots=True)
class GiveUpEvent:
    upstream: str
    method: str
    redacted_url: str
    attempts: int
    reason: str


@dataclass(frozen=True, slots=True)
class BreakerTransitionEvent:
    upstream: str
    old_state: BreakerState
    new_state: BreakerState


class RecordingHooks(ClientHooks):
    """Keeps every event in order, by kind, for tests to assert on."""

    def __init__(self) -> None:
        self.requests: list[RequestEvent] = []
        self.retries: list[RetryEvent] = []
        self.give_ups: list[GiveUpEvent] = []
        self.transitions: list[BreakerTransitionEvent] = []

    def on_request(
        self,
        upstream: str,
        method: str,
        redacted_url: str,
        status: int | None,
        elapsed_seconds: float,
        error: str | None,
    ) -> None:
        self.requests.append(RequestEvent(upstream, method, redacted_url, status, elapsed_seconds, error))

    def on_retry(
        self,
        upstream: str,
        method: str,
        redacted_url: str,
        attempt: int,
        wait_seconds: float,
        reason: str,
    ) -> None:
        self.retries.append(RetryEvent(upstream, method, redacted_url, attempt, wait_seconds, reason))

    def on_give_up(self, upstream: str, method: str, redacted_url: str, attempts: int, reason: str) -> None:
        self.give_ups.append(GiveUpEvent(upstream, method, redacted_url, attempts, reason))

    def on_breaker_transition(self, upstream: str, old_state: BreakerState, new_state: BreakerState) -> None:
        self.transitions.append(BreakerTransitionEvent(upstream, old_state, new_state))

    def all_text(self) -> str:
        """Every recorded payload as one string, to assert a secret appears in none of them."""
        events: list[object] = [*self.requests, *self.retries, *self.give_ups, *self.transitions]
        return "\n".join(repr(event) for event in events)
