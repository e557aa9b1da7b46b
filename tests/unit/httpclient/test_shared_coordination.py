"""Distributed mode's shared limit and breaker as the client uses them, with in-memory coordinations.

Nothing here touches Redis: ``MemoryCoordination`` keeps the shared circuit the way the Redis scripts
do (on the fake clock), ``FakeLimiter`` counts acquisitions. The Redis side is proven in
``tests/integration/httpclient/test_shared_limits_redis.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from crossdock.config import JobsSettings, Settings
from crossdock.errors import CircuitOpenError, ConfigurationError, UpstreamUnavailableError
from crossdock.httpclient import (
    BreakerPolicy,
    BreakerRegistry,
    CircuitBreaker,
    Clock,
    RateLimit,
    RateLimiter,
    RedisCoordination,
    ResilientClient,
    RetryPolicy,
    SharedBreakerState,
    SharedRateLimiter,
    SharedWindow,
    coordination_from_settings,
    current_coordination,
    install_coordination,
    instant_waits,
)
from crossdock.httpclient.testing import FakeClock, RecordingHooks
from tests.support.http_mocks import Script

MakeClient = Callable[..., ResilientClient]
BREAKER = BreakerPolicy(failure_threshold=3, reset_timeout=30)
CLOSED = SharedBreakerState(consecutive_failures=0, opened_at=None, seconds_until_probe=0.0)


class FakeLimiter:
    """A shared limiter that admits at once and counts."""

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit
        self.acquired = 0

    async def acquire(self) -> None:
        self.acquired += 1


@dataclass
class ScriptedWindow:
    """The store side of a SharedRateLimiter: answers ``admit`` from a list of waits, records calls."""

    waits: list[float]
    admitted: list[str] = field(default_factory=list)
    settled: list[str] = field(default_factory=list)

    async def admit(self, member: str) -> float:
        wait = self.waits.pop(0)
        if wait <= 0:
            self.admitted.append(member)
        return wait

    async def settle(self, member: str) -> None:
        self.settled.append(member)

    def limiter(self, clock: FakeClock, limit: RateLimit = RateLimit(rate=10)) -> SharedRateLimiter:
        return SharedRateLimiter("marketplace", limit, admit=self.admit, settle=self.settle, clock=clock)


@dataclass
class _Circuit:
    failures: int = 0
    opened_at: float | None = None
    open_until: float = 0.0


@dataclass
class MemoryCoordination:
    """A Coordination in memory following the rules of the Redis scripts, on ``clock``; ``log``
    records each call as ``(what, upstream)``."""

    clock: FakeClock
    circuits: dict[str, _Circuit] = field(default_factory=dict)
    limiters: dict[str, FakeLimiter] = field(default_factory=dict)
    log: list[tuple[str, str]] = field(default_factory=list)
    unreadable: UpstreamUnavailableError | None = None
    window: ScriptedWindow | None = None
    """When set, limiters are real SharedRateLimiters on this scripted store."""

    def limiter(self, upstream: str, limit: RateLimit, *, clock: Clock) -> FakeLimiter | SharedRateLimiter:
        if self.window is not None:
            return self.window.limiter(clock, limit)
        self.limiters[upstream] = FakeLimiter(limit)
        return self.limiters[upstream]

    async def breaker_state(self, upstream: str) -> SharedBreakerState:
        self.log.append(("read", upstream))
        if self.unreadable is not None:
            raise self.unreadable
        return self._state(upstream)

    async def record_failure(self, upstream: str, policy: BreakerPolicy) -> SharedBreakerState | None:
        self.log.append(("failure", upstream))
        circuit = self.circuits.setdefault(upstream, _Circuit())
        circuit.failures += 1
        now = self.clock.monotonic()
        if circuit.failures >= policy.failure_threshold and circuit.open_until <= now:
            circuit.open_until = now + policy.reset_timeout
            circuit.opened_at = self.clock.time()
        return self._state(upstream)

    async def record_success(self, upstream: str) -> None:
        self.log.append(("success", upstream))
        self.circuits.pop(upstream, None)

    def open(self, upstream: str, *, seconds: float, failures: int = 5) -> None:
        """Open ``upstream``'s shared circuit as another process would have."""
        self.circuits[upstream] = _Circuit(
            failures=failures, opened_at=self.clock.time(), open_until=self.clock.monotonic() + seconds
        )

    def _state(self, upstream: str) -> SharedBreakerState:
        circuit = self.circuits.get(upstream)
        if circuit is None:
            return CLOSED
        remaining = max(0.0, circuit.open_until - self.clock.monotonic())
        return SharedBreakerState(circuit.failures, circuit.opened_at, remaining)


@pytest.fixture
def shared(clock: FakeClock) -> MemoryCoordination:
    return MemoryCoordination(clock)


