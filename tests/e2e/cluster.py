"""A distributed deployment for end-to-end tests: `crossdock serve`, `worker` and `scheduler` processes
on a throw-away PostgreSQL database and a broker queue of their own (its name is also the prefix of
every Redis key the processes write), all removed at the end."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from crossdock.storage.testing import create_throwaway_database, drop_throwaway_database
from tests.conftest import postgres_url
from tests.e2e.conftest import clean_env, wait_until_ready
from tests.support.processes import free_port, stop

HEARTBEAT_TIMEOUT = 3.0
STANDBY_POLL = 0.3


def psycopg_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass
class Cluster:
    """Processes of one distributed deployment, their logs, and SQL on its database."""

    tmp: Path
    env: dict[str, str]
    database_url: str
    processes: list[tuple[str, subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def start(self, name: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
        log = self.tmp / f"{name}-{len(self.processes)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "crossdock", *args],
                env={**self.env, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.tmp,
            )
        self.processes.append((name, process, log))
        return process

    def serve(self) -> str:
        port = free_port()
        process = self.start("serve", "serve", "--port", str(port))
        base = f"http://127.0.0.1:{port}"
        wait_until_ready(f"{base}/health", process, self.tmp / f"serve-{len(self.processes) - 1}.log")
        return base

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "crossdock", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.tmp,
        )

    def rows(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(psycopg_url(self.database_url), autocommit=True) as connection:
            return list(connection.execute(query, params).fetchall())

    def logs(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for _, _, log in self.processes)

    def wait_for(self, predicate: Any, *, timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(0.05)
        pytest.fail(f"timed out waiting for {what}; last value {last!r}\n{self.logs()}")

    def stop_all(self) -> None:
        for _, process, _ in reversed(self.processes):
            stop(process, timeout=15)


def delete_broker_data(broker_url: str, redis_url: str | None, queue: str) -> None:
    if redis_url:
        import redis

        client = redis.Redis.from_url(redis_url)
        try:
            keys = [queue.encode(), *client.scan_iter(match=f"{queue}:*")]
            client.delete(*keys)
        finally:
            client.close()
    if broker_url.startswith("amqp"):
        import aio_pika

        async def delete() -> None:
            connection = await aio_pika.connect(broker_url, timeout=5)
            async with connection:
                channel = await connection.channel()
                for name in (queue, f"{queue}.dead_letter"):
                    await channel.queue_delete(name)
                await channel.exchange_delete(queue)

        asyncio.run(delete())


@contextlib.contextmanager
def cluster_factory(tmp_path: Path, broker_url: str, redis_url: str) -> Iterator[Any]:
    """Factory: ``make(**settings)``, a migrated throw-away database and a queue of its own; every
    process stopped, the databases dropped and the queue's data deleted at the end."""
    server = postgres_url()
    assert server is not None  # the postgres mark and the broker fixtures need it
    made: list[Cluster] = []
    databases: list[str] = []
    queue = f"crossdock-test-{uuid.uuid4().hex[:10]}"

    def make(**settings: str) -> Cluster:
        database = asyncio.run(create_throwaway_database(server))
        databases.append(database)
        values = dict(
            CROSSDOCK_DATABASE_URL=database,
            CROSSDOCK_BROKER_URL=broker_url,
            CROSSDOCK_REDIS_URL=redis_url,
            CROSSDOCK_JOBS_QUEUE=queue,
            CROSSDOCK_JOBS_HEARTBEAT_INTERVAL="0.5",
            CROSSDOCK_JOBS_HEARTBEAT_TIMEOUT=str(HEARTBEAT_TIMEOUT),
            CROSSDOCK_JOBS_SWEEP_INTERVAL="0.5",
            CROSSDOCK_JOBS_REQUEUE_AFTER="2",
            CROSSDOCK_JOBS_STANDBY_POLL=str(STANDBY_POLL),
            CROSSDOCK_VAR_DIR=str(tmp_path / "var"),
            # Read models must follow the data by notification: polling alone would take 30 s.
            CROSSDOCK_API_READ_MODEL_POLL_INTERVAL="30",
            CROSSDOCK_MARKETPLACE_SYNC_ENABLED="false",
            CROSSDOCK_LOG_LEVEL="INFO",
        )
        values.update(settings)
        cluster = Cluster(tmp_path, clean_env(**values), database)
        made.append(cluster)
        migrated = cluster.cli("db", "upgrade")
        assert migrated.returncode == 0, migrated.stderr + migrated.stdout
        return cluster

    try:
        yield make
    finally:
        for cluster in made:
            cluster.stop_all()
        for database in databases:
            asyncio.run(drop_throwaway_database(server, database))
        delete_broker_data(broker_url, redis_url, queue)
