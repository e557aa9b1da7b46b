"""The one runner: every run of every job, scheduled or started by hand, goes through :func:`run_job`.

``run_job`` refuses to start a job that is already running in this process for the same subject,
writes the run record (``running`` first, then how it ended with the job's report), counts it in the
metrics, logs start and end with timing, and saves the upstreams' breaker states. The scheduler never
lets a failure escape its loop (the job waits for its next turn); the CLI and the Python API ask for
the job's own exception back (``raise_errors=True``) so they report it exactly as raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from crossdock.errors import CrossdockError, JobAlreadyRunningError
from crossdock.jobs import records
from crossdock.jobs.context import JobContext
from crossdock.jobs.spec import JobSpec, Progress, RunReport, Schedule
from crossdock.observability.metrics import JOB_RUNS, SYNC_RUNS

logger = logging.getLogger(__name__)

JobListener = Callable[[JobSpec, "JobOutcome"], Awaitable[None]]
_locks: dict[tuple[str, str | None], asyncio.Lock] = {}


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """How one run ended: ``outcome`` is ``failed``, ``success`` or a success variant of the job."""

    name: str
    capability: str
    run_id: int | None
    outcome: str
    duration_seconds: float
    changed: bool
    summary: Mapping[str, Any] | None
    error: str | None
    result: Any = field(default=None, repr=False)

    @property
    def succeeded(self) -> bool:
        return self.outcome != "failed"


def summary_of(result: Any) -> dict[str, Any]:
    """A job's result as a JSON object (``as_dict()``, a dataclass or a mapping)."""
    if hasattr(result, "as_dict"):
        return records.jsonable(result.as_dict())
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        return records.jsonable(dataclasses.asdict(result))
    if isinstance(result, Mapping):
        return records.jsonable(result)
    return {}


def _message(exc: BaseException) -> str:
    if isinstance(exc, CrossdockError):
        return exc.message
    return f"unexpected {exc.__class__.__name__}: {exc}"


def _inline_worker(ctx: JobContext) -> str | None:
    """In distributed mode, a run this process runs itself (CLI) is named after it and heartbeats,
    so the sweeper frees its slot if the process dies; embedded runs keep no name."""
    if not ctx.settings.jobs.distributed:
        return None
    return f"inline@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


async def _heartbeats(ctx: JobContext, run_id: int) -> None:
    while True:
        await asyncio.sleep(ctx.settings.jobs.heartbeat_interval)
        try:
            await records.touch_run(ctx.db, run_id)
        except CrossdockError as exc:
            logger.warning("heartbeat of run %d not written: %s", run_id, exc.message)


async def _start(
    ctx: JobContext,
    spec: JobSpec,
    subject: str | None,
    trigger: str,
    params: Mapping[str, Any],
    worker: str | None,
) -> int | None:
    try:
        return await records.start_run(
            ctx.db,
            capability=spec.capability,
            job=spec.name,
            subject=subject,
            trigger=trigger,
            started_at=datetime.now(UTC),
            params=params,
            worker=worker,
        )
    except JobAlreadyRunningError:
        raise
    except CrossdockError as exc:
        # The job may still do its work (a post to a platform); only its record is lost.
        logger.warning("could not record the start of %s: %s", spec.name, exc.message)
        return None


async def _finish(
    ctx: JobContext, report: RunReport, duration: float, error: str | None, worker: str | None
) -> None:
    if report.run_id is None:
        return
    try:
        await records.finish_run(
            ctx.db,
            report.run_id,
            worker=worker,
            outcome="failed" if error is not None else report.outcome,
            finished_at=datetime.now(UTC),
            duration_seconds=duration,
            attempts=report.attempts,
            changed=report.changed,
            details=report.details,
            error=error,
        )
    except CrossdockError as exc:
        logger.warning("could not record the end of run %d: %s", report.run_id, exc.message)


