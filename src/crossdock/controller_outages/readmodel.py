"""The events as each serving process keeps them in memory, for the ``GET /events`` fast path.

The model holds every event, by controller, in ``(start, id)`` order, each pre-serialized around its
status (the only field that depends on the moment of the answer). It starts with a full load and
then follows the change log (``controller_outage_changes``: one row per transaction that changed
events, naming the controllers): a changed controller is marked stale and read again from the
database by the next request that asks for it. So a request never sees data older than:

- this process's own writes: ``POST /outages`` marks its controllers stale after the commit and
  before it answers (a client that posts and then reads sees its reports);
- other processes' writes (other workers, ``crossdock controller-outages import``): the next poll of
  the change log, every ``CROSSDOCK_API_READ_MODEL_POLL_INTERVAL`` seconds.

Change ids come from a sequence (PostgreSQL) or AUTOINCREMENT (SQLite). On PostgreSQL a transaction
can commit after one that took a higher id, so a poll also asks again for the ids missing below the
highest seen (the gaps) until they appear or :data:`GAP_TIMEOUT` seconds pass (a rolled-back
transaction leaves its id unused for ever). Each change row is written last in its transaction, so
an id and its commit are a round trip apart. A process that could not poll for
:data:`RESYNC_AFTER` seconds (the upkeep job prunes rows older than an hour) loads everything again.
Data edited by hand in the database (not through crossdock) is seen after a restart.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import bindparam, select, text

from crossdock.controller_outages.models import Alias, Change, Event
from crossdock.controller_outages.schemas import event_json
from crossdock.controller_outages.store import EventFilter, encode_cursor
from crossdock.storage import Database

logger = logging.getLogger(__name__)

GAP_TIMEOUT = 60.0
"""Seconds a missing change id is asked for again before it is taken as a rolled-back transaction."""
RESYNC_AFTER = 1800.0
"""Seconds without a successful poll after which the model is loaded again from scratch."""
RECENT_CHANGES = 1000
"""Change rows read at a (re)load to find the ids still missing below the newest."""

_STATUS_MARK = b'"status":"ongoing"'
_STATUS = (b"resolved", b"ongoing")

_EVENTS = (
    select(
        Event.id,
        Event.controller_id,
        Event.outage_type,
        Event.start_at,
        Event.end_at,
        Event.report_count,
        Alias.alias_id,
    )
    .select_from(Event)
    .outerjoin(Alias, Alias.event_id == Event.id)
)
_CHANGES_SINCE = text(
    "SELECT id, controllers FROM controller_outage_changes WHERE id > :high OR id IN :gaps"
).bindparams(bindparam("gaps", expanding=True))


@dataclass(frozen=True, slots=True)
class Entry:
    """One event: its order key, what the filters need, and its JSON around the status value."""

    start_at: int
    id: str
    end_at: int
    outage_type: str
    head: bytes
    tail: bytes


def make_entry(
    *,
    id: str,
    controller_id: str,
    outage_type: str,
    start_at: int,
    end_at: int,
    count: int,
    merged: list[str],
) -> Entry:
    # Serialized once with the status "ongoing" (now = end, gap 0), then cut around the value: the
    # mark cannot occur earlier, inside a value, because JSON escapes the quotes of strings.
    body = orjson.dumps(
        event_json(
            id=id,
            controller_id=controller_id,
            outage_type=outage_type,
            start_at=start_at,
            end_at=end_at,
            report_count=count,
            merged_ids=merged,
            now=end_at,
            gap=0,
        )
    )
    cut = body.index(_STATUS_MARK) + len(b'"status":"')
    return Entry(start_at, id, end_at, outage_type, body[:cut], body[cut + len(b"ongoing") :])


def _order(entry: Entry) -> tuple[int, str]:
    return (entry.start_at, entry.id)


def answer(entries: Sequence[Entry], query: EventFilter, *, now: int, gap: int) -> bytes:
    """The body of ``GET /events`` for one controller's ``entries``: the same bytes as the route's."""
    position = 0 if query.after is None else bisect.bisect_right(entries, query.after, key=_order)
    chosen: list[bytes] = []
    more = False
    last: Entry | None = None
    for entry in entries[position:]:
        if query.end is not None and entry.start_at > query.end:
            break
        if query.outage_type is not None and entry.outage_type != query.outage_type:
            continue
        if query.start is not None and entry.end_at < query.start:
            continue
        ongoing = now - entry.end_at <= gap
        if query.status is not None and ongoing != (query.status == "ongoing"):
            continue
        if len(chosen) == query.limit:
            more = True
            break
        chosen.append(entry.head + _STATUS[ongoing] + entry.tail)
        last = entry
    cursor = b"null"
    if more and last is not None:
        cursor = b'"' + encode_cursor(last.start_at, last.id).encode() + b'"'
    return b'{"events":[' + b",".join(chosen) + b'],"next_cursor":' + cursor + b"}"


def _entries(rows: Iterable[Any]) -> dict[str, list[Entry]]:
    """Entries by controller from rows of :data:`_EVENTS` (one row per event and alias), in order."""
    merged: dict[str, list[str]] = defaultdict(list)
    events: dict[str, tuple[str, str, str, int, int, int]] = {}
    for event_id, controller, outage_type, start_at, end_at, count, alias in rows:
        if event_id not in events:
            events[event_id] = (event_id, controller, outage_type, start_at, end_at, count)
        if alias is not None:
            merged[event_id].append(alias)
    by_controller: dict[str, list[Entry]] = defaultdict(list)
    for event_id, controller, outage_type, start_at, end_at, count in events.values():
        by_controller[controller].append(
            make_entry(
                id=event_id,
                controller_id=controller,
                outage_type=outage_type,
                start_at=start_at,
                end_at=end_at,
                count=count,
                merged=sorted(merged.get(event_id, [])),
            )
        )
    for entries in by_controller.values():
        entries.sort(key=_order)
    return dict(by_controller)


class EventsReadModel:
    """The events of every controller in this process, and what it knows of the change log."""

    def __init__(self) -> None:
        self.index: dict[str, list[Entry]] = {}
        self.stale: set[str] = set()
        self.loaded = False
        self.high = 0  # the highest change id seen
        self.gaps: dict[int, float] = {}  # change ids below it not seen yet -> when first missed
        self.last_poll = 0.0  # monotonic time of the last successful poll or load
        self._tick = 0
        self._invalidated: dict[str, int] = {}

    def _next_tick(self) -> int:
        self._tick += 1
        return self._tick

    @property
    def events(self) -> int:
        return sum(len(entries) for entries in self.index.values())

    def invalidate(self, controllers: Iterable[str]) -> None:
        """These controllers' events changed: read them again before answering for them."""
        tick = self._next_tick()
        for controller in controllers:
            self._invalidated[controller] = tick
            self.stale.add(controller)

    async def load(self, db: Database) -> None:
        """Load every event, and where the change log stands."""
        started = self._next_tick()
        async with db.reader() as session:
            ids = sorted(
                (
                    await session.scalars(select(Change.id).order_by(Change.id.desc()).limit(RECENT_CHANGES))
                ).all()
            )
            rows = (await session.execute(_EVENTS)).all()
        index = _entries(rows)
        moment = time.monotonic()
        self.index = index
        self.stale = {c for c, tick in self._invalidated.items() if tick > started}
        self._invalidated = {c: tick for c, tick in self._invalidated.items() if tick > started}
        self.high = ids[-1] if ids else 0
        seen = set(ids)
        self.gaps = {i: moment for i in range(ids[0], self.high) if i not in seen} if ids else {}
        self.last_poll = moment
        self.loaded = True

    async def poll(self, db: Database) -> int:
        """Mark stale the controllers of the changes not seen yet; how many change rows were new."""
        if time.monotonic() - self.last_poll > RESYNC_AFTER:
            logger.warning("events read model: no poll for %.0f s, loading everything again", RESYNC_AFTER)
            await self.load(db)
            return 0
        async with db.reader() as session:
            rows = (await session.execute(_CHANGES_SINCE, {"high": self.high, "gaps": list(self.gaps)})).all()
        moment = time.monotonic()
        changed: set[str] = set()
        seen: set[int] = set()
        for change_id, controllers in rows:
            seen.add(change_id)
            changed.update(orjson.loads(controllers) if isinstance(controllers, str | bytes) else controllers)
        if changed:
            self.invalidate(changed)
        top = max(seen, default=self.high)
        for missing in range(self.high + 1, top):
            if missing not in seen:
                self.gaps[missing] = moment
        self.high = max(self.high, top)
        self.gaps = {i: t for i, t in self.gaps.items() if i not in seen and moment - t < GAP_TIMEOUT}
        self.last_poll = moment
        return len(seen)

    async def entries(self, db: Database, controller: str) -> Sequence[Entry]:
        """The controller's events, read again first if they changed since they were loaded."""
        if controller not in self.stale:
            return self.index.get(controller, ())
        started = self._next_tick()
        async with db.reader() as session:
            rows = (await session.execute(_EVENTS.where(Event.controller_id == controller))).all()
        entries = _entries(rows).get(controller, [])
        if self._invalidated.get(controller, 0) < started:  # nothing changed it while it was read
            self.stale.discard(controller)
            self._invalidated.pop(controller, None)
            if entries:
                self.index[controller] = entries
            else:
                self.index.pop(controller, None)
        return entries
