"""The marketplace provider's wire format: a streaming, bounded parser for its XML feed of plans.

Two namings of one format are accepted:

* ``eventList/output/base_event/event/zone`` with ``base_event_id``, ``event_id``,
  ``event_start_date``, ``event_end_date`` (the classic samples);
* ``planList/output/base_plan/plan/zone`` with ``base_plan_id``, ``plan_id``, ``plan_start_date``,
  ``plan_end_date`` (the newer naming).

The parser streams (lxml ``iterparse``) and keeps only the session being read, so peak memory does
not depend on what the feed holds: every element is removed once used, elements outside the format
are counted and dropped as they end, and :class:`FeedLimits` bound what one record may hold (field
length, zones, bytes of a session); :class:`~crossdock.marketplace.feedguard.RunGuard` keeps libxml2
from building huge tokens. It knows nothing of storage or HTTP: it yields one
:class:`SessionPayload` per session, a :class:`SessionDigest` when the caller already holds a session
with the same digest (so unchanged sessions cost no Python-level work), a :class:`RejectedSession`
with a reason code for a record that cannot be used (whatever went wrong reading it), and now and
then :class:`Skipped` (ignored elements, and a chance for the caller to yield). Only a body that is
not the provider's XML as a whole, or a feed-wide limit, raises :class:`~crossdock.errors.ProviderDataError`.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC as _UTC
from datetime import datetime
from pathlib import Path
from typing import Any

from lxml import etree

from crossdock.errors import ProviderDataError
from crossdock.marketplace.feedguard import READ_SIZE, Readable, RunGuard
from crossdock.marketplace.settings import MarketplaceSettings

ROOT_TAGS = frozenset({"eventList", "planList"})
BASE_TAGS = frozenset({"base_event", "base_plan"})
SESSION_TAGS = frozenset({"event", "plan"})
ONLINE = "online"

# Widths of the columns these values are stored in (models.Plan): a longer value is rejected here,
# with its reason, instead of failing the whole sync's transaction in the database.
ID_COLUMN = 64
SELL_MODE_COLUMN = 32
ORGANIZER_COLUMN = 64


@dataclass(frozen=True, slots=True)
class FeedLimits:
    """What one feed may hold (``CROSSDOCK_MARKETPLACE_MAX_*``); see docs/marketplace.md, "Limits".

    A record over a per-record limit is rejected with the limit's code; more ignored elements than
    ``max_ignored_elements`` fail the feed. A stretch of more than ``max_run_bytes`` without a ``<``
    (one huge value, text or comment) is cut in its middle before libxml2 sees it, so that no single
    token is ever held whole; the cut makes the field it lies in longer than ``max_field_length``.
    """

    max_field_length: int = 64 * 1024
    max_zones_per_session: int = 10_000
    max_session_bytes: int = 4 * 1024 * 1024
    max_ignored_elements: int = 5_000_000

    @classmethod
    def from_settings(cls, settings: MarketplaceSettings) -> FeedLimits:
        return cls(
            max_field_length=settings.max_field_length,
            max_zones_per_session=settings.max_zones_per_session,
            max_session_bytes=settings.max_session_bytes,
            max_ignored_elements=settings.max_ignored_elements,
        )

    @property
    def max_run_bytes(self) -> int:
        # Room for one tag with several fields at the limit (in UTF-8: up to 4 bytes a character).
        return 16 * self.max_field_length


@dataclass(frozen=True, slots=True)
class SessionDigest:
    """A session whose digest the caller already knows: nothing else was extracted."""

    base_event_id: str
    event_id: str
    digest: str
    sell_mode: str


@dataclass(frozen=True, slots=True)
class SessionPayload:
    """One session (``<event>`` / ``<plan>``) with its base event's values, ready to store."""

    base_event_id: str
    event_id: str
    digest: str
    title: str
    sell_mode: str
    organizer_company_id: str | None
    starts_at: datetime
    ends_at: datetime | None
    sell_from: datetime | None
    sell_to: datetime | None
    sold_out: bool | None
    zones: list[dict[str, Any]]
    min_price: float | None
    max_price: float | None


@dataclass(frozen=True, slots=True)
class RejectedSession:
    """A session that cannot be used (e.g. an impossible date); the rest of the feed goes on.

    ``code`` is the stable reason counted per sync (``invalid_date``, ``field_too_long``, ...),
    ``reason`` the sentence logged.
    """

    base_event_id: str
    event_id: str
    reason: str
    code: str = "invalid_value"


