"""Tables of the marketplace capability: every plan (session) ever seen.

Its sync runs are kept in the core's run record (``runs``, capability ``marketplace``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, DateTime, Float, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crossdock.storage.metadata import Base
from crossdock.storage.timestamps import UtcDateTime


class Plan(Base):
    """One session of a base event, with the latest values the provider sent for it.

    Rows are never deleted: a plan that leaves the feed keeps its last values and gets
    ``present_in_feed = false``. ``ever_online`` is sticky per base event.
    """

    __tablename__ = "marketplace_plans"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # uuid5, see identity.plan_uuid
    provider: Mapped[str] = mapped_column(String(32))
    base_event_id: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text)
    sell_mode: Mapped[str] = mapped_column(String(32))
    ever_online: Mapped[bool] = mapped_column(Boolean)
    organizer_company_id: Mapped[str | None] = mapped_column(String(64))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    sell_from: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    sell_to: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    sold_out: Mapped[bool | None] = mapped_column(Boolean)
    min_price: Mapped[float | None] = mapped_column(Float)
    max_price: Mapped[float | None] = mapped_column(Float)
    digest: Mapped[str] = mapped_column(String(40))
    present_in_feed: Mapped[bool] = mapped_column(Boolean)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_changed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # Last on purpose: SQLite stores a row's columns in order, so the large zone list would
    # otherwise sit (in overflow pages) in front of the small columns every sync reads.
    zones: Mapped[list[dict[str, str]]] = mapped_column(JSON)  # zone attributes exactly as sent

    __table_args__ = (Index("ix_marketplace_plans_provider_base_event", "provider", "base_event_id"),)
