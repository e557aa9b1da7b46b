"""The GET /events fast path (read model in memory) answers exactly as the route (database), and is fresh:
this process's writes at once, other processes' after a poll of the change log."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest

from crossdock.api.app import create_app
from crossdock.api.asgi import Receive, Scope, Send
from crossdock.apikeys import create_key
from crossdock.config import ApiSettings, DatabaseSettings, Settings
from crossdock.controller_outages import service, store
from crossdock.controller_outages.fastpath import EventsFastPath
from crossdock.controller_outages.runtime import ControllerOutagesRuntime
from crossdock.controller_outages.settings import ControllerOutagesSettings
from crossdock.storage import Database
from tests.support.asgi import running

BASE = 1_756_720_800  # 2025-09-01T10:00:00Z
MINUTE = 60
FELL_THROUGH = 599
READER_KEY, READER = create_key("operators", ("controller-outages:read",))
WRITER_KEY, WRITER = create_key("controllers", ("controller-outages:write",))


def settings_for(db: Database, *, poll: float = 3600, keys: bool = False) -> Settings:
    return Settings(
        database=DatabaseSettings(url=db.url),
        api=ApiSettings(
            scheduler_enabled=False, read_model_poll_interval=poll, keys=(READER, WRITER) if keys else ()
        ),
    ).with_groups(ControllerOutagesSettings(gap=25 * MINUTE))  # type: ignore[arg-type]


def record(controller: str, second: int, outage_type: str = "led_outage") -> dict[str, Any]:
    return {"controller_id": controller, "outage_type": outage_type, "timestamp": second}


async def fill(db: Database, settings: Settings) -> None:
    """Events of several shapes: merged (merged_ids), same start in two types, ongoing, non-ASCII ids."""
    group = settings.of(ControllerOutagesSettings)
    now = int(time.time())
    batches = [
        [record("c1", BASE), record("c1", BASE + 40 * MINUTE)],
        [record("c1", BASE + 20 * MINUTE)],  # bridges the two: one absorbed id
        [record("c1", BASE + 3 * 3600, t) for t in ("led_outage", "panel_outage", "temperature_outage")],
        [record("c1", BASE + day * 86_400 + hour * 3600) for day in range(3) for hour in (6, 12, 18)],
        [record("c1", now - 5 * MINUTE), record("c1", now - 15 * MINUTE, "panel_outage")],  # ongoing
        [record("contrôleur-ü/é", BASE + i * 600) for i in range(4)],
        [record("c2", BASE + i * 7200, "panel_outage") for i in range(5)],
    ]
    for batch in batches:
        await service.ingest_records(db=db, settings=group, records=batch)


class Sentinel:
    """The app behind the fast path in these tests: answers 599, so a fall-through shows."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": FELL_THROUGH, "headers": []})
        await send({"type": "http.response.body", "body": b""})


@pytest.fixture
async def runtime(database: Database) -> AsyncIterator[ControllerOutagesRuntime]:
    settings = settings_for(database)
    await fill(database, settings)
    runtime = ControllerOutagesRuntime(settings)
    await runtime.start(database)
    try:
        yield runtime
    finally:
        await runtime.stop()


@pytest.fixture
async def clients(
    database: Database, runtime: ControllerOutagesRuntime
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """(the fast path alone, in front of the sentinel; the whole app with the fast path off)."""
    fast = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=EventsFastPath(Sentinel(), runtime)), base_url="http://t"
    )
    async with fast, running(create_app(runtime.settings, database=database, fast_path=False)) as route:
        yield fast, route


def url(**params: object) -> str:
    return "/events?" + urlencode(params)


DAY = {"start_time": "2025-09-02T00:00:00Z", "end_time": "2025-09-02T23:59:59Z"}
ANSWERED = [
    url(controller_id="c1"),
    url(controller_id="c1", **DAY),
    url(controller_id="c1", start_time="2025-09-01T12:00:00+02:00", end_time="2025-09-01T12:10:00+02:00"),
    url(controller_id="c1", start_time="2025-09-01T10:20:00"),
    url(controller_id="c1", end_time="2025-09-01T10:00:00Z"),
    url(controller_id="c1", outage_type="panel_outage"),
    url(controller_id="c1", status="ongoing"),
    url(controller_id="c1", status="resolved", limit=3),
    url(controller_id="c1", limit="05", outage_type="led_outage"),
    url(controller_id="c1", limit=1000),
    url(controller_id="c2", other="ignored"),
    url(controller_id="contrôleur-ü/é"),
    url(controller_id="nobody"),
    url(controller_id="c1", start_time="2030-01-01T00:00:00Z"),
]
ROUTE_ONLY = [
    "/events",
    url(outage_type="led_outage"),
    url(controller_id="c1", start_time="yesterday"),
    url(controller_id="c1", start_time=BASE),  # Unix seconds are for records, not for filters
    url(controller_id="c1", start_time="2025-09-03T00:00:00Z", end_time="2025-09-01T00:00:00Z"),
    url(controller_id="c1", limit=0),
    url(controller_id="c1", limit=1001),
    url(controller_id="c1", limit="+5"),
    url(controller_id="c1", status="maybe"),
    url(controller_id="c1", outage_type="fire"),
    url(controller_id="c1", cursor="garbage"),
    url(controller_id="x" * 65),
    url(controller_id=""),
    "/events?controller_id=c1&controller_id=c2",
]


