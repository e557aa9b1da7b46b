"""Build the service: ``create_app(settings)`` returns the ASGI app ``crossdock serve`` runs.

The returned app is the FastAPI application wrapped by the /search hot path and the request
metrics layer. Its lifespan opens the database, loads the search read model, keeps it fresh
(rebuilt after a local sync, polled for syncs done by other processes) and, in the one process
holding the scheduler lock, runs the scheduled jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gc
import hashlib
import logging
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import IO, Any

from fastapi import FastAPI

from crossdock import __version__
from crossdock.api.asgi import ASGIApp, RequestMetrics, SearchFastPath
from crossdock.api.errors import install_error_handlers
from crossdock.api.ops import router as ops_router
from crossdock.api.state import ServiceState
from crossdock.config import Settings, get_settings
from crossdock.errors import CrossdockError
from crossdock.jobs.context import JobContext
from crossdock.jobs.registry import JOBS, JobSpec
from crossdock.jobs.runner import InProcessScheduler
from crossdock.marketplace import service as marketplace_service
from crossdock.marketplace.readmodel import SearchIndexHolder
from crossdock.marketplace.router import router as marketplace_router
from crossdock.observability.logging import configure_logging
from crossdock.storage import Database, create_database

logger = logging.getLogger(__name__)


def scheduler_lock_path(settings: Settings) -> Path:
    digest = hashlib.sha1(settings.database.url.encode(), usedforsecurity=False).hexdigest()[:12]
    return settings.var_dir / f"scheduler-{digest}.lock"


def try_scheduler_lock(settings: Settings) -> IO[str] | None:
    """Take the host-wide scheduler lock for this database, or None if another process holds it."""
    path = scheduler_lock_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


async def refresh_read_model(state: ServiceState, *, force: bool = False) -> bool:
    """Rebuild the search index if the stored data is newer than the one served; True if swapped."""
    try:
        version = await marketplace_service.data_version(db=state.db)
        if not force and state.holder.loaded and version == state.holder.index.version:
            return False
        index = await marketplace_service.build_search_index(
            db=state.db, cache_entries=state.settings.api.search_cache_entries
        )
    except CrossdockError as exc:
        state.read_model_error = exc.message
        logger.warning("search read model not refreshed: %s", exc.message)
        return False
    state.holder.swap(index)
    # The read model is long-lived: move it (and everything else alive) out of the collector's
    # generations so the collections that request handling triggers stay short.
    gc.collect()
    gc.freeze()
    state.read_model_error = None
    logger.info("search read model loaded: version=%d plans=%d", index.version, len(index))
    return True


async def _poll_read_model(state: ServiceState) -> None:
    while True:
        await asyncio.sleep(state.settings.api.read_model_poll_interval)
        await refresh_read_model(state)


def create_app(settings: Settings, *, database: Database | None = None, fast_path: bool = True) -> ASGIApp:
    """The service as an ASGI app. ``fast_path=False`` serves /search through FastAPI only (tests)."""
    holder = SearchIndexHolder(raw_cache_entries=settings.api.search_cache_entries)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = database or create_database(settings.database)
        state = ServiceState(settings=settings, db=db, holder=holder)
        app.state.service = state
        await refresh_read_model(state, force=True)
        background = [asyncio.create_task(_poll_read_model(state), name="read-model-poll")]
        lock = try_scheduler_lock(settings) if settings.api.scheduler_enabled else None
        if lock is not None:
            state.job_context = JobContext(settings=settings, db=db)
            state.scheduler = InProcessScheduler(state.job_context, JOBS)

            async def on_job_done(spec: JobSpec, summary: Mapping[str, Any]) -> None:
                if summary.get("changed"):
                    await refresh_read_model(state)

            state.scheduler.add_listener(on_job_done)
            state.scheduler.start()
            logger.info(
                "scheduler running in process %d: %s", os.getpid(), [s.name for s in state.scheduler.specs]
            )
        try:
            yield
        finally:
            if state.scheduler is not None:
                await state.scheduler.stop()
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            if state.job_context is not None:
                await state.job_context.aclose()
            if lock is not None:
                lock.close()
            if database is None:
                await db.dispose()

    app = FastAPI(
        title="Crossdock",
        version=__version__,
        description="Provider integrations: marketplace events search, sync runs, health and metrics.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.include_router(marketplace_router)
    app.include_router(ops_router)
    measured = RequestMetrics(app)
    # The hot path counts and times /search itself; everything else is measured by RequestMetrics.
    return SearchFastPath(measured, holder) if fast_path else measured


def app_from_env() -> ASGIApp:
    """Factory used by the server's worker processes: settings and logging from the environment."""
    # Settings are read from the environment `serve` prepared (the simulator's URL, ...), never from
    # a cache that may predate it.
    get_settings.cache_clear()
    settings = get_settings()
    configure_logging(settings.log)
    return create_app(settings)
