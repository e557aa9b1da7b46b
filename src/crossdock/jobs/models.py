"""The one record of runs: every run of every capability's jobs, scheduled or started by hand.

Common columns plus the capability's own counts and facts in ``details`` (a JSON object whose keys the
capability documents). Written only by :mod:`crossdock.jobs.records` on behalf of the one runner.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crossdock.storage.metadata import Base
from crossdock.storage.timestamps import UtcDateTime


class RunRecord(Base):
    """One run of a job: what ran, on what, why, how it ended, and what it counted."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    capability: Mapped[str] = mapped_column(String(32))
    job: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(128))  # e.g. the provider or the site
    trigger: Mapped[str] = mapped_column(String(16))  # schedule | cli | api | legacy
    # running | failed | success, or a success variant the job names (dry_run, skipped_empty)
    outcome: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    attempts: Mapped[int | None] = mapped_column(Integer)  # upstream HTTP attempts, retries included
    changed: Mapped[bool] = mapped_column(Boolean)  # the run changed stored data (read models refresh)
    error: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (
        Index("ix_runs_capability_id", "capability", "id"),
        Index("ix_runs_job_subject_id", "job", "subject", "id"),
    )