@pytest.mark.parametrize("path", ANSWERED)
async def test_the_fast_path_answers_the_routes_bytes(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], path: str
) -> None:
    """For one controller and any valid filters, the fast path answers itself, byte for byte as the route."""
    fast, route = clients
    mine, theirs = await fast.get(path), await route.get(path)
    assert mine.status_code == theirs.status_code == 200
    assert mine.content == theirs.content
    assert mine.headers["content-type"] == theirs.headers["content-type"] == "application/json"


async def test_pages_and_cursors_are_the_routes(clients: tuple[httpx.AsyncClient, httpx.AsyncClient]) -> None:
    """Walking one controller's events two at a time gives the route's pages and cursors, to the end."""
    fast, route = clients
    cursor = None
    pages = 0
    while True:
        params: dict[str, object] = {"controller_id": "c1", "limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        mine, theirs = await fast.get(url(**params)), await route.get(url(**params))
        assert mine.status_code == 200
        assert mine.content == theirs.content
        pages += 1
        cursor = mine.json()["next_cursor"]
        if cursor is None:
            break
    assert pages > 3


@pytest.mark.parametrize("path", ROUTE_ONLY)
async def test_errors_and_listings_across_controllers_go_to_the_route(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], path: str
) -> None:
    """Bad parameters, repeated ones and queries without a controller are left to the route."""
    fast, _route = clients
    assert (await fast.get(path)).status_code == FELL_THROUGH


async def test_the_whole_app_answers_as_the_route_with_the_fast_path_on(
    database: Database, clients: tuple[httpx.AsyncClient, httpx.AsyncClient]
) -> None:
    """Through the whole app, every query (answered by the fast path or not) gets the route's answer."""
    _fast, route = clients
    async with running(create_app(settings_for(database), database=database)) as app:
        for path in ANSWERED + ROUTE_ONLY:
            mine, theirs = await app.get(path), await route.get(path)
            assert (mine.status_code, mine.content) == (theirs.status_code, theirs.content), path


async def test_a_post_is_seen_by_the_next_read_of_the_same_process(database: Database) -> None:
    """POST /outages then GET /events on the same process: the new report is there, without any poll."""
    async with running(create_app(settings_for(database, poll=3600), database=database)) as app:
        assert (await app.get(url(controller_id="fresh"))).json()["events"] == []
        assert (await app.post("/outages", json=record("fresh", BASE))).status_code == 200
        (event,) = (await app.get(url(controller_id="fresh"))).json()["events"]
        assert event["report_count"] == 1
        await app.post("/outages", json=[record("fresh", BASE + 600), record("fresh", BASE + 1200)])
        (event,) = (await app.get(url(controller_id="fresh"))).json()["events"]
        assert (event["report_count"], event["end_time"]) == (3, "2025-09-01T10:20:00Z")


async def test_another_process_writes_are_seen_after_a_poll(
    runtime: ControllerOutagesRuntime, database: Database
) -> None:
    """Reports stored by another process show once the read model has polled the change log."""
    fast = EventsFastPath(Sentinel(), runtime)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fast), base_url="http://t") as client:
        before = (await client.get(url(controller_id="c2"))).json()["events"]
        group = runtime.settings.of(ControllerOutagesSettings)
        # As `crossdock controller-outages import` in another process would: nothing tells this one.
        await service.ingest_records(
            db=database, settings=group, records=[record("c2", BASE + 10 * 7200, "panel_outage")]
        )
        assert (await client.get(url(controller_id="c2"))).json()["events"] == before
        await runtime.refresh()
        after = (await client.get(url(controller_id="c2"))).json()["events"]
        assert len(after) == len(before) + 1


async def test_the_poller_picks_up_other_writes_by_itself(database: Database) -> None:
    """With a short poll interval, another process's report shows within a few intervals."""
    settings = settings_for(database, poll=0.05)
    async with running(create_app(settings, database=database)) as app:
        await service.ingest_records(
            db=database, settings=settings.of(ControllerOutagesSettings), records=[record("later", BASE)]
        )
        deadline = time.monotonic() + 10
        while not (await app.get(url(controller_id="later"))).json()["events"]:
            assert time.monotonic() < deadline, "not seen within 10 s"
            await asyncio.sleep(0.05)


