"""Time ``crossdock marketplace sync`` of a large generated feed on SQLite and PostgreSQL.

What it does, all on 127.0.0.1 and bounded in time:

1. starts the marketplace simulator with a static generated feed (10,000 x 1 x 100 by default,
   about 98 MB of XML);
2. for SQLite (a fresh file in a temporary directory) and PostgreSQL (a throw-away database created
   for this run, then ``crossdock db upgrade``), runs ``crossdock marketplace sync --json`` three
   times: the first sync, a re-sync of the unchanged feed (the identical-feed shortcut), and a
   re-sync with ``--full`` (parse and compare every session);
3. for each run, records the wall seconds of the command, its peak RSS and its JSON summary;
4. writes ``ingest.json`` and ``ingest.md`` (a Markdown fragment) into ``--out``.

Peak RSS: each sync runs under a fresh wrapper process (this file, ``measure`` sub-command) that
reads ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` after waiting for its only child, so the figure is
that one sync's and not the maximum over earlier runs.

PostgreSQL comes from ``BENCH_POSTGRES_URL`` (default below). The database it names is only used to
connect: the benchmark creates its own database ``crossdock_bench_<pid>_<hex>`` on that server,
works in it, and drops it at the end, also on failure, timeout or SIGTERM, so it never touches
tables of the named database (tests may be using it at the same time). An unreachable server makes
the PostgreSQL rows "skipped (unreachable)" instead of failing the benchmark, and
``BENCH_POSTGRES_URL=skip`` skips it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import processes
from processes import LOOPBACK, BenchError

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
CROSSDOCK = ROOT / ".venv" / "bin" / "crossdock"

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
THROWAWAY_PREFIX = "crossdock_bench"
POSTGRES_CONNECT_TIMEOUT = 15.0
POSTGRES_DROP_TIMEOUT = 60.0
SYNC_TIMEOUT = 900.0
SIMULATOR_READY_TIMEOUT = 180.0

FIRST_SYNC_TARGET_SECONDS = 20.0
PEAK_RSS_TARGET_MB = 250.0
RESYNC_SPEEDUP_TARGET = 5.0

RUNS = (
    ("first sync", []),
    ("re-sync, unchanged feed", []),
    ("re-sync --full, unchanged feed", ["--full"]),
)
COUNTS = ("seen", "inserted", "updated", "unchanged", "rejected", "left_feed")


@dataclass
class Measurement:
    """One ``crossdock marketplace sync`` run."""

    run: str
    wall_seconds: float
    peak_rss_mb: float
    returncode: int
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class Backend:
    """The runs on one database, or why there are none."""

    name: str
    url: str
    skipped: str | None = None
    runs: list[Measurement] = field(default_factory=list)


# --- the wrapper process ---------------------------------------------------------------------


def measure_command(result_path: Path, argv: list[str]) -> int:
    """Run ``argv`` as this process's only child; write wall time, peak RSS and outputs as JSON."""
    started = time.perf_counter()
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=SYNC_TIMEOUT, check=False)
    wall = time.perf_counter() - started
    # ru_maxrss is in KiB on Linux; over RUSAGE_CHILDREN it is the largest of the children waited
    # for, and this wrapper has exactly one.
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result = {
        "wall_seconds": wall,
        "peak_rss_kib": peak_kib,
        "returncode": completed.returncode,
        "stdout": completed.stdout,
        "stderr_tail": completed.stderr[-4000:],
    }
    result_path.write_text(json.dumps(result))
    return 0


# --- the driver ------------------------------------------------------------------------------


def start_simulator(args: argparse.Namespace, tmp: Path, out: Path) -> str:
    feed_url, _process, waited = processes.start_generated_simulator(
        CROSSDOCK,
        base_events=args.base_events,
        sessions_per_event=args.sessions_per_event,
        zones_per_session=args.zones_per_session,
        var_dir=tmp / "var",
        log=out / "ingest-simulator.log",
        timeout=SIMULATOR_READY_TIMEOUT,
    )
    print(f"  simulator ready after {waited:.1f} s: {feed_url}")
    return feed_url


