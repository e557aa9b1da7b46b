"""Alembic environment: runs migrations on the async engine named in the Alembic config.

This is the one place that imports every feature's models, so that ``alembic revision
--autogenerate`` sees all tables. It is run by :func:`crossdock.storage.migrate.upgrade`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from crossdock.jobs import models as _job_models  # noqa: F401  (registers tables)
from crossdock.marketplace import models as _marketplace_models  # noqa: F401
from crossdock.observability import models as _observability_models  # noqa: F401
from crossdock.site_outages import models as _site_outages_models  # noqa: F401
from crossdock.storage.metadata import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
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