@pytest.fixture(autouse=True)
def _no_installed_coordination() -> Iterator[None]:
    """Each test starts and ends in embedded mode, whatever it installs."""
    previous = install_coordination(None)
    yield
    install_coordination(previous)


# -- the rate limit -------------------------------------------------------------------------------


async def test_every_attempt_takes_a_slot_of_the_shared_limiter(
    make_client: MakeClient, shared: MemoryCoordination
) -> None:
    """With a coordination the client's limiter is the shared one: retries take a slot each."""
    client = make_client(Script([503, 502, 200]), rate_limit=RateLimit(rate=10, burst=5), coordination=shared)
    await client.request("GET", "/x")
    assert client.rate_limiter is shared.limiters["marketplace"]
    assert shared.limiters["marketplace"].acquired == 3
    assert shared.limiters["marketplace"].limit == RateLimit(rate=10, burst=5)


@pytest.mark.parametrize("limit", [None, RateLimit(rate=0, burst=5)])
async def test_no_rate_limit_asks_for_no_shared_limiter(
    make_client: MakeClient, shared: MemoryCoordination, limit: RateLimit | None
) -> None:
    """A disabled limit stays disabled in distributed mode: no limiter, local or shared."""
    client = make_client(Script([200]), rate_limit=limit, coordination=shared)
    await client.request("GET", "/x")
    assert client.rate_limiter is None
    assert shared.limiters == {}


async def test_an_in_process_limiter_gives_way_to_the_shared_one(
    make_client: MakeClient, shared: MemoryCoordination
) -> None:
    """A RateLimiter passed for sharing inside one process is replaced by the shared limiter of its limit."""
    local = RateLimiter(RateLimit(rate=4, burst=2))
    client = make_client(Script([200]), rate_limit=local, coordination=shared)
    await client.request("GET", "/x")
    assert client.rate_limiter is shared.limiters["marketplace"]
    assert shared.limiters["marketplace"].limit == local.limit
    assert local.acquired == 0


async def test_the_shared_limiter_waits_with_the_clock_until_admitted(clock: FakeClock) -> None:
    """A refusal is waited out on the injected clock, then the window is asked again."""
    window = ScriptedWindow([0.25, 0.1, 0.0])
    limiter = window.limiter(clock)
    await limiter.acquire()
    assert clock.sleeps == [0.25, 0.1]
    assert limiter.acquired == 1
    assert limiter.waited == pytest.approx(0.35)
    assert len(window.admitted) == 1


async def test_each_acquisition_is_logged_under_a_member_of_its_own(clock: FakeClock) -> None:
    """Two acquisitions are two entries of the shared log."""
    window = ScriptedWindow([0.0, 0.0])
    limiter = window.limiter(clock)
    await limiter.acquire()
    await limiter.acquire()
    assert len(set(window.admitted)) == 2


async def test_the_shared_limiter_never_spins_on_a_tiny_wait(clock: FakeClock) -> None:
    """A wait of a few microseconds is rounded up to one millisecond before asking again."""
    await ScriptedWindow([0.000002, 0.0]).limiter(clock).acquire()
    assert clock.sleeps == [0.001]


async def test_instant_waits_skip_shared_limiter_waits(clock: FakeClock) -> None:
    """Under instant_waits() a refusal is not waited for, like the in-process limiter."""
    window = ScriptedWindow([3600.0])
    with instant_waits():
        on_sent = await window.limiter(clock, RateLimit(rate=1 / 3600)).acquire()
    assert on_sent is None
    assert clock.sleeps == []
    assert window.admitted == []


async def test_an_attempt_sent_late_moves_its_log_entry(clock: FakeClock) -> None:
    """Sent right after its admission an attempt keeps its entry; sent later (a new connection, a busy
    loop) its entry is moved to the moment it went out."""
    window = ScriptedWindow([0.0, 0.0])
    limiter = window.limiter(clock)
    on_time = await limiter.acquire()
    assert on_time is not None
    await on_time()
    late = await limiter.acquire()
    assert late is not None
    clock.advance(0.2)
    await late()
    assert window.settled == [window.admitted[1]]
    assert limiter.settled == 1


