"""The controller-outages console page (``/console/controller-outages``): the outages going on now, a
timeline of events per controller, the events merged from others and the reports that came late.

Events are read through the service, with the same filters and rules as ``GET /events``. The one
read of its own is the raw reports of the events shown, to tell which arrived **late**: after a
report of the same event with a later timestamp (held up on the way, or sent in a backlog when the
controller reconnected). It never writes. The live fragment is polled every second by the page
(``data-refresh``), so it avoids text that changes with the clock alone ("3 s ago").
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from crossdock.api.state import AppState, AppStateDep
from crossdock.console.charts import Span, timeline
from crossdock.console.render import render
from crossdock.console.session import console_access
from crossdock.controller_outages import service, store
from crossdock.controller_outages.schemas import OUTAGE_TYPES, EventRead, iso, parse_instant
from crossdock.controller_outages.settings import ControllerOutagesSettings
from crossdock.errors import InvalidInputError
from crossdock.storage import Database

PATH = "/console/controller-outages"
router = APIRouter(include_in_schema=False)

DAY_US = 86_400 * 1_000_000
MINUTE_US = 60 * 1_000_000
MAX_EVENTS = 10_000
"""Events of the range read at most (pages of ``GET /events``' largest size, oldest first)."""
KEPT_EVENTS = 2000
"""Events of the range drawn on the timeline: the latest of those read."""
TABLE_ROWS = 200
"""Rows of the events table, the latest starts first."""
MAX_LANES = 30
"""Controllers drawn on the timeline (the most recently active); the others are counted."""
LANES_PER_CHART = 5
"""The timeline is drawn in charts of this many controllers, so each stays readable."""
MAX_REPORTS_SHOWN = 500
TONES = {"panel_outage": "bad", "temperature_outage": "warn", "led_outage": "muted"}
"""Colour of an event by its outage type (classes of the console's style sheet)."""


@dataclass(frozen=True, slots=True)
class Filters:
    """The page's GET form, as given (blank fields are absent)."""

    controller_id: str = ""
    outage_type: str = ""
    status: str = ""
    start: str = ""
    end: str = ""

    @classmethod
    def of(cls, request: Request) -> Filters:
        params = request.query_params
        return cls(*(params.get(field.name, "").strip()[:100] for field in fields(cls)))

    @property
    def query(self) -> str:
        """The filters as a query string (for the live fragment's URL)."""
        given = {field.name: getattr(self, field.name) for field in fields(self)}
        return urlencode({name: value for name, value in given.items() if value})

    @property
    def narrowed(self) -> bool:
        return bool(self.controller_id or self.outage_type)


@dataclass(frozen=True, slots=True)
class Window:
    """The time range of the table and the timeline, in microseconds; ``default`` when none was given."""

    start: int
    end: int
    default: bool

    @property
    def since(self) -> datetime:
        return _moment(self.start)

    @property
    def until(self) -> datetime:
        return _moment(self.end)


@dataclass(frozen=True, slots=True)
class EventRow:
    """One event as the page shows it."""

    id: str
    controller_id: str
    outage_type: str
    start: datetime
    end: datetime
    ongoing: bool
    duration: str
    report_count: int
    merged_ids: list[str]
    late: int | None  # reports that came after a later one of the event; None: reports pruned

    @property
    def tone(self) -> str:
        return TONES.get(self.outage_type, "muted")

    @property
    def type_label(self) -> str:
        return self.outage_type.replace("_", " ")


def _moment(at: int) -> datetime:
    return datetime.fromtimestamp(at / 1_000_000, UTC)


def _duration(microseconds: int) -> str:
    minutes = round(microseconds / MINUTE_US)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def _input_value(text: str) -> str:
    """A time filter as a ``datetime-local`` input shows it (UTC, to the minute)."""
    try:
        return _moment(parse_instant(text)).strftime("%Y-%m-%dT%H:%M")
    except ValueError:
        return text


def _range(filters: Filters) -> tuple[int | None, int | None]:
    """The range asked for (either end may be open); :class:`InvalidInputError` for a bad one."""
    try:
        start = parse_instant(filters.start, name="range start") if filters.start else None
        end = parse_instant(filters.end, name="range end") if filters.end else None
    except ValueError as exc:
        raise InvalidInputError(str(exc), code="invalid_datetime") from None
    if start is not None and end is not None and start > end:
        raise InvalidInputError("the range start must not be after its end", code="invalid_range")
    return start, end


def _ceil_minute(at: int) -> int:
    return -(-at // MINUTE_US) * MINUTE_US


async def _events_in(
    db: Database, settings: ControllerOutagesSettings, query: service.EventQuery, now: int
) -> tuple[list[EventRead], int, bool]:
    """The latest :data:`KEPT_EVENTS` events matching ``query`` (read in ``GET /events`` order, oldest
    first, :data:`MAX_EVENTS` at most), how many were read, and whether that was all of them."""
    kept: deque[EventRead] = deque(maxlen=KEPT_EVENTS)
    read = 0
    cursor: str | None = None
    while True:
        page = await service.list_events(
            db=db, settings=settings, query=replace(query, limit=service.MAX_PAGE, cursor=cursor), now=now
        )
        kept.extend(page.events)
        read += len(page.events)
        cursor = page.next_cursor
        if cursor is None or read >= MAX_EVENTS:
            return list(kept), read, cursor is None


async def _reports_of(db: Database, events: Sequence[EventRead]) -> dict[str, list[tuple[int, datetime]]]:
    """Each event's stored reports: (timestamp, received at), in timestamp order."""
    spans = [
        store.EventSpan(
            event.id,
            event.controller_id,
            event.outage_type,
            parse_instant(event.start_time),
            parse_instant(event.end_time),
        )
        for event in events
    ]
    return await store.event_reports(db, spans)


def late_flags(reports: Sequence[tuple[int, datetime]]) -> list[bool]:
    """For reports in timestamp order: whether each arrived after a report with a later timestamp."""
    flags = [False] * len(reports)
    earliest_after: datetime | None = None
    for index in range(len(reports) - 1, -1, -1):
        _at, received_at = reports[index]
        if earliest_after is not None and earliest_after < received_at:
            flags[index] = True
        earliest_after = received_at if earliest_after is None else min(earliest_after, received_at)
    return flags


def _row(event: EventRead, reports: Sequence[tuple[int, datetime]] | None) -> EventRow:
    start, end = parse_instant(event.start_time), parse_instant(event.end_time)
    # Fewer reports than the count: retention pruned them (an archived event), lateness is unknown.
    late = None if reports is None or len(reports) < event.report_count else sum(late_flags(reports))
    return EventRow(
        id=event.id,
        controller_id=event.controller_id,
        outage_type=event.outage_type,
        start=_moment(start),
        end=_moment(end),
        ongoing=event.status == "ongoing",
        duration=_duration(end - start),
        report_count=event.report_count,
        merged_ids=list(event.merged_ids),
        late=late,
    )


def _timeline(events: Sequence[EventRead], window: Window) -> tuple[list[Any], int, Window]:
    """The timeline charts (lanes: controllers, spans: events), the controllers left out, the range drawn."""
    if not events:
        return [], 0, window
    latest: dict[str, int] = {}
    for event in events:
        end = parse_instant(event.end_time)
        latest[event.controller_id] = max(end, latest.get(event.controller_id, end))
    chosen = sorted(latest, key=lambda controller: (-latest[controller], controller))[:MAX_LANES]
    lanes = sorted(chosen)
    drawn = window
    if window.default:  # fit the data inside the last 24 hours, with a little room on the left
        first = min(parse_instant(event.start_time) for event in events if event.controller_id in lanes)
        room = max((window.end - first) // 50, MINUTE_US)
        start = max(window.start, (first - room) // MINUTE_US * MINUTE_US)
        drawn = Window(start, window.end, default=True)
    spans = []
    for event in events:
        start, end = parse_instant(event.start_time), parse_instant(event.end_time)
        status = "ongoing" if event.status == "ongoing" else f"ended {_clock(end)}"
        merged = f"; merged from {len(event.merged_ids) + 1} events" if event.merged_ids else ""
        note = (
            f"{event.outage_type.replace('_', ' ')} from {_clock(start)}, {status}; "
            f"{event.report_count} reports{merged}"
        )
        spans.append(Span(event.controller_id, start, end, TONES.get(event.outage_type, "muted"), note))
    # Longest first: a short event drawn over a long one of another type on the same lane stays visible.
    spans.sort(key=lambda span: span.end - span.start, reverse=True)
    charts = []
    for first in range(0, len(lanes), LANES_PER_CHART):
        group = lanes[first : first + LANES_PER_CHART]
        label = (
            f"Outage events of controllers {group[0]} to {group[-1]}, "
            f"{_clock(drawn.start)} to {_clock(drawn.end)}"
        )
        ends = (_clock(drawn.start), _clock(drawn.end))
        charts.append(timeline(label, spans, start=drawn.start, end=drawn.end, lanes=group, x_labels=ends))
    return charts, len(latest) - len(lanes), drawn


def _received(moment: datetime) -> str:
    """An arrival time to the millisecond: reports a moment apart can be told in order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def _clock(at: int) -> str:
    return _moment(at).strftime("%Y-%m-%d %H:%M UTC")


async def _live(state: AppState, filters: Filters) -> dict[str, Any]:
    """What the live part of the page shows for these filters; :class:`InvalidInputError` if they are bad."""
    settings = state.settings.of(ControllerOutagesSettings)
    now = service.now_micros()
    start, end = _range(filters)
    lower = start if start is not None else now - DAY_US  # by default: the last 24 hours
    chosen = service.EventQuery(
        controller_id=filters.controller_id or None,
        outage_type=filters.outage_type or None,
        start_time=iso(lower),
        end_time=iso(end) if end is not None else None,
        status=filters.status or None,
    )
    service.event_filter(chosen)  # bad filters are reported before anything is read
    events, total, complete = await _events_in(state.db, settings, chosen, now)
    ongoing_query = service.EventQuery(
        controller_id=chosen.controller_id, outage_type=chosen.outage_type, status="ongoing"
    )
    ongoing, _, all_ongoing = await _events_in(state.db, settings, ongoing_query, now)
    newest = sorted(events, key=lambda event: (event.start_time, event.id), reverse=True)[:TABLE_ROWS]
    ongoing.sort(key=lambda event: (event.end_time, event.id), reverse=True)
    shown = {event.id: event for event in [*newest, *ongoing]}
    reports = await _reports_of(state.db, list(shown.values()))
    # Up to now (a minute at a time, so the chart changes with the data, not with the clock).
    latest = max((parse_instant(event.end_time) for event in events), default=now)
    upper = end if end is not None else _ceil_minute(max(now, latest))
    charts, hidden, drawn = _timeline(events, Window(lower, upper, default=start is None))
    return {
        "window": drawn,
        "ongoing": [_row(event, reports.get(event.id)) for event in ongoing],
        "all_ongoing": all_ongoing,
        "events": [_row(event, reports.get(event.id)) for event in newest],
        "total": total,
        "complete": complete,
        "drawn": len(events),
        "max_events": MAX_EVENTS,
        "charts": charts,
        "hidden_lanes": hidden,
        "narrowed": filters.narrowed,
    }


def _form(state: AppState, filters: Filters) -> dict[str, Any]:
    return {
        "filters": filters,
        "gap_minutes": f"{state.settings.of(ControllerOutagesSettings).gap / 60:g}",
        "outage_types": OUTAGE_TYPES,
        "start_value": _input_value(filters.start) if filters.start else "",
        "end_value": _input_value(filters.end) if filters.end else "",
        "live_url": f"{PATH}/live" + (f"?{filters.query}" if filters.query else ""),
    }


@router.get(PATH, dependencies=[console_access()])
async def outages_page(request: Request, state: AppStateDep) -> Response:
    filters = Filters.of(request)
    try:
        live = await _live(state, filters)
    except InvalidInputError as exc:
        return render(
            request,
            "controller-outages/page.html",
            400,
            title="Controller outages",
            error=exc.message,
            **_form(state, filters),
        )
    return render(
        request,
        "controller-outages/page.html",
        title="Controller outages",
        error=None,
        **_form(state, filters),
        **live,
    )


@router.get(f"{PATH}/live", dependencies=[console_access()])
async def outages_live(request: Request, state: AppStateDep) -> Response:
    """The live part of the page (ongoing events, timeline, table), polled by the page every second."""
    filters = Filters.of(request)
    try:
        live = await _live(state, filters)
    except InvalidInputError as exc:
        return render(request, "controller-outages/live.html", 400, error=exc.message, filters=filters)
    return render(request, "controller-outages/live.html", error=None, **live)


@router.get(f"{PATH}/events/{{event_id}}", dependencies=[console_access()])
async def event_page(request: Request, state: AppStateDep, event_id: str) -> Response:
    """One event (a merged-away id shows its survivor) and its reports, late ones marked."""
    settings = state.settings.of(ControllerOutagesSettings)
    event = await service.get_event(db=state.db, settings=settings, event_id=event_id)
    reports = (await _reports_of(state.db, [event]))[event.id]
    flags = late_flags(reports)
    listed = [
        {"at": _moment(at), "received": _received(received_at), "late": late}
        for (at, received_at), late in zip(reports, flags, strict=True)
    ]
    return render(
        request,
        "controller-outages/event.html",
        title="Outage event",
        event=_row(event, reports),
        asked=event_id[:64],
        reports=listed[:MAX_REPORTS_SHOWN],
        more_reports=max(0, len(listed) - MAX_REPORTS_SHOWN),
    )
