"""The storage layer on real databases: WAL on SQLite, migrations, clear errors when unreachable."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from crossdock.config import DatabaseSettings
from crossdock.errors import StorageError
from crossdock.storage import Database, create_database
from crossdock.storage.migrate import upgrade_async


async def test_sqlite_runs_in_wal_mode(sqlite_database: Database) -> None:
    """The embedded database uses write-ahead logging so reads never wait for a sync."""
    async with sqlite_database.engine.connect() as connection:
        assert (await connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"


async def test_migrations_create_every_table_and_are_repeatable(database: Database) -> None:
    """`db upgrade` creates the core's and every capability's tables; running it again changes nothing."""
    await upgrade_async(database.url)
    async with database.engine.connect() as connection:
        tables = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    from crossdock.capabilities import CAPABILITIES

    capability_tables = {table for capability in CAPABILITIES for table in capability.tables}
    assert tables == {"alembic_version", "runs", "job_processes", "upstream_states"} | capability_tables


async def test_embedded_database_and_its_directory_are_private(tmp_path: Path) -> None:
    """The directories and the SQLite file Crossdock creates are readable by their owner only."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'var' / 'data' / 'crossdock.db'}"
    await upgrade_async(url)
    assert (tmp_path / "var").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "var" / "data").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "var" / "data" / "crossdock.db").stat().st_mode & 0o777 == 0o600


async def test_an_existing_directory_keeps_its_mode(tmp_path: Path) -> None:
    """Only what Crossdock creates is made private: a directory the user made keeps its mode."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    await upgrade_async(f"sqlite+aiosqlite:///{shared / 'crossdock.db'}")
    assert shared.stat().st_mode & 0o777 == 0o755
    assert (shared / "crossdock.db").stat().st_mode & 0o777 == 0o600


async def test_sqlite_directory_is_created(tmp_path: Path) -> None:
    """A fresh checkout needs no set-up: the SQLite file's directory is created on first use."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'nested' / 'dir' / 'crossdock.db'}"
    await upgrade_async(url)
    db = create_database(DatabaseSettings(url=url))
    try:
        await db.ping()
    finally:
        await db.dispose()
    assert (tmp_path / "nested" / "dir" / "crossdock.db").exists()


async def test_unreachable_database_is_a_storage_error_without_password() -> None:
    """A database that cannot be reached gives StorageError naming it, with the password hidden."""
    db = create_database(DatabaseSettings(url="postgresql+asyncpg://crossdock:hunter2@127.0.0.1:1/none"))
    try:
        with pytest.raises(StorageError) as caught:
            await db.ping()
    finally:
        await db.dispose()
    assert "127.0.0.1:1" in caught.value.message
    assert "hunter2" not in caught.value.message


async def test_migrations_match_the_models(database: Database) -> None:
    """The migrated schema is exactly what the models declare (no forgotten migration)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from crossdock.storage import Base
    from crossdock.storage.migrate import load_models

    load_models()

    def diff(sync_connection: object) -> list[object]:
        context = MigrationContext.configure(sync_connection)  # type: ignore[arg-type]
        return list(compare_metadata(context, Base.metadata))

    async with database.engine.connect() as connection:
        assert await connection.run_sync(diff) == []
