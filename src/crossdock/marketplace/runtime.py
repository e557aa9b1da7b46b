"""What the marketplace keeps in each serving process: the ``/search`` read model and its upkeep.

The read model is loaded when the process starts, rebuilt right after a sync in this process changed
data, and polled for syncs done by other processes (every ``CROSSDOCK_API_READ_MODEL_POLL_INTERVAL``
seconds). The ``/search`` fast path is put in front of the application, and ``/health`` gets the
marketplace's section (last sync, its age, the read model's state).
"""

from __future__ import annotations

import gc
import logging
from datetime import UTC, datetime
from typing import Any

from crossdock.api.asgi import ASGIApp
from crossdock.config import Settings
from crossdock.errors import CrossdockError
from crossdock.manifest import HealthReport, ReadModelRuntime
from crossdock.marketplace import service
from crossdock.marketplace.fastpath import SearchFastPath
from crossdock.marketplace.readmodel import SearchIndexHolder
from crossdock.marketplace.settings import MarketplaceSettings
from crossdock.storage import Database
from crossdock.storage.timestamps import age_seconds

logger = logging.getLogger(__name__)


class MarketplaceRuntime(ReadModelRuntime):
    """The read model behind ``/search`` in this process, kept fresh."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings.api.read_model_poll_interval)
        self.settings = settings
        group = settings.of(MarketplaceSettings)
        # CROSSDOCK_MARKETPLACE_SEARCH_CACHE_BYTES bounds both caches together: half each.
        self._cache_bytes = group.search_cache_bytes // 2
        self._cache_entries = group.search_cache_entries
        self.holder = SearchIndexHolder(
            raw_cache_entries=self._cache_entries, raw_cache_bytes=self._cache_bytes
        )
        self.read_model_error: str | None = None
        self._db: Database | None = None

    def wrap(self, app: ASGIApp) -> ASGIApp:
        return SearchFastPath(app, self.holder)

    async def start(self, db: Database) -> None:
        self._db = db
        await self.refresh(force=True)
        self.start_polling("marketplace-read-model-poll")

    async def refresh(self, *, force: bool = False) -> bool:
        """Rebuild the index if the stored data is newer than the one served; True if swapped."""
        assert self._db is not None, "start() first"
        try:
            version = await service.data_version(db=self._db)
            if not force and self.holder.loaded and version == self.holder.index.version:
                return False
            index = await service.build_search_index(
                db=self._db, cache_entries=self._cache_entries, cache_bytes=self._cache_bytes
            )
        except CrossdockError as exc:
            self.read_model_error = exc.message
            logger.warning("search read model not refreshed: %s", exc.message)
            return False
        self.holder.swap(index)
        # The read model is long-lived: move it (and everything else alive) out of the collector's
        # generations so the collections that request handling triggers stay short.
        gc.collect()
        gc.freeze()
        self.read_model_error = None
        logger.info("search read model loaded: version=%d plans=%d", index.version, len(index))
        return True

    async def health(self, db: Database) -> HealthReport:
        now = datetime.now(UTC)
        runs = await service.list_sync_runs(db=db, limit=20)
        last = next((run for run in runs if run.outcome != "running"), None)
        last_success = next((run for run in runs if run.outcome == "success"), None)
        body: dict[str, Any] = {
            "last_sync": None
            if last is None
            else {
                "id": last.id,
                "outcome": last.outcome,
                "finished_at": last.finished_at,
                "age_seconds": age_seconds(last.finished_at, now),
                "error": last.error,
            },
            "last_success_age_seconds": age_seconds(last_success.finished_at, now) if last_success else None,
            "searchable_plans": len(self.holder.index),
            "read_model_version": self.holder.index.version,
            "read_model_loaded": self.holder.loaded,
            "read_model_error": self.read_model_error,
            "search_cache": {
                "entries": len(self.holder.raw_cache) + self.holder.index.cache_stats().entries,
                "bytes": self.holder.raw_cache.nbytes + self.holder.index.cache_stats().bytes,
                "max_bytes": 2 * self._cache_bytes,
            },
        }
        return HealthReport(body, degraded=last is not None and last.outcome == "failed")
