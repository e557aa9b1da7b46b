"""Measure the distributed job engine through each broker, and ``/search`` in distributed mode.

What it does, all on 127.0.0.1 and bounded in time (issue 9's bench):

1. creates a throw-away PostgreSQL database on the server of ``BENCH_POSTGRES_URL`` and runs
   ``crossdock db upgrade`` there (dropped at the end; the named database is never touched);
2. for each broker (Redis ``BENCH_REDIS_URL``, RabbitMQ ``BENCH_AMQP_URL``), on a queue of its own
   (``CROSSDOCK_JOBS_QUEUE=crossdock-bench-<pid>-<hex>-<broker>``):

   - **drain**: ``--burst`` (3,000) ``core.ping`` runs with distinct ``{"id": i}`` parameters are
     enqueued through :class:`crossdock.jobs.engine.Sender` by ``--enqueuers`` (16) concurrent
     coroutines of this process while no worker runs; then 2 ``crossdock worker --concurrency 16``
     processes start (no scheduler: nothing else enqueues, no sweeper re-sends): jobs/s = runs /
     (last ``finished_at`` - first ``started_at``), what the workers take alone;
   - **burst**: as many runs again, enqueued while the workers run: jobs/s = runs / (last
     ``finished_at`` - first ``enqueued_at``), read from the runs table once every run has ended;
   - **trickle**: ``--trickle-rate`` (20) runs a second for ``--trickle-seconds`` (10), one sent on
     each tick whatever the previous one is doing;
   - enqueue-to-start latency of the burst and the trickle (``started_at - enqueued_at`` of each run,
     p50/p99/max, the database's clock), the split between the workers, the runs the workers' own
     ``/metrics`` counted (``crossdock_job_runs_total``);
   - stops the workers (SIGTERM) and deletes what the queue left in the broker: the Redis list
     ``<queue>`` and keys ``<queue>:*``; RabbitMQ's queues ``<queue>`` and ``<queue>.dead_letter``
     and exchange ``<queue>``;

3. ``/search``: the marketplace simulator serves the search benchmark's static feed (2,000 x 3 x
   5); ``crossdock marketplace sync`` stores it in the same database; ``crossdock serve --workers 1``
   then ``--workers 2`` in distributed mode (``CROSSDOCK_BROKER_URL`` set: serving only) answer the
   mix of ``search_mix.lua`` under wrk exactly as ``search_bench.py`` measures it, beside nginx
   serving a static file of the mix's average size in the same run;
4. writes ``jobs.json`` and ``jobs.md`` (a Markdown fragment) into ``--out``.

An unreachable broker gives a "skipped (unreachable)" row instead of a failure. Run it through
``bench/run.sh jobs`` (which checks wrk and nginx and prints the summary).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import processes
import search_bench
from ingest_bench import create_postgres, drop_postgres, without_credentials
from processes import LOOPBACK, BenchError
from search_bench import Row

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
CROSSDOCK = ROOT / ".venv" / "bin" / "crossdock"

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
WORKERS = 2
BROKER_CONNECT_TIMEOUT = 5.0
WORKERS_READY_TIMEOUT = 60.0
RUNS_TIMEOUT = 300.0
STALL_SECONDS = 30.0
LOG_KEEP_BYTES = 2_000_000
CODE_ENV: dict[str, str] = {}  # PYTHONPATH of --code: another checkout's src for the child processes
SERVE_READY_TIMEOUT = 180.0
SYNC_TIMEOUT = 300.0
POLL_SECONDS = 0.1


@dataclass
class Batch:
    """The runs of one measure (burst or trickle), as the runs table tells them."""

    runs: int = 0
    succeeded: int = 0
    not_ended: int = 0
    enqueue_seconds: float = 0.0
    total_seconds: float = 0.0
    jobs_per_second: float = 0.0
    drain_per_second: float = 0.0
    enqueued_per_second: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p99_ms: float = 0.0
    latency_max_ms: float = 0.0
    per_worker: list[int] = field(default_factory=list)


@dataclass
class BrokerResult:
    name: str
    url: str
    queue: str
    skipped: str | None = None
    error: str | None = None
    drain: Batch | None = None
    burst: Batch | None = None
    trickle: Batch | None = None
    metrics_runs: int | None = None
    log_errors: int = 0
    log_bytes: int = 0
    cleanup: list[str] = field(default_factory=list)


# --- the database ------------------------------------------------------------------------------------


def migrate(url: str, log: Path) -> None:
    completed = subprocess.run(
        [str(CROSSDOCK), "db", "upgrade"],
        env={**os.environ, "CROSSDOCK_DATABASE_URL": url, **CODE_ENV},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    log.write_text(completed.stdout + completed.stderr)
    if completed.returncode != 0:
        raise BenchError(f"crossdock db upgrade failed (log: {log})")


def settings_for(database_url: str, broker_url: str, queue: str) -> Any:
    from crossdock.config import DatabaseSettings, JobsSettings, Settings

    jobs = JobsSettings(CROSSDOCK_BROKER_URL=broker_url, queue=queue)  # type: ignore[call-arg]
    return Settings(database=DatabaseSettings(url=database_url), jobs=jobs)


STATS_SQL = """
SELECT count(*) AS runs,
       count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
       count(*) FILTER (WHERE status IN ('queued', 'running')) AS not_ended,
       extract(epoch FROM max(enqueued_at) - min(enqueued_at)) AS enqueue_seconds,
       extract(epoch FROM max(finished_at) - min(enqueued_at)) AS total_seconds,
       extract(epoch FROM max(finished_at) - min(started_at)) AS run_seconds,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - enqueued_at)) AS p50,
       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM started_at - enqueued_at)) AS p99,
       max(extract(epoch FROM started_at - enqueued_at)) AS max
