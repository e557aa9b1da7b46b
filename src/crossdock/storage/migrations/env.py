"""Alembic environment: runs migrations on the async engine named in the Alembic config.

The tables come from :func:`crossdock.storage.migrate.load_models` (the core's and every listed
capability's), so ``alembic revision --autogenerate`` sees all of them. Run by
:func:`crossdock.storage.migrate.upgrade`, which also hands over the check run before migrating.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from crossdock.storage.metadata import Base
from crossdock.storage.migrate import load_models

config = context.config
load_models()
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    before = config.attributes.get("before_migrations")
    if before is not None:
        before(connection, config.get_main_option("sqlalchemy.url") or "")
    options: dict[str, Any] = config.attributes.get("configure_options", {})
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        **options,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_async_engine(config.get_main_option("sqlalchemy.url") or "", poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
