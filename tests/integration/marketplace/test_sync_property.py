"""Property: whatever values a well-formed feed carries, the sync succeeds and stores the good records.

Hypothesis generates feeds with arbitrary values (unicode, empty, huge numbers, odd and overflowing
dates, values longer than their columns) in every attribute, or without the attribute, around one
known-good record. Every session is either stored or rejected with a reason; nothing fails the sync
unless the XML itself is broken (then only ProviderDataError, and nothing is stored).
"""

from __future__ import annotations

import itertools
import random
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from crossdock.errors import ProviderDataError
from crossdock.marketplace.identity import plan_uuid
from crossdock.marketplace.models import Plan
from crossdock.storage import Database
from tests.support.feeds import ScriptedProvider, sync_through_runner

# XML 1.0 characters only (lxml refuses the others): no controls but tab/newline/CR, no surrogates,
# no noncharacters. Anything else a provider could send is fair game.
XML_TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc", "Cn"), whitelist_characters="\t\n\r"), max_size=24
)
EDGE_VALUES = st.sampled_from(
    [
        "",
        " ",
        "0",
        "-1",
        "1e309",
        "-1e309",
        "nan",
        "inf",
        "1_000",
        "٣",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-05:00",
        "0001-01-01",
        "9999-12-31T23:59:59.999999",
        "2021-02-30T10:00:00",
        "2021-06-30T21:00:00",
        "2021-06-30T21:00:00Z",
        "2021-06-30T21:00:00+14:00",
        "online",
        "ONLINE ",
        "offline",
        "true",
        "False",
        "x" * 70,
        "é" * 40,
        "9" * 400,
    ]
)
VALUES = st.one_of(
    XML_TEXT,
    EDGE_VALUES,
    st.integers().map(str),
    st.floats().map(repr),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(datetime.isoformat),
)
MAYBE = st.none() | VALUES  # None: the attribute is absent

BASE_ATTRS = ("base_event_id", "sell_mode", "title", "organizer_company_id")
SESSION_ATTRS = ("event_id", "event_start_date", "event_end_date", "sell_from", "sell_to", "sold_out")
ZONE_ATTRS = ("zone_id", "capacity", "price", "name", "numbered")


def attributes(names: tuple[str, ...]) -> st.SearchStrategy[dict[str, str]]:
    return st.fixed_dictionaries({name: MAYBE for name in names}).map(
        lambda found: {name: value for name, value in found.items() if value is not None}
    )


ZONE = attributes(ZONE_ATTRS)
SESSION = st.tuples(attributes(SESSION_ATTRS), st.lists(ZONE, max_size=3))
BASE = st.tuples(attributes(BASE_ATTRS), st.lists(SESSION, min_size=1, max_size=3))
FEEDS = st.lists(BASE, max_size=4)

GOOD_IDS = itertools.count(1_000_000)
PROPERTY = settings(
    max_examples=40,
    deadline=None,  # a sync writes to a real database: timings vary
    database=None,  # no example database left in the working tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def build_feed(
    bases: list[tuple[dict[str, str], list[tuple[dict[str, str], list[dict[str, str]]]]]], good: int
) -> tuple[bytes, int]:
    """The feed's bytes (the good record in the middle) and how many sessions it holds."""
    root = etree.Element("eventList", version="1.0")
    output = etree.SubElement(root, "output")
    sessions = 0
    middle = len(bases) // 2
    for position, (base_attrs, base_sessions) in enumerate(bases):
        if position == middle:
            sessions += _good(output, good)
        base = etree.SubElement(output, "base_event", base_attrs)
        for session_attrs, zones in base_sessions:
            event = etree.SubElement(base, "event", session_attrs)
            for zone in zones:
                etree.SubElement(event, "zone", zone)
            sessions += 1
    if middle >= len(bases):
        sessions += _good(output, good)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8"), sessions


def _good(output: etree._Element, ident: int) -> int:
    base = etree.SubElement(
        output, "base_event", base_event_id=str(ident), sell_mode="online", title=f"Good {ident}"
    )
    event = etree.SubElement(
        base,
        "event",
        event_id=str(ident),
        event_start_date="2021-06-30T21:00:00",
        event_end_date="2021-06-30T22:00:00",
    )
    etree.SubElement(event, "zone", zone_id="1", capacity="1", price="12.50", name="A", numbered="true")
    return 1


@given(bases=FEEDS)
@PROPERTY
async def test_any_values_sync_with_the_good_records_stored(
    database: Database, bases: list[tuple[dict[str, str], list[tuple[dict[str, str], list[dict[str, str]]]]]]
) -> None:
    """Arbitrary attribute values: the sync succeeds, each session is stored or rejected with a reason."""
    good = next(GOOD_IDS)
    body, sessions = build_feed(bases, good)
    summary = await sync_through_runner(database, ScriptedProvider([body]), full=True)
    assert summary.outcome == "success"
    assert summary.seen == sessions
    assert summary.inserted + summary.updated + summary.unchanged + summary.rejected == sessions
    assert sum(summary.rejected_reasons.values()) == summary.rejected
    async with database.reader() as session:
        stored = await session.get(Plan, plan_uuid("fever", str(good), str(good)))
    assert stored is not None
    assert (stored.title, stored.starts_at, stored.min_price) == (
        f"Good {good}",
        datetime(2021, 6, 30, 21, 0),
        12.5,
    )


@given(bases=FEEDS, cut=st.integers(min_value=0, max_value=2**32), junk=st.binary(max_size=8))
@PROPERTY
async def test_broken_xml_fails_only_as_provider_data(
    database: Database,
    bases: list[tuple[dict[str, str], list[tuple[dict[str, str], list[dict[str, str]]]]]],
    cut: int,
    junk: bytes,
) -> None:
    """A feed damaged at a random byte either still syncs or fails with ProviderDataError alone."""
    body, _sessions = build_feed(bases, next(GOOD_IDS))
    position = random.Random(cut).randrange(len(body))
    damaged = body[:position] + junk + body[position + 1 :]
    try:
        summary = await sync_through_runner(database, ScriptedProvider([damaged]), full=True)
    except ProviderDataError:
        return
    assert summary.outcome == "success"
    assert sum(summary.rejected_reasons.values()) == summary.rejected


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "x" * 70])
async def test_known_bad_values_are_examples_of_the_property(database: Database, value: str) -> None:
    """Regression examples: an overflowing date and an id longer than its column are single rejections."""
    bases = [
        (
            {"base_event_id": value, "title": "t", "sell_mode": "online"},
            [({"event_id": "1", "event_start_date": value}, [])],
        )
    ]
    body, sessions = build_feed(bases, next(GOOD_IDS))
    summary = await sync_through_runner(database, ScriptedProvider([body]), full=True)
    assert (summary.outcome, summary.seen, summary.rejected) == ("success", sessions, 1)
