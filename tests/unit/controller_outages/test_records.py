"""Reading one report record: the accepted forms, and a clear reason for everything else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crossdock.controller_outages.schemas import RecordError, iso, parse_instant, parse_record

TEN = 1_756_720_800_000_000  # 2025-09-01T10:00:00Z in microseconds


def test_the_challenges_sample_record_is_read(led_outages_dir: Path) -> None:
    """The published sample (with its `tvent_type` typo and Unix seconds) is a valid record."""
    raw = json.loads((led_outages_dir / "example-record.json").read_text())
    report = parse_record(raw)
    assert (report.controller_id, report.outage_type, report.at) == (
        "AOT1D-25090001",
        "led_outage",
        1756665796_000_000,
    )


@pytest.mark.parametrize(
    "timestamp",
    [
        "2025-09-01T10:00:00Z",
        "2025-09-01T12:00:00+02:00",
        "2025-09-01T10:00:00",  # no offset: UTC
        "2025-09-01 10:00:00Z",
        1756720800,
        1756720800.0,
    ],
)
def test_timestamp_forms_name_the_same_instant(timestamp: object) -> None:
    """RFC 3339 with Z or an offset, without an offset (UTC), or Unix seconds: one instant."""
    assert parse_instant(timestamp) == TEN


@pytest.mark.parametrize("name", ["outage_type", "event_type", "tvent_type"])
def test_the_type_is_read_under_each_published_name(name: str) -> None:
    """outage_type, event_type and tvent_type all name the type."""
    report = parse_record({"controller_id": "c1", name: "panel_outage", "timestamp": 1756720800})
    assert report.outage_type == "panel_outage"


@pytest.mark.parametrize(
    ("record", "says"),
    [
        ([1, 2], "JSON object"),
        ({"outage_type": "led_outage", "timestamp": 1}, "controller_id"),
        ({"controller_id": "", "outage_type": "led_outage", "timestamp": 1}, "printable"),
        ({"controller_id": "x" * 65, "outage_type": "led_outage", "timestamp": 1}, "1-64"),
        ({"controller_id": "a\nb", "outage_type": "led_outage", "timestamp": 1}, "printable"),
        ({"controller_id": "c", "timestamp": 1}, "outage_type is missing"),
        ({"controller_id": "c", "outage_type": "fire", "timestamp": 1}, "not one of"),
        ({"controller_id": "c", "outage_type": ["led_outage"], "timestamp": 1}, "string"),
        (
            {"controller_id": "c", "outage_type": "led_outage", "event_type": "panel_outage", "timestamp": 1},
            "disagree",
        ),
        ({"controller_id": "c", "outage_type": "led_outage"}, "timestamp is missing"),
        ({"controller_id": "c", "outage_type": "led_outage", "timestamp": True}, "Unix seconds"),
        ({"controller_id": "c", "outage_type": "led_outage", "timestamp": "yesterday"}, "RFC 3339"),
        ({"controller_id": "c", "outage_type": "led_outage", "timestamp": "2025-02-30T00:00:00Z"}, "valid"),
        (
            {"controller_id": "c", "outage_type": "led_outage", "timestamp": "0001-01-01T00:00:00+01:00"},
            "valid",
        ),
        ({"controller_id": "c", "outage_type": "led_outage", "timestamp": float("nan")}, "1970"),
        ({"controller_id": "c", "outage_type": "led_outage", "timestamp": -5}, "1970"),
        ({"controller_id": "c", "outage_type": "led_outage", "timestamp": 10**20}, "1970"),
        ({"controller_id": "c", "outage_type": "led_outage", "timestamp": "1756720800"}, "RFC 3339"),
    ],
)
def test_bad_records_say_why(record: object, says: str) -> None:
    """Each unusable record raises RecordError with its reason (never anything else)."""
    with pytest.raises(RecordError, match=says):
        parse_record(record)


def test_times_are_shown_in_utc_with_z() -> None:
    """Event times are RFC 3339 in UTC with Z, with a fraction only when there is one."""
    assert iso(TEN) == "2025-09-01T10:00:00Z"
    assert iso(TEN + 250_000) == "2025-09-01T10:00:00.250000Z"
