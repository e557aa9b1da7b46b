"""The marketplace sync against real SQLite and PostgreSQL: storage rules, stickiness, failures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select

from crossdock.errors import ProviderDataError, UpstreamUnavailableError
from crossdock.jobs.models import RunRecord
from crossdock.marketplace import service
from crossdock.marketplace.identity import plan_uuid
from crossdock.marketplace.models import Plan
from crossdock.marketplace.search import search_answer
from crossdock.storage import Database
from tests.support.feeds import ScriptedProvider, sync_through_runner

EXAMPLE = {"starts_at": "2021-02-01T00:00:00Z", "ends_at": "2022-07-03T00:00:00Z"}


async def sync(db: Database, provider: ScriptedProvider, *, full: bool = False) -> service.SyncSummary:
    """One sync the way the scheduler and the CLI run it: through the runner, which records it."""
    return await sync_through_runner(db, provider, full=full)


async def search(db: Database, **bounds: str) -> list[dict[str, Any]]:
    index = await service.build_search_index(db=db)
    body = search_answer(index, starts_at=bounds.get("starts_at"), ends_at=bounds.get("ends_at"))
    events: list[dict[str, Any]] = orjson.loads(body)["data"]["events"]
    return events


async def plan(db: Database, base: str, event: str) -> Plan | None:
    async with db.reader() as session:
        return await session.get(Plan, plan_uuid("fever", base, event))


async def test_brief_example_after_three_responses(database: Database, fever_dir: Path) -> None:
    """After responses 1, 2, 3 the brief's query returns 322, 291, 1591 with the latest values, never 444."""
    provider = ScriptedProvider([fever_dir / f"response_{n}.xml" for n in (1, 2, 3)])
    for _ in range(3):
        await sync(database, provider)
    events = await search(database, **EXAMPLE)
    assert [(e["title"], e["end_time"], e["min_price"], e["max_price"]) for e in events] == [
        ("Pantomima Full", "21:30:00", 55.0, 55.0),
        ("Camela en concierto", "21:30:00", 15.0, 30.0),
        ("Los Morancos", "21:00:00", 65.0, 75.0),
    ]
    expected = orjson.loads((fever_dir / "expected_example_query.json").read_bytes())
    for event, wanted in zip(events, expected["expected_events_sorted_by_start"], strict=True):
        provider_name, base, session = wanted["internal_key"].split(":")
        assert event["id"] == plan_uuid(provider_name, base, session)
        for key in ("title", "start_date", "start_time", "end_date", "end_time", "min_price", "max_price"):
            assert event[key] == wanted[key], key


async def test_counts_of_each_run(database: Database, fever_dir: Path) -> None:
    """Run counts: 3 inserted; then 1 new rejected, 2 updated, 322 left the feed; then 2 updated."""
    provider = ScriptedProvider([fever_dir / f"response_{n}.xml" for n in (1, 2, 3)])
    first, second, third = [await sync(database, provider) for _ in range(3)]
    assert (first.seen, first.inserted, first.updated, first.rejected, first.left_feed) == (3, 3, 0, 0, 0)
    assert (second.seen, second.inserted, second.updated, second.rejected, second.left_feed) == (
        3,
        0,
        2,
        1,
        1,
    )
    assert (third.seen, third.updated, third.unchanged, third.rejected, third.left_feed) == (3, 2, 0, 1, 0)
    assert all(summary.changed for summary in (first, second, third))


async def test_event_that_left_the_feed_stays_searchable(database: Database, fever_dir: Path) -> None:
    """322 is only in response 1: it is kept with present_in_feed false and still searchable."""
    provider = ScriptedProvider([fever_dir / "response_1.xml", fever_dir / "response_2.xml"])
    await sync(database, provider)
    await sync(database, provider)
    stored = await plan(database, "322", "1642")
    assert stored is not None
    assert stored.present_in_feed is False
    assert stored.ever_online is True
    assert "Pantomima Full" in [e["title"] for e in await search(database)]


