"""Reads and writes of the controller-outages tables; every change of events happens here.

:func:`ingest` stores a batch of reports and updates the events of their keys in one transaction,
holding a lock per key (PostgreSQL advisory locks taken in ascending order, so concurrent batches
never deadlock; on SQLite the write transaction itself is exclusive), so the stored events are the
same whatever the order, duplication or concurrency of the batches: see :mod:`.merge`.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    String,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from crossdock.controller_outages.merge import Run, Segment, merge
from crossdock.controller_outages.models import Alias, Change, Event, Notification, Report
from crossdock.controller_outages.schemas import ReportIn, event_json, iso
from crossdock.errors import InvalidInputError
from crossdock.jobs.records import CHANGES_CHANNEL
from crossdock.storage import Database
from crossdock.storage.timestamps import UtcDateTime

Key = tuple[str, str]
KEY_SEPARATOR = "\x1f"
_LOCKS = text(
    "SELECT pg_advisory_xact_lock(k) FROM (SELECT unnest(:keys) AS k ORDER BY k) AS ordered"
).bindparams(bindparam("keys", type_=ARRAY(BigInteger)))


def key_text(key: Key) -> str:
    return f"{key[0]}{KEY_SEPARATOR}{key[1]}"


def _lock_id(key: Key) -> int:
    return int.from_bytes(hashlib.blake2b(key_text(key).encode(), digest_size=8).digest(), "big", signed=True)


async def _lock_keys(session: AsyncSession | AsyncConnection, keys: Iterable[Key]) -> None:
    """Serialize work on these keys with every other transaction touching them."""
    dialect = session.dialect if isinstance(session, AsyncConnection) else session.get_bind().dialect
    if dialect.name == "postgresql":
        await session.execute(_LOCKS, {"keys": sorted({_lock_id(key) for key in keys})})
    # SQLite: the write transaction began IMMEDIATE and is the only writer until it ends.


@dataclass(slots=True)
class StoredEvent:
    """An event row as this module works with it."""

    id: str
    controller_id: str
    outage_type: str
    start_at: int
    end_at: int
    report_count: int
    notified: str = "open"
    archived: bool = False

    @property
    def segment(self) -> Segment:
        return Segment(self.id, self.start_at, self.end_at, self.report_count)


@dataclass(slots=True)
class IngestOutcome:
    """What one batch did, and the event each report now belongs to."""

    accepted: int = 0
    duplicates: int = 0
    event_of: dict[tuple[str, str, int], str] = field(default_factory=dict)
    new: set[tuple[str, str, int]] = field(default_factory=set)  # the reports stored by this batch
    opened: int = 0
    merged: int = 0


@dataclass(frozen=True, slots=True)
class Notify:
    """Whether to write notifications (a webhook is configured), and the moment and gap for them."""

    enabled: bool
    now: int
    gap: int


# The batch statements: one round trip whatever the number of reports or keys. PostgreSQL takes the
# columns as arrays (unnest), SQLite as one JSON array (json_each); both return what they inserted.
_INSERT_REPORTS_PG = text(
    "INSERT INTO controller_outage_reports (controller_id, outage_type, at, received_at) "
    "SELECT u.c, u.t, u.a, :received_at FROM unnest(:c, :t, :a) AS u(c, t, a) "
    "ON CONFLICT (controller_id, outage_type, at) DO NOTHING "
    "RETURNING controller_id, outage_type, at"
).bindparams(
    bindparam("c", type_=ARRAY(String)),
    bindparam("t", type_=ARRAY(String)),
    bindparam("a", type_=ARRAY(BigInteger)),
    bindparam("received_at", type_=UtcDateTime()),
)
_INSERT_REPORTS_SQLITE = text(
    "INSERT INTO controller_outage_reports (controller_id, outage_type, at, received_at) "
    "SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, :received_at FROM json_each(:rows) AS j WHERE true "
    "ON CONFLICT (controller_id, outage_type, at) DO NOTHING "
    "RETURNING controller_id, outage_type, at"
).bindparams(bindparam("received_at", type_=UtcDateTime()))
_LOAD_EVENTS_PG = text(
    "SELECT e.id, e.controller_id, e.outage_type, e.start_at, e.end_at, e.report_count, e.notified, "
    "e.archived FROM unnest(:c, :t, :lo, :hi) AS k(c, t, lo, hi) "
    "JOIN controller_outage_events AS e ON e.controller_id = k.c AND e.outage_type = k.t "
    "AND e.start_at <= k.hi AND e.end_at >= k.lo"
).bindparams(
    bindparam("c", type_=ARRAY(String)),
    bindparam("t", type_=ARRAY(String)),
    bindparam("lo", type_=ARRAY(BigInteger)),
    bindparam("hi", type_=ARRAY(BigInteger)),
)
# CROSS JOIN: SQLite keeps the keys as the outer loop and looks each one up in the key index.
_LOAD_EVENTS_SQLITE = text(
    "SELECT e.id, e.controller_id, e.outage_type, e.start_at, e.end_at, e.report_count, e.notified, "
    "e.archived FROM json_each(:keys) AS k CROSS JOIN controller_outage_events AS e "
    "WHERE e.controller_id = k.value ->> 0 AND e.outage_type = k.value ->> 1 "
    "AND e.start_at <= k.value ->> 3 AND e.end_at >= k.value ->> 2"
)
_UPDATE_EVENTS_PG = text(
    "UPDATE controller_outage_events AS e SET start_at = u.s, end_at = u.e, report_count = u.n, "
    "notified = u.notified, archived = u.archived "
    "FROM unnest(:id, :s, :e, :n, :notified, :archived) AS u(id, s, e, n, notified, archived) "
    "WHERE e.id = u.id"
).bindparams(
    bindparam("id", type_=ARRAY(String)),
    bindparam("s", type_=ARRAY(BigInteger)),
    bindparam("e", type_=ARRAY(BigInteger)),
    bindparam("n", type_=ARRAY(BigInteger)),
    bindparam("notified", type_=ARRAY(String)),
    bindparam("archived", type_=ARRAY(Boolean)),
)
_UPDATE_EVENT = text(
    "UPDATE controller_outage_events SET start_at = :start_at, end_at = :end_at, "
    "report_count = :report_count, notified = :notified, archived = :archived WHERE id = :id"
)
_REPOINT_ALIASES = text("UPDATE controller_outage_aliases SET event_id = :survivor WHERE event_id = :alias")
_INSERT_CHANGE = insert(Change).values(
    controllers=bindparam("controllers", type_=JSON()),
    created_at=bindparam("created_at", type_=UtcDateTime()),
)

# The payload is the capability's name (service.CAPABILITY, which imports this module).
_NOTIFY_CHANGE = text(f"SELECT pg_notify('{CHANGES_CHANNEL}', 'controller-outages')")


def _is_postgres(connection: AsyncConnection) -> bool:
    return connection.dialect.name == "postgresql"


async def _insert_reports(
    connection: AsyncConnection, unique: Collection[tuple[str, str, int]], received_at: datetime
) -> set[tuple[str, str, int]]:
    """Insert the reports not stored yet; the ones inserted (the others were duplicates)."""
    if _is_postgres(connection):
        columns = list(zip(*unique, strict=True))
        params: dict[str, Any] = {
            "c": columns[0],
            "t": columns[1],
            "a": columns[2],
            "received_at": received_at,
        }
        result = await connection.execute(_INSERT_REPORTS_PG, params)
    else:
        rows = orjson.dumps(list(unique)).decode()
        result = await connection.execute(_INSERT_REPORTS_SQLITE, {"rows": rows, "received_at": received_at})
    return {(row[0], row[1], row[2]) for row in result}


async def _load_events(
    connection: AsyncConnection, ranges: Mapping[Key, tuple[int, int]]
) -> dict[Key, list[StoredEvent]]:
    """The events of each key overlapping its range, by key."""
    if not ranges:
        return {}
    if _is_postgres(connection):
        keys = list(ranges)
        result = await connection.execute(
            _LOAD_EVENTS_PG,
            {
                "c": [key[0] for key in keys],
                "t": [key[1] for key in keys],
                "lo": [ranges[key][0] for key in keys],
                "hi": [ranges[key][1] for key in keys],
            },
        )
    else:
        packed = orjson.dumps([[c, t, lo, hi] for (c, t), (lo, hi) in ranges.items()]).decode()
        result = await connection.execute(_LOAD_EVENTS_SQLITE, {"keys": packed})
    found: dict[Key, list[StoredEvent]] = defaultdict(list)
    for row in result:
        found[(row[1], row[2])].append(
            StoredEvent(row[0], row[1], row[2], row[3], row[4], row[5], row[6], bool(row[7]))
        )
    return found


async def record_change(connection: AsyncConnection, controllers: Iterable[str], *, at: datetime) -> None:
    """Note that the events of ``controllers`` changed, for the serving processes' read models.

    Written last in the transaction, so the row's id is taken just before the commit: ids then appear
    in about the order they commit, which keeps the readers' list of gaps short (see readmodel.py).
    """
    names = sorted(set(controllers))
    if names:
        await connection.execute(_INSERT_CHANGE, {"controllers": names, "created_at": at})
        if _is_postgres(connection):
            # Serving processes listening (crossdock.api.changes) read the change log at once.
            await connection.execute(_NOTIFY_CHANGE)


async def _merged_ids(session: AsyncSession, event_ids: Sequence[str]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = defaultdict(list)
    for start in range(0, len(event_ids), 500):
        rows = await session.execute(
            select(Alias.alias_id, Alias.event_id)
            .where(Alias.event_id.in_(event_ids[start : start + 500]))
            .order_by(Alias.alias_id)
        )
        for alias_id, event_id in rows:
            result[event_id].append(alias_id)
    return result


async def ingest(
    db: Database, reports: Sequence[ReportIn], *, gap: int, received_at: datetime, notify: Notify
) -> IngestOutcome:
    """Store ``reports`` (duplicates ignored) and bring their keys' events up to date, atomically."""
    outcome = IngestOutcome()
    if not reports:
        return outcome
    unique = {(r.controller_id, r.outage_type, r.at) for r in reports}
    async with db.unit_of_work() as session:
        connection = await session.connection()
        await _lock_keys(connection, {(c, t) for c, t, _at in unique})
        new = outcome.new = await _insert_reports(connection, unique, received_at)
        outcome.accepted = len(new)
        outcome.duplicates = len(reports) - len(new)
        stamps: dict[Key, list[int]] = defaultdict(list)
        for controller, outage_type, at in unique:
            stamps[(controller, outage_type)].append(at)
        # Only keys with new reports can change; the others just need the events their reports are in.
        widened = {key: (min(ats) - gap, max(ats) + gap) for key, ats in stamps.items()}
        stored = await _load_events(connection, widened)
        changes = _Changes(notify)
        for key, ats in stamps.items():
            fresh = [at for at in ats if (key[0], key[1], at) in new]
            events = stored.get(key, [])
            runs = merge((event.segment for event in events), fresh, gap=gap)
            if fresh:
                changes.apply(key, runs, {event.id: event for event in events})
            else:
                changes.keep(runs)
            for at in ats:
                outcome.event_of[(key[0], key[1], at)] = changes.id_of(_run_at(runs, at))
        await changes.write(session)
        await record_change(connection, changes.controllers, at=received_at)
        outcome.opened, outcome.merged = changes.opened, changes.merged_runs
    return outcome