def sync_once(
    *, label: str, extra: list[str], env: dict[str, str], tmp: Path, out: Path, tag: str
) -> Measurement:
    result_path = tmp / f"{tag}.json"
    log = out / f"ingest-{tag}.log"
    argv = [
        str(PYTHON),
        __file__,
        "measure",
        str(result_path),
        "--",
        str(CROSSDOCK),
        "marketplace",
        "sync",
        "--json",
    ]
    process = processes.start([*argv, *extra], log=log, env=env)
    try:
        process.wait(timeout=SYNC_TIMEOUT + 30)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{label}: still running after {SYNC_TIMEOUT + 30:.0f} s (log: {log})") from None
    finally:
        processes.stop(process)
    if not result_path.exists():
        raise BenchError(f"{label}: the measuring wrapper failed (log: {log})")
    raw = json.loads(result_path.read_text())
    with log.open("a") as sink:
        sink.write(f"--- stdout ---\n{raw['stdout']}\n--- stderr (tail) ---\n{raw['stderr_tail']}\n")
    measurement = Measurement(
        run=label,
        wall_seconds=round(raw["wall_seconds"], 2),
        peak_rss_mb=round(raw["peak_rss_kib"] / 1024, 1),
        returncode=raw["returncode"],
    )
    stdout: str = raw["stdout"]
    try:
        measurement.summary = json.loads(stdout[stdout.index("{") :])
    except ValueError:
        measurement.error = (raw["stderr_tail"].strip().splitlines() or ["no output"])[-1][:300]
    if raw["returncode"] != 0 and measurement.error is None:
        measurement.error = f"exit code {raw['returncode']}"
    return measurement


def create_postgres(url: str) -> tuple[str | None, str]:
    """Create the run's own database on the server of ``url``: (why PostgreSQL is skipped, its URL)."""
    # Imported here: only the PostgreSQL rows need the drivers and crossdock's storage helpers.
    from crossdock.storage.testing import create_throwaway_database

    host = urlsplit(url).hostname
    if host not in (LOOPBACK, "localhost"):
        return f"skipped (not a loopback URL: {host})", ""
    creating = create_throwaway_database(_with_driver(url), prefix=THROWAWAY_PREFIX)
    try:
        return None, asyncio.run(asyncio.wait_for(creating, timeout=POSTGRES_CONNECT_TIMEOUT))
    except (OSError, TimeoutError) as exc:
        print(f"  PostgreSQL unreachable at {host}: {exc!r}", file=sys.stderr)
        return "skipped (unreachable)", ""
    except Exception as exc:  # the drivers' own errors: unknown database, login or CREATEDB refused
        print(f"  PostgreSQL refused to create the benchmark's database: {exc!r}", file=sys.stderr)
        return f"skipped (refused: {type(exc).__name__})", ""


def drop_postgres(url: str, database_url: str) -> None:
    """Drop the throw-away database ``database_url`` (created by :func:`create_postgres`)."""
    from crossdock.storage.testing import drop_throwaway_database

    name = _database_name(database_url)
    dropping = drop_throwaway_database(_with_driver(url), database_url, prefix=THROWAWAY_PREFIX)
    try:
        asyncio.run(asyncio.wait_for(dropping, timeout=POSTGRES_DROP_TIMEOUT))
    except Exception as exc:
        raise BenchError(
            f"could not drop the throw-away database {name} ({exc!r}); drop it by hand: "
            f"dropdb -h {urlsplit(url).hostname} --force {name}"
        ) from exc
    print(f"  PostgreSQL: throw-away database {name} dropped")


def _with_driver(url: str) -> str:
    """``url`` with an async driver named, as crossdock reads it (``postgresql://`` -> asyncpg)."""
    from crossdock.config import normalize_database_url
    from crossdock.errors import ConfigurationError

    try:
        return normalize_database_url(url)
    except ConfigurationError as exc:
        raise BenchError(f"BENCH_POSTGRES_URL: {exc}") from None


