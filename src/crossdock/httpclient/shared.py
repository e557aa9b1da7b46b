"""Rate limits and circuit breakers shared by every process of a distributed deployment, kept in Redis.

In distributed mode (``CROSSDOCK_BROKER_URL`` set) workers on several hosts call the same upstreams:
per-process token buckets would let N times the configured rate through, and each process would
learn on its own that an upstream is down. A :class:`Coordination` is what the client asks instead.
:class:`RedisCoordination` keeps that state in Redis; every decision is one Lua script, so it is
atomic across processes and stamped with the Redis server's clock (hosts' clocks never matter).
Embedded mode installs none, and the client keeps its in-process limiter and breaker unchanged.

The rate limit is a sliding log (:class:`SharedWindow` says how a :class:`RateLimit` maps to it);
the breaker is a hash per upstream that the client reads before each attempt and writes after each
verdict, while its local :class:`~crossdock.httpclient.breaker.CircuitBreaker` still decides.
``docs/shared-limits.md`` describes the semantics, the keys and what happens when Redis is down.

``redis`` is imported only when a :class:`RedisCoordination` is built, so an embedded process never
pays for it. Nothing here sleeps except through the clock it is given.
"""

from __future__ import annotations

import functools
import itertools
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlsplit

from crossdock.errors import ConfigurationError, UpstreamUnavailableError
from crossdock.httpclient.clock import Clock, SystemClock, is_testing
from crossdock.httpclient.policy import BreakerPolicy, RateLimit
from crossdock.httpclient.ratelimit import Limiter, OnSent
from crossdock.httpclient.redaction import redact_text, register_secret

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

    from crossdock.config import Settings

DEFAULT_WINDOW_SLACK = 0.05
"""Seconds added to the shared window: covers how much the trip from us to the upstream varies
between requests (network jitter, and a send up to :data:`SETTLE_AFTER_SECONDS` after admission)."""

MIN_RECHECK_SECONDS = 0.001
"""Shortest wait before asking the shared window again, so a waiter never spins on Redis."""

SETTLE_AFTER_SECONDS = 0.005
"""An attempt sent later than this after its admission has its log entry moved to when it was sent."""

BREAKER_KEY_TTL_SECONDS = 24 * 3600
"""An upstream's breaker hash is forgotten after a day without any verdict (renamed upstreams)."""

_MICROS = 1_000_000

# KEYS[1]: the upstream's log, a sorted set: one member per admitted attempt, scored with the time
# it was admitted (or sent, once settled) in microseconds of the Redis clock.
# ARGV: capacity, period (µs), burst, burst period (µs), member, TTL (ms). Returns 0 when admitted
# (and logged), else the microseconds until the entry that blocks leaves its window.
_ADMIT_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local capacity = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local burst_period = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - period))
local count = redis.call('ZCARD', KEYS[1])
local wait = 0
if count >= capacity then
  local blocking = redis.call('ZREVRANGE', KEYS[1], capacity - 1, capacity - 1, 'WITHSCORES')
  wait = tonumber(blocking[2]) + period - now
end
if burst < capacity and count >= burst then
  local blocking = redis.call('ZREVRANGE', KEYS[1], burst - 1, burst - 1, 'WITHSCORES')
  wait = math.max(wait, tonumber(blocking[2]) + burst_period - now)
end
if wait > 0 then
  return math.ceil(wait)
end
redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return 0
"""

# KEYS[1]: the log; ARGV: member, TTL (ms). The attempt went out later than it was admitted: its entry
# moves to now, so the window counts from when the upstream could have seen it.
_SETTLE_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local score = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1]))
if score and score < now then
  redis.call('ZADD', KEYS[1], 'XX', string.format('%.0f', now), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# KEYS[1]: the upstream's breaker hash (failures, opened_at and open_until in µs of the Redis clock).
# Returns {consecutive failures, opened_at or 0, µs until the probe or 0 when not open}.
_READ_BREAKER_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local state = redis.call('HMGET', KEYS[1], 'failures', 'opened_at', 'open_until')
local open_until = tonumber(state[3]) or 0
return {tonumber(state[1]) or 0, tonumber(state[2]) or 0, math.max(0, open_until - now)}
"""