def _run_at(runs: Sequence[Run], at: int) -> Run:
    for run in runs:
        if run.start <= at <= run.end:
            return run
    raise AssertionError("every report lies in a run of its key")


class _Changes:
    """The writes one ingest (or rebuild) makes: events updated, created, merged away; notifications."""

    def __init__(self, notify: Notify) -> None:
        self.notify = notify
        self.updates: list[dict[str, Any]] = []
        self.creates: list[dict[str, Any]] = []
        self.absorbed: dict[str, str] = {}  # absorbed id -> survivor id
        self.notifications: list[tuple[Key, str, dict[str, Any]]] = []
        self._ids: dict[int, str] = {}
        self.opened = 0
        self.merged_runs = 0
        self.controllers: set[str] = set()  # whose events changed

    def id_of(self, run: Run) -> str:
        return self._ids[id(run)]

    def keep(self, runs: Sequence[Run]) -> None:
        """Runs of a key without new reports: each is one stored event, unchanged."""
        for run in runs:
            (segment,) = run.segments
            self._ids[id(run)] = segment.id

    def apply(self, key: Key, runs: Sequence[Run], stored: Mapping[str, StoredEvent]) -> None:
        for run in runs:
            survivor = run.survivor
            if survivor is None:
                event_id = str(uuid.uuid4())
                self._ids[id(run)] = event_id
                row = {
                    "id": event_id,
                    "controller_id": key[0],
                    "outage_type": key[1],
                    "start_at": run.start,
                    "end_at": run.end,
                    "report_count": run.count,
                    "notified": "open",
                    "archived": False,
                }
                self.creates.append(row)
                self.controllers.add(key[0])
                self.opened += 1
                self._notify(key, "opened", row, [])
                continue
            self._ids[id(run)] = survivor.id
            if not run.changed:
                continue
            absorbed = run.absorbed
            for segment in absorbed:
                self.absorbed[segment.id] = survivor.id
            previous = stored[survivor.id]
            row = {
                "id": survivor.id,
                "controller_id": key[0],
                "outage_type": key[1],
                "start_at": run.start,
                "end_at": run.end,
                "report_count": run.count,
                # A late report may bring a resolved event back within the gap of now.
                "notified": "open" if self.notify.now - run.end <= self.notify.gap else previous.notified,
                "archived": previous.archived or any(stored[s.id].archived for s in absorbed),
            }
            self.updates.append(row)
            self.controllers.add(key[0])
            if absorbed:
                self.merged_runs += 1
                self._notify(key, "merged", row, [segment.id for segment in absorbed])

    def _notify(self, key: Key, kind: str, row: Mapping[str, Any], absorbed: list[str]) -> None:
        if self.notify.enabled:
            self.notifications.append((key, kind, {**row, "new_merged_ids": absorbed}))

    async def write(self, session: AsyncSession) -> None:
        # Core statements on the session's connection: no ORM bookkeeping for rows it never loads.
        connection = await session.connection()
        if self.absorbed:
            gone = list(self.absorbed)
            for start in range(0, len(gone), 500):
                await connection.execute(delete(Event).where(Event.id.in_(gone[start : start + 500])))
            # Earlier aliases of an absorbed event now point at its survivor too.
            await connection.execute(
                _REPOINT_ALIASES,
                [{"alias": alias, "survivor": survivor} for alias, survivor in self.absorbed.items()],
            )
            await connection.execute(
                insert(Alias),
                [{"alias_id": alias, "event_id": survivor} for alias, survivor in self.absorbed.items()],
            )
        if self.updates:
            if _is_postgres(connection):
                rows = self.updates
                await connection.execute(
                    _UPDATE_EVENTS_PG,
                    {
                        "id": [row["id"] for row in rows],
                        "s": [row["start_at"] for row in rows],
                        "e": [row["end_at"] for row in rows],
                        "n": [row["report_count"] for row in rows],
                        "notified": [row["notified"] for row in rows],
                        "archived": [row["archived"] for row in rows],
                    },
                )
            else:
                await connection.execute(_UPDATE_EVENT, self.updates)
        if self.creates:
            await connection.execute(insert(Event), self.creates)
        if self.notifications:
            await _write_notifications(session, self.notifications, self.notify)


