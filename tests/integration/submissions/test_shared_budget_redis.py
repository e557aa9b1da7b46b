"""Two workers' engines on one DSP account draw from one budget in Redis: together they never send
more than the account's limit in any window, and no node is created twice."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from crossdock.storage import Database
from crossdock.submissions import engine
from crossdock.submissions.budget import RedisBudget
from crossdock.submissions.machine import Policy
from crossdock.submissions.provider import DspClient
from crossdock.submissions.simulator.app import DspSimulatorOptions, create_app, in_process_transport
from tests.integration.submissions.test_engine import KEY, submission

LIMIT, WINDOW = 8, 1.0
TERMINAL = {"completed", "error", "dead", "cancelled", "blocked"}


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[tuple[Redis, str]]:
    client = Redis.from_url(redis_url)
    prefix = f"crossdock-test-{uuid.uuid4().hex[:10]}"
    try:
        yield client, prefix
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def test_two_engines_share_one_budget_and_never_exceed_the_limit(
    sqlite_database: Database, redis: tuple[Redis, str]
) -> None:
    client_redis, prefix = redis
    app = create_app(
        DspSimulatorOptions(api_keys=(KEY,), limit=LIMIT, window=WINDOW, processing_seconds=0.05),
        clock=time.monotonic,
    )
    transport = in_process_transport(app)
    clients = [DspClient("sim", "http://dsp.test", KEY, transport=transport) for _ in range(2)]
    for number in range(6):
        await engine.submit(sqlite_database, submission(number), known_dsps=["sim"])

    async def worker(client: DspClient) -> None:
        budget = RedisBudget(client_redis, prefix, "sim", LIMIT, WINDOW)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            report = await engine.Advancer(
                db=sqlite_database, dsp="sim", client=client, budget=budget, policy=Policy(poll_interval=0.1)
            ).run()
            if set(report.states) <= TERMINAL:
                return
            await asyncio.sleep(0.05)  # the DSP's window passes in real time

    try:
        await asyncio.gather(*(worker(client) for client in clients))
    finally:
        for client in clients:
            await client.aclose()
    counters = app.state.simulator.state()["counters"]
    assert counters["over_limit"] == 0
    assert counters["duplicates"] == {"campaigns": 0, "ad_groups": 0, "ads": 0}
    assert counters["created"] == {"campaigns": 6, "ad_groups": 12, "ads": 24}
    assert counters["by_key"][next(iter(counters["by_key"]))]["max_in_window"] <= LIMIT


async def test_in_redis_a_waiting_poll_holds_the_reserve_back_from_submissions(
    redis: tuple[Redis, str],
) -> None:
    client_redis, prefix = redis
    one = RedisBudget(client_redis, prefix, "acct", 10, 0.3, slack=0.05)
    other = RedisBudget(client_redis, prefix, "acct", 10, 0.3, slack=0.05)  # another worker's view
    assert one.poll_reserve == 1
    assert [await one.try_take("submit") for _ in range(10)] == [0.0] * 10  # no poll waits: all 10
    assert await other.try_take("poll") > 0
    await asyncio.sleep(0.4)  # the window passes; the poll still waits
    taken = [await one.try_take("submit") for _ in range(10)]
    assert taken[:9] == [0.0] * 9
    assert taken[9] > 0, "the last slot is the waiting poll's"
    assert await other.try_take("poll") == 0.0
