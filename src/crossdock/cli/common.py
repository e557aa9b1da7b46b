"""Helpers shared by CLI commands: settings + logging set-up and a database for one command."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from crossdock.config import Settings, get_settings
from crossdock.observability.logging import configure_logging
from crossdock.storage import Database, create_database
from crossdock.storage.migrate import upgrade_async

T = TypeVar("T")


def load_settings() -> Settings:
    settings = get_settings()
    configure_logging(settings.log)
    return settings


def run_with_database(settings: Settings, work: Callable[[Database], Awaitable[T]], *, migrate: bool) -> T:
    """Open the database, optionally migrate the embedded one, run ``work``, always close."""

    async def main() -> T:
        if migrate and settings.database.is_sqlite:
            await upgrade_async(settings.database.url)
        db = create_database(settings.database)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(main())