async def _write_notifications(
    session: AsyncSession, notifications: list[tuple[Key, str, dict[str, Any]]], notify: Notify
) -> None:
    survivors = [row["id"] for _key, kind, row in notifications if kind != "opened"]
    merged = await _merged_ids(session, survivors) if survivors else {}
    moment = _datetime(notify.now)
    rows = []
    for key, kind, row in notifications:
        event = event_json(
            id=row["id"],
            controller_id=row["controller_id"],
            outage_type=row["outage_type"],
            start_at=row["start_at"],
            end_at=row["end_at"],
            report_count=row["report_count"],
            merged_ids=sorted(set(merged.get(row["id"], [])) | set(row.get("new_merged_ids", []))),
            now=notify.now,
            gap=notify.gap,
        )
        rows.append(
            {
                "key": key_text(key),
                "kind": kind,
                "body": {"kind": kind, "event": event, "time": iso(notify.now)},
                "created_at": moment,
                "attempts": 0,
                "next_attempt_at": moment,
                "delivered_at": None,
                "last_error": None,
            }
        )
    await session.execute(insert(Notification), rows)


def _datetime(at: int) -> datetime:
    from datetime import UTC

    return datetime.fromtimestamp(at / 1_000_000, UTC)


# -- reads ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventFilter:
    """What ``GET /events`` asks for (times in microseconds)."""

    controller_id: str | None = None
    outage_type: str | None = None
    start: int | None = None  # events ending at or after it
    end: int | None = None  # events starting at or before it
    status: str | None = None  # ongoing | resolved
    limit: int = 100
    after: tuple[int, str] | None = None  # the cursor: (start_at, id) of the last event shown


