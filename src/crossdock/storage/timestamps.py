"""Stored instants come back as aware UTC datetimes, on SQLite as on PostgreSQL.

SQLite has no time-zone type: SQLAlchemy's ``DateTime(timezone=True)`` stores and returns naive
values there, so an API answer built from a run record would say ``2026-12-01T16:23:12`` on one
database and ``…+00:00`` on the other (and the first is not an RFC 3339 date-time). Columns holding
instants use :class:`UtcDateTime`, which writes UTC and reads UTC back, aware, on both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """An instant: stored in UTC, read back aware in UTC. A naive value is taken as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def age_seconds(value: datetime | None, now: datetime) -> float | None:
    """Seconds from ``value`` to ``now``, rounded to milliseconds."""
    return None if value is None else round((now - value).total_seconds(), 3)
