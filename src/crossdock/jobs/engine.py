"""The distributed job engine: runs recorded in PostgreSQL, messages on a taskiq broker.

The database is the source of truth; the broker only carries "run <id> now" messages::

    enqueue ─ INSERT runs (status queued; one queued-or-running run per slot) ─ send <id> to the broker
    worker  ─ receives <id> ─ claim: UPDATE … SET status running WHERE status = 'queued' ─ the one runner
              (heartbeats every run it holds) ─ finish: succeeded | failed
    sweeper ─ (the active scheduler) running runs without a heartbeat for heartbeat_timeout → lost, and
              run again per the job's ``on_lost``; queued runs not taken for requeue_after → sent again

A message delivered twice, or sent again by the sweeper, is harmless: only one claim succeeds. A
message the broker loses is sent again. A run's slot is ``<job>|<subject>``: a partial unique index
keeps at most one run per slot queued or running, whoever asks, so no two runs of one job and
subject overlap; a second index keeps one run per schedule slot (``scheduled_for``), so two
schedulers can never double a scheduled run.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import and_, delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from crossdock.config import Settings
from crossdock.errors import ConfigurationError, CrossdockError, UpstreamUnavailableError
from crossdock.jobs import records
from crossdock.jobs.models import JobProcess, RunRecord
from crossdock.jobs.spec import JobSpec
from crossdock.observability.metrics import JOBS_ENQUEUED, LOST_RUNS
from crossdock.storage import Database
from crossdock.storage.database import describe_url

if TYPE_CHECKING:
    # taskiq is imported only by the processes that talk to a broker, not by every CLI command.
    from taskiq import AsyncBroker
    from taskiq.kicker import AsyncKicker

logger = logging.getLogger(__name__)

RUN_TASK: Final = "crossdock.run"
"""The one taskiq task: its only argument is the id of a queued run."""
ACTIVE_STATUSES: Final = ("queued", "running")


def require_distributed(settings: Settings, command: str) -> None:
    """A :class:`ConfigurationError` unless the settings select the distributed engine on PostgreSQL."""
    if not settings.jobs.distributed:
        raise ConfigurationError(
            f"{command} needs a broker: set CROSSDOCK_BROKER_URL to redis://… or amqp://… "
            "(without one, jobs run inside `crossdock serve`)"
        )
    if settings.database.is_sqlite:
        raise ConfigurationError(
            f"{command} needs PostgreSQL: the distributed engine shares the database between hosts; "
            "set CROSSDOCK_DATABASE_URL=postgresql://…"
        )


def shown_url(url: str) -> str:
    """A broker or Redis URL without its password, for messages and status pages."""
    return describe_url(url)


def build_broker(settings: Settings, *, prefetch: int = 1) -> AsyncBroker:
    """The taskiq broker ``CROSSDOCK_BROKER_URL`` names, on the queue ``CROSSDOCK_JOBS_QUEUE``.

    ``prefetch``: how many messages a RabbitMQ consumer may hold unacknowledged (a worker's
    concurrency), so that a busy worker does not sit on messages another could run.
    """
    url = settings.jobs.broker_url
    if url is None:
        raise ConfigurationError("no broker: set CROSSDOCK_BROKER_URL")
    queue = settings.jobs.queue
    broker: AsyncBroker
    if url.startswith(("redis://", "rediss://")):
        from taskiq_redis import ListQueueBroker

        # BRPOP waits for the next message without a deadline: no socket timeout (redis-py's default
        # of a few seconds would break every idle wait), TCP keepalive to notice a dead server.
        broker = ListQueueBroker(url, queue_name=queue, socket_timeout=None, socket_keepalive=True)
    else:
        from aio_pika import ExchangeType
        from taskiq_aio_pika import AioPikaBroker
        from taskiq_aio_pika.exchange import Exchange
        from taskiq_aio_pika.queue import Queue

        broker = AioPikaBroker(
            url,
            qos=max(1, prefetch),
            exchange=Exchange(name=queue, type=ExchangeType.DIRECT),
            task_queues=[Queue(name=queue)],
            dead_letter_queue=Queue(name=f"{queue}.dead_letter"),
        )
    return broker


def process_id(role: str) -> str:
    """A name for this process in ``job_processes`` and in run records: ``role@host:pid:random``."""
    return f"{role}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True, slots=True)
class QueuedRun:
    """A run as a worker claimed it."""

    id: int
    job: str
    params: Mapping[str, Any]
    trigger: str
    enqueued_at: datetime | None
    started_at: datetime


class Sender:
    """Puts runs on the queue: the record first, then the message (see the module docstring)."""

    def __init__(self, settings: Settings, db: Database, broker: AsyncBroker) -> None:
        self.settings = settings
        self.db = db
        self.broker = broker
        from taskiq.kicker import AsyncKicker

        self._kicker: AsyncKicker[Any, Any] = AsyncKicker(task_name=RUN_TASK, broker=broker, labels={})

    async def enqueue(
        self,
        spec: JobSpec,
        params: Mapping[str, Any] | None = None,
        *,
        trigger: str,
        scheduled_for: datetime | None = None,
        retry_of: int | None = None,
        lost_retries: int = 0,
    ) -> int | None:
        """Record a queued run and send it; ``None`` when its slot is taken (already queued or
        running, or this schedule slot already has its run). Raises what ``spec.check`` raises."""
        params = dict(params or {})
        spec.check(self.settings, params)
        subject = spec.subject_for(self.settings, params)
        statement = (
            pg_insert(RunRecord)
            .values(
                capability=spec.capability,
                job=spec.name,
                subject=subject,
                trigger=trigger,
                outcome="queued",
                status="queued",
                slot=records.slot_of(spec.name, subject),
                params=records.jsonable(params),
                started_at=func.now(),
                enqueued_at=func.now(),
                scheduled_for=scheduled_for,
                retry_of=retry_of,
                lost_retries=lost_retries,
                changed=False,
                details={},
            )
            .on_conflict_do_nothing()
            .returning(RunRecord.id)
        )
        async with self.db.unit_of_work() as session:
            run_id = (await session.execute(statement)).scalar_one_or_none()
        if run_id is None:
            return None
        JOBS_ENQUEUED.labels(spec.name).inc()
        await self.send(run_id)
        return run_id

    async def send(self, run_id: int) -> bool:
        """Hand ``run_id`` to the broker; False (logged) when the broker cannot take it now: the
        run stays queued and the sweeper sends it again."""
        try:
            await self._kicker.kiq(run_id)
        except Exception as exc:  # any broker client error: the database still holds the run
            logger.warning("could not send run %d to the broker: %s: %s", run_id, type(exc).__name__, exc)
            return False
        async with self.db.unit_of_work() as session:
            await session.execute(update(RunRecord).where(RunRecord.id == run_id).values(sent_at=func.now()))
        return True


async def claim(db: Database, run_id: int, worker: str) -> QueuedRun | None:
    """Take a queued run for ``worker``; ``None`` when it is not queued any more (taken, lost, done)."""
    statement = (
        update(RunRecord)
        .where(RunRecord.id == run_id, RunRecord.status == "queued")
        .values(
            status="running", outcome="running", worker=worker, heartbeat_at=func.now(), started_at=func.now()
        )
        .returning(
            RunRecord.id,
            RunRecord.job,
            RunRecord.params,
            RunRecord.trigger,
            RunRecord.enqueued_at,
            RunRecord.started_at,
        )
    )
    async with db.unit_of_work() as session:
        row = (await session.execute(statement)).one_or_none()
    if row is None:
        return None
    return QueuedRun(row.id, row.job, row.params or {}, row.trigger, row.enqueued_at, row.started_at)


async def fail_claimed(db: Database, run_id: int, worker: str, message: str) -> None:
    """End a claimed run that could not start (unknown job, refused parameters) as failed."""
    await records.finish_run(
        db,
        run_id,
        worker=worker,
        outcome="failed",
        finished_at=datetime.now(UTC),
        duration_seconds=0.0,
        attempts=None,
        changed=False,
        details={},
        error=message,
    )


async def beat(db: Database, process: JobProcess) -> None:
    """One heartbeat: the process row, and every run the process holds."""
    async with db.unit_of_work() as session:
        values = {
            "role": process.role,
            "queue": process.queue,
            "host": process.host,
            "pid": process.pid,
            "started_at": process.started_at,
            "heartbeat_at": func.now(),
            "active": process.active,
            "concurrency": process.concurrency,
            "running": list(process.running),
            "metrics_url": process.metrics_url,
        }
        statement = pg_insert(JobProcess).values(id=process.id, **values)
        await session.execute(statement.on_conflict_do_update(index_elements=["id"], set_=values))
        if process.running:
            await session.execute(
                update(RunRecord)
                .where(RunRecord.id.in_(process.running), RunRecord.worker == process.id)
                .values(heartbeat_at=func.now())
            )


async def leave(db: Database, process_id_: str) -> None:
    """Remove a process's row when it stops cleanly."""
    try:
        async with db.unit_of_work() as session:
            await session.execute(delete(JobProcess).where(JobProcess.id == process_id_))
    except CrossdockError as exc:
        logger.warning("could not remove process %s: %s", process_id_, exc.message)


