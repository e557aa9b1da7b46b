"""One request budget per DSP account: at most ``limit`` requests per sliding ``window`` seconds.

Every request to the account draws from it — submissions and status polls alike — so the engine
never sends one the DSP would refuse. Submissions may not take the last ``poll_reserve`` slots of
the window, so a long queue of submissions never starves the polls that let children go out (a poll
is one request for up to 100 nodes); polls, batched, never starve submissions. A 429 pauses the
whole account until its ``Retry-After``.

This is the in-process budget (embedded mode: one process sends). The clock is injected.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Purpose = Literal["submit", "poll"]

SLACK_SECONDS = 0.05
"""Added to the window: a request stamped here reaches the DSP a little later; the DSP's window must
never see ``limit + 1``."""


@dataclass
class Budget:
    """The sliding log of one account's requests, and its pause."""

    limit: int
    window: float
    poll_reserve: int = 1
    clock: Callable[[], float] = time.monotonic
    _sent: deque[float] = field(default_factory=deque)
    _paused_until: float = 0.0

    def __post_init__(self) -> None:
        self.poll_reserve = max(0, min(self.poll_reserve, self.limit - 1))

    def _forget_old(self, now: float) -> None:
        span = self.window + SLACK_SECONDS
        while self._sent and self._sent[0] <= now - span:
            self._sent.popleft()

    def try_take(self, purpose: Purpose) -> float:
        """Take one request slot now and return 0.0, or return the seconds until one may be free."""
        now = self.clock()
        if now < self._paused_until:
            return self._paused_until - now
        self._forget_old(now)
        allowed = self.limit if purpose == "poll" else self.limit - self.poll_reserve
        if len(self._sent) < allowed:
            self._sent.append(now)
            return 0.0
        # The slot frees when the request that fills it leaves the window.
        blocking = self._sent[len(self._sent) - allowed]
        return max(1e-3, blocking + self.window + SLACK_SECONDS - now)

    def pause(self, seconds: float) -> None:
        """The DSP answered 429: nothing more goes out for ``seconds``."""
        self._paused_until = max(self._paused_until, self.clock() + max(0.0, seconds))

    def used(self) -> int:
        """Requests in the current window (status pages)."""
        self._forget_old(self.clock())
        return len(self._sent)


_budgets: dict[str, Budget] = {}


def budget_for(dsp: str, limit: int, window: float) -> Budget:
    """This process's budget of account ``dsp`` (kept across runs; replaced when its limits change)."""
    found = _budgets.get(dsp)
    if found is None or found.limit != limit or not math.isclose(found.window, window):
        found = _budgets[dsp] = Budget(limit=limit, window=window, poll_reserve=max(1, limit // 10))
    return found
