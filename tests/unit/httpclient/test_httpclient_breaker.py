"""The per-upstream circuit breaker: opening, refusing without I/O, half-open probes, and the registry."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from crossdock.errors import CircuitOpenError, UpstreamNotFoundError, UpstreamUnavailableError
from crossdock.httpclient import (
    BreakerPolicy,
    BreakerRegistry,
    CircuitBreaker,
    ResilientClient,
    RetryPolicy,
    default_registry,
)
from crossdock.httpclient.testing import FakeClock, RecordingHooks
from tests.support.http_mocks import Script

MakeClient = Callable[..., ResilientClient]
ONE_ATTEMPT = RetryPolicy(max_attempts=1)
BREAKER = BreakerPolicy(failure_threshold=3, reset_timeout=30)


async def fail_times(client: ResilientClient, times: int) -> None:
    for _ in range(times):
        with pytest.raises(UpstreamUnavailableError):
            await client.request("GET", "/x")


async def test_opens_after_threshold_consecutive_failures(
    make_client: MakeClient, registry: BreakerRegistry, clock: FakeClock, hooks: RecordingHooks
) -> None:
    """N consecutive retryable failures open the circuit; the snapshot shows when it opened."""
    client = make_client(Script([503]), retry=ONE_ATTEMPT, breaker_policy=BREAKER)
    await fail_times(client, 2)
    assert registry.snapshot()["marketplace"].state == "closed"
    assert registry.snapshot()["marketplace"].consecutive_failures == 2
    await fail_times(client, 1)
    snapshot = registry.snapshot()["marketplace"]
    assert snapshot.state == "open"
    assert snapshot.consecutive_failures == 3
    assert snapshot.opened_at == clock.time()
    assert [(t.old_state, t.new_state) for t in hooks.transitions] == [("closed", "open")]


async def test_open_circuit_rejects_without_calling_the_transport(make_client: MakeClient) -> None:
    """While open, a call raises CircuitOpenError at once and the transport is never called."""
    script = Script([503])
    client = make_client(script, retry=ONE_ATTEMPT, breaker_policy=BREAKER)
    await fail_times(client, 3)
    calls_before = script.calls
    with pytest.raises(CircuitOpenError) as caught:
        await client.request("GET", "/x")
    assert script.calls == calls_before
    assert caught.value.attempts == 0
    assert caught.value.upstream == "marketplace"
    assert "not sent" in str(caught.value)


async def test_breaker_opening_mid_retries_stops_them(make_client: MakeClient, clock: FakeClock) -> None:
    """If the circuit opens during a call's retries, the call stops with CircuitOpenError (no wait)."""
    script = Script([503])
    client = make_client(script, retry=RetryPolicy(max_attempts=10), breaker_policy=BREAKER)
    with pytest.raises(CircuitOpenError) as caught:
        await client.request("GET", "/x")
    assert script.calls == 3
    assert caught.value.attempts == 3
    assert len(clock.sleeps) == 2
    assert "HTTP 503" in str(caught.value)


async def test_goes_half_open_after_the_cool_down(
    make_client: MakeClient, registry: BreakerRegistry, clock: FakeClock
) -> None:
    """Once reset_timeout has passed the snapshot reads half_open, before any probe is sent."""
    client = make_client(Script([503]), retry=ONE_ATTEMPT, breaker_policy=BREAKER)
    await fail_times(client, 3)
    clock.advance(29.9)
    assert registry.snapshot()["marketplace"].state == "open"
    clock.advance(0.1)
    assert registry.snapshot()["marketplace"].state == "half_open"


async def test_probe_success_closes_the_circuit(
    make_client: MakeClient, registry: BreakerRegistry, clock: FakeClock, hooks: RecordingHooks
) -> None:
    """In half-open, a successful probe closes the circuit and resets the failure count."""
    script = Script([503, 503, 503, 200])
    client = make_client(script, retry=ONE_ATTEMPT, breaker_policy=BREAKER)
    await fail_times(client, 3)
    clock.advance(30)
    response = await client.request("GET", "/x")
    assert response.status_code == 200
    snapshot = registry.snapshot()["marketplace"]
    assert (snapshot.state, snapshot.consecutive_failures, snapshot.opened_at) == ("closed", 0, None)
    assert [(t.old_state, t.new_state) for t in hooks.transitions] == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]


async def test_probe_failure_reopens_and_restarts_the_cool_down(
    make_client: MakeClient, registry: BreakerRegistry, clock: FakeClock
) -> None:
    """A failed probe re-opens the circuit; the next probe waits a full reset_timeout again."""
    script = Script([503])
    client = make_client(script, retry=ONE_ATTEMPT, breaker_policy=BREAKER)
    await fail_times(client, 3)
    clock.advance(30)
    await fail_times(client, 1)
    snapshot = registry.snapshot()["marketplace"]
    assert snapshot.state == "open"
    assert snapshot.opened_at == clock.time()
    calls = script.calls
    clock.advance(20)
    with pytest.raises(CircuitOpenError):
        await client.request("GET", "/x")
    assert script.calls == calls
    clock.advance(10)
    assert registry.snapshot()["marketplace"].state == "half_open"


