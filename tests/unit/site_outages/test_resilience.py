"""The platform's own retry budget and breaker: defaults, overrides, and what they achieve at 40 % 500s.

Every run here goes through ``provider.build_client`` (the settings the CLI uses) on an
``httpx.MockTransport`` fake of the platform, with the fake clock: nothing sleeps or opens a socket.
"""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from crossdock.config import HttpSettings, Settings
from crossdock.errors import CircuitOpenError, ConfigurationError, UpstreamUnavailableError
from crossdock.httpclient import BreakerRegistry, ResilientClient, set_testing
from crossdock.httpclient.testing import FakeClock, RecordingHooks
from crossdock.site_outages import SiteOutagesSettings, process_site_outages, provider
from crossdock.site_outages.simulator.app import load_data

KEY = "test-" + secrets.token_hex(12)  # generated per run: never a real credential
SITE = "norwich-pear-tree"
OUTAGES = load_data("outages.json")
SITE_INFO = load_data("site-info-norwich-pear-tree.json")
EXPECTED: list[dict[str, str]] = json.loads(load_data("expected-site-outages-norwich-pear-tree.json"))

RUNS = 1000
TARGET = 0.995


@pytest.fixture(autouse=True)
def _waits_through_the_fake_clock() -> Iterator[None]:
    """Waits go through the FakeClock (which records them) instead of the suite-wide instant switch."""
    set_testing(False)
    yield
    set_testing(True)


@dataclass
class FlakyPlatform:
    """A MockTransport handler faking the platform: ``error_rate`` of all requests answer 500, and the
    first ``rate_limited`` attempt of each call answers 429 with ``Retry-After``."""

    rng: random.Random
    error_rate: float = 0.0
    retry_after: str | None = None
    posts: list[tuple[int, Any]] = field(default_factory=list)
    requests: int = 0
    _limited_last: bool = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        response = self._answer(request)
        if request.method == "POST":
            self.posts.append((response.status_code, json.loads(request.content)))
        return response

    def _answer(self, request: httpx.Request) -> httpx.Response:
        if self.retry_after is not None:
            # Strict alternation: each call's first attempt is refused, its retry is let through.
            self._limited_last = not self._limited_last
            if self._limited_last:
                return httpx.Response(
                    429, headers={"retry-after": self.retry_after}, json={"message": "slow"}
                )
        if self.rng.random() < self.error_rate:
            return httpx.Response(500, json={"message": "Internal server error"})
        path = request.url.path
        if path.endswith("/outages"):
            return httpx.Response(200, content=OUTAGES)
        if path.endswith(f"/site-info/{SITE}"):
            return httpx.Response(200, content=SITE_INFO)
        if path.endswith(f"/site-outages/{SITE}") and json.loads(request.content) == EXPECTED:
            return httpx.Response(200)
        return httpx.Response(400, json={"message": "Unexpected outages received"})

    def accepted(self) -> list[Any]:
        return [body for status, body in self.posts if status == 200]


def settings(**group: Any) -> Settings:
    return Settings(http=HttpSettings()).with_groups(SiteOutagesSettings(api_key=SecretStr(KEY), **group))


def client_for(
    platform: FlakyPlatform, clock: FakeClock, registry: BreakerRegistry, all_settings: Settings | None = None
) -> ResilientClient:
    """The platform's client as the CLI builds it, on the fake transport and clock."""
    return provider.build_client(
        all_settings or settings(),
        RecordingHooks(),
        transport=httpx.MockTransport(platform),
        clock=clock,
        registry=registry,
        rng=platform.rng,
        rate_limit=None,
    )


async def one_run(client: ResilientClient, all_settings: Settings | None = None) -> bool:
    try:
        await process_site_outages(
            client=client, settings=(all_settings or settings()).of(SiteOutagesSettings), site_id=SITE
        )
    except UpstreamUnavailableError:
        return False
    return True


def test_defaults_replace_the_shared_retry_budget_and_breaker() -> None:
    """With nothing set, the platform gets 10 attempts, 0.2-2 s backoff, a 30 s budget and a breaker at 12."""
    http = provider.http_settings(settings())
    assert (http.max_attempts, http.backoff_initial, http.backoff_max) == (10, 0.2, 2.0)
    assert (http.max_retry_seconds, http.breaker_failure_threshold) == (30.0, 12)
    assert (http.max_wait, http.total_timeout, http.rate_limit) == (30.0, 120.0, 20.0)


