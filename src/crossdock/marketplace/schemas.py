"""Pydantic I/O models of the marketplace API: the ``/search`` contract and sync-run listings.

The ``/search`` models mirror ``openapi.yaml`` of the provider challenge field by field (names,
formats, nullability, descriptions); the hot path serializes the same shape without them.
"""

from __future__ import annotations

from datetime import date, datetime, time
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


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


class ErrorDetail(BaseModel):
    code: str = Field(description="Error code")
    message: str = Field(description="Detail of the error")


class ErrorResponse(BaseModel):
    error: ErrorDetail
    data: None = Field(examples=[None])


class SyncRunRead(BaseModel):
    """One recorded sync run."""

    model_config = ConfigDict(from_attributes=True)

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
    changed: bool
    duration_seconds: float | None
    feed_bytes: int | None
    attempts: int | None
    error: str | None


class SyncRunPage(BaseModel):
    runs: list[SyncRunRead]
