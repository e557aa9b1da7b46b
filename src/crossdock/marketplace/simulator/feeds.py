"""Deterministic generator of marketplace provider feeds (the XML of ``GET /api/events``).

The output copies the provider samples byte for byte in shape (declaration, root attributes,
three-space indentation, attribute order, ``" />"`` zone endings) and plants the traps the samples
show, so code that survives a generated feed survives the real one:

- about 80 % of base events are ``online``, the rest ``offline``;
- exactly one base event carries an impossible date (day 31 of a 30-day month) and is offline in
  every generation, like base event 444 of the samples;
- event ids are reused across different base events (the samples reuse 1642 three times);
- some sessions hold two zones with the same ``zone_id`` and different prices;
- ``organizer_company_id`` is absent on some base events; titles and zone names need escaping and
  are not all ASCII.

``generation`` plays the role of consecutive provider calls: between generations some base events
flip online/offline, a few disappear for a generation, some end times move and capacities drop.
Everything is a pure function of (sizes, variant, seed, generation): the same inputs give
byte-identical output. The feed is produced in chunks of about 64 KiB so a 100 MB feed never exists
as one Python string (callers may still join the chunks); a chunk always ends after a whole session,
so a single session with tens of thousands of zones makes one larger chunk.

This module must stay free of I/O and of the capability's client side: the simulator serves it, tests
and benchmarks call it directly.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal, get_args

from crossdock.errors import InvalidInputError

FeedVariant = Literal["eventlist", "planlist"]

CHUNK_SIZE: Final = 64 * 1024
"""Characters gathered before a chunk is handed out (UTF-8 makes the byte size a little larger)."""

ONLINE_SHARE: Final = 0.8
FLIP_PER_GENERATION: Final = 0.05
DISAPPEAR_PER_GENERATION: Final = 0.02
END_CHANGE_PER_GENERATION: Final = 0.05
REUSED_EVENT_ID_SHARE: Final = 0.03
DUPLICATE_ZONE_ID_SHARE: Final = 0.05
NO_ORGANIZER_SHARE: Final = 0.2

_FIRST_DAY: Final = datetime(2021, 1, 1)
_MONTHS_WITH_30_DAYS: Final = (4, 6, 9, 11)


@dataclass(frozen=True, slots=True)
class _Vocabulary:
    """Element and attribute names of one wire variant."""

    root: str
    base: str
    base_id: str
    session: str
    start: str
    end: str
    session_id: str
    # The eventList samples end right after the root's end tag, the planList sample ends with a
    # newline: mirror both so byte-level comparisons with the samples keep meaning something.
    tail: str


_VOCABULARIES: Final[dict[str, _Vocabulary]] = {
    "eventlist": _Vocabulary(
        root="eventList",
        base="base_event",
        base_id="base_event_id",
        session="event",
        start="event_start_date",
        end="event_end_date",
        session_id="event_id",
        tail="",
    ),
    "planlist": _Vocabulary(
        root="planList",
        base="base_plan",
        base_id="base_plan_id",
        session="plan",
        start="plan_start_date",
        end="plan_end_date",
        session_id="plan_id",
        tail="\n",
    ),
}

_ATTRIBUTE_ESCAPES: Final = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}
)


def escape_attribute(text: str) -> str:
    """Return ``text`` safe inside a double-quoted XML attribute value."""
    return text.translate(_ATTRIBUTE_ESCAPES)


_ARTISTS: Final = (
    "Camela",
    "Los Morancos",
    "Pantomima Full",
    "Juanito Valderrama",
    "Niña Pastori",
    "Café Quijano",
    "Mägo de Oz",
    "Estopa",
    "Rosalía",
    "La Oreja de Van Gogh",
    "Simon & Garfunkel",
    'Grupo "El Barrio"',
    "Orquesta Sinfónica <Joven>",
    "Dani Martín",
    "Love of Lesbian",
    "Vetusta Morla",
    "Izal",
    "Siempre Así",
    "Los Chichos",
    "Marea",
)
_TITLE_FORMS: Final = (
    "{artist}",
    "{artist} en concierto",
    "Tributo a {artist}",
    "{artist} - Gira 20 aniversario",
    "{artist} & amigos",
    "Noche de {artist}",
    "{artist}: acústico",
)
_ZONE_NAMES: Final = (
    "Platea",
    "Grada 1",
    "Grada 2",
    "Grada 3",
    "Amfiteatre",
    "Anfiteatro",
    "Palco",
    "Pista",
    "Tribuna Norte",
    "Tribuna Sur",
    "General",
    "VIP",
    "Preferencia",
    "A28",
    "A42",
    "B12",
    'Zona "Premium"',
    "Fila 1 & 2",
    "Niños <12",
    "Butaca",
)
_ESCAPED_ZONE_NAMES: Final = tuple(escape_attribute(name) for name in _ZONE_NAMES)
_PRICE_CENTS: Final = (500, 750, 1000, 1200, 1295, 1500, 1800, 2000, 2250, 2500, 3000, 3500, 4000, 4500)
_PRICE_CENTS_HIGH: Final = (5000, 5500, 6500, 7500, 9000, 12000)
_PRICES: Final = tuple(f"{c // 100}.{c % 100:02d}" for c in _PRICE_CENTS + _PRICE_CENTS_HIGH)
# Tickets sold per generation, indexed by 5 random bits: most zones do not sell between two calls.
_SALES_PER_GENERATION: Final = (0,) * 20 + (1, 1, 2, 2, 3, 4, 5, 6, 8, 10, 15, 20)
_START_HOURS: Final = (17, 18, 19, 20, 21, 22)
_DURATIONS_MINUTES: Final = (60, 90, 120, 150)
_END_CHANGES_MINUTES: Final = (-30, -20, 20, 30, 0)  # 0: the end collapses onto the start, as in sample 3


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """The sizes and flavour of a generated feed; ``generation`` is given per call.

    A feed holds ``base_events`` base events (a few fewer in a generation where some disappear),
    each with ``sessions_per_event`` sessions of ``zones_per_session`` zones.
    """

    base_events: int
    sessions_per_event: int
    zones_per_session: int
    variant: FeedVariant = "eventlist"
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("base_events", "sessions_per_event", "zones_per_session"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"{name} must be a whole number >= 1 (got {value!r})")
        if self.variant not in get_args(FeedVariant):
            raise InvalidInputError(f"variant must be one of {', '.join(get_args(FeedVariant))}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise InvalidInputError(f"seed must be a whole number (got {self.seed!r})")

    def chunks(self, generation: int = 0) -> Iterator[bytes]:
        """Yield the UTF-8 XML of ``generation`` in chunks of about :data:`CHUNK_SIZE`."""
        if isinstance(generation, bool) or not isinstance(generation, int) or generation < 0:
            raise InvalidInputError(f"generation must be a whole number >= 0 (got {generation!r})")
        return _render(self, generation)

    def render(self, generation: int = 0) -> bytes:
        """Return the whole XML of ``generation``."""
        return b"".join(self.chunks(generation))


def generate_feed(
    *,
    base_events: int,
    sessions_per_event: int,
    zones_per_session: int,
    variant: FeedVariant,
    seed: int = 0,
    generation: int = 0,
) -> Iterator[bytes]:
    """Yield a provider feed as UTF-8 XML chunks of about 64 KiB; same arguments, same bytes."""
    spec = FeedSpec(
        base_events=base_events,
        sessions_per_event=sessions_per_event,
        zones_per_session=zones_per_session,
        variant=variant,
        seed=seed,
    )
    return spec.chunks(generation)


def generated_feed_bytes(
    *,
    base_events: int,
    sessions_per_event: int,
    zones_per_session: int,
    variant: FeedVariant,
    seed: int = 0,
    generation: int = 0,
) -> bytes:
    """Return the whole feed that :func:`generate_feed` yields for the same arguments."""
    return b"".join(
        generate_feed(
            base_events=base_events,
            sessions_per_event=sessions_per_event,
            zones_per_session=zones_per_session,
            variant=variant,
            seed=seed,
            generation=generation,
        )
    )


def _impossible(moment: datetime) -> str:
    """Format ``moment`` (on day 30 of a 30-day month) as the same time on the non-existent day 31."""
    text = moment.isoformat()
    return f"{text[:8]}31{text[10:]}"


def _render(spec: FeedSpec, generation: int) -> Iterator[bytes]:
    words = _VOCABULARIES[spec.variant]
    count = spec.base_events
    sessions = spec.sessions_per_event
    zones = spec.zones_per_session

    # Two independent streams: `catalogue` decides what never changes (ids, titles, venues, dates),
    # `drift` decides what this generation changes. Only the drift stream depends on `generation`,
    # so a base event keeps its identity across generations.
    catalogue = random.Random(f"crossdock-feed:{spec.seed}")
    drift = random.Random(f"crossdock-feed:{spec.seed}:generation:{generation}")

    base_ids = catalogue.sample(range(1, 10 * count + 100), count)
    first_session_ids = catalogue.sample(range(1, 10 * count + 100), count)
    impossible_index = catalogue.randrange(count)
    # The base event whose every session has a duplicated zone id, so the trap exists in any feed
    # with two zones per session or more.
    duplicate_index = (impossible_index + 1 + catalogue.randrange(count - 1)) % count if count > 1 else 0
    protected = {impossible_index, duplicate_index}  # never disappear: each feed keeps both traps
    if count > 1:
        # Like 444 in the samples, the impossible base event reuses another base event's ids.
        partner = (impossible_index + 1) % count
        first_session_ids[impossible_index] = first_session_ids[partner]

    session_close = f"         </{words.session}>\n"
    base_close = f"      </{words.base}>\n"
    parts: list[str] = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<{words.root} xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" version="1.0" '
        f'xsi:noNamespaceSchemaLocation="{words.root}.xsd">\n',
        "   <output>\n",
    ]
    size = sum(len(part) for part in parts)

    for index in range(count):
        # Catalogue draws happen whether or not the base event is emitted in this generation.
        venue_seed = catalogue.getrandbits(64)
        online = catalogue.random() < ONLINE_SHARE
        organizer = catalogue.randrange(1, 50) if catalogue.random() >= NO_ORGANIZER_SHARE else None
        title = _TITLE_FORMS[catalogue.randrange(len(_TITLE_FORMS))].format(
            artist=_ARTISTS[catalogue.randrange(len(_ARTISTS))]
        )
        reuses_ids = catalogue.random() < REUSED_EVENT_ID_SHARE
        duplicates_zone = catalogue.random() < DUPLICATE_ZONE_ID_SHARE or index == duplicate_index
        first_start = _FIRST_DAY + timedelta(
            days=catalogue.randrange(730),
            hours=_START_HOURS[catalogue.randrange(len(_START_HOURS))],
            minutes=30 * catalogue.randrange(2),
        )
        duration = timedelta(minutes=_DURATIONS_MINUTES[catalogue.randrange(len(_DURATIONS_MINUTES))])
        sell_from = first_start.replace(hour=0, minute=0) - timedelta(days=catalogue.randrange(7, 365))
        sell_to_gap = timedelta(minutes=10 if catalogue.random() < 0.5 else 60)
        session_gap = timedelta(days=1 if catalogue.random() < 0.5 else 7)
        zone_first = catalogue.randrange(1, 400)

        flips = drift.random() < FLIP_PER_GENERATION
        disappears = drift.random() < DISAPPEAR_PER_GENERATION and index not in protected
        if disappears:
            continue

        impossible = index == impossible_index
        if impossible:
            online = False
        elif flips:
            online = not online
        if reuses_ids and index > 0 and not impossible:
            first_session_id = first_session_ids[index - 1]
        else:
            first_session_id = first_session_ids[index]

        organizer_attr = f' organizer_company_id="{organizer}"' if organizer is not None else ""
        parts.append(
            f'      <{words.base} {words.base_id}="{base_ids[index]}" '
            f'sell_mode="{"online" if online else "offline"}"{organizer_attr} '
            f'title="{escape_attribute(title)}">\n'
        )

        layout = _venue_layout(venue_seed, zone_first, zones, duplicates_zone)
        for session in range(sessions):
            if impossible:
                month = _MONTHS_WITH_30_DAYS[session % len(_MONTHS_WITH_30_DAYS)]
                year = first_start.year + session // len(_MONTHS_WITH_30_DAYS)
                start = datetime(year, month, 30, 20, 0)
                end = start + timedelta(minutes=60)
                start_text, end_text = _impossible(start), _impossible(end)
                sell_to_text = _impossible(start - timedelta(minutes=10))
            else:
                start = first_start + session * session_gap
                end = start + duration
                if drift.random() < END_CHANGE_PER_GENERATION:
                    change = _END_CHANGES_MINUTES[drift.randrange(len(_END_CHANGES_MINUTES))]
                    end = start if change == 0 else end + timedelta(minutes=change)
                start_text, end_text = start.isoformat(), end.isoformat()
                sell_to_text = (start - sell_to_gap).isoformat()

            zone_lines: list[str] = []
            append = zone_lines.append
            any_capacity = False
            for zone_id, price, name, numbered, capacity_at_start, sales in layout:
                # Later sessions of a base event sell more slowly than the first one.
                capacity = capacity_at_start - (generation * sales) // (session + 1)
                if capacity > 0:
                    any_capacity = True
                else:
                    capacity = 0
                append(
                    f'            <zone zone_id="{zone_id}" capacity="{capacity}" price="{price}" '
                    f'name="{name}" numbered="{numbered}" />\n'
                )

            session_line = (
                f'         <{words.session} {words.start}="{start_text}" {words.end}="{end_text}" '
                f'{words.session_id}="{first_session_id * sessions + session}" '
                f'sell_from="{sell_from.isoformat()}" sell_to="{sell_to_text}" '
                f'sold_out="{"false" if any_capacity else "true"}">\n'
            )
            block = "".join(zone_lines)
            parts.append(session_line)
            parts.append(block)
            parts.append(session_close)
            size += len(session_line) + len(block) + len(session_close)
            if size >= CHUNK_SIZE:
                yield "".join(parts).encode()
                parts.clear()
                size = 0

        parts.append(base_close)
        size += len(base_close)

    parts.append(f"   </output>\n</{words.root}>{words.tail}")
    yield "".join(parts).encode()


_Zone = tuple[int, str, str, str, int, int]
"""A venue zone: id, price, escaped name, numbered, capacity at generation 0, tickets sold per generation."""


def _venue_layout(venue_seed: int, zone_first: int, zones: int, duplicates_zone: bool) -> list[_Zone]:
    """Return the zones every session of one base event offers, in feed order."""
    getrandbits = random.Random(venue_seed).getrandbits
    layout: list[_Zone] = []
    first_bits = 0
    for zone in range(zones):
        bits = getrandbits(32)
        zone_id = zone_first + zone
        price = (bits >> 9) % len(_PRICES)
        name = (bits >> 14) % len(_ESCAPED_ZONE_NAMES)
        numbered = bool(bits & (1 << 19))
        if zone == 0:
            first_bits = bits
        elif duplicates_zone and zone == zones - 1:
            # Same zone id and name as the first zone, the other seating kind at another price:
            # only the position in the list tells the two apart.
            first_price = (first_bits >> 9) % len(_PRICES)
            zone_id = zone_first
            price = first_price - 1 if first_price > 0 else first_price + 1
            name = (first_bits >> 14) % len(_ESCAPED_ZONE_NAMES)
            numbered = not first_bits & (1 << 19)
        layout.append(
            (
                zone_id,
                _PRICES[price],
                _ESCAPED_ZONE_NAMES[name],
                "true" if numbered else "false",
                1 + (bits & 0x1FF),
                _SALES_PER_GENERATION[(bits >> 20) & 0x1F],
            )
        )
    return layout
