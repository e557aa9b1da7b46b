"""Notifications on real SQLite and PostgreSQL, delivered to a real receiver on 127.0.0.1 that fails half
of the time: every opened, merged and resolved notification arrives at least once, in order per key,
with failures backing off, and the counts land in the run record."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update

from crossdock.config import DatabaseSettings, Settings
from crossdock.controller_outages import jobs, provider, service, store
from crossdock.controller_outages.models import Event, Notification
from crossdock.controller_outages.settings import ControllerOutagesSettings
from crossdock.httpclient import BreakerPolicy, BreakerRegistry, ResilientClient, RetryPolicy
from crossdock.jobs import records
from crossdock.jobs.context import JobContext
from crossdock.jobs.runner import run_job
from crossdock.storage import Database
from tests.support.webhook import WebhookReceiver, check_final_state_notified, first_arrivals_by_key

MINUTE = 60
T0 = 1_756_720_800  # 2025-09-01T10:00:00Z
TYPES = ("panel_outage", "temperature_outage", "led_outage")
EVENT_FIELDS = {
    "id",
    "controller_id",
    "outage_type",
    "start_time",
    "end_time",
    "status",
    "report_count",
    "merged_ids",
}


def micros(minutes: float) -> int:
    return round((T0 + minutes * MINUTE) * 1_000_000)


def moment(minutes: float) -> datetime:
    return datetime.fromtimestamp(T0 + minutes * MINUTE, UTC)


def rec(controller: str, minute: int, outage_type: str = "led_outage") -> dict[str, Any]:
    return {"controller_id": controller, "outage_type": outage_type, "timestamp": T0 + minute * MINUTE}


def webhook_client(*, breaker: BreakerPolicy | None = None) -> ResilientClient:
    """The webhook's client as the job builds it (2 attempts per pass), with a breaker of its own."""
    return ResilientClient(
        provider.UPSTREAM,
        retry=RetryPolicy(max_attempts=provider.ATTEMPTS_PER_PASS),
        breaker_policy=breaker or BreakerPolicy(failure_threshold=1000),
        registry=BreakerRegistry(),
    )


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """A receiver failing half of the deliveries (seeded)."""
    receiver = WebhookReceiver(fail_rate=0.5, seed=11)
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


async def outbox(db: Database) -> list[dict[str, Any]]:
    async with db.reader() as session:
        rows = await session.execute(
            select(
                Notification.key,
                Notification.body,
                Notification.attempts,
                Notification.next_attempt_at,
                Notification.delivered_at,
            ).order_by(Notification.id)
        )
        return [dict(row._mapping) for row in rows]


def outbox_by_key(rows: list[dict[str, Any]]) -> dict[tuple[str, str], list[str]]:
    result: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        event = row["body"]["event"]
        result.setdefault((event["controller_id"], event["outage_type"]), []).append(
            json.dumps(row["body"], sort_keys=True)
        )
    return result


class Driver:
    """Ingest, upkeep and delivery passes at injected moments (minutes after T0)."""

    def __init__(self, db: Database, settings: ControllerOutagesSettings, client: ResilientClient) -> None:
        self.db, self.settings, self.client = db, settings, client

    async def ingest(self, records: list[dict[str, Any]], *, at: float) -> None:
        await service.ingest_records(db=self.db, settings=self.settings, records=records, now=micros(at))

    async def upkeep(self, *, at: float) -> None:
        await service.upkeep(db=self.db, settings=self.settings, now=micros(at))

    async def deliver(self, *, at: float) -> service.DeliveryResult:
        return await service.deliver(db=self.db, client=self.client, settings=self.settings, now=moment(at))

    async def drain(self, *, at: float) -> int:
        """Delivery passes a minute and a bit apart (past any backoff) until nothing is pending."""
        for number in range(300):
            result = await self.deliver(at=at + number * 61 / MINUTE)
            if result.pending == 0:
                return number + 1
        pytest.fail("notifications still pending after 300 passes")


