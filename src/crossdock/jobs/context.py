"""What a job function receives: settings, the database and long-lived upstream clients.

The same :class:`JobContext` is built by the in-process scheduler (``crossdock serve``), by the CLI
(``crossdock marketplace sync``, ``crossdock jobs run``) and, later, by a distributed worker's
start-up, so job functions never know who runs them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table

from crossdock.config import Settings
from crossdock.errors import CrossdockError
from crossdock.httpclient import ClientHook, ResilientClient, default_registry
from crossdock.observability.hooks import default_client_hooks
from crossdock.observability.models import UpstreamState
from crossdock.storage import Database
from crossdock.storage.upsert import upsert

logger = logging.getLogger(__name__)

ClientFactory = Callable[[Settings, ClientHook], ResilientClient]
"""Builds an upstream's client from the settings, reporting to the hook (``provider.build_client``)."""


@dataclass
class JobContext:
    """Shared resources for job functions; close with :meth:`aclose`.

    ``clients`` holds the long-lived client of each upstream by name; a test may hand in its own
    (one on a scripted transport) instead of letting the provider module build it.
    """

    settings: Settings
    db: Database
    hooks: ClientHook = field(default_factory=default_client_hooks)
    clients: dict[str, ResilientClient] = field(default_factory=dict)

    def client(self, upstream: str, build: ClientFactory) -> ResilientClient:
        """The long-lived client of ``upstream``, built by ``build`` on first use."""
        if upstream not in self.clients:
            self.clients[upstream] = build(self.settings, self.hooks)
        return self.clients[upstream]

    async def save_upstream_states(self) -> None:
        """Persist this process's breaker states so ``/health`` in any process can show them."""
        snapshot = default_registry.snapshot()
        if not snapshot:
            return
        now = datetime.now(UTC)
        rows = [
            {
                "upstream": name,
                "state": state.state,
                "consecutive_failures": state.consecutive_failures,
                "opened_at": datetime.fromtimestamp(state.opened_at, UTC) if state.opened_at else None,
                "updated_at": now,
            }
            for name, state in snapshot.items()
        ]
        try:
            async with self.db.unit_of_work() as session:
                statement = upsert(
                    session,
                    cast(Table, UpstreamState.__table__),
                    key=["upstream"],
                    update=["state", "consecutive_failures", "opened_at", "updated_at"],
                )
                await session.execute(statement, rows)
        except CrossdockError as exc:
            logger.warning("could not save upstream states: %s", exc.message)

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()
        self.clients.clear()
