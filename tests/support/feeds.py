"""A scripted provider for sync tests: an httpx transport answering from a queue of bodies/statuses.

Swapping the transport is the port Crossdock's HTTP client offers for this; the client's real
retry, breaker and streaming code runs unchanged.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from pathlib import Path

import httpx

from crossdock.config import DatabaseSettings, Settings
from crossdock.httpclient import BreakerPolicy, BreakerRegistry, ResilientClient, RetryPolicy
from crossdock.jobs.context import JobContext
from crossdock.jobs.runner import run_job
from crossdock.marketplace import jobs, provider
from crossdock.marketplace.service import SyncSummary
from crossdock.marketplace.settings import MarketplaceSettings
from crossdock.storage import Database

FEED_URL = "http://provider.test/api/events"
Answer = bytes | int | Path


class ScriptedProvider:
    """Answers each request with the next scripted answer; the last one repeats."""

    def __init__(self, answers: Iterable[Answer] = ()) -> None:
        self.answers: deque[Answer] = deque(answers)
        self.requests = 0

    def then(self, *answers: Answer) -> ScriptedProvider:
        self.answers.extend(answers)
        return self

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        answer = self.answers.popleft() if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, int):
            return httpx.Response(answer, text="upstream trouble")
        body = answer.read_bytes() if isinstance(answer, Path) else answer
        return httpx.Response(200, content=body, headers={"content-type": "application/xml"})

    def client(self, *, max_attempts: int = 3) -> ResilientClient:
        return ResilientClient(
            "marketplace",
            transport=httpx.MockTransport(self.handler),
            retry=RetryPolicy(max_attempts=max_attempts),
            breaker_policy=BreakerPolicy(failure_threshold=50),
            registry=BreakerRegistry(),
        )


def marketplace_settings(db: Database, **group: object) -> Settings:
    """Settings for ``db`` with the marketplace group pointed at :data:`FEED_URL` (plus ``group``)."""
    values: dict[str, object] = {"provider_url": FEED_URL, "max_feed_bytes": 10**8, **group}
    return Settings(database=DatabaseSettings(url=db.url)).with_groups(MarketplaceSettings(**values))


async def sync_through_runner(db: Database, scripted: ScriptedProvider, *, full: bool = False) -> SyncSummary:
    """Run the marketplace sync job through the one runner with ``scripted`` as the provider's client."""
    async with scripted.client() as client:
        ctx = JobContext(settings=marketplace_settings(db), db=db, clients={provider.UPSTREAM: client})
        outcome = await run_job(ctx, jobs.SYNC, params={"full": full}, trigger="api", raise_errors=True)
    assert isinstance(outcome.result, SyncSummary)
    return outcome.result