async def test_the_client_awaits_the_limiter_once_the_headers_are_written(
    make_client: MakeClient, clock: FakeClock
) -> None:
    """The client hands the limiter's callback to httpcore's trace: it runs when the headers are sent."""
    window = ScriptedWindow([0.0, 0.0])

    async def transport(request: httpx.Request) -> httpx.Response:
        clock.advance(0.5)  # a slow connection set-up
        await request.extensions["trace"]("http11.send_request_headers.started", {})
        assert window.settled == []
        await request.extensions["trace"]("http11.send_request_headers.complete", {})
        return httpx.Response(200)

    shared = MemoryCoordination(clock, window=window)
    client = make_client(transport, rate_limit=RateLimit(rate=10), coordination=shared)
    await client.request("GET", "/x")
    assert window.settled == window.admitted


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        (RateLimit(rate=10, burst=10), SharedWindow(capacity=10, period=1.05, burst=10, burst_period=1.0)),
        (RateLimit(rate=20, burst=10), SharedWindow(capacity=20, period=1.05, burst=10, burst_period=0.5)),
        (RateLimit(rate=10, burst=50), SharedWindow(capacity=10, period=1.05, burst=10, burst_period=1.0)),
        (RateLimit(rate=2.5, burst=5), SharedWindow(capacity=2, period=1.05, burst=2, burst_period=0.8)),
        (RateLimit(rate=0.5, burst=3), SharedWindow(capacity=1, period=2.05, burst=1, burst_period=2.0)),
    ],
)
def test_a_rate_limit_maps_to_a_window_no_second_exceeds(limit: RateLimit, expected: SharedWindow) -> None:
    """floor(rate) per 1 s + slack (one per 1/rate + slack below 1/s); burst caps bursts, never the rate."""
    window = SharedWindow.of(limit)
    assert window.capacity == expected.capacity
    assert window.period == pytest.approx(expected.period)
    assert window.burst == expected.burst
    assert window.burst_period == pytest.approx(expected.burst_period)


def test_the_window_slack_is_a_parameter_and_a_disabled_limit_has_no_window() -> None:
    """slack=0 counts exactly one second; a rate of 0 cannot be shared."""
    assert SharedWindow.of(RateLimit(rate=5), slack=0).period == 1.0
    with pytest.raises(ConfigurationError):
        SharedWindow.of(RateLimit(rate=0))


# -- the breaker ----------------------------------------------------------------------------------


async def test_an_open_shared_circuit_refuses_without_sending(
    make_client: MakeClient, shared: MemoryCoordination, hooks: RecordingHooks, clock: FakeClock
) -> None:
    """Another process opened the circuit: this client refuses at once, with the shared cool-down left."""
    script = Script([200])
    client = make_client(script, breaker_policy=BREAKER, rate_limit=RateLimit(rate=10), coordination=shared)
    shared.open("marketplace", seconds=12, failures=7)
    with pytest.raises(CircuitOpenError) as caught:
        await client.request("GET", "/x")
    assert script.calls == 0
    assert shared.limiters["marketplace"].acquired == 0
    assert "after 7 consecutive failures" in caught.value.message
    assert "next probe in 12.0s" in caught.value.message
    assert client.breaker.seconds_until_probe() == pytest.approx(12)
    assert client.breaker.snapshot().opened_at == clock.time()
    assert [(t.old_state, t.new_state) for t in hooks.transitions] == [("closed", "open")]


async def test_verdicts_are_written_back_after_each_attempt(
    make_client: MakeClient, shared: MemoryCoordination
) -> None:
    """Before each attempt the shared circuit is read; after it, its failure or success is written."""
    client = make_client(Script([503, 200]), coordination=shared)
    await client.request("GET", "/x")
    assert shared.log == [
        ("read", "marketplace"),
        ("failure", "marketplace"),
        ("read", "marketplace"),
        ("success", "marketplace"),
    ]


async def test_failures_through_one_client_open_the_circuit_for_another(
    make_client: MakeClient, shared: MemoryCoordination, hooks: RecordingHooks
) -> None:
    """Two processes' failures add up: the third opens the shared circuit, and the other process's
    client, whose own breaker saw only two, refuses its next call without sending."""
    first_script, second_script = Script([503, 503, 200]), Script([503, 200])
    first = make_client(
        first_script, retry=RetryPolicy(max_attempts=2), breaker_policy=BREAKER, coordination=shared
    )
    second = make_client(
        second_script,
        retry=RetryPolicy(max_attempts=1),
        breaker_policy=BREAKER,
        coordination=shared,
        registry=BreakerRegistry(),
    )
    with pytest.raises(UpstreamUnavailableError):
        await first.request("GET", "/x")
    assert first.breaker.state == "closed"
    with pytest.raises(UpstreamUnavailableError):
        await second.request("GET", "/x")
    # The second process's own count is 1; the shared one reached 3 and opened it for both.
    assert second.breaker.state == "open"
    with pytest.raises(CircuitOpenError):
        await first.request("GET", "/x")
    assert first_script.calls == 2
    assert first.breaker.snapshot().consecutive_failures == 3