async def test_offline_never_online_is_stored_but_not_searchable(database: Database, fever_dir: Path) -> None:
    """An offline base event is stored (everything is kept) but never searchable unless once online."""
    body = (
        (fever_dir / "response_1.xml")
        .read_bytes()
        .replace(b'base_event_id="291" sell_mode="online"', b'base_event_id="291" sell_mode="offline"')
    )
    await sync(database, ScriptedProvider([body]))
    stored = await plan(database, "291", "291")
    assert stored is not None
    assert (stored.sell_mode, stored.ever_online) == ("offline", False)
    assert "Camela en concierto" not in [e["title"] for e in await search(database)]


async def test_online_to_offline_stays_searchable_with_latest_values(
    database: Database, fever_dir: Path
) -> None:
    """Once online, a base event going offline stays searchable and shows its newest values."""
    online = (fever_dir / "response_1.xml").read_bytes()
    offline = online.replace(
        b'base_event_id="291" sell_mode="online"', b'base_event_id="291" sell_mode="offline"'
    )
    offline = offline.replace(
        b'event_end_date="2021-06-30T22:00:00"', b'event_end_date="2021-06-30T23:00:00"'
    )
    provider = ScriptedProvider([online, offline])
    await sync(database, provider)
    await sync(database, provider)
    (camela,) = [e for e in await search(database) if e["title"] == "Camela en concierto"]
    assert camela["end_time"] == "23:00:00"
    stored = await plan(database, "291", "291")
    assert stored is not None
    assert (stored.sell_mode, stored.ever_online) == ("offline", True)


async def test_offline_to_online_becomes_searchable(database: Database, fever_dir: Path) -> None:
    """A base event first seen offline becomes searchable when it goes online."""
    online = (fever_dir / "response_1.xml").read_bytes()
    offline = online.replace(
        b'base_event_id="291" sell_mode="online"', b'base_event_id="291" sell_mode="offline"'
    )
    provider = ScriptedProvider([offline, online])
    await sync(database, provider)
    assert "Camela en concierto" not in [e["title"] for e in await search(database)]
    await sync(database, provider)
    assert "Camela en concierto" in [e["title"] for e in await search(database)]


async def test_resync_of_same_feed_changes_nothing(database: Database, fever_dir: Path) -> None:
    """Re-syncing an identical feed (shortcut or full comparison) writes nothing and says so."""
    provider = ScriptedProvider([fever_dir / "response_2.xml"])
    await sync(database, provider)
    async with database.reader() as session:
        before = [
            (p.id, p.digest, p.last_changed_at) for p in (await session.execute(select(Plan))).scalars()
        ]
    shortcut = await sync(database, provider)
    full = await sync(database, provider, full=True)
    assert shortcut.skipped_identical_feed
    assert not full.skipped_identical_feed
    for summary in (shortcut, full):
        assert (summary.inserted, summary.updated, summary.left_feed, summary.changed) == (0, 0, 0, False)
        assert (summary.seen, summary.unchanged, summary.rejected) == (3, 2, 1)
    async with database.reader() as session:
        after = [(p.id, p.digest, p.last_changed_at) for p in (await session.execute(select(Plan))).scalars()]
    assert sorted(after) == sorted(before)


