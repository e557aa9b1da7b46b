"""Pydantic I/O models of the marketplace API: the ``/search`` contract and sync-run listings.

The ``/search`` models mirror ``openapi.yaml`` of the provider challenge field by field (names,
formats, nullability, descriptions); the hot path serializes the same shape without them. Sync runs
are the core's run records of this capability, shown with their counts as columns.
"""

from __future__ import annotations

from datetime import date, datetime, time
from uuid import UUID

from pydantic import BaseModel, Field

from crossdock.jobs.models import RunRecord

COUNTS = ("seen", "inserted", "updated", "unchanged", "rejected", "left_feed")


class EventSummary(BaseModel):
    id: UUID = Field(description="Identifier for the plan (UUID)")
    title: str = Field(description="Title of the plan")
    start_date: date = Field(description="Date when the event starts in local time")
    start_time: time | None = Field(
        description="Time when the event starts in local time", examples=["22:38:19"]
    )
    end_date: date | None = Field(description="Date when the event ends in local time")
    end_time: time | None = Field(description="Time when the event ends in local time", examples=["14:45:15"])
    min_price: float | None = Field(description="Min price from all the available tickets")
    max_price: float | None = Field(description="Max price from all the available tickets")


class EventList(BaseModel):
    events: list[EventSummary]


class SearchResponse(BaseModel):
    data: EventList
    error: None = Field(examples=[None])


class SyncRunRead(BaseModel):
    """One recorded sync run."""

    id: int
    provider: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str
    seen: int
    inserted: int
    updated: int
    unchanged: int
    rejected: int
    left_feed: int
    rejected_reasons: dict[str, int] = Field(
        default_factory=dict, description="Rejected sessions per reason code (docs/marketplace.md)"
    )
    ignored_elements: int = Field(default=0, description="Elements outside the feed's format, dropped")
    changed: bool
    duration_seconds: float | None
    feed_bytes: int | None
    attempts: int | None
    error: str | None

    @classmethod
    def from_run(cls, run: RunRecord) -> SyncRunRead:
        """The sync run view of a run record of ``marketplace.sync``."""
        details = run.details or {}
        return cls(
            id=run.id,
            provider=run.subject or "",
            started_at=run.started_at,
            finished_at=run.finished_at,
            outcome=run.outcome,
            changed=run.changed,
            duration_seconds=run.duration_seconds,
            feed_bytes=details.get("feed_bytes") or None,
            attempts=run.attempts,
            error=run.error,
            rejected_reasons={
                str(code): int(count) for code, count in (details.get("rejected_reasons") or {}).items()
            },
            ignored_elements=int(details.get("ignored_elements") or 0),
            **{name: int(details.get(name, 0)) for name in COUNTS},
        )


class SyncRunPage(BaseModel):
    runs: list[SyncRunRead]