@dataclass(frozen=True, slots=True)
class Skipped:
    """Elements outside the feed's format dropped since the last Skipped (``ignored`` may be 0).

    Also yielded after a long stretch without any record, so the caller (an event loop) gets its turn.
    """

    ignored: int


FeedItem = SessionDigest | SessionPayload | RejectedSession | Skipped
KnownDigest = Callable[[str, str, str], bool]
"""``known(base_event_id, event_id, digest)``: True when the caller already stores exactly this."""


class RecordError(ValueError):
    """A single record's value is unusable; becomes a :class:`RejectedSession` with ``code``."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def _datetime(value: str | None, field: str, *, required: bool) -> datetime | None:
    if value is None or value == "":
        if required:
            raise RecordError(f"{field} is missing", "missing_value")
        return None
    try:
        parsed = datetime.fromisoformat(value)
        # Provider times are wall-clock times without offset; an offset, if one ever appears, is
        # normalised to UTC so every stored time follows the same rule (docs/marketplace.md).
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(_UTC).replace(tzinfo=None)
    except ValueError:
        raise RecordError(f"{field} {value[:64]!r} is not a valid date-time", "invalid_date") from None
    except OverflowError:
        # 0001-01-01T00:00:00+01:00 is valid, but before year 1 once in UTC.
        raise RecordError(
            f"{field} {value[:64]!r} falls outside the years 1 to 9999 in UTC", "invalid_date"
        ) from None
    return parsed


_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}


def _bool(value: str | None) -> bool | None:
    if value is None:
        return None
    found = _BOOLEANS.get(value)
    return found if found is not None else _BOOLEANS.get(value.strip().lower())


def _zones(session: Any) -> tuple[list[dict[str, str]], float | None, float | None]:
    """The session's zones exactly as sent (attribute strings), and its min/max price.

    Zones are a list, never keyed: ``zone_id`` is not unique within a session in real feeds. This
    runs for every zone of the feed (a million for a large one), so per-zone work stays in C: the
    attribute dicts come from lxml, prices are converted by a comprehension.
    """
    zones = [dict(zone.items()) for zone in session.iterchildren("{*}zone")]
    try:
        prices = [float(raw) for zone in zones if (raw := zone.get("price"))]
    except ValueError:
        bad = next(zone["price"] for zone in zones if not _is_number(zone.get("price") or "0"))
        raise RecordError(f"zone price {bad[:64]!r} is not a number", "invalid_price") from None
    if not prices:
        return zones, None, None
    low, high = min(prices), max(prices)
    if low < 0 or not math.isfinite(sum(prices)):
        raise RecordError("a zone price is negative, infinite or not a number", "invalid_price")
    return zones, low, high


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _local_tag(tag: Any) -> str:
    text = str(tag)
    return text.rsplit("}", 1)[-1] if "}" in text else text


# -- the parse --------------------------------------------------------------------------------------

_ROOT, _OUTPUT, _BASE, _SESSION, _ZONE, _OTHER = range(1, 7)
_KINDS: dict[str, int] = {
    "output": _OUTPUT,
    "zone": _ZONE,
    **dict.fromkeys(ROOT_TAGS, _ROOT),
    **dict.fromkeys(BASE_TAGS, _BASE),
    **dict.fromkeys(SESSION_TAGS, _SESSION),
}
# Only the records' own elements raise events (zones are read from their session), which keeps
# the Python work to a few events per session; "{*}" also accepts a namespaced feed.
_EVENT_TAGS = tuple(f"{{*}}{name}" for name in (*ROOT_TAGS, *BASE_TAGS, *SESSION_TAGS))
PROBE_LIMIT = 1024 * 1024
"""Bytes within which the root element must start (a feed's prolog is a line or two)."""
IDLE_CHUNKS = 16
"""Chunks read without an item after which :class:`Skipped` gives the caller its turn."""
_COUNT_BELOW = etree.XPath("count(descendant::*)")
_COUNT_FROM = etree.XPath("count(descendant-or-self::*)")


def _kind(tag: Any) -> int:
    found = _KINDS.get(tag)
    if found is None:
        found = _KINDS.get(_local_tag(tag), _OTHER) if isinstance(tag, str) and "}" in tag else _OTHER
    return found


@contextlib.contextmanager
def _opened(source: str | Path | Readable) -> Iterator[Readable]:
    if isinstance(source, str | Path):
        with Path(source).open("rb") as file:
            yield file
    else:
        yield source


def iter_feed(
    source: str | Path | Readable, *, known: KnownDigest | None = None, limits: FeedLimits | None = None
) -> Iterator[FeedItem]:
    """Yield every session of the feed in document order (and :class:`Skipped` now and then).

    Raises :class:`ProviderDataError` when the document is not well-formed XML (truncated, HTML,
    empty, nested deeper than libxml2's 256 levels), its root is not a provider feed, or it holds
    more ignored elements than ``limits.max_ignored_elements``. Items already yielded before such an
    error must not be committed by the caller: the feed is used as a whole or not at all.
    """
    limits = limits or FeedLimits()
    with _opened(source) as raw:
        guard = RunGuard(raw, max_run=limits.max_run_bytes, mark=b"!" * (limits.max_field_length + 1))
        try:
            yield from _FeedParse(guard, known, limits).items()
        except etree.XMLSyntaxError as exc:
            raise ProviderDataError(f"provider feed is not well-formed XML: {exc}") from exc


def _probe_root(guard: RunGuard) -> bytes:
    """Read until the root element starts; refuse a document whose root is not a provider feed.

    A throw-away parser finds the root (after any prolog) so that a body that is not a feed fails
    at once, before the main parse could accumulate anything. Returns the bytes read, to replay.
    """
    probe = etree.XMLPullParser(events=("start",), resolve_entities=False, no_network=True)
    head = bytearray()
    while len(head) <= PROBE_LIMIT:
        chunk = guard.read(READ_SIZE)
        if not chunk:
            return bytes(head)
        head += chunk
        try:
            probe.feed(chunk)
        except etree.XMLSyntaxError:
            return bytes(head)  # the main parse reports it, with its position
        for _event, found in probe.read_events():
            element: Any = found
            if _kind(element.tag) != _ROOT:
                raise ProviderDataError(
                    f"provider feed has <{_local_tag(element.tag)}> outside an <eventList> or <planList> root"
                )
            return bytes(head)
    raise ProviderDataError(f"provider feed has no root element within its first {PROBE_LIMIT} bytes")


class _FeedParse:
    """One parse: the pull parser, the session being read, and the pruning between chunks.

    Records are handled at their end events and removed from the tree at once. Everything else
    is removed between two chunks (:meth:`_prune`): at each level of the open path every child but
    the last is complete, and outside the open session such a child can only be an element
    outside the format (records are gone by then), which is counted and dropped. The open session
    keeps its zones until it ends, unless it goes over a limit: it is then marked rejected and
    emptied as it goes.
    """

    def __init__(self, guard: RunGuard, known: KnownDigest | None, limits: FeedLimits) -> None:
        self.guard = guard
        self.known = known
        self.limits = limits
        self.root: Any = None
        self.base: Any = None
        self.base_values: _BaseValues | None = None
        self.session: Any = None  # the session being read (its start seen, not its end)
        self.session_started = 0  # guard position at its start
        self.session_dropped = 0  # its elements removed because it went over a limit
        self.rejection: RecordError | None = None  # why it is rejected already
        self.ignored = 0
        self.ignored_since = 0  # not reported yet (by a Skipped item)

    def items(self) -> Iterator[FeedItem]:
        parser = etree.XMLPullParser(
            events=("start", "end"),
            tag=_EVENT_TAGS,
            resolve_entities=False,
            no_network=True,
            remove_blank_text=True,
            remove_comments=True,
            remove_pis=True,
        )
        chunk = _probe_root(self.guard)
        idle = 0
        while True:
            if chunk:
                parser.feed(chunk)
            else:
                parser.close()
            for event, element in parser.read_events():
                item = self._event(event, element)
                if item is not None:
                    idle = 0
                    yield item
            if not chunk:
                break
            self._prune()
            idle += 1
            if idle >= IDLE_CHUNKS:
                yield Skipped(self.ignored_since)
                idle = self.ignored_since = 0
            chunk = self.guard.read(READ_SIZE)
        if self.root is None:
            raise ProviderDataError("provider feed has no <eventList> or <planList> root element")
        self._count_ignored(sum(1 for found in self.root.iterdescendants() if _kind(found.tag) == _OTHER))
        if self.ignored_since:
            yield Skipped(self.ignored_since)

    def _event(self, event: str, element: Any) -> FeedItem | None:
        kind = _kind(element.tag)
        if event == "start":
            if kind == _ROOT and self.root is None:
                self.root = element
            elif kind == _SESSION and self.session is None:
                self.session = element
                self.session_started = self.guard.position
                self.session_dropped = 0
                self.rejection = None
            return None
        if kind == _SESSION:
            if element is not self.session:
                return None  # a session inside a session is one of the outer session's elements
            return self._session_end(element)
        if kind == _BASE:
            # Its sessions are gone; whatever else it still holds is outside the format.
            self._count_ignored(sum(1 for _ in element.iterdescendants()))
            self._drop(element)
            self.base = self.base_values = None
        return None

    def _session_end(self, session: Any) -> FeedItem:
        self.session = None
        parent = session.getparent()
        owner = parent if _kind(parent.tag) == _BASE else _base_around(session)
        if owner is not self.base:
            self.base = owner
            self.base_values = None if owner is None else _BaseValues(owner, self.limits)
        rejection = self.rejection
        if rejection is None and self.session_dropped + len(session) > self.limits.max_zones_per_session:
            rejection = _too_many_zones(self.limits)
        item = _session_item(session, self.base_values, self.known, self.limits, rejection)
        self._drop(session)
        return item

    def _prune(self) -> None:
        element = self.root
        inside_session = False  # below a rejected session: what goes is the session's, not ignored
        while element is not None:
            try:
                last = element[-1]
            except IndexError:
                return
            if element is self.session:
                if self.rejection is None:
                    self.rejection = self._session_over_limit(element)
                    if self.rejection is None:
                        return  # a session within its limits keeps everything until it ends
                # A rejected session keeps nothing: empty it, level by level, as it goes.
                self.session_dropped += len(element) - 1
                del element[:-1]
                inside_session = True
            elif last.getprevious() is not None:
                # (XPath's last() is quadratic in libxml2: count everything, less the last child's.)
                count = 0 if inside_session else _count(_COUNT_BELOW, element) - _count(_COUNT_FROM, last)
                del element[:-1]
                self._count_ignored(count)
            element = last

    def _session_over_limit(self, session: Any) -> RecordError | None:
        limits = self.limits
        # Bytes passed to the parser since the session's start tag: at most one unfinished token
        # (a run, bounded by the guard) more than the session itself, so over this it is too large.
        if self.guard.position - self.session_started > limits.max_session_bytes + limits.max_run_bytes:
            return RecordError(
                f"session is larger than {limits.max_session_bytes} bytes", "session_too_large"
            )
        if self.session_dropped + len(session) > limits.max_zones_per_session:
            return _too_many_zones(limits)
        return None

    def _count_ignored(self, count: int) -> None:
        self.ignored += count
        self.ignored_since += count
        if self.ignored > self.limits.max_ignored_elements:
            raise ProviderDataError(
                f"provider feed has more than {self.limits.max_ignored_elements} elements outside its "
                "format (CROSSDOCK_MARKETPLACE_MAX_IGNORED_ELEMENTS)"
            )

    @staticmethod
    def _drop(element: Any) -> None:
        element.clear(keep_tail=False)
        parent = element.getparent()
        if parent is not None:
            parent.remove(element)


def _count(xpath: etree.XPath, element: Any) -> int:
    found = xpath(element)
    assert isinstance(found, float)  # an XPath count() is a number
    return int(found)


def _base_around(session: Any) -> Any:
    """The base event a session lies in when it is not its direct child (or None: not in one)."""
    for ancestor in session.iterancestors():
        kind = _kind(ancestor.tag)
        if kind == _BASE:
            return ancestor
        if kind in (_ROOT, _OUTPUT, _SESSION):
            return None
    return None


def _too_many_zones(limits: FeedLimits) -> RecordError:
    return RecordError(
        f"session has more than {limits.max_zones_per_session} zones "
        "(CROSSDOCK_MARKETPLACE_MAX_ZONES_PER_SESSION)",
        "too_many_zones",
    )


class _BaseValues:
    """A base event's attributes, read once for all its sessions, and what is wrong with them."""

    __slots__ = ("base_event_id", "organizer", "prefix", "problem", "sell_mode", "title")

    def __init__(self, base: Any, limits: FeedLimits) -> None:
        attrs: dict[str, str] = dict(base.attrib)
        self.prefix = repr(sorted(attrs.items())).encode()
        self.base_event_id = (attrs.get("base_event_id") or attrs.get("base_plan_id") or "").strip()
        self.sell_mode = (attrs.get("sell_mode") or "").strip().lower()
        self.title = (attrs.get("title") or "").strip()
        self.organizer = attrs.get("organizer_company_id")
        self.problem: RecordError | None = None
        if len(self.prefix) > limits.max_field_length:
            for name, value in attrs.items():
                if len(value) > limits.max_field_length:
                    self.problem = _too_long(f"base event attribute {_local_tag(name)}", limits)
                    return
        for name, value, width in (
            ("base_event_id", self.base_event_id, ID_COLUMN),
            ("sell_mode", self.sell_mode, SELL_MODE_COLUMN),
            ("organizer_company_id", self.organizer or "", ORGANIZER_COLUMN),
        ):
            if len(value) > width:
                self.problem = RecordError(f"{name} is longer than {width} characters", "field_too_long")
                return


def _too_long(what: str, limits: FeedLimits) -> RecordError:
    return RecordError(
        f"{what} is longer than {limits.max_field_length} characters "
        "(CROSSDOCK_MARKETPLACE_MAX_FIELD_LENGTH)",
        "field_too_long",
    )


def _session_problem(session: Any, raw: bytes, limits: FeedLimits) -> RecordError | None:
    """A field of the session (attributes and text, zones included) over the limits, if any."""
    if len(raw) > limits.max_session_bytes:
        return RecordError(f"session is larger than {limits.max_session_bytes} bytes", "session_too_large")
    if len(raw) <= limits.max_field_length:
        return None  # every field is shorter than the whole: nothing to look at
    longest = limits.max_field_length
    for element in session.iter():
        for name, value in element.items():
            if len(value) > longest:
                return _too_long(f"{_local_tag(element.tag)} attribute {_local_tag(name)}", limits)
        if len(element.text or "") > longest or len(element.tail or "") > longest:
            return _too_long(f"text inside <{_local_tag(element.tag)}>", limits)
    return None


def _session_item(
    session: Any,
    base: _BaseValues | None,
    known: KnownDigest | None,
    limits: FeedLimits,
    rejection: RecordError | None,
) -> FeedItem:
    attrib = session.attrib
    event_id = (attrib.get("event_id") or attrib.get("plan_id") or "").strip()
    base_event_id = base.base_event_id if base is not None else ""
    if base is None:
        return RejectedSession(
            "", event_id[:ID_COLUMN], "session is not inside a base event", "outside_base_event"
        )
    if not base_event_id or not event_id:
        return RejectedSession(
            base_event_id[:ID_COLUMN],
            event_id[:ID_COLUMN],
            "base event id or session id is missing",
            "missing_id",
        )
    if rejection is not None:
        return RejectedSession(
            base_event_id[:ID_COLUMN], event_id[:ID_COLUMN], str(rejection), rejection.code
        )
    raw = etree.tostring(session, with_tail=False)
    problem = base.problem or _session_problem(session, raw, limits)
    if problem is None and len(event_id) > ID_COLUMN:
        problem = RecordError(f"event_id is longer than {ID_COLUMN} characters", "field_too_long")
    if problem is not None:
        return RejectedSession(base_event_id[:ID_COLUMN], event_id[:ID_COLUMN], str(problem), problem.code)
    digest = hashlib.blake2b(base.prefix + raw, digest_size=20).hexdigest()
    if known is not None and known(base_event_id, event_id, digest):
        return SessionDigest(base_event_id, event_id, digest, base.sell_mode)
    try:
        return _payload(session, base, base_event_id, event_id, digest)
    except RecordError as exc:
        return RejectedSession(base_event_id, event_id, str(exc), exc.code)
    except Exception as exc:  # whatever else goes wrong reading one record rejects that record only
        return RejectedSession(
            base_event_id,
            event_id,
            f"unreadable record: {type(exc).__name__}: {str(exc)[:200]}",
            "unreadable",
        )


def _payload(
    session: Any, base: _BaseValues, base_event_id: str, event_id: str, digest: str
) -> SessionPayload:
    attrib = session.attrib
    starts_at = _datetime(
        attrib.get("event_start_date") or attrib.get("plan_start_date"), "start date", required=True
    )
    ends_at = _datetime(
        attrib.get("event_end_date") or attrib.get("plan_end_date"), "end date", required=False
    )
    assert starts_at is not None
    if ends_at is not None and ends_at < starts_at:
        raise RecordError(
            f"end {ends_at.isoformat()} is before start {starts_at.isoformat()}", "end_before_start"
        )
    sell_from = _datetime(attrib.get("sell_from"), "sell_from", required=False)
    sell_to = _datetime(attrib.get("sell_to"), "sell_to", required=False)
    zones, min_price, max_price = _zones(session)
    if not base.title:
        raise RecordError("title is missing", "missing_title")
    return SessionPayload(
        base_event_id=base_event_id,
        event_id=event_id,
        digest=digest,
        title=base.title,
        sell_mode=base.sell_mode,
        organizer_company_id=base.organizer,
        starts_at=starts_at,
        ends_at=ends_at,
        sell_from=sell_from,
        sell_to=sell_to,
        sold_out=_bool(attrib.get("sold_out")),
        zones=zones,
        min_price=min_price,
        max_price=max_price,
    )
