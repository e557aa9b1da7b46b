"""Build the service: ``create_app(settings)`` returns the ASGI app ``crossdock serve`` runs.

The app is FastAPI with every listed capability's routes and the shared operational routes, behind
the request-metrics layer and each capability's ASGI fast paths. Its lifespan opens the database,
starts each capability's runtime (e.g. loading a read model) and, in the one process holding the
scheduler lock, runs the scheduled jobs, telling the owning capability after each run.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO

from fastapi import FastAPI

from crossdock import __version__
from crossdock.api import openapi
from crossdock.api.asgi import ASGIApp, RequestMetrics
from crossdock.api.changes import ChangeListener
from crossdock.api.errors import install_error_handlers
from crossdock.api.ops import router as ops_router
from crossdock.api.state import AppState
from crossdock.apikeys import KeyRing
from crossdock.capabilities import CAPABILITIES
from crossdock.config import Settings, get_settings
from crossdock.console import router as console
from crossdock.jobs.context import JobContext
from crossdock.jobs.registry import JOBS
from crossdock.jobs.runner import InProcessScheduler, JobOutcome
from crossdock.jobs.spec import JobSpec
from crossdock.manifest import CapabilityRuntime
from crossdock.observability.logging import configure_logging
from crossdock.storage import Database, create_database
from crossdock.storage.files import private_directory

logger = logging.getLogger(__name__)


def scheduler_lock_path(settings: Settings) -> Path:
    digest = hashlib.sha1(settings.database.url.encode(), usedforsecurity=False).hexdigest()[:12]
    return settings.var_dir / f"scheduler-{digest}.lock"


def try_scheduler_lock(settings: Settings) -> IO[str] | None:
    """Take the host-wide scheduler lock for this database, or None if another process holds it."""
    path = scheduler_lock_path(settings)
    private_directory(path.parent)
    handle = path.open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def _start_scheduler(state: AppState) -> None:
    state.job_context = JobContext(settings=state.settings, db=state.db)
    state.scheduler = InProcessScheduler(state.job_context, JOBS)

    async def tell_owner(spec: JobSpec, outcome: JobOutcome) -> None:
        runtime = state.runtimes.get(spec.capability)
        if runtime is not None:
            await runtime.after_run(outcome)

    state.scheduler.add_listener(tell_owner)
    state.scheduler.start()
    logger.info("scheduler running in process %d: %s", os.getpid(), [s.name for s in state.scheduler.specs])


def create_app(settings: Settings, *, database: Database | None = None, fast_path: bool = True) -> ASGIApp:
    """The service as an ASGI app. ``fast_path=False`` serves everything through FastAPI (tests)."""
    runtimes: dict[str, CapabilityRuntime] = {
        capability.name: capability.runtime(settings)
        for capability in CAPABILITIES
        if capability.runtime is not None
    }

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = database or create_database(settings.database)
        state = AppState(settings=settings, db=db, keys=KeyRing(settings.api.keys), runtimes=runtimes)
        app.state.service = state
        for runtime in runtimes.values():
            await runtime.start(db)
        listener = None if db.is_sqlite else ChangeListener(settings.database.url, runtimes)
        if listener is not None:
            listener.start()
        # Distributed mode: `crossdock scheduler` and `crossdock worker` run the jobs; serving only serves.
        embedded_jobs = settings.api.scheduler_enabled and not settings.jobs.distributed
        lock = try_scheduler_lock(settings) if embedded_jobs else None
        if lock is not None:
            _start_scheduler(state)
        try:
            yield
        finally:
            if state.scheduler is not None:
                await state.scheduler.stop()
            if listener is not None:
                await listener.stop()
            for runtime in runtimes.values():
                await runtime.stop()
            if state.job_context is not None:
                await state.job_context.aclose()
            if lock is not None:
                lock.close()
            if database is None:
                await db.dispose()

    app = FastAPI(
        title="Crossdock",
        version=__version__,
        description="Provider integrations. "
        + " ".join(capability.summary for capability in CAPABILITIES)
        + " Operations: health, metrics, runs.",
        lifespan=lifespan,
        # Served by our own routes, behind the same access rules as everything else.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        # A slash-redirect copies the request's Host header into Location: unknown paths are 404.
        redirect_slashes=False,
    )
    install_error_handlers(app)
    for capability in CAPABILITIES:
        if capability.router is not None:
            app.include_router(capability.router())
    app.include_router(ops_router)
    console.install(app)
    openapi.install(app)
    served: ASGIApp = RequestMetrics(app)
    if fast_path:
        # Fast paths answer before the metrics layer and count their own routes.
        for runtime in runtimes.values():
            served = runtime.wrap(served)
    return served


def app_from_env() -> ASGIApp:
    """Factory used by the server's worker processes: settings and logging from the environment."""
    # Settings are read from the environment `serve` prepared (a simulator's URL, ...), never from
    # a cache that may predate it.
    get_settings.cache_clear()
    settings = get_settings()
    configure_logging(settings.log)
    return create_app(settings)
