"""The named decisions of the resilient client: timeouts, what is retried and how long we wait.

Each policy is a frozen value object that can be built from :class:`crossdock.config.HttpSettings`
(``from_settings``) or by hand in tests. The functions here only decide; they never sleep, send a
request or keep state: the client and the breaker do that.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

import httpx

from crossdock.errors import ConfigurationError

if TYPE_CHECKING:
    from crossdock.config import HttpSettings

DEFAULT_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Only methods that are safe to repeat by definition; PUT/DELETE are idempotent on paper, but the
# upstreams we call do not all honour that, so a caller opts in per call with ``idempotent=True``.
DEFAULT_RETRY_METHODS = frozenset({"GET", "HEAD"})


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigurationError(message)


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds allowed to connect, to wait for each chunk read, and for one whole attempt (body included)."""

    connect: float = 5.0
    read: float = 30.0
    total: float = 120.0

    def __post_init__(self) -> None:
        _require(self.connect > 0 and self.read > 0 and self.total > 0, "timeouts must be positive")

    @classmethod
    def from_settings(cls, settings: HttpSettings) -> Timeouts:
        return cls(connect=settings.connect_timeout, read=settings.read_timeout, total=settings.total_timeout)

    def to_httpx(self) -> httpx.Timeout:
        """The per-operation timeouts httpx enforces; the client enforces ``total`` around each attempt."""
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.read, pool=self.connect)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Which failures are retried, how many times, for how long, and how long we wait in between.

    A failure is retried when the call's method allows it (``retry_methods``, or ``idempotent=True``
    on the call) and it is a status in ``retry_statuses``, a timeout or a connection error. The wait
    before retry *n* (0-based) is full jitter, ``uniform(0, min(backoff_max, backoff_initial * 2**n)))``,
    unless the response carried ``Retry-After``; every wait is clamped to ``max_wait``. The loop stops
    after ``max_attempts`` attempts, or earlier when the next wait would use up ``max_total_seconds``
    counted from the start of the call.
    """

    max_attempts: int = 4
    max_total_seconds: float = 60.0
    backoff_initial: float = 0.5
    backoff_max: float = 10.0
    max_wait: float = 30.0
    retry_statuses: frozenset[int] = field(default=DEFAULT_RETRY_STATUSES)
    retry_methods: frozenset[str] = field(default=DEFAULT_RETRY_METHODS)

    def __post_init__(self) -> None:
        _require(self.max_attempts >= 1, "max_attempts must be at least 1")
        _require(self.max_total_seconds > 0, "max_total_seconds must be positive")
        _require(self.backoff_initial >= 0 and self.backoff_max >= 0, "backoff must not be negative")
        _require(self.max_wait >= 0, "max_wait must not be negative")
        # Accept any iterable of names but compare upper-case, as httpx sends them.
        object.__setattr__(self, "retry_methods", frozenset(m.upper() for m in self.retry_methods))
        object.__setattr__(self, "retry_statuses", frozenset(self.retry_statuses))

    @classmethod
    def from_settings(cls, settings: HttpSettings) -> RetryPolicy:
        return cls(
            max_attempts=settings.max_attempts,
            max_total_seconds=settings.max_retry_seconds,
            backoff_initial=settings.backoff_initial,
            backoff_max=settings.backoff_max,
            max_wait=settings.max_wait,
        )

    def may_retry(self, method: str, *, idempotent: bool | None) -> bool:
        """Whether a call may be repeated: ``idempotent`` decides when given, else ``retry_methods``."""
        if idempotent is not None:
            return idempotent
        return method.upper() in self.retry_methods

    def is_retryable_status(self, status: int) -> bool:
        return status in self.retry_statuses

    def backoff_ceiling(self, retry_index: int) -> float:
        """The largest backoff before retry ``retry_index`` (0 for the first retry): doubles, then caps."""
        # 2**1100 overflows a float; any exponent that large is far past backoff_max anyway.
        exponent = min(retry_index, 1000)
        return min(self.backoff_max, self.backoff_initial * math.pow(2, exponent))

    def jittered_wait(self, retry_index: int, rng: random.Random) -> float:
        """Full jitter: uniform between 0 and the ceiling, then clamped to ``max_wait``."""
        return min(rng.uniform(0, self.backoff_ceiling(retry_index)), self.max_wait)


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """Open after ``failure_threshold`` consecutive failed attempts; probe after ``reset_timeout`` seconds."""

    failure_threshold: int = 5
    reset_timeout: float = 30.0

    def __post_init__(self) -> None:
        _require(self.failure_threshold >= 1, "failure_threshold must be at least 1")
        _require(self.reset_timeout > 0, "reset_timeout must be positive")

    @classmethod
    def from_settings(cls, settings: HttpSettings) -> BreakerPolicy:
        return cls(
            failure_threshold=settings.breaker_failure_threshold,
            reset_timeout=settings.breaker_reset_timeout,
        )


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A token bucket: ``rate`` requests per second on average, ``burst`` of them at once."""

    rate: float
    burst: int = 1

    def __post_init__(self) -> None:
        _require(self.rate >= 0, "rate must not be negative")
        _require(self.burst >= 1, "burst must be at least 1")

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    @classmethod
    def from_settings(cls, settings: HttpSettings) -> RateLimit | None:
        """The settings' limit, or ``None`` when ``rate_limit`` is 0 (disabled)."""
        if settings.rate_limit <= 0:
            return None
        return cls(rate=settings.rate_limit, burst=settings.rate_burst)


def retry_after_seconds(value: str | None, *, now: float) -> float | None:
    """Seconds asked by a ``Retry-After`` header (delta-seconds or HTTP-date), or ``None`` if unusable.

    ``now`` is the wall time an HTTP-date is measured against; a date in the past means "now" (0).
    The caller clamps the result to its policy's ``max_wait``.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
        return None
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        # RFC 9110 dates are always GMT; email.utils leaves a "-0000" zone naive.
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, moment.timestamp() - now)