async def test_half_open_allows_exactly_one_probe(make_client: MakeClient, clock: FakeClock) -> None:
    """While the half-open probe is in flight, other calls are refused without I/O."""
    release = asyncio.Event()
    calls = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls <= 3:
            return httpx.Response(503)
        await release.wait()
        return httpx.Response(200)

    client = make_client(handler, retry=ONE_ATTEMPT, breaker_policy=BREAKER)
    await fail_times(client, 3)
    clock.advance(30)
    probe = asyncio.create_task(client.request("GET", "/x"))
    await asyncio.sleep(0)
    while calls < 4:
        await asyncio.sleep(0)
    with pytest.raises(CircuitOpenError, match="a probe is in flight"):
        await client.request("GET", "/x")
    release.set()
    assert (await probe).status_code == 200
    assert calls == 4
    assert (await client.request("GET", "/x")).status_code == 200


async def test_cancelled_probe_frees_the_probe_slot(make_client: MakeClient, clock: FakeClock) -> None:
    """A probe cancelled mid-flight gives no verdict: the circuit stays half-open for the next caller."""
    calls = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls <= 3:
            return httpx.Response(503)
        if calls == 4:
            await asyncio.Event().wait()
        return httpx.Response(200)

    client = make_client(handler, retry=ONE_ATTEMPT, breaker_policy=BREAKER)
    await fail_times(client, 3)
    clock.advance(30)
    probe = asyncio.create_task(client.request("GET", "/x"))
    while calls < 4:
        await asyncio.sleep(0)
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    assert client.breaker.state == "half_open"
    assert (await client.request("GET", "/x")).status_code == 200


@pytest.mark.parametrize("status", [400, 403, 404, 409])
async def test_client_errors_do_not_trip_the_breaker(
    make_client: MakeClient, registry: BreakerRegistry, status: int
) -> None:
    """4xx answers prove the upstream is up: they never count as breaker failures."""
    client = make_client(Script([status]), retry=ONE_ATTEMPT, breaker_policy=BREAKER)
    for _ in range(5):
        with pytest.raises(Exception, match=f"HTTP {status}"):
            await client.request("GET", "/x")
    snapshot = registry.snapshot()["marketplace"]
    assert (snapshot.state, snapshot.consecutive_failures) == ("closed", 0)


async def test_a_success_resets_the_failure_count(make_client: MakeClient, registry: BreakerRegistry) -> None:
    """Failures must be consecutive: a success (or a 404) in between starts the count again."""
    client = make_client(
        Script([503, 503, 200, 503, 503, 404, 503, 503]), retry=ONE_ATTEMPT, breaker_policy=BREAKER
    )
    await fail_times(client, 2)
    await client.request("GET", "/x")
    await fail_times(client, 2)
    with pytest.raises(UpstreamNotFoundError):
        await client.request("GET", "/x")
    await fail_times(client, 2)
    assert registry.snapshot()["marketplace"].state == "closed"


async def test_timeouts_and_connection_errors_are_breaker_failures(
    make_client: MakeClient, registry: BreakerRegistry
) -> None:
    """Timeouts and connection errors count toward opening the circuit like 5xx answers."""
    script = Script([httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), 502])
    client = make_client(script, retry=ONE_ATTEMPT, breaker_policy=BREAKER)
    await fail_times(client, 3)
    assert registry.snapshot()["marketplace"].state == "open"


async def test_clients_of_one_upstream_share_its_breaker(
    make_client: MakeClient, registry: BreakerRegistry
) -> None:
    """Two clients for the same upstream name see the same breaker; another upstream has its own."""
    first = make_client(Script([503]), retry=ONE_ATTEMPT, breaker_policy=BREAKER)
    second = make_client(Script([200]), retry=ONE_ATTEMPT)
    other = make_client(Script([200]), retry=ONE_ATTEMPT, upstream="payments")
    await fail_times(first, 3)
    with pytest.raises(CircuitOpenError):
        await second.request("GET", "/x")
    assert (await other.request("GET", "/x")).status_code == 200
    assert set(registry.snapshot()) == {"marketplace", "payments"}
    assert registry.snapshot()["payments"].state == "closed"


def test_registry_creates_once_and_clears() -> None:
    """The registry hands out one breaker per name (first policy wins) and forgets all on clear()."""
    registry = BreakerRegistry()
    first = registry.breaker("a", policy=BreakerPolicy(failure_threshold=2), clock=FakeClock())
    assert registry.breaker("a", policy=BreakerPolicy(failure_threshold=9)) is first
    assert first.policy.failure_threshold == 2
    registry.clear()
    assert registry.snapshot() == {}
    assert isinstance(default_registry, BreakerRegistry)


def test_breaker_reports_time_until_probe() -> None:
    """seconds_until_probe counts down the cool-down of an open breaker and is 0 otherwise."""
    clock = FakeClock()
    breaker = CircuitBreaker("a", BreakerPolicy(failure_threshold=1, reset_timeout=10), clock)
    assert breaker.seconds_until_probe() == 0
    assert breaker.record_failure() == ("closed", "open")
    clock.advance(4)
    assert breaker.seconds_until_probe() == 6
    assert breaker.try_acquire() == (False, None)
