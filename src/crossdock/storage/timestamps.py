"""Stored timestamps as aware UTC datetimes (SQLite hands ``DateTime(timezone=True)`` back naive)."""

from __future__ import annotations

from datetime import UTC, datetime


def aware(value: datetime | None) -> datetime | None:
    """``value`` with UTC attached when the driver returned it naive."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def age_seconds(value: datetime | None, now: datetime) -> float | None:
    """Seconds from ``value`` to ``now``, rounded to milliseconds."""
    moment = aware(value)
    return None if moment is None else round((now - moment).total_seconds(), 3)
