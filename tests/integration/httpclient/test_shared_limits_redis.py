"""Shared rate limits and breakers against a real Redis, with several "processes" calling one upstream.

Each ``RedisCoordination`` has its own connections, as a process would; some tests also start real
processes. The upstream is a tiny server on 127.0.0.1 that stamps each request's arrival, so the
limit is checked where it matters: at the upstream. Needs ``CROSSDOCK_TEST_REDIS_URL`` (skipped when
unset, failed when unreachable); every test works under a prefix of its own and deletes its keys.
"""

from __future__ import annotations

import asyncio
import bisect
import select
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator, MutableMapping
from typing import Any

import pytest
import redis

from crossdock.errors import CircuitOpenError, UpstreamUnavailableError
from crossdock.httpclient import (
    BreakerPolicy,
    BreakerRegistry,
    RateLimit,
    RedisCoordination,
    ResilientClient,
    RetryPolicy,
    set_testing,
)
from tests.support.processes import free_port
from tests.support.servers import serve_in_thread

LIMIT = RateLimit(rate=10, burst=10)
ONE_ATTEMPT = RetryPolicy(max_attempts=1)


class ArrivalRecorder:
    """An ASGI upstream stamping every request's arrival (monotonic clock) by path; ``/fail…`` paths
    answer 503, anything else 200."""

    def __init__(self) -> None:
        self.arrivals: defaultdict[str, list[float]] = defaultdict(list)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        self.arrivals[scope["path"]].append(time.monotonic())
        status = 503 if scope["path"].startswith("/fail") else 200
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})


def busiest_second(arrivals: list[float]) -> int:
    """The most arrivals in any closed 1-second window [t, t + 1]."""
    times = sorted(arrivals)
    return max((bisect.bisect_right(times, t + 1.0) - i for i, t in enumerate(times)), default=0)


@pytest.fixture(autouse=True)
def _instant_waits() -> Iterator[None]:
    """Overrides the suite-wide instant waits: these tests are about really waiting."""
    set_testing(False)
    yield
    set_testing(False)


@pytest.fixture(scope="module")
def recorder() -> ArrivalRecorder:
    return ArrivalRecorder()


@pytest.fixture(scope="module")
def upstream_url(recorder: ArrivalRecorder) -> Iterator[str]:
    with serve_in_thread(recorder) as base_url:
        yield base_url


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix no other test uses; its keys are deleted afterwards."""
    name = f"crossdock-test-{uuid.uuid4().hex}"
    yield name
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{name}:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
async def coordinations(redis_url: str, prefix: str) -> AsyncIterator[list[RedisCoordination]]:
    """Four coordinations on one prefix, each with its own connections: four processes' worth."""
    built = [RedisCoordination(redis_url, prefix) for _ in range(4)]
    yield built
    for coordination in built:
        await coordination.aclose()


def client_of(
    coordination: RedisCoordination, base_url: str, upstream: str, **options: Any
) -> ResilientClient:
    """A client as a separate process would build it: its own breaker registry, the shared coordination."""
    return ResilientClient(
        upstream, base_url=base_url, registry=BreakerRegistry(), coordination=coordination, **options
    )


async def test_four_coordinations_never_exceed_the_limit_at_the_upstream(
    coordinations: list[RedisCoordination], upstream_url: str, recorder: ArrivalRecorder, redis_url: str
) -> None:
    """60 requests from four independent coordinations sharing 10/s: no 1-second window of arrivals
    at the upstream holds more than 10, and the limit is not looser than it needs to be."""
    path = f"/limited/{uuid.uuid4().hex}"
    clients = [client_of(c, upstream_url, "limited-upstream", rate_limit=LIMIT) for c in coordinations]

    async def send_many(client: ResilientClient, count: int) -> None:
        for _ in range(count):
            await client.request("GET", path)

    started = time.monotonic()
    try:
        # Three callers per "process", five requests each: 4 x 3 x 5 = 60.
        await asyncio.gather(*(send_many(client, 5) for client in clients for _ in range(3)))
    finally:
        for client in clients:
            await client.aclose()
    elapsed = time.monotonic() - started

    arrivals = recorder.arrivals[path]
    assert len(arrivals) == 60
    assert busiest_second(arrivals) <= 10
    # Six windows of 10 need at least five full windows in between; nothing slower than a few seconds.
    assert 5.0 <= elapsed < 12.0
    with redis.Redis.from_url(redis_url) as direct:
        key = coordinations[0].limits_key("limited-upstream")
        assert direct.zcard(key) <= 10
        assert 0 < direct.pttl(key) <= 1100