FROM runs WHERE id = ANY(:ids)
"""


async def batch_figures(db: Any, ids: list[int]) -> Batch:
    from sqlalchemy import text

    async with db.reader() as session:
        row = (await session.execute(text(STATS_SQL), {"ids": ids})).one()
        split = (
            await session.execute(
                text("SELECT count(*) FROM runs WHERE id = ANY(:ids) GROUP BY worker ORDER BY 1 DESC"),
                {"ids": ids},
            )
        ).scalars()
        per_worker = [int(n) for n in split]
    total = float(row.total_seconds or 0.0)
    running = float(row.run_seconds or 0.0)
    enqueue = float(row.enqueue_seconds or 0.0)
    return Batch(
        runs=int(row.runs),
        succeeded=int(row.succeeded),
        not_ended=int(row.not_ended),
        enqueue_seconds=round(enqueue, 3),
        total_seconds=round(total, 3),
        jobs_per_second=round(int(row.succeeded) / total, 1) if total > 0 else 0.0,
        drain_per_second=round(int(row.succeeded) / running, 1) if running > 0 else 0.0,
        enqueued_per_second=round(int(row.runs) / enqueue, 1) if enqueue > 0 else 0.0,
        latency_p50_ms=round(float(row.p50 or 0.0) * 1000, 2),
        latency_p99_ms=round(float(row.p99 or 0.0) * 1000, 2),
        latency_max_ms=round(float(row.max or 0.0) * 1000, 2),
        per_worker=per_worker,
    )


async def wait_ended(db: Any, ids: list[int], *, within: float, workers: list[Any]) -> None:
    from sqlalchemy import text

    deadline = time.monotonic() + within
    statement = text("SELECT count(*) FROM runs WHERE id = ANY(:ids) AND status IN ('queued', 'running')")
    progress_at, last_left = time.monotonic(), len(ids) + 1
    while True:
        async with db.reader() as session:
            left = int((await session.scalar(statement, {"ids": ids})) or 0)
        if left == 0:
            return
        now = time.monotonic()
        if left < last_left:
            progress_at, last_left = now, left
        for worker in workers:
            if worker.poll() is not None:
                raise BenchError(f"a worker exited with code {worker.returncode} ({left} runs not ended)")
        if now > deadline:
            raise BenchError(f"{left} of {len(ids)} runs not ended after {within:.0f} s")
        if now - progress_at > STALL_SECONDS:
            raise BenchError(f"no run ended for {STALL_SECONDS:.0f} s ({left} of {len(ids)} not ended)")
        await asyncio.sleep(POLL_SECONDS)


async def wait_workers(db: Any, queue: str, count: int, workers: list[Any], logs: list[Path]) -> list[str]:
    """Wait until ``count`` workers of ``queue`` beat; their metrics URLs."""
    from sqlalchemy import text

    deadline = time.monotonic() + WORKERS_READY_TIMEOUT
    statement = text("SELECT metrics_url FROM job_processes WHERE queue = :queue AND role = 'worker'")
    while True:
        async with db.reader() as session:
            urls = [str(url) for url in (await session.execute(statement, {"queue": queue})).scalars()]
        if len(urls) >= count:
            return urls
        for worker, log in zip(workers, logs, strict=True):
            if worker.poll() is not None:
                raise BenchError(f"a worker exited with code {worker.returncode} (log: {log})")
        if time.monotonic() > deadline:
            raise BenchError(f"only {len(urls)} of {count} workers beat within {WORKERS_READY_TIMEOUT:.0f} s")
        await asyncio.sleep(0.2)


# --- brokers -----------------------------------------------------------------------------------------


async def broker_reachable(url: str) -> str | None:
    """None when the broker answers, else why not."""
    try:
        if url.startswith("redis"):
            from redis.asyncio import Redis

            client = Redis.from_url(url, socket_connect_timeout=BROKER_CONNECT_TIMEOUT)
            try:
                await asyncio.wait_for(client.ping(), BROKER_CONNECT_TIMEOUT)
            finally:
                await client.aclose()
        else:
            import aio_pika

            connection = await asyncio.wait_for(aio_pika.connect(url), BROKER_CONNECT_TIMEOUT)
            await connection.close()
    except Exception as exc:  # any client error: the broker is not usable here
        return f"{type(exc).__name__}: {exc}"
    return None


async def delete_redis_keys(redis_url: str, queue: str) -> list[str]:
    """Delete the list ``queue`` and every key ``queue:*``; what was deleted."""
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url, socket_connect_timeout=BROKER_CONNECT_TIMEOUT)
    try:
        keys = [queue.encode()] + [key async for key in client.scan_iter(match=f"{queue}:*")]
        found = [key.decode() for key in keys if await client.exists(key)]
        if found:
            await client.delete(*found)
        return [f"redis key {key}" for key in found]
    finally:
        await client.aclose()


async def delete_rabbitmq_objects(amqp_url: str, queue: str) -> list[str]:
    """Delete the queues ``queue`` and ``queue.dead_letter`` and the exchange ``queue``."""
    import aio_pika

    deleted = []
    connection = await asyncio.wait_for(aio_pika.connect(amqp_url), BROKER_CONNECT_TIMEOUT)
    try:
        for name in (queue, f"{queue}.dead_letter"):
            channel = await connection.channel()
            try:
                await channel.queue_delete(name)
                deleted.append(f"rabbitmq queue {name}")
            except Exception as exc:  # already gone: a closed channel says so
                print(f"  could not delete queue {name}: {exc}", file=sys.stderr)
            with contextlib.suppress(Exception):
                await channel.close()
        channel = await connection.channel()
        try:
            await channel.exchange_delete(queue)
            deleted.append(f"rabbitmq exchange {queue}")
        except Exception as exc:
            print(f"  could not delete exchange {queue}: {exc}", file=sys.stderr)
        with contextlib.suppress(Exception):
            await channel.close()
    finally:
        await connection.close()
    return deleted


async def server_versions(database_url: str, redis_url: str, amqp_url: str) -> dict[str, str]:
    """The versions of the servers and of the broker libraries, for the report."""
    from importlib.metadata import version

    from sqlalchemy import text

    from crossdock.config import DatabaseSettings
    from crossdock.storage import create_database

    found = {name: version(name) for name in ("taskiq", "taskiq-redis", "taskiq-aio-pika")}
    db = create_database(DatabaseSettings(url=database_url))
    try:
        async with db.reader() as session:
            found["PostgreSQL"] = str(await session.scalar(text("SHOW server_version"))).split()[0]
    finally:
        await db.dispose()
    with contextlib.suppress(Exception):
        from redis.asyncio import Redis

        client = Redis.from_url(redis_url, socket_connect_timeout=BROKER_CONNECT_TIMEOUT)
        try:
            found["Redis"] = str((await client.info("server"))["redis_version"])
        finally:
            await client.aclose()
    with contextlib.suppress(Exception):
        import aio_pika

        connection = await asyncio.wait_for(aio_pika.connect(amqp_url), BROKER_CONNECT_TIMEOUT)
        try:
            properties = connection.transport.connection.server_properties  # type: ignore[union-attr]
            raw = properties.get("version", b"?")
            found["RabbitMQ"] = raw.decode() if isinstance(raw, bytes) else str(raw)
        finally:
            await connection.close()
    return found


def metrics_runs(urls: list[str]) -> int:
    """``crossdock_job_runs_total`` of core.ping, summed over the workers' /metrics."""
    total = 0.0
    pattern = re.compile(
        r'^crossdock_job_runs_total\{job="core\.ping",outcome="success"\} ([0-9.e+]+)$', re.M
    )
    for url in urls:
        status, body = processes.http_get(url, timeout=10)
        if status != 200:
            raise BenchError(f"{url} answered {status}")
        total += sum(float(value) for value in pattern.findall(body.decode()))
    return int(total)


