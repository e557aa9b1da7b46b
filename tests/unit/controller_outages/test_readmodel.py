"""The read model's answer and the fast path's query reading: pure functions, no database."""

from __future__ import annotations

import orjson
import pytest

from crossdock.controller_outages.fastpath import parse_query
from crossdock.controller_outages.readmodel import answer, make_entry
from crossdock.controller_outages.schemas import event_json
from crossdock.controller_outages.store import EventFilter, decode_cursor

GAP = 1_500_000_000
HOUR = 3_600_000_000
IDS = [f"00000000-0000-4000-8000-00000000000{i}" for i in range(6)]


def event(
    i: int, start: int, end: int, outage_type: str = "led_outage", merged: list[str] | None = None
) -> dict:
    return {
        "id": IDS[i],
        "controller_id": 'c"1\\é',
        "outage_type": outage_type,
        "start_at": start,
        "end_at": end,
        "count": 3,
        "merged": merged or [],
    }


EVENTS = [
    event(0, 0, HOUR, merged=[IDS[5]]),
    event(1, 2 * HOUR, 3 * HOUR, "panel_outage"),
    event(2, 2 * HOUR, 2 * HOUR),
    event(3, 10 * HOUR, 12 * HOUR),
]
ENTRIES = sorted((make_entry(**e) for e in EVENTS), key=lambda entry: (entry.start_at, entry.id))


def expected(chosen: list[dict], now: int, cursor: str | None) -> bytes:
    shown = [
        event_json(
            id=e["id"],
            controller_id=e["controller_id"],
            outage_type=e["outage_type"],
            start_at=e["start_at"],
            end_at=e["end_at"],
            report_count=e["count"],
            merged_ids=e["merged"],
            now=now,
            gap=GAP,
        )
        for e in chosen
    ]
    return orjson.dumps({"events": shown, "next_cursor": cursor})


def test_the_answer_is_the_json_of_the_events_with_the_status_of_now() -> None:
    """Every event serialized as the API does (escaped id, merged ids), status from the moment asked."""
    now = 12 * HOUR + GAP  # the last event is still ongoing, the others resolved
    body = answer(ENTRIES, EventFilter(), now=now, gap=GAP)
    ordered = [EVENTS[0], EVENTS[1], EVENTS[2], EVENTS[3]]
    assert body == expected(ordered, now, None)
    assert orjson.loads(body)["events"][-1]["status"] == "ongoing"


def test_filters_limit_and_cursor() -> None:
    """Type, overlap and status filters apply; a full page carries the cursor of its last event."""
    now = 100 * HOUR
    only_led = answer(ENTRIES, EventFilter(outage_type="led_outage"), now=now, gap=GAP)
    assert only_led == expected([EVENTS[0], EVENTS[2], EVENTS[3]], now, None)
    overlap = answer(ENTRIES, EventFilter(start=HOUR, end=2 * HOUR), now=now, gap=GAP)
    assert overlap == expected([EVENTS[0], EVENTS[1], EVENTS[2]], now, None)
    assert answer(ENTRIES, EventFilter(status="ongoing"), now=now, gap=GAP) == expected([], now, None)
    first = orjson.loads(answer(ENTRIES, EventFilter(limit=2), now=now, gap=GAP))
    assert [e["id"] for e in first["events"]] == [IDS[0], IDS[1]]
    after = decode_cursor(first["next_cursor"])
    rest = answer(ENTRIES, EventFilter(limit=2, after=after), now=now, gap=GAP)
    assert rest == expected([EVENTS[2], EVENTS[3]], now, None)


@pytest.mark.parametrize(
    "query",
    [
        b"",
        b"outage_type=led_outage",
        b"controller_id=",
        b"controller_id=a&controller_id=b",
        b"controller_id=a&limit=%2B5",
        b"controller_id=a&limit=5.0",
        b"controller_id=a&limit=10000",
        b"controller_id=a&start_time=",
        b"controller_id=" + b"x" * 65,
    ],
)
def test_queries_the_route_must_answer(query: bytes) -> None:
    """Without one controller, with an empty, repeated or unusual parameter: left to the route."""
    assert parse_query(query) is None


def test_a_query_the_fast_path_answers() -> None:
    """A valid query is read as Starlette reads it: percent-decoding, unknown names ignored."""
    query = parse_query(b"controller_id=ctrl%2F%C3%A9&start_time=2025-09-01T00:00:00%2B02:00&limit=05&x=1")
    assert query is not None
    assert (query.controller_id, query.start_time, query.limit) == ("ctrl/é", "2025-09-01T00:00:00+02:00", 5)
