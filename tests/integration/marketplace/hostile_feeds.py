"""Hostile provider feeds written to files in constant memory, for the limit tests and the limits bench.

Each feed holds a good record before and after the hostile part, so a run shows both what was
rejected and that the rest was stored. ``bench/limits_bench.py`` imports :data:`HOSTILE_FEEDS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

MIB = 1024 * 1024
HEAD = b'<?xml version="1.0" encoding="UTF-8"?>\n<eventList version="1.0"><output>'
TAIL = b"</output></eventList>"


def good_record(ident: int, title: str) -> bytes:
    """An online base event with one valid session (ids ``ident``), searchable in 2021."""
    return (
        f'<base_event base_event_id="{ident}" sell_mode="online" title="{title}">'
        f'<event event_start_date="2021-06-30T21:00:00" event_end_date="2021-06-30T22:00:00" '
        f'event_id="{ident}" sell_from="2020-07-01T00:00:00" sell_to="2021-06-30T20:00:00" sold_out="false">'
        f'<zone zone_id="1" capacity="10" price="20.00" name="A" numbered="true"/></event></base_event>'
    ).encode()


def _open_session(ident: int) -> bytes:
    return (
        f'<base_event base_event_id="{ident}" sell_mode="online" title="Hostile {ident}">'
        f'<event event_start_date="2021-01-01T10:00:00" event_end_date="2021-01-01T11:00:00" '
        f'event_id="{ident}">'
    ).encode()


def _title_20mb() -> Iterator[bytes]:
    yield b'<base_event base_event_id="500" sell_mode="online" title="'
    for _ in range(20):
        yield b"t" * MIB
    yield b'"><event event_start_date="2021-01-01T10:00:00" event_id="500"/></base_event>'


def _zones_300k() -> Iterator[bytes]:
    yield _open_session(501)
    zone = b'<zone zone_id="1" capacity="1" price="1.00" name="z" numbered="false"/>'
    for _ in range(300):
        yield zone * 1_000
    yield b"</event></base_event>"


def _unknown_8mb() -> Iterator[bytes]:
    # Inside an unknown wrapper: nothing ever removed these before (only siblings of base events).
    yield b"<extra>"
    for _ in range(8):
        yield b"<x/>" * (MIB // 4)
    yield b"</extra>"


def _nesting() -> Iterator[bytes]:
    # Within libxml2's depth limit (256): inside a session and between records, 1,000 times each.
    for _ in range(1_000):
        yield b"<x>" * 250 + b"</x>" * 250
    yield _open_session(502)
    yield b"<x>" * 250 + b"</x>" * 250
    yield b"</event></base_event>"


def _text_20mb() -> Iterator[bytes]:
    yield _open_session(503) + b'<zone zone_id="1" price="1.00">'
    for _ in range(20):
        yield b"x" * MIB
    yield b"</zone></event></base_event>"


HOSTILE_FEEDS: dict[str, tuple[str, Callable[[], Iterator[bytes]]]] = {
    "title-20mb": ("one base event with a 20 MB title", _title_20mb),
    "zones-300k": ("one session with 300,000 zones", _zones_300k),
    "unknown-8mb": ("8 MB of <x/> in an unknown element between two records", _unknown_8mb),
    "nesting": ("1,001 blocks of <x> nested 250 deep, one inside a session", _nesting),
    "text-20mb": ("20 MB of text inside a zone", _text_20mb),
}
"""name -> (what it holds, chunks of its hostile part)."""

EXPECTED_REJECTED = {
    "title-20mb": {"field_too_long": 1},
    "zones-300k": {"too_many_zones": 1},
    "unknown-8mb": {},
    "nesting": {},
    "text-20mb": {"field_too_long": 1},
}
"""What a sync of each feed rejects, by reason (the good records 1 and 2 are always stored)."""


def write_hostile_feed(path: Path, name: str) -> Path:
    """Write the feed ``name`` to ``path``: good record 1, the hostile part, good record 2."""
    _what, chunks = HOSTILE_FEEDS[name]
    with path.open("wb") as sink:
        sink.write(HEAD + good_record(1, "Before"))
        for chunk in chunks():
            sink.write(chunk)
        sink.write(good_record(2, "After") + TAIL)
    return path
