"""Load-test ``GET /search`` with wrk, beside nginx serving a static file of the same average size.

What it does, all on 127.0.0.1 and bounded in time:

1. starts the marketplace simulator with a static generated feed;
2. for each worker count asked: starts ``crossdock serve`` on a fresh SQLite database, waits until
   the first sync made plans searchable, measures the body size of every query of the wrk mix
   (each must answer 200), warms up with a short wrk run, then measures with wrk;
3. starts nginx (own configuration in a temporary directory) serving a file whose size is the
   average body size of the mix, and measures it the same way;
4. writes the raw wrk outputs, ``search.json`` and ``search.md`` (a Markdown fragment) into ``--out``.

Run it through ``bench/run.sh search`` (which checks wrk and nginx and prints the summary).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import processes
from processes import LOOPBACK, BenchError

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
CROSSDOCK = ROOT / ".venv" / "bin" / "crossdock"
MIX_SCRIPT = BENCH_DIR / "search_mix.lua"
MIX = "all"  # set from --mix; passed to wrk's Lua script as BENCH_MIX

DAY_QUERIES = 12  # the first queries of search_mix.lua are the one-day ranges (BENCH_MIX=day)
RATIO_TARGET = 0.25
P99_TARGET_MS = 5.0
SERVE_READY_TIMEOUT = 180.0
SIMULATOR_READY_TIMEOUT = 120.0


@dataclass
class WrkResult:
    """The figures of one wrk run, from the JSON line ``search_mix.lua`` prints when done."""

    requests: int
    seconds: float
    requests_per_second: float
    megabytes_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    socket_errors: int
    timeouts: int


@dataclass
class Row:
    """One line of the results table."""

    server: str
    workers: int | None
    result: WrkResult
    log_errors: int = 0


def read_mix(script: Path) -> list[str]:
    """The query paths of the wrk script: every double-quoted string starting with /search."""
    paths = re.findall(r'"(/search[^"]*)"', script.read_text())
    if not paths:
        raise BenchError(f"no /search path found in {script}")
    return paths


def run_wrk(url: str, *, seconds: int, connections: int, threads: int, output: Path | None) -> WrkResult:
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(MIX_SCRIPT),
        url,
    ]
    completed = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
        env={**os.environ, "BENCH_MIX": MIX},
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
        megabytes_per_second=round(raw["bytes"] / duration / 1e6, 1),
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        non_2xx=raw["errors_status"],
        socket_errors=raw["errors_connect"] + raw["errors_read"] + raw["errors_write"],
        timeouts=raw["errors_timeout"],
    )


def measure_bodies(base: str, paths: list[str]) -> tuple[list[int], bytes]:
    """Body size of every query of the mix (each must answer 200), and the largest body."""
    sizes = []
    largest = b""
    for path in paths:
        status, body = processes.http_get(f"{base}{path}", timeout=30)
        if status != 200:
            raise BenchError(f"{path} answered {status}: {body[:200]!r}")
        sizes.append(len(body))
        largest = max(largest, body, key=len)
    return sizes, largest


def count_log_errors(log: Path) -> int:
    text = log.read_text(errors="replace")
    return len(re.findall(r"\b(ERROR|CRITICAL)\b|Traceback", text))


def start_simulator(args: argparse.Namespace, tmp: Path, out: Path) -> tuple[str, subprocess.Popen[bytes]]:
    feed_url, process, _waited = processes.start_generated_simulator(
        CROSSDOCK,
        base_events=args.base_events,
        sessions_per_event=args.sessions_per_event,
        zones_per_session=args.zones_per_session,
        var_dir=tmp / "var",
        log=out / "search-simulator.log",
        timeout=SIMULATOR_READY_TIMEOUT,
    )
    return feed_url, process


def wait_searchable(base: str, process: subprocess.Popen[bytes], log: Path) -> int:
    """Wait until /health shows plans, then until every worker agrees (consecutive equal answers)."""

    def plans() -> int:
        return int(processes.health_json(base)["marketplace"]["searchable_plans"])

    processes.wait_until(
        "crossdock serve", lambda: plans() > 0, process=process, timeout=SERVE_READY_TIMEOUT, log=log
    )
    # With several workers each one loads the read model on its own (polling every 2 s): ask
    # until a run of fresh connections all see the same non-zero count.
    streak: list[int] = []

    def settled() -> bool:
        streak.append(plans())
        del streak[:-12]
        return len(streak) == 12 and streak[0] > 0 and len(set(streak)) == 1

    processes.wait_until("read model on every worker", settled, process=process, timeout=60, log=log)
    return streak[-1]


def bench_service(
    args: argparse.Namespace, *, workers: int, feed_url: str, paths: list[str], tmp: Path, out: Path
) -> tuple[Row, list[int], bytes, int]:
    port = processes.free_port()
    log = out / f"search-serve-w{workers}.log"
    env = {
        **os.environ,
        "CROSSDOCK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / f'search-w{workers}.db'}",
        "CROSSDOCK_VAR_DIR": str(tmp / "var"),
        "CROSSDOCK_MARKETPLACE_PROVIDER_URL": feed_url,
        "CROSSDOCK_MARKETPLACE_SYNC_INTERVAL": "3600",
    }
    argv = [str(CROSSDOCK), "serve", "--host", LOOPBACK, "--port", str(port), "--workers", str(workers)]
    base = f"http://{LOOPBACK}:{port}"
    with processes.running(argv, log=log, env=env) as process:
        started = time.monotonic()
        plans = wait_searchable(base, process, log)
        print(
            f"  serve --workers {workers}: {plans} searchable plans after {time.monotonic() - started:.1f} s"
        )
        sizes, largest = measure_bodies(base, paths)
        run_wrk(base, seconds=args.warmup, connections=args.connections, threads=args.threads, output=None)
        result = run_wrk(
            base,
            seconds=args.duration,
            connections=args.connections,
            threads=args.threads,
            output=out / f"search-wrk-serve-w{workers}.txt",
        )
        if process.poll() is not None:
            raise BenchError(f"crossdock serve exited during the run (log: {log})")
    row = Row(f"crossdock serve --workers {workers}", workers, result, count_log_errors(log))
    return row, sizes, largest, plans


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        raise BenchError("nginx not found (apt-get install -y nginx-light)")
    return found


def bench_nginx(args: argparse.Namespace, *, body_size: int, sample: bytes, tmp: Path, out: Path) -> Row:
    prefix = tmp / "nginx"
    www = prefix / "www"
    www.mkdir(parents=True)
    # Run as root, nginx's workers drop to 'nobody': they must be able to reach the file
    # (TemporaryDirectory makes the top directory 0700).
    for directory in (tmp, prefix, www):
        directory.chmod(0o755)
    body = (sample * (body_size // max(len(sample), 1) + 1))[:body_size]
    (www / "body.json").write_bytes(body)
    port = processes.free_port()
    temp_paths = "\n".join(
        f"    {name}_temp_path {prefix / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    config = f"""# Written by bench/search_bench.py: a static file server for comparison, nothing else.
