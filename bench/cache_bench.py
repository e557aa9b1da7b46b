"""Distinct-query memory: RSS of a ``crossdock serve`` worker under /search queries that are all different.

What it does, all on 127.0.0.1 and bounded in count and time:

1. starts the marketplace simulator with the static generated feed of the search benchmark
   (2,000 x 3 x 5, about 4,500 searchable plans) and syncs it once into a fresh SQLite database
   with ``crossdock marketplace sync``;
2. starts ``crossdock serve --workers 1`` (scheduler off) on an empty database, reads its worker's
   RSS once ready: the service without a read model;
3. starts it again on the synced database: the RSS once the read model is loaded, minus the empty
   one, is the read model's share;
4. sends ``--requests`` (100,000) GET /search, every query string different (``distinct_queries.lua``:
   a new microsecond of the issue's wide range, distinct open-ended starts, one-day ranges in other
   offsets, malformed bounds), sampling the worker's RSS every 0.2 s;
5. writes ``cache.json`` and ``cache.md``: RSS before, peak and after, the growth against the
   configured bound (``CROSSDOCK_MARKETPLACE_SEARCH_CACHE_BYTES``), and what the caches account.

``--code DIR`` runs another checkout's ``src`` (e.g. the code before a change) with the same steps.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import processes
from processes import LOOPBACK, BenchError

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
CROSSDOCK = ROOT / ".venv" / "bin" / "crossdock"
SCRIPT = BENCH_DIR / "distinct_queries.lua"
DEFAULT_CACHE_BYTES = 64 * 1024 * 1024  # the setting's default (docs/configuration.md)
SERVE_READY_TIMEOUT = 120.0
SAMPLE_SECONDS = 0.2
MIB = 1024 * 1024


def worker_pid(serve: subprocess.Popen[bytes]) -> int:
    """The one granian worker of ``crossdock serve --workers 1`` (spawned by multiprocessing; the
    serve process's other child is multiprocessing's resource tracker)."""
    children = Path(f"/proc/{serve.pid}/task/{serve.pid}/children").read_text().split()
    workers = [pid for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    if len(workers) != 1:
        raise BenchError(f"expected one worker under process {serve.pid}, found {workers} among {children}")
    return int(workers[0])


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


def serve_env(args: argparse.Namespace, database: Path, tmp: Path, feed_url: str) -> dict[str, str]:
    env = {
        **os.environ,
        "CROSSDOCK_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "CROSSDOCK_VAR_DIR": str(tmp / "var"),
        "CROSSDOCK_MARKETPLACE_PROVIDER_URL": feed_url,
        "CROSSDOCK_API_SCHEDULER_ENABLED": "false",
        "CROSSDOCK_LOG_LEVEL": "WARNING",
    }
    if args.cache_bytes is not None:
        env["CROSSDOCK_MARKETPLACE_SEARCH_CACHE_BYTES"] = str(args.cache_bytes)
    if args.code is not None:
        env["PYTHONPATH"] = str(Path(args.code).resolve())
    return env


def sync_feed(env: dict[str, str], out: Path) -> dict[str, Any]:
    completed = subprocess.run(
        [str(CROSSDOCK), "marketplace", "sync", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    (out / "cache-sync.log").write_text(completed.stdout + completed.stderr)
    if completed.returncode != 0:
        raise BenchError(f"crossdock marketplace sync failed (log: {out / 'cache-sync.log'})")
    summary: dict[str, Any] = json.loads(completed.stdout[completed.stdout.index("{") :])
    return summary


def start_serve(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = processes.free_port()
    argv = [str(CROSSDOCK), "serve", "--host", LOOPBACK, "--port", str(port), "--workers", "1"]
    process = processes.start(argv, log=log, env=env)
    base = f"http://{LOOPBACK}:{port}"
    processes.wait_until(
        "crossdock serve",
        lambda: processes.http_get(f"{base}/search?starts_at=2019-01-01", timeout=5)[0] == 200,
        process=process,
        timeout=SERVE_READY_TIMEOUT,
        log=log,
    )
    return process, base


class Sampler(threading.Thread):
    """Samples a process's RSS until stopped; keeps the largest value."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kib = 0
        self.samples = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.peak_kib = max(self.peak_kib, memory_kib(self.pid)["VmRSS"])
                self.samples += 1
            except (OSError, KeyError):
                return
            self._stop_event.wait(SAMPLE_SECONDS)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


