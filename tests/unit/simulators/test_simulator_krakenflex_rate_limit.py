"""The KrakenFlex simulator's 429 + Retry-After fault and POST-log clearing, in process (hand-moved clock)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from crossdock.errors import InvalidInputError
from crossdock.simulators.cli import app as simulate_app
from crossdock.simulators.options import USAGE_ERROR_EXIT_CODE
from crossdock.site_outages.simulator.app import (
    KrakenflexSimulatorOptions,
    create_app,
    generate_api_key,
    load_data,
)

NORWICH = "norwich-pear-tree"
NORWICH_EXPECTED: list[dict[str, str]] = json.loads(load_data("expected-site-outages-norwich-pear-tree.json"))
RATE_LIMITED_BODY = {"message": "You have exceeded your limit for your API key"}


class HandClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def simulator(clock: HandClock, **options: Any) -> AsyncIterator[httpx.AsyncClient]:
    key = generate_api_key()
    app = create_app(KrakenflexSimulatorOptions(api_key=key, **options), clock=clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://simulator", headers={"x-api-key": key}
    ) as client:
        yield client


async def counters(client: httpx.AsyncClient) -> dict[str, Any]:
    state: dict[str, Any] = (await client.get("/_control")).json()
    return dict(state["counters"])


async def test_rate_limit_answers_429_with_retry_after_on_every_endpoint() -> None:
    """At rate 1 each endpoint's first request is 429 with the captured body and Retry-After: 3."""
    clock = HandClock()
    calls = [("GET", "/outages"), ("GET", f"/site-info/{NORWICH}"), ("POST", f"/site-outages/{NORWICH}")]
    async with simulator(clock, rate_limit_rate=1.0, retry_after=3) as client:
        limited, retried = [], []
        for method, path in calls:
            body = NORWICH_EXPECTED if method == "POST" else None
            limited.append(await client.request(method, path, json=body))
            clock.now += 3
            retried.append(await client.request(method, path, json=body))
        posts = (await client.get("/_control/posts")).json()
    for response in limited:
        assert response.status_code == 429
        assert response.headers["retry-after"] == "3"
        assert response.json() == RATE_LIMITED_BODY
    assert [response.status_code for response in retried] == [200, 200, 200]
    assert [post["status"] for post in posts] == [429, 200]


async def test_a_caller_that_waits_as_told_gets_through_once_per_call() -> None:
    """At rate 1: 429, then after Retry-After the retry passes; the next call meets its own 429."""
    clock = HandClock()
    async with simulator(clock, rate_limit_rate=1.0, retry_after=2) as client:
        first = await client.get("/outages")
        clock.now += 2
        retry = await client.get("/outages")
        next_call = await client.get(f"/site-info/{NORWICH}")
        clock.now += 2
        next_retry = await client.get(f"/site-info/{NORWICH}")
        seen = await counters(client)
    assert [r.status_code for r in (first, retry, next_call, next_retry)] == [429, 200, 429, 200]
    assert (seen["rate_limited"], seen["early_retries"]) == (2, 0)


async def test_retrying_before_retry_after_is_refused_again_with_the_time_left() -> None:
    """A request inside the Retry-After window gets 429 again, Retry-After = seconds left (rounded up)."""
    clock = HandClock()
    async with simulator(clock, rate_limit_rate=1.0, retry_after=5) as client:
        await client.get("/outages")
        clock.now += 0.5
        early = await client.get("/outages")
        clock.now += 3.9
        still_early = await client.get("/outages")
        clock.now += 0.6
        on_time = await client.get("/outages")
        seen = await counters(client)
    assert (early.status_code, early.headers["retry-after"]) == (429, "5")
    assert (still_early.status_code, still_early.headers["retry-after"]) == (429, "1")
    assert on_time.status_code == 200
    assert (seen["rate_limited"], seen["early_retries"]) == (3, 2)


async def test_rate_limit_is_checked_after_the_key() -> None:
    """A wrong key is still 403 (the gateway authenticates first), and it does not use up the window."""
    clock = HandClock()
    async with simulator(clock, rate_limit_rate=1.0) as client:
        forbidden = await client.get("/outages", headers={"x-api-key": "wrong"})
        limited = await client.get("/outages")
    assert (forbidden.status_code, limited.status_code) == (403, 429)


async def test_partial_rate_is_seeded_and_combines_with_500s() -> None:
    """At 0.5 about half the requests are limited, the same ones for the same seed; 500s still happen."""
    clock = HandClock()

    async def statuses() -> list[int]:
        async with simulator(clock, rate_limit_rate=0.5, error_rate=0.3, retry_after=0, seed=4) as client:
            return [(await client.get("/outages")).status_code for _ in range(200)]

    first, second = await statuses(), await statuses()
    assert first == second
    assert 60 <= first.count(429) <= 140
    assert first.count(500) > 10
    assert first.count(200) > 40


