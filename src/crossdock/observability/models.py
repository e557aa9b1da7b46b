"""Table holding the last known circuit state of every upstream, so any process can report it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from crossdock.storage.metadata import Base
from crossdock.storage.timestamps import UtcDateTime


class UpstreamState(Base):
    """The circuit breaker state of one upstream as of its last transition or call."""

    __tablename__ = "upstream_states"

    upstream: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    consecutive_failures: Mapped[int] = mapped_column(Integer)
    opened_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
