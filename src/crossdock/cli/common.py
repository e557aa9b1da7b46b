"""Helpers shared by CLI commands: settings and logging, a database for one command, running a job.

Every command that does a capability's work runs it through the one runner
(:func:`run_job_now`), so a run started from the CLI is recorded and counted like a scheduled one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import orjson
import typer

from crossdock.config import Settings, get_settings
from crossdock.jobs import records
from crossdock.jobs.context import JobContext
from crossdock.jobs.models import RunRecord
from crossdock.jobs.runner import JobOutcome, run_job
from crossdock.jobs.spec import JobSpec, Progress
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


def run_job_now(
    settings: Settings,
    spec: JobSpec,
    *,
    params: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    raise_errors: bool = True,
) -> JobOutcome:
    """Run one job now in this process through the runner (recorded with the trigger ``cli``).

    With ``raise_errors`` the job's own error is raised after its run is recorded, for
    :func:`crossdock.cli.errors.cli_errors` to report.
    """

    async def work(db: Database) -> JobOutcome:
        close_coordination = None
        if settings.jobs.distributed:
            # This process's calls count against the limits every worker shares.
            from crossdock.cli.distributed import install_coordination

            close_coordination = await install_coordination(settings)
        ctx = JobContext(settings=settings, db=db)
        try:
            return await run_job(
                ctx, spec, params=params, trigger="cli", progress=progress, raise_errors=raise_errors
            )
        finally:
            await ctx.aclose()
            if close_coordination is not None:
                await close_coordination()

    return run_with_database(settings, work, migrate=True)


def recorded_runs(
    settings: Settings, *, capability: str | None = None, job: str | None = None, limit: int = 20
) -> list[RunRecord]:
    """The newest recorded runs (of one capability or job), for listing commands."""

    async def work(db: Database) -> list[RunRecord]:
        return await records.list_runs(db, capability=capability, job=job, limit=limit)

    return run_with_database(settings, work, migrate=True)


def echo_json(value: Any) -> None:
    """Print ``value`` as indented JSON (datetimes and other values as strings)."""
    typer.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode())
