"""Read models follow the data: PostgreSQL ``LISTEN crossdock_changes`` in every serving process.

A run that changed data (any process, any host) notifies the channel with its capability in the
transaction that records its end (:func:`crossdock.jobs.records.finish_run`); capabilities whose
API writes change what other processes serve notify it too. Each serving process on PostgreSQL
listens on a connection of its own and tells the capability's runtime
(:meth:`~crossdock.manifest.CapabilityRuntime.data_changed`) at once; notifications arriving while
a refresh runs are folded into one more refresh. The runtimes' own polling stays as the fallback
(a notification is lost while the listening connection is down; it reconnects every second).
SQLite has no notifications: one host, polling only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from crossdock.jobs.records import CHANGES_CHANNEL
from crossdock.manifest import CapabilityRuntime

logger = logging.getLogger(__name__)

RECONNECT_SECONDS = 1.0


def asyncpg_dsn(url: str) -> str:
    """The plain ``postgresql://`` DSN asyncpg takes, from our SQLAlchemy URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class ChangeListener:
    """Listens for data changes and refreshes the runtimes they concern; start, then stop."""

    def __init__(self, database_url: str, runtimes: Mapping[str, CapabilityRuntime]) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self._runtimes = runtimes
        self._pending: dict[str, asyncio.Event] = {name: asyncio.Event() for name in runtimes}
        self._tasks: list[asyncio.Task[None]] = []
        self.connected = False
        self.received = 0

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._listen(), name="change-listener"))
        for name in self._runtimes:
            self._tasks.append(asyncio.create_task(self._follow(name), name=f"change-follower:{name}"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def _notified(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        self.received += 1
        pending = self._pending.get(payload)
        if pending is not None:
            pending.set()

    async def _listen(self) -> None:
        while True:
            connection: asyncpg.Connection | None = None
            try:
                closed = asyncio.Event()
                connection = await asyncpg.connect(self._dsn, timeout=5)
                connection.add_termination_listener(lambda _connection, ended=closed: ended.set())
                await connection.add_listener(CHANGES_CHANNEL, self._notified)
                self.connected = True
                # Whatever changed while we were not listening: every runtime looks once.
                for pending in self._pending.values():
                    pending.set()
                await closed.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the server is away: the runtimes' polling covers the gap
                logger.warning("change notifications unavailable: %s: %s", type(exc).__name__, exc)
            finally:
                self.connected = False
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await connection.close(timeout=1)
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _follow(self, name: str) -> None:
        pending = self._pending[name]
        runtime = self._runtimes[name]
        while True:
            await pending.wait()
            pending.clear()
            try:
                await runtime.data_changed()
            except Exception:
                logger.exception("refresh of %s after a change failed", name)
