"""The distributed job engine end to end: real `crossdock serve`, `worker` and `scheduler` processes on
a throw-away PostgreSQL database, with Redis and with RabbitMQ as the broker, killed with SIGKILL.

Every test runs once per broker. It uses a queue name of its own (which is also the prefix of every
Redis key the processes write) and deletes the queue, its keys and its database at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.cluster import HEARTBEAT_TIMEOUT, STANDBY_POLL, Cluster, cluster_factory
from tests.e2e.conftest import Simulator, clean_env, running_simulator

pytestmark = pytest.mark.postgres

SEARCH_ALL = {"starts_at": "2000-01-01T00:00:00Z", "ends_at": "2100-01-01T00:00:00Z"}


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("redis_url" if request.param == "redis" else "rabbitmq_url")
    return url


@pytest.fixture
def make_cluster(tmp_path: Path, broker_url: str, redis_url: str) -> Iterator[Any]:
    """Factory: ``make_cluster(**settings)``, a migrated throw-away database and a queue of its own."""
    with cluster_factory(tmp_path, broker_url, redis_url) as make:
        yield make


def _feed(*titles: str) -> bytes:
    """A provider feed with one online plan per title (all in 2030, one day apart)."""
    events = []
    for index, title in enumerate(titles, start=1):
        day = f"2030-01-{index:02d}"
        events.append(
            f'<base_event base_event_id="{1000 + index}" sell_mode="online" title="{title}">'
            f'<event event_start_date="{day}T20:00:00" event_end_date="{day}T22:00:00" '
            f'event_id="{2000 + index}" sell_from="2029-01-01T00:00:00" sell_to="{day}T19:00:00" '
            'sold_out="false"><zone zone_id="1" capacity="10" price="10.00" name="A" numbered="false"/>'
            "</event></base_event>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><eventList version="1.0"><output>'
        + "".join(events)
        + "</output></eventList>"
    ).encode()


def _titles(base: str) -> set[str]:
    response = httpx.get(f"{base}/search", params=SEARCH_ALL, timeout=5)
    assert response.status_code == 200, response.text
    return {event["title"] for event in response.json()["data"]["events"]}


def _pid_of(worker_id: str) -> int:
    # worker@host:pid:random
    return int(worker_id.rsplit(":", 2)[1])


def test_two_of_each_run_every_slot_once_and_both_apis_serve_changes_within_a_second(
    make_cluster: Any, simulator: Simulator
) -> None:
    cluster = make_cluster(
        CROSSDOCK_MARKETPLACE_PROVIDER_URL=simulator.feed_url,
        CROSSDOCK_MARKETPLACE_SYNC_ENABLED="true",
        CROSSDOCK_MARKETPLACE_SYNC_INTERVAL="2",
    )
    simulator.serve_body(_feed("round-0"))
    apis = [cluster.serve(), cluster.serve()]
    for _ in range(2):
        cluster.start("worker", "worker")
        cluster.start("scheduler", "scheduler")
    started = time.monotonic()
    latencies: list[float] = []
    titles = ["round-0"]
    round_number = 0
    while time.monotonic() - started < 30:
        round_number += 1
        titles.append(f"round-{round_number}")
        simulator.serve_body(_feed(*titles))
        # Watch both APIs at once until each serves the new plan; note when.
        seen: dict[str, datetime] = {}
        deadline = time.monotonic() + 15
        while len(seen) < len(apis) and time.monotonic() < deadline:
            for base in apis:
                if base not in seen and titles[-1] in _titles(base):
                    seen[base] = datetime.now(UTC)
            time.sleep(0.02)
        assert len(seen) == len(apis), f"round {round_number} not served by {set(apis) - set(seen)}"
        for base, at in seen.items():
            # The run that stored it: the latest run that changed data and ended before it was served
            # (the feed changes once per round, so no later run of the round changes anything).
            stored = cluster.rows(
                "SELECT max(finished_at) FROM runs WHERE job = 'marketplace.sync' AND changed "
                "AND status = 'succeeded' AND finished_at <= %s",
                at,
            )[0][0]
            assert stored is not None, f"{base} served round {round_number} before any run stored it"
            latencies.append((at - stored).total_seconds())
    assert round_number >= 5
    assert max(latencies) < 1.0, latencies

    runs = cluster.rows(
        "SELECT id, status, scheduled_for, started_at, finished_at, worker FROM runs "
        "WHERE job = 'marketplace.sync' AND trigger = 'schedule' ORDER BY scheduled_for"
    )
    slots = [row[2] for row in runs]
    assert len(slots) == len(set(slots)), "a schedule slot ran twice"
    assert all(row[1] == "succeeded" for row in runs[:-1]), runs
    # Once per 2-second slot, none skipped: consecutive slots are 2 s apart.
    gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(slots)}
    assert gaps == {2.0}, gaps
    assert len(runs) >= 12
    # No two runs overlap.
    ended = [row for row in runs if row[4] is not None]
    for earlier, later in itertools.pairwise(ended):
        assert earlier[4] <= later[3], (earlier, later)
    # Both workers took part.
    assert len({row[5] for row in runs}) == 2


def test_a_worker_killed_mid_sync_loses_its_run_and_the_other_runs_it_whole(
    make_cluster: Any, tmp_path: Path
) -> None:
    with running_simulator(
        tmp_path,
        "marketplace",
        "--scenario", "generated",
        "--base-events", "8000",
        "--sessions-per-event", "1",
        "--zones-per-session", "80",
        "--static",
    ) as (base, _process):  # fmt: skip
        cluster = make_cluster(CROSSDOCK_MARKETPLACE_PROVIDER_URL=f"{base}/api/events")
        api = cluster.serve()
        workers = {cluster.start("worker", "worker").pid, cluster.start("worker", "worker").pid}
        cluster.start("scheduler", "scheduler")
        seen_counts: set[int] = set()
        stored_counts: set[int] = set()
        stop_watching = threading.Event()

        def watch() -> None:
            ticks = 0
            while not stop_watching.is_set():
                stored_counts.add(cluster.rows("SELECT count(*) FROM marketplace_plans")[0][0])
                if ticks % 5 == 0:
                    with contextlib.suppress(httpx.HTTPError):
                        response = httpx.get(f"{api}/search", params=SEARCH_ALL, timeout=5)
                        seen_counts.add(len(response.json()["data"]["events"]))
                ticks += 1
                time.sleep(0.05)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        try:
            queued = cluster.cli("jobs", "run", "marketplace.sync")
            assert queued.returncode == 0, queued.stderr
            running = cluster.wait_for(
                lambda: cluster.rows("SELECT id, worker FROM runs WHERE status = 'running'"),
                timeout=15,
                what="the sync to start",
            )
            run_id, worker_id = running[0]
            time.sleep(2.0)  # well into the download and parse of ~60 MB
            assert cluster.rows("SELECT status FROM runs WHERE id = %s", run_id)[0][0] == "running"
            victim = _pid_of(worker_id)
            assert victim in workers
            os.kill(victim, signal.SIGKILL)
            killed_at = time.monotonic()
            cluster.wait_for(
                lambda: cluster.rows("SELECT 1 FROM runs WHERE id = %s AND status = 'lost'", run_id),
                timeout=HEARTBEAT_TIMEOUT + 5,
                what="the run to be marked lost",
            )
            assert time.monotonic() - killed_at < HEARTBEAT_TIMEOUT + 3
            retry = cluster.wait_for(
                lambda: cluster.rows(
                    "SELECT id, worker, status FROM runs WHERE retry_of = %s AND status = 'succeeded'", run_id
                ),
                timeout=60,
                what="the run to be run again",
            )[0]
            assert _pid_of(retry[1]) != victim
            stored = cluster.rows("SELECT count(*) FROM marketplace_plans")[0][0]
            assert stored > 7000  # the generated feed, less its deliberately invalid records
            served = cluster.wait_for(
                lambda: len(
                    httpx.get(f"{api}/search", params=SEARCH_ALL, timeout=5).json()["data"]["events"]
                ),
                timeout=5,
                what="/search to serve the new catalogue",
            )
        finally:
            stop_watching.set()
            watcher.join(timeout=10)
        # Never partial: the database held, and /search served, nothing, then everything.
        assert stored_counts <= {0, stored}, stored_counts
        assert seen_counts <= {0, served}, seen_counts


def test_killing_the_active_scheduler_hands_over_without_doubling_a_run(
    make_cluster: Any, simulator: Simulator
) -> None:
    cluster = make_cluster(
        CROSSDOCK_MARKETPLACE_PROVIDER_URL=simulator.feed_url,
        CROSSDOCK_MARKETPLACE_SYNC_ENABLED="true",
        CROSSDOCK_MARKETPLACE_SYNC_INTERVAL="1",
    )
    cluster.start("worker", "worker")
    schedulers = {cluster.start("scheduler", "scheduler").pid, cluster.start("scheduler", "scheduler").pid}
    active = cluster.wait_for(
        lambda: cluster.rows("SELECT id FROM job_processes WHERE role = 'scheduler' AND active"),
        timeout=10,
        what="an active scheduler",
    )
    assert len(active) == 1
    cluster.wait_for(
        lambda: cluster.rows("SELECT count(*) FROM runs WHERE status = 'succeeded'")[0][0] >= 3,
        timeout=10,
        what="three runs",
    )
    victim = _pid_of(active[0][0])
    assert victim in schedulers
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    successor = cluster.wait_for(
        lambda: [
            row
            for row in cluster.rows("SELECT id FROM job_processes WHERE role = 'scheduler' AND active")
            if _pid_of(row[0]) != victim
        ],
        timeout=10,
        what="the standby to take over",
    )
    takeover = time.monotonic() - killed_at
    # Documented: within CROSSDOCK_JOBS_STANDBY_POLL of the session's end (plus its first heartbeat).
    assert takeover < STANDBY_POLL + 1.5, takeover
    assert _pid_of(successor[0][0]) in schedulers
    time.sleep(4)
    slots = [row[0] for row in cluster.rows(
        "SELECT scheduled_for FROM runs WHERE job = 'marketplace.sync' AND trigger = 'schedule' "
        "ORDER BY scheduled_for"
    )]  # fmt: skip
    assert len(slots) == len(set(slots)), "a slot ran twice"
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(slots)]
    assert max(gaps) <= 2.0, gaps  # at most one slot skipped over the handover


def test_flushing_the_broker_loses_nothing(make_cluster: Any, broker_url: str, simulator: Simulator) -> None:
    cluster = make_cluster(CROSSDOCK_MARKETPLACE_PROVIDER_URL=simulator.feed_url)
    simulator.control(latency_ms=4000)  # one long sync holds the only worker slot
    cluster.start("worker", "worker", "--concurrency", "1")
    cluster.start("scheduler", "scheduler")
    assert cluster.cli("jobs", "run", "marketplace.sync").returncode == 0
    cluster.wait_for(
        lambda: cluster.rows("SELECT 1 FROM runs WHERE status = 'running'"),
        timeout=15,
        what="the sync to start",
    )
    pings = _enqueue_pings(cluster, 20)
    # Every ping waits in the broker behind the sync; now the broker forgets them.
    queue = cluster.env["CROSSDOCK_JOBS_QUEUE"]
    _flush_queue(broker_url, queue)
    statuses = cluster.wait_for(
        lambda: (
            rows
            if len(rows := cluster.rows("SELECT status FROM runs WHERE id = ANY(%s)", pings)) == len(pings)
            and all(row[0] == "succeeded" for row in rows)
            else None
        ),
        timeout=30,
        what="every flushed run to be sent again and run",
    )
    assert len(statuses) == 20
    sync = cluster.rows("SELECT status FROM runs WHERE job = 'marketplace.sync'")
    assert sync == [("succeeded",)]


def _enqueue_pings(cluster: Cluster, count: int) -> list[int]:
    script = (
        "import asyncio, sys\n"
        "from crossdock.config import get_settings\n"
        "from crossdock.jobs import engine\n"
        "from crossdock.jobs.builtin import PING\n"
        "from crossdock.storage import create_database\n"
        "async def main():\n"
        "    settings = get_settings()\n"
        "    db = create_database(settings.database)\n"
        "    broker = engine.build_broker(settings)\n"
        "    await broker.startup()\n"
        "    sender = engine.Sender(settings, db, broker)\n"
        f"    ids = [await sender.enqueue(PING, {{'id': i}}, trigger='cli') for i in range({count})]\n"
        "    await broker.shutdown()\n"
        "    await db.dispose()\n"
        "    print(' '.join(map(str, ids)))\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [int(value) for value in done.stdout.split()]


def _flush_queue(broker_url: str, queue: str) -> None:
    if broker_url.startswith("redis"):
        import redis

        client = redis.Redis.from_url(broker_url)
        try:
            assert client.llen(queue) > 0, "the runs should be waiting in the broker"
            client.delete(queue)
        finally:
            client.close()
        return
    import aio_pika

    async def purge() -> None:
        connection = await aio_pika.connect(broker_url, timeout=5)
        async with connection:
            channel = await connection.channel()
            declared = await channel.get_queue(queue, ensure=True)
            await declared.purge()

    asyncio.run(purge())


def test_four_workers_share_one_rate_limit(make_cluster: Any, tmp_path: Path) -> None:
    key = f"test-key-{uuid.uuid4().hex[:8]}"
    simulator_env = clean_env(CROSSDOCK_SIMULATOR_KRAKENFLEX_API_KEY=key)
    with running_simulator(tmp_path, "krakenflex", env=simulator_env) as (base, _process):
        sites = ["norwich-pear-tree", "kingfisher", *(f"no-such-site-{n}" for n in range(6))]
        cluster = make_cluster(
            CROSSDOCK_SITE_OUTAGES_BASE_URL=base,
            CROSSDOCK_SITE_OUTAGES_API_KEY=key,
            CROSSDOCK_SITE_OUTAGES_SITES=",".join(sites),
            CROSSDOCK_SITE_OUTAGES_INTERVAL="0.5",
            CROSSDOCK_HTTP_RATE_LIMIT="10",
            CROSSDOCK_HTTP_RATE_BURST="10",
        )
        for _ in range(4):
            cluster.start("worker", "worker", "--concurrency", "4")
        cluster.start("scheduler", "scheduler")
        cluster.wait_for(
            lambda: len(cluster.rows("SELECT DISTINCT worker FROM runs WHERE worker IS NOT NULL")) == 4,
            timeout=30,
            what="every worker to take runs",
        )
        time.sleep(6)
        cluster.stop_all()
        arrivals = httpx.get(f"{base}/_control/arrivals", timeout=5).json()
        posts = httpx.get(f"{base}/_control/posts", timeout=5).json()
    times = arrivals["times"]
    # Demand (8 sites every 0.5 s) is far above 10 requests/s: the limiter was what held it back.
    assert len(times) >= 50, len(times)
    assert arrivals["max_in_one_second"] <= 10, arrivals["max_in_one_second"]
    assert {post["site_id"] for post in posts if post["status"] == 200} == {"norwich-pear-tree", "kingfisher"}


def test_jobs_run_waits_for_a_worker_and_status_and_metrics_show_the_engine(make_cluster: Any) -> None:
    cluster = make_cluster()
    cluster.start("worker", "worker", "--concurrency", "2")
    cluster.start("scheduler", "scheduler")
    done = cluster.cli("jobs", "run", "core.ping", "--wait", "--timeout", "60")
    assert done.returncode == 0, done.stdout + done.stderr + cluster.logs()
    assert "queued" in done.stdout
    assert "succeeded" in done.stdout
    status = cluster.wait_for(
        lambda: (s := _status(cluster))["active_scheduler"] and s["workers"] and s,
        timeout=10,
        what="jobs status to show the worker and the active scheduler",
    )
    assert status["mode"] == "distributed"
    assert "guest:guest" not in str(status["broker"])  # a password is never shown
    assert status["queue_depth"] == 0
    (worker,) = status["workers"]
    assert worker["pid"] > 0
    assert worker["concurrency"] == 2
    assert worker["last_heartbeat_seconds_ago"] < 3
    ping = next(job for job in status["jobs"] if job["name"] == "core.ping")
    assert ping["last_status"] == "succeeded"
    worker_metrics = httpx.get(worker["metrics_url"], timeout=5).text
    assert 'crossdock_jobs_enqueue_to_start_seconds_count{job="core.ping"} 1.0' in worker_metrics
    assert 'crossdock_job_runs_total{job="core.ping",outcome="success"} 1.0' in worker_metrics
    assert 'crossdock_jobs_heartbeats_total{role="worker"}' in worker_metrics
    scheduler_metrics = httpx.get(status["active_scheduler"]["metrics_url"], timeout=5).text
    assert "crossdock_scheduler_active 1.0" in scheduler_metrics
    assert "crossdock_jobs_queue_depth 0.0" in scheduler_metrics


def _status(cluster: Cluster) -> dict[str, Any]:
    import json

    shown = cluster.cli("jobs", "status", "--json")
    assert shown.returncode == 0, shown.stderr
    status: dict[str, Any] = json.loads(shown.stdout)
    return status
