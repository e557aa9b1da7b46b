"""Circuit breakers, one per upstream name, kept in a registry the service can inspect.

closed --(failure_threshold consecutive failed attempts)--> open --(reset_timeout)--> half_open
half_open --(the one probe succeeds)--> closed;  half_open --(the probe fails)--> open (cool-down restarts)

A failed attempt is one the retry policy would call retryable: a retryable status, a timeout or a
connection error. Any other answer (2xx/3xx, and also 400/403/404...) proves the upstream is up, so
it counts as a success and resets the count. While open, :meth:`CircuitBreaker.try_acquire` refuses
at once, so the client raises :class:`crossdock.errors.CircuitOpenError` without any network I/O.

Breakers do not call hooks themselves: their methods return the :class:`Transition` they caused and
the client reports it through its own hooks. They must not sleep or do I/O: in distributed mode the
client reads and writes the shared state (:mod:`crossdock.httpclient.shared`) and tells the breaker
with :meth:`CircuitBreaker.force_open`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal, NamedTuple

from crossdock.httpclient.clock import Clock, SystemClock
from crossdock.httpclient.policy import BreakerPolicy

BreakerState = Literal["closed", "open", "half_open"]


class Transition(NamedTuple):
    """A change of a breaker's state, which the client reports to its hook as a ``BreakerEvent``."""

    old_state: BreakerState
    new_state: BreakerState


class Permit(NamedTuple):
    """The answer to "may this attempt go out?" and the transition asking caused, if any."""

    allowed: bool
    transition: Transition | None


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    """One breaker's state for status pages: ``opened_at`` is the wall time it last opened, else ``None``."""

    state: BreakerState
    consecutive_failures: int
    opened_at: float | None


class CircuitBreaker:
    """The breaker of one upstream; safe to share between clients and threads of one process."""

    def __init__(self, upstream: str, policy: BreakerPolicy, clock: Clock) -> None:
        self.upstream = upstream
        self.policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._state: BreakerState = "closed"
        self._failures = 0
        self._opened_monotonic = 0.0
        self._opened_at: float | None = None
        self._probe_in_flight = False

    @property
    def state(self) -> BreakerState:
        """The current state; an open breaker whose cool-down has passed already reads ``half_open``."""
        with self._lock:
            return self._effective_state()

    def snapshot(self) -> BreakerSnapshot:
        with self._lock:
            return BreakerSnapshot(
                state=self._effective_state(),
                consecutive_failures=self._failures,
                opened_at=self._opened_at,
            )

    def seconds_until_probe(self) -> float:
        """Seconds left in the cool-down (0 when not open)."""
        with self._lock:
            if self._state != "open":
                return 0.0
            elapsed = self._clock.monotonic() - self._opened_monotonic
            return max(0.0, self.policy.reset_timeout - elapsed)

    def try_acquire(self) -> Permit:
        """Let an attempt through (closed; or the single probe of half-open) or refuse it (open)."""
        with self._lock:
            transition = None
            if self._state == "open" and self._effective_state() == "half_open":
                transition = self._move_to("half_open")
            if self._state == "closed":
                return Permit(True, transition)
            if self._state == "half_open" and not self._probe_in_flight:
                self._probe_in_flight = True
                return Permit(True, transition)
            return Permit(False, transition)

    def record_success(self) -> Transition | None:
        """The upstream answered (any status we do not retry): close the circuit and reset the count."""
        with self._lock:
            self._failures = 0
            self._probe_in_flight = False
            if self._state != "closed":
                self._opened_at = None
                return self._move_to("closed")
            return None

    def record_failure(self) -> Transition | None:
        """A retryable failure: count it; open at the threshold, or re-open after a failed probe."""
        with self._lock:
            self._failures += 1
            self._probe_in_flight = False
            if self._state == "half_open" or (
                self._state == "closed" and self._failures >= self.policy.failure_threshold
            ):
                self._opened_monotonic = self._clock.monotonic()
                self._opened_at = self._clock.time()
                return self._move_to("open")
            return None

    def force_open(
        self, *, seconds_until_probe: float, opened_at: float | None, consecutive_failures: int
    ) -> Transition | None:
        """Adopt an open circuit decided elsewhere (distributed mode: the state every process shares).

        The breaker is open for ``seconds_until_probe`` more seconds, whatever its own policy says;
        ``opened_at`` is the wall time it opened there. An already open breaker is only realigned (no
        transition). Nothing happens when ``seconds_until_probe`` is not positive.
        """
        if seconds_until_probe <= 0:
            return None
        with self._lock:
            # Back-dated so that seconds_until_probe() and the half-open moment follow the shared clock.
            already_elapsed = self.policy.reset_timeout - seconds_until_probe
            self._opened_monotonic = self._clock.monotonic() - already_elapsed
            self._opened_at = opened_at if opened_at is not None else self._clock.time()
            self._failures = max(self._failures, consecutive_failures)
            return self._move_to("open")

    def release(self) -> None:
        """An attempt ended without a verdict (cancelled, refused locally): free the probe slot."""
        with self._lock:
            self._probe_in_flight = False

    def _effective_state(self) -> BreakerState:
        if self._state == "open":
            elapsed = self._clock.monotonic() - self._opened_monotonic
            if elapsed >= self.policy.reset_timeout:
                return "half_open"
        return self._state

    def _move_to(self, new_state: BreakerState) -> Transition | None:
        old_state = self._state
        self._state = new_state
        if old_state == new_state:
            return None
        return Transition(old_state, new_state)


class BreakerRegistry:
    """Every upstream's breaker in one place, so the service can show them all (``snapshot()``).

    The first client to ask for an upstream's breaker decides its policy and clock; later clients of
    the same upstream share it. Tests inject their own registry instead of using ``default_registry``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._breakers: dict[str, CircuitBreaker] = {}

    def breaker(
        self, upstream: str, *, policy: BreakerPolicy | None = None, clock: Clock | None = None
    ) -> CircuitBreaker:
        """The breaker of ``upstream``, created with ``policy`` and ``clock`` if it does not exist yet."""
        with self._lock:
            existing = self._breakers.get(upstream)
            if existing is None:
                existing = CircuitBreaker(upstream, policy or BreakerPolicy(), clock or SystemClock())
                self._breakers[upstream] = existing
            return existing

    def snapshot(self) -> dict[str, BreakerSnapshot]:
        """Each known upstream's breaker state, by upstream name."""
        with self._lock:
            breakers = dict(self._breakers)
        return {name: breaker.snapshot() for name, breaker in sorted(breakers.items())}

    def clear(self) -> None:
        """Forget every breaker (tests, or an operator's reset)."""
        with self._lock:
            self._breakers.clear()


default_registry = BreakerRegistry()
"""The process-wide registry clients use unless one is injected."""
