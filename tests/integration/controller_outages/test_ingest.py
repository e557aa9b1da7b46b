"""Reports into events on real SQLite and PostgreSQL: the stored events are a pure function of the set
of reports received — whatever the order, batches, duplicates or concurrency — and rebuild agrees."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crossdock.controller_outages import service, store
from crossdock.controller_outages.merge import split
from crossdock.controller_outages.settings import ControllerOutagesSettings
from crossdock.storage import Database

MINUTE = 60
BASE = 1_756_720_800  # 2025-09-01T10:00:00Z
NOW = (BASE + 30 * 86_400) * 1_000_000  # well after every report: events are resolved
TYPES = ("panel_outage", "temperature_outage", "led_outage")


def group(gap_minutes: float = 25) -> ControllerOutagesSettings:
    return ControllerOutagesSettings(gap=gap_minutes * 60, webhook_url=None)


def record(controller: str, outage_type: str, second: int) -> dict[str, Any]:
    return {"controller_id": controller, "outage_type": outage_type, "timestamp": second}


async def all_events(db: Database, settings: ControllerOutagesSettings) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await service.list_events(
            db=db, settings=settings, query=service.EventQuery(limit=1000, cursor=cursor), now=NOW
        )
        found.extend(event.model_dump() for event in page.events)
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


def spans(events: list[dict[str, Any]]) -> dict[tuple[str, str], list[tuple[str, str, int]]]:
    result: dict[tuple[str, str], list[tuple[str, str, int]]] = defaultdict(list)
    for event in events:
        result[(event["controller_id"], event["outage_type"])].append(
            (event["start_time"], event["end_time"], event["report_count"])
        )
    return {key: sorted(value) for key, value in result.items()}


def reference(
    records: list[dict[str, Any]], gap_seconds: float
) -> dict[tuple[str, str], list[tuple[str, str, int]]]:
    """The definition: per key, sort distinct timestamps and split where they differ by more than the gap."""
    from crossdock.controller_outages.schemas import iso

    stamps: dict[tuple[str, str], set[int]] = defaultdict(set)
    for r in records:
        stamps[(r["controller_id"], r["outage_type"])].add(r["timestamp"] * 1_000_000)
    return {
        key: sorted((iso(s), iso(e), c) for s, e, c in split(values, gap=round(gap_seconds * 1_000_000)))
        for key, values in stamps.items()
    }


@pytest.mark.parametrize("gap_minutes", [12, 60])
async def test_fixture_scenarios_one_report_per_request(
    database: Database, led_outages_dir: Path, gap_minutes: int
) -> None:
    """The fixture's scenarios, each report ingested on its own in arrival order, give the expected events."""
    settings = group(gap_minutes)
    for number, scenario in enumerate(
        json.loads((led_outages_dir / "scenarios.json").read_text())["scenarios"]
    ):
        prefix = f"s{number}-"
        for raw in scenario["records_in_arrival_order"]:
            renamed = {**raw, "controller_id": prefix + raw["controller_id"]}
            await service.ingest_records(db=database, settings=settings, records=[renamed], now=NOW)
        got = {
            (event["start_time"], event["end_time"], event["report_count"])
            for event in await all_events(database, settings)
            if event["controller_id"].startswith(prefix)
        }
        wanted = {
            (e["start_time"], e["end_time"], e["distinct_reports"])
            for e in scenario[f"expected_events_gap_{gap_minutes}min"]
        }
        assert got == wanted, scenario["name"]


async def test_answer_counts_accepted_duplicates_rejected_and_names_events(database: Database) -> None:
    """One batch: good records stored, repeats counted once, bad ones listed with their index."""
    settings = group()
    batch = [
        record("c1", "led_outage", BASE),
        record("c1", "led_outage", BASE),  # repeated within the batch
        {"controller_id": "c1", "outage_type": "nope", "timestamp": BASE},
        record("c1", "led_outage", BASE + 10 * MINUTE),
    ]
    answer = await service.ingest_records(db=database, settings=settings, records=batch, now=NOW)
    assert (answer.accepted, answer.duplicates) == (2, 1)
    assert [(r.index, "not one of" in r.error) for r in answer.rejected] == [(2, True)]
    assert len(answer.event_ids) == 1
    again = await service.ingest_records(db=database, settings=settings, records=batch, now=NOW)
    assert (again.accepted, again.duplicates, again.event_ids) == (0, 3, answer.event_ids)
    (event,) = await all_events(database, settings)
    assert (event["report_count"], event["status"]) == (2, "resolved")


