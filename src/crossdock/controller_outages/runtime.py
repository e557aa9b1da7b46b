"""What the controller-outages capability keeps in each serving process: the events read model.

Loaded when the process starts, followed through the change log every
``CROSSDOCK_API_READ_MODEL_POLL_INTERVAL`` seconds, told at once about this process's own writes
(``POST /outages`` calls :meth:`ControllerOutagesRuntime.written`), and put in front of the
application as the ``GET /events`` fast path. ``/health`` gets its state.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from crossdock.api.asgi import ASGIApp
from crossdock.apikeys import KeyRing
from crossdock.config import Settings
from crossdock.controller_outages import service
from crossdock.controller_outages.fastpath import EventsFastPath
from crossdock.controller_outages.readmodel import EventsReadModel, answer
from crossdock.controller_outages.schemas import IngestAnswer
from crossdock.controller_outages.settings import ControllerOutagesSettings
from crossdock.errors import CrossdockError
from crossdock.manifest import HealthReport, ReadModelRuntime
from crossdock.storage import Database

logger = logging.getLogger(__name__)


class ControllerOutagesRuntime(ReadModelRuntime):
    """The events read model of this process, kept fresh, and the ``GET /events`` fast path."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings.api.read_model_poll_interval)
        self.settings = settings
        self.group = settings.of(ControllerOutagesSettings)
        self.keys = KeyRing(settings.api.keys)
        self.model = EventsReadModel()
        self.error: str | None = None
        self._db: Database | None = None

    def wrap(self, app: ASGIApp) -> ASGIApp:
        return EventsFastPath(app, self)

    async def start(self, db: Database) -> None:
        self._db = db
        try:
            await self.model.load(db)
            logger.info("events read model loaded: %d events", self.model.events)
        except CrossdockError as exc:  # the route answers from the database until a load succeeds
            self.error = exc.message
            logger.warning("events read model not loaded: %s", exc.message)
        self.start_polling("controller-outages-read-model-poll")

    def written(self, controllers: Iterable[str]) -> None:
        """This process stored reports of ``controllers``: read them again before answering for them."""
        self.model.invalidate(controllers)

    async def refresh(self) -> None:
        """Load the model if it never was, else follow the change log; errors are kept for /health."""
        assert self._db is not None, "start() first"
        try:
            if self.model.loaded:
                await self.model.poll(self._db)
            else:
                await self.model.load(self._db)
        except CrossdockError as exc:
            self.error = exc.message
            logger.warning("events read model not refreshed: %s", exc.message)
            return
        self.error = None

    async def answer(self, query: service.EventQuery) -> bytes:
        """The body of ``GET /events`` for a query naming one controller (filters checked here)."""
        assert self._db is not None, "start() first"
        assert query.controller_id is not None
        filters = service.event_filter(query)
        entries = await self.model.entries(self._db, query.controller_id)
        return answer(entries, filters, now=service.now_micros(), gap=self.group.gap_us)

    async def ingest(self, records: list[Any]) -> IngestAnswer | None:
        """``POST /outages`` of ``records``: the answer, or None when the route must answer (all invalid)."""
        assert self._db is not None, "start() first"
        answer = await service.ingest_records(db=self._db, settings=self.group, records=records)
        if answer.rejected and not (answer.accepted or answer.duplicates):
            return None  # nothing stored: the route reads the body again and answers 400
        self.written(
            {
                r["controller_id"]
                for r in records
                if isinstance(r, dict) and isinstance(r.get("controller_id"), str)
            }
        )
        return answer

    async def health(self, db: Database) -> HealthReport:
        body: dict[str, Any] = {
            "read_model_loaded": self.model.loaded,
            "read_model_events": self.model.events,
            "read_model_stale_controllers": len(self.model.stale),
            "read_model_change_id": self.model.high,
            "read_model_error": self.error,
        }
        return HealthReport(body, degraded=not self.model.loaded)
