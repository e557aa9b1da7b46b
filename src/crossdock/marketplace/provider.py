"""The marketplace provider's API: its client, the feed download, and a streaming parser for its XML.

:data:`UPSTREAM` names the provider for the resilient client (breaker, metrics, logs);
:func:`build_client` makes that client from the settings and :func:`download_feed` streams the feed
into a file. The rest of this module is the wire format, parsed without I/O.

Two namings of one format are accepted:

* ``eventList/output/base_event/event/zone`` with ``base_event_id``, ``event_id``,
  ``event_start_date``, ``event_end_date`` (the classic samples);
* ``planList/output/base_plan/plan/zone`` with ``base_plan_id``, ``plan_id``, ``plan_start_date``,
  ``plan_end_date`` (the newer naming).

The parser streams (lxml ``iterparse``, clearing every element once used) so memory stays flat
whatever the feed size. The parser knows nothing of storage: it yields one :class:`SessionPayload` per
session, a :class:`SessionDigest` when the caller already holds a session with the same digest
(so unchanged sessions cost no Python-level work), or a :class:`RejectedSession` for a record that
cannot be used. A body that is not the provider's XML as a whole raises
:class:`~crossdock.errors.ProviderDataError`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC as _UTC
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Protocol

from lxml import etree

from crossdock.config import Settings
from crossdock.errors import ProviderDataError
from crossdock.httpclient import ClientHook, DownloadResult, ResilientClient
from crossdock.marketplace.settings import MarketplaceSettings

UPSTREAM = "marketplace"

ROOT_TAGS = frozenset({"eventList", "planList"})
BASE_TAGS = frozenset({"base_event", "base_plan"})
SESSION_TAGS = frozenset({"event", "plan"})
ONLINE = "online"


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
    """A session that cannot be used (e.g. an impossible date); the rest of the feed goes on."""

    base_event_id: str
    event_id: str
    reason: str


class Readable(Protocol):
    """Anything with a binary ``read(size)``: a file, a buffer, a progress-reporting wrapper."""

    def read(self, size: int = -1, /) -> bytes: ...


FeedItem = SessionDigest | SessionPayload | RejectedSession
KnownDigest = Callable[[str, str, str], bool]
"""``known(base_event_id, event_id, digest)``: True when the caller already stores exactly this."""


class RecordError(ValueError):
    """A single record's value is unusable; becomes a :class:`RejectedSession`."""


def _datetime(value: str | None, field: str, *, required: bool) -> datetime | None:
    if value is None or value == "":
        if required:
            raise RecordError(f"{field} is missing")
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RecordError(f"{field} {value!r} is not a valid date-time") from None
    # Provider times are wall-clock times without offset; an offset, if one ever appears, is
    # normalised to UTC so every stored time follows the same rule (docs/marketplace.md).
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(_UTC).replace(tzinfo=None)
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
        raise RecordError(f"zone price {bad!r} is not a number") from None
    if not prices:
        return zones, None, None
    low, high = min(prices), max(prices)
    if low < 0 or not math.isfinite(sum(prices)):
        raise RecordError("a zone price is negative, infinite or not a number")
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


