"""Pydantic I/O of the run record: ``GET /runs`` and ``crossdock runs --json``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class RunRead(BaseModel):
    """One recorded run of any capability."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    capability: str
    job: str
    subject: str | None
    trigger: str
    outcome: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
    attempts: int | None
    changed: bool
    error: str | None
    details: dict[str, Any]
    worker: str | None


class RunPage(BaseModel):
    runs: list[RunRead]