def run_wrk(args: argparse.Namespace, base: str, out: Path, tmp: Path) -> dict[str, Any]:
    """Send the distinct queries; stop wrk (SIGINT: it then reports) once every thread spent its share."""
    done_dir = tmp / "wrk-done"
    done_dir.mkdir()
    argv = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.time_limit}s",
        "--timeout",
        "30s",
        "-s",
        str(SCRIPT),
        base,
    ]
    env = {
        **os.environ,
        "BENCH_REQUESTS": str(args.requests),
        "BENCH_THREADS": str(args.threads),
        "BENCH_DONE_DIR": str(done_dir),
    }
    log = out / "cache-wrk.txt"
    with log.open("w") as sink:
        sink.write(f"$ {' '.join(argv)}\n")
    with log.open("a") as sink:
        wrk = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + args.time_limit + 30
            while wrk.poll() is None and time.monotonic() < deadline:
                if len(list(done_dir.iterdir())) >= args.threads:
                    wrk.send_signal(signal.SIGINT)
                    break
                time.sleep(0.2)
            wrk.wait(timeout=60)
        finally:
            if wrk.poll() is None:
                wrk.kill()
                wrk.wait()
    output = log.read_text()
    line = next((ln for ln in output.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise BenchError(f"wrk printed no BENCH_JSON line: {output[-300:]}")
    result: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
    return result


def measure(args: argparse.Namespace, tmp: Path, out: Path) -> dict[str, Any]:
    feed_url, _simulator, _waited = processes.start_generated_simulator(
        CROSSDOCK,
        base_events=args.base_events,
        sessions_per_event=3,
        zones_per_session=5,
        var_dir=tmp / "var",
        log=out / "cache-simulator.log",
        timeout=120,
    )
    synced = tmp / "synced.db"
    summary = sync_feed(serve_env(args, synced, tmp, feed_url), out)
    print(f"  synced: {summary.get('inserted')} plans inserted")

    empty_process, _base = start_serve(
        serve_env(args, tmp / "empty.db", tmp, feed_url), out / "cache-serve-empty.log"
    )
    try:
        time.sleep(1.0)
        empty = memory_kib(worker_pid(empty_process))
    finally:
        processes.stop(empty_process)
    print(f"  worker without data: {empty['VmRSS'] / 1024:.0f} MB")

    process, base = start_serve(serve_env(args, synced, tmp, feed_url), out / "cache-serve.log")
    try:
        health = processes.health_json(base)
        plans = int(health["marketplace"]["searchable_plans"])
        time.sleep(1.0)
        pid = worker_pid(process)
        before = memory_kib(pid)
        print(f"  worker with {plans} plans loaded: {before['VmRSS'] / 1024:.0f} MB")
        sampler = Sampler(pid)
        sampler.start()
        started = time.monotonic()
        try:
            load = run_wrk(args, base, out, tmp)
        finally:
            sampler.stop()
        seconds = time.monotonic() - started
        after = memory_kib(pid)
        caches = processes.health_json(base)["marketplace"].get("search_cache")
        if process.poll() is not None:
            raise BenchError("crossdock serve exited during the run")
    finally:
        processes.stop(process)
    bound = args.cache_bytes if args.cache_bytes is not None else DEFAULT_CACHE_BYTES
    return {
        "code": "given: " + str(args.code) if args.code else "this checkout",
        "requests_asked": args.requests,
        "connections": args.connections,
        "threads": args.threads,
        "searchable_plans": plans,
        "cache_bound_bytes": bound,
        "rss_empty_kib": empty["VmRSS"],
        "rss_before_kib": before["VmRSS"],
        "rss_peak_kib": max(sampler.peak_kib, after["VmRSS"]),
        "rss_after_kib": after["VmRSS"],
        "hwm_kib": after["VmHWM"],
        "samples": sampler.samples,
        "seconds": round(seconds, 1),
        "load": load,
        "caches": caches,
    }


def markdown(report: dict[str, Any]) -> str:
    load = report["load"]
    mb = 1024
    read_model = (report["rss_before_kib"] - report["rss_empty_kib"]) / mb
    growth_peak = (report["rss_peak_kib"] - report["rss_before_kib"]) / mb
    growth_after = (report["rss_after_kib"] - report["rss_before_kib"]) / mb
    bound = report["cache_bound_bytes"] / MIB
    within = growth_peak <= bound
    caches = report["caches"]
    accounted = (
        f"{caches['entries']:,} entries, {caches['bytes'] / MIB:,.1f} MiB "
        f"of {caches['max_bytes'] / MIB:,.0f} MiB"
        if caches
        else "not reported by this code"
    )
    lines = [
        f"### Distinct queries: RSS of one `crossdock serve` worker under {load['requests']:,} different "
        f"/search queries ({report['code']})",
        "",
        f"{report['searchable_plans']:,} searchable plans (generated 2000 x 3 x 5); wrk, "
        f"{report['connections']} connections, {report['threads']} threads, `bench/distinct_queries.lua`: "
        f"{load['ok']:,} answered 200, {load['bad_request']:,} answered 400, {load['other']:,} other, "
        f"{load['errors_connect'] + load['errors_read'] + load['errors_write'] + load['errors_timeout']} "
        f"socket errors; {load['bytes'] / 1e9:,.1f} GB in {report['seconds']:.0f} s "
        f"({load['requests'] / max(report['seconds'], 0.001):,.0f} req/s).",
        "",
        "| Worker RSS | MB |",
        "|---|---:|",
        f"| without data (empty database) | {report['rss_empty_kib'] / mb:,.0f} |",
        f"| read model loaded, before the queries | {report['rss_before_kib'] / mb:,.0f} |",
        f"| peak during the queries (sampled every {SAMPLE_SECONDS:g} s) "
        f"| {report['rss_peak_kib'] / mb:,.0f} |",
        f"| after the queries | {report['rss_after_kib'] / mb:,.0f} |",
        "",
        f"Read model: {read_model:,.0f} MB. Growth over the loaded worker: {growth_peak:,.0f} MB "
        "at the peak, "
        f"{growth_after:,.0f} MB after; configured cache bound "
        f"`CROSSDOCK_MARKETPLACE_SEARCH_CACHE_BYTES` = {bound:,.0f} MiB: "
        f"{'within the bound' if within else 'OVER the bound'}. The caches account {accounted}.",
    ]
    return "\n".join(lines) + "\n"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="Directory for raw outputs and cache.md.")
    parser.add_argument("--requests", type=int, default=100_000, help="Distinct queries to send.")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--time-limit", type=int, default=600, help="Seconds wrk may run at most.")
    parser.add_argument("--base-events", type=int, default=2000)
    parser.add_argument(
        "--cache-bytes",
        type=int,
        default=None,
        help="Set CROSSDOCK_MARKETPLACE_SEARCH_CACHE_BYTES (default: unset).",
    )
    parser.add_argument("--code", type=Path, default=None, help="Another checkout's src directory to run.")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    processes.stop_on_sigterm()
    if shutil.which("wrk") is None:
        raise BenchError("wrk not found (apt-get install -y wrk)")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="crossdock-bench-cache-") as tmp_name:
        try:
            report = measure(args, Path(tmp_name), out)
        finally:
            processes.stop_all()
    (out / "cache.json").write_text(json.dumps(report, indent=2))
    (out / "cache.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"cache benchmark failed: {exc}", file=sys.stderr)
        sys.exit(1)
