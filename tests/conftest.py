"""Fixtures shared by every tier: sample data, and real databases (SQLite always, PostgreSQL when set).

Sample data comes from ``tests/fixtures/`` (copies inside the repository; see its README).

PostgreSQL tests read ``CROSSDOCK_TEST_POSTGRES_URL``; when it is set, an unreachable server fails
the tests (it is never skipped), when it is unset the PostgreSQL variants are skipped. The database
that URL names is never written to: the session creates a throw-away database of its own on that
server, gives each PostgreSQL test a clean schema in it, and drops it at the end, so that concurrent
runs do not see each other's tables. A session-level check fails the run if the set of tables in
the named database changed anyway.

Redis tests read ``CROSSDOCK_TEST_REDIS_URL`` the same way (``redis_url``): unset skips them, set
but unreachable fails them. Each test keeps its keys under a prefix of its own and deletes them.
RabbitMQ tests read ``CROSSDOCK_TEST_RABBITMQ_URL`` (``rabbitmq_url``) likewise; each test declares
queues and exchanges of its own names and deletes them.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from crossdock.config import DatabaseSettings, normalize_database_url
from crossdock.httpclient import set_testing
from crossdock.storage import Database, create_database
from crossdock.storage.migrate import upgrade_async
from crossdock.storage.testing import (
    create_throwaway_database,
    drop_throwaway_database,
    list_tables,
    reset_schema,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures"
POSTGRES_URL_VARIABLE = "CROSSDOCK_TEST_POSTGRES_URL"
REDIS_URL_VARIABLE = "CROSSDOCK_TEST_REDIS_URL"
RABBITMQ_URL_VARIABLE = "CROSSDOCK_TEST_RABBITMQ_URL"


@pytest.fixture(scope="session")
def fever_dir() -> Path:
    """The marketplace provider samples (``tests/fixtures/fever``)."""
    return FIXTURES / "fever"


@pytest.fixture(scope="session")
def krakenflex_dir() -> Path:
    """The KrakenFlex platform samples (``tests/fixtures/krakenflex``)."""
    return FIXTURES / "krakenflex"


@pytest.fixture(scope="session")
def led_outages_dir() -> Path:
    """The LED controllers' outage fixtures (``tests/fixtures/led-outages``)."""
    return FIXTURES / "led-outages"


@pytest.fixture(autouse=True)
def _instant_waits() -> Iterator[None]:
    """Retry and rate-limit waits are instant in every test unless a test turns it off."""
    set_testing(True)
    yield
    set_testing(False)


def postgres_url() -> str | None:
    """The URL of ``CROSSDOCK_TEST_POSTGRES_URL`` with an async driver, or None when unset.

    It names the server to use; tests work in the session's throw-away database (``database``).
    """
    value = os.environ.get(POSTGRES_URL_VARIABLE)
    return normalize_database_url(value) if value else None


@pytest.fixture(scope="session", autouse=True)
def _named_postgres_database_left_as_found() -> Iterator[None]:
    """Fail the session if the tables of the database named by the URL differ at the end."""
    url = postgres_url()
    if url is None:
        yield
        return
    try:
        before = asyncio.run(list_tables(url))
    except (SQLAlchemyError, OSError):
        # The PostgreSQL tests fail on their own when the server is unreachable; failing the
        # SQLite and unit tests too would hide which ones are concerned.
        yield
        return
    yield
    after = asyncio.run(list_tables(url))
    if after != before:
        pytest.fail(
            f"the tables of {make_url(url).render_as_string(hide_password=True)} changed during the "
            f"session: added {sorted(after - before)}, removed {sorted(before - after)}"
        )


@pytest.fixture(scope="session")
def postgres_session_database() -> Iterator[str]:
    """URL of a throw-away database created for this session on the server of the URL, then dropped.

    Synchronous, with its own short event loops: tests run on function-scoped loops.
    """
    url = postgres_url()
    if url is None:
        pytest.skip(f"{POSTGRES_URL_VARIABLE} is not set")
    throwaway = asyncio.run(create_throwaway_database(url))
    try:
        yield throwaway
    finally:
        asyncio.run(drop_throwaway_database(url, throwaway))


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis of ``CROSSDOCK_TEST_REDIS_URL``, checked to answer; skipped when unset."""
    url = os.environ.get(REDIS_URL_VARIABLE)
    if not url:
        pytest.skip(f"{REDIS_URL_VARIABLE} is not set")
    # Imported here: only the Redis tests need the client.
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        pytest.fail(f"{REDIS_URL_VARIABLE} is set but Redis does not answer: {type(exc).__name__}")
    finally:
        client.close()
    return url


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    """The RabbitMQ of ``CROSSDOCK_TEST_RABBITMQ_URL``, checked to accept a connection; skipped when unset."""
    url = os.environ.get(RABBITMQ_URL_VARIABLE)
    if not url:
        pytest.skip(f"{RABBITMQ_URL_VARIABLE} is not set")
    import aio_pika

    async def probe() -> None:
        connection = await aio_pika.connect(url, timeout=5)
        await connection.close()

    try:
        asyncio.run(probe())
    except Exception as exc:  # any client error means the server does not answer as it should
        pytest.fail(f"{RABBITMQ_URL_VARIABLE} is set but RabbitMQ does not answer: {type(exc).__name__}")
    return url


def database_params() -> list[object]:
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
        pytest.param("postgres-psycopg", id="postgres-psycopg", marks=pytest.mark.postgres),
    ]


@pytest.fixture(params=database_params())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL for ``database``: a SQLite file, or the session's throw-away PostgreSQL database (2 drivers)."""
    kind: str = request.param
    if kind == "sqlite":
        return _sqlite_url(tmp_path)
    # Requested here, in a synchronous fixture, so that its asyncio.run() never runs inside a
    # test's event loop, and only by PostgreSQL variants, so SQLite-only runs create no database.
    url: str = request.getfixturevalue("postgres_session_database")
    if kind == "postgres-psycopg":
        url = make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def _sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'crossdock.db'}"


async def _fresh_database(url: str) -> Database:
    if not url.startswith("sqlite"):
        # The previous test's tables and rows go with the schema; only the throw-away database is
        # ever reset.
        await reset_schema(url)
    await upgrade_async(url)
    return create_database(DatabaseSettings(url=url))


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """A migrated, empty database: SQLite, and PostgreSQL when configured."""
    db = await _fresh_database(database_url)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def sqlite_database(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty embedded database."""
    db = await _fresh_database(_sqlite_url(tmp_path))
    try:
        yield db
    finally:
        await db.dispose()


def run(coroutine: object) -> object:
    """Run a coroutine from a synchronous test (TestClient-based tests)."""
    return asyncio.run(coroutine)  # type: ignore[arg-type]