async def test_truncated_feed_fails_and_keeps_previous_data(database: Database, fever_dir: Path) -> None:
    """A truncated body fails the sync as a whole, is recorded, and the stored data is untouched."""
    good = (fever_dir / "response_1.xml").read_bytes()
    changed = (fever_dir / "response_3.xml").read_bytes()
    provider = ScriptedProvider([good, changed[: len(changed) * 3 // 4]])
    await sync(database, provider)
    before = await search(database)
    with pytest.raises(ProviderDataError):
        await sync(database, provider)
    assert await search(database) == before
    runs = await service.list_sync_runs(db=database)
    assert [run.outcome for run in runs] == ["failed", "success"]
    assert runs[0].error is not None
    assert "well-formed" in runs[0].error


async def test_upstream_down_is_recorded_and_data_kept(database: Database, fever_dir: Path) -> None:
    """Provider 503 on every attempt: UpstreamUnavailableError after the attempts, run recorded failed."""
    provider = ScriptedProvider([fever_dir / "response_1.xml"])
    await sync(database, provider)
    provider.then(503)
    provider.answers.popleft()
    with pytest.raises(UpstreamUnavailableError):
        await sync(database, provider)
    runs = await service.list_sync_runs(db=database)
    assert runs[0].outcome == "failed"
    assert runs[0].attempts == 3
    assert len(await search(database)) == 3


async def test_bad_record_does_not_sink_the_batch(database: Database, fever_dir: Path) -> None:
    """444's impossible date is rejected and not stored; 291 and 1591 of the same feed are stored."""
    await sync(database, ScriptedProvider([fever_dir / "response_2.xml"]))
    async with database.reader() as session:
        stored = {(p.base_event_id, p.event_id) for p in (await session.execute(select(Plan))).scalars()}
    assert stored == {("291", "291"), ("1591", "1642")}


async def test_duplicate_zone_ids_are_stored_as_two_zones(database: Database, fever_dir: Path) -> None:
    """Zones are stored as a list, as sent: both zones 186 of 1591 are kept with their prices."""
    await sync(database, ScriptedProvider([fever_dir / "response_1.xml"]))
    stored = await plan(database, "1591", "1642")
    assert stored is not None
    assert [(z["zone_id"], z["price"], z["capacity"]) for z in stored.zones] == [
        ("186", "75.00", "2"),
        ("186", "65.00", "16"),
    ]


async def test_planlist_variant_is_synced(database: Database, fever_dir: Path) -> None:
    """The planList naming syncs into the same table: 322 with its two sessions."""
    await sync(database, ScriptedProvider([fever_dir / "planlist_variant" / "response_1.xml"]))
    titles = [e["title"] for e in await search(database)]
    assert titles.count("Pantomima Full") == 2


async def test_every_run_is_recorded_with_duration(database: Database, fever_dir: Path) -> None:
    """Runs carry start, end, outcome, counts and duration; data_version moves only on change."""
    provider = ScriptedProvider([fever_dir / "response_1.xml"])
    await sync(database, provider)
    version = await service.data_version(db=database)
    await sync(database, provider)
    assert await service.data_version(db=database) == version
    async with database.reader() as session:
        runs = list((await session.execute(select(RunRecord).order_by(RunRecord.id))).scalars())
        assert await session.scalar(select(func.count()).select_from(Plan)) == 3
    assert [(r.outcome, r.changed) for r in runs] == [("success", True), ("success", False)]
    assert all(r.finished_at is not None and r.duration_seconds is not None for r in runs)
    assert [(r.capability, r.job, r.subject) for r in runs] == [
        ("marketplace", "marketplace.sync", "fever")
    ] * 2
    assert runs[0].details["inserted"] == 3
    assert runs[1].details["unchanged"] == 3


async def test_bad_new_version_keeps_the_stored_one(database: Database, fever_dir: Path) -> None:
    """A stored session whose next snapshot is unusable keeps its last good values and stays present."""
    good = (fever_dir / "response_1.xml").read_bytes()
    bad = good.replace(b'event_start_date="2021-06-30T21:00:00"', b'event_start_date="2021-06-31T21:00:00"')
    provider = ScriptedProvider([good, bad])
    await sync(database, provider)
    summary = await sync(database, provider)
    assert (summary.rejected, summary.left_feed, summary.updated) == (1, 0, 0)
    stored = await plan(database, "291", "291")
    assert stored is not None
    assert stored.present_in_feed is True
    assert stored.starts_at.isoformat() == "2021-06-30T21:00:00"
