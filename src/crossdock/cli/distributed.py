"""The distributed engine's commands: ``crossdock worker``, ``crossdock scheduler``, and the distributed
halves of ``crossdock jobs run`` (enqueue, ``--wait``) and ``crossdock jobs status``.

Each process command runs until SIGTERM or SIGINT, serves its Prometheus metrics on its own port
(``--metrics-port``, 0: any free port; the URL is printed and shown by ``jobs status``) and exits 0
after a clean stop, 2 for settings that cannot work (no broker, SQLite), 6 when the broker (RabbitMQ;
a Redis broker connects on first use, then retries every second) or the shared-limits Redis is
unreachable at start, 8 when the database is.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

import typer
from prometheus_client import start_http_server
from sqlalchemy import select

from crossdock.config import Settings
from crossdock.errors import StorageError
from crossdock.jobs import engine, records
from crossdock.jobs.models import RunRecord
from crossdock.jobs.registry import JOBS
from crossdock.jobs.spec import JobSpec
from crossdock.storage import Database, create_database

TERMINAL = ("succeeded", "failed", "lost")


def serve_metrics(host: str, port: int) -> str:
    """Start the Prometheus exposition of this process on ``host:port`` (0: any); its URL."""
    server, _thread = start_http_server(port, addr=host)
    return f"http://{host}:{server.server_port}/metrics"


def run_until_signalled(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``main(stop)`` on a new event loop; SIGTERM and SIGINT set ``stop``."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(runner())


async def _ready_database(settings: Settings) -> Database:
    db = create_database(settings.database)
    try:
        await db.ping()
    except StorageError:
        await db.dispose()
        raise
    return db


async def install_coordination(settings: Settings) -> Callable[[], Awaitable[None]]:
    """Make every HTTP client of this process share its limits and breakers in Redis (checked to
    answer first); returns the closer."""
    from crossdock.httpclient import shared

    coordination = shared.coordination_from_settings(settings)
    if coordination is None:

        async def nothing() -> None:
            return None

        return nothing
    try:
        await coordination.ping()
    except BaseException:
        await coordination.aclose()
        raise
    shared.install_coordination(coordination)

    async def close() -> None:
        shared.install_coordination(None)
        await coordination.aclose()

    return close


def run_worker(settings: Settings, *, concurrency: int, grace: float, metrics_url: str | None) -> None:
    from crossdock.jobs.worker import Worker

    async def main(stop: asyncio.Event) -> None:
        db = await _ready_database(settings)
        try:
            close_coordination = await install_coordination(settings)
        except BaseException:
            await db.dispose()
            raise
        try:
            worker = Worker(settings, db, concurrency=concurrency, grace=grace, metrics_url=metrics_url)
            typer.echo(f"worker {worker.id}: queue {settings.jobs.queue}, concurrency {concurrency}")
            await worker.run(stop)
        finally:
            await close_coordination()
            await db.dispose()

    run_until_signalled(main)


def run_scheduler(settings: Settings, *, metrics_url: str | None) -> None:
    from crossdock.jobs.scheduler import Scheduler

    async def main(stop: asyncio.Event) -> None:
        db = await _ready_database(settings)
        broker = engine.build_broker(settings)
        try:
            try:
                await broker.startup()
            except Exception as exc:  # any broker client error at connection time
                raise engine.broker_unreachable(settings, exc) from exc
            scheduler = Scheduler(settings, db, engine.Sender(settings, db, broker), metrics_url=metrics_url)
            typer.echo(f"scheduler {scheduler.process.id}: queue {settings.jobs.queue}")
            await scheduler.run(stop)
        finally:
            with contextlib.suppress(Exception):
                await broker.shutdown()
            await db.dispose()

    run_until_signalled(main)


async def enqueue_runs(
    settings: Settings, db: Database, spec: JobSpec, targets: list[Mapping[str, Any]]
) -> list[tuple[int, bool]]:
    """Queue one run per target; each ``(run id, new)`` — an existing queued or running run of the
    same slot is returned with ``new`` False instead of a second one."""
    broker = engine.build_broker(settings)
    try:
        await broker.startup()
    except Exception as exc:  # any broker client error at connection time
        raise engine.broker_unreachable(settings, exc) from exc
    try:
        sender = engine.Sender(settings, db, broker)
        found: list[tuple[int, bool]] = []
        for params in targets:
            run_id = await sender.enqueue(spec, params, trigger="cli")
            if run_id is not None:
                found.append((run_id, True))
                continue
            subject = spec.subject_for(settings, params)
            async with db.reader() as session:
                active = await session.scalar(
                    select(RunRecord.id).where(
                        RunRecord.slot == records.slot_of(spec.name, subject),
                        RunRecord.status.in_(engine.ACTIVE_STATUSES),
                    )
                )
            if active is not None:
                found.append((int(active), False))
        return found
    finally:
        with contextlib.suppress(Exception):
            await broker.shutdown()


async def wait_for_runs(
    db: Database, run_ids: list[int], *, within: float, poll: float = 0.2
) -> list[RunRecord]:
    """Wait until every run has ended (succeeded, failed or lost) or ``within`` seconds pass; the records."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        async with db.reader() as session:
            found = list(
                (
                    await session.execute(
                        select(RunRecord).where(RunRecord.id.in_(run_ids)).order_by(RunRecord.id)
                    )
                )
                .scalars()
                .all()
            )
        if all(run.status in TERMINAL for run in found) or loop.time() >= deadline:
            return found
        await asyncio.sleep(poll)


def _age(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else round((now - then).total_seconds(), 1)


async def status_of(settings: Settings, db: Database) -> dict[str, Any]:
    """What ``crossdock jobs status`` shows, as JSON."""
    latest = await records.last_runs(db, [spec.name for spec in JOBS])
    jobs = [
        {
            "name": spec.name,
            "interval_seconds": spec.interval_for(settings),
            "last_run_id": run.id if run else None,
            "last_status": run.status if run else None,
            "last_outcome": run.outcome if run else None,
            "last_started_at": run.started_at.isoformat() if run else None,
            "last_error": run.error if run else None,
        }
        for spec in JOBS
        for run in [latest.get(spec.name)]
    ]
    status: dict[str, Any] = {
        "mode": "distributed" if settings.jobs.distributed else "embedded",
        "broker": engine.shown_url(settings.jobs.broker_url) if settings.jobs.broker_url else None,
        "queue": settings.jobs.queue,
        "jobs": jobs,
    }
    if not settings.jobs.distributed or db.is_sqlite:
        return status
    now = await engine.database_now(db)
    rows = await engine.processes(db, settings.jobs.queue)
    alive = [
        row for row in rows if (now - row.heartbeat_at).total_seconds() <= settings.jobs.heartbeat_timeout
    ]
    status["queue_depth"] = await engine.queue_depth(db)
    status["workers"] = [
        {
            "id": row.id,
            "host": row.host,
            "pid": row.pid,
            "last_heartbeat_seconds_ago": _age(now, row.heartbeat_at),
            "running": list(row.running),
            "concurrency": row.concurrency,
            "accepting": row.active,
            "metrics_url": row.metrics_url,
        }
        for row in alive
        if row.role == "worker"
    ]
    schedulers = [row for row in alive if row.role == "scheduler"]
    active = next((row for row in schedulers if row.active), None)
    status["active_scheduler"] = (
        None
        if active is None
        else {"id": active.id, "host": active.host, "pid": active.pid, "metrics_url": active.metrics_url}
    )
    status["standby_schedulers"] = [row.id for row in schedulers if not row.active]
    return status
