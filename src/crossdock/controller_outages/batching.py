"""Small ingests arriving together share one transaction (group commit), per process and database.

A single-record ``POST /outages`` costs a handful of database round trips (lock, insert, events,
write, change row, commit) whatever its size, so at tens of concurrent clients the round trips are
the bottleneck, not the work. While one transaction of small ingests runs, the next small ingests
queue; when it ends, everything queued (up to :data:`FLUSH_REPORTS` reports) goes in the next one.
Nothing waits on a timer: alone, a request is stored exactly as before.

Each caller still gets the answer of its own records, as if the queued ingests had run one after the
other in arrival order: a record two of them sent is accepted for the first and a duplicate for the
second. The stored events do not depend on how reports are grouped (``merge.py``); only a transient
event that the next record of the same transaction would have merged away at once is never created
(nor notified), exactly as when a client posts both records in one array.

On SQLite, ingests of this process also run one at a time (large ones included): SQLite has one
writer anyway, and waiting on a lock here is cheaper than its busy handler's sleeps.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from crossdock.controller_outages import store
from crossdock.controller_outages.schemas import ReportIn
from crossdock.storage import Database

COMBINE_MAX = 100
"""Ingests of at most this many reports may share a transaction; larger ones run on their own."""
FLUSH_REPORTS = 5_000
"""At most this many reports in one shared transaction."""


@dataclass(slots=True)
class _Pending:
    reports: Sequence[ReportIn]
    notify: store.Notify
    done: asyncio.Future[store.IngestOutcome]


@dataclass(slots=True)
class _Combiner:
    loop: asyncio.AbstractEventLoop
    queue: list[_Pending] = field(default_factory=list)
    flusher: asyncio.Task[None] | None = None
    sqlite_writer: asyncio.Lock = field(default_factory=asyncio.Lock)


_COMBINERS: weakref.WeakKeyDictionary[Database, _Combiner] = weakref.WeakKeyDictionary()


def _combiner(db: Database) -> _Combiner:
    loop = asyncio.get_running_loop()
    combiner = _COMBINERS.get(db)
    if combiner is None or combiner.loop is not loop:  # a Database used from another event loop (tests)
        combiner = _COMBINERS[db] = _Combiner(loop)
    return combiner


async def ingest(
    db: Database, reports: Sequence[ReportIn], *, gap: int, received_at: datetime, notify: store.Notify
) -> store.IngestOutcome:
    """:func:`store.ingest`, sharing the transaction with other small ingests queued at the same time."""
    combiner = _combiner(db)
    if len(reports) > COMBINE_MAX:
        if not db.is_sqlite:
            return await store.ingest(db, reports, gap=gap, received_at=received_at, notify=notify)
        async with combiner.sqlite_writer:
            return await store.ingest(db, reports, gap=gap, received_at=received_at, notify=notify)
    pending = _Pending(reports, notify, combiner.loop.create_future())
    combiner.queue.append(pending)
    if combiner.flusher is None or combiner.flusher.done():
        combiner.flusher = asyncio.create_task(_flush(db, combiner, gap=gap))
    # Shielded: a caller that goes away (a client disconnecting) must not cancel the others' work.
    return await asyncio.shield(pending.done)


async def _flush(db: Database, combiner: _Combiner, *, gap: int) -> None:
    while combiner.queue:
        taken: list[_Pending] = []
        size = 0
        while combiner.queue and (not taken or size + len(combiner.queue[0].reports) <= FLUSH_REPORTS):
            pending = combiner.queue.pop(0)
            taken.append(pending)
            size += len(pending.reports)
        reports = [report for pending in taken for report in pending.reports]
        notify = taken[-1].notify  # the latest caller's moment
        try:
            if db.is_sqlite:
                async with combiner.sqlite_writer:
                    outcome = await _ingest(db, reports, gap=gap, notify=notify)
            else:
                outcome = await _ingest(db, reports, gap=gap, notify=notify)
        except BaseException as exc:
            for pending in taken:
                if not pending.done.done():
                    pending.done.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            continue
        claimed: set[tuple[str, str, int]] = set()
        for pending in taken:
            if not pending.done.done():
                pending.done.set_result(_share(outcome, pending.reports, claimed))


async def _ingest(
    db: Database, reports: list[ReportIn], *, gap: int, notify: store.Notify
) -> store.IngestOutcome:
    return await store.ingest(db, reports, gap=gap, received_at=datetime.now(UTC), notify=notify)


def _share(
    outcome: store.IngestOutcome, reports: Sequence[ReportIn], claimed: set[tuple[str, str, int]]
) -> store.IngestOutcome:
    """One caller's part of a shared outcome; ``claimed``: new reports already counted for earlier callers."""
    mine = store.IngestOutcome()
    for report in reports:
        record = (report.controller_id, report.outage_type, report.at)
        mine.event_of[record] = outcome.event_of[record]
        if record in outcome.new and record not in claimed:
            claimed.add(record)
            mine.new.add(record)
    mine.accepted = len(mine.new)
    mine.duplicates = len(reports) - mine.accepted
    return mine