async def test_every_notification_arrives_at_least_once_in_order_per_key(
    database: Database, receiver: WebhookReceiver
) -> None:
    """Against a receiver failing 50 %: every notification written arrives at least once, first arrivals
    in the outbox's order per key, each shaped {kind, event, time}; the final state's opened, merged
    and resolved notifications are all among them."""
    settings = ControllerOutagesSettings(webhook_url=receiver.url)  # type: ignore[arg-type]
    async with webhook_client() as client:
        drive = Driver(database, settings, client)
        # One key scripted: open, open, bridge (merge), resolve, reopened by a late report, resolve again.
        await drive.ingest([rec("a", 0), rec("a", 10)], at=60)
        await drive.ingest([rec("a", 50)], at=60)
        await drive.deliver(at=60)
        await drive.ingest([rec("a", 30)], at=70)
        await drive.upkeep(at=76)
        await drive.deliver(at=76)
        await drive.ingest([rec("a", 70)], at=80)
        await drive.upkeep(at=100)
        # Twelve controllers at random: reports on the 10-minute grid, up to an hour late, with repeats.
        rng = random.Random(5)
        stream = [
            (minute + rng.choice((0, 0, 0, 10, 30, 60)), rec(f"r{c}", minute, rng.choice(TYPES)))
            for c in range(12)
            for minute in range(200, 800, 10)
            if rng.random() < 0.45
        ]
        stream += rng.sample(stream, 40)
        for step in range(200, 900, 10):
            arriving = [record for arrival, record in stream if step - 10 < arrival <= step]
            rng.shuffle(arriving)
            for start in range(0, len(arriving), 5):
                await drive.ingest(arriving[start : start + 5], at=step)
            await drive.upkeep(at=step)
            for offset in (0, 1, 2, 4, 8):
                await drive.deliver(at=step + offset / MINUTE)
        await drive.upkeep(at=2000)
        await drive.drain(at=2000)

    rows = await outbox(database)
    assert rows
    assert all(row["delivered_at"] is not None for row in rows)
    delivered = receiver.delivered()
    assert len(delivered) >= len(rows)
    assert any(not arrival.accepted for arrival in receiver.arrivals)  # it did fail, and was retried
    assert first_arrivals_by_key(delivered) == outbox_by_key(rows)
    for body in delivered:
        assert set(body) == {"kind", "event", "time"}
        assert body["kind"] in ("opened", "merged", "resolved")
        assert set(body["event"]) == EVENT_FIELDS

    scripted = [
        (
            b["kind"],
            b["event"]["start_time"][11:16],
            b["event"]["end_time"][11:16],
            b["event"]["report_count"],
        )
        for b in (json.loads(text) for text in outbox_by_key(rows)[("a", "led_outage")])
    ]
    assert scripted == [
        ("opened", "10:00", "10:10", 2),
        ("opened", "10:50", "10:50", 1),
        ("merged", "10:00", "10:50", 4),
        ("resolved", "10:00", "10:50", 4),
        ("resolved", "10:00", "11:10", 5),
    ]
    a_bodies = [json.loads(text) for text in outbox_by_key(rows)[("a", "led_outage")]]
    assert a_bodies[2]["event"]["merged_ids"] == [a_bodies[1]["event"]["id"]]
    assert a_bodies[2]["event"]["id"] == a_bodies[0]["event"]["id"]

    final = await all_events(database, settings)
    check_final_state_notified(final, delivered)


async def all_events(db: Database, settings: ControllerOutagesSettings) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await service.list_events(
            db=db, settings=settings, query=service.EventQuery(limit=1000, cursor=cursor), now=micros(10_000)
        )
        found.extend(event.model_dump() for event in page.events)
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


async def test_a_failed_notification_backs_off_and_holds_back_its_key(
    sqlite_database: Database, receiver: WebhookReceiver
) -> None:
    """A failure waits 1 s, then 2 s … (capped at a minute) before the next try; meanwhile nothing newer
    of its key is sent, while other keys go on; once the receiver is back, the key goes out in order."""
    settings = ControllerOutagesSettings(webhook_url=receiver.url)  # type: ignore[arg-type]
    assert [service.retry_delay(n) for n in (1, 2, 3, 7, 20)] == [1.0, 2.0, 4.0, 60.0, 60.0]
    async with webhook_client() as client:
        drive = Driver(sqlite_database, settings, client)
        await drive.ingest([rec("b", 0), rec("b", 60)], at=70)  # two events of one key
        receiver.failing = True
        first = await drive.deliver(at=70)
        assert (first.delivered, first.failed, first.pending) == (0, 1, 2)
        assert len(receiver.arrivals) == provider.ATTEMPTS_PER_PASS  # the head only, never the second
        head, second = await outbox(sqlite_database)
        assert (head["attempts"], head["next_attempt_at"]) == (1, moment(70) + timedelta(seconds=1))
        assert second["attempts"] == 0

        receiver.failing = False
        await drive.ingest([rec("c", 0)], at=70)  # another key is not held back
        early = await drive.deliver(at=70 + 0.5 / MINUTE)
        assert (early.delivered, early.failed, early.pending) == (1, 0, 2)
        assert {a.body["event"]["controller_id"] for a in receiver.arrivals} == {"b", "c"}

        receiver.failing = True
        again = await drive.deliver(at=70 + 1 / MINUTE)
        assert again.failed == 1
        head, _second, _c = await outbox(sqlite_database)
        assert (head["attempts"], head["next_attempt_at"]) == (2, moment(70) + timedelta(seconds=3))

        receiver.failing = False
        done = await drive.deliver(at=70 + 3 / MINUTE)
        assert (done.delivered, done.failed, done.pending) == (2, 0, 0)
    got = [(b["event"]["controller_id"], b["event"]["start_time"][11:16]) for b in receiver.delivered()]
    assert got == [("c", "10:00"), ("b", "10:00"), ("b", "11:00")]