async def test_future_and_too_old_reports_are_rejected(database: Database) -> None:
    """A timestamp more than max_future ahead is rejected; so is one past the optional horizon."""
    settings = ControllerOutagesSettings(max_future=300, max_age=3600)
    now_seconds = NOW // 1_000_000
    answer = await service.ingest_records(
        db=database,
        settings=settings,
        records=[
            record("c", "led_outage", now_seconds + 301),
            record("c", "led_outage", now_seconds + 299),
            record("c", "led_outage", now_seconds - 3601),
        ],
        now=NOW,
    )
    assert answer.accepted == 1
    assert [("future" in r.error, "horizon" in r.error) for r in answer.rejected] == [
        (True, False),
        (False, True),
    ]


async def test_a_bridged_event_keeps_answering_as_the_survivor(database: Database) -> None:
    """After a late report bridges two events, the absorbed id answers with the merged event."""
    settings = group(12)
    first = await service.ingest_records(
        db=database, settings=settings, records=[record("c", "led_outage", BASE)], now=NOW
    )
    second = await service.ingest_records(
        db=database, settings=settings, records=[record("c", "led_outage", BASE + 20 * MINUTE)], now=NOW
    )
    bridge = await service.ingest_records(
        db=database, settings=settings, records=[record("c", "led_outage", BASE + 10 * MINUTE)], now=NOW
    )
    assert bridge.event_ids == first.event_ids  # the earliest event survives
    absorbed = second.event_ids[0]
    found = await service.get_event(db=database, settings=settings, event_id=absorbed, now=NOW)
    assert found.id == first.event_ids[0]
    assert found.merged_ids == [absorbed]
    assert (found.report_count, found.start_time, found.end_time) == (
        3,
        "2025-09-01T10:00:00Z",
        "2025-09-01T10:20:00Z",
    )


async def test_filters_and_cursor_pages(database: Database) -> None:
    """Filters narrow by controller, type, overlap and status; the cursor walks pages without repeats."""
    settings = group()
    records = [record(f"c{i % 3}", TYPES[i % 2], BASE + i * 3600) for i in range(30)]
    await service.ingest_records(db=database, settings=settings, records=records, now=NOW)
    seen: list[str] = []
    cursor = None
    while True:
        page = await service.list_events(
            db=database, settings=settings, query=service.EventQuery(limit=7, cursor=cursor), now=NOW
        )
        seen.extend(event.id for event in page.events)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 30
    one = await service.list_events(
        db=database,
        settings=settings,
        query=service.EventQuery(controller_id="c1", outage_type="temperature_outage"),
        now=NOW,
    )
    assert {(e.controller_id, e.outage_type) for e in one.events} == {("c1", "temperature_outage")}
    window = await service.list_events(
        db=database,
        settings=settings,
        query=service.EventQuery(start_time="2025-09-01T12:00:00", end_time="2025-09-01T14:00:00Z"),
        now=NOW,
    )
    assert [e.start_time for e in window.events] == [
        "2025-09-01T12:00:00Z",
        "2025-09-01T13:00:00Z",
        "2025-09-01T14:00:00Z",
    ]
    ongoing = await service.list_events(
        db=database, settings=settings, query=service.EventQuery(status="ongoing"), now=NOW
    )
    assert ongoing.events == []


