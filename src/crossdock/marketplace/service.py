"""Use cases of the marketplace capability: sync the provider's feed, list runs, search plans.

Entry points (the sync job, ``crossdock marketplace ...``, the API routes) call these functions
and only format their results. The sync streams the feed to a temporary file, parses it in a
streaming fashion and writes idempotent upserts in one transaction: a feed that turns out to be
broken half-way leaves the stored data exactly as it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO, Protocol, cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from crossdock.errors import CrossdockError, InvalidInputError
from crossdock.httpclient import ResilientClient
from crossdock.marketplace.identity import plan_uuid
from crossdock.marketplace.models import Plan, SyncRun
from crossdock.marketplace.provider import (
    ONLINE,
    RejectedSession,
    SessionDigest,
    SessionPayload,
    iter_feed,
)
from crossdock.marketplace.readmodel import SearchablePlan, SearchIndex
from crossdock.storage import Database

logger = logging.getLogger(__name__)

WRITE_BATCH = 500
YIELD_EVERY = 20
LOGGED_REJECTIONS = 20


class SyncProgress(Protocol):
    """Receives progress of a sync: a phase with an optional total, then absolute positions."""

    def phase(self, name: str, total: int | None) -> None: ...

    def advance(self, completed: int) -> None: ...


@dataclass(frozen=True, slots=True)
class SyncSummary:
    """What one sync did; also what the sync job returns."""

    run_id: int
    provider: str
    outcome: str
    seen: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    left_feed: int
    changed: bool
    duration_seconds: float
    feed_bytes: int
    attempts: int
    skipped_identical_feed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class _Counts:
    seen: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    left_feed: int = 0


class _ProgressReader:
    """A read-only file wrapper telling the progress sink how far the parser has read."""

    def __init__(self, raw: BinaryIO, progress: SyncProgress | None) -> None:
        self._raw = raw
        self._progress = progress
        self._position = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._raw.read(size)
        self._position += len(chunk)
        if self._progress is not None:
            self._progress.advance(self._position)
        return chunk


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _upsert(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> Any:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # Core insert on the table (not the ORM entity): executemany without ORM bookkeeping.
    statement = insert(cast(Table, Plan.__table__))
    # first_seen_at is kept from the first insert; everything else takes the latest values.
    kept = {"id", "first_seen_at"}
    columns = {name: statement.excluded[name] for name in rows[0] if name not in kept}
    return statement.on_conflict_do_update(index_elements=["id"], set_=columns)


async def _write(session: AsyncSession, rows: dict[str, dict[str, Any]]) -> None:
    if rows:
        batch = list(rows.values())
        await session.execute(_upsert(session, batch), batch)
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


async def _start_run(db: Database, provider: str, started_at: datetime) -> int:
    async with db.unit_of_work() as session:
        # A run left 'running' by a process that died can never finish: say so.
        await session.execute(
            update(SyncRun)
            .where(SyncRun.provider == provider, SyncRun.outcome == "running")
            .values(
                outcome="failed", error="interrupted: the process running it stopped", finished_at=started_at
            )
        )
        run = SyncRun(
            provider=provider,
            started_at=started_at,
            outcome="running",
            seen=0,
            inserted=0,
            updated=0,
            unchanged=0,
            rejected=0,
            left_feed=0,
            changed=False,
        )
        session.add(run)
        await session.flush()
        return run.id


async def _finish_run(db: Database, run_id: int, **values: Any) -> None:
    async with db.unit_of_work() as session:
        await session.execute(update(SyncRun).where(SyncRun.id == run_id).values(**values))


async def _last_success(db: Database, provider: str) -> SyncRun | None:
    async with db.reader() as session:
        return (
            await session.execute(
                select(SyncRun)
                .where(SyncRun.provider == provider, SyncRun.outcome == "success")
                .order_by(SyncRun.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()


async def _apply_feed(
    db: Database, provider: str, feed: BinaryIO, *, progress: SyncProgress | None, now: datetime
) -> _Counts:
    counts = _Counts()
    with _collector_paused():
        async with db.unit_of_work() as session:
            await _apply_in_transaction(session, provider, feed, counts, progress=progress, now=now)
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
    counts: _Counts,
    *,
    progress: SyncProgress | None,
    now: datetime,
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

    for item in iter_feed(_ProgressReader(feed, progress), known=known):
        counts.seen += 1
        if counts.seen % YIELD_EVERY == 0:
            # Parsing is CPU work on the event loop: let requests (and the scheduler) run.
            await asyncio.sleep(0)
        if isinstance(item, RejectedSession):
            counts.rejected += 1
            # Still in the feed: a stored earlier version keeps its values and is not "left".
            seen.add((item.base_event_id, item.event_id))
            if counts.rejected <= LOGGED_REJECTIONS:
                logger.warning(
                    "marketplace record rejected: provider=%s base_event_id=%s event_id=%s reason=%s",
                    provider,
                    item.base_event_id,
                    item.event_id,
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


async def sync_marketplace(
    *,
    db: Database,
    client: ResilientClient,
    provider: str,
    feed_url: str,
    max_feed_bytes: int,
    force_parse: bool = False,
    progress: SyncProgress | None = None,
) -> SyncSummary:
    """Fetch the provider's current feed and store it; record the run whatever happens.

    Raises the :class:`CrossdockError` that failed the sync (upstream unavailable, feed not usable,
    database error) after recording it; the data stored before stays exactly as it was.
    """
    started = time.monotonic()
    started_at = _utcnow()
    run_id = await _start_run(db, provider, started_at)
    feed_bytes = 0
    attempts = 0
    try:
        with tempfile.TemporaryFile(prefix="crossdock-feed-") as feed:
            if progress is not None:
                progress.phase("download", None)

            def on_bytes(done: int, total: int | None) -> None:
                if progress is not None:
                    if total is not None and done == 0:
                        progress.phase("download", total)
                    progress.advance(done)

            download = await client.download(
                "GET", feed_url, dest=feed, on_progress=on_bytes, max_bytes=max_feed_bytes
            )
            feed_bytes, attempts = download.bytes_written, download.attempts
            previous = None if force_parse else await _last_success(db, provider)
            if previous is not None and previous.feed_sha256 == download.sha256_hex:
                # Byte-identical to the last feed that was fully applied: nothing can change.
                counts = _Counts(
                    seen=previous.seen,
                    unchanged=previous.seen - previous.rejected,
                    rejected=previous.rejected,
                )
                skipped = True
            else:
                feed.seek(0)
                if progress is not None:
                    progress.phase("parse", feed_bytes)
                counts = await _apply_feed(db, provider, feed, progress=progress, now=started_at)
                skipped = False
        changed = bool(counts.inserted or counts.updated or counts.left_feed)
        duration = time.monotonic() - started
        await _finish_run(
            db,
            run_id,
            outcome="success",
            finished_at=_utcnow(),
            duration_seconds=duration,
            feed_bytes=feed_bytes,
            feed_sha256=download.sha256_hex,
            attempts=attempts,
            changed=changed,
            **asdict(counts),
        )
    except CrossdockError as exc:
        await _record_failure(db, run_id, started, exc.message, feed_bytes, attempts, exc)
        raise
    except Exception as exc:
        await _record_failure(
            db, run_id, started, f"unexpected {exc.__class__.__name__}", feed_bytes, attempts, exc
        )
        raise
    summary = SyncSummary(
        run_id=run_id,
        provider=provider,
        outcome="success",
        changed=changed,
        duration_seconds=round(duration, 3),
        feed_bytes=feed_bytes,
        attempts=attempts,
        skipped_identical_feed=skipped,
        **asdict(counts),
    )
    logger.info(
        "marketplace sync ok: provider=%s seen=%d inserted=%d updated=%d unchanged=%d rejected=%d "
        "left_feed=%d duration=%.3fs",
        provider,
        counts.seen,
        counts.inserted,
        counts.updated,
        counts.unchanged,
        counts.rejected,
        counts.left_feed,
        duration,
    )
    return summary


async def _record_failure(
    db: Database,
    run_id: int,
    started: float,
    message: str,
    feed_bytes: int,
    attempts: int,
    exc: BaseException,
) -> None:
    logger.error("marketplace sync failed: run=%d error=%s", run_id, message)
    try:
        await _finish_run(
            db,
            run_id,
            outcome="failed",
            finished_at=_utcnow(),
            duration_seconds=time.monotonic() - started,
            feed_bytes=feed_bytes or None,
            attempts=attempts or getattr(exc, "attempts", None),
            error=message[:2000],
        )
    except CrossdockError as record_exc:
        logger.error("could not record the failed sync run %d: %s", run_id, record_exc.message)


async def list_runs(*, db: Database, limit: int = 20) -> list[SyncRun]:
    """The most recent sync runs, newest first."""
    async with db.reader() as session:
        result = await session.execute(select(SyncRun).order_by(SyncRun.id.desc()).limit(limit))
        return list(result.scalars())


async def data_version(*, db: Database) -> int:
    """A number that grows whenever a sync changed what is searchable (0: nothing stored yet)."""
    async with db.reader() as session:
        value = await session.scalar(select(func.max(SyncRun.id)).where(SyncRun.changed.is_(True)))
        return int(value or 0)


async def build_search_index(*, db: Database, cache_entries: int = 4096) -> SearchIndex:
    """Load every plan that was ever online into a fresh :class:`SearchIndex`."""
    async with db.reader() as session:
        version = await session.scalar(select(func.max(SyncRun.id)).where(SyncRun.changed.is_(True)))
        rows = await session.execute(
            select(Plan.id, Plan.title, Plan.starts_at, Plan.ends_at, Plan.min_price, Plan.max_price).where(
                Plan.ever_online.is_(True)
            )
        )
        plans = [SearchablePlan(*row) for row in rows]
    return SearchIndex(version=int(version or 0), plans=plans, cache_entries=cache_entries)


def parse_bound(name: str, value: str | None) -> datetime | None:
    """Parse one ``/search`` bound; naive result in the provider's wall-clock time (UTC rule).

    Accepts RFC 3339 / ISO 8601 date-times with ``Z``, with an offset, or without any (taken as
    UTC), and plain dates (midnight). An offset is converted to UTC, then dropped.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        raise InvalidInputError(
            f"{name} is empty; give an ISO 8601 date-time such as 2021-07-21T17:32:28Z",
            code="invalid_datetime",
        )
    # An unencoded '+' of an offset arrives as a space after form decoding: try it back as '+'.
    for candidate in (text, text.replace(" ", "+")):
        try:
            parsed = datetime.fromisoformat(candidate)
            break
        except ValueError:
            continue
    else:
        raise InvalidInputError(
            f"{name} {value[:64]!r} is not an ISO 8601 date-time such as 2021-07-21T17:32:28Z",
            code="invalid_datetime",
        )
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def search_answer(index: SearchIndex, *, starts_at: str | None, ends_at: str | None) -> bytes:
    """The JSON body answering ``GET /search``; raises :class:`InvalidInputError` on bad bounds."""
    low = parse_bound("starts_at", starts_at)
    high = parse_bound("ends_at", ends_at)
    if low is not None and high is not None and low > high:
        raise InvalidInputError("starts_at must not be after ends_at", code="invalid_range")
    return index.answer(low, high)
