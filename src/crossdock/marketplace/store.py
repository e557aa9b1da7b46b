"""Reads and writes of the marketplace's plans: apply one parsed feed in one transaction.

:func:`apply_feed` streams the feed through the parser and writes idempotent upserts in batches
inside a single transaction, so a feed that turns out to be broken half-way leaves the stored data
exactly as it was. It also marks plans that left the feed and keeps ``ever_online`` sticky per base
event. Nothing here downloads, records runs or knows the HTTP API.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, BinaryIO, cast

from sqlalchemy import Table, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.errors import StorageError
from crossdock.jobs.spec import Progress
from crossdock.marketplace.feed import (
    ONLINE,
    FeedLimits,
    RejectedSession,
    SessionDigest,
    SessionPayload,
    Skipped,
    iter_feed,
)
from crossdock.marketplace.identity import plan_uuid
from crossdock.marketplace.models import Plan
from crossdock.marketplace.readmodel import SearchablePlan
from crossdock.storage import Database
from crossdock.storage.upsert import upsert

logger = logging.getLogger(__name__)

WRITE_BATCH = 500
YIELD_EVERY = 20
LOGGED_REJECTIONS = 20
# first_seen_at is kept from the first insert; everything else takes the latest values.
_KEPT_ON_CONFLICT = frozenset({"id", "first_seen_at"})


@dataclass(slots=True)
class FeedCounts:
    """What applying one feed did, session by session."""

    seen: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    left_feed: int = 0
    rejected_reasons: dict[str, int] = field(default_factory=dict)
    """How many sessions were rejected for each reason code (``invalid_date``, ``field_too_long``, ...)."""
    ignored_elements: int = 0
    """Elements outside the feed's format, dropped as read."""


class _ProgressReader:
    """A read-only file wrapper telling the progress sink how far the parser has read.

    The file is the feed's local temporary copy: a failing read (an I/O error of the disk) is a
    :class:`StorageError` naming it, not a database error nor an unexpected crash.
    """

    def __init__(self, raw: BinaryIO, progress: Progress | None) -> None:
        self._raw = raw
        self._progress = progress
        self._position = 0

    def read(self, size: int = -1) -> bytes:
        try:
            chunk = self._raw.read(size)
        except OSError as exc:
            raise StorageError(
                f"could not read the downloaded feed back from its temporary file: {exc}"
            ) from exc
        self._position += len(chunk)
        if self._progress is not None:
            self._progress.advance(self._position)
        return chunk


async def _write(session: AsyncSession, rows: dict[str, dict[str, Any]]) -> None:
    if rows:
        batch = list(rows.values())
        statement = upsert(
            session,
            cast(Table, Plan.__table__),
            key=["id"],
            update=[name for name in batch[0] if name not in _KEPT_ON_CONFLICT],
        )
        await session.execute(statement, batch)
        rows.clear()


def _row(provider: str, item: SessionPayload, *, ever_online: bool, now: datetime) -> dict[str, Any]:
    return {
        "id": plan_uuid(provider, item.base_event_id, item.event_id),
        "provider": provider,
        "base_event_id": item.base_event_id,
        "event_id": item.event_id,
        "title": item.title,
        "sell_mode": item.sell_mode,
        "ever_online": ever_online,
        "organizer_company_id": item.organizer_company_id,
        "starts_at": item.starts_at,
        "ends_at": item.ends_at,
        "sell_from": item.sell_from,
        "sell_to": item.sell_to,
        "sold_out": item.sold_out,
        "min_price": item.min_price,
        "max_price": item.max_price,
        "zones": item.zones,
        "digest": item.digest,
        "present_in_feed": True,
        "first_seen_at": now,
        "last_changed_at": now,
    }


async def apply_feed(
    db: Database,
    provider: str,
    feed: BinaryIO,
    *,
    progress: Progress | None,
    now: datetime,
    limits: FeedLimits | None = None,
) -> FeedCounts:
    """Store every session of ``feed`` for ``provider`` in one transaction; return the counts."""
    counts = FeedCounts()
    with _collector_paused():
        async with db.unit_of_work() as session:
            await _apply_in_transaction(
                session, provider, feed, counts, progress=progress, now=now, limits=limits or FeedLimits()
            )
    return counts


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    # A large feed allocates millions of small objects; the cyclic collector would rescan the
    # growing heap again and again (a third of the sync's time). Refcounting still frees them.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


