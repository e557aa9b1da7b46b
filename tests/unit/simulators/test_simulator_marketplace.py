"""The marketplace simulator app, in process through httpx.ASGITransport: scenarios, faults, control API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from crossdock.errors import InvalidInputError
from crossdock.marketplace.simulator.app import (
    PLANLIST_SAMPLE_FILE,
    SAMPLE_FILES,
    STREAM_CHUNK_SIZE,
    MarketplaceSimulatorOptions,
    create_app,
    load_sample,
)
from crossdock.marketplace.simulator.feeds import generated_feed_bytes

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures" / "fever"
SAMPLES = [load_sample(name) for name in SAMPLE_FILES]


@asynccontextmanager
async def simulator(**options: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(MarketplaceSimulatorOptions(**options))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://simulator"
    ) as client:
        yield client


async def control(client: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    response = await client.put("/_control", json=changes)
    assert response.status_code == 200, response.text
    state: dict[str, Any] = response.json()
    return state


def test_packaged_samples_are_byte_identical_to_the_fixtures() -> None:
    """The package carries exact copies of the published samples."""
    for name in SAMPLE_FILES:
        assert load_sample(name) == (FIXTURES / name).read_bytes()
    assert (
        load_sample(PLANLIST_SAMPLE_FILE) == (FIXTURES / "planlist_variant" / "response_1.xml").read_bytes()
    )


async def test_samples_rotate_one_two_three_one() -> None:
    """Each full answer moves to the next sample, wrapping around after response 3."""
    async with simulator() as client:
        bodies = [(await client.get("/api/events")) for _ in range(4)]
    assert [r.status_code for r in bodies] == [200] * 4
    assert [r.content for r in bodies] == [*SAMPLES, SAMPLES[0]]
    assert bodies[0].headers["content-type"] == "application/xml"
    assert bodies[0].headers["content-length"] == str(len(SAMPLES[0]))


async def test_static_samples_repeat_the_same_step() -> None:
    """With rotate off the simulator serves the chosen step forever."""
    async with simulator(rotate=False) as client:
        await control(client, step=2)
        bodies = {(await client.get("/api/events")).content for _ in range(3)}
    assert bodies == {SAMPLES[2]}


async def test_faults_answer_5xx_and_do_not_advance_the_rotation() -> None:
    """error_rate=1 gives 500/502/503 only, and the next good answer is still response 1."""
    async with simulator() as client:
        await control(client, error_rate=1.0)
        failures = [await client.get("/api/events") for _ in range(20)]
        await control(client, error_rate=0.0)
        after = await client.get("/api/events")
        state = (await client.get("/_control")).json()
    assert {r.status_code for r in failures} <= {500, 502, 503}
    assert len({r.status_code for r in failures}) > 1
    assert all(r.headers["retry-after"] == "1" for r in failures if r.status_code == 503)
    assert after.content == SAMPLES[0]
    assert state["counters"] == {
        "requests": 21,
        "served": 1,
        "faults": {"down": 0, "timeout": 0, "error": 20, "truncate": 0},
    }
    assert state["step"] == 1


async def test_fault_rolls_repeat_for_the_same_seed() -> None:
    """Two simulators with the same seed fail the same requests in the same way."""
    runs = []
    for _ in range(2):
        async with simulator(error_rate=0.5, seed=3) as client:
            runs.append([(await client.get("/api/events")).status_code for _ in range(30)])
    assert runs[0] == runs[1]
    assert 200 in runs[0]
    assert set(runs[0]) - {200}


async def test_truncated_answer_is_valid_http_with_broken_xml() -> None:
    """truncate_rate=1 answers 200 with a body cut mid-way, its Content-Length matching the cut."""
    async with simulator(truncate_rate=1.0) as client:
        response = await client.get("/api/events")
        state = (await client.get("/_control")).json()
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content)
    assert len(SAMPLES[0]) // 4 <= len(response.content) < len(SAMPLES[0])
    assert SAMPLES[0].startswith(response.content)
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(response.content)
    assert state["counters"]["faults"]["truncate"] == 1
    assert state["step"] == 0


async def test_down_answers_503_to_every_request_until_lifted() -> None:
    """down=true makes every feed request 503; health stays 200; lifting it serves response 1."""
    async with simulator() as client:
        await control(client, down=True)
        statuses = [(await client.get("/api/events")).status_code for _ in range(3)]
        health = await client.get("/health")
        await control(client, down=False)
        after = await client.get("/api/events")
    assert statuses == [503, 503, 503]
    assert (health.status_code, health.text) == (200, "ok")
    assert after.content == SAMPLES[0]


async def test_timeout_fault_holds_the_request_then_gives_up_with_504() -> None:
    """A timeout fault holds the request for hang_seconds (0 here) and never serves the feed."""
    async with simulator(timeout_rate=1.0, hang_seconds=0) as client:
        response = await client.get("/api/events")
        state = (await client.get("/_control")).json()
    assert response.status_code == 504
    assert state["counters"]["faults"]["timeout"] == 1
    assert state["counters"]["served"] == 0


async def test_planlist_scenario_always_serves_the_planlist_sample() -> None:
    """The planlist scenario repeats the planList sample byte for byte."""
    async with simulator(scenario="planlist") as client:
        bodies = {(await client.get("/api/events")).content for _ in range(3)}
    assert bodies == {load_sample(PLANLIST_SAMPLE_FILE)}


async def test_generated_scenario_serves_one_generation_per_request() -> None:
    """Each full answer is the next generation of the deterministic feed."""
    sizes: dict[str, Any] = {"base_events": 20, "sessions_per_event": 1, "zones_per_session": 2}
    async with simulator(scenario="generated", variant="planlist", seed=5, **sizes) as client:
        bodies = [(await client.get("/api/events")).content for _ in range(2)]
        state = (await client.get("/_control")).json()
    expected = [generated_feed_bytes(variant="planlist", seed=5, generation=g, **sizes) for g in range(2)]
    assert bodies == expected
    assert state["generation"] == 2


async def test_generated_static_scenario_streams_one_large_feed() -> None:
    """A static generated feed larger than one chunk streams with the right Content-Length every time."""
    sizes: dict[str, Any] = {"base_events": 100, "sessions_per_event": 1, "zones_per_session": 40}
    expected = generated_feed_bytes(variant="eventlist", **sizes)
    assert len(expected) > STREAM_CHUNK_SIZE
    async with simulator(scenario="generated", rotate=False, **sizes) as client:
        responses = [await client.get("/api/events") for _ in range(2)]
        await control(client, generation=4)
        fourth = await client.get("/api/events")
    assert all(r.content == expected for r in responses)
    assert responses[0].headers["content-length"] == str(len(expected))
    assert fourth.content == generated_feed_bytes(variant="eventlist", generation=4, **sizes)


async def test_control_put_is_all_or_nothing_and_names_bad_values() -> None:
    """Invalid control values are refused with 400 and leave every setting as it was."""
    async with simulator() as client:
        bad_rate = await client.put("/_control", json={"latency_ms": 5, "error_rate": 1.5})
        bad_step = await client.put("/_control", json={"step": 3})
        unknown = await client.put("/_control", json={"colour": "red"})
        not_json = await client.put("/_control", content=b"nope")
        state = (await client.get("/_control")).json()
    assert [r.status_code for r in (bad_rate, bad_step, unknown, not_json)] == [400] * 4
    assert "error_rate" in bad_rate.json()["error"]
    assert "step" in bad_step.json()["error"]
    assert "colour" in unknown.json()["error"]
    assert (state["latency_ms"], state["error_rate"], state["step"]) == (0, 0.0, 0)


async def test_control_step_picks_the_next_sample() -> None:
    """PUT step=2 makes the next answer response 3, then the rotation continues to response 1."""
    async with simulator() as client:
        await control(client, step=2)
        bodies = [(await client.get("/api/events")).content for _ in range(2)]
    assert bodies == [SAMPLES[2], SAMPLES[0]]


async def test_scripted_feed_is_served_until_deleted() -> None:
    """PUT /_control/feed serves exactly that body (rotation paused) until DELETE restores the scenario."""
    scripted = SAMPLES[1].replace(b'sell_mode="online"', b'sell_mode="offline"')
    async with simulator() as client:
        put = await client.put("/_control/feed", content=scripted)
        bodies = [(await client.get("/api/events")).content for _ in range(2)]
        empty = await client.put("/_control/feed", content=b"")
        deleted = await client.delete("/_control/feed")
        after = await client.get("/api/events")
    assert put.json()["feed_override"] is True
    assert bodies == [scripted, scripted]
    assert empty.status_code == 400
    assert deleted.json()["feed_override"] is False
    assert after.content == SAMPLES[0]


async def test_reset_restores_start_options_and_zeroes_counters() -> None:
    """POST /_control/reset forgets control changes, the scripted feed and the counters."""
    async with simulator(latency_ms=0, truncate_rate=0.0) as client:
        await client.get("/api/events")
        await control(client, down=True, truncate_rate=0.5, generation=3)
        await client.put("/_control/feed", content=b"<eventList/>")
        reset = (await client.post("/_control/reset")).json()
        after = await client.get("/api/events")
    assert reset == {
        "scenario": "samples",
        "variant": "eventlist",
        "error_rate": 0.0,
        "latency_ms": 0,
        "timeout_rate": 0.0,
        "truncate_rate": 0.0,
        "rotate": True,
        "down": False,
        "step": 0,
        "generation": 0,
        "feed_override": False,
        "counters": {
            "requests": 0,
            "served": 0,
            "faults": {"down": 0, "timeout": 0, "error": 0, "truncate": 0},
        },
    }
    assert after.content == SAMPLES[0]


async def test_only_the_documented_routes_exist() -> None:
    """/events is not the provider's path and the feed only answers GET."""
    async with simulator() as client:
        assert (await client.get("/events")).status_code == 404
        assert (await client.post("/api/events")).status_code == 405


def test_options_round_trip_through_json_and_refuse_bad_values() -> None:
    """Options survive the trip to the worker process; bad rates and unknown keys are refused."""
    options = MarketplaceSimulatorOptions(scenario="generated", base_events=7, error_rate=0.25, rotate=False)
    assert MarketplaceSimulatorOptions.from_json(options.to_json()) == options
    with pytest.raises(InvalidInputError, match="unknown simulator options: colour"):
        MarketplaceSimulatorOptions.from_json('{"colour": "red"}')
    with pytest.raises(InvalidInputError, match="truncate_rate"):
        MarketplaceSimulatorOptions(truncate_rate=-0.1)
    with pytest.raises(InvalidInputError, match="scenario"):
        MarketplaceSimulatorOptions(scenario="live")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="base_events"):
        MarketplaceSimulatorOptions(base_events=0)