def iter_feed(source: str | Path | Readable, *, known: KnownDigest | None = None) -> Iterator[FeedItem]:
    """Yield every session of the feed in document order.

    Raises :class:`ProviderDataError` when the document is not well-formed XML (truncated, HTML,
    empty) or its root is not a provider feed. Items already yielded before such an error must
    not be committed by the caller: the feed is used as a whole or not at all.
    """
    # Only feed elements raise events (zones are read from their session), which keeps the Python
    # loop to a few events per session; "{*}" also accepts a namespaced feed.
    events = etree.iterparse(
        source,
        events=("start", "end"),
        tag=tuple(f"{{*}}{name}" for name in (*ROOT_TAGS, *BASE_TAGS, *SESSION_TAGS)),
        resolve_entities=False,
        no_network=True,
        huge_tree=True,
        remove_blank_text=True,
    )
    base_attrs: dict[str, str] = {}
    base_prefix = b""
    seen_root = False
    try:
        for event, element in events:
            tag = _local_tag(element.tag)
            if not seen_root:
                if tag not in ROOT_TAGS:
                    raise ProviderDataError(
                        f"provider feed has <{tag}> outside an <eventList> or <planList> root"
                    )
                seen_root = True
                continue
            if event == "start":
                if tag in BASE_TAGS:
                    base_attrs = dict(element.attrib)
                    base_prefix = repr(sorted(base_attrs.items())).encode()
                continue
            if tag in SESSION_TAGS:
                yield _session_item(element, base_attrs, base_prefix, known)
                element.clear(keep_tail=False)
            elif tag in BASE_TAGS:
                element.clear(keep_tail=False)
                parent = element.getparent()
                if parent is not None:
                    # Drop already-processed siblings so the tree never grows with the feed.
                    while element.getprevious() is not None:
                        del parent[0]
    except etree.XMLSyntaxError as exc:
        raise ProviderDataError(f"provider feed is not well-formed XML: {exc}") from exc
    if not seen_root:
        raise ProviderDataError("provider feed has no <eventList> or <planList> root element")


def _session_item(
    session: Any, base_attrs: dict[str, str], base_prefix: bytes, known: KnownDigest | None
) -> FeedItem:
    attrib = session.attrib
    base_event_id = (base_attrs.get("base_event_id") or base_attrs.get("base_plan_id") or "").strip()
    event_id = (attrib.get("event_id") or attrib.get("plan_id") or "").strip()
    sell_mode = (base_attrs.get("sell_mode") or "").strip().lower()
    digest = hashlib.blake2b(
        base_prefix + etree.tostring(session, with_tail=False), digest_size=20
    ).hexdigest()
    if not base_event_id or not event_id:
        return RejectedSession(base_event_id, event_id, "base event id or session id is missing")
    if known is not None and known(base_event_id, event_id, digest):
        return SessionDigest(base_event_id, event_id, digest, sell_mode)
    try:
        starts_at = _datetime(
            attrib.get("event_start_date") or attrib.get("plan_start_date"), "start date", required=True
        )
        ends_at = _datetime(
            attrib.get("event_end_date") or attrib.get("plan_end_date"), "end date", required=False
        )
        assert starts_at is not None
        if ends_at is not None and ends_at < starts_at:
            raise RecordError(f"end {ends_at.isoformat()} is before start {starts_at.isoformat()}")
        sell_from = _datetime(attrib.get("sell_from"), "sell_from", required=False)
        sell_to = _datetime(attrib.get("sell_to"), "sell_to", required=False)
        zones, min_price, max_price = _zones(session)
    except RecordError as exc:
        return RejectedSession(base_event_id, event_id, str(exc))
    title = (base_attrs.get("title") or "").strip()
    if not title:
        return RejectedSession(base_event_id, event_id, "title is missing")
    return SessionPayload(
        base_event_id=base_event_id,
        event_id=event_id,
        digest=digest,
        title=title,
        sell_mode=sell_mode,
        organizer_company_id=base_attrs.get("organizer_company_id"),
        starts_at=starts_at,
        ends_at=ends_at,
        sell_from=sell_from,
        sell_to=sell_to,
        sold_out=_bool(attrib.get("sold_out")),
        zones=zones,
        min_price=min_price,
        max_price=max_price,
    )


def build_client(settings: Settings, hooks: ClientHook) -> ResilientClient:
    """The provider's client: timeouts, retries, breaker and rate limit from ``CROSSDOCK_HTTP_*``."""
    return ResilientClient.from_settings(UPSTREAM, settings.http, hooks=hooks)


DownloadProgress = Callable[[int, int | None], None]


async def download_feed(
    client: ResilientClient,
    settings: MarketplaceSettings,
    dest: IO[bytes],
    *,
    on_progress: DownloadProgress | None = None,
) -> DownloadResult:
    """Stream the provider's current feed into ``dest`` (hashed as it arrives), within the size limit."""
    return await client.download(
        "GET",
        str(settings.provider_url),
        dest=dest,
        on_progress=on_progress,
        max_bytes=settings.max_feed_bytes,
    )
