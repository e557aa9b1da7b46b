"""Run registered jobs: once on demand, or on their schedules inside the serving process.

:func:`run_job` is the wrapper every runner uses: it refuses to start a job that is already
running in this process, logs start and end with timing, records a ``job_runs`` row and never
lets a failure escape a scheduled loop (the job waits for its next turn). Across processes on one
host, ``crossdock serve`` lets only the worker holding the scheduler lock run the scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import select, update

from crossdock.errors import CrossdockError, JobAlreadyRunningError
from crossdock.jobs.context import JobContext
from crossdock.jobs.models import JobRun
from crossdock.jobs.registry import JobSpec
from crossdock.observability.metrics import JOB_RUNS
from crossdock.storage import Database

logger = logging.getLogger(__name__)

JobListener = Callable[[JobSpec, Mapping[str, Any]], Awaitable[None]]
_locks: dict[str, asyncio.Lock] = {}


@dataclass(frozen=True, slots=True)
class JobOutcome:
    name: str
    outcome: str  # success | failed
    duration_seconds: float
    summary: Mapping[str, Any] | None
    error: str | None


def _lock(name: str) -> asyncio.Lock:
    return _locks.setdefault(name, asyncio.Lock())


async def _record(ctx: JobContext, **values: Any) -> int | None:
    try:
        async with ctx.db.unit_of_work() as session:
            run = JobRun(**values)
            session.add(run)
            await session.flush()
            return run.id
    except CrossdockError as exc:
        logger.warning("could not record job run: %s", exc.message)
        return None


async def _finish(ctx: JobContext, run_id: int | None, **values: Any) -> None:
    if run_id is None:
        return
    try:
        async with ctx.db.unit_of_work() as session:
            await session.execute(update(JobRun).where(JobRun.id == run_id).values(**values))
    except CrossdockError as exc:
        logger.warning("could not record job run: %s", exc.message)


async def run_job(ctx: JobContext, spec: JobSpec) -> JobOutcome:
    """Run ``spec`` once now; raises :class:`JobAlreadyRunningError` if it is running already."""
    lock = _lock(spec.name)
    if lock.locked():
        raise JobAlreadyRunningError(f"job {spec.name} is already running; wait for it to finish")
    async with lock:
        started = time.monotonic()
        run_id = await _record(ctx, job_name=spec.name, started_at=datetime.now(UTC), outcome="running")
        logger.info("job started: %s", spec.name)
        try:
            summary = dict(await spec.function(ctx))
        except Exception as exc:
            duration = time.monotonic() - started
            message = (
                exc.message
                if isinstance(exc, CrossdockError)
                else f"unexpected {exc.__class__.__name__}: {exc}"
            )
            if not isinstance(exc, CrossdockError):
                logger.exception("job crashed: %s", spec.name)
            logger.error("job failed: %s after %.3fs: %s", spec.name, duration, message)
            await _finish(
                ctx,
                run_id,
                outcome="failed",
                finished_at=datetime.now(UTC),
                duration_seconds=duration,
                error=message[:2000],
            )
            JOB_RUNS.labels(spec.name, "failed").inc()
            await ctx.save_upstream_states()
            return JobOutcome(spec.name, "failed", duration, None, message)
        duration = time.monotonic() - started
        # Round-trip through JSON so the stored summary is exactly what a reader gets back.
        stored = orjson.loads(orjson.dumps(summary, default=str))
        await _finish(
            ctx,
            run_id,
            outcome="success",
            finished_at=datetime.now(UTC),
            duration_seconds=duration,
            summary=stored,
        )
        JOB_RUNS.labels(spec.name, "success").inc()
        await ctx.save_upstream_states()
        logger.info("job finished: %s in %.3fs", spec.name, duration)
        return JobOutcome(spec.name, "success", duration, stored, None)


class InProcessScheduler:
    """Runs each scheduled job every ``interval`` seconds on the current event loop.

    A job starts at once, then waits its interval after each run ends (so a slow run never
    overlaps the next). Listeners are awaited after each successful run (the API uses one to
    rebuild its read model right away).
    """

    def __init__(self, ctx: JobContext, specs: Sequence[JobSpec]) -> None:
        self.ctx = ctx
        self.specs = [spec for spec in specs if spec.interval_for(ctx.settings) is not None]
        self._listeners: list[JobListener] = []
        self._tasks: list[asyncio.Task[None]] = []

    def add_listener(self, listener: JobListener) -> None:
        self._listeners.append(listener)

    def start(self) -> None:
        for spec in self.specs:
            self._tasks.append(asyncio.create_task(self._loop(spec), name=f"job:{spec.name}"))

    async def _loop(self, spec: JobSpec) -> None:
        interval = spec.interval_for(self.ctx.settings)
        assert interval is not None
        while True:
            try:
                outcome = await run_job(self.ctx, spec)
            except JobAlreadyRunningError as exc:
                logger.info("job skipped: %s", exc.message)
            else:
                if outcome.summary is not None:
                    for listener in self._listeners:
                        try:
                            await listener(spec, outcome.summary)
                        except Exception:
                            logger.exception("job listener failed after %s", spec.name)
            await asyncio.sleep(interval)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()


async def last_runs(db: Database, names: Sequence[str]) -> dict[str, JobRun]:
    """The latest recorded run of each named job."""
    result: dict[str, JobRun] = {}
    async with db.reader() as session:
        for name in names:
            run = (
                await session.execute(
                    select(JobRun).where(JobRun.job_name == name).order_by(JobRun.id.desc()).limit(1)
                )
            ).scalar_one_or_none()
            if run is not None:
                result[name] = run
    return result
