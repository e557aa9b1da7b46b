"""Use cases of the marketplace capability: sync the provider's feed, load what ``/search`` serves,
list sync runs.

Entry points (the sync job, ``crossdock marketplace ...``, the API routes and runtime) call these
functions and only format their results. A sync streams the feed to a temporary file, then applies it
in one transaction (:mod:`crossdock.marketplace.store`): a feed that turns out to be broken half-way
leaves the stored data exactly as it was. The run itself is recorded by the core's runner; the sync
notes its counts on the :class:`~crossdock.jobs.spec.RunReport` it is given.
"""

from __future__ import annotations

import io
import logging
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from crossdock.errors import StorageError
from crossdock.httpclient import ResilientClient
from crossdock.jobs import records
from crossdock.jobs.models import RunRecord
from crossdock.jobs.spec import Progress, RunReport
from crossdock.marketplace import provider as provider_api
from crossdock.marketplace import store
from crossdock.marketplace.feed import FeedLimits
from crossdock.marketplace.readmodel import DEFAULT_CACHE_BYTES, DEFAULT_CACHE_ENTRIES, SearchIndex
from crossdock.marketplace.settings import MarketplaceSettings
from crossdock.storage import Database

logger = logging.getLogger(__name__)

CAPABILITY = "marketplace"
SYNC_JOB = "marketplace.sync"


@dataclass(frozen=True, slots=True)
class SyncSummary:
    """What one sync did; what ``crossdock marketplace sync --json`` prints."""

    run_id: int | None
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
    rejected_reasons: dict[str, int] = field(default_factory=dict)
    ignored_elements: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _temporary_feed_file() -> io.BufferedRandom:
    """A temporary file for the feed; a directory that cannot take it is a StorageError saying where."""
    try:
        return tempfile.TemporaryFile(prefix="crossdock-feed-")
    except OSError as exc:
        raise StorageError(
            f"could not create a temporary file for the feed in {tempfile.gettempdir()}: {exc}"
        ) from exc


async def sync_marketplace(
    *,
    db: Database,
    client: ResilientClient,
    settings: MarketplaceSettings,
    force_parse: bool = False,
    progress: Progress | None = None,
    report: RunReport | None = None,
) -> SyncSummary:
    """Fetch the provider's current feed and store it.

    Raises the :class:`~crossdock.errors.CrossdockError` that failed the sync (upstream unavailable,
    feed not usable, database error); the data stored before stays exactly as it was. ``report``
    receives the attempts, counts and whether anything changed, as soon as each is known.
    """
    report = report if report is not None else RunReport()
    provider = settings.provider_name
    started = time.monotonic()
    started_at = datetime.now(UTC)
    with _temporary_feed_file() as feed:
        if progress is not None:
            progress.phase("download", None)

        def on_bytes(done: int, total: int | None) -> None:
            if progress is not None:
                if total is not None and done == 0:
                    progress.phase("download", total)
                progress.advance(done)

        download = await provider_api.download_feed(client, settings, feed, on_progress=on_bytes)
        report.attempts = download.attempts
        report.details["feed_bytes"] = download.bytes_written
        previous = (
            None
            if force_parse
            else await records.last_run(db, job=SYNC_JOB, subject=provider, outcome="success")
        )
        if previous is not None and previous.details.get("feed_sha256") == download.sha256_hex:
            # Byte-identical to the last feed that was fully applied: nothing can change.
            seen, rejected = int(previous.details["seen"]), int(previous.details["rejected"])
            counts = store.FeedCounts(
                seen=seen,
                unchanged=seen - rejected,
                rejected=rejected,
                rejected_reasons=dict(previous.details.get("rejected_reasons") or {}),
                ignored_elements=int(previous.details.get("ignored_elements") or 0),
            )
            skipped = True
        else:
            feed.seek(0)
            if progress is not None:
                progress.phase("parse", download.bytes_written)
            counts = await store.apply_feed(
                db,
                provider,
                feed,
                progress=progress,
                now=started_at,
                limits=FeedLimits.from_settings(settings),
            )
            skipped = False
    report.changed = bool(counts.inserted or counts.updated or counts.left_feed)
    report.details.update(asdict(counts), feed_sha256=download.sha256_hex)
    duration = time.monotonic() - started
    logger.info(
        "marketplace sync ok: provider=%s seen=%d inserted=%d updated=%d unchanged=%d rejected=%d "
        "left_feed=%d ignored_elements=%d duration=%.3fs",
        provider,
        counts.seen,
        counts.inserted,
        counts.updated,
        counts.unchanged,
        counts.rejected,
        counts.left_feed,
        counts.ignored_elements,
        duration,
    )
    return SyncSummary(
        run_id=report.run_id,
        provider=provider,
        outcome="success",
        changed=report.changed,
        duration_seconds=round(duration, 3),
        feed_bytes=download.bytes_written,
        attempts=download.attempts,
        skipped_identical_feed=skipped,
        **asdict(counts),
    )


async def list_sync_runs(*, db: Database, limit: int = 20) -> list[RunRecord]:
    """The most recent sync runs, newest first."""
    return await records.list_runs(db, capability=CAPABILITY, limit=limit)


async def data_version(*, db: Database) -> int:
    """A number that grows whenever a sync changed what is searchable (0: nothing stored yet)."""
    return await records.last_changed_run_id(db, capability=CAPABILITY)


async def build_search_index(
    *, db: Database, cache_entries: int = DEFAULT_CACHE_ENTRIES, cache_bytes: int = DEFAULT_CACHE_BYTES
) -> SearchIndex:
    """Load every plan that was ever online into a fresh :class:`SearchIndex` (answer cache bounds given)."""
    # The version is read first: a sync committing in between makes the index newer than its
    # version says, and the next check simply loads it again.
    version = await data_version(db=db)
    plans = await store.searchable_plans(db)
    return SearchIndex(version=version, plans=plans, cache_entries=cache_entries, cache_bytes=cache_bytes)
