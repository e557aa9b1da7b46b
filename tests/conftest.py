"""Fixtures shared by every tier: sample data, and real databases (SQLite always, PostgreSQL when set).

PostgreSQL tests read ``CROSSDOCK_TEST_POSTGRES_URL``; when it is set, an unreachable server fails
the tests (it is never skipped), when it is unset the PostgreSQL variants are skipped.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from crossdock.config import DatabaseSettings, normalize_database_url
from crossdock.httpclient import set_testing
from crossdock.storage import Database, create_database
from crossdock.storage.migrate import upgrade_async

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"
FEVER = SHARED_FIXTURES / "fever"
POSTGRES_URL_VARIABLE = "CROSSDOCK_TEST_POSTGRES_URL"
OUR_TABLES = (
    "marketplace_plans",
    "marketplace_sync_runs",
    "job_runs",
    "upstream_states",
    "site_outage_runs",
    "alembic_version",
)


@pytest.fixture(scope="session")
def fever_dir() -> Path:
    if not FEVER.is_dir():
        pytest.fail(f"sample fixtures not found at {FEVER}: the repository must sit beside shared/")
    return FEVER


@pytest.fixture(autouse=True)
def _instant_waits() -> Iterator[None]:
    """Retry and rate-limit waits are instant in every test unless a test turns it off."""
    set_testing(True)
    yield
    set_testing(False)


def postgres_url() -> str | None:
    value = os.environ.get(POSTGRES_URL_VARIABLE)
    return normalize_database_url(value) if value else None


async def reset_postgres(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            for table in OUR_TABLES:
                await connection.execute(text(f'DROP TABLE IF EXISTS "{table}" CASCADE'))
    finally:
        await engine.dispose()


def database_params() -> list[object]:
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
        pytest.param("postgres-psycopg", id="postgres-psycopg", marks=pytest.mark.postgres),
    ]


async def _fresh_database(kind: str, tmp_path: Path) -> Database:
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'crossdock.db'}"
    else:
        url_or_none = postgres_url()
        if url_or_none is None:
            pytest.skip(f"{POSTGRES_URL_VARIABLE} is not set")
        url = url_or_none
        if kind == "postgres-psycopg":
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        await reset_postgres(url)
    await upgrade_async(url)
    return create_database(DatabaseSettings(url=url))


@pytest.fixture(params=database_params())
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty database: SQLite, and PostgreSQL when configured."""
    db = await _fresh_database(request.param, tmp_path)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def sqlite_database(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty embedded database."""
    db = await _fresh_database("sqlite", tmp_path)
    try:
        yield db
    finally:
        await db.dispose()


def run(coroutine: object) -> object:
    """Run a coroutine from a synchronous test (TestClient-based tests)."""
    return asyncio.run(coroutine)  # type: ignore[arg-type]
