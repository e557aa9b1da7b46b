"""``crossdock scheduler``: sends scheduled runs; several may run, exactly one is active.

Leadership is a PostgreSQL session advisory lock (key derived from the queue name) held on a
connection of its own: the process that holds it is active; the others try again every
``standby_poll`` seconds. When the active process dies, PostgreSQL ends its session and frees the
lock (at once when the process is killed; for a host that vanishes, when PostgreSQL's TCP
keepalives give up), and a standby takes over at its next try.

Schedules are fixed slots: a job scheduled every ``E`` seconds has one run per slot
``[k·E, (k+1)·E)``, recorded with ``scheduled_for = k·E``; a unique index keeps one run per slot
(no double, even with two schedulers active at once) and another one queued-or-running run per job
and subject (no overlap). A slot whose previous run still runs is tried again until it ends or the
slot passes, so a run that overruns is followed at once, and at most the slots that passed while
no scheduler was active are skipped.

The active scheduler also sweeps: lost runs (no heartbeat for ``heartbeat_timeout``) are marked
``lost`` and run again per their job's ``on_lost`` — only once the scheduler has reached the
database for a whole ``heartbeat_timeout`` (after a takeover or a database outage the workers need
that long to beat again, and a run still in hand must not be taken for lost); queued runs not
taken for ``requeue_after`` are sent to the broker again (it may have lost them); the queue depth
is published as a metric.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from crossdock.config import Settings
from crossdock.errors import CrossdockError, StorageError
from crossdock.jobs import engine
from crossdock.jobs.models import RunRecord
from crossdock.jobs.records import slot_of
from crossdock.jobs.registry import JOBS, get_job
from crossdock.jobs.spec import JobSpec, Schedule
from crossdock.jobs.worker import new_process, wait_for
from crossdock.observability.metrics import (
    JOB_HEARTBEAT_FAILURES,
    JOB_HEARTBEATS,
    JOB_QUEUE_DEPTH,
    SCHEDULER_ACTIVE,
)
from crossdock.storage import Database

logger = logging.getLogger(__name__)

TICK_SECONDS = 0.2
"""How often the active scheduler looks for a new slot (it acts only when one starts)."""
BUSY_RETRY_SECONDS = 1.0
"""How often a slot whose job still runs is tried again (at most a quarter of the interval)."""


def lock_key(queue: str) -> int:
    """The advisory lock key of the schedulers of ``queue`` (a signed 64-bit integer)."""
    digest = hashlib.sha256(f"crossdock-scheduler:{queue}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Scheduler:
    """One scheduler process: ``await Scheduler(...).run(stop)`` until ``stop`` is set."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        sender: engine.Sender,
        *,
        metrics_url: str | None = None,
        specs: tuple[JobSpec, ...] = JOBS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.db = db
        self.sender = sender
        self.clock = clock
        self.process = new_process(settings, "scheduler", concurrency=None, metrics_url=metrics_url)
        self.instances: list[tuple[JobSpec, Schedule]] = [
            (spec, schedule) for spec in specs for schedule in spec.schedules(settings)
        ]
        self._done: dict[str, float] = {}
        self._retry_at: dict[str, float] = {}
        self._sweeping_since: float | None = None
        self._lock: AsyncConnection | None = None

    @property
    def active(self) -> bool:
        return self._lock is not None

    async def run(self, stop: asyncio.Event) -> None:
        """Stand by or lead until ``stop`` is set; the lock is released on the way out."""
        loop = asyncio.get_running_loop()
        next_sweep = next_beat = next_try = 0.0
        try:
            while not stop.is_set():
                now = loop.time()
                if self._lock is None and now >= next_try:
                    await self._try_to_lead()
                    next_try = now + self.settings.jobs.standby_poll
                if self._lock is not None:
                    if now >= next_sweep:
                        next_sweep = now + self.settings.jobs.sweep_interval
                        if await self._still_leading():
                            await self._sweep()
                    if self._lock is not None:
                        await self._schedule()
                if now >= next_beat:
                    next_beat = now + self.settings.jobs.heartbeat_interval
                    await self._beat()
                await wait_for(stop, TICK_SECONDS)
        finally:
            await self._step_down()
            await engine.leave(self.db, self.process.id)

    # -- leadership ---------------------------------------------------------------------------------

    async def _try_to_lead(self) -> None:
        connection: AsyncConnection | None = None
        try:
            connection = await self.db.engine.connect()
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            got = (
                await connection.execute(engine.ADVISORY_LOCK_SQL, {"key": lock_key(self.process.queue)})
            ).scalar()
        except Exception as exc:  # the database is away: stay standby, say why
            logger.warning("scheduler cannot reach the database: %s: %s", type(exc).__name__, exc)
            if connection is not None:
                with contextlib.suppress(Exception):
                    await connection.invalidate()
            return
        if not got:
            await connection.close()
            return
        self._lock = connection
        self._done.clear()
        self._sweeping_since = None
        self.process.active = True
        SCHEDULER_ACTIVE.set(1)
        logger.info("scheduler %s is the active scheduler of queue %s", self.process.id, self.process.queue)
        await self._beat()

    async def _still_leading(self) -> bool:
        assert self._lock is not None
        try:
            await self._lock.execute(text("SELECT 1"))
        except Exception as exc:  # the session (and with it the lock) is gone
            logger.warning("scheduler lost its database session (%s): standing by", type(exc).__name__)
            await self._step_down()
            return False
        return True

    async def _step_down(self) -> None:
        if self._lock is None:
            return
        lock, self._lock = self._lock, None
        self.process.active = False
        SCHEDULER_ACTIVE.set(0)
        JOB_QUEUE_DEPTH.set(0)  # only the active scheduler measures it
        # Closing the session (not returning it to the pool) is what frees the advisory lock.
        with contextlib.suppress(Exception):
            await lock.invalidate()
        with contextlib.suppress(Exception):
            await lock.close()

    async def _beat(self) -> None:
        try:
            await engine.beat(self.db, self.process)
            JOB_HEARTBEATS.labels("scheduler").inc()
        except CrossdockError as exc:
            JOB_HEARTBEAT_FAILURES.labels("scheduler").inc()
            logger.warning("scheduler heartbeat not written: %s", exc.message)

    # -- scheduling ---------------------------------------------------------------------------------

    async def _schedule(self) -> None:
        now = self.clock()
        for spec, schedule in self.instances:
            slot_start = math.floor(now / schedule.every) * schedule.every
            subject = spec.subject_for(self.settings, schedule.params)
            slot = slot_of(spec.name, subject)
            if self._done.get(slot) == slot_start or self._retry_at.get(slot, 0.0) > now:
                continue
            scheduled_for = datetime.fromtimestamp(slot_start, UTC)
            try:
                run_id = await self.sender.enqueue(
                    spec, schedule.params, trigger="schedule", scheduled_for=scheduled_for
                )
                if run_id is not None or await self._slot_has_run(slot, scheduled_for):
                    self._done[slot] = slot_start
                else:  # the previous run still runs: try again shortly, while the slot lasts
                    self._retry_at[slot] = now + min(BUSY_RETRY_SECONDS, schedule.every / 4)
            except StorageError as exc:  # the database is away: try again shortly, while the slot lasts
                self._retry_at[slot] = now + BUSY_RETRY_SECONDS
                logger.warning("job not scheduled yet: %s: %s", spec.name, exc.message)
            except CrossdockError as exc:  # refused by the job's check: said once per slot
                self._done[slot] = slot_start
                logger.error("job not scheduled: %s: %s", spec.name, exc.message)

    async def _slot_has_run(self, slot: str, scheduled_for: datetime) -> bool:
        async with self.db.reader() as session:
            found = await session.scalar(
                select(RunRecord.id).where(RunRecord.slot == slot, RunRecord.scheduled_for == scheduled_for)
            )
        return found is not None

    async def _sweep(self) -> None:
        jobs = self.settings.jobs
        loop = asyncio.get_running_loop()
        if self._sweeping_since is None:
            self._sweeping_since = loop.time()
        try:
            # Only once this scheduler has reached the database for a whole heartbeat timeout: after
            # an outage (or a takeover) the workers' heartbeats need that long to be written again.
            if loop.time() - self._sweeping_since >= jobs.heartbeat_timeout:
                for run in await engine.mark_lost(self.db, jobs.heartbeat_timeout):
                    await self._run_again(run)
            for run_id in await engine.stale_queued(self.db, jobs.requeue_after):
                logger.info(
                    "run %d still queued after %g s: sent to the broker again", run_id, jobs.requeue_after
                )
                await self.sender.send(run_id)
            JOB_QUEUE_DEPTH.set(await engine.queue_depth(self.db))
            await engine.prune_processes(self.db, max(60.0, 10 * jobs.heartbeat_timeout))
        except CrossdockError as exc:
            self._sweeping_since = None
            logger.warning("sweep failed: %s", exc.message)

    async def _run_again(self, run: engine.LostRun) -> None:
        try:
            spec = get_job(run.job)
        except KeyError:
            logger.warning("lost run %d of unknown job %s is not run again", run.id, run.job)
            return
        if spec.on_lost != "retry" or not run.queued:
            logger.warning("lost run %d of %s is not run again (policy %s)", run.id, run.job, spec.on_lost)
            return
        if run.lost_retries >= self.settings.jobs.max_lost_retries:
            logger.error(
                "lost run %d of %s is not run again: lost %d times", run.id, run.job, run.lost_retries + 1
            )
            return
        new_id = await self.sender.enqueue(
            spec, run.params, trigger="retry", retry_of=run.id, lost_retries=run.lost_retries + 1
        )
        logger.info("lost run %d of %s queued again as run %s", run.id, run.job, new_id)