def test_environment_overrides_reach_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    """CROSSDOCK_SITE_OUTAGES_* retry settings win for the platform; other CROSSDOCK_HTTP_* still apply."""
    monkeypatch.setenv("CROSSDOCK_SITE_OUTAGES_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("CROSSDOCK_SITE_OUTAGES_BREAKER_FAILURE_THRESHOLD", "4")
    monkeypatch.setenv("CROSSDOCK_HTTP_MAX_ATTEMPTS", "7")
    monkeypatch.setenv("CROSSDOCK_HTTP_READ_TIMEOUT", "9")
    base = Settings()
    group = base.of(SiteOutagesSettings).model_copy(update={"api_key": SecretStr(KEY)})
    client = provider.build_client(base.with_groups(group), RecordingHooks(), registry=BreakerRegistry())
    assert client.retry_policy.max_attempts == 3
    assert client.breaker.policy.failure_threshold == 4
    assert client.timeouts.read == 9


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CROSSDOCK_SITE_OUTAGES_MAX_ATTEMPTS", "0"),
        ("CROSSDOCK_SITE_OUTAGES_MAX_ATTEMPTS", "21"),
        ("CROSSDOCK_SITE_OUTAGES_MAX_RETRY_SECONDS", "0"),
        ("CROSSDOCK_SITE_OUTAGES_BACKOFF_MAX", "-1"),
        ("CROSSDOCK_SITE_OUTAGES_BREAKER_FAILURE_THRESHOLD", "0"),
    ],
)
def test_out_of_range_retry_settings_are_configuration_errors(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """Attempts stay between 1 and 20, times positive, the threshold at least 1: else one line naming it."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=f"^invalid setting {variable}: "):
        Settings()


def test_for_upstream_copies_with_overrides_and_keeps_what_is_none() -> None:
    """HttpSettings.for_upstream replaces given fields, keeps None ones, validates, refuses unknown names."""
    shared = HttpSettings(max_attempts=4, read_timeout=9)
    copy = shared.for_upstream(max_attempts=10, backoff_max=None)
    assert (copy.max_attempts, copy.backoff_max, copy.read_timeout) == (10, shared.backoff_max, 9)
    assert shared.max_attempts == 4
    assert shared.for_upstream(max_attempts=None) == shared
    with pytest.raises(ConfigurationError, match="max_attempts"):
        shared.for_upstream(max_attempts=0)
    with pytest.raises(ConfigurationError, match="unknown HTTP client settings: nope"):
        shared.for_upstream(nope=1)


async def test_default_settings_meet_the_target_at_forty_percent_500s() -> None:
    """1,000 runs at 40 % 500s on every call (POST included): >= 99.5 % post the exact body, accepted once."""
    rng = random.Random(7)
    defaults = settings()  # read once: the CLI reads the environment once per run too
    succeeded = 0
    worst_seconds = 0.0
    for _ in range(RUNS):
        # Each CLI run is a new process: a fresh breaker and clock.
        platform = FlakyPlatform(rng=rng, error_rate=0.4)
        clock = FakeClock()
        async with client_for(platform, clock, BreakerRegistry(), defaults) as client:
            ok = await one_run(client, defaults)
        worst_seconds = max(worst_seconds, clock.slept)
        if ok:
            assert platform.accepted() == [EXPECTED]
            succeeded += 1
        else:
            assert platform.accepted() == []
    assert succeeded / RUNS >= TARGET, f"{succeeded} of {RUNS} runs succeeded"
    assert worst_seconds <= 3 * 30.0


async def test_a_call_failing_every_time_gives_up_after_ten_attempts_within_budget() -> None:
    """500 on every attempt: 10 attempts, waits under the backoff ceilings (<= 13 s), not the breaker."""
    platform = FlakyPlatform(rng=random.Random(1), error_rate=1.0)
    clock = FakeClock()
    async with client_for(platform, clock, BreakerRegistry()) as client:
        with pytest.raises(UpstreamUnavailableError) as caught:
            await one_run_raising(client)
    assert not isinstance(caught.value, CircuitOpenError)
    assert platform.requests == caught.value.attempts == 10
    assert "attempts exhausted" in caught.value.message
    assert len(clock.sleeps) == 9
    ceilings = [0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0, 2.0, 2.0]
    assert all(0 <= wait <= ceiling for wait, ceiling in zip(clock.sleeps, ceilings, strict=True))


async def one_run_raising(client: ResilientClient) -> None:
    await process_site_outages(client=client, settings=settings().of(SiteOutagesSettings), site_id=SITE)


async def test_sustained_outage_opens_the_breaker_for_the_next_run_in_the_same_process() -> None:
    """In a long-lived process a failed run leaves 10 failures: 2 more open the circuit (threshold 12)."""
    platform = FlakyPlatform(rng=random.Random(1), error_rate=1.0)
    clock = FakeClock()
    registry = BreakerRegistry()
    async with client_for(platform, clock, registry) as client:
        with pytest.raises(UpstreamUnavailableError):
            await one_run_raising(client)
        with pytest.raises(UpstreamUnavailableError) as second:
            await one_run_raising(client)
        assert platform.requests == 12
        with pytest.raises(CircuitOpenError):
            await one_run_raising(client)
    assert "circuit breaker opened" in second.value.message
    assert platform.requests == 12


async def test_retry_after_on_every_call_is_honoured() -> None:
    """429 + Retry-After: 7 on each call's first attempt: the run succeeds after waiting 7 s three times."""
    platform = FlakyPlatform(rng=random.Random(1), retry_after="7")
    clock = FakeClock()
    async with client_for(platform, clock, BreakerRegistry()) as client:
        result = await process_site_outages(
            client=client, settings=settings().of(SiteOutagesSettings), site_id=SITE
        )
    assert (result.outcome, result.attempts, result.retries) == ("success", 6, 3)
    assert clock.sleeps == [7.0, 7.0, 7.0]
    assert platform.accepted() == [EXPECTED]


async def test_retry_after_beyond_the_call_budget_fails_at_once() -> None:
    """A Retry-After the call's time budget cannot hold ends the call without waiting (bounded time)."""
    platform = FlakyPlatform(rng=random.Random(1), retry_after="3600")
    clock = FakeClock()
    async with client_for(platform, clock, BreakerRegistry()) as client:
        with pytest.raises(UpstreamUnavailableError, match="time budget of 30s"):
            await one_run_raising(client)
    assert clock.sleeps == []
    assert platform.requests == 1