# ARGV: failure threshold, reset timeout (µs), TTL of the hash (ms). Counts one failure; opens the
# circuit at the threshold, or re-opens it after the cool-down (a failed probe), never extends it.
_RECORD_FAILURE_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until')) or 0
if failures >= tonumber(ARGV[1]) and open_until <= now then
  open_until = now + tonumber(ARGV[2])
  redis.call('HSET', KEYS[1], 'opened_at', string.format('%.0f', now),
             'open_until', string.format('%.0f', open_until))
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local opened_at = tonumber(redis.call('HGET', KEYS[1], 'opened_at')) or 0
return {failures, opened_at, math.max(0, open_until - now)}
"""


@dataclass(frozen=True, slots=True)
class SharedWindow:
    """How a :class:`RateLimit` is enforced across processes: a sliding log of admissions.

    An attempt is admitted when fewer than ``capacity`` were admitted in the last ``period`` seconds
    and, if ``burst < capacity``, fewer than ``burst`` in the last ``burst_period`` seconds.
    """

    capacity: int
    period: float
    burst: int
    burst_period: float

    @classmethod
    def of(cls, limit: RateLimit, *, slack: float = DEFAULT_WINDOW_SLACK) -> SharedWindow:
        """The window of ``limit``: ``floor(rate)`` per ``1 s + slack`` (a rate below 1: one per
        ``1/rate + slack`` seconds), and at most ``burst`` per ``burst / rate`` seconds.

        No 1-second window then holds more than ``rate`` admissions, however many processes ask:
        a count of requests per second cannot be fractional, so a rate of 2.5 admits 2 per second.
        """
        if not limit.enabled:
            raise ConfigurationError("a shared rate limit needs a positive rate")
        if slack < 0:
            raise ConfigurationError("the window slack must not be negative")
        if limit.rate >= 1:
            # The epsilon keeps a rate like 3.0000000000000004 (a computed setting) at 3.
            capacity, base = math.floor(limit.rate + 1e-9), 1.0
        else:
            capacity, base = 1, 1 / limit.rate
        burst = min(limit.burst, capacity)
        return cls(capacity=capacity, period=base + slack, burst=burst, burst_period=burst / limit.rate)


@dataclass(frozen=True, slots=True)
class SharedBreakerState:
    """One upstream's circuit as every process sees it; ``opened_at`` is the wall time it last opened
    (the Redis server's clock), ``seconds_until_probe`` is 0 unless it is open."""

    consecutive_failures: int
    opened_at: float | None
    seconds_until_probe: float

    @property
    def is_open(self) -> bool:
        return self.seconds_until_probe > 0


class Coordination(Protocol):
    """What a :class:`~crossdock.httpclient.client.ResilientClient` asks in distributed mode.

    :class:`RedisCoordination` is the real one; unit tests pass fakes.
    """

    def limiter(self, upstream: str, limit: RateLimit, *, clock: Clock) -> Limiter:
        """The limiter all processes share for ``upstream`` (``limit`` is enabled); waits use ``clock``."""
        ...

    async def breaker_state(self, upstream: str) -> SharedBreakerState:
        """The shared circuit of ``upstream``; raises ``UpstreamUnavailableError`` if it cannot be read."""
        ...

    async def record_failure(self, upstream: str, policy: BreakerPolicy) -> SharedBreakerState | None:
        """Count a failed attempt (open at ``policy.failure_threshold``); best effort: ``None`` when the
        shared state could not be written, never an exception."""
        ...

    async def record_success(self, upstream: str) -> None:
        """The upstream answered: reset the count and close the circuit; best effort, never raises."""
        ...


class SharedRateLimiter:
    """One upstream's limiter in distributed mode: asks the shared window, waits with the clock.

    ``admit(member)`` logs the attempt as ``member`` and answers 0, or answers the seconds to wait
    before asking again. ``acquire()`` returns what the client awaits once the request's headers are
    written: if that is more than :data:`SETTLE_AFTER_SECONDS` after the admission (a new connection,
    a busy event loop), ``settle(member)`` moves the entry to that moment, so the window counts from
    when the upstream could see the request. Under :func:`crossdock.httpclient.clock.set_testing` a
    refusal is not waited for (the attempt goes at once, unlogged), as the in-process limiter does; a
    store failure still raises.
    """

    def __init__(
        self,
        upstream: str,
        limit: RateLimit,
        *,
        admit: Callable[[str], Awaitable[float]],
        settle: Callable[[str], Awaitable[None]],
        clock: Clock,
    ) -> None:
        self.upstream = upstream
        self.limit = limit
        self.acquired = 0
        self.waited = 0.0
        """Seconds spent waiting for the shared window (all acquisitions)."""
        self.settled = 0
        """How many admitted attempts went out late enough to be moved in the log."""
        self._admit = admit
        self._settle = settle
        self._clock = clock
        self._token = uuid.uuid4().hex[:16]
        self._numbers = itertools.count()

    async def acquire(self) -> OnSent | None:
        """Return once the shared window admits one more attempt of this upstream."""
        self.acquired += 1
        member = f"{self._token}:{next(self._numbers)}"
        while True:
            wait = await self._admit(member)
            if wait <= 0:
                break
            if is_testing():
                return None
            wait = max(wait, MIN_RECHECK_SECONDS)
            self.waited += wait
            await self._clock.sleep(wait)
        admitted = self._clock.monotonic()

        async def on_sent() -> None:
            if self._clock.monotonic() - admitted > SETTLE_AFTER_SECONDS:
                self.settled += 1
                await self._settle(member)

        return on_sent


class RedisCoordination:
    """Shared rate limits and breakers in one Redis, under keys starting with ``prefix``.

    Keys: ``{prefix}:limits:{upstream}`` (a sorted set: the log of admitted attempts) and
    ``{prefix}:breaker:{upstream}`` (a hash: ``failures``, ``opened_at``, ``open_until``), both
    expiring once they hold nothing that still counts. Building one connects to nothing;
    :meth:`ping` checks Redis at start-up. Like every redis-py asyncio client it belongs to the event
    loop that first uses it. Close it with :meth:`aclose`.

    When Redis cannot be reached (or fails), acquiring a rate-limit slot and reading the breaker raise
    :class:`crossdock.errors.UpstreamUnavailableError` naming the Redis host (never its password): the
    request is not sent. Recording a verdict is best effort (the attempt already happened); the next
    attempt's read reports the failure.
    """

    def __init__(
        self,
        url: str,
        prefix: str,
        clock: Clock | None = None,
        *,
        window_slack: float = DEFAULT_WINDOW_SLACK,
        socket_timeout: float = 2.0,
    ) -> None:
        # Imported here: redis takes a noticeable time to import and embedded processes never need it.
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialBackoff
        from redis.exceptions import RedisError

        if not prefix:
            raise ConfigurationError("the prefix of shared limit keys must not be empty")
        parts = urlsplit(url)
        if parts.password:
            register_secret(unquote(parts.password))
        self.prefix = prefix
        self.where = _host_and_port(url)
        """``host:port`` of the Redis server, for messages (never the password)."""
        self.window_slack = window_slack
        self._clock = clock or SystemClock()
        self._failures: tuple[type[BaseException], ...] = (RedisError, OSError)
        try:
            self._redis: Redis = Redis.from_url(
                url,
                socket_connect_timeout=socket_timeout,
                socket_timeout=socket_timeout,
                # A dropped pooled connection is retried at once; an unreachable server fails fast.
                retry=Retry(ExponentialBackoff(cap=0.1, base=0.01), retries=2),
            )
        except ValueError as exc:
            raise ConfigurationError(
                f"the Redis URL for shared limits is not usable: {redact_text(str(exc))}"
            ) from None
        self._admit_script: AsyncScript = self._redis.register_script(_ADMIT_SCRIPT)
        self._settle_script: AsyncScript = self._redis.register_script(_SETTLE_SCRIPT)
        self._read_breaker_script: AsyncScript = self._redis.register_script(_READ_BREAKER_SCRIPT)
        self._record_failure_script: AsyncScript = self._redis.register_script(_RECORD_FAILURE_SCRIPT)

    def limits_key(self, upstream: str) -> str:
        return f"{self.prefix}:limits:{upstream}"

    def breaker_key(self, upstream: str) -> str:
        return f"{self.prefix}:breaker:{upstream}"

    async def ping(self) -> None:
        """Check that Redis answers; raises ``UpstreamUnavailableError`` (upstream ``redis``) if not."""
        try:
            await self._redis.ping()
        except self._failures as exc:
            raise self._unavailable("redis", exc) from None

    async def aclose(self) -> None:
        await self._redis.aclose()

    def limiter(self, upstream: str, limit: RateLimit, *, clock: Clock | None = None) -> SharedRateLimiter:
        window = SharedWindow.of(limit, slack=self.window_slack)
        return SharedRateLimiter(
            upstream,
            limit,
            admit=functools.partial(self._admit, upstream, window),
            settle=functools.partial(self._settle, upstream, window),
            clock=clock or self._clock,
        )

    async def breaker_state(self, upstream: str) -> SharedBreakerState:
        found = await self._call(upstream, self._read_breaker_script, [self.breaker_key(upstream)], [])
        return _breaker_state(found)

    async def record_failure(self, upstream: str, policy: BreakerPolicy) -> SharedBreakerState | None:
        ttl_ms = math.ceil(max(BREAKER_KEY_TTL_SECONDS, 2 * policy.reset_timeout) * 1000)
        args = [policy.failure_threshold, math.ceil(policy.reset_timeout * _MICROS), ttl_ms]
        try:
            found = await self._record_failure_script(keys=[self.breaker_key(upstream)], args=args)
        except self._failures:
            return None
        return _breaker_state(found)

    async def record_success(self, upstream: str) -> None:
        try:
            await self._redis.delete(self.breaker_key(upstream))
        except self._failures:
            return

    async def _admit(self, upstream: str, window: SharedWindow, member: str) -> float:
        args: list[int | str] = [
            window.capacity,
            math.ceil(window.period * _MICROS),
            window.burst,
            math.ceil(window.burst_period * _MICROS),
            member,
            _ttl_ms(window),
        ]
        wait_micros = await self._call(upstream, self._admit_script, [self.limits_key(upstream)], args)
        return int(wait_micros) / _MICROS

    async def _settle(self, upstream: str, window: SharedWindow, member: str) -> None:
        try:
            await self._settle_script(keys=[self.limits_key(upstream)], args=[member, _ttl_ms(window)])
        except self._failures:
            # Best effort: the entry keeps its admission time, which the slack is there to cover.
            return

    async def _call(self, upstream: str, script: AsyncScript, keys: list[str], args: list[int | str]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except self._failures as exc:
            raise self._unavailable(upstream, exc) from None

    def _unavailable(self, upstream: str, exc: BaseException) -> UpstreamUnavailableError:
        detail = " ".join(redact_text(f"{type(exc).__name__}: {exc}").split())
        return UpstreamUnavailableError(
            f"{upstream}: the shared rate limits and breakers in Redis at {self.where} are unavailable "
            f"({detail}); the request was not sent",
            upstream=upstream,
            attempts=0,
        )


def _ttl_ms(window: SharedWindow) -> int:
    """Milliseconds after which an untouched log holds nothing that still counts."""
    return math.ceil(window.period * 1000) + 1


def _breaker_state(found: Any) -> SharedBreakerState:
    failures, opened_at, remaining = (int(value) for value in found)
    return SharedBreakerState(
        consecutive_failures=failures,
        opened_at=opened_at / _MICROS if opened_at else None,
        seconds_until_probe=remaining / _MICROS,
    )


def _host_and_port(url: str) -> str:
    parts = urlsplit(url)
    try:
        port = parts.port or 6379
    except ValueError:
        port = 6379
    return f"{parts.hostname or 'localhost'}:{port}"


_installed: Coordination | None = None


def install_coordination(coordination: Coordination | None) -> Coordination | None:
    """Make ``coordination`` the default of every client built from now on (``None``: embedded mode,
    in-process limiter and breaker); returns the one it replaces. Clients already built keep theirs."""
    global _installed
    previous, _installed = _installed, coordination
    return previous


def current_coordination() -> Coordination | None:
    """The coordination clients use unless given one: ``None`` in embedded mode."""
    return _installed


def coordination_from_settings(settings: Settings) -> RedisCoordination | None:
    """The shared limits of distributed mode (keys prefixed with ``CROSSDOCK_JOBS_QUEUE``), or
    ``None`` in embedded mode; a :class:`ConfigurationError` if distributed without a Redis URL."""
    jobs = settings.jobs
    if not jobs.distributed:
        return None
    url = jobs.shared_redis_url
    if url is None:
        raise ConfigurationError("distributed mode needs Redis for shared limits: set CROSSDOCK_REDIS_URL")
    return RedisCoordination(url, jobs.queue)