async def test_an_open_breaker_ends_the_pass_without_charging_anyone(
    sqlite_database: Database, receiver: WebhookReceiver
) -> None:
    """When the webhook's breaker opens, the failing notification is charged one try, the rest of the pass
    is skipped and no other notification's backoff grows while no request is made."""
    settings = ControllerOutagesSettings(webhook_url=receiver.url)  # type: ignore[arg-type]
    receiver.failing = True
    async with webhook_client(breaker=BreakerPolicy(failure_threshold=1, reset_timeout=600)) as client:
        drive = Driver(sqlite_database, settings, client)
        for controller in ("d", "e", "f"):
            await drive.ingest([rec(controller, 0)], at=10)
        first = await drive.deliver(at=10)
        assert (first.delivered, first.failed, first.pending, first.breaker_open) == (0, 1, 3, True)
        later = await drive.deliver(at=20)
        assert (later.delivered, later.failed, later.breaker_open) == (0, 0, True)
    assert len(receiver.arrivals) == 1
    assert [row["attempts"] for row in await outbox(sqlite_database)] == [1, 0, 0]


async def test_delivery_counts_land_in_the_run_record(database: Database, receiver: WebhookReceiver) -> None:
    """Through the runner with the DELIVER spec: delivered, failed and pending are in each run's details."""
    group = ControllerOutagesSettings(webhook_url=receiver.url)  # type: ignore[arg-type]
    settings = Settings(database=DatabaseSettings(url=database.url)).with_groups(group)
    async with webhook_client() as client:
        ctx = JobContext(settings=settings, db=database, clients={provider.UPSTREAM: client})
        await service.ingest_records(db=database, settings=group, records=[rec("g", 0), rec("h", 0)])
        receiver.fail_rate = 0.0
        ok = await run_job(ctx, jobs.DELIVER, trigger="cli")
        await service.ingest_records(db=database, settings=group, records=[rec("g", 60)])
        receiver.failing = True
        failing = await run_job(ctx, jobs.DELIVER, trigger="cli")
        waiting = await run_job(ctx, jobs.DELIVER, trigger="cli")  # inside the backoff: nothing tried
    assert ok.summary == {"delivered": 2, "failed": 0, "pending": 0, "breaker_open": False}
    runs = list(reversed(await records.list_runs(database, job=service.DELIVER_JOB, limit=10)))
    assert [(run.outcome, run.details) for run in runs] == [
        ("success", {"delivered": 2, "failed": 0, "pending": 0, "breaker_open": False}),
        ("success", {"delivered": 0, "failed": 1, "pending": 1, "breaker_open": False}),
        ("success", {"delivered": 0, "failed": 0, "pending": 1, "breaker_open": False}),
    ]
    assert (failing.run_id, waiting.run_id) == (runs[1].id, runs[2].id)


@pytest.mark.postgres
async def test_upkeep_does_not_resolve_an_event_a_batch_extended_meanwhile(
    postgres_session_database: str,
) -> None:
    """PostgreSQL: an event found due while a batch holding its key's lock extends it is not marked
    resolved nor notified once the batch commits (upkeep re-checks under the lock)."""
    from crossdock.storage import create_database
    from crossdock.storage.migrate import upgrade_async
    from crossdock.storage.testing import reset_schema

    await reset_schema(postgres_session_database)
    await upgrade_async(postgres_session_database)
    db = create_database(DatabaseSettings(url=postgres_session_database))
    settings = ControllerOutagesSettings(webhook_url="http://127.0.0.1:9/hook")  # type: ignore[arg-type]
    try:
        await service.ingest_records(db=db, settings=settings, records=[rec("k", 0)], now=micros(10))
        async with db.unit_of_work() as batch:
            # A batch as store.ingest runs one: the key's lock first, then the event extended.
            await store._lock_keys(batch, [("k", "led_outage")])
            await batch.execute(update(Event).values(end_at=micros(60), report_count=2))
            upkeep = asyncio.create_task(service.upkeep(db=db, settings=settings, now=micros(70)))
            await wait_for_a_lock_waiter(db)
        resolved = await upkeep
        assert resolved.resolved == 0
        async with db.reader() as session:
            assert (await session.scalar(select(Event.notified))) == "open"
        assert [row["body"]["kind"] for row in await outbox(db)] == ["opened"]
        # Once it is really quiet, it resolves with the figures as they are.
        assert (await service.upkeep(db=db, settings=settings, now=micros(90))).resolved == 1
        last = (await outbox(db))[-1]["body"]
        assert (last["kind"], last["event"]["end_time"], last["event"]["report_count"]) == (
            "resolved",
            "2025-09-01T11:00:00Z",
            2,
        )
    finally:
        await db.dispose()


async def wait_for_a_lock_waiter(db: Database) -> None:
    """Until another session waits for an advisory lock (the upkeep, blocked by the batch)."""
    for _ in range(500):
        async with db.reader() as session:
            waiting = await session.scalar(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            )
        if waiting:
            return
        await asyncio.sleep(0.01)
    pytest.fail("the upkeep never waited for the key's lock")
