"""Async engine and session factory for SQLite (embedded, WAL) and PostgreSQL.

``Database`` is built from :class:`~crossdock.config.DatabaseSettings` by :func:`create_database`;
nothing here runs at import time. Driver errors are translated into :class:`StorageError` by
:meth:`Database.unit_of_work` and :meth:`Database.ping`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from crossdock.config import DatabaseSettings
from crossdock.errors import StorageConflictError, StorageError
from crossdock.storage.files import private_directory, private_file


def _enable_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the API read while a sync writes; NORMAL is durable across application crashes in WAL.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def describe_url(url: str) -> str:
    """The URL without its password, for logs and error messages."""
    return make_url(url).render_as_string(hide_password=True)


def _json_dumps(value: Any) -> str:
    # orjson is several times faster than json for the zone lists of large feeds.
    return orjson.dumps(value).decode()


class Database:
    """Engines plus session factories; use :meth:`unit_of_work` for writes, :meth:`reader` for reads.

    On SQLite, writes go through their own engine whose transactions start with ``BEGIN IMMEDIATE``:
    a writer takes the write lock before it reads, so two writers queue (busy timeout) instead of
    one failing with "database is locked" when both try to upgrade a read lock. Reads stay deferred
    and, in WAL mode, never wait for a writer. On PostgreSQL one engine serves both.
    """

    def __init__(self, engine: AsyncEngine, url: str, *, write_engine: AsyncEngine | None = None) -> None:
        self.engine = engine
        self.write_engine = write_engine or engine
        self.url = url
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        self.write_sessions = async_sessionmaker(self.write_engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction: committed when the block succeeds, rolled back otherwise."""
        try:
            async with self.write_sessions() as session, session.begin():
                yield session
        except IntegrityError as exc:
            raise StorageConflictError(
                f"database conflict on {describe_url(self.url)}: {exc.__class__.__name__}: {exc.orig}"
            ) from exc
        except (SQLAlchemyError, OSError) as exc:  # drivers raise OSError when the server is unreachable
            raise StorageError(
                f"database error on {describe_url(self.url)}: {exc.__class__.__name__}: {exc}"
            ) from exc

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncSession]:
        """A session for reads; driver errors become :class:`StorageError`."""
        try:
            async with self.sessions() as session:
                yield session
        except (SQLAlchemyError, OSError) as exc:
            raise StorageError(
                f"database error on {describe_url(self.url)}: {exc.__class__.__name__}: {exc}"
            ) from exc

    async def ping(self) -> None:
        """Raise :class:`StorageError` unless a trivial query succeeds."""
        try:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError) as exc:
            raise StorageError(f"database {describe_url(self.url)} is not reachable: {exc}") from exc

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.write_engine is not self.engine:
            await self.write_engine.dispose()


def ensure_sqlite_directory(url: str) -> None:
    """Create an SQLite database's directory (0700) and file (0600), so a fresh checkout needs no set-up.

    SQLite gives its ``-wal`` and ``-shm`` files the database file's mode, so they are private too.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        private_directory(path.parent)
        private_file(path)


def _driver_autocommit(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event decide how a transaction starts (the driver would BEGIN DEFERRED).
    dbapi_connection.isolation_level = None


def _begin_immediate(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_database(settings: DatabaseSettings) -> Database:
    """Build the engine(s) for ``settings.url``; creates the SQLite file's directory if needed."""
    kwargs: dict[str, Any] = {
        "echo": settings.echo,
        "pool_pre_ping": not settings.is_sqlite,
        "json_serializer": _json_dumps,
        "json_deserializer": orjson.loads,
    }
    ensure_sqlite_directory(settings.url)
    engine = create_async_engine(settings.url, **kwargs)
    if engine.dialect.name != "sqlite":
        return Database(engine, settings.url)
    event.listen(engine.sync_engine, "connect", _enable_sqlite_pragmas)
    writer = create_async_engine(settings.url, **kwargs)
    event.listen(writer.sync_engine, "connect", _enable_sqlite_pragmas)
    event.listen(writer.sync_engine, "connect", _driver_autocommit)
    event.listen(writer.sync_engine, "begin", _begin_immediate)
    return Database(engine, settings.url, write_engine=writer)
