"""Use cases of the controller-outages capability: ingest reports, read events, rebuild, upkeep, notify.

Every entry point (``POST /outages``, ``crossdock controller-outages import``, the jobs) calls these
functions. Times come in as microseconds since the epoch; ``now`` is injectable for tests.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from crossdock.controller_outages import batching, provider, store
from crossdock.controller_outages.schemas import (
    OUTAGE_TYPES,
    EventPage,
    EventRead,
    IngestAnswer,
    RecordError,
    RejectedRecord,
    ReportIn,
    micros,
    parse_instant,
    parse_record,
)
from crossdock.controller_outages.settings import ControllerOutagesSettings
from crossdock.errors import CircuitOpenError, InvalidInputError, NotFoundError, UpstreamError
from crossdock.httpclient import ResilientClient
from crossdock.jobs.spec import RunReport
from crossdock.storage import Database

logger = logging.getLogger(__name__)

CAPABILITY = "controller-outages"
DELIVER_JOB = "controller_outages.deliver"
UPKEEP_JOB = "controller_outages.upkeep"
MAX_PAGE = 1000
RETRY_BACKOFF_MAX_SECONDS = 60.0


def now_micros() -> int:
    return time.time_ns() // 1000


def _notify(settings: ControllerOutagesSettings, now: int) -> store.Notify:
    return store.Notify(enabled=settings.webhook_url is not None, now=now, gap=settings.gap_us)


def check_time(report: ReportIn, settings: ControllerOutagesSettings, now: int) -> None:
    """Refuse a report too far in the future, or older than the optional horizon."""
    if report.at > now + round(settings.max_future * 1_000_000):
        raise RecordError(f"timestamp is more than {settings.max_future:g} s in the future")
    if settings.max_age is not None and report.at < now - round(settings.max_age * 1_000_000):
        raise RecordError(f"timestamp is older than the {settings.max_age:g} s horizon")


async def ingest_records(
    *, db: Database, settings: ControllerOutagesSettings, records: Sequence[object], now: int | None = None
) -> IngestAnswer:
    """Store the good records of a batch (the others are listed with their reason), merge their events.

    Raises :class:`InvalidInputError` for a batch over the record limit; one bad record never stops
    the others.
    """
    if len(records) > settings.max_batch_records:
        raise InvalidInputError(
            f"a batch holds at most {settings.max_batch_records} records ({len(records)} given)",
            code="too_many_records",
        )
    now = now_micros() if now is None else now
    valid: list[ReportIn] = []
    rejected: list[RejectedRecord] = []
    for index, raw in enumerate(records):
        try:
            report = parse_record(raw)
            check_time(report, settings, now)
        except RecordError as exc:
            rejected.append(RejectedRecord(index=index, error=str(exc)))
            continue
        valid.append(report)
    outcome = await batching.ingest(
        db, valid, gap=settings.gap_us, received_at=datetime.now(UTC), notify=_notify(settings, now)
    )
    event_ids = sorted({outcome.event_of[(r.controller_id, r.outage_type, r.at)] for r in valid})
    return IngestAnswer(
        accepted=outcome.accepted, duplicates=outcome.duplicates, rejected=rejected, event_ids=event_ids
    )


@dataclass(frozen=True, slots=True)
class EventQuery:
    """The raw filters of ``GET /events`` / ``controller-outages events`` (strings as given)."""

    controller_id: str | None = None
    outage_type: str | None = None
    start_time: str | None = None
    end_time: str | None = None
    status: str | None = None
    limit: int = 100
    cursor: str | None = None


def event_filter(query: EventQuery) -> store.EventFilter:
    """The filters of ``query``, checked; :class:`InvalidInputError` says what is wrong."""
    if query.outage_type is not None and query.outage_type not in OUTAGE_TYPES:
        raise InvalidInputError(
            f"outage_type must be one of {', '.join(OUTAGE_TYPES)}", code="invalid_filter"
        )
    if query.status is not None and query.status not in ("ongoing", "resolved"):
        raise InvalidInputError("status must be ongoing or resolved", code="invalid_filter")
    if not 1 <= query.limit <= MAX_PAGE:
        raise InvalidInputError(f"limit must be between 1 and {MAX_PAGE}", code="invalid_filter")
    try:
        start = parse_instant(query.start_time, name="start_time") if query.start_time is not None else None
        end = parse_instant(query.end_time, name="end_time") if query.end_time is not None else None
    except RecordError as exc:
        raise InvalidInputError(str(exc), code="invalid_datetime") from None
    if start is not None and end is not None and start > end:
        raise InvalidInputError("start_time must not be after end_time", code="invalid_range")
    return store.EventFilter(
        controller_id=query.controller_id,
        outage_type=query.outage_type,
        start=start,
        end=end,
        status=query.status,
        limit=query.limit,
        after=store.decode_cursor(query.cursor) if query.cursor else None,
    )


async def list_events(
    *, db: Database, settings: ControllerOutagesSettings, query: EventQuery, now: int | None = None
) -> EventPage:
    """One page of events matching ``query`` (overlap on the time range), ordered by start then id."""
    filters = event_filter(query)
    now = now_micros() if now is None else now
    events, cursor = await store.list_events(db, filters, now=now, gap=settings.gap_us)
    return EventPage(events=[EventRead.model_validate(event) for event in events], next_cursor=cursor)


async def get_event(
    *, db: Database, settings: ControllerOutagesSettings, event_id: str, now: int | None = None
) -> EventRead:
    """The event ``event_id``, or the one it was merged into; :class:`NotFoundError` when unknown."""
    now = now_micros() if now is None else now
    found = await store.get_event(db, event_id[:64], now=now, gap=settings.gap_us)
    if found is None:
        raise NotFoundError(f"no event has the id {event_id[:64]!r}")
    return EventRead.model_validate(found)


@dataclass(frozen=True, slots=True)
class RebuildResult:
    keys: int
    changed_keys: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def rebuild(
    *,
    db: Database,
    settings: ControllerOutagesSettings,
    now: int | None = None,
    report: RunReport | None = None,
) -> RebuildResult:
    """Recompute every event from the raw reports; says how many keys differed (and were rewritten)."""
    now = now_micros() if now is None else now
    keys = [key async for key in store.keys_with_reports(db)]
    changed = 0
    for key in keys:
        if await store.rebuild_key(db, key, gap=settings.gap_us, notify=_notify(settings, now)):
            changed += 1
            logger.warning("controller outages rebuild: events of %s/%s differed and were rewritten", *key)
    result = RebuildResult(keys=len(keys), changed_keys=changed)
    if report is not None:
        report.changed = changed > 0
        report.details.update(result.as_dict())
    return result


@dataclass(frozen=True, slots=True)
class UpkeepResult:
    resolved: int
    pruned_reports: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def upkeep(
    *,
    db: Database,
    settings: ControllerOutagesSettings,
    now: int | None = None,
    report: RunReport | None = None,
) -> UpkeepResult:
    """Mark events past the gap as resolved (notifying), and prune old reports when retention is set."""
    now = now_micros() if now is None else now
    resolved = await store.mark_resolved(db, notify=_notify(settings, now))
    # The read models' change log: an hour is far more than any serving process lags behind.
    await store.prune_changes(db, before=datetime.fromtimestamp(now / 1_000_000, UTC) - timedelta(hours=1))
    pruned = 0
    if settings.report_retention_days is not None:
        before = now - round(settings.report_retention_days * 86_400 * 1_000_000)
        pruned = await store.prune_reports(db, before=before, gap=settings.gap_us, now=now)
    result = UpkeepResult(resolved=resolved, pruned_reports=pruned)
    if report is not None:
        report.details.update(result.as_dict())
    return result


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    delivered: int
    failed: int
    pending: int
    breaker_open: bool = False  # the pass stopped at the webhook's open circuit breaker

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def retry_delay(attempts: int) -> float:
    """Seconds before the next try of a notification that failed ``attempts`` times (capped)."""
    return float(min(RETRY_BACKOFF_MAX_SECONDS, 2 ** min(attempts - 1, 10)))


async def deliver(
    *,
    db: Database,
    client: ResilientClient,
    settings: ControllerOutagesSettings,
    now: datetime | None = None,
    batch: int = 500,
    report: RunReport | None = None,
) -> DeliveryResult:
    """POST pending notifications to the webhook, oldest first and in order per key.

    A key whose oldest pending notification fails (or waits for its retry time) gets nothing newer
    delivered in this pass, so the receiver sees each key's notifications in order, at least once.
    Keys waiting for a retry do not take up the pass's ``batch``. A call refused by the open circuit
    breaker ends the pass and counts against no notification: nothing was sent.
    """
    if settings.webhook_url is None:
        return DeliveryResult(0, 0, 0)
    url = str(settings.webhook_url)
    moment = now or datetime.now(UTC)
    delivered = failed = 0
    breaker_open = False
    blocked: set[str] = set()
    for row in await store.pending_notifications(db, limit=batch, due_at=moment):
        if row.key in blocked:
            continue
        if row.next_attempt_at > moment:
            blocked.add(row.key)
            continue
        try:
            await provider.post_notification(client, url, row.body)
        except UpstreamError as exc:
            blocked.add(row.key)
            if exc.attempts:  # 0: refused by the open breaker before any request
                failed += 1
                attempts = row.attempts + 1
                await store.notification_failed(
                    db,
                    row.id,
                    attempts=attempts,
                    retry_at=moment + timedelta(seconds=retry_delay(attempts)),
                    error=exc.message,
                )
            if isinstance(exc, CircuitOpenError):
                breaker_open = True
                break
            continue
        await store.notification_delivered(db, row.id, at=datetime.now(UTC))
        delivered += 1
    pending = (await store.counts(db))["pending_notifications"]
    result = DeliveryResult(delivered=delivered, failed=failed, pending=pending, breaker_open=breaker_open)
    if report is not None:
        report.details.update(result.as_dict())
    return result


def at_micros(moment: datetime) -> int:
    return micros(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
