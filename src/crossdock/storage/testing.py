"""Throw-away PostgreSQL databases for the test suite and the benchmarks; product code must not import this.

A test or benchmark run is given the URL of a PostgreSQL database it may connect to (for example
``CROSSDOCK_TEST_POSTGRES_URL``). It must not create, drop or reset tables in that database: other
runs, or a person, may be using it. Instead the run creates a database of its own on the same
server (:func:`throwaway_postgres_database`, or :func:`create_throwaway_database` and
:func:`drop_throwaway_database` when setup and teardown happen in different event loops), works only
in that one, and drops it at the end. The named database serves only as the maintenance connection
for ``CREATE DATABASE`` and ``DROP DATABASE``; :func:`list_tables` lets a run prove it left it as
found.

Nothing in ``crossdock`` imports this module; only ``tests/`` and ``bench/`` do.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

__all__ = [
    "DEFAULT_PREFIX",
    "create_throwaway_database",
    "drop_throwaway_database",
    "list_tables",
    "reset_schema",
    "throwaway_postgres_database",
]

DEFAULT_PREFIX: Final = "crossdock_test"
_SUPPORTED_DRIVERS: Final = ("postgresql+asyncpg", "postgresql+psycopg")
# Lower-case letters, digits and underscores only, so that the generated name needs no case folding
# and is easy to spot (and clean up by hand) in `psql -l`. PostgreSQL truncates identifiers at 63
# bytes: the prefix leaves room for "_<pid>_<8 hex digits>".
_PREFIX_PATTERN: Final = re.compile(r"[a-z_][a-z0-9_]{0,39}")
# pg_class rather than information_schema.tables, which hides tables the user has no privilege on.
# Schema names starting with "pg_" are reserved for the system (catalog, TOAST, other sessions'
# temporary tables), so they are left out.
_LIST_TABLES: Final = text(
    "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') "
    "AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'"
)


def _postgres_url(url: str) -> URL:
    parsed = make_url(url)
    if parsed.drivername not in _SUPPORTED_DRIVERS:
        raise ValueError(
            f"expected a URL starting with {' or '.join(d + '://' for d in _SUPPORTED_DRIVERS)}, "
            f"got {parsed.render_as_string(hide_password=True)}"
        )
    if not parsed.database:
        raise ValueError(
            f"the URL names no database to connect to: {parsed.render_as_string(hide_password=True)}"
        )
    return parsed


def _engine(url: URL, *, autocommit: bool = False) -> AsyncEngine:
    # NullPool: every connection is closed on release, so none is left open on a database about to
    # be dropped, and nothing outlives the event loop that opened it.
    if autocommit:
        # CREATE/DROP DATABASE cannot run inside a transaction block.
        return create_async_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    return create_async_engine(url, poolclass=NullPool)


def _check_prefix(prefix: str) -> None:
    if not _PREFIX_PATTERN.fullmatch(prefix):
        raise ValueError(
            f"database prefix {prefix!r} must be 1-40 lower-case letters, digits or underscores, "
            "not starting with a digit"
        )


async def create_throwaway_database(url: str, *, prefix: str = DEFAULT_PREFIX) -> str:
    """Create ``<prefix>_<pid>_<random hex>`` on the server of ``url``; return its URL (same login)."""
    _check_prefix(prefix)
    maintenance = _postgres_url(url)
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    engine = _engine(maintenance, autocommit=True)
    try:
        async with engine.connect() as connection:
            quoted = connection.dialect.identifier_preparer.quote(name)
            # template0 rather than the default template1: CREATE DATABASE fails while any other
            # session is connected to its template, and nobody can connect to template0.
            await connection.execute(text(f"CREATE DATABASE {quoted} TEMPLATE template0"))
    finally:
        await engine.dispose()
    return maintenance.set(database=name).render_as_string(hide_password=False)


async def drop_throwaway_database(url: str, throwaway_url: str, *, prefix: str = DEFAULT_PREFIX) -> None:
    """Drop the database of ``throwaway_url`` (if it exists), connecting through the database of ``url``.

    Refuses a database whose name does not start with ``<prefix>_`` or that is the database of
    ``url`` itself, so a mistake cannot drop the database the run was given.
    """
    _check_prefix(prefix)
    maintenance = _postgres_url(url)
    name = make_url(throwaway_url).database or ""
    if not name.startswith(f"{prefix}_") or name == maintenance.database:
        raise ValueError(f"refusing to drop {name!r}: not a throw-away database with prefix {prefix!r}")
    engine = _engine(maintenance, autocommit=True)
    try:
        async with engine.connect() as connection:
            quoted = connection.dialect.identifier_preparer.quote(name)
            # FORCE ends the sessions still connected (a test that leaked an engine, a killed sync),
            # which would otherwise make the drop fail and leave the database behind.
            await connection.execute(text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
    finally:
        await engine.dispose()


@asynccontextmanager
async def throwaway_postgres_database(url: str, *, prefix: str = DEFAULT_PREFIX) -> AsyncIterator[str]:
    """A new, empty database on the server of ``url``, dropped on exit (also on error or cancellation).

    Yields its URL: the driver, user, password, host, port and query of ``url`` with another
    database name.
    """
    throwaway = await create_throwaway_database(url, prefix=prefix)
    try:
        yield throwaway
    finally:
        await drop_throwaway_database(url, throwaway, prefix=prefix)


async def reset_schema(url: str) -> None:
    """Empty the database of ``url`` (a throw-away one): drop the ``public`` schema with everything in it."""
    engine = _engine(_postgres_url(url))
    try:
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


async def list_tables(url: str) -> frozenset[str]:
    """Every table and view of the database of ``url`` outside the system schemas, as ``schema.name``."""
    engine = _engine(_postgres_url(url))
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(_LIST_TABLES)
            return frozenset(f"{schema}.{name}" for schema, name in rows)
    finally:
        await engine.dispose()
