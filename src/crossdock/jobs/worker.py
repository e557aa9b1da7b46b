"""``crossdock worker``: takes runs from the broker and runs them through the one runner.

A worker receives "run <id>" messages with taskiq's receiver, claims the run in the database (a
message for a run that is not queued any more is dropped), runs the job function through
:func:`crossdock.jobs.runner.run_job` (the run record, metrics and logs as everywhere) and beats
every ``heartbeat_interval`` seconds: its row in ``job_processes`` and every run it holds. On
SIGTERM or SIGINT it stops taking messages and lets its runs finish for ``grace`` seconds; a run
cut short then is found by the sweeper (no heartbeat) and run again per its job's policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from datetime import UTC, datetime

from taskiq import AsyncBroker
from taskiq.receiver import Receiver

from crossdock.config import Settings
from crossdock.errors import CrossdockError, JobAlreadyRunningError
from crossdock.jobs import engine
from crossdock.jobs.context import JobContext
from crossdock.jobs.models import JobProcess
from crossdock.jobs.records import ClaimedRun
from crossdock.jobs.registry import get_job
from crossdock.jobs.runner import run_job
from crossdock.observability.metrics import JOB_HEARTBEAT_FAILURES, JOB_HEARTBEATS, JOB_START_LATENCY
from crossdock.storage import Database

logger = logging.getLogger(__name__)

BROKER_RETRY_SECONDS = 1.0
"""Pause before listening again after the broker connection failed."""


async def wait_for(stop: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``stop``; True if it is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


def new_process(
    settings: Settings, role: str, *, concurrency: int | None, metrics_url: str | None
) -> JobProcess:
    now = datetime.now(UTC)
    return JobProcess(
        id=engine.process_id(role),
        role=role,
        queue=settings.jobs.queue,
        host=socket.gethostname(),
        pid=os.getpid(),
        started_at=now,
        heartbeat_at=now,
        active=role == "worker",
        concurrency=concurrency,
        running=[],
        metrics_url=metrics_url,
    )


class Worker:
    """One worker process: ``await Worker(...).run(stop)`` until ``stop`` is set."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        concurrency: int = 1,
        grace: float = 30.0,
        metrics_url: str | None = None,
        broker: AsyncBroker | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.concurrency = concurrency
        self.grace = grace
        self.process = new_process(settings, "worker", concurrency=concurrency, metrics_url=metrics_url)
        self.ctx = JobContext(settings=settings, db=db)
        self.broker = broker or engine.build_broker(settings, prefetch=concurrency)

        async def run_task(run_id: int) -> None:
            await self.execute(run_id)

        self.broker.register_task(run_task, task_name=engine.RUN_TASK)
        self.running: set[int] = set()
        self._idle = asyncio.Event()
        self._accepting = True

    @property
    def id(self) -> str:
        return self.process.id

    async def execute(self, run_id: int) -> None:
        """The task: claim run ``run_id`` and run it; never raises (the run record says how it went)."""
        if not self._accepting:
            return  # stopping: the run stays queued and is sent again by the sweeper
        try:
            claimed = await engine.claim(self.db, run_id, self.id)
        except CrossdockError as exc:  # the database is away: the run stays queued, sent again later
            logger.error("run %d not claimed: %s", run_id, exc.message)
            return
        if claimed is None:
            logger.info("run %d is not queued any more: message ignored", run_id)
            return
        if claimed.enqueued_at is not None:
            latency = (claimed.started_at - claimed.enqueued_at).total_seconds()
            JOB_START_LATENCY.labels(claimed.job).observe(max(0.0, latency))
        self.running.add(run_id)
        self._idle.clear()
        self.process.running = sorted(self.running)
        try:
            try:
                spec = get_job(claimed.job)
            except KeyError:
                await engine.fail_claimed(
                    self.db, run_id, self.id, f"unknown job {claimed.job!r}: this worker runs another version"
                )
                return
            try:
                await run_job(
                    self.ctx,
                    spec,
                    params=claimed.params,
                    trigger=claimed.trigger,
                    claimed=ClaimedRun(run_id, self.id),
                )
            except (JobAlreadyRunningError, CrossdockError) as exc:  # refused before it ran
                await engine.fail_claimed(self.db, run_id, self.id, exc.message)
        except CrossdockError as exc:  # the database failed: the sweeper will find the run
            logger.error("run %d: %s", run_id, exc.message)
        finally:
            self.running.discard(run_id)
            self.process.running = sorted(self.running)
            if not self.running:
                self._idle.set()

    async def _receive(self, finish: asyncio.Event) -> None:
        """taskiq's receiver until ``finish``; after a broker failure, again a second later (the
        runs in hand go on: they are tasks of their own)."""
        while not finish.is_set():
            receiver = Receiver(
                broker=self.broker,
                max_async_tasks=self.concurrency,
                propagate_exceptions=False,
                run_startup=False,
                wait_tasks_timeout=self.grace,
            )
            try:
                await receiver.listen(finish)
            except Exception as exc:  # any broker client error while listening
                logger.warning(
                    "broker connection failed (%s: %s): listening again in 1 s", type(exc).__name__, exc
                )
                await wait_for(finish, BROKER_RETRY_SECONDS)

    async def _heartbeats(self) -> None:
        while True:
            try:
                await engine.beat(self.db, self.process)
                JOB_HEARTBEATS.labels("worker").inc()
            except CrossdockError as exc:
                JOB_HEARTBEAT_FAILURES.labels("worker").inc()
                logger.warning("heartbeat not written: %s", exc.message)
            await asyncio.sleep(self.settings.jobs.heartbeat_interval)

    async def run(self, stop: asyncio.Event) -> None:
        """Take and run jobs until ``stop`` is set, then drain for ``grace`` seconds."""
        # A worker process also reads (RabbitMQ: a consuming connection is opened at start-up).
        self.broker.is_worker_process = True
        try:
            await self.broker.startup()
        except Exception as exc:  # any broker client error at connection time
            raise engine.broker_unreachable(self.settings, exc) from exc
        heartbeats = asyncio.create_task(self._heartbeats(), name="worker-heartbeats")
        finish = asyncio.Event()
        receiver = asyncio.create_task(self._receive(finish), name="worker-receiver")
        logger.info(
            "worker %s taking runs from %s (queue %s, concurrency %d)",
            self.id,
            engine.shown_url(self.settings.jobs.broker_url or ""),
            self.settings.jobs.queue,
            self.concurrency,
        )
        try:
            await stop.wait()
            # Take no more messages; the runs in hand get ``grace`` seconds to finish.
            self._accepting = False
            self.process.active = False
            finish.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(receiver), self.grace + 5)
            if self.running:
                logger.warning(
                    "stopping with runs %s unfinished: the sweeper runs them again", sorted(self.running)
                )
        finally:
            for task in (receiver, heartbeats):
                task.cancel()
            for task in (receiver, heartbeats):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            with contextlib.suppress(Exception):
                await self.broker.shutdown()
            await engine.leave(self.db, self.id)
            await self.ctx.aclose()