# --- one broker --------------------------------------------------------------------------------------


async def enqueue_all(sender: Any, spec: Any, ids: list[int], concurrency: int) -> list[int]:
    """Enqueue one ``core.ping`` per id with ``concurrency`` coroutines; the run ids."""
    source = iter(ids)
    run_ids: list[int] = []

    async def enqueuer() -> None:
        for i in source:
            run_id = await sender.enqueue(spec, {"id": i}, trigger="cli")
            if run_id is None:
                raise BenchError(f"run of id {i} not queued: its slot is taken")
            run_ids.append(run_id)

    await asyncio.gather(*(enqueuer() for _ in range(concurrency)))
    return run_ids


async def enqueue_paced(sender: Any, spec: Any, ids: list[int], rate: float) -> list[int]:
    """One ``core.ping`` every ``1/rate`` seconds, each sent on its tick whatever the others do."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks = []
    for k, i in enumerate(ids):
        await asyncio.sleep(max(0.0, start + k / rate - loop.time()))
        tasks.append(asyncio.create_task(sender.enqueue(spec, {"id": i}, trigger="cli")))
    run_ids = await asyncio.gather(*tasks)
    if any(run_id is None for run_id in run_ids):
        raise BenchError("a trickle run was not queued: its slot is taken")
    return [int(run_id) for run_id in run_ids]


async def measure_broker(
    args: argparse.Namespace,
    result: BrokerResult,
    database_url: str,
    start_workers: Callable[[], list[Any]],
    logs: list[Path],
    ids: itertools.count[int],
) -> list[Any]:
    """The three measures of one broker; the worker processes it started."""
    from crossdock.jobs import engine
    from crossdock.jobs.builtin import PING
    from crossdock.storage import create_database

    settings = settings_for(database_url, result.url, result.queue)
    db = create_database(settings.database)
    # Startup declares RabbitMQ's exchange and queues: messages sent before a worker runs are kept.
    broker = engine.build_broker(settings)
    workers: list[Any] = []
    try:
        await broker.startup()
        sender = engine.Sender(settings, db, broker)

        # Drain: the queue filled first, then the workers started (what they take per second alone).
        drain = await enqueue_all(sender, PING, [next(ids) for _ in range(args.burst)], args.enqueuers)
        workers.extend(start_workers())
        metrics_urls = await wait_workers(db, result.queue, WORKERS, workers, logs)
        await wait_ended(db, drain, within=RUNS_TIMEOUT, workers=workers)
        result.drain = await batch_figures(db, drain)
        print(
            f"  {result.name} drain: {len(drain):,} runs queued at {result.drain.enqueued_per_second:,.0f}/s "
            f"with no worker, then taken at {result.drain.drain_per_second:,.0f} jobs/s"
        )

        # Burst: enqueued while the workers run; all ended = last finished_at - first enqueued_at.
        started = time.monotonic()
        burst = await enqueue_all(sender, PING, [next(ids) for _ in range(args.burst)], args.enqueuers)
        await wait_ended(db, burst, within=RUNS_TIMEOUT, workers=workers)
        result.burst = await batch_figures(db, burst)
        print(
            f"  {result.name} burst: {len(burst):,} runs ended {time.monotonic() - started:.1f} s after the "
            f"first enqueue; {result.burst.jobs_per_second:,.0f} jobs/s, start latency p50 "
            f"{result.burst.latency_p50_ms:,.0f} ms, p99 {result.burst.latency_p99_ms:,.0f} ms"
        )

        trickle_ids = [next(ids) for _ in range(round(args.trickle_rate * args.trickle_seconds))]
        trickle = await enqueue_paced(sender, PING, trickle_ids, args.trickle_rate)
        await wait_ended(db, trickle, within=RUNS_TIMEOUT, workers=workers)
        result.trickle = await batch_figures(db, trickle)
        print(
            f"  {result.name} trickle: {len(trickle)} runs at {args.trickle_rate:g}/s; start latency p50 "
            f"{result.trickle.latency_p50_ms:.1f} ms, p99 {result.trickle.latency_p99_ms:.1f} ms"
        )
        result.metrics_runs = metrics_runs(metrics_urls)
    finally:
        with contextlib.suppress(Exception):
            await broker.shutdown()
        await db.dispose()
    return workers


def run_broker(
    args: argparse.Namespace,
    result: BrokerResult,
    database_url: str,
    tmp: Path,
    out: Path,
    ids: itertools.count[int],
) -> None:
    why = asyncio.run(broker_reachable(result.url))
    if why is not None:
        print(f"  {result.name} unreachable at {without_credentials(result.url)}: {why}", file=sys.stderr)
        result.skipped = "skipped (unreachable)"
        return
    env = {
        **os.environ,
        "CROSSDOCK_DATABASE_URL": database_url,
        "CROSSDOCK_VAR_DIR": str(tmp / "var"),
        "CROSSDOCK_BROKER_URL": result.url,
        "CROSSDOCK_REDIS_URL": args.redis_url,
        "CROSSDOCK_JOBS_QUEUE": result.queue,
        **CODE_ENV,
    }
    tag = result.name.lower()
    logs = [out / f"jobs-{tag}-worker{n}.log" for n in range(1, WORKERS + 1)]
    argv = [
        str(CROSSDOCK),
        "worker",
        "--concurrency",
        str(args.concurrency),
        "--metrics-host",
        LOOPBACK,
        "--metrics-port",
        "0",
    ]
    started: list[Any] = []

    def start_workers() -> list[Any]:
        started.extend(processes.start(argv, log=log, env=env) for log in logs)
        return list(started)

    try:
        asyncio.run(measure_broker(args, result, database_url, start_workers, logs, ids))
    except BenchError as exc:
        result.error = str(exc)
        print(f"  {result.name}: FAILED: {exc}", file=sys.stderr)
    finally:
        for worker in started:
            processes.stop(worker)
        kept = [log for log in logs if log.exists()]
        result.log_bytes = sum(log.stat().st_size for log in kept)
        result.log_errors = sum(search_bench.count_log_errors(log) for log in kept)
        for log in kept:
            shorten(log)
        try:
            result.cleanup = asyncio.run(clean_broker(args, result))
        except Exception as exc:
            result.cleanup = [f"FAILED: {type(exc).__name__}: {exc}"]
        print(f"  {result.name}: deleted {', '.join(result.cleanup) or 'nothing (nothing left)'}")


def shorten(log: Path) -> None:
    """Keep the head and tail of a log larger than ``LOG_KEEP_BYTES`` (a worker in a retry loop)."""
    size = log.stat().st_size
    if size <= LOG_KEEP_BYTES:
        return
    with log.open("rb") as source:
        head = source.read(LOG_KEEP_BYTES // 2)
        source.seek(size - LOG_KEEP_BYTES // 2)
        tail = source.read()
    marker = f"\n[... {size - len(head) - len(tail):,} bytes cut by jobs_bench.py ...]\n".encode()
    log.write_bytes(head + marker + tail)


async def clean_broker(args: argparse.Namespace, result: BrokerResult) -> list[str]:
    deleted = []
    if result.url.startswith("amqp"):
        deleted += await delete_rabbitmq_objects(result.url, result.queue)
    # The workers' shared limits live under "<queue>:" in the Redis of CROSSDOCK_REDIS_URL.
    deleted += await delete_redis_keys(args.redis_url, result.queue)
    return deleted


# --- /search in distributed mode ---------------------------------------------------------------------


def sync_catalogue(database_url: str, feed_url: str, tmp: Path, log: Path) -> dict[str, Any]:
    """``crossdock marketplace sync --json`` into the database (in this command: no broker set)."""
    completed = subprocess.run(
        [str(CROSSDOCK), "marketplace", "sync", "--json"],
        env={
            **os.environ,
            "CROSSDOCK_DATABASE_URL": database_url,
            "CROSSDOCK_VAR_DIR": str(tmp / "var"),
            "CROSSDOCK_MARKETPLACE_PROVIDER_URL": feed_url,
            **CODE_ENV,
        },
        capture_output=True,
        text=True,
        timeout=SYNC_TIMEOUT,
        check=False,
    )
    log.write_text(completed.stdout + completed.stderr)
    if completed.returncode != 0:
        raise BenchError(f"crossdock marketplace sync failed (log: {log})")
    summary: dict[str, Any] = json.loads(completed.stdout)
    return summary


def bench_serve(
    args: argparse.Namespace,
    *,
    workers: int,
    database_url: str,
    feed_url: str,
    paths: list[str],
    tmp: Path,
    out: Path,
) -> tuple[Row, list[int], bytes, int]:
    port = processes.free_port()
    log = out / f"jobs-serve-w{workers}.log"
    env = {
        **os.environ,
        "CROSSDOCK_DATABASE_URL": database_url,
        "CROSSDOCK_VAR_DIR": str(tmp / "var"),
        "CROSSDOCK_BROKER_URL": args.redis_url,
        "CROSSDOCK_JOBS_QUEUE": f"crossdock-bench-{os.getpid()}-serve",
        "CROSSDOCK_MARKETPLACE_PROVIDER_URL": feed_url,
        "CROSSDOCK_MARKETPLACE_SYNC_INTERVAL": "3600",
        **CODE_ENV,
    }
    argv = [str(CROSSDOCK), "serve", "--host", LOOPBACK, "--port", str(port), "--workers", str(workers)]
    base = f"http://{LOOPBACK}:{port}"
    with processes.running(argv, log=log, env=env) as process:
        started = time.monotonic()
        plans = search_bench.wait_searchable(base, process, log)
        print(
            f"  serve --workers {workers} (distributed): {plans} searchable plans after "
            f"{time.monotonic() - started:.1f} s"
        )
        sizes, largest = search_bench.measure_bodies(base, paths)
        search_bench.run_wrk(
            base, seconds=args.warmup, connections=args.connections, threads=args.threads, output=None
        )
        result = search_bench.run_wrk(
            base,
            seconds=args.duration,
            connections=args.connections,
            threads=args.threads,
            output=out / f"jobs-search-wrk-serve-w{workers}.txt",
        )
        if process.poll() is not None:
            raise BenchError(f"crossdock serve exited during the run (log: {log})")
    row = Row(
        f"crossdock serve --workers {workers} (distributed, PostgreSQL)",
        workers,
        result,
        search_bench.count_log_errors(log),
    )
    return row, sizes, largest, plans


def bench_search(args: argparse.Namespace, database_url: str, tmp: Path, out: Path) -> dict[str, Any]:
    paths = search_bench.read_mix(search_bench.MIX_SCRIPT)
    feed_url, _process, _waited = processes.start_generated_simulator(
        CROSSDOCK,
        base_events=args.base_events,
        sessions_per_event=args.sessions_per_event,
        zones_per_session=args.zones_per_session,
        var_dir=tmp / "var",
        log=out / "jobs-simulator.log",
        timeout=120.0,
    )
    summary = sync_catalogue(database_url, feed_url, tmp, out / "jobs-sync.log")
    print(f"  catalogue synced into PostgreSQL: {summary.get('inserted', '?')} sessions inserted")
    services: list[Row] = []
    all_sizes: list[int] = []
    sample = b""
    plans = 0
    for workers in (1, 2):
        row, sizes, sample, plans = bench_serve(
            args, workers=workers, database_url=database_url, feed_url=feed_url, paths=paths, tmp=tmp, out=out
        )
        all_sizes = all_sizes or sizes
        services.append(row)
        print(f"  {row.server}: {row.result.requests_per_second:,.0f} req/s, p99 {row.result.p99_ms:.2f} ms")
    mean_size = round(statistics.fmean(all_sizes))
    nginx_out = out / "nginx"
    nginx_out.mkdir(exist_ok=True)
    nginx = search_bench.bench_nginx(args, body_size=mean_size, sample=sample, tmp=tmp, out=nginx_out)
    print(
        f"  {nginx.server}: {nginx.result.requests_per_second:,.0f} req/s, p99 {nginx.result.p99_ms:.2f} ms"
    )
    return {
        "searchable_plans": plans,
        "sync": summary,
        "body_sizes": {
            "count": len(all_sizes),
            "mean": statistics.fmean(all_sizes),
            "median": statistics.median(all_sizes),
            "min": min(all_sizes),
            "max": max(all_sizes),
        },
        "nginx": asdict(nginx),
        "services": [asdict(row) for row in services],
    }


# --- report ------------------------------------------------------------------------------------------


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"### Job engine: `core.ping` through each broker ({WORKERS} x `crossdock worker --concurrency "
        f"{report['concurrency']}`, PostgreSQL; code: {report['code']})",
        "",
        f"Runs with distinct parameters enqueued through `Sender` by {report['enqueuers']} concurrent "
        "coroutines of one process. **Drain**: "
        f"{report['burst']:,} runs queued with no worker running, then the workers started: jobs/s = runs / "
        "(last `finished_at` - first `started_at`). **Burst**: "
        f"{report['burst']:,} more enqueued while the workers run: jobs/s = runs / (last `finished_at` - "
        f"first `enqueued_at`). **Trickle**: {report['trickle_rate']:g} runs/s for "
        f"{report['trickle_seconds']:g} s, each sent on its tick. Start latency = `started_at - "
        "enqueued_at` of each run (the database's clock). No scheduler ran (no sweeper re-sends).",
        "",
        "| Broker | Enqueued/s (no worker) | Drain jobs/s | Burst: all ended s | Burst jobs/s | "
        "Burst start p50 ms | p99 ms | max ms | Burst per worker | Trickle start p50 ms | p99 ms | max ms | "
        "Not succeeded | /metrics runs | ERROR lines |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for broker in report["brokers"]:
        d, b, t = broker["drain"], broker["burst"], broker["trickle"]
        if broker["skipped"] or d is None or b is None or t is None:
            why = broker["skipped"] or (
                f"FAILED: {broker['error']}; worker logs: {broker['log_bytes'] / 1e6:,.1f} MB, "
                f"{broker['log_errors']:,} ERROR lines"
            )
            lines.append(f"| {broker['name']} | {why} |" + " |" * 13)
            continue
        failed = sum(x["runs"] - x["succeeded"] for x in (d, b, t))
        lines.append(
            f"| {broker['name']} | {d['enqueued_per_second']:,.0f} | {d['drain_per_second']:,.0f} | "
            f"{b['total_seconds']:.2f} | {b['jobs_per_second']:,.0f} | "
            f"{b['latency_p50_ms']:,.0f} | {b['latency_p99_ms']:,.0f} | {b['latency_max_ms']:,.0f} | "
            f"{' / '.join(f'{n:,}' for n in b['per_worker'])} | {t['latency_p50_ms']:.1f} | "
            f"{t['latency_p99_ms']:.1f} | {t['latency_max_ms']:.1f} | {failed} | "
            f"{format(broker['metrics_runs'], ',') if broker['metrics_runs'] is not None else '-'} | "
            f"{broker['log_errors']} |"
        )
    lines += [
        "",
        "Brokers: "
        + "; ".join(f"{b['name']} `{b['url']}` (queue `{b['queue']}`)" for b in report["brokers"])
        + '. `/metrics runs`: `crossdock_job_runs_total{job="core.ping",outcome="success"}` summed '
        "over the workers' own `/metrics` (every run of the three measures). Left in the brokers and "
        "deleted afterwards: "
        + "; ".join(f"{b['name']}: {', '.join(b['cleanup']) or 'nothing'}" for b in report["brokers"])
        + ". Versions: "
        + ", ".join(f"{name} {value}" for name, value in report.get("versions", {}).items())
        + ".",
    ]
    search = report.get("search")
    if search is None:
        why = f"FAILED ({report['search_error']})" if report.get("search_error") else "not run (--no-search)"
        lines += ["", f"### Search in distributed mode: {why}"]
        return "\n".join(lines) + "\n"
    sizes = search["body_sizes"]
    nginx = search["nginx"]["result"]
    lines += [
        "",
        f"### Search in distributed mode: GET /search under wrk ({report['connections']} connections, "
        f"{report['threads']} threads, {report['duration']} s, {report['warmup']} s warm-up)",
        "",
        f"`crossdock serve` with `CROSSDOCK_BROKER_URL` set (serving only, LISTEN on `crossdock_changes`), "
        f"PostgreSQL; catalogue synced by `crossdock marketplace sync` from the search benchmark's feed "
        f"({search['searchable_plans']:,} searchable plans). Mix `all` of `search_mix.lua`: "
        f"{sizes['count']} queries, body size average {sizes['mean']:,.0f} B, median "
        f"{sizes['median']:,.0f} B.",
        "",
        "| Server | Req/s | MB/s | p50 ms | p90 ms | p99 ms | max ms | non-2xx | socket err | vs nginx |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in [search["nginx"], *search["services"]]:
        res = row["result"]
        ratio = (
            res["requests_per_second"] / nginx["requests_per_second"] if nginx["requests_per_second"] else 0.0
        )
        lines.append(
            f"| {row['server']} | {res['requests_per_second']:,.0f} | {res['megabytes_per_second']:,.0f} | "
            f"{res['p50_ms']:.2f} | {res['p90_ms']:.2f} | {res['p99_ms']:.2f} | {res['max_ms']:.1f} | "
            f"{res['non_2xx']} | {res['socket_errors'] + res['timeouts']} | {ratio:.0%} |"
        )
    errors = [f"{row['server']}: {row['log_errors']}" for row in search["services"] if row["log_errors"]]
    lines += [
        "",
        f"wrk, nginx, PostgreSQL, the brokers and the service share the machine's {os.cpu_count()} CPUs. "
        "ERROR lines in the service logs: " + ("; ".join(errors) if errors else "none") + ".",
    ]
    return "\n".join(lines) + "\n"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="Directory for raw outputs and jobs.md.")
    parser.add_argument("--postgres-url", default=os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--amqp-url", default=os.environ.get("BENCH_AMQP_URL", DEFAULT_AMQP_URL))
    parser.add_argument(
        "--brokers", default="redis,rabbitmq", help="Comma-separated: redis, rabbitmq (default both)."
    )
    parser.add_argument("--burst", type=int, default=3000, help="Runs of the burst.")
    parser.add_argument("--enqueuers", type=int, default=16, help="Concurrent enqueuing coroutines.")
    parser.add_argument("--concurrency", type=int, default=16, help="--concurrency of each worker.")
    parser.add_argument("--trickle-rate", type=float, default=20.0, help="Runs a second of the trickle.")
    parser.add_argument("--trickle-seconds", type=float, default=10.0)
    parser.add_argument("--no-search", action="store_true", help="Skip the /search part.")
    parser.add_argument(
        "--code",
        type=Path,
        default=os.environ.get("BENCH_CODE") or None,
        help="Run the crossdock processes on another checkout's src (PYTHONPATH); default: this one.",
    )
    parser.add_argument("--duration", type=int, default=10, help="Seconds of each measured wrk run.")
    parser.add_argument("--warmup", type=int, default=2, help="Seconds of the wrk warm-up run.")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--base-events", type=int, default=2000)
    parser.add_argument("--sessions-per-event", type=int, default=3)
    parser.add_argument("--zones-per-session", type=int, default=5)
    args = parser.parse_args()
    args.brokers = [b.strip() for b in args.brokers.split(",") if b.strip()]
    if set(args.brokers) - {"redis", "rabbitmq"}:
        parser.error("--brokers: redis, rabbitmq")
    for name in ("redis_url", "amqp_url"):
        host = urlsplit(getattr(args, name)).hostname
        if host not in (LOOPBACK, "localhost"):
            parser.error(f"--{name.replace('_', '-')}: only a loopback broker ({host} is not)")
    return args


def main() -> int:
    args = parse_args()
    processes.stop_on_sigterm()
    if args.code is not None:
        CODE_ENV["PYTHONPATH"] = str(args.code.resolve())
    if not args.no_search:
        if shutil.which("wrk") is None:
            raise BenchError("wrk not found (apt-get install -y wrk)")
        search_bench.nginx_binary()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    stamp = f"{os.getpid()}-{uuid.uuid4().hex[:6]}"
    urls = {"redis": args.redis_url, "rabbitmq": args.amqp_url}
    names = {"redis": "Redis", "rabbitmq": "RabbitMQ"}
    brokers = [BrokerResult(names[b], urls[b], f"crossdock-bench-{stamp}-{b}") for b in args.brokers]
    report: dict[str, Any] = {
        "burst": args.burst,
        "enqueuers": args.enqueuers,
        "concurrency": args.concurrency,
        "trickle_rate": args.trickle_rate,
        "trickle_seconds": args.trickle_seconds,
        "connections": args.connections,
        "threads": args.threads,
        "duration": args.duration,
        "warmup": args.warmup,
        "postgres": without_credentials(args.postgres_url),
        "code": str(args.code) if args.code else "this checkout",
    }
    skipped, database_url = create_postgres(args.postgres_url)
    if skipped:
        raise BenchError(f"PostgreSQL {skipped}: the distributed engine needs it")
    status = 0
    with tempfile.TemporaryDirectory(prefix="crossdock-bench-jobs-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            migrate(database_url, out / "jobs-upgrade.log")
            report["versions"] = asyncio.run(server_versions(database_url, args.redis_url, args.amqp_url))
            ids = itertools.count(1)
            for broker in brokers:
                run_broker(args, broker, database_url, tmp, out, ids)
                if broker.error:
                    status = 1
            if not args.no_search:
                try:
                    report["search"] = bench_search(args, database_url, tmp, out)
                except BenchError as exc:
                    report["search_error"] = str(exc)
                    print(f"  search: FAILED: {exc}", file=sys.stderr)
                    status = 1
        finally:
            processes.stop_all()
            drop_postgres(args.postgres_url, database_url)
    report["brokers"] = [{**asdict(b), "url": without_credentials(b.url)} for b in brokers]
    (out / "jobs.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "jobs.md").write_text(markdown(report))
    return status


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"jobs benchmark failed: {exc}", file=sys.stderr)
        sys.exit(1)
