"""Tables of the controller-outages capability: raw reports, events, merged-away ids, and the outbox.

Times are integers, microseconds since the epoch (UTC): exact comparisons for the gap rule, and the
same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crossdock.storage.metadata import Base
from crossdock.storage.timestamps import UtcDateTime


class Report(Base):
    """One outage report as received (a duplicate of a stored one is not stored again)."""

    __tablename__ = "controller_outage_reports"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    controller_id: Mapped[str] = mapped_column(String(64))
    outage_type: Mapped[str] = mapped_column(String(32))
    at: Mapped[int] = mapped_column(BigInteger)  # microseconds since the epoch, UTC
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("controller_id", "outage_type", "at"),)


class Event(Base):
    """One outage event: a maximal run of a key's reports no more than the gap apart."""

    __tablename__ = "controller_outage_events"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    controller_id: Mapped[str] = mapped_column(String(64))
    outage_type: Mapped[str] = mapped_column(String(32))
    start_at: Mapped[int] = mapped_column(BigInteger)
    end_at: Mapped[int] = mapped_column(BigInteger)
    report_count: Mapped[int] = mapped_column(Integer)
    # What the notifications last said: "open" or "resolved" (a late report may reopen it).
    notified: Mapped[str] = mapped_column(String(16))
    # Its reports were pruned by retention: a rebuild keeps it as it is.
    archived: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (
        Index("ix_controller_outage_events_key_start", "controller_id", "outage_type", "start_at"),
        Index("ix_controller_outage_events_start_id", "start_at", "id"),
        Index("ix_controller_outage_events_end", "end_at"),
    )


class Alias(Base):
    """An event id that was merged into another: it keeps answering as the survivor."""

    __tablename__ = "controller_outage_aliases"

    alias_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), index=True)


class Change(Base):
    """A transaction that changed events: whose. Serving processes poll it to refresh their read model.

    Pruned by the upkeep job after an hour (the newest row is always kept, and AUTOINCREMENT on SQLite
    never reuses an id, so ids only grow).
    """

    __tablename__ = "controller_outage_changes"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    controllers: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = {"sqlite_autoincrement": True}


class Notification(Base):
    """A notification waiting for (or done with) delivery to the webhook: the outbox."""

    __tablename__ = "controller_outage_outbox"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    key: Mapped[str] = mapped_column(String(100))  # controller_id + "\x1f" + outage_type: order per key
    kind: Mapped[str] = mapped_column(String(16))  # opened | merged | resolved
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (Index("ix_controller_outage_outbox_pending", "delivered_at", "id"),)
