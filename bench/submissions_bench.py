"""Measure the submission engine: how much of a DSP account's limit it uses, and its memory.

What it does, all on 127.0.0.1 and bounded in time (issue 10's bench):

1. **rate** (once with ``--workers`` 1, once with 2): a throw-away PostgreSQL database (``db
   upgrade``), a queue of its own on Redis (``BENCH_REDIS_URL``), ``crossdock simulate dsp --limit
   L --window W`` (no faults, ``--processing-seconds`` 0.5) and ``--campaigns`` (500) campaigns of 5
   nodes stored before any worker starts, so that work never runs out. Then ``crossdock scheduler``
   and the workers start; the simulator's arrival log (``GET /_control/arrivals``) gives the
   accepted requests in the ``--duration`` (60 s) seconds from the first one: the achieved rate,
   its share of the limit ``L / W``, the most requests in any window of ``W`` seconds (must be ≤
   ``L``) and the simulator's ``over_limit`` counter (must be 0). Peak RSS of each worker
   (``VmHWM``).
2. **memory**: 2,000 campaigns (10,000 nodes) on a fast account (``--big-limit`` 2,000 per second)
   with one worker until every node is terminal: the time, the nodes per second, the worker's RSS
   sampled each second (at 10 %, 50 % and 100 % of the nodes done) and its peak.
3. writes ``submissions.json`` and ``submissions.md`` into ``--out``; every database, queue and
   Redis key it made is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import processes
from ingest_bench import create_postgres, drop_postgres, without_credentials
from processes import LOOPBACK, BenchError

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
CROSSDOCK = ROOT / ".venv" / "bin" / "crossdock"
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
READY_TIMEOUT = 60.0
MEMORY_TIMEOUT = 900.0


@dataclass
class RateResult:
    workers: int
    limit: int
    window: float
    duration: float
    accepted: int = 0
    rate: float = 0.0
    limit_rate: float = 0.0
    share: float = 0.0
    max_in_window: int = 0
    over_limit: int = 0
    rate_limited: int = 0
    duplicates: int = 0
    worker_peak_rss_mb: list[float] = field(default_factory=list)
    error: str | None = None


@dataclass
class MemoryResult:
    nodes: int
    limit: int
    seconds: float = 0.0
    nodes_per_second: float = 0.0
    states: dict[str, int] = field(default_factory=dict)
    rss_mb_at: dict[str, float] = field(default_factory=dict)
    peak_rss_mb: float = 0.0
    over_limit: int = 0
    duplicates: int = 0
    error: str | None = None


def campaign(number: int) -> Any:
    from crossdock.submissions.schemas import CampaignSubmission

    return CampaignSubmission.model_validate(
        {
            "dsp": "bench",
            "campaign": {
                "name": f"Bench {number}",
                "budget": 1000 + number,
                "start_date": "2027-01-01",
                "end_date": "2027-02-01",
                "objective": "reach",
                "ad_groups": [
                    {
                        "name": f"Group {number}-{group}",
                        "bid": 2.0,
                        "targeting": {"ages": ["18-24"], "interests": ["games"], "geo": ["FR"]},
                        "ads": [
                            {
                                "type": "banner",
                                "creative_url": f"https://cdn.example/{number}/{group}.png",
                                "click_url": f"https://shop.example/{number}/{group}",
                            }
                        ],
                    }
                    for group in range(2)
                ],
            },
        }
    )


async def store_campaigns(database_url: str, count: int) -> None:
    from crossdock.config import DatabaseSettings
    from crossdock.storage.database import create_database
    from crossdock.submissions import engine

    db = create_database(DatabaseSettings(url=database_url))
    try:
        semaphore = asyncio.Semaphore(8)

        async def one(number: int) -> None:
            async with semaphore:
                await engine.submit(db, campaign(number), known_dsps=["bench"])

        await asyncio.gather(*(one(number) for number in range(count)))
    finally:
        await db.dispose()


async def node_states(database_url: str) -> dict[str, int]:
    from sqlalchemy import func, select

    from crossdock.config import DatabaseSettings
    from crossdock.storage.database import create_database
    from crossdock.submissions.models import NodeRecord

    db = create_database(DatabaseSettings(url=database_url))
    try:
        async with db.reader() as session:
            rows = await session.execute(select(NodeRecord.state, func.count()).group_by(NodeRecord.state))
            return {str(state): int(count) for state, count in rows}
    finally:
        await db.dispose()


def rss_mb(pid: int, field_name: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field_name}:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def get_json(url: str) -> Any:
    status, body = processes.http_get(url, timeout=30)
    if status != 200:
        raise BenchError(f"GET {url} answered {status}")
    return json.loads(body)


class Deployment:
    """A DSP simulator, a database, a queue and the crossdock processes of one measure."""

    def __init__(self, tmp: Path, name: str, postgres_url: str, redis_url: str) -> None:
        self.tmp, self.name = tmp, name
        self.postgres_url, self.redis_url = postgres_url, redis_url
        self.queue = f"crossdock-bench-{os.getpid()}-{uuid.uuid4().hex[:8]}-{name}"
        self.key = f"bench-{secrets.token_hex(12)}"
        self.database_url = ""
        self.dsp_url = ""
        self.started: list[Any] = []

    def __enter__(self) -> Deployment:
        skipped, self.database_url = create_postgres(self.postgres_url)
        if skipped:
            raise BenchError(f"PostgreSQL {skipped}")
        return self

    def __exit__(self, *_exc: object) -> None:
        for process in reversed(self.started):
            processes.stop(process)
        if self.database_url:
            drop_postgres(self.postgres_url, self.database_url)
        import redis

        client = redis.Redis.from_url(self.redis_url)
        try:
            keys = [self.queue.encode(), *client.scan_iter(match=f"{self.queue}:*")]
            client.delete(*keys)
        finally:
            client.close()

    def env(self, limit: int, window: float, **extra: str) -> dict[str, str]:
        account = {
            "url": self.dsp_url,
            "api_key": self.key,
            "limit": limit,
            "window": window,
            "concurrency": 4,
        }
        base = {key: value for key, value in os.environ.items() if not key.startswith("CROSSDOCK_")}
        return {
            **base,
            "CROSSDOCK_DATABASE_URL": self.database_url,
            "CROSSDOCK_BROKER_URL": self.redis_url,
            "CROSSDOCK_JOBS_QUEUE": self.queue,
            "CROSSDOCK_VAR_DIR": str(self.tmp / f"var-{self.name}"),
            "CROSSDOCK_MARKETPLACE_SYNC_ENABLED": "false",
            "CROSSDOCK_SUBMISSIONS_DSPS": json.dumps({"bench": account}),
            "CROSSDOCK_SUBMISSIONS_ADVANCE_INTERVAL": "0.5",
            "CROSSDOCK_SUBMISSIONS_POLL_INTERVAL": "1",
            "CROSSDOCK_SUBMISSIONS_PASS_SECONDS": "30",
            "CROSSDOCK_LOG_LEVEL": "WARNING",
            **extra,
        }

    def start_dsp(self, limit: int, window: float, processing: float) -> None:
        port = processes.free_port()
        log = self.tmp / f"dsp-{self.name}.log"
        argv = [str(CROSSDOCK), "simulate", "dsp", "--port", str(port), "--limit", str(limit)]
        argv += ["--window", str(window), "--processing-seconds", str(processing), "--seed", "1"]
        env = {**os.environ, "CROSSDOCK_SIMULATOR_DSP_API_KEYS": self.key}
        process = processes.start(argv, log=log, env=env)
        self.started.append(process)
        self.dsp_url = f"http://{LOOPBACK}:{port}"
        processes.wait_until(
            "the DSP simulator",
            lambda: processes.http_get(f"{self.dsp_url}/health")[0] == 200,
            process=process,
            timeout=READY_TIMEOUT,
            log=log,
        )

    def migrate(self) -> None:
        import subprocess

        done = subprocess.run(
            [str(CROSSDOCK), "db", "upgrade"],
            env={**os.environ, "CROSSDOCK_DATABASE_URL": self.database_url},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise BenchError(f"crossdock db upgrade failed: {done.stderr[-500:]}")

    def start(self, role: str, env: dict[str, str]) -> Any:
        log = self.tmp / f"{role}-{self.name}-{len(self.started)}.log"
        process = processes.start([str(CROSSDOCK), role], log=log, env=env)
        self.started.append(process)
        return process

    def counters(self) -> dict[str, Any]:
        counters: dict[str, Any] = get_json(f"{self.dsp_url}/_control")["counters"]
        return counters


def max_in_any_window(times: list[float], window: float) -> int:
    best, start = 0, 0
    for end, moment in enumerate(times):
        while times[start] <= moment - window:
            start += 1
        best = max(best, end - start + 1)
    return best


def measure_rate(args: argparse.Namespace, tmp: Path, workers: int) -> RateResult:
    result = RateResult(workers=workers, limit=args.limit, window=args.window, duration=args.duration)
    with Deployment(tmp, f"rate{workers}", args.postgres_url, args.redis_url) as deployment:
        deployment.start_dsp(args.limit, args.window, processing=0.5)
        deployment.migrate()
        asyncio.run(store_campaigns(deployment.database_url, args.campaigns))
        env = deployment.env(args.limit, args.window)
        started = [deployment.start("worker", env) for _ in range(workers)]
        deployment.start("scheduler", env)
        peaks = {process.pid: 0.0 for process in started}
        first: float | None = None
        deadline = time.monotonic() + args.duration + args.window + READY_TIMEOUT
        while time.monotonic() < deadline:
            for process in started:
                if process.poll() is not None:
                    raise BenchError(f"a worker exited with code {process.returncode}")
                peaks[process.pid] = max(peaks[process.pid], rss_mb(process.pid, "VmHWM"))
            arrivals = get_json(f"{deployment.dsp_url}/_control/arrivals")["by_key"]
            accepted = next(iter(arrivals.values()))["accepted"]
            if accepted and first is None:
                first = time.monotonic()
            if first is not None and time.monotonic() - first > args.duration + 2:
                break
            time.sleep(1.0)
        arrivals = get_json(f"{deployment.dsp_url}/_control/arrivals")["by_key"]
        accepted = sorted(next(iter(arrivals.values()))["accepted"])
        if not accepted:
            raise BenchError("the DSP saw no request")
        t0 = accepted[0]
        inside = [moment for moment in accepted if moment < t0 + args.duration]
        counters = deployment.counters()
        result.accepted = len(inside)
        result.rate = round(len(inside) / args.duration, 2)
        result.limit_rate = round(args.limit / args.window, 2)
        result.share = round(result.rate / result.limit_rate, 4)
        result.max_in_window = max_in_any_window(accepted, args.window)
        result.over_limit = int(counters["over_limit"])
        result.rate_limited = int(counters["rate_limited"])
        result.duplicates = sum(counters["duplicates"].values())
        result.worker_peak_rss_mb = sorted(peaks.values())
        states = asyncio.run(node_states(deployment.database_url))
        if sum(count for state, count in states.items() if state not in {"pending"}) == 0:
            raise BenchError(f"nothing moved: {states}")
    return result


def measure_memory(args: argparse.Namespace, tmp: Path) -> MemoryResult:
    nodes = args.big_campaigns * 5
    result = MemoryResult(nodes=nodes, limit=args.big_limit)
    with Deployment(tmp, "memory", args.postgres_url, args.redis_url) as deployment:
        deployment.start_dsp(args.big_limit, 1.0, processing=0.2)
        deployment.migrate()
        asyncio.run(store_campaigns(deployment.database_url, args.big_campaigns))
        env = deployment.env(args.big_limit, 1.0, CROSSDOCK_SUBMISSIONS_POLL_INTERVAL="0.5")
        worker = deployment.start("worker", env)
        deployment.start("scheduler", env)
        started = time.monotonic()
        marks = {"10%": 0.1, "50%": 0.5, "100%": 1.0}
        terminal = {"completed", "error", "dead", "blocked", "cancelled"}
        samples: list[float] = []
        while time.monotonic() - started < MEMORY_TIMEOUT:
            if worker.poll() is not None:
                raise BenchError(f"the worker exited with code {worker.returncode}")
            samples.append(rss_mb(worker.pid))
            states = asyncio.run(node_states(deployment.database_url))
            done = sum(count for state, count in states.items() if state in terminal)
            for mark, share in marks.items():
                if mark not in result.rss_mb_at and done >= share * nodes:
                    result.rss_mb_at[mark] = samples[-1]
            if done >= nodes:
                break
            time.sleep(1.0)
        else:
            raise BenchError(f"{nodes} nodes not done within {MEMORY_TIMEOUT:.0f} s: {states}")
        result.seconds = round(time.monotonic() - started, 1)
        result.nodes_per_second = round(nodes / result.seconds, 1)
        result.states = states
        result.peak_rss_mb = rss_mb(worker.pid, "VmHWM")
        counters = deployment.counters()
        result.over_limit = int(counters["over_limit"])
        result.duplicates = sum(counters["duplicates"].values())
    return result


def attempt(what: str, action: Callable[[], Any], failed: Callable[[str], Any]) -> Any:
    try:
        return action()
    except BenchError as exc:
        print(f"  {what}: {exc}", file=sys.stderr)
        return failed(str(exc))


def markdown(args: argparse.Namespace, rates: list[RateResult], memory: MemoryResult) -> str:
    lines = [
        "### Submission engine",
        "",
        f"Rate: limit {args.limit} requests per {args.window:g} s (`{args.limit / args.window:g}` req/s), "
        f"{args.campaigns} campaigns of 5 nodes stored before the workers start, measured over the "
        f"{args.duration:g} s from the DSP's first accepted request (its arrival log).",
        "",
        "| workers | accepted in 60 s | rate (req/s) | share of the limit | most in any window (limit) "
        "| over limit | 429s | duplicates | worker peak RSS (MB) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for rate in rates:
        if rate.error:
            lines.append(f"| {rate.workers} | failed: {rate.error} |||||||")
            continue
        lines.append(
            f"| {rate.workers} | {rate.accepted} | {rate.rate} | **{rate.share:.1%}** | "
            f"{rate.max_in_window} ({rate.limit}) | {rate.over_limit} | {rate.rate_limited} | "
            f"{rate.duplicates} | {', '.join(f'{mb:g}' for mb in rate.worker_peak_rss_mb)} |"
        )
    lines += ["", f"Memory: {memory.nodes:,} nodes, one worker, limit {memory.limit} per second."]
    if memory.error:
        lines.append(f"failed: {memory.error}")
    else:
        at = ", ".join(f"{mark}: {mb:g} MB" for mark, mb in memory.rss_mb_at.items())
        lines.append(
            f"All terminal in {memory.seconds:g} s ({memory.nodes_per_second:g} nodes/s; {memory.states}); "
            f"worker RSS when {at}; peak RSS **{memory.peak_rss_mb:g} MB**; over limit "
            f"{memory.over_limit}, duplicates {memory.duplicates}."
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--campaigns", type=int, default=500)
    parser.add_argument("--big-campaigns", type=int, default=2000)
    parser.add_argument("--big-limit", type=int, default=2000)
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    args.postgres_url = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    args.redis_url = os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL)
    processes.stop_on_sigterm()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="crossdock-bench-submissions-") as name:
        tmp = Path(name)
        try:
            rates = [
                attempt(
                    f"{workers} worker(s)",
                    lambda workers=workers: measure_rate(args, tmp, workers),
                    lambda error, workers=workers: RateResult(
                        workers, args.limit, args.window, args.duration, error=error
                    ),
                )
                for workers in (1, 2)
            ]
            memory = (
                MemoryResult(nodes=0, limit=args.big_limit, error="skipped (--skip-memory)")
                if args.skip_memory
                else attempt(
                    "memory",
                    lambda: measure_memory(args, tmp),
                    lambda error: MemoryResult(args.big_campaigns * 5, args.big_limit, error=error),
                )
            )
        finally:
            processes.stop_all()
    record = {
        "postgres": without_credentials(args.postgres_url),
        "redis": args.redis_url,
        "rates": [asdict(rate) for rate in rates],
        "memory": asdict(memory),
    }
    (args.out / "submissions.json").write_text(json.dumps(record, indent=2))
    text = markdown(args, rates, memory)
    (args.out / "submissions.md").write_text(text)
    print(text)
    return 0 if all(rate.error is None for rate in rates) and memory.error is None else 1


if __name__ == "__main__":
    sys.exit(main())