@dataclass(frozen=True, slots=True)
class LostRun:
    id: int
    job: str
    params: Mapping[str, Any]
    worker: str | None
    lost_retries: int
    queued: bool


async def mark_lost(db: Database, silent_for: float) -> list[LostRun]:
    """Runs whose holder stopped heartbeating ``silent_for`` seconds ago: marked ``lost``, returned."""
    cutoff = func.now() - timedelta(seconds=silent_for)
    statement = (
        update(RunRecord)
        .where(
            RunRecord.status == "running",
            func.coalesce(RunRecord.heartbeat_at, RunRecord.started_at) < cutoff,
            RunRecord.worker.is_not(None),
        )
        .values(
            status="lost",
            outcome="lost",
            finished_at=func.now(),
            error=f"lost: the process running it stopped heartbeating for {silent_for:g} s",
        )
        .returning(
            RunRecord.id,
            RunRecord.job,
            RunRecord.params,
            RunRecord.worker,
            RunRecord.lost_retries,
            RunRecord.enqueued_at,
        )
    )
    async with db.unit_of_work() as session:
        rows = (await session.execute(statement)).all()
    lost = [
        LostRun(row.id, row.job, row.params or {}, row.worker, row.lost_retries, row.enqueued_at is not None)
        for row in rows
    ]
    for run in lost:
        LOST_RUNS.labels(run.job).inc()
        logger.warning("run %d of %s lost: %s stopped heartbeating", run.id, run.job, run.worker)
    return lost