async def test_a_merge_elsewhere_replaces_the_absorbed_event(
    runtime: ControllerOutagesRuntime, database: Database
) -> None:
    """After another process bridges two events, the poll shows one event with the absorbed id merged."""
    group = runtime.settings.of(ControllerOutagesSettings)
    first = await service.ingest_records(db=database, settings=group, records=[record("m", BASE)])
    second = await service.ingest_records(
        db=database, settings=group, records=[record("m", BASE + 40 * MINUTE)]
    )
    await runtime.refresh()
    query = service.EventQuery(controller_id="m")
    assert (await runtime.answer(query)).count(b'"id"') == 2
    await service.ingest_records(db=database, settings=group, records=[record("m", BASE + 20 * MINUTE)])
    await runtime.refresh()
    body = await runtime.answer(query)
    assert body.count(b'"id"') == 1
    assert first.event_ids[0].encode() in body
    assert second.event_ids[0].encode() in body


async def test_with_keys_the_fast_path_answers_readers_only(database: Database) -> None:
    """With API keys the fast path answers a key holding the read scope; others get the route's 401/403."""
    settings = settings_for(database, keys=True)
    await fill(database, settings)
    runtime = ControllerOutagesRuntime(settings)
    await runtime.start(database)
    try:
        fast = EventsFastPath(Sentinel(), runtime)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=fast), base_url="http://t") as client:
            path = url(controller_id="c1")
            assert (
                await client.get(path, headers={"Authorization": f"Bearer {READER_KEY}"})
            ).status_code == 200
            assert (await client.get(path, headers={"X-API-Key": READER_KEY})).status_code == 200
            for headers in ({}, {"Authorization": f"Bearer {WRITER_KEY}"}, {"Authorization": "Basic x"}):
                assert (await client.get(path, headers=headers)).status_code == FELL_THROUGH
    finally:
        await runtime.stop()
    async with running(create_app(settings, database=database)) as app:
        assert (await app.get(url(controller_id="c1"))).status_code == 401
        assert (await app.get(url(controller_id="c1"), headers={"X-API-Key": WRITER_KEY})).status_code == 403


async def test_concurrent_small_posts_share_transactions_and_count_once(database: Database) -> None:
    """Concurrent single-record ingests (grouped into shared transactions) count a repeated record once."""
    group = ControllerOutagesSettings()
    records = [record(f"g{i % 7}", BASE + (i // 7) * 600) for i in range(60)]
    answers = await asyncio.gather(
        *(service.ingest_records(db=database, settings=group, records=[r]) for r in records + records[:10])
    )
    assert sum(a.accepted for a in answers) == 60
    assert sum(a.duplicates for a in answers) == 10
    events = await store.list_events(database, store.EventFilter(limit=1000), now=0, gap=group.gap_us)
    assert sorted(event["report_count"] for event in events[0]) == [8, 8, 8, 9, 9, 9, 9]


BODIES_ROUTE_ONLY = [
    b"not json",
    b'"a string"',
    b"[]",
    b'[{"controller_id": "c"}]',
    b"[" + b",".join([b'{"controller_id":"c","outage_type":"led_outage","timestamp":1}'] * 10_001) + b"]",
]


@pytest.mark.parametrize("content", BODIES_ROUTE_ONLY)
async def test_posts_the_route_must_refuse_go_to_the_route(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], content: bytes
) -> None:
    """Unusable bodies (not JSON, empty, every record invalid, too many records) are left to the route."""
    fast, route = clients
    assert (await fast.post("/outages", content=content)).status_code == FELL_THROUGH
    assert (await route.post("/outages", content=content)).status_code == 400


async def test_a_post_through_the_fast_path_answers_as_the_route(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    """The same batch through the fast path and through the route: the same answer, in the same JSON form."""
    fast, route = clients
    batch = [
        record("p1", BASE),
        {"controller_id": "p1", "outage_type": "fïre", "timestamp": 1},
        record("p1", BASE),
    ]
    mine = await fast.post("/outages", json=batch)
    again = await route.post("/outages", json=batch)  # now every good record is a duplicate
    assert mine.status_code == again.status_code == 200
    assert mine.content == orjson.dumps(mine.json())
    assert again.content == orjson.dumps(again.json())
    assert (mine.json()["accepted"], mine.json()["duplicates"]) == (1, 1)
    assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 2)
    assert mine.json()["rejected"] == again.json()["rejected"]
    assert mine.json()["event_ids"] == again.json()["event_ids"]
    assert list(mine.json()) == list(again.json())