async def _apply_in_transaction(
    session: AsyncSession,
    provider: str,
    feed: BinaryIO,
    counts: FeedCounts,
    *,
    progress: Progress | None,
    now: datetime,
    limits: FeedLimits,
) -> None:
    stored: dict[tuple[str, str], tuple[str, bool]] = {
        (base, event): (digest, present)
        for base, event, digest, present in await session.execute(
            select(Plan.base_event_id, Plan.event_id, Plan.digest, Plan.present_in_feed).where(
                Plan.provider == provider
            )
        )
    }
    ever_online_bases: set[str] = set(
        (
            await session.execute(
                select(Plan.base_event_id).where(Plan.provider == provider, Plan.ever_online).distinct()
            )
        ).scalars()
    )
    newly_online: set[str] = set()
    seen: set[tuple[str, str]] = set()
    pending: dict[str, dict[str, Any]] = {}

    def known(base_event_id: str, event_id: str, digest: str) -> bool:
        return stored.get((base_event_id, event_id)) == (digest, True)

    for item in iter_feed(_ProgressReader(feed, progress), known=known, limits=limits):
        if isinstance(item, Skipped):
            # A stretch of the feed with no session (ignored elements, a session over its limits).
            counts.ignored_elements += item.ignored
            await asyncio.sleep(0)
            continue
        counts.seen += 1
        if counts.seen % YIELD_EVERY == 0:
            # Parsing is CPU work on the event loop: let requests (and the scheduler) run.
            await asyncio.sleep(0)
        if isinstance(item, RejectedSession):
            counts.rejected += 1
            counts.rejected_reasons[item.code] = counts.rejected_reasons.get(item.code, 0) + 1
            # Still in the feed: a stored earlier version keeps its values and is not "left".
            seen.add((item.base_event_id, item.event_id))
            if counts.rejected <= LOGGED_REJECTIONS:
                logger.warning(
                    "marketplace record rejected: provider=%s base_event_id=%s event_id=%s code=%s reason=%s",
                    provider,
                    item.base_event_id,
                    item.event_id,
                    item.code,
                    item.reason,
                )
            continue
        key = (item.base_event_id, item.event_id)
        seen.add(key)
        if isinstance(item, SessionDigest):
            counts.unchanged += 1
            continue
        assert isinstance(item, SessionPayload)
        if item.sell_mode == ONLINE and item.base_event_id not in ever_online_bases:
            ever_online_bases.add(item.base_event_id)
            newly_online.add(item.base_event_id)
        previous = stored.get(key)
        if previous == (item.digest, True):
            counts.unchanged += 1  # the same session twice in one feed
            continue
        if previous is None:
            counts.inserted += 1
        else:
            counts.updated += 1
        stored[key] = (item.digest, True)
        row = _row(provider, item, ever_online=item.base_event_id in ever_online_bases, now=now)
        pending[row["id"]] = row
        if len(pending) >= WRITE_BATCH:
            await _write(session, pending)
    await _write(session, pending)

    left = [key for key, (_digest, present) in stored.items() if present and key not in seen]
    counts.left_feed = len(left)
    left_ids = [plan_uuid(provider, base, event) for base, event in left]
    for start in range(0, len(left_ids), WRITE_BATCH):
        await session.execute(
            update(Plan)
            .where(Plan.id.in_(left_ids[start : start + WRITE_BATCH]))
            .values(present_in_feed=False, last_changed_at=now)
        )
    # ever_online is sticky per base event: sessions of a base event stored while it was
    # offline become searchable too once it has been online.
    newly = sorted(newly_online)
    for start in range(0, len(newly), WRITE_BATCH):
        await session.execute(
            update(Plan)
            .where(
                Plan.provider == provider,
                Plan.base_event_id.in_(newly[start : start + WRITE_BATCH]),
                Plan.ever_online.is_(False),
            )
            .values(ever_online=True, last_changed_at=now)
        )


async def searchable_plans(db: Database) -> list[SearchablePlan]:
    """Every plan that was ever online, with the fields ``/search`` shows."""
    async with db.reader() as session:
        rows = await session.execute(
            select(Plan.id, Plan.title, Plan.starts_at, Plan.ends_at, Plan.min_price, Plan.max_price).where(
                Plan.ever_online.is_(True)
            )
        )
        return [SearchablePlan(*row) for row in rows]


@dataclass(frozen=True, slots=True)
class CatalogueCounts:
    """How many plans are stored, in the current feed and searchable, and the last change."""

    stored: int
    in_feed: int
    searchable: int
    last_changed_at: datetime | None


async def catalogue_counts(db: Database) -> CatalogueCounts:
    """One aggregate over the plans table (the console's catalogue)."""
    async with db.reader() as session:
        row = (
            await session.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(case((Plan.present_in_feed.is_(True), 1), else_=0)), 0),
                    func.coalesce(func.sum(case((Plan.ever_online.is_(True), 1), else_=0)), 0),
                    func.max(Plan.last_changed_at),
                ).select_from(Plan)
            )
        ).one()
    return CatalogueCounts(int(row[0]), int(row[1]), int(row[2]), row[3])