async def test_zero_rate_leaves_seeded_sequences_unchanged() -> None:
    """With rate_limit_rate 0 the fault and noise rolls are those of a simulator without the option."""
    clock = HandClock()

    async def bodies(**options: Any) -> list[tuple[int, bytes]]:
        async with simulator(clock, error_rate=0.4, seed=9, **options) as client:
            return [((r := await client.get("/outages")).status_code, r.content) for _ in range(20)]

    assert await bodies() == await bodies(rate_limit_rate=0.0, retry_after=30)


async def test_control_sets_rate_limit_and_retry_after_live_and_refuses_bad_values() -> None:
    """PUT /_control changes rate_limit_rate/retry_after (shown by GET), refuses bad ones; reset restores."""
    clock = HandClock()
    async with simulator(clock) as client:
        bad = [
            await client.put("/_control", json=changes)
            for changes in (
                {"rate_limit_rate": 1.5},
                {"rate_limit_rate": "1"},
                {"retry_after": -1},
                {"retry_after": 1.5},
                {"retry_after": 3601},
            )
        ]
        good = await client.put("/_control", json={"rate_limit_rate": 1.0, "retry_after": 7})
        limited = await client.get("/outages")
        reset = await client.post("/_control/reset")
        after_reset = await client.get("/outages")
    assert [r.status_code for r in bad] == [400] * 5
    assert "rate_limit_rate must be a number between 0 and 1" in bad[0].json()["error"]
    assert "retry_after must be a whole number between 0 and 3600" in bad[2].json()["error"]
    assert (good.json()["rate_limit_rate"], good.json()["retry_after"]) == (1.0, 7)
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "7")
    assert (reset.json()["rate_limit_rate"], reset.json()["retry_after"]) == (0.0, 1)
    assert reset.json()["counters"]["rate_limited"] == 0
    assert after_reset.status_code == 200


async def test_delete_posts_empties_the_log_only() -> None:
    """DELETE /_control/posts empties the POST log; counters, faults and the random sequence go on."""
    clock = HandClock()
    async with simulator(clock, error_rate=0.5, seed=3) as client:
        for _ in range(4):
            await client.post(f"/site-outages/{NORWICH}", json=NORWICH_EXPECTED)
        cleared = await client.delete("/_control/posts")
        state = (await client.get("/_control")).json()
        await client.post(f"/site-outages/{NORWICH}", json=NORWICH_EXPECTED)
        posts = (await client.get("/_control/posts")).json()
    assert cleared.status_code == 200
    assert cleared.json() == []
    assert state["counters"]["requests"] == 4
    assert state["counters"]["posts"] == 0
    assert state["error_rate"] == 0.5
    assert len(posts) == 1


def test_options_refuse_bad_rate_limit_values_and_round_trip() -> None:
    """Options check rate_limit_rate (0-1) and retry_after (0-3600 whole seconds) and survive JSON."""
    options = KrakenflexSimulatorOptions(api_key="k", rate_limit_rate=0.25, retry_after=4)
    assert KrakenflexSimulatorOptions.from_json(options.to_json()) == options
    for bad in (
        {"rate_limit_rate": 1.01},
        {"rate_limit_rate": -0.1},
        {"retry_after": -1},
        {"retry_after": 3601},
        {"retry_after": True},
    ):
        with pytest.raises(InvalidInputError):
            KrakenflexSimulatorOptions(api_key="k", **bad)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--rate-limit-rate", "1.5"], "Error: --rate-limit-rate must be between 0 and 1 (got 1.5)"),
        (["--retry-after", "-1"], "Error: --retry-after must be between 0 and 3600 (got -1)"),
        (["--retry-after", "3601"], "Error: --retry-after must be between 0 and 3600 (got 3601)"),
    ],
)
def test_cli_refuses_bad_rate_limit_options_with_exit_code_2(arguments: list[str], message: str) -> None:
    """`crossdock simulate krakenflex` names a bad --rate-limit-rate or --retry-after and exits 2 at once."""
    result = CliRunner().invoke(simulate_app, ["krakenflex", *arguments])
    assert result.exit_code == USAGE_ERROR_EXIT_CODE
    assert message in result.output


def test_cli_help_documents_the_rate_limit_options() -> None:
    """The krakenflex command's help lists --rate-limit-rate and --retry-after."""
    result = CliRunner().invoke(simulate_app, ["krakenflex", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "--rate-limit-rate" in result.output
    assert "--retry-after" in result.output
