"""Load-test the controller-outages API of ``crossdock serve`` on SQLite and PostgreSQL.

What it does, all on 127.0.0.1 and bounded in time (issue 8's three figures):

1. **batch ingest**: ``POST /outages`` with arrays of 10,000 records (RFC 3339 timestamps): a
   realistic set of 10-minute series over 5,000 controllers, shuffled, 2 % of the records repeating
   others, posted by ``--clients`` keep-alive connections; reports/s = records posted / wall time
   of the whole posting;
2. **single records**: ``POST /outages`` with one record per request, every one distinct
   (``outages_post.lua``: each wrk thread's 1,000 controllers report every 10 minutes), wrk at 32
   connections: requests/s and latency percentiles;
3. **events**: 1,000,000 reports over 5,000 controllers (30 days of 10-minute series) loaded
   through the batch API (arrays of 10,000 in controller order, as a backfill would post them),
   then ``GET /events?controller_id=…&start_time=…&end_time=…`` for one controller over one day at
   64 connections (``outages_events.lua``, a different controller and day on each request), beside
   nginx serving a static file of the answers' average size with the same script.

Each part runs on a fresh SQLite file and on a throw-away PostgreSQL database created on the server
of ``BENCH_POSTGRES_URL`` (``crossdock db upgrade`` there, dropped at the end; the named database
is never touched). The service runs with the scheduler off (no upkeep pass during a measure).
Writes ``controller-outages.json`` and ``controller-outages.md`` into ``--out``.

Run it through ``bench/run.sh controller-outages`` (which checks wrk and nginx and prints the summary).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import processes
from ingest_bench import create_postgres, drop_postgres, without_credentials
from processes import LOOPBACK, BenchError

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
CROSSDOCK = ROOT / ".venv" / "bin" / "crossdock"
POST_SCRIPT = BENCH_DIR / "outages_post.lua"
EVENTS_SCRIPT = BENCH_DIR / "outages_events.lua"
DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"

TYPES = ("led_outage", "panel_outage", "temperature_outage")
TYPE_WEIGHTS = (6, 3, 1)
SERIES_START = int(datetime(2026, 9, 1, tzinfo=UTC).timestamp())  # the 30 days of the events data
INGEST_START = int(datetime(2026, 7, 1, tzinfo=UTC).timestamp())  # the batch-ingest data
POST_START = int(datetime(2026, 6, 1, tzinfo=UTC).timestamp())  # the single-record posts
DAYS = 30
SLOTS_PER_DAY = 144  # one report every 10 minutes
LOST_REPORTS = 0.03
BATCH = 10_000

INGEST_TARGET = 20_000.0  # reports/s on PostgreSQL
POST_TARGET_RPS = 1_000.0
POST_TARGET_P99_MS = 50.0
EVENTS_TARGET_P99_MS = 10.0
SERVE_READY_TIMEOUT = 120.0
POST_TIMEOUT = 600.0
CODE_ENV: dict[str, str] = {}  # PYTHONPATH of --code: another checkout's src (the code before a change)


@dataclass
class WrkResult:
    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int


@dataclass
class Backend:
    name: str
    url: str = ""
    skipped: str | None = None
    ingest: dict[str, Any] = field(default_factory=dict)
    post: dict[str, Any] = field(default_factory=dict)
    events: dict[str, Any] = field(default_factory=dict)


# --- data -----------------------------------------------------------------------------------------


def iso(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def series(*, controllers: int, reports: int, start: int, seed: int) -> list[dict[str, Any]]:
    """Distinct records of 10-minute outage series: ``reports / controllers`` per controller.

    Each controller reports at its own second of the 10-minute period; an outage of a random type
    lasts 30 minutes to 12 hours, starts anywhere in the 30 days, and loses 3 % of its reports.
    """
    rng = random.Random(seed)
    records: list[dict[str, Any]] = []
    for number in range(controllers):
        controller = f"ctrl-{number:05d}"
        per = reports // controllers + (number < reports % controllers)
        offset = rng.randrange(600)
        seen: set[tuple[str, int]] = set()
        while len(seen) < per:
            outage_type = rng.choices(TYPES, TYPE_WEIGHTS)[0]
            first = rng.randrange(DAYS * SLOTS_PER_DAY)
            for slot in range(first, min(first + rng.randint(3, 72), DAYS * SLOTS_PER_DAY)):
                if len(seen) == per:
                    break
                if rng.random() >= LOST_REPORTS:
                    seen.add((outage_type, start + slot * 600 + offset))
        records.extend(
            {"controller_id": controller, "outage_type": t, "timestamp": iso(at)} for t, at in sorted(seen)
        )
    return records


def ingest_batches(*, controllers: int, records: int, seed: int) -> tuple[list[bytes], int, int]:
    """Arrays of 10,000 records, shuffled, 2 % repeating others: bodies, unique and duplicate counts."""
    duplicates = records * 2 // 100
    unique = series(controllers=controllers, reports=records - duplicates, start=INGEST_START, seed=seed)
    rng = random.Random(seed + 1)
    posted = unique + rng.sample(unique, duplicates)
    rng.shuffle(posted)
    bodies = [json.dumps(posted[i : i + BATCH]).encode() for i in range(0, len(posted), BATCH)]
    return bodies, len(unique), duplicates


# --- HTTP client ------------------------------------------------------------------------------------


def post_all(port: int, bodies: list[bytes], *, clients: int) -> dict[str, Any]:
    """POST every body to /outages over ``clients`` keep-alive connections; totals and timings."""
    queue = list(enumerate(bodies))
    lock = threading.Lock()
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
    latencies: list[float] = []
    errors: list[str] = []

    def worker() -> None:
        connection = http.client.HTTPConnection(LOOPBACK, port, timeout=POST_TIMEOUT)
        try:
            while True:
                with lock:
                    if not queue or errors:
                        return
                    _index, body = queue.pop(0)
                started = time.perf_counter()
                connection.request("POST", "/outages", body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                payload = response.read()
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    if response.status != 200:
                        errors.append(f"{response.status}: {payload[:200]!r}")
                        return
                    answer = json.loads(payload)
                    totals["accepted"] += answer["accepted"]
                    totals["duplicates"] += answer["duplicates"]
                    totals["rejected"] += len(answer["rejected"])
        except Exception as exc:
            with lock:
                errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(POST_TIMEOUT)
    wall = time.perf_counter() - started
    if errors:
        raise BenchError(f"POST /outages failed: {errors[0]}")
    records = sum(body.count(b'"controller_id"') for body in bodies)
    return {
        "records": records,
        "batches": len(bodies),
        "clients": clients,
        "seconds": round(wall, 2),
        "reports_per_second": round(records / wall, 1),
        "batch_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "batch_max_ms": round(max(latencies) * 1000, 1),
        **totals,
    }


# --- wrk and nginx ---------------------------------------------------------------------------------


def run_wrk(
    url: str, *, script: Path, seconds: int, connections: int, output: Path | None, env: dict[str, str]
) -> WrkResult:
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url]
    completed = subprocess.run(
        argv, capture_output=True, text=True, timeout=seconds + 60, check=False, env={**os.environ, **env}
    )
    if output is not None:
        output.write_text(f"$ {' '.join(argv)}\n{completed.stdout}{completed.stderr}")
    if completed.returncode != 0:
        raise BenchError(f"wrk exited with {completed.returncode}: {completed.stderr.strip()[:300]}")
    line = next((ln for ln in completed.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise BenchError(f"wrk printed no BENCH_JSON line: {completed.stdout[-300:]}")
    raw = json.loads(line.removeprefix("BENCH_JSON "))
    duration = raw["duration_us"] / 1e6
    return WrkResult(
        requests=raw["requests"],
        seconds=round(duration, 2),
        requests_per_second=round(raw["requests"] / duration, 1),
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        non_2xx=raw["errors_status"],
        socket_errors=raw["errors_connect"]
        + raw["errors_read"]
        + raw["errors_write"]
        + raw["errors_timeout"],
    )


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        raise BenchError("nginx not found (apt-get install -y nginx-light)")
    return found


def bench_nginx(args: argparse.Namespace, *, body: bytes, paths: Path, tmp: Path, out: Path) -> WrkResult:
    prefix = tmp / "nginx"
    www = prefix / "www"
    www.mkdir(parents=True, exist_ok=True)
    for directory in (tmp, prefix, www):  # nginx's workers run as 'nobody' when started as root
        directory.chmod(0o755)
    (www / "body.json").write_bytes(body)
    port = processes.free_port()
    temp_paths = "\n".join(
        f"    {name}_temp_path {prefix / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    config = f"""# Written by bench/controller_outages_bench.py: a static file server for comparison.