def _database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def migrate_postgres(env: dict[str, str], out: Path) -> None:
    """``crossdock db upgrade`` on the database of ``env`` (the throw-away one)."""
    completed = subprocess.run(
        [str(CROSSDOCK), "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    (out / "ingest-postgres-upgrade.log").write_text(completed.stdout + completed.stderr)
    if completed.returncode != 0:
        raise BenchError(
            f"crossdock db upgrade failed on PostgreSQL (log: {out / 'ingest-postgres-upgrade.log'})"
        )


def bench_backend(backend: Backend, *, feed_url: str, tmp: Path, out: Path) -> None:
    env = {
        **os.environ,
        "CROSSDOCK_DATABASE_URL": backend.url,
        "CROSSDOCK_VAR_DIR": str(tmp / "var"),
        "CROSSDOCK_MARKETPLACE_PROVIDER_URL": feed_url,
    }
    if backend.name != "PostgreSQL":
        run_syncs(backend, env=env, tmp=tmp, out=out)
        return
    backend.skipped, database_url = create_postgres(backend.url)
    if backend.skipped:
        return
    print(f"  PostgreSQL: throw-away database {_database_name(database_url)} created")
    env["CROSSDOCK_DATABASE_URL"] = database_url
    try:
        migrate_postgres(env, out)
        run_syncs(backend, env=env, tmp=tmp, out=out)
    finally:
        # Also on a failed run, a time-out or SIGTERM (turned into SystemExit by stop_on_sigterm):
        # sync_once has stopped its process by then, and the drop ends any session left anyway.
        drop_postgres(backend.url, database_url)


def run_syncs(backend: Backend, *, env: dict[str, str], tmp: Path, out: Path) -> None:
    key = backend.name.lower()
    for number, (label, extra) in enumerate(RUNS, start=1):
        measurement = sync_once(label=label, extra=extra, env=env, tmp=tmp, out=out, tag=f"{key}-{number}")
        backend.runs.append(measurement)
        counts = ", ".join(f"{name}={measurement.summary.get(name)}" for name in COUNTS)
        print(
            f"  {backend.name}, {label}: {measurement.wall_seconds:.2f} s, {measurement.peak_rss_mb:.0f} MB"
            + (f", {counts}" if measurement.summary else f", FAILED: {measurement.error}")
        )


def without_credentials(url: str) -> str:
    """``url`` without user and password, for the recorded results."""
    parts = urlsplit(url)
    if not parts.hostname or "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()


def _speedup(first: Measurement, other: Measurement, *, in_process: bool = False) -> float | None:
    """How many times faster ``other`` was than ``first``: on wall time, or on the sync's own time."""
    if first.error or other.error:
        return None
    if in_process:
        before, after = first.summary.get("duration_seconds"), other.summary.get("duration_seconds")
    else:
        before, after = first.wall_seconds, other.wall_seconds
    if not before or not after:
        return None
    return float(before) / float(after)


def markdown(report: dict[str, Any], backends: list[Backend]) -> str:
    feed = report["feed"]
    feed_bytes = next(
        (run.summary.get("feed_bytes") for b in backends for run in b.runs if run.summary.get("feed_bytes")),
        None,
    )
    size = f", {feed_bytes / 1e6:,.1f} MB of XML" if feed_bytes else ""
    lines = [
        f"### Ingestion: `crossdock marketplace sync --json` of a generated {feed['base_events']:,} x "
        f"{feed['sessions_per_event']} x {feed['zones_per_session']} feed{size}",
        "",
        "Wall = the whole command (interpreter start, migration check, download, parse, write); "
        "sync = `duration_seconds` of its summary; peak RSS of the command's process.",
        "Databases: a fresh SQLite file; PostgreSQL "
        + (
            "".join(
                f"a throw-away database on the server of `{without_credentials(b.url)}`, "
                "created for the run and dropped after it"
                for b in backends
                if b.name == "PostgreSQL" and b.url
            )
            or "not used"
        )
        + ".",
        "",
        "| Database | Run | Wall s | Sync s | Peak RSS MB | seen | inserted | updated | unchanged | "
        "rejected | left feed | skipped identical | speed-up (wall) | speed-up (sync) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:-:|---:|---:|",
    ]
    for backend in backends:
        if backend.skipped:
            lines.append(f"| {backend.name} | {backend.skipped} |" + " |" * 12)
            continue
        first = backend.runs[0]
        for run in backend.runs:
            if run.error:
                lines.append(
                    f"| {backend.name} | {run.run}: FAILED ({run.error}) | {run.wall_seconds:.2f} |"
                    + " |" * 11
                )
                continue
            summary = run.summary
            speedups = [_speedup(first, run), _speedup(first, run, in_process=True)]
            lines.append(
                f"| {backend.name} | {run.run} | {run.wall_seconds:.2f} | "
                f"{summary.get('duration_seconds', 0):.2f} | {run.peak_rss_mb:.0f} | "
                + " | ".join(f"{summary.get(name, '')}" for name in COUNTS)
                + f" | {'yes' if summary.get('skipped_identical_feed') else 'no'} | "
                + " | ".join(
                    f"{speedup:.1f}x" if speedup is not None and run is not first else "-"
                    for speedup in speedups
                )
                + " |"
            )
    lines += ["", "Targets:", ""]
    for backend in backends:
        if backend.skipped or any(run.error for run in backend.runs):
            lines.append(f"- {backend.name}: {backend.skipped or 'a run failed'}, targets not evaluated.")
            continue
        first, resync, full = backend.runs
        peak = max(run.peak_rss_mb for run in backend.runs)
        checks = []
        if backend.name == "SQLite":
            checks.append(
                f"first sync < {FIRST_SYNC_TARGET_SECONDS:g} s: {first.wall_seconds:.1f} s wall "
                f"({first.summary.get('duration_seconds', 0):.1f} s sync), "
                + ("met" if first.wall_seconds < FIRST_SYNC_TARGET_SECONDS else "NOT met")
            )
        checks.append(
            f"peak RSS < {PEAK_RSS_TARGET_MB:g} MB: {peak:.0f} MB, "
            + ("met" if peak < PEAK_RSS_TARGET_MB else "NOT met")
        )
        for label, run in (("re-sync (identical-feed shortcut)", resync), ("re-sync --full", full)):
            wall = _speedup(first, run) or 0.0
            sync = _speedup(first, run, in_process=True) or 0.0
            checks.append(
                f"{label} >= {RESYNC_SPEEDUP_TARGET:g}x faster than the first: "
                f"{wall:.1f}x on wall time ({'met' if wall >= RESYNC_SPEEDUP_TARGET else 'NOT met'}), "
                f"{sync:.1f}x on sync time ({'met' if sync >= RESYNC_SPEEDUP_TARGET else 'NOT met'})"
            )
        lines.append(f"- {backend.name}: " + "; ".join(checks) + ".")
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="Directory for raw outputs and ingest.md.")
    parser.add_argument("--base-events", type=int, default=10_000)
    parser.add_argument("--sessions-per-event", type=int, default=1)
    parser.add_argument("--zones-per-session", type=int, default=100)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL") or DEFAULT_POSTGRES_URL,
        help="PostgreSQL URL (default: BENCH_POSTGRES_URL or %(default)s); 'skip' skips PostgreSQL.",
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    if argv[:1] == ["measure"]:
        # bench/ingest_bench.py measure RESULT.json -- COMMAND...
        return measure_command(Path(argv[1]), argv[argv.index("--") + 1 :])
    args = parse_args(argv)
    processes.stop_on_sigterm()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    backends = []
    with tempfile.TemporaryDirectory(prefix="crossdock-bench-ingest-") as tmp_name:
        tmp = Path(tmp_name)
        backends = [Backend("SQLite", f"sqlite+aiosqlite:///{tmp / 'ingest.db'}")]
        if args.postgres_url == "skip":
            backends.append(Backend("PostgreSQL", "", skipped="skipped (BENCH_POSTGRES_URL=skip)"))
        else:
            backends.append(Backend("PostgreSQL", args.postgres_url))
        try:
            feed_url = start_simulator(args, tmp, out)
            for backend in backends:
                if not backend.skipped:
                    bench_backend(backend, feed_url=feed_url, tmp=tmp, out=out)
        finally:
            processes.stop_all()
    report = {
        "feed": {
            "base_events": args.base_events,
            "sessions_per_event": args.sessions_per_event,
            "zones_per_session": args.zones_per_session,
        },
        "backends": [asdict(backend) for backend in backends],
    }
    for entry in report["backends"]:
        entry["url"] = without_credentials(entry["url"])
    (out / "ingest.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "ingest.md").write_text(markdown(report, backends))
    failed = any(run.error for backend in backends for run in backend.runs)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as exc:
        print(f"ingestion benchmark failed: {exc}", file=sys.stderr)
        sys.exit(1)
