"""Table recording every site-outages run."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crossdock.storage.metadata import Base


class SiteOutageRun(Base):
    """One run for one site: counts, outcome, attempts and the hash of the posted payload."""

    __tablename__ = "site_outage_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(String(16))
    since: Mapped[str] = mapped_column(String(64))
    fetched: Mapped[int] = mapped_column(Integer)
    kept: Mapped[int] = mapped_column(Integer)
    dropped_before_cutoff: Mapped[int] = mapped_column(Integer)
    dropped_unknown_device: Mapped[int] = mapped_column(Integer)
    posted: Mapped[int] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer)
    payload_sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    duration_seconds: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (Index("ix_site_outage_runs_site_id_id", "site_id", "id"),)
