"""I/O of the controller-outages API: reading one report record, and the shapes of the answers.

A record is ``{"controller_id", "outage_type", "timestamp"}``; the type is also accepted under the
names ``event_type`` and ``tvent_type`` (both appear in published samples). The timestamp is an RFC
3339 date-time (with an offset or ``Z``; without one it is UTC) or Unix seconds as a number. Reading
a record never raises anything but :class:`RecordError`, whose message says what is wrong with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

OUTAGE_TYPES = ("panel_outage", "temperature_outage", "led_outage")
TYPE_FIELDS = ("outage_type", "event_type", "tvent_type")
MAX_CONTROLLER_ID = 64
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LAST_SECOND = 253_402_300_799  # 9999-12-31T23:59:59Z


class RecordError(ValueError):
    """One record cannot be used; the message says why (it never echoes more than a short value)."""


@dataclass(frozen=True, slots=True)
class ReportIn:
    """One valid report: its key and its time in microseconds since the epoch (UTC)."""

    controller_id: str
    outage_type: str
    at: int

    @property
    def key(self) -> tuple[str, str]:
        return (self.controller_id, self.outage_type)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def micros(moment: datetime) -> int:
    """An aware datetime as microseconds since the epoch."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def iso(at: int) -> str:
    """Microseconds since the epoch as RFC 3339 in UTC with ``Z`` (fraction only when there is one)."""
    seconds, fraction = divmod(at, 1_000_000)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{fraction:06d}Z" if fraction else f"{text}Z"


def parse_instant(value: object, *, name: str = "timestamp") -> int:
    """An RFC 3339 string (no offset: UTC) or Unix seconds, as microseconds since the epoch."""
    if isinstance(value, bool) or value is None:
        raise RecordError(f"{name} must be an RFC 3339 date-time or Unix seconds, not {_shown(value)}")
    if isinstance(value, int | float):
        if not math.isfinite(value) or not 0 <= value <= _LAST_SECOND:
            raise RecordError(f"{name} {_shown(value)} is not Unix seconds between 1970 and 9999")
        return round(value * 1_000_000) if isinstance(value, float) else value * 1_000_000
    if not isinstance(value, str):
        raise RecordError(f"{name} must be an RFC 3339 date-time or Unix seconds, not {_shown(value)}")
    text = value.strip()
    if len(text) < 11 or text[10] not in "Tt ":
        raise RecordError(f"{name} {_shown(value)} is not an RFC 3339 date-time (e.g. 2025-09-01T10:00:00Z)")
    try:
        moment = datetime.fromisoformat(text)
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        result = micros(moment)
    except (ValueError, OverflowError):
        raise RecordError(f"{name} {_shown(value)} is not a valid RFC 3339 date-time") from None
    if not 0 <= result <= _LAST_SECOND * 1_000_000:
        raise RecordError(f"{name} {_shown(value)} is before 1970 or after 9999")
    return result


def parse_record(raw: object) -> ReportIn:
    """Read one record; raises :class:`RecordError` saying what is wrong."""
    if not isinstance(raw, dict):
        raise RecordError(f"a record must be a JSON object, not {type(raw).__name__}")
    controller = raw.get("controller_id")
    if not isinstance(controller, str):
        raise RecordError("controller_id is missing or not a string")
    if (
        not 1 <= len(controller) <= MAX_CONTROLLER_ID
        or not controller.isprintable()
        or not controller.strip()
    ):
        raise RecordError(f"controller_id must be 1-{MAX_CONTROLLER_ID} printable characters")
    given = [raw[name] for name in TYPE_FIELDS if name in raw]
    if any(not isinstance(value, str) for value in given):
        raise RecordError("outage_type must be a string")
    types = set(given)
    if not types:
        raise RecordError("outage_type is missing")
    if len(types) > 1:
        raise RecordError("outage_type, event_type and tvent_type disagree")
    (outage_type,) = types
    if outage_type not in OUTAGE_TYPES:
        raise RecordError(f"outage_type {_shown(outage_type)} is not one of {', '.join(OUTAGE_TYPES)}")
    if "timestamp" not in raw:
        raise RecordError("timestamp is missing")
    return ReportIn(controller, outage_type, parse_instant(raw["timestamp"]))


class ReportRecord(BaseModel):
    """One outage report (``event_type`` or ``tvent_type`` may stand for ``outage_type``)."""

    controller_id: str = Field(min_length=1, max_length=MAX_CONTROLLER_ID, examples=["AOT1D-25090001"])
    outage_type: Literal["panel_outage", "temperature_outage", "led_outage"]
    timestamp: str | float = Field(
        description="RFC 3339 (no offset: UTC) or Unix seconds", examples=["2025-09-01T10:00:00Z", 1756720800]
    )


class RejectedRecord(BaseModel):
    index: int = Field(description="Position of the record in the batch (0 for a single object)")
    error: str


class IngestAnswer(BaseModel):
    """What a batch did: new reports stored, repeats ignored, records refused, events touched."""

    accepted: int
    duplicates: int
    rejected: list[RejectedRecord]
    event_ids: list[str] = Field(description="The events the batch's reports belong to, sorted")


class EventRead(BaseModel):
    """One outage event: a run of reports of one controller and type no more than the gap apart."""

    id: str
    controller_id: str
    outage_type: str
    start_time: str = Field(
        description="The first report's time, RFC 3339 UTC", examples=["2025-09-01T10:00:00Z"]
    )
    end_time: str = Field(
        description="The last report's time, RFC 3339 UTC", examples=["2025-09-01T10:20:00Z"]
    )
    status: Literal["ongoing", "resolved"]
    report_count: int = Field(description="Distinct report timestamps in the event")
    merged_ids: list[str] = Field(description="Ids of events merged into this one; they answer as this one")


class EventPage(BaseModel):
    events: list[EventRead]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last page")


def event_json(
    *,
    id: str,
    controller_id: str,
    outage_type: str,
    start_at: int,
    end_at: int,
    report_count: int,
    merged_ids: list[str],
    now: int,
    gap: int,
) -> dict[str, Any]:
    """The API's view of one event (status from ``now``: ongoing while now - end <= gap)."""
    return {
        "id": id,
        "controller_id": controller_id,
        "outage_type": outage_type,
        "start_time": iso(start_at),
        "end_time": iso(end_at),
        "status": "ongoing" if now - end_at <= gap else "resolved",
        "report_count": report_count,
        "merged_ids": merged_ids,
    }
