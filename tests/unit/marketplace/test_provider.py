"""The streaming feed parser: both namings, every trap of the samples, broken bodies."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import pytest

from crossdock.errors import ProviderDataError
from crossdock.marketplace.feed import RejectedSession, SessionDigest, SessionPayload, iter_feed


def payloads(path: Path) -> dict[tuple[str, str], SessionPayload]:
    return {(i.base_event_id, i.event_id): i for i in iter_feed(path) if isinstance(i, SessionPayload)}


def test_event_id_1642_is_three_sessions_under_three_base_events(fever_dir: Path) -> None:
    """Identity is (base_event_id, event_id): 1642 under 322 and 1591 are distinct sessions."""
    items = payloads(fever_dir / "response_1.xml")
    assert set(items) == {("291", "291"), ("322", "1642"), ("1591", "1642")}
    assert items[("322", "1642")].title == "Pantomima Full"
    assert items[("1591", "1642")].title == "Los Morancos"


def test_duplicate_zone_ids_are_both_kept_and_priced(fever_dir: Path) -> None:
    """1591 has two zones with zone_id 186: both are kept, prices span 65 to 75."""
    session = payloads(fever_dir / "response_1.xml")[("1591", "1642")]
    assert [(zone["zone_id"], zone["price"]) for zone in session.zones] == [
        ("186", "75.00"),
        ("186", "65.00"),
    ]
    assert (session.min_price, session.max_price) == (65.0, 75.0)


def test_impossible_date_rejects_only_that_record(fever_dir: Path) -> None:
    """Base event 444's 2021-09-31 is rejected with a reason; the other sessions still parse."""
    items = list(iter_feed(fever_dir / "response_2.xml"))
    rejected = [item for item in items if isinstance(item, RejectedSession)]
    assert [(r.base_event_id, r.event_id) for r in rejected] == [("444", "1642")]
    assert "2021-09-31" in rejected[0].reason
    assert sum(isinstance(item, SessionPayload) for item in items) == 2


def test_values_are_typed_and_organizer_optional(fever_dir: Path) -> None:
    """Datetimes are naive wall-clock values; a missing organizer_company_id is None."""
    camela = payloads(fever_dir / "response_3.xml")[("291", "291")]
    assert camela.starts_at == datetime(2021, 6, 30, 21, 0)
    assert camela.ends_at == datetime(2021, 6, 30, 21, 30)
    assert camela.organizer_company_id is None
    assert camela.sell_mode == "online"
    assert camela.sold_out is False
    assert (camela.min_price, camela.max_price) == (15.0, 30.0)
    # Zones are kept exactly as the provider sent them.
    assert camela.zones[1] == {
        "zone_id": "38",
        "name": "Grada 2",
        "capacity": "0",
        "price": "15.00",
        "numbered": "false",
    }


def test_planlist_naming_parses_like_eventlist(fever_dir: Path) -> None:
    """planList/base_plan/plan with plan_* attributes yields the same records (322 has two sessions)."""
    items = payloads(fever_dir / "planlist_variant" / "response_1.xml")
    assert set(items) == {("291", "291"), ("322", "1642"), ("322", "1643"), ("1591", "1642")}
    assert items[("322", "1643")].starts_at == datetime(2021, 2, 11, 20, 0)


def test_known_digest_skips_extraction(fever_dir: Path) -> None:
    """A session whose digest the caller already stores comes back as a bare SessionDigest."""
    first = payloads(fever_dir / "response_1.xml")
    digests = {key: item.digest for key, item in first.items()}
    again = list(iter_feed(fever_dir / "response_1.xml", known=lambda b, e, d: digests.get((b, e)) == d))
    assert all(isinstance(item, SessionDigest) for item in again)


def test_digest_changes_when_a_value_changes(fever_dir: Path) -> None:
    """291's end time changes between responses 2 and 3, so its digest does too."""
    second = payloads(fever_dir / "response_2.xml")[("291", "291")]
    third = payloads(fever_dir / "response_3.xml")[("291", "291")]
    assert second.digest != third.digest


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"<html><body>502 Bad Gateway</body></html>", id="html"),
        pytest.param(b'{"events": []}', id="json"),
        pytest.param(
            b"<?xml version='1.0'?><eventList><output><base_event base_event_id='1'", id="truncated"
        ),
    ],
)
def test_unusable_body_fails_as_a_whole(body: bytes) -> None:
    """A body that is not a complete provider feed raises ProviderDataError."""
    with pytest.raises(ProviderDataError):
        list(iter_feed(io.BytesIO(body)))


def test_truncated_sample_fails_after_yielding(fever_dir: Path) -> None:
    """Cutting a real sample in half fails the parse even though early sessions were readable."""
    data = (fever_dir / "response_1.xml").read_bytes()
    with pytest.raises(ProviderDataError, match="not well-formed"):
        list(iter_feed(io.BytesIO(data[: len(data) // 2])))


def test_bad_price_and_end_before_start_are_rejected() -> None:
    """A non-numeric price or an end before the start rejects that session only; no zones = no price."""
    body = b"""<?xml version="1.0"?><eventList><output>
      <base_event base_event_id="1" sell_mode="online" title="A">
        <event event_start_date="2021-01-01T10:00:00" event_end_date="2021-01-01T09:00:00" event_id="1">
          <zone zone_id="1" capacity="1" price="10.00" name="x" numbered="true"/></event>
        <event event_start_date="2021-01-01T10:00:00" event_end_date="2021-01-01T11:00:00" event_id="2">
          <zone zone_id="1" capacity="1" price="ten" name="x" numbered="true"/></event>
        <event event_start_date="2021-01-01T10:00:00" event_end_date="2021-01-01T11:00:00" event_id="3"/>
        <event event_start_date="2021-01-01T10:00:00" event_end_date="2021-01-01T11:00:00" event_id="4">
          <zone zone_id="1" capacity="1" price="-5" name="x" numbered="true"/></event>
        <event event_start_date="2021-01-01T10:00:00" event_end_date="2021-01-01T11:00:00" event_id="5">
          <zone zone_id="1" capacity="1" price="nan" name="x" numbered="true"/></event>
      </base_event></output></eventList>"""
    items = list(iter_feed(io.BytesIO(body)))
    kinds = [type(item).__name__ for item in items]
    assert kinds == [
        "RejectedSession",
        "RejectedSession",
        "SessionPayload",
        "RejectedSession",
        "RejectedSession",
    ]
    assert "'ten'" in items[1].reason  # type: ignore[union-attr]
    no_zones = items[2]
    assert isinstance(no_zones, SessionPayload)
    assert (no_zones.min_price, no_zones.max_price, no_zones.zones) == (None, None, [])


def test_entities_are_not_expanded() -> None:
    """An XML entity bomb is not expanded (resolve_entities=False, no network)."""
    body = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>
    <eventList><output><base_event base_event_id="1" sell_mode="online" title="&b;">
    <event event_start_date="2021-01-01T10:00:00" event_end_date="2021-01-01T11:00:00" event_id="1"/>
    </base_event></output></eventList>"""
    items = list(iter_feed(io.BytesIO(body)))
    assert len(items) == 1
