"""The generated provider feed: deterministic, sized as asked, shaped like the samples, full of traps."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import cache

import pytest
from lxml import etree

from crossdock.errors import InvalidInputError
from crossdock.marketplace.simulator.app import PLANLIST_SAMPLE_FILE, SAMPLE_FILES, load_sample
from crossdock.marketplace.simulator.feeds import (
    CHUNK_SIZE,
    FeedSpec,
    FeedVariant,
    escape_attribute,
    generate_feed,
    generated_feed_bytes,
)

BASE_EVENTS = 200
SESSIONS = 2
ZONES = 4
DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
PRICE = re.compile(r"\d+\.\d{2}")


@cache
def feed(variant: FeedVariant = "eventlist", generation: int = 0, seed: int = 0) -> bytes:
    return generated_feed_bytes(
        base_events=BASE_EVENTS,
        sessions_per_event=SESSIONS,
        zones_per_session=ZONES,
        variant=variant,
        seed=seed,
        generation=generation,
    )


@dataclass(frozen=True)
class Zone:
    zone_id: str
    capacity: int
    price: str
    name: str
    numbered: str


@dataclass(frozen=True)
class Session:
    start: str
    end: str
    session_id: str
    sell_from: str
    sell_to: str
    sold_out: str
    zones: tuple[Zone, ...]


@dataclass(frozen=True)
class BaseEvent:
    base_id: str
    sell_mode: str
    organizer: str | None
    title: str
    sessions: tuple[Session, ...]


def parse(body: bytes, variant: FeedVariant = "eventlist") -> list[BaseEvent]:
    names = ("base_event", "event", "event") if variant == "eventlist" else ("base_plan", "plan", "plan")
    base_tag, session_tag, prefix = names
    root = etree.fromstring(body)
    assert root.tag == ("eventList" if variant == "eventlist" else "planList")
    assert root.get("version") == "1.0"
    (output,) = root
    assert output.tag == "output"
    events = []
    for base in output:
        assert base.tag == base_tag
        sessions = []
        for session in base:
            assert session.tag == session_tag
            zones = tuple(
                Zone(
                    z.get("zone_id", ""),
                    int(z.get("capacity", "")),
                    *(z.get(a, "") for a in ("price", "name", "numbered")),
                )
                for z in session
            )
            sessions.append(
                Session(
                    session.get(f"{prefix}_start_date", ""),
                    session.get(f"{prefix}_end_date", ""),
                    session.get(f"{prefix}_id", ""),
                    session.get("sell_from", ""),
                    session.get("sell_to", ""),
                    session.get("sold_out", ""),
                    zones,
                )
            )
        events.append(
            BaseEvent(
                base.get(f"{base_tag}_id", ""),
                base.get("sell_mode", ""),
                base.get("organizer_company_id"),
                base.get("title", ""),
                tuple(sessions),
            )
        )
    return events


def by_id(events: list[BaseEvent]) -> dict[str, BaseEvent]:
    return {event.base_id: event for event in events}


def impossible(text: str) -> bool:
    return text[5:10] in {"04-31", "06-31", "09-31", "11-31"}


def test_same_inputs_give_byte_identical_output() -> None:
    """Sizes, variant, seed and generation fully determine the bytes."""
    first = generated_feed_bytes(
        base_events=50, sessions_per_event=2, zones_per_session=3, variant="eventlist", seed=7, generation=3
    )
    second = b"".join(
        generate_feed(
            base_events=50,
            sessions_per_event=2,
            zones_per_session=3,
            variant="eventlist",
            seed=7,
            generation=3,
        )
    )
    assert first == second
    assert FeedSpec(50, 2, 3, "eventlist", 7).render(3) == first


def test_seed_and_generation_change_the_output() -> None:
    """Another seed gives another catalogue; another generation gives another snapshot of it."""
    assert feed(seed=0) != feed(seed=1)
    assert feed(generation=0) != feed(generation=1)
    assert [e.base_id for e in parse(feed(seed=0))][:20] != [e.base_id for e in parse(feed(seed=1))][:20]


def test_chunks_are_about_64_kib_and_join_to_the_whole_feed() -> None:
    """A large feed comes in chunks of roughly CHUNK_SIZE bytes that concatenate to the full feed."""
    chunks = list(
        generate_feed(base_events=400, sessions_per_event=1, zones_per_session=25, variant="eventlist")
    )
    assert len(chunks) > 5
    assert all(CHUNK_SIZE <= len(chunk) <= 2 * CHUNK_SIZE for chunk in chunks[:-1])
    assert b"".join(chunks) == generated_feed_bytes(
        base_events=400, sessions_per_event=1, zones_per_session=25, variant="eventlist"
    )


@pytest.mark.parametrize("variant", ["eventlist", "planlist"])
def test_zone_count_is_base_events_present_times_sessions_times_zones(variant: FeedVariant) -> None:
    """Every emitted base event has the asked sessions and zones; only a few base events are missing."""
    events = parse(feed(variant), variant)
    assert BASE_EVENTS * 0.9 <= len(events) <= BASE_EVENTS
    assert all(len(event.sessions) == SESSIONS for event in events)
    assert all(len(session.zones) == ZONES for event in events for session in event.sessions)
    assert feed(variant).count(b"<zone ") == len(events) * SESSIONS * ZONES


def test_eventlist_feed_is_shaped_like_the_samples() -> None:
    """Declaration, root line, indentation, attribute order and ending match the published samples."""
    body = feed().decode()
    sample = load_sample(SAMPLE_FILES[0]).decode()
    assert body.splitlines()[:3] == sample.splitlines()[:3]
    assert body.endswith("   </output>\n</eventList>")
    assert re.search(
        r'\n      <base_event base_event_id="\d+" sell_mode="(online|offline)"( organizer_company_id="\d+")? '
        r'title="[^"]*">\n         <event event_start_date="[^"]+" event_end_date="[^"]+" event_id="\d+" '
        r'sell_from="[^"]+" sell_to="[^"]+" sold_out="(true|false)">\n            <zone zone_id="\d+" '
        r'capacity="\d+" price="\d+\.\d\d" name="[^"]*" numbered="(true|false)" />\n',
        body,
    )


def test_planlist_feed_uses_plan_names_like_the_planlist_sample() -> None:
    """The planlist variant renames root, base events, sessions and their attributes, nothing else."""
    body = feed("planlist").decode()
    sample = load_sample(PLANLIST_SAMPLE_FILE).decode()
    assert body.splitlines()[:3] == sample.splitlines()[:3]
    assert body.endswith("   </output>\n</planList>\n")
    assert "base_event" not in body
    assert "event_id" not in body
    assert re.search(r'<plan plan_start_date="[^"]+" plan_end_date="[^"]+" plan_id="\d+" sell_from=', body)
    assert len(parse(feed("planlist"), "planlist")) == len(parse(feed("eventlist")))


@pytest.mark.parametrize("generation", [0, 1, 2, 5])
def test_exactly_one_base_event_has_an_impossible_date_and_it_stays_offline(generation: int) -> None:
    """Like base event 444, one base event per feed has day 31 of a 30-day month and is never online."""
    events = parse(feed(generation=generation))
    with_bad_dates = [
        event for event in events if any(impossible(s.start) or impossible(s.end) for s in event.sessions)
    ]
    assert len(with_bad_dates) == 1
    assert with_bad_dates[0].sell_mode == "offline"
    assert all(impossible(session.sell_to) for session in with_bad_dates[0].sessions)


def test_event_ids_are_reused_across_base_events() -> None:
    """The same event id appears under different base events (1642 in the samples)."""
    owners: dict[str, set[str]] = {}
    for event in parse(feed()):
        for session in event.sessions:
            owners.setdefault(session.session_id, set()).add(event.base_id)
    assert any(len(base_ids) > 1 for base_ids in owners.values())


def test_some_sessions_hold_two_zones_with_the_same_id_and_different_prices() -> None:
    """Zones cannot be keyed by zone_id: some sessions repeat one with another price (186 in the samples)."""
    duplicated = 0
    for event in parse(feed()):
        for session in event.sessions:
            counts = Counter(zone.zone_id for zone in session.zones)
            for zone_id, count in counts.items():
                if count > 1:
                    prices = {zone.price for zone in session.zones if zone.zone_id == zone_id}
                    assert len(prices) == count
                    duplicated += 1
    assert duplicated >= 1


def test_about_80_percent_online_and_some_without_organizer() -> None:
    """Most base events sell online; organizer_company_id is missing on some, as on 291."""
    events = parse(feed())
    online = sum(event.sell_mode == "online" for event in events) / len(events)
    assert 0.65 <= online <= 0.9
    assert {event.sell_mode for event in events} == {"online", "offline"}
    missing = sum(event.organizer is None for event in events)
    assert 0 < missing < len(events) / 2


def test_generations_flip_sell_mode_and_hide_base_events_for_a_while() -> None:
    """Consecutive generations differ like consecutive provider calls: flips, absences, returns."""
    snapshots = [by_id(parse(feed(generation=g))) for g in range(4)]
    flips = [
        base_id
        for base_id, event in snapshots[0].items()
        if base_id in snapshots[1] and snapshots[1][base_id].sell_mode != event.sell_mode
    ]
    assert flips
    every_id = set().union(*snapshots)
    missing_somewhere = {base_id for base_id in every_id if any(base_id not in s for s in snapshots)}
    assert missing_somewhere
    assert len(missing_somewhere) < len(every_id) * 0.2
    # A base event that is missing in one generation is back in a later one.
    assert any(base_id in snapshots[3] for base_id in missing_somewhere if base_id not in snapshots[1])


def test_end_times_and_capacities_change_between_generations_but_identity_does_not() -> None:
    """Titles, ids and start dates stay; some end times move and capacities only go down."""
    before, after = by_id(parse(feed(generation=0))), by_id(parse(feed(generation=3)))
    moved_end = dropped = 0
    for base_id in before.keys() & after.keys():
        old, new = before[base_id], after[base_id]
        assert (old.title, old.organizer) == (new.title, new.organizer)
        for old_session, new_session in zip(old.sessions, new.sessions, strict=True):
            assert (old_session.session_id, old_session.start) == (new_session.session_id, new_session.start)
            moved_end += old_session.end != new_session.end
            for old_zone, new_zone in zip(old_session.zones, new_session.zones, strict=True):
                assert (old_zone.zone_id, old_zone.price) == (new_zone.zone_id, new_zone.price)
                assert new_zone.capacity <= old_zone.capacity
                dropped += new_zone.capacity < old_zone.capacity
    assert moved_end > 0
    assert dropped > 0


def test_dates_and_prices_are_formatted_like_the_samples() -> None:
    """Datetimes are YYYY-MM-DDTHH:MM:SS without offset and prices carry two decimals."""
    for event in parse(feed("planlist"), "planlist"):
        for session in event.sessions:
            for text in (session.start, session.end, session.sell_from, session.sell_to):
                assert DATETIME.fullmatch(text), text
            assert all(PRICE.fullmatch(zone.price) for zone in session.zones)
            assert all(zone.numbered in {"true", "false"} for zone in session.zones)


def test_titles_and_zone_names_survive_escaping() -> None:
    """Characters that need escaping (& < > ") and non-ASCII text round-trip through an XML parser."""
    events = parse(feed())
    texts = {event.title for event in events} | {
        zone.name for event in events for session in event.sessions for zone in session.zones
    }
    assert any("&" in text for text in texts)
    assert any('"' in text or "<" in text for text in texts)
    assert any(not text.isascii() for text in texts)
    assert escape_attribute('a & "b" <c>\n') == "a &amp; &quot;b&quot; &lt;c&gt;&#10;"


def test_a_single_base_event_feed_is_still_valid() -> None:
    """The smallest feed holds one offline base event with the impossible date and parses."""
    (event,) = parse(
        generated_feed_bytes(base_events=1, sessions_per_event=1, zones_per_session=1, variant="eventlist")
    )
    assert event.sell_mode == "offline"
    assert impossible(event.sessions[0].start)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"base_events": 0}, "base_events"),
        ({"sessions_per_event": -1}, "sessions_per_event"),
        ({"zones_per_session": True}, "zones_per_session"),
        ({"variant": "xml"}, "variant"),
    ],
)
def test_invalid_sizes_and_variants_are_refused(changes: dict[str, object], message: str) -> None:
    """A FeedSpec refuses sizes below 1 and unknown variants with a message naming the field."""
    arguments: dict[str, object] = {
        "base_events": 1,
        "sessions_per_event": 1,
        "zones_per_session": 1,
        "variant": "eventlist",
    } | changes
    with pytest.raises(InvalidInputError, match=message):
        FeedSpec(**arguments)  # type: ignore[arg-type]


def test_negative_generation_is_refused() -> None:
    """Generations count provider calls from 0."""
    with pytest.raises(InvalidInputError, match="generation"):
        FeedSpec(1, 1, 1).render(-1)