async def test_an_attempt_sent_late_is_counted_from_when_it_went_out(
    coordinations: list[RedisCoordination], redis_url: str
) -> None:
    """The log entry of an attempt whose request left well after its admission moves to that moment."""
    coordination = coordinations[0]
    limiter = coordination.limiter("late-upstream", LIMIT)
    on_sent = await limiter.acquire()
    assert on_sent is not None
    key = coordination.limits_key("late-upstream")
    with redis.Redis.from_url(redis_url) as direct:
        [(_, admitted)] = direct.zrange(key, 0, -1, withscores=True)
        await asyncio.sleep(0.2)
        await on_sent()
        [(_, sent)] = direct.zrange(key, 0, -1, withscores=True)
    assert sent - admitted >= 200_000
    assert limiter.settled == 1


PROCESS_SCRIPT = """
import asyncio, sys
from crossdock.httpclient import RateLimit, RedisCoordination, ResilientClient

async def main(redis_url, prefix, base_url, path, count):
    coordination = RedisCoordination(redis_url, prefix)
    client = ResilientClient(
        "limited-upstream", base_url=base_url, rate_limit=RateLimit(rate=10, burst=10),
        coordination=coordination,
    )
    await coordination.ping()
    print("ready", flush=True)
    sys.stdin.readline()

    async def caller(n):
        for _ in range(n):
            await client.request("GET", path)

    try:
        await asyncio.gather(*(caller(count // 2) for _ in range(2)))
    finally:
        await client.aclose()
        await coordination.aclose()
    print("sent", count)

redis_url, prefix, base_url, path, count = sys.argv[1:]
asyncio.run(main(redis_url, prefix, base_url, path, int(count)))
"""


def first_line(process: subprocess.Popen[str], *, timeout: float) -> str:
    """The next line the process prints, or "" if it prints none within ``timeout`` seconds."""
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], timeout)
    return process.stdout.readline().strip() if readable else ""


def test_three_real_processes_never_exceed_the_limit_at_the_upstream(
    redis_url: str, prefix: str, upstream_url: str, recorder: ArrivalRecorder
) -> None:
    """Three worker-like processes, 10 requests each at a shared 10/s, let go together: no 1-second
    window of arrivals at the upstream holds more than 10."""
    path = f"/processes/{uuid.uuid4().hex}"
    arguments = [redis_url, prefix, upstream_url, path, "10"]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", PROCESS_SCRIPT, *arguments],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = []
    try:
        # Each process says "ready" once imported and connected; then all are let go at once.
        for process in processes:
            assert first_line(process, timeout=20) == "ready", process.communicate(timeout=10)[1][-2000:]
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        for process in processes:
            outputs.append(process.communicate(timeout=30))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=5)
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err[-2000:]
        assert out.strip() == "sent 10"
    arrivals = recorder.arrivals[path]
    assert len(arrivals) == 30
    assert busiest_second(arrivals) <= 10


