"""The retry, breaker, timeout and rate-limit policies as pure decisions (no client, no I/O)."""

from __future__ import annotations

import random
from email.utils import formatdate

import httpx
import pytest

from crossdock.config import HttpSettings
from crossdock.errors import ConfigurationError
from crossdock.httpclient import BreakerPolicy, RateLimit, RetryPolicy, Timeouts, retry_after_seconds

NOW = 1_700_000_000.0


def test_default_retry_statuses_and_methods() -> None:
    """By default 408/429/500/502/503/504 are retried, and only GET and HEAD are safe to repeat."""
    policy = RetryPolicy()
    assert policy.retry_statuses == {408, 429, 500, 502, 503, 504}
    assert policy.retry_methods == {"GET", "HEAD"}


@pytest.mark.parametrize(
    ("method", "idempotent", "expected"),
    [
        ("GET", None, True),
        ("head", None, True),
        ("POST", None, False),
        ("PUT", None, False),
        ("DELETE", None, False),
        ("OPTIONS", None, False),
        ("PATCH", None, False),
        ("POST", True, True),
        ("GET", False, False),
    ],
)
def test_may_retry_follows_method_unless_the_call_says_idempotent(
    method: str, idempotent: bool | None, expected: bool
) -> None:
    """A call may be retried when its method is listed, or when it passes idempotent=True (False forbids)."""
    assert RetryPolicy().may_retry(method, idempotent=idempotent) is expected


def test_backoff_ceiling_doubles_then_caps() -> None:
    """The jitter ceiling starts at backoff_initial, doubles per retry and stops at backoff_max."""
    policy = RetryPolicy(backoff_initial=0.5, backoff_max=3)
    assert [policy.backoff_ceiling(n) for n in range(6)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert policy.backoff_ceiling(10_000) == 3.0


def test_full_jitter_stays_within_zero_and_the_ceiling() -> None:
    """Full jitter draws anywhere in [0, ceiling] (seeded: both ends of the range are reached)."""
    policy = RetryPolicy(backoff_initial=1, backoff_max=4, max_wait=100)
    rng = random.Random(42)
    for retry_index, ceiling in enumerate([1.0, 2.0, 4.0, 4.0]):
        draws = [policy.jittered_wait(retry_index, rng) for _ in range(500)]
        assert all(0 <= draw <= ceiling for draw in draws)
        assert min(draws) < ceiling * 0.05
        assert max(draws) > ceiling * 0.95


def test_jittered_wait_is_clamped_to_max_wait() -> None:
    """No backoff wait exceeds max_wait even when the ceiling is larger."""
    policy = RetryPolicy(backoff_initial=100, backoff_max=100, max_wait=2)
    rng = random.Random(3)
    assert all(policy.jittered_wait(0, rng) <= 2 for _ in range(200))


def test_retry_policy_from_settings() -> None:
    """RetryPolicy.from_settings takes attempts, budget, backoff and max_wait from HttpSettings."""
    settings = HttpSettings(
        max_attempts=7, max_retry_seconds=12, backoff_initial=0.25, backoff_max=3, max_wait=9
    )
    policy = RetryPolicy.from_settings(settings)
    assert (policy.max_attempts, policy.max_total_seconds) == (7, 12)
    assert (policy.backoff_initial, policy.backoff_max, policy.max_wait) == (0.25, 3, 9)


def test_other_policies_from_settings() -> None:
    """Timeouts, breaker and rate limit come from HttpSettings; rate_limit=0 means no limiter."""
    settings = HttpSettings(
        connect_timeout=1,
        read_timeout=2,
        total_timeout=3,
        breaker_failure_threshold=4,
        breaker_reset_timeout=5,
        rate_limit=6,
        rate_burst=7,
    )
    assert Timeouts.from_settings(settings) == Timeouts(connect=1, read=2, total=3)
    assert BreakerPolicy.from_settings(settings) == BreakerPolicy(failure_threshold=4, reset_timeout=5)
    assert RateLimit.from_settings(settings) == RateLimit(rate=6, burst=7)
    assert RateLimit.from_settings(HttpSettings(rate_limit=0)) is None


def test_timeouts_map_to_httpx() -> None:
    """connect and read go to httpx; total is the client's own per-attempt deadline."""
    timeout = Timeouts(connect=1.5, read=4, total=9).to_httpx()
    assert isinstance(timeout, httpx.Timeout)
    assert (timeout.connect, timeout.read) == (1.5, 4)


@pytest.mark.parametrize(
    "build",
    [
        lambda: RetryPolicy(max_attempts=0),
        lambda: RetryPolicy(max_total_seconds=0),
        lambda: BreakerPolicy(failure_threshold=0),
        lambda: Timeouts(total=0),
        lambda: RateLimit(rate=-1),
        lambda: RateLimit(rate=1, burst=0),
    ],
)
def test_invalid_policies_are_refused(build: object) -> None:
    """Nonsense policy values raise ConfigurationError at construction, not mid-call."""
    with pytest.raises(ConfigurationError):
        build()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("7", 7.0),
        (" 0 ", 0.0),
        ("1.5", 1.5),
        (formatdate(NOW + 12, usegmt=True), 12.0),
        (formatdate(NOW - 60, usegmt=True), 0.0),
        ("Tue, 14 Nov 2023 22:13:30 -0000", 10.0),
        ("-3", None),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_parses_seconds_and_http_dates(header: str | None, expected: float | None) -> None:
    """Retry-After accepts delta-seconds and HTTP-dates (against the given wall time); junk is ignored."""
    assert retry_after_seconds(header, now=NOW) == expected
