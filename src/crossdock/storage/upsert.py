"""Dialect-aware ``INSERT … ON CONFLICT`` statements, so capability code never switches on the database.

SQLite and PostgreSQL both support ``ON CONFLICT``, but SQLAlchemy builds it from each dialect's own
``insert``. The statements are Core statements on the table (not the ORM entity): executed with a list
of row dicts, they run as one executemany without ORM bookkeeping.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert


def _insert(session: AsyncSession, table: Table) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def upsert(
    session: AsyncSession,
    table: Table,
    *,
    key: Iterable[str],
    update: Iterable[str],
) -> Insert:
    """``INSERT`` into ``table``; on a conflict on ``key`` set the ``update`` columns to the new values.

    Columns outside ``update`` (e.g. a first-seen time) keep the stored value on conflict.
    """
    statement = _insert(session, table)
    result: Insert = statement.on_conflict_do_update(
        index_elements=list(key), set_={name: statement.excluded[name] for name in update}
    )
    return result


def insert_ignoring_conflicts(session: AsyncSession, table: Table, *, key: Iterable[str]) -> Insert:
    """``INSERT`` into ``table`` that skips rows whose ``key`` is already stored."""
    result: Insert = _insert(session, table).on_conflict_do_nothing(index_elements=list(key))
    return result