def encode_cursor(start_at: int, event_id: str) -> str:
    return base64.urlsafe_b64encode(f"{start_at}:{event_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """The position a cursor names; a malformed one is an :class:`InvalidInputError`."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        start, _, event_id = raw.partition(":")
        uuid.UUID(event_id)
        return int(start), event_id
    except (ValueError, UnicodeDecodeError):
        raise InvalidInputError("cursor is not one this service gave out", code="invalid_cursor") from None


async def list_events(
    db: Database, query: EventFilter, *, now: int, gap: int
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of events in (start, id) order, and the cursor of the next page (None at the end)."""
    statement = select(Event).order_by(Event.start_at, Event.id).limit(query.limit + 1)
    if query.controller_id is not None:
        statement = statement.where(Event.controller_id == query.controller_id)
    if query.outage_type is not None:
        statement = statement.where(Event.outage_type == query.outage_type)
    if query.start is not None:
        statement = statement.where(Event.end_at >= query.start)
    if query.end is not None:
        statement = statement.where(Event.start_at <= query.end)
    if query.status == "ongoing":
        statement = statement.where(Event.end_at >= now - gap)
    elif query.status == "resolved":
        statement = statement.where(Event.end_at < now - gap)
    if query.after is not None:
        start, event_id = query.after
        statement = statement.where(
            or_(Event.start_at > start, and_(Event.start_at == start, Event.id > event_id))
        )
    async with db.reader() as session:
        found = list((await session.execute(statement)).scalars())
        page = found[: query.limit]
        merged = await _merged_ids(session, [event.id for event in page])
    events = [_json(event, merged.get(event.id, []), now, gap) for event in page]
    cursor = encode_cursor(page[-1].start_at, page[-1].id) if len(found) > query.limit else None
    return events, cursor


async def get_event(db: Database, event_id: str, *, now: int, gap: int) -> dict[str, Any] | None:
    """The event with this id, or the one it was merged into; None when unknown."""
    async with db.reader() as session:
        event = await session.get(Event, event_id)
        if event is None:
            survivor = await session.scalar(select(Alias.event_id).where(Alias.alias_id == event_id))
            event = await session.get(Event, survivor) if survivor is not None else None
        if event is None:
            return None
        merged = await _merged_ids(session, [event.id])
    return _json(event, merged.get(event.id, []), now, gap)


def _json(event: Event, merged: list[str], now: int, gap: int) -> dict[str, Any]:
    return event_json(
        id=event.id,
        controller_id=event.controller_id,
        outage_type=event.outage_type,
        start_at=event.start_at,
        end_at=event.end_at,
        report_count=event.report_count,
        merged_ids=merged,
        now=now,
        gap=gap,
    )


# -- upkeep: resolved events, retention, rebuild ----------------------------------------------------


async def mark_resolved(db: Database, *, notify: Notify, batch: int = 1000) -> int:
    """Mark events that ended more than the gap ago as resolved (and notify); how many.

    The events found due are marked only if they still are once their keys are locked: between the
    search and the lock a batch may have extended one (it is ongoing again) or merged it away
    (PostgreSQL; on SQLite the write transaction excludes both). The notification is built from the
    row as marked, never from the search's stale copy.
    """
    cutoff = notify.now - notify.gap
    done = 0
    while True:
        async with db.unit_of_work() as session:
            due = (
                await session.execute(
                    select(Event.id, Event.controller_id, Event.outage_type)
                    .where(Event.notified == "open", Event.end_at < cutoff)
                    .order_by(Event.end_at)
                    .limit(batch)
                )
            ).all()
            if not due:
                return done
            await _lock_keys(session, {(row.controller_id, row.outage_type) for row in due})
            # A statement after the locks sees what the batches holding them committed.
            marked = (
                await session.execute(
                    update(Event)
                    .where(
                        Event.id.in_([row.id for row in due]), Event.notified == "open", Event.end_at < cutoff
                    )
                    .values(notified="resolved")
                    .returning(
                        Event.id,
                        Event.controller_id,
                        Event.outage_type,
                        Event.start_at,
                        Event.end_at,
                        Event.report_count,
                    )
                    .execution_options(synchronize_session=False)
                )
            ).all()
            if notify.enabled and marked:
                rows = [
                    ((row.controller_id, row.outage_type), "resolved", dict(row._mapping))
                    for row in sorted(marked, key=lambda row: (row.end_at, row.id))
                ]
                await _write_notifications(session, rows, notify)
            done += len(marked)


async def prune_reports(db: Database, *, before: int, gap: int, now: int, batch: int = 500) -> int:
    """Delete the reports of resolved events that ended before ``before``, keeping the events."""
    pruned = 0
    while True:
        async with db.unit_of_work() as session:
            due = list(
                (
                    await session.execute(
                        select(Event)
                        .where(Event.archived.is_(False), Event.end_at < before, Event.end_at < now - gap)
                        .limit(batch)
                    )
                ).scalars()
            )
            if not due:
                return pruned
            await _lock_keys(session, {(event.controller_id, event.outage_type) for event in due})
            for event in due:
                result = await session.execute(
                    delete(Report).where(
                        Report.controller_id == event.controller_id,
                        Report.outage_type == event.outage_type,
                        Report.at >= event.start_at,
                        Report.at <= event.end_at,
                    )
                )
                pruned += int(getattr(result, "rowcount", 0) or 0)
            await session.execute(
                update(Event).where(Event.id.in_([e.id for e in due])).values(archived=True)
            )


async def prune_changes(db: Database, *, before: datetime) -> int:
    """Delete change-log rows written before ``before``, always keeping the newest; how many."""
    async with db.unit_of_work() as session:
        newest = await session.scalar(select(func.max(Change.id)))
        if newest is None:
            return 0
        result = await session.execute(delete(Change).where(Change.created_at < before, Change.id < newest))
        return int(getattr(result, "rowcount", 0) or 0)


async def keys_with_reports(db: Database) -> AsyncIterator[Key]:
    """Every key that has reports or events."""
    async with db.reader() as session:
        seen: set[Key] = set()
        for model in (Report, Event):
            rows = await session.execute(select(model.controller_id, model.outage_type).distinct())
            for controller, outage_type in rows:
                if (controller, outage_type) not in seen:
                    seen.add((controller, outage_type))
                    yield (controller, outage_type)


async def rebuild_key(db: Database, key: Key, *, gap: int, notify: Notify) -> bool:
    """Recompute one key's events from its reports; True if anything differed (and was rewritten).

    Archived events (their reports pruned by retention) stand for their reports as segments. Ids are
    kept where they can be: each recomputed event keeps the id of the earliest stored event it
    covers, as a merge would; stored events it also covers become aliases of it.
    """
    async with db.unit_of_work() as session:
        await _lock_keys(session, [key])
        stamps = [
            at
            for (at,) in await session.execute(
                select(Report.at).where(Report.controller_id == key[0], Report.outage_type == key[1])
            )
        ]
        stored = [
            StoredEvent(*row)
            for row in await session.execute(
                select(
                    Event.id,
                    Event.controller_id,
                    Event.outage_type,
                    Event.start_at,
                    Event.end_at,
                    Event.report_count,
                    Event.notified,
                    Event.archived,
                ).where(Event.controller_id == key[0], Event.outage_type == key[1])
            )
        ]
        archived = [event for event in stored if event.archived]
        runs = merge((event.segment for event in archived), _outside(stamps, archived), gap=gap)
        if sorted((run.start, run.end, run.count) for run in runs) == sorted(
            (event.start_at, event.end_at, event.report_count) for event in stored
        ):
            return False
        changes = _Changes(notify)
        kept: set[str] = set()
        for run in runs:
            holders = [event for event in stored if event.start_at <= run.end and event.end_at >= run.start]
            survivor = min(holders, key=lambda event: (event.start_at, event.id)) if holders else None
            row: dict[str, Any] = {
                "id": survivor.id if survivor is not None else str(uuid.uuid4()),
                "controller_id": key[0],
                "outage_type": key[1],
                "start_at": run.start,
                "end_at": run.end,
                "report_count": run.count,
                "notified": survivor.notified if survivor is not None else "open",
                "archived": any(event.archived for event in holders),
            }
            (changes.updates if survivor is not None else changes.creates).append(row)
            kept.add(row["id"])
            for holder in holders:
                if holder is not survivor:
                    changes.absorbed[holder.id] = row["id"]
        orphans = [event.id for event in stored if event.id not in kept and event.id not in changes.absorbed]
        if orphans:  # events whose reports are all gone (a database edited by hand): nothing holds them
            await session.execute(delete(Event).where(Event.id.in_(orphans)))
        await changes.write(session)
        await record_change(await session.connection(), [key[0]], at=_datetime(notify.now))
        return True


def _outside(stamps: Iterable[int], archived: Sequence[StoredEvent]) -> list[int]:
    """Timestamps not inside an archived event (whose reports were pruned and whose count stands)."""
    return [at for at in stamps if not any(event.start_at <= at <= event.end_at for event in archived)]


async def counts(db: Database) -> dict[str, int]:
    """Reports, events and pending notifications stored (for run details and health)."""
    async with db.reader() as session:
        reports = await session.scalar(select(func.count()).select_from(Report))
        events = await session.scalar(select(func.count()).select_from(Event))
        pending = await session.scalar(
            select(func.count()).select_from(Notification).where(Notification.delivered_at.is_(None))
        )
    return {
        "reports": int(reports or 0),
        "events": int(events or 0),
        "pending_notifications": int(pending or 0),
    }


@dataclass(frozen=True, slots=True)
class PendingNotification:
    id: int
    key: str
    body: dict[str, Any]
    attempts: int
    next_attempt_at: datetime


async def pending_notifications(
    db: Database, *, limit: int, due_at: datetime | None = None
) -> list[PendingNotification]:
    """Undelivered notifications, oldest first; with ``due_at``, only of keys whose oldest one is due then.

    Keys waiting for a retry are left out by the query, so they never fill the page and hold the
    others back. One statement, one snapshot: a key's notifications are numbered in the order its
    transactions commit (they hold its lock), so none of a key is missing before one that is shown.
    """
    pending = Notification.delivered_at.is_(None)
    statement = select(
        Notification.id,
        Notification.key,
        Notification.body,
        Notification.attempts,
        Notification.next_attempt_at,
    ).where(pending)
    if due_at is not None:
        heads = select(func.min(Notification.id)).where(pending).group_by(Notification.key)
        due_keys = select(Notification.key).where(
            Notification.id.in_(heads), Notification.next_attempt_at <= due_at
        )
        statement = statement.where(Notification.key.in_(due_keys))
    async with db.reader() as session:
        rows = await session.execute(statement.order_by(Notification.id).limit(limit))
        return [PendingNotification(*row) for row in rows]


async def notification_delivered(db: Database, notification_id: int, *, at: datetime) -> None:
    async with db.unit_of_work() as session:
        await session.execute(
            update(Notification).where(Notification.id == notification_id).values(delivered_at=at)
        )


async def notification_failed(
    db: Database, notification_id: int, *, attempts: int, retry_at: datetime, error: str
) -> None:
    async with db.unit_of_work() as session:
        await session.execute(
            update(Notification)
            .where(Notification.id == notification_id)
            .values(attempts=attempts, next_attempt_at=retry_at, last_error=error[:500])
        )


@dataclass(frozen=True, slots=True)
class EventSpan:
    """An event's key and time span (microseconds), to find the reports it holds."""

    event_id: str
    controller_id: str
    outage_type: str
    start: int
    end: int


async def event_reports(db: Database, events: Sequence[EventSpan]) -> dict[str, list[tuple[int, datetime]]]:
    """Each event's stored reports: (timestamp, received at), in timestamp order (the console shows
    which arrived late). Reads 100 events' reports per query."""
    found: dict[str, list[tuple[int, datetime]]] = {event.event_id: [] for event in events}
    spans: dict[tuple[str, str], list[EventSpan]] = defaultdict(list)
    for event in events:
        spans[(event.controller_id, event.outage_type)].append(event)
    async with db.reader() as session:
        for first in range(0, len(events), 100):
            chunk = events[first : first + 100]
            rows = await session.execute(
                select(Report.controller_id, Report.outage_type, Report.at, Report.received_at).where(
                    or_(
                        *(
                            and_(
                                Report.controller_id == event.controller_id,
                                Report.outage_type == event.outage_type,
                                Report.at >= event.start,
                                Report.at <= event.end,
                            )
                            for event in chunk
                        )
                    )
                )
            )
            for controller, outage_type, at, received_at in rows:
                for event in spans[(controller, outage_type)]:
                    if event.start <= at <= event.end:
                        found[event.event_id].append((at, received_at))
                        break
    for reports in found.values():
        reports.sort()
    return found
