"""The feed parser's limits and per-record errors: a bad record is rejected with its reason, never the feed.

Hostile feeds (a 20 MB title, 300k zones in one session, megabytes of unknown elements, deep
nesting) are written to files here; their memory cost is measured by ``bench/limits_bench.py`` and
pinned by ``tests/integration/marketplace/test_feed_memory.py``.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import pytest

from crossdock.errors import ProviderDataError
from crossdock.marketplace import feed as feed_format
from crossdock.marketplace.feed import RejectedSession, SessionPayload, iter_feed

GOOD_BEFORE = (
    b'<base_event base_event_id="1" sell_mode="online" title="Before">'
    b'<event event_start_date="2021-06-30T21:00:00" event_end_date="2021-06-30T22:00:00" event_id="1">'
    b'<zone zone_id="1" capacity="10" price="20.00" name="A" numbered="true"/></event></base_event>'
)
GOOD_AFTER = GOOD_BEFORE.replace(b'"1"', b'"9"').replace(b"Before", b"After")
HEAD = b'<?xml version="1.0" encoding="UTF-8"?>\n<eventList version="1.0"><output>'
TAIL = b"</output></eventList>"


def feed(*records: bytes) -> io.BytesIO:
    return io.BytesIO(HEAD + GOOD_BEFORE + b"".join(records) + GOOD_AFTER + TAIL)


def session(start: str = "2021-01-01T10:00:00", end: str = "2021-01-01T11:00:00", **attrs: str) -> bytes:
    extra = "".join(f' {name}="{value}"' for name, value in attrs.items())
    return (
        f'<base_event base_event_id="5" sell_mode="online" title="Five">'
        f'<event event_start_date="{start}" event_end_date="{end}" event_id="5"{extra}>'
        f'<zone zone_id="1" capacity="1" price="1.00" name="x" numbered="false"/></event></base_event>'
    ).encode()


def outcome(source: str | Path | BinaryIO, **limits: int) -> tuple[list[str], list[RejectedSession]]:
    """Titles of the stored sessions and the rejected ones, in order (``limits``: FeedLimits fields)."""
    items = list(iter_feed(source, limits=feed_format.FeedLimits(**limits)) if limits else iter_feed(source))
    stored = [item.title for item in items if isinstance(item, SessionPayload)]
    rejected = [item for item in items if isinstance(item, RejectedSession)]
    return stored, rejected


def write_feed(path: Path, middle: Callable[[BinaryIO], None]) -> Path:
    """Write a feed file: a good record, whatever ``middle`` writes, a good record (memory stays small)."""
    with path.open("wb") as sink:
        sink.write(HEAD + GOOD_BEFORE)
        middle(sink)
        sink.write(GOOD_AFTER + TAIL)
    return path


@pytest.mark.parametrize(
    ("attrs", "field"),
    [
        ({"start": "0001-01-01T00:00:00+01:00"}, "start date"),
        ({"end": "9999-12-31T23:59:59-05:00"}, "end date"),
        ({"sell_from": "0001-01-01T00:30:00+01:00"}, "sell_from"),
        ({"sell_to": "9999-12-31T23:00:00-05:00"}, "sell_to"),
    ],
)
def test_date_outside_the_calendar_in_utc_rejects_only_that_record(attrs: dict[str, str], field: str) -> None:
    """A date whose UTC value overflows years 1-9999 rejects its record with the reason; the rest parses."""
    stored, rejected = outcome(feed(session(**attrs)))
    assert stored == ["Before", "After"]
    assert [(r.base_event_id, r.event_id, r.code) for r in rejected] == [("5", "5", "invalid_date")]
    assert field in rejected[0].reason


def test_field_longer_than_the_limit_rejects_its_record() -> None:
    """A title over CROSSDOCK_MARKETPLACE_MAX_FIELD_LENGTH characters rejects its sessions."""
    long_title = b"T" * 1_001
    record = session().replace(b'title="Five"', b'title="' + long_title + b'"')
    stored, rejected = outcome(feed(record), max_field_length=1_000)
    assert stored == ["Before", "After"]
    assert [r.code for r in rejected] == ["field_too_long"]
    assert "title" in rejected[0].reason
    assert outcome(feed(record), max_field_length=1_001)[1] == []


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        (b'base_event_id="5"', b'base_event_id="' + b"5" * 65 + b'"', "base_event_id"),
        (b'event_id="5"', b'event_id="' + b"5" * 65 + b'"', "event_id"),
        (b'sell_mode="online"', b'sell_mode="' + b"o" * 33 + b'"', "sell_mode"),
        (b'title="Five"', b'title="Five" organizer_company_id="' + b"1" * 65 + b'"', "organizer_company_id"),
    ],
)
def test_value_longer_than_its_column_rejects_its_record(old: bytes, new: bytes, field: str) -> None:
    """Ids, sell_mode and organizer longer than their columns are rejected here, not by the database."""
    stored, rejected = outcome(feed(session().replace(old, new)))
    assert stored == ["Before", "After"]
    assert [r.code for r in rejected] == ["field_too_long"]
    assert field in rejected[0].reason


def test_twenty_megabyte_title_is_rejected_and_the_rest_stored(tmp_path: Path) -> None:
    """A 20 MB title (accepted, stored and served before) rejects its record; the records around it parse."""

    def huge_title(sink: BinaryIO) -> None:
        sink.write(b'<base_event base_event_id="5" sell_mode="online" title="')
        for _ in range(20):
            sink.write(b"t" * 1024 * 1024)
        sink.write(b'"><event event_start_date="2021-01-01T10:00:00" event_id="5"/></base_event>')

    stored, rejected = outcome(write_feed(tmp_path / "title.xml", huge_title))
    assert stored == ["Before", "After"]
    assert [(r.base_event_id, r.code) for r in rejected] == [("5", "field_too_long")]
    assert "title" in rejected[0].reason


def test_twenty_megabyte_text_inside_a_session_rejects_it(tmp_path: Path) -> None:
    """Text over the field limit inside a session (past libxml2's own limit too) rejects the session."""

    def huge_text(sink: BinaryIO) -> None:
        sink.write(
            b'<base_event base_event_id="5" sell_mode="online" title="Five">'
            b'<event event_start_date="2021-01-01T10:00:00" event_id="5"><zone zone_id="1" price="1">'
        )
        for _ in range(20):
            sink.write(b"x" * 1024 * 1024)
        sink.write(b"</zone></event></base_event>")

    stored, rejected = outcome(write_feed(tmp_path / "text.xml", huge_text))
    assert stored == ["Before", "After"]
    assert [r.code for r in rejected] == ["field_too_long"]


def test_huge_comment_between_records_is_ignored(tmp_path: Path) -> None:
    """A 20 MB comment between records neither fails the feed nor touches a record."""

    def huge_comment(sink: BinaryIO) -> None:
        sink.write(b"<!-- ")
        for _ in range(20):
            sink.write(b"c" * 1024 * 1024)
        sink.write(b" -->")

    assert outcome(write_feed(tmp_path / "comment.xml", huge_comment)) == (["Before", "After"], [])


def test_three_hundred_thousand_zones_in_one_session_reject_it(tmp_path: Path) -> None:
    """A session with more zones than CROSSDOCK_MARKETPLACE_MAX_ZONES_PER_SESSION is rejected, counted."""

    def many_zones(sink: BinaryIO) -> None:
        sink.write(
            b'<base_event base_event_id="5" sell_mode="online" title="Five">'
            b'<event event_start_date="2021-01-01T10:00:00" event_id="5">'
        )
        zone = b'<zone zone_id="1" capacity="1" price="1.00" name="z" numbered="false"/>'
        for _ in range(300):
            sink.write(zone * 1_000)
        sink.write(b"</event></base_event>")

    stored, rejected = outcome(write_feed(tmp_path / "zones.xml", many_zones))
    assert stored == ["Before", "After"]
    assert [(r.event_id, r.code) for r in rejected] == [("5", "too_many_zones")]
    assert "10000" in rejected[0].reason


def test_zone_limit_is_a_setting() -> None:
    """max_zones_per_session: a session at the limit is stored, one zone more rejects it."""
    zones = b'<zone zone_id="1" price="1.00"/>'
    record = session().replace(b"</event>", zones * 2 + b"</event>")  # 3 zones
    assert outcome(feed(record), max_zones_per_session=3)[1] == []
    (rejected,) = outcome(feed(record), max_zones_per_session=2)[1]
    assert rejected.code == "too_many_zones"


def test_session_over_the_byte_limit_is_rejected() -> None:
    """A session whose XML is larger than CROSSDOCK_MARKETPLACE_MAX_SESSION_BYTES is rejected."""
    zones = b"".join(b'<zone zone_id="%d" name="%s" price="1.00"/>' % (n, b"n" * 500) for n in range(200))
    record = session().replace(b"</event>", zones + b"</event>")  # ~110 KB
    stored, rejected = outcome(feed(record), max_session_bytes=64 * 1024)
    assert stored == ["Before", "After"]
    assert [r.code for r in rejected] == ["session_too_large"]
    assert outcome(feed(record), max_session_bytes=1024 * 1024)[1] == []


def test_megabytes_of_unknown_elements_are_dropped(tmp_path: Path) -> None:
    """8 MB of <x/> between, around and after records: ignored and dropped as read; every record parses."""

    def unknown(sink: BinaryIO) -> None:
        for _ in range(8):
            sink.write(b"<x/>" * (256 * 1024))
        sink.write(session())
        sink.write(b"<x><y/><y/></x>" * 1_000)

    stored, rejected = outcome(write_feed(tmp_path / "x.xml", unknown))
    assert (stored, rejected) == (["Before", "Five", "After"], [])


def test_ignored_elements_are_counted_exactly() -> None:
    """Unknown elements between, inside and around records are all counted once, nested ones included."""
    block = b"<x><y/><y><z/></y></x>"  # 4 elements
    record = session()
    body = feed(*(block * 500 + record for _ in range(40)), b"<x/>" * 3)
    items = list(iter_feed(body))
    assert sum(item.ignored for item in items if isinstance(item, feed_format.Skipped)) == 40 * 500 * 4 + 3
    assert sum(isinstance(item, SessionPayload) for item in items) == 42


def test_unknown_elements_over_the_limit_fail_the_feed() -> None:
    """More elements outside the format than CROSSDOCK_MARKETPLACE_MAX_IGNORED_ELEMENTS fail the feed."""
    body = feed(b"<x/>" * 101)
    with pytest.raises(ProviderDataError, match="100"):
        list(iter_feed(body, limits=feed_format.FeedLimits(max_ignored_elements=100)))
    assert outcome(feed(b"<x/>" * 100), max_ignored_elements=100)[0] == ["Before", "After"]


def test_nesting_within_the_parser_limit_is_ignored_beyond_it_fails() -> None:
    """Nested unknown elements are dropped up to libxml2's depth limit (256); deeper is not a usable feed."""
    inside = session().replace(b"</event>", b"<x>" * 200 + b"</x>" * 200 + b"</event>")
    assert outcome(feed(b"<x>" * 200 + b"</x>" * 200, inside)) == (["Before", "Five", "After"], [])
    with pytest.raises(ProviderDataError):
        list(iter_feed(feed(b"<x>" * 300 + b"</x>" * 300)))


def test_session_outside_a_base_event_is_rejected() -> None:
    """A session that is not inside a base event is rejected, not given another base event's values."""
    stray = b'<event event_start_date="2021-01-01T10:00:00" event_id="7"/>'
    stored, rejected = outcome(feed(stray))
    assert stored == ["Before", "After"]
    assert [(r.event_id, r.code) for r in rejected] == [("7", "outside_base_event")]