async def stale_queued(db: Database, older_than: float, limit: int = 1000) -> list[int]:
    """Queued runs not sent, or sent ``older_than`` seconds ago and still not taken."""
    cutoff = func.now() - timedelta(seconds=older_than)
    statement = (
        select(RunRecord.id)
        .where(
            RunRecord.status == "queued",
            or_(
                and_(RunRecord.sent_at.is_(None), RunRecord.enqueued_at < cutoff),
                RunRecord.sent_at < cutoff,
            ),
        )
        .order_by(RunRecord.id)
        .limit(limit)
    )
    async with db.reader() as session:
        return list((await session.execute(statement)).scalars())


async def queue_depth(db: Database) -> int:
    """Runs queued and not yet taken by a worker (the database's count: the broker's may differ)."""
    async with db.reader() as session:
        value = await session.scalar(
            select(func.count()).select_from(RunRecord).where(RunRecord.status == "queued")
        )
    return int(value or 0)


async def processes(db: Database, queue: str) -> list[JobProcess]:
    """Every worker and scheduler row of ``queue``, newest heartbeat first."""
    async with db.reader() as session:
        found = await session.execute(
            select(JobProcess).where(JobProcess.queue == queue).order_by(JobProcess.heartbeat_at.desc())
        )
        return list(found.scalars())


async def database_now(db: Database) -> datetime:
    async with db.reader() as session:
        value = await session.scalar(select(func.now()))
    assert isinstance(value, datetime)
    return value


async def prune_processes(db: Database, older_than: float) -> None:
    """Forget processes whose last heartbeat is ``older_than`` seconds old (they died)."""
    cutoff = func.now() - timedelta(seconds=older_than)
    async with db.unit_of_work() as session:
        await session.execute(delete(JobProcess).where(JobProcess.heartbeat_at < cutoff))


def broker_unreachable(settings: Settings, exc: BaseException) -> UpstreamUnavailableError:
    url = settings.jobs.broker_url or ""
    return UpstreamUnavailableError(
        f"the broker at {shown_url(url)} is not reachable ({type(exc).__name__}: {exc}); "
        "check CROSSDOCK_BROKER_URL and that the broker runs",
        upstream="broker",
    )


ADVISORY_LOCK_SQL: Final = text("SELECT pg_try_advisory_lock(:key)")
