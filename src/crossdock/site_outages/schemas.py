"""Pydantic I/O of the site-outages capability: its runs as ``crossdock site-outages runs`` shows them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from crossdock.jobs.models import RunRecord


class SiteOutagesRunRead(BaseModel):
    """One recorded run for one site."""

    id: int
    site_id: str
    started_at: datetime
    outcome: str
    fetched: int
    kept: int
    posted: int
    attempts: int
    payload_sha256: str | None
    error: str | None

    @classmethod
    def from_run(cls, run: RunRecord) -> SiteOutagesRunRead:
        """The site-outages view of a run record of ``site_outages.process``."""
        details = run.details or {}
        return cls(
            id=run.id,
            site_id=run.subject or "",
            started_at=run.started_at,
            outcome=run.outcome,
            fetched=int(details.get("fetched", 0)),
            kept=int(details.get("kept", 0)),
            posted=int(details.get("posted", 0)),
            attempts=run.attempts or 0,
            payload_sha256=details.get("payload_sha256"),
            error=run.error,
        )