async def test_a_shared_count_at_the_threshold_stops_the_retries(
    make_client: MakeClient, shared: MemoryCoordination
) -> None:
    """When this attempt's failure opens the shared circuit, the retry loop gives up at once."""
    script = Script([503])
    client = make_client(script, breaker_policy=BREAKER, coordination=shared)
    shared.circuits["marketplace"] = _Circuit(failures=2)
    with pytest.raises(UpstreamUnavailableError) as caught:
        await client.request("GET", "/x")
    assert script.calls == 1
    assert "circuit breaker opened" in caught.value.message


async def test_after_the_shared_cool_down_a_probe_goes_and_closes_the_circuit(
    make_client: MakeClient, shared: MemoryCoordination, clock: FakeClock, hooks: RecordingHooks
) -> None:
    """Once the shared cool-down has passed one probe is sent; its success closes the shared circuit."""
    script = Script([200])
    client = make_client(script, breaker_policy=BREAKER, coordination=shared)
    shared.open("marketplace", seconds=30)
    with pytest.raises(CircuitOpenError):
        await client.request("GET", "/x")
    clock.advance(30)
    await client.request("GET", "/x")
    assert script.calls == 1
    assert "marketplace" not in shared.circuits
    assert client.breaker.state == "closed"
    assert [(t.old_state, t.new_state) for t in hooks.transitions] == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]


async def test_an_unreadable_shared_state_fails_the_call_without_sending(
    make_client: MakeClient, shared: MemoryCoordination
) -> None:
    """If the shared state cannot be read (Redis down), nothing is sent and the error says so."""
    script = Script([200])
    client = make_client(script, coordination=shared)
    shared.unreadable = UpstreamUnavailableError("redis is down", upstream="marketplace", attempts=0)
    with pytest.raises(UpstreamUnavailableError) as caught:
        await client.request("GET", "/x")
    assert caught.value is shared.unreadable
    assert script.calls == 0


def test_force_open_adopts_the_shared_cool_down(clock: FakeClock) -> None:
    """force_open opens with the remaining cool-down given; on an open breaker it only realigns."""
    breaker = CircuitBreaker("m", BREAKER, clock)
    assert breaker.force_open(seconds_until_probe=0, opened_at=None, consecutive_failures=3) is None
    assert breaker.state == "closed"
    transition = breaker.force_open(seconds_until_probe=40, opened_at=123.0, consecutive_failures=9)
    assert transition == ("closed", "open")
    assert breaker.seconds_until_probe() == pytest.approx(40)
    assert breaker.snapshot().opened_at == 123.0
    assert breaker.snapshot().consecutive_failures == 9
    assert breaker.force_open(seconds_until_probe=5, opened_at=123.0, consecutive_failures=9) is None
    clock.advance(5)
    assert breaker.state == "half_open"


# -- installing and building ----------------------------------------------------------------------


async def test_the_installed_coordination_is_every_clients_default(
    make_client: MakeClient, shared: MemoryCoordination, clock: FakeClock
) -> None:
    """install_coordination makes clients built afterwards use it; a client's own argument wins."""
    assert current_coordination() is None
    assert make_client(Script([200])).coordination is None
    assert install_coordination(shared) is None
    assert make_client(Script([200])).coordination is shared
    other = MemoryCoordination(clock)
    assert make_client(Script([200]), coordination=other).coordination is other
    assert install_coordination(None) is shared
    assert make_client(Script([200])).coordination is None


def test_embedded_settings_build_no_coordination() -> None:
    """Without CROSSDOCK_BROKER_URL there is nothing to share."""
    assert coordination_from_settings(Settings(jobs=JobsSettings.model_validate({}))) is None


def test_distributed_settings_without_redis_are_refused() -> None:
    """An amqp:// broker and no CROSSDOCK_REDIS_URL: one line saying what to set."""
    jobs = JobsSettings.model_validate({"CROSSDOCK_BROKER_URL": "amqp://broker.test:5672/"})
    with pytest.raises(ConfigurationError) as caught:
        coordination_from_settings(Settings(jobs=jobs))
    assert caught.value.message == "distributed mode needs Redis for shared limits: set CROSSDOCK_REDIS_URL"


async def test_distributed_settings_build_a_redis_coordination_on_the_queue_prefix() -> None:
    """A redis:// broker serves as the shared store; keys start with the queue name (nothing connects)."""
    jobs = JobsSettings.model_validate(
        {"CROSSDOCK_BROKER_URL": "redis://redis.test:6380/2", "queue": "crossdock-blue"}
    )
    coordination = coordination_from_settings(Settings(jobs=jobs))
    assert isinstance(coordination, RedisCoordination)
    try:
        assert coordination.where == "redis.test:6380"
        assert coordination.limits_key("krakenflex") == "crossdock-blue:limits:krakenflex"
        assert coordination.breaker_key("krakenflex") == "crossdock-blue:breaker:krakenflex"
    finally:
        await coordination.aclose()