async def test_concurrent_batches_give_the_reference(database: Database) -> None:
    """Sixteen concurrent shuffled batches with duplicates over a few keys: events equal the definition."""
    settings = group()
    rng = random.Random(7)
    records = [
        record(f"c{rng.randrange(5)}", rng.choice(TYPES), BASE + rng.randrange(0, 2 * 86_400, 300))
        for _ in range(1500)
    ]
    records += rng.sample(records, 100)  # duplicates
    rng.shuffle(records)
    batches = [records[i::16] for i in range(16)]
    await asyncio.gather(
        *(service.ingest_records(db=database, settings=settings, records=batch, now=NOW) for batch in batches)
    )
    assert spans(await all_events(database, settings)) == reference(records, settings.gap)
    assert (await service.rebuild(db=database, settings=settings, now=NOW)).changed_keys == 0


async def test_rebuild_finds_and_repairs_a_tampered_event(database: Database) -> None:
    """rebuild says nothing differs on good data, and repairs an event whose count was edited."""
    settings = group()
    await service.ingest_records(
        db=database,
        settings=settings,
        records=[record("c", "led_outage", BASE + i * 600) for i in range(5)],
        now=NOW,
    )
    assert (await service.rebuild(db=database, settings=settings, now=NOW)).changed_keys == 0
    from sqlalchemy import update

    from crossdock.controller_outages.models import Event

    async with database.unit_of_work() as session:
        await session.execute(update(Event).values(report_count=99))
    result = await service.rebuild(db=database, settings=settings, now=NOW)
    assert (result.keys, result.changed_keys) == (1, 1)
    (event,) = await all_events(database, settings)
    assert event["report_count"] == 5


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    from crossdock.storage.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('property') / 'crossdock.db'}"
    upgrade(url)
    return url


reports_strategy = st.lists(
    st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(TYPES[:2]), st.integers(0, 8 * 60)),
    min_size=1,
    max_size=30,
)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(reports=reports_strategy, data=st.data())
def test_any_arrival_order_batching_and_duplication_gives_the_reference(
    sqlite_url: str, reports: list[tuple[str, str, int]], data: st.DataObject
) -> None:
    """For any multiset of reports over a few keys, any order, batching and duplication, the stored events
    (spans, counts, statuses) equal the definition's, and rebuild changes nothing."""
    from crossdock.config import DatabaseSettings
    from crossdock.storage import create_database

    settings = group()
    prefix = f"p{uuid.uuid4().hex[:12]}-"  # each example on keys of its own (a name, not an input)
    records = [record(prefix + c, t, BASE + m * MINUTE) for c, t, m in reports]
    arrival = data.draw(st.permutations(records + data.draw(st.lists(st.sampled_from(records), max_size=10))))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(arrival)), max_size=4)))
    batches = [arrival[a:b] for a, b in zip([0, *cuts], [*cuts, len(arrival)], strict=True) if arrival[a:b]]
    now = (BASE + 8 * 3600) * 1_000_000  # some events still ongoing

    async def run() -> tuple[list[dict[str, Any]], int]:
        db = create_database(DatabaseSettings(url=sqlite_url))
        try:
            for batch in batches:
                await service.ingest_records(db=db, settings=settings, records=batch, now=now)
            page = await service.list_events(
                db=db, settings=settings, query=service.EventQuery(controller_id=None, limit=1000), now=now
            )
            mine = [e.model_dump() for e in page.events if e.controller_id.startswith(prefix)]
            rebuilt = await store.rebuild_key(
                db, (prefix + "a", TYPES[0]), gap=settings.gap_us, notify=_off(now)
            )
            return mine, int(rebuilt)
        finally:
            await db.dispose()

    events, rebuilt = asyncio.run(run())
    assert spans(events) == reference(records, settings.gap)
    for event in events:
        ongoing = now - _micros(event["end_time"]) <= settings.gap_us
        assert event["status"] == ("ongoing" if ongoing else "resolved")
    assert rebuilt == 0


def _off(now: int) -> store.Notify:
    return store.Notify(enabled=False, now=now, gap=0)


def _micros(text: str) -> int:
    from crossdock.controller_outages.schemas import parse_instant

    return parse_instant(text)