worker_processes auto;
daemon off;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    # granian keeps a connection open for ever; nginx closes it after 1000 requests by default.
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
    (out / "search-nginx.conf").write_text(config)
    log = out / "search-nginx.log"
    argv = [nginx_binary(), "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")]
    base = f"http://{LOOPBACK}:{port}"
    with processes.running(argv, log=log) as process:
        processes.wait_until(
            "nginx",
            lambda: processes.http_get(f"{base}/search", timeout=5) == (200, body),
            process=process,
            timeout=20,
            log=log,
        )
        run_wrk(base, seconds=args.warmup, connections=args.connections, threads=args.threads, output=None)
        result = run_wrk(
            base,
            seconds=args.duration,
            connections=args.connections,
            threads=args.threads,
            output=out / "search-wrk-nginx.txt",
        )
    shutil.copy(prefix / "error.log", out / "search-nginx-error.log")
    return Row(f"nginx, static file of {body_size:,} bytes", None, result)


def markdown(report: dict[str, Any]) -> str:
    feed = report["feed"]
    sizes = report["body_sizes"]
    nginx = report["nginx"]["result"]
    lines = [
        f"### Search: GET /search under wrk ({report['connections']} connections, "
        f"{report['threads']} threads, {report['duration']} s, {report['warmup']} s warm-up)",
        "",
        f"Feed: generated {feed['base_events']} x {feed['sessions_per_event']} x {feed['zones_per_session']}"
        f" (seed 0, static), {report['searchable_plans']:,} searchable plans; fresh SQLite database.",
        f"Mix `{report['mix']}`: {sizes['count']} queries cycled by `bench/search_mix.lua`; "
        f"body size average {sizes['mean']:,.0f} B, median {sizes['median']:,.0f} B, "
        f"min {sizes['min']:,} B, max {sizes['max']:,} B.",
        "",
        "| Server | Req/s | MB/s | p50 ms | p90 ms | p99 ms | max ms | non-2xx | socket err | "
        "vs nginx | ratio >= 25 % | p99 < 5 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|:-:|",
    ]
    for row in [report["nginx"], *report["services"]]:
        res = row["result"]
        is_service = row["workers"] is not None
        ratio = (
            res["requests_per_second"] / nginx["requests_per_second"] if nginx["requests_per_second"] else 0.0
        )
        lines.append(
            f"| {row['server']} | {res['requests_per_second']:,.0f} | {res['megabytes_per_second']:,.0f} | "
            f"{res['p50_ms']:.2f} | {res['p90_ms']:.2f} | {res['p99_ms']:.2f} | {res['max_ms']:.1f} | "
            f"{res['non_2xx']} | {res['socket_errors'] + res['timeouts']} | "
            + (
                f"{ratio:.0%} | {'met' if ratio >= RATIO_TARGET else 'NOT met'} | "
                f"{'met' if res['p99_ms'] < P99_TARGET_MS else 'NOT met'} |"
                if is_service
                else "100% | | |"
            )
        )
    errors = [f"{row['server']}: {row['log_errors']}" for row in report["services"] if row["log_errors"]]
    lines += [
        "",
        f"Targets: /search at least {RATIO_TARGET:.0%} of nginx's requests/s and "
        f"p99 < {P99_TARGET_MS:g} ms at {report['connections']} connections. "
        "wrk, nginx and the service share the machine's "
        f"{os.cpu_count()} CPUs.",
        "ERROR lines in the service logs: " + ("; ".join(errors) if errors else "none") + ".",
    ]
    return "\n".join(lines) + "\n"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="Directory for raw outputs and search.md.")
    parser.add_argument(
        "--mix",
        choices=["all", "day"],
        default="all",
        help="all: the whole query mix of search_mix.lua; day: only its one-day queries (~1 KB answers).",
    )
    parser.add_argument(
        "--workers",
        default=os.environ.get("BENCH_WORKERS", "1"),
        help="Worker count of the first row (default: BENCH_WORKERS or 1); a 2-worker row is always added.",
    )
    parser.add_argument("--duration", type=int, default=10, help="Seconds of each measured wrk run.")
    parser.add_argument("--warmup", type=int, default=2, help="Seconds of the wrk warm-up run.")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--base-events", type=int, default=2000)
    parser.add_argument("--sessions-per-event", type=int, default=3)
    parser.add_argument("--zones-per-session", type=int, default=5)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    processes.stop_on_sigterm()
    if shutil.which("wrk") is None:
        raise BenchError("wrk not found (apt-get install -y wrk)")
    nginx_binary()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    worker_counts = list(dict.fromkeys([int(args.workers), 2]))
    global MIX
    MIX = args.mix
    paths = read_mix(MIX_SCRIPT)[: DAY_QUERIES if MIX == "day" else None]
    with tempfile.TemporaryDirectory(prefix="crossdock-bench-search-") as tmp_name:
        tmp = Path(tmp_name)
        try:
            feed_url, _simulator = start_simulator(args, tmp, out)
            print(f"  simulator ready: {feed_url}")
            services: list[Row] = []
            all_sizes: list[int] = []
            sample = b""
            plans = 0
            for workers in worker_counts:
                row, sizes, sample, plans = bench_service(
                    args, workers=workers, feed_url=feed_url, paths=paths, tmp=tmp, out=out
                )
                if all_sizes and sizes != all_sizes:
                    print("  warning: body sizes differ between runs", file=sys.stderr)
                all_sizes = all_sizes or sizes
                services.append(row)
                res = row.result
                print(f"  {row.server}: {res.requests_per_second:,.0f} req/s, p99 {res.p99_ms:.2f} ms")
            mean_size = round(statistics.fmean(all_sizes))
            # The static file is made of real answer bytes, cut to the mix's average size.
            nginx = bench_nginx(args, body_size=mean_size, sample=sample, tmp=tmp, out=out)
            res = nginx.result
            print(f"  {nginx.server}: {res.requests_per_second:,.0f} req/s, p99 {res.p99_ms:.2f} ms")
        finally:
            processes.stop_all()
    report = {
        "feed": {
            "base_events": args.base_events,
            "sessions_per_event": args.sessions_per_event,
            "zones_per_session": args.zones_per_session,
        },
        "mix": args.mix,
        "connections": args.connections,
        "threads": args.threads,
        "duration": args.duration,
        "warmup": args.warmup,
        "searchable_plans": plans,
        "body_sizes": {
            "count": len(all_sizes),
            "mean": statistics.fmean(all_sizes),
            "median": statistics.median(all_sizes),
            "min": min(all_sizes),
            "max": max(all_sizes),
            "each": dict(zip(paths, all_sizes, strict=True)),
        },
        "nginx": asdict(nginx),
        "services": [asdict(row) for row in services],
    }
    suffix = "" if args.mix == "all" else f"-{args.mix}"
    (out / f"search{suffix}.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / f"search{suffix}.md").write_text(markdown(report))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"search benchmark failed: {exc}", file=sys.stderr)
        sys.exit(1)