async def test_failures_through_one_process_open_the_circuit_for_another(
    coordinations: list[RedisCoordination], upstream_url: str, recorder: ArrivalRecorder
) -> None:
    """Three failures through one coordination open the shared circuit: a client on another one refuses
    without sending anything; after the cool-down its probe goes, and its success closes the circuit."""
    first, second = coordinations[:2]
    key = uuid.uuid4().hex
    policy = BreakerPolicy(failure_threshold=3, reset_timeout=1.0)
    failing = client_of(first, upstream_url, "flaky-upstream", retry=ONE_ATTEMPT, breaker_policy=policy)
    healthy = client_of(second, upstream_url, "flaky-upstream", retry=ONE_ATTEMPT, breaker_policy=policy)
    try:
        for _ in range(3):
            with pytest.raises(UpstreamUnavailableError):
                await failing.request("GET", f"/fail/{key}")
        shared = await second.breaker_state("flaky-upstream")
        assert shared.is_open
        assert shared.consecutive_failures == 3
        assert 0.5 < shared.seconds_until_probe <= 1.0
        assert shared.opened_at is not None
        assert abs(shared.opened_at - time.time()) < 5

        with pytest.raises(CircuitOpenError):
            await healthy.request("GET", f"/ok/{key}")
        assert recorder.arrivals[f"/ok/{key}"] == []
        assert healthy.breaker.state == "open"

        await asyncio.sleep(shared.seconds_until_probe + 0.05)
        response = await healthy.request("GET", f"/ok/{key}")
        assert response.status_code == 200
        assert len(recorder.arrivals[f"/ok/{key}"]) == 1
        closed = await first.breaker_state("flaky-upstream")
        assert not closed.is_open
        assert closed.consecutive_failures == 0
        assert len(recorder.arrivals[f"/fail/{key}"]) == 3
    finally:
        await failing.aclose()
        await healthy.aclose()


async def test_a_failed_probe_reopens_the_circuit_for_everyone(
    coordinations: list[RedisCoordination], upstream_url: str
) -> None:
    """After the cool-down, a probe that fails re-opens the shared circuit for a full cool-down."""
    first, second = coordinations[:2]
    key = uuid.uuid4().hex
    policy = BreakerPolicy(failure_threshold=2, reset_timeout=0.5)
    client = client_of(first, upstream_url, "probe-upstream", retry=ONE_ATTEMPT, breaker_policy=policy)
    try:
        for _ in range(2):
            with pytest.raises(UpstreamUnavailableError):
                await client.request("GET", f"/fail/{key}")
        opened = await second.breaker_state("probe-upstream")
        await asyncio.sleep(opened.seconds_until_probe + 0.05)
        with pytest.raises(UpstreamUnavailableError):
            await client.request("GET", f"/fail/{key}")
        reopened = await second.breaker_state("probe-upstream")
        assert reopened.is_open
        assert reopened.consecutive_failures == 3
        assert reopened.opened_at is not None
        assert opened.opened_at is not None
        assert reopened.opened_at > opened.opened_at
        assert reopened.seconds_until_probe > 0.4
    finally:
        await client.aclose()


async def test_an_unreachable_redis_fails_the_call_naming_the_host_but_no_password(
    upstream_url: str, recorder: ArrivalRecorder
) -> None:
    """With Redis down nothing is sent: the error names host and port, never the password; recording a
    verdict stays silent (best effort)."""
    port = free_port()
    coordination = RedisCoordination(f"redis://:not-the-real-password@127.0.0.1:{port}/0", "unreachable")
    path = f"/unsent/{uuid.uuid4().hex}"
    client = client_of(coordination, upstream_url, "any-upstream", rate_limit=LIMIT)
    try:
        with pytest.raises(UpstreamUnavailableError) as caught:
            await client.request("GET", path)
        message = caught.value.message
        assert f"127.0.0.1:{port}" in message
        assert "not-the-real-password" not in message
        assert "\n" not in message
        assert recorder.arrivals[path] == []
        with pytest.raises(UpstreamUnavailableError):
            await coordination.limiter("any-upstream", LIMIT).acquire()
        with pytest.raises(UpstreamUnavailableError):
            await coordination.ping()
        assert await coordination.record_failure("any-upstream", BreakerPolicy()) is None
        await coordination.record_success("any-upstream")
    finally:
        await client.aclose()
        await coordination.aclose()
