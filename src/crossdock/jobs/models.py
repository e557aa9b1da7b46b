"""The one record of runs: every run of every capability's jobs, scheduled or started by hand.

Common columns plus the capability's own counts and facts in ``details`` (a JSON object whose keys the
capability documents). Written only by :mod:`crossdock.jobs.records` on behalf of the one runner.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String, Text, text
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
    # The run's life: queued -> running -> succeeded | failed | lost (see crossdock.jobs.engine).
    status: Mapped[str] = mapped_column(String(16), server_default="succeeded")
    # "<job>|<subject>": at most one run per slot is queued or running, whatever process asks.
    slot: Mapped[str] = mapped_column(String(200), server_default="")
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    enqueued_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # last handed to the broker
    scheduled_for: Mapped[datetime | None] = mapped_column(UtcDateTime)  # the schedule's slot time
    worker: Mapped[str | None] = mapped_column(String(128))  # the process running it (distributed)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    retry_of: Mapped[int | None] = mapped_column(Integer)  # the lost run this one repeats
    lost_retries: Mapped[int] = mapped_column(Integer, server_default="0")

    __table_args__ = (
        Index("ix_runs_capability_id", "capability", "id"),
        Index("ix_runs_job_subject_id", "job", "subject", "id"),
        Index(
            "uq_runs_active_slot",
            "slot",
            unique=True,
            postgresql_where=text("status IN ('queued', 'running')"),
            sqlite_where=text("status IN ('queued', 'running')"),
        ),
        Index(
            "uq_runs_scheduled_slot",
            "slot",
            "scheduled_for",
            unique=True,
            postgresql_where=text("scheduled_for IS NOT NULL"),
            sqlite_where=text("scheduled_for IS NOT NULL"),
        ),
    )


class JobProcess(Base):
    """A worker or scheduler process of the distributed job engine, as its last heartbeat left it."""

    __tablename__ = "job_processes"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)  # host:pid:random
    role: Mapped[str] = mapped_column(String(16))  # worker | scheduler
    queue: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UtcDateTime)
    active: Mapped[bool] = mapped_column(Boolean)  # a scheduler: the active one; a worker: accepting
    concurrency: Mapped[int | None] = mapped_column(Integer)
    running: Mapped[list[int]] = mapped_column(JSON)  # run ids held now
    metrics_url: Mapped[str | None] = mapped_column(String(255))
