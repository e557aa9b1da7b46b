"""Throw-away PostgreSQL databases (crossdock.storage.testing): tests never write to the named database."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from crossdock.storage.testing import (
    drop_throwaway_database,
    list_tables,
    reset_schema,
    throwaway_postgres_database,
)
from tests.conftest import POSTGRES_URL_VARIABLE, postgres_url

pytestmark = pytest.mark.postgres
PREFIX = "crossdock_test_helper"


@pytest.fixture
def named_url() -> str:
    url = postgres_url()
    if url is None:
        pytest.skip(f"{POSTGRES_URL_VARIABLE} is not set")
    return url


async def database_exists(url: str, name: str) -> bool:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            query = text("SELECT count(*) FROM pg_database WHERE datname = :name")
            return bool((await connection.execute(query, {"name": name})).scalar_one())
    finally:
        await engine.dispose()


def test_session_database_is_a_throwaway_on_the_same_server(
    named_url: str, postgres_session_database: str
) -> None:
    """The session's database has its own crossdock_test_ name, on the named server with the same login."""
    named, throwaway = make_url(named_url), make_url(postgres_session_database)
    assert throwaway.database is not None
    assert throwaway.database.startswith("crossdock_test_")
    assert throwaway.database != named.database
    assert throwaway.set(database=named.database) == named


async def test_throwaway_database_is_created_then_dropped_even_on_error(named_url: str) -> None:
    """The context manager's database exists inside the block and is gone after an exception in it."""
    seen: list[tuple[str, bool]] = []

    async def fail_inside() -> None:
        async with throwaway_postgres_database(named_url, prefix=PREFIX) as url:
            name = make_url(url).database or ""
            seen.append((name, await database_exists(named_url, name)))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await fail_inside()
    ((name, existed),) = seen
    assert name.startswith(f"{PREFIX}_")
    assert existed
    assert not await database_exists(named_url, name)


async def test_drop_refuses_the_named_database(named_url: str) -> None:
    """Dropping is refused for a database without the throw-away prefix, such as the named one."""
    with pytest.raises(ValueError, match="refusing to drop"):
        await drop_throwaway_database(named_url, named_url)
    assert await database_exists(named_url, make_url(named_url).database or "")


async def test_reset_schema_removes_every_table(named_url: str) -> None:
    """reset_schema leaves a throw-away database without any table, and the named database untouched."""
    before = await list_tables(named_url)
    async with throwaway_postgres_database(named_url, prefix=PREFIX) as url:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.begin() as connection:
                await connection.execute(text("CREATE TABLE leftover (id integer)"))
        finally:
            await engine.dispose()
        assert await list_tables(url) == {"public.leftover"}
        await reset_schema(url)
        assert await list_tables(url) == frozenset()
    assert await list_tables(named_url) == before
