"""What a job function receives: settings, the database and the upstream clients.

The same :class:`JobContext` is built by the in-process scheduler (``crossdock serve``), by the
CLI (``crossdock marketplace sync``) and, later, by a distributed worker's start-up, so job
functions never know who runs them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.dialects import postgresql, sqlite

from crossdock.config import Settings
from crossdock.errors import CrossdockError
from crossdock.httpclient import ClientHooks, ResilientClient, default_registry
from crossdock.observability.hooks import default_client_hooks
from crossdock.observability.models import UpstreamState
from crossdock.storage import Database

logger = logging.getLogger(__name__)


@dataclass
class JobContext:
    """Shared resources for job functions; close with :meth:`aclose`."""

    settings: Settings
    db: Database
    hooks: ClientHooks = field(default_factory=default_client_hooks)
    _clients: dict[str, ResilientClient] = field(default_factory=dict)

    def client(self, upstream: str) -> ResilientClient:
        """The long-lived resilient client for ``upstream`` (built on first use from settings)."""
        if upstream not in self._clients:
            self._clients[upstream] = ResilientClient.from_settings(
                upstream, self.settings.http, hooks=self.hooks
            )
        return self._clients[upstream]

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
                insert = (
                    postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
                )
                statement = insert(UpstreamState)
                statement = statement.on_conflict_do_update(
                    index_elements=[UpstreamState.upstream],
                    set_={
                        name: statement.excluded[name]
                        for name in ("state", "consecutive_failures", "opened_at", "updated_at")
                    },
                )
                await session.execute(statement, rows)
        except CrossdockError as exc:
            logger.warning("could not save upstream states: %s", exc.message)

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