worker_processes auto;
daemon off;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
{temp_paths}
    server {{
        listen {LOOPBACK}:{port};
        root {www};
        default_type application/json;
        location / {{ try_files /body.json =404; }}
    }}
}}
"""
    conf = prefix / "nginx.conf"
    conf.write_text(config)
    (out / "events-nginx.conf").write_text(config)
    log = out / "events-nginx.log"
    argv = [nginx_binary(), "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    base = f"http://{LOOPBACK}:{port}"
    env = {"BENCH_PATHS": str(paths)}
    with processes.running(argv, log=log) as process:
        processes.wait_until(
            "nginx",
            lambda: processes.http_get(f"{base}/events", timeout=5) == (200, body),
            process=process,
            timeout=20,
            log=log,
        )
        run_wrk(base, script=EVENTS_SCRIPT, seconds=args.warmup, connections=64, output=None, env=env)
        return run_wrk(
            base,
            script=EVENTS_SCRIPT,
            seconds=args.duration,
            connections=64,
            output=out / "events-wrk-nginx.txt",
            env=env,
        )


# --- the service -------------------------------------------------------------------------------------


def count_log_errors(log: Path) -> int:
    return len(re.findall(r"\b(ERROR|CRITICAL)\b|Traceback", log.read_text(errors="replace")))


class Service:
    """``crossdock serve`` on a database, for the duration of a ``with`` block."""

    def __init__(self, *, url: str, workers: int, tmp: Path, log: Path) -> None:
        self.port = processes.free_port()
        self.base = f"http://{LOOPBACK}:{self.port}"
        self.log = log
        self.env = {
            **os.environ,
            "CROSSDOCK_DATABASE_URL": url,
            "CROSSDOCK_VAR_DIR": str(tmp / "var"),
            "CROSSDOCK_API_SCHEDULER_ENABLED": "false",
            **CODE_ENV,
        }
        self.argv = [
            str(CROSSDOCK),
            "serve",
            "--host",
            LOOPBACK,
            "--port",
            str(self.port),
            "--workers",
            str(workers),
        ]
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Service:
        self.process = processes.start(self.argv, log=self.log, env=self.env)
        processes.wait_until(
            "crossdock serve",
            lambda: processes.http_get(f"{self.base}/health", timeout=5)[0] == 200,
            process=self.process,
            timeout=SERVE_READY_TIMEOUT,
            log=self.log,
        )
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.process is not None:
            processes.stop(self.process)

    def check_alive(self) -> None:
        assert self.process is not None
        if self.process.poll() is not None:
            raise BenchError(f"crossdock serve exited during the run (log: {self.log})")


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


# --- the three parts ---------------------------------------------------------------------------------


def part_ingest(
    args: argparse.Namespace, backend: Backend, url: str, bodies: list[bytes], tmp: Path, out: Path
) -> None:
    tag = backend.name.lower()
    with Service(url=url, workers=args.workers, tmp=tmp, log=out / f"ingest-{tag}-serve.log") as service:
        result = post_all(service.port, bodies, clients=args.clients)
        service.check_alive()
    result["log_errors"] = count_log_errors(out / f"ingest-{tag}-serve.log")
    backend.ingest = result
    print(
        f"  {backend.name}: batch ingest {result['records']:,} records in {result['seconds']:.1f} s = "
        f"{result['reports_per_second']:,.0f} reports/s (accepted {result['accepted']:,}, "
        f"duplicates {result['duplicates']:,})"
    )


def part_post(args: argparse.Namespace, backend: Backend, url: str, tmp: Path, out: Path) -> None:
    tag = backend.name.lower()
    log = out / f"post-{tag}-serve.log"
    with Service(url=url, workers=args.workers, tmp=tmp, log=log) as service:
        common = {"BENCH_BASE": str(POST_START)}
        run_wrk(
            service.base,
            script=POST_SCRIPT,
            seconds=args.warmup,
            connections=32,
            output=None,
            env={**common, "BENCH_RUN": "warm"},
        )
        result = run_wrk(
            service.base,
            script=POST_SCRIPT,
            seconds=args.duration,
            connections=32,
            output=out / f"post-wrk-{tag}.txt",
            env={**common, "BENCH_RUN": "measure"},
        )
        service.check_alive()
    backend.post = {**asdict(result), "workers": args.workers, "log_errors": count_log_errors(log)}
    print(
        f"  {backend.name}: single-record POST {result.requests_per_second:,.0f} req/s, "
        f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, non-2xx {result.non_2xx}"
    )


def event_paths(args: argparse.Namespace, records: list[dict[str, Any]]) -> list[str]:
    """One path per controller: the day (UTC) of one of its reports, picked at random."""
    rng = random.Random(args.seed + 2)
    days: dict[str, list[str]] = {}
    for item in records:
        days.setdefault(item["controller_id"], []).append(item["timestamp"][:10])
    paths = []
    for controller in rng.sample(sorted(days), len(days)):
        day = rng.choice(days[controller])
        paths.append(
            f"/events?controller_id={controller}&start_time={day}T00:00:00Z&end_time={day}T23:59:59Z"
        )
    return paths


def part_events(
    args: argparse.Namespace, backend: Backend, url: str, tmp: Path, out: Path
) -> tuple[list[int], bytes]:
    tag = backend.name.lower()
    records = series(
        controllers=args.controllers, reports=args.events_reports, start=SERIES_START, seed=args.seed
    )
    bodies = [json.dumps(records[i : i + BATCH]).encode() for i in range(0, len(records), BATCH)]
    paths = event_paths(args, records)
    del records
    paths_file = tmp / "event-paths.txt"
    paths_file.write_text("\n".join(paths) + "\n")
    result: dict[str, Any] = {"reports": args.events_reports, "controllers": args.controllers, "rows": []}
    sizes: list[int] = []
    sample = b""
    with Service(url=url, workers=args.workers, tmp=tmp, log=out / f"events-{tag}-load.log") as service:
        load = post_all(service.port, bodies, clients=args.clients)
        service.check_alive()
    result["load"] = load
    print(
        f"  {backend.name}: loaded {load['records']:,} reports "
        f"through the batch API in {load['seconds']:.1f} s "
        f"({load['reports_per_second']:,.0f} reports/s)"
    )
    for workers in dict.fromkeys([1, args.workers]):
        log = out / f"events-{tag}-serve-w{workers}.log"
        with Service(url=url, workers=workers, tmp=tmp, log=log) as service:
            sizes = []
            for path in paths[:500]:
                status, body = processes.http_get(f"{service.base}{path}", timeout=30)
                if status != 200:
                    raise BenchError(f"{path} answered {status}: {body[:200]!r}")
                sizes.append(len(body))
                if len(body) > len(sample):
                    sample = body
            env = {"BENCH_PATHS": str(paths_file)}
            run_wrk(
                service.base, script=EVENTS_SCRIPT, seconds=args.warmup, connections=64, output=None, env=env
            )
            wrk = run_wrk(
                service.base,
                script=EVENTS_SCRIPT,
                seconds=args.duration,
                connections=64,
                output=out / f"events-wrk-{tag}-w{workers}.txt",
                env=env,
            )
            service.check_alive()
        result["rows"].append(
            {"workers": workers, "result": asdict(wrk), "log_errors": count_log_errors(log)}
        )
        print(
            f"  {backend.name}: GET /events, {workers} worker(s): {wrk.requests_per_second:,.0f} req/s, "
            f"p50 {wrk.p50_ms:.2f} ms, p99 {wrk.p99_ms:.2f} ms, non-2xx {wrk.non_2xx}"
        )
    result["body_sizes"] = {
        "count": len(sizes),
        "mean": statistics.fmean(sizes),
        "min": min(sizes),
        "max": max(sizes),
    }
    backend.events = result
    return sizes, sample


def run_backend(
    args: argparse.Namespace, backend: Backend, bodies: list[bytes], tmp: Path, out: Path
) -> tuple[list[int], bytes]:
    """Every asked part on one kind of database, each on a fresh database."""
    tag = backend.name.lower()
    sizes: list[int] = []
    sample = b""
    for part in args.parts:
        if backend.name == "SQLite":
            url = f"sqlite+aiosqlite:///{tmp / f'{part}.db'}"
            fresh = None
        else:
            fresh, url = create_postgres(backend.url)
            if fresh:
                backend.skipped = fresh
                return sizes, sample
        try:
            if backend.name != "SQLite":
                migrate(url, out / f"{part}-{tag}-upgrade.log")
            if part == "ingest":
                part_ingest(args, backend, url, bodies, tmp, out)
            elif part == "post":
                part_post(args, backend, url, tmp, out)
            else:
                sizes, sample = part_events(args, backend, url, tmp, out)
        finally:
            if backend.name != "SQLite":
                drop_postgres(backend.url, url)
    return sizes, sample


# --- report ------------------------------------------------------------------------------------------


def met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"### Controller outages (`bench/controller_outages_bench.py`, code: {report['code']}, "
        f"{report['workers']} worker(s) unless said)",
        "",
    ]
    backends = report["backends"]
    if "ingest" in report["parts"]:
        lines += [
            f"Batch ingest: {report['ingest_records']:,} records ({report['ingest_unique']:,} distinct + "
            f"{report['ingest_duplicates']:,} repeated, shuffled) "
            f"over {report['controllers']:,} controllers, "
            f"arrays of 10,000, {report['clients']} client connections.",
            "",
            "| Database | Records | Seconds | Reports/s | "
            "Batch p50 ms | Batch max ms | Accepted | Duplicates | "
            ">= 20,000/s (PostgreSQL) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|:-:|",
        ]
        for b in backends:
            r = b["ingest"]
            if b["skipped"] or not r:
                lines.append(f"| {b['name']} | {b['skipped'] or 'not run'} |" + " |" * 7)
                continue
            target = met(r["reports_per_second"] >= INGEST_TARGET) if b["name"] == "PostgreSQL" else ""
            lines.append(
                f"| {b['name']} | {r['records']:,} | {r['seconds']:.1f} | {r['reports_per_second']:,.0f} | "
                f"{r['batch_p50_ms']:,.0f} | {r['batch_max_ms']:,.0f} | "
                f"{r['accepted']:,} | {r['duplicates']:,} | {target} |"
            )
        lines.append("")
    if "post" in report["parts"]:
        lines += [
            f"Single-record `POST /outages`: wrk, 32 connections, 2 threads, {report['duration']} s "
            f"({report['warmup']} s warm-up), every record distinct (`outages_post.lua`).",
            "",
            "| Database | Req/s | p50 ms | p90 ms | p99 ms | max ms | "
            "non-2xx | socket err | >= 1,000 req/s | p99 < 50 ms |",
            "|---|---:|---:|---:|---:|---:|---:|---:|:-:|:-:|",
        ]
        for b in backends:
            r = b["post"]
            if b["skipped"] or not r:
                lines.append(f"| {b['name']} | {b['skipped'] or 'not run'} |" + " |" * 8)
                continue
            lines.append(
                f"| {b['name']} | {r['requests_per_second']:,.0f} | {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | "
                f"{r['p99_ms']:.2f} | {r['max_ms']:.1f} | {r['non_2xx']} | {r['socket_errors']} | "
                f"{met(r['requests_per_second'] >= POST_TARGET_RPS)} | "
                f"{met(r['p99_ms'] < POST_TARGET_P99_MS)} |"
            )
        lines.append("")
    if "events" in report["parts"]:
        nginx = report.get("nginx")
        lines += [
            f"`GET /events` for one controller over one day: {report['events_reports']:,} reports over "
            f"{report['controllers']:,} controllers (30 days), loaded through the batch API; wrk, 64 "
            f"connections, 2 threads, {report['duration']} s ({report['warmup']} s warm-up), "
            f"{report['controllers']:,} distinct paths (`outages_events.lua`). Answers: average "
            f"{report.get('mean_body', 0):,.0f} B.",
            "",
            "| Server | Database | Load reports/s | Req/s | p50 ms | p90 ms | "
            "p99 ms | max ms | non-2xx | socket err | vs nginx | p99 < 10 ms |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|",
        ]
        if nginx:
            lines.append(
                f"| nginx, static file of {report['mean_body']:,.0f} B | "
                f"- | - | {nginx['requests_per_second']:,.0f} | "
                f"{nginx['p50_ms']:.2f} | {nginx['p90_ms']:.2f} | "
                f"{nginx['p99_ms']:.2f} | {nginx['max_ms']:.1f} | "
                f"{nginx['non_2xx']} | {nginx['socket_errors']} | 100% | |"
            )
        for b in backends:
            e = b["events"]
            if b["skipped"] or not e:
                lines.append(f"| crossdock serve | {b['name']}: {b['skipped'] or 'not run'} |" + " |" * 10)
                continue
            for row in e["rows"]:
                r = row["result"]
                ratio = r["requests_per_second"] / nginx["requests_per_second"] if nginx else 0.0
                lines.append(
                    f"| crossdock serve --workers {row['workers']} | {b['name']} | "
                    f"{e['load']['reports_per_second']:,.0f} | {r['requests_per_second']:,.0f} | "
                    f"{r['p50_ms']:.2f} | "
                    f"{r['p90_ms']:.2f} | {r['p99_ms']:.2f} | {r['max_ms']:.1f} | {r['non_2xx']} | "
                    f"{r['socket_errors']} | {ratio:.0%} | {met(r['p99_ms'] < EVENTS_TARGET_P99_MS)} |"
                )
        lines.append("")
    errors = [
        f"{b['name']} {part}: {b[part].get('log_errors', 0)}"
        for b in backends
        for part in ("ingest", "post")
        if b[part] and b[part].get("log_errors")
    ]
    lines.append(
        f"wrk, nginx, PostgreSQL and the service share the machine's {os.cpu_count()} CPUs. "
        "ERROR lines in the service logs: " + ("; ".join(errors) if errors else "none") + "."
    )
    return "\n".join(lines) + "\n"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="Directory for raw outputs and the summary.")
    parser.add_argument(
        "--parts", default="ingest,post,events", help="Comma-separated parts to run (ingest, post, events)."
    )
    parser.add_argument(
        "--backends", default="sqlite,postgresql", help="Comma-separated: sqlite, postgresql."
    )
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_WORKERS", "1")))
    parser.add_argument("--clients", type=int, default=2, help="Connections posting batches at once.")
    parser.add_argument("--controllers", type=int, default=5_000)
    parser.add_argument("--ingest-records", type=int, default=200_000)
    parser.add_argument("--events-reports", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument(
        "--code",
        type=Path,
        default=Path(os.environ["BENCH_CODE"]) if os.environ.get("BENCH_CODE") else None,
        help="Another checkout's src directory to serve (default: BENCH_CODE, else this checkout).",
    )
    parser.add_argument("--duration", type=int, default=10, help="Seconds of each measured wrk run.")
    parser.add_argument("--warmup", type=int, default=2, help="Seconds of each wrk warm-up run.")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL") or DEFAULT_POSTGRES_URL,
        help="PostgreSQL server (default: BENCH_POSTGRES_URL or %(default)s); 'skip' skips PostgreSQL.",
    )
    args = parser.parse_args()
    args.parts = [p for p in args.parts.split(",") if p]
    if set(args.parts) - {"ingest", "post", "events"}:
        parser.error("--parts: ingest, post, events")
    return args


def main() -> int:
    args = parse_args()
    processes.stop_on_sigterm()
    if args.code is not None:
        CODE_ENV["PYTHONPATH"] = str(args.code.resolve())
    if {"post", "events"} & set(args.parts) and shutil.which("wrk") is None:
        raise BenchError("wrk not found (apt-get install -y wrk)")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    wanted = [b.strip() for b in args.backends.split(",")]
    backends = []
    if "sqlite" in wanted:
        backends.append(Backend("SQLite"))
    if "postgresql" in wanted:
        if args.postgres_url == "skip":
            backends.append(Backend("PostgreSQL", skipped="skipped (BENCH_POSTGRES_URL=skip)"))
        else:
            backends.append(Backend("PostgreSQL", args.postgres_url))
    bodies: list[bytes] = []
    unique = duplicates = 0
    if "ingest" in args.parts:
        bodies, unique, duplicates = ingest_batches(
            controllers=args.controllers, records=args.ingest_records, seed=args.seed
        )
    sizes: list[int] = []
    sample = b""
    nginx: WrkResult | None = None
    with tempfile.TemporaryDirectory(prefix="crossdock-bench-outages-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            for backend in backends:
                if backend.skipped:
                    continue
                got_sizes, got_sample = run_backend(args, backend, bodies, tmp, out)
                sizes = sizes or got_sizes
                sample = sample or got_sample
            if sizes:
                mean = round(statistics.fmean(sizes))
                body = (sample * (mean // max(len(sample), 1) + 1))[:mean]
                nginx = bench_nginx(args, body=body, paths=tmp / "event-paths.txt", tmp=tmp, out=out)
                print(
                    f"  nginx, static file of {mean:,} B: {nginx.requests_per_second:,.0f} req/s, "
                    f"p99 {nginx.p99_ms:.2f} ms"
                )
        finally:
            processes.stop_all()
    report: dict[str, Any] = {
        "parts": args.parts,
        "code": str(args.code) if args.code else "this checkout",
        "workers": args.workers,
        "clients": args.clients,
        "controllers": args.controllers,
        "ingest_records": args.ingest_records,
        "ingest_unique": unique,
        "ingest_duplicates": duplicates,
        "events_reports": args.events_reports,
        "duration": args.duration,
        "warmup": args.warmup,
        "mean_body": statistics.fmean(sizes) if sizes else 0,
        "nginx": asdict(nginx) if nginx else None,
        "backends": [asdict(b) for b in backends],
    }
    for entry in report["backends"]:
        entry["url"] = without_credentials(entry["url"])
    (out / "controller-outages.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "controller-outages.md").write_text(markdown(report))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"controller-outages benchmark failed: {exc}", file=sys.stderr)
        sys.exit(1)