async def run_job(
    ctx: JobContext,
    spec: JobSpec,
    *,
    params: Mapping[str, Any] | None = None,
    trigger: str = "schedule",
    progress: Progress | None = None,
    raise_errors: bool = False,
    claimed: records.ClaimedRun | None = None,
) -> JobOutcome:
    """Run ``spec`` once now with ``params`` and record it.

    Raises :class:`JobAlreadyRunningError` if the same job runs for the same subject in this process
    (or, for a run of this process, is queued or running on a worker), and whatever ``spec.check``
    raises for unusable parameters (nothing is recorded then); with ``raise_errors`` the job's
    exception is raised again after the failed run is recorded. ``claimed``: a run the distributed
    engine already recorded and this worker claimed (its record is finished here, not started).
    """
    params = dict(params or {})
    spec.check(ctx.settings, params)
    subject = spec.subject_for(ctx.settings, params)
    lock = _locks.setdefault((spec.name, subject), asyncio.Lock())
    if lock.locked():
        target = f" for {subject}" if subject else ""
        raise JobAlreadyRunningError(f"job {spec.name}{target} is already running; wait for it to finish")
    async with lock:
        started = time.monotonic()
        report = RunReport(params=params, trigger=trigger, progress=progress)
        heartbeat: asyncio.Task[None] | None = None
        if claimed is not None:
            worker: str | None = claimed.worker
            report.run_id = claimed.id
        else:
            worker = _inline_worker(ctx)
            report.run_id = await _start(ctx, spec, subject, trigger, params, worker)
            if worker is not None and report.run_id is not None:
                heartbeat = asyncio.create_task(
                    _heartbeats(ctx, report.run_id), name=f"heartbeat:{spec.name}"
                )
        logger.info("job started: %s%s (%s)", spec.name, f" {subject}" if subject else "", trigger)
        try:
            result = await spec.function(ctx, report)
        except Exception as exc:
            duration = time.monotonic() - started
            message = _message(exc)
            if report.attempts is None and isinstance(getattr(exc, "attempts", None), int):
                report.attempts = exc.attempts  # type: ignore[attr-defined]
            if not isinstance(exc, CrossdockError):
                logger.exception("job crashed: %s", spec.name)
            logger.error("job failed: %s after %.3fs: %s", spec.name, duration, message)
            await _finish(ctx, report, duration, message, worker)
            _count(spec, "failed")
            await ctx.save_upstream_states()
            if raise_errors:
                raise
            return JobOutcome(
                spec.name, spec.capability, report.run_id, "failed", duration, False, None, message
            )
        finally:
            await _stop(heartbeat)
        duration = time.monotonic() - started
        await _finish(ctx, report, duration, None, worker)
        _count(spec, report.outcome)
        await ctx.save_upstream_states()
        logger.info("job finished: %s in %.3fs (%s)", spec.name, duration, report.outcome)
        return JobOutcome(
            spec.name,
            spec.capability,
            report.run_id,
            report.outcome,
            duration,
            report.changed,
            summary_of(result),
            None,
            result,
        )


async def _stop(task: asyncio.Task[None] | None) -> None:
    if task is not None and not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _count(spec: JobSpec, outcome: str) -> None:
    JOB_RUNS.labels(spec.name, outcome).inc()
    SYNC_RUNS.labels(spec.capability, outcome).inc()


class InProcessScheduler:
    """Runs each scheduled instance of each job every ``every`` seconds on the current event loop.

    An instance starts at once, then waits its interval after each run ends (so a slow run never
    overlaps the next). Listeners are awaited after each run (the API uses one to refresh read
    models right away).
    """

    def __init__(self, ctx: JobContext, specs: Sequence[JobSpec]) -> None:
        self.ctx = ctx
        self.instances: list[tuple[JobSpec, Schedule]] = [
            (spec, schedule) for spec in specs for schedule in spec.schedules(ctx.settings)
        ]
        self._listeners: list[JobListener] = []
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def specs(self) -> list[JobSpec]:
        """The scheduled jobs, each once."""
        return list({spec.name: spec for spec, _schedule in self.instances}.values())

    def add_listener(self, listener: JobListener) -> None:
        self._listeners.append(listener)

    def start(self) -> None:
        for spec, schedule in self.instances:
            self._tasks.append(asyncio.create_task(self._loop(spec, schedule), name=f"job:{spec.name}"))

    async def _loop(self, spec: JobSpec, schedule: Schedule) -> None:
        while True:
            try:
                outcome = await run_job(self.ctx, spec, params=schedule.params, trigger="schedule")
            except JobAlreadyRunningError as exc:
                logger.info("job skipped: %s", exc.message)
            except CrossdockError as exc:
                # Refused by the job's check (settings that cannot work): say so on every turn.
                logger.error("job not started: %s: %s", spec.name, exc.message)
            else:
                for listener in self._listeners:
                    try:
                        await listener(spec, outcome)
                    except Exception:
                        logger.exception("job listener failed after %s", spec.name)
            await asyncio.sleep(schedule.every)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
