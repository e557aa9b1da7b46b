"""One request budget per DSP account: at most ``limit`` requests per sliding ``window`` seconds.

Every request to the account draws from it — submissions and status polls alike — so the engine
never sends one the DSP would refuse. While a status poll waits for a slot, submissions may not
take the last ``poll_reserve`` slots of the window, so a long queue of submissions never starves
the polls that let children go out (a poll is one request for up to 100 nodes); when no poll
waits, submissions use the whole limit. Polls, batched, never starve submissions. A 429 pauses
the whole account until its ``Retry-After``.

:class:`Budget` is the in-process budget (embedded mode: one process sends; the clock is injected);
:class:`RedisBudget` the one every process shares in distributed mode. Both answer ``try_take``
with 0.0 (a slot taken) or the seconds until one may be free; the engine awaits the answer.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Purpose = Literal["submit", "poll"]

SLACK_SECONDS = 0.25
"""Added to the window by default (``CROSSDOCK_SUBMISSIONS_WINDOW_SLACK``): a request stamped here
reaches the DSP a little later, and not always equally late (the network, a busy process); the
DSP's window must never see ``limit + 1``, so the slack must exceed that jitter. At 50 ms, a loaded
2-CPU test machine showed 3 requests over a 1-second window in about 1,200."""


@dataclass
class Budget:
    """The sliding log of one account's requests, and its pause."""

    limit: int
    window: float
    poll_reserve: int = 1
    clock: Callable[[], float] = time.monotonic
    slack: float = SLACK_SECONDS
    _sent: deque[float] = field(default_factory=deque)
    _paused_until: float = 0.0
    _poll_waiting_until: float = 0.0

    def __post_init__(self) -> None:
        self.poll_reserve = max(0, min(self.poll_reserve, self.limit - 1))

    def _forget_old(self, now: float) -> None:
        span = self.window + self.slack
        while self._sent and self._sent[0] <= now - span:
            self._sent.popleft()

    async def try_take(self, purpose: Purpose) -> float:
        """Take one request slot now and return 0.0, or return the seconds until one may be free."""
        return self.take_now(purpose)

    def take_now(self, purpose: Purpose) -> float:
        """:meth:`try_take` without awaiting (the in-process log needs no I/O)."""
        now = self.clock()
        if now < self._paused_until:
            return self._paused_until - now
        self._forget_old(now)
        allowed = self.limit
        if purpose == "submit" and now < self._poll_waiting_until:
            allowed -= self.poll_reserve
        if len(self._sent) < allowed:
            self._sent.append(now)
            if purpose == "poll":
                self._poll_waiting_until = 0.0
            return 0.0
        if purpose == "poll":  # hold the reserve for it (two windows at most, should it never come back)
            self._poll_waiting_until = now + 2 * self.window
        # The slot frees when the request that fills it leaves the window.
        blocking = self._sent[len(self._sent) - allowed]
        return max(1e-3, blocking + self.window + self.slack - now)

    async def pause(self, seconds: float) -> None:
        """The DSP answered 429: nothing more goes out for ``seconds``."""
        self._paused_until = max(self._paused_until, self.clock() + max(0.0, seconds))

    def used(self) -> int:
        """Requests in the current window (status pages)."""
        self._forget_old(self.clock())
        return len(self._sent)


_budgets: dict[str, Budget] = {}


def budget_for(dsp: str, limit: int, window: float, slack: float = SLACK_SECONDS) -> Budget:
    """This process's budget of account ``dsp`` (kept across runs; replaced when its limits change)."""
    found = _budgets.get(dsp)
    if (
        found is None
        or found.limit != limit
        or not math.isclose(found.window, window)
        or not math.isclose(found.slack, slack)
    ):
        found = _budgets[dsp] = Budget(
            limit=limit, window=window, poll_reserve=max(1, limit // 10), slack=slack
        )
    return found


# -- distributed mode: one budget for every process, atomic in Redis --------------------------------------

# KEYS[1]: the account's log (a sorted set of request times in µs of the Redis clock); KEYS[2]: its
# pause (a key whose expiry is the pause); KEYS[3]: "a poll waits" (expires after a window).
# ARGV: purpose ("poll" | "submit"), limit, span µs, member, TTL ms, poll reserve.
# Returns 0 when a slot was taken (and logged), else the µs until one may be free.
_TAKE_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local paused = redis.call('PTTL', KEYS[2])
if paused > 0 then
  return paused * 1000
end
local poll = ARGV[1] == 'poll'
local allowed = tonumber(ARGV[2])
if not poll and redis.call('EXISTS', KEYS[3]) == 1 then
  allowed = allowed - tonumber(ARGV[6])
end
local span = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - span))
local count = redis.call('ZCARD', KEYS[1])
if count < allowed then
  redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  if poll then
    redis.call('DEL', KEYS[3])
  end
  return 0
end
if poll then
  redis.call('SET', KEYS[3], '1', 'PX', 2 * tonumber(ARGV[5]))
end
local blocking = redis.call('ZRANGE', KEYS[1], count - allowed, count - allowed, 'WITHSCORES')
return math.max(1000, tonumber(blocking[2]) + span - now)
"""


class RedisBudget:
    """The account's budget shared by every worker: the same rules as :class:`Budget`, decided by one
    Lua script on the Redis clock (so N workers together never exceed the account's limit)."""

    def __init__(
        self, redis: Any, prefix: str, dsp: str, limit: int, window: float, slack: float = SLACK_SECONDS
    ) -> None:
        self.limit = limit
        self.window = window
        self.slack = slack
        self.poll_reserve = max(1, limit // 10) if limit > 1 else 0
        self._redis = redis
        self._log_key = f"{prefix}:budget:{dsp}"
        self._pause_key = f"{prefix}:budget:{dsp}:pause"
        self._poll_key = f"{prefix}:budget:{dsp}:poll-waiting"
        self._take = redis.register_script(_TAKE_SCRIPT)
        self._counter = 0

    async def try_take(self, purpose: Purpose) -> float:
        self._counter += 1
        member = f"{id(self)}:{self._counter}:{time.monotonic_ns()}"
        span_us = int((self.window + self.slack) * 1_000_000)
        ttl_ms = int((self.window + self.slack) * 1000) + 1000
        wait_us = await self._take(
            keys=[self._log_key, self._pause_key, self._poll_key],
            args=[purpose, self.limit, span_us, member, ttl_ms, self.poll_reserve],
        )
        return float(wait_us) / 1_000_000

    async def pause(self, seconds: float) -> None:
        if seconds > 0:
            # Never shortens a longer pause another worker set.
            current = await self._redis.pttl(self._pause_key)
            wanted = int(seconds * 1000)
            if current is None or current < wanted:
                await self._redis.set(self._pause_key, b"1", px=max(1, wanted))


_shared_clients: dict[str, Any] = {}


def shared_budget_for(
    redis_url: str, prefix: str, dsp: str, limit: int, window: float, slack: float = SLACK_SECONDS
) -> RedisBudget:
    """The budget of account ``dsp`` that every process of the deployment shares (distributed mode).

    One Redis client per URL and process (it belongs to the event loop that first uses it: a worker's).
    """
    from redis.asyncio import Redis

    client = _shared_clients.get(redis_url)
    if client is None:
        client = _shared_clients[redis_url] = Redis.from_url(
            redis_url, socket_connect_timeout=2, socket_timeout=2
        )
    return RedisBudget(client, prefix, dsp, limit, window, slack)
