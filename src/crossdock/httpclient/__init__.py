"""The resilient async HTTP client every upstream call goes through; it knows no provider.

Timeouts, bounded retries with full jitter and ``Retry-After``, a circuit breaker per upstream, a
client-side rate limiter, redaction of secrets, and translation of failures into
:mod:`crossdock.errors`. Each event (:data:`ClientEvent`: a request, retry, give-up or breaker
change) goes as one frozen dataclass to a :class:`ClientHook`, several combined by :func:`fan_out`;
tests use :mod:`crossdock.httpclient.testing` (``FakeClock``, ``RecordingHooks``) and :func:`set_testing`.
In distributed mode :func:`install_coordination` makes the limit and breaker shared through Redis
(:mod:`crossdock.httpclient.shared`).
"""

from __future__ import annotations

from crossdock.httpclient.breaker import (
    BreakerRegistry,
    BreakerSnapshot,
    BreakerState,
    CircuitBreaker,
    default_registry,
)
from crossdock.httpclient.client import ATTEMPTS_EXTENSION, DownloadResult, ResilientClient, attempts_of
from crossdock.httpclient.clock import Clock, SystemClock, instant_waits, is_testing, set_testing
from crossdock.httpclient.hooks import (
    BreakerEvent,
    ClientEvent,
    ClientHook,
    ErrorKind,
    GiveUpEvent,
    RequestEvent,
    RetryEvent,
    fan_out,
    no_hook,
)
from crossdock.httpclient.policy import BreakerPolicy, RateLimit, RetryPolicy, Timeouts, retry_after_seconds
from crossdock.httpclient.ratelimit import Limiter, RateLimiter
from crossdock.httpclient.redaction import (
    RedactingFilter,
    printed_forms,
    redact_headers,
    redact_text,
    redact_url,
    register_secret,
    unregister_secret,
)
from crossdock.httpclient.shared import (
    Coordination,
    RedisCoordination,
    SharedBreakerState,
    SharedRateLimiter,
    SharedWindow,
    coordination_from_settings,
    current_coordination,
    install_coordination,
)

__all__ = [
    "ATTEMPTS_EXTENSION",
    "BreakerEvent",
    "BreakerPolicy",
    "BreakerRegistry",
    "BreakerSnapshot",
    "BreakerState",
    "CircuitBreaker",
    "ClientEvent",
    "ClientHook",
    "Clock",
    "Coordination",
    "DownloadResult",
    "ErrorKind",
    "GiveUpEvent",
    "Limiter",
    "RateLimit",
    "RateLimiter",
    "RedactingFilter",
    "RedisCoordination",
    "RequestEvent",
    "ResilientClient",
    "RetryEvent",
    "RetryPolicy",
    "SharedBreakerState",
    "SharedRateLimiter",
    "SharedWindow",
    "SystemClock",
    "Timeouts",
    "attempts_of",
    "coordination_from_settings",
    "current_coordination",
    "default_registry",
    "fan_out",
    "install_coordination",
    "instant_waits",
    "is_testing",
    "no_hook",
    "printed_forms",
    "redact_headers",
    "redact_text",
    "redact_url",
    "register_secret",
    "retry_after_seconds",
    "set_testing",
    "unregister_secret",
]
