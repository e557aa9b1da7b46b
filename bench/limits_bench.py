"""Hostile feeds: peak RSS and outcome of ``crossdock marketplace sync`` on each one.

What it does, all on 127.0.0.1 and bounded in time:

1. writes the hostile feeds of ``tests/integration/marketplace/hostile_feeds.py`` (a 20 MB title,
   300,000 zones in one session, 8 MB of unknown elements, 1,001 blocks nested 250 deep, 20 MB of
   text in a zone; each between two good records) and a baseline feed holding only the two good
   records, and serves them with ``python -m http.server`` on a loopback port;
2. for each feed, runs ``crossdock marketplace sync --json`` on a fresh SQLite database under the
   measuring wrapper of ``ingest_bench.py`` (peak RSS of that one command);
3. writes ``limits.json`` and ``limits.md``: feed size, outcome (rejected by reason, ignored
   elements, or the error), wall time, peak RSS and its growth over the baseline feed's.

``--code DIR`` runs another checkout's ``src`` (e.g. the code before a change) with the same steps.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import processes
from processes import LOOPBACK, BenchError

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
PYTHON = ROOT / ".venv" / "bin" / "python"
CROSSDOCK = ROOT / ".venv" / "bin" / "crossdock"
SYNC_TIMEOUT = 600.0

sys.path.insert(0, str(ROOT))  # the hostile feeds are the tests' own, written by one module
from tests.integration.marketplace.hostile_feeds import (  # noqa: E402
    HEAD,
    HOSTILE_FEEDS,
    TAIL,
    good_record,
    write_hostile_feed,
)

BASELINE = "baseline"


def write_feeds(directory: Path) -> dict[str, tuple[str, int]]:
    """Every feed of the run: name -> (what it holds, size in bytes)."""
    feeds = {BASELINE: ("the two good records only", 0)}
    (directory / f"{BASELINE}.xml").write_bytes(
        HEAD + good_record(1, "Before") + good_record(2, "After") + TAIL
    )
    for name, (what, _chunks) in HOSTILE_FEEDS.items():
        write_hostile_feed(directory / f"{name}.xml", name)
        feeds[name] = (what, 0)
    return {name: (what, (directory / f"{name}.xml").stat().st_size) for name, (what, _size) in feeds.items()}


def sync(args: argparse.Namespace, name: str, base: str, tmp: Path, out: Path) -> dict[str, Any]:
    result_path = tmp / f"{name}.json"
    env = {
        **os.environ,
        "CROSSDOCK_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / f'{name}.db'}",
        "CROSSDOCK_VAR_DIR": str(tmp / "var"),
        "CROSSDOCK_MARKETPLACE_PROVIDER_URL": f"{base}/{name}.xml",
    }
    if args.code is not None:
        env["PYTHONPATH"] = str(Path(args.code).resolve())
    argv = [str(PYTHON), str(BENCH_DIR / "ingest_bench.py"), "measure", str(result_path), "--"]
    argv += [str(CROSSDOCK), "marketplace", "sync", "--json"]
    log = out / f"limits-{name}.log"
    process = processes.start(argv, log=log, env=env)
    try:
        process.wait(timeout=SYNC_TIMEOUT + 30)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{name}: still running after {SYNC_TIMEOUT + 30:.0f} s (log: {log})") from None
    finally:
        processes.stop(process)
    if not result_path.exists():
        raise BenchError(f"{name}: the measuring wrapper failed (log: {log})")
    raw = json.loads(result_path.read_text())
    with log.open("a") as sink:
        sink.write(f"--- stdout ---\n{raw['stdout']}\n--- stderr (tail) ---\n{raw['stderr_tail']}\n")
    stdout: str = raw["stdout"]
    summary: dict[str, Any] = {}
    error = None
    try:
        summary = json.loads(stdout[stdout.index("{") :])
    except ValueError:
        lines = raw["stderr_tail"].strip().splitlines() or ["no output"]
        error = next((line for line in lines if line.startswith("error:")), lines[-1])[:200]
    return {
        "wall_seconds": round(raw["wall_seconds"], 2),
        "peak_rss_mb": round(raw["peak_rss_kib"] / 1024, 1),
        "returncode": raw["returncode"],
        "summary": summary,
        "error": error,
    }


def outcome(run: dict[str, Any]) -> str:
    summary = run["summary"]
    if not summary:
        return f"exit {run['returncode']}: {run['error']}"
    reasons = summary.get("rejected_reasons")
    rejected = ", ".join(f"{code} {count}" for code, count in sorted(reasons.items())) if reasons else "none"
    parts = [f"seen {summary.get('seen')}", f"inserted {summary.get('inserted')}"]
    parts.append(
        f"rejected {summary.get('rejected')} ({rejected})"
        if reasons is not None
        else f"rejected {summary.get('rejected')}"
    )
    if summary.get("ignored_elements"):
        parts.append(f"ignored elements {summary['ignored_elements']:,}")
    return ", ".join(parts)


def markdown(report: dict[str, Any]) -> str:
    baseline = report["runs"][BASELINE]["peak_rss_mb"]
    lines = [
        f"### Hostile feeds: `crossdock marketplace sync --json`, peak RSS of the command ({report['code']})",
        "",
        "Each feed holds two good records around its hostile part; fresh SQLite database per sync. "
        "Growth = peak RSS minus the baseline feed's.",
        "",
        "| Feed | What it holds | MB of XML | Outcome | Wall s | Peak RSS MB | Growth MB |",
        "|---|---|---:|---|---:|---:|---:|",
    ]
    for name, run in report["runs"].items():
        what, size = report["feeds"][name]
        lines.append(
            f"| {name} | {what} | {size / 1e6:,.1f} | {outcome(run)} | {run['wall_seconds']:.2f} | "
            f"{run['peak_rss_mb']:,.0f} | {run['peak_rss_mb'] - baseline:+,.0f} |"
        )
    return "\n".join(lines) + "\n"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, required=True, help="Directory for raw outputs and limits.md.")
    parser.add_argument("--code", type=Path, default=None, help="Another checkout's src directory to run.")
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    processes.stop_on_sigterm()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="crossdock-bench-limits-") as tmp_name:
        tmp = Path(tmp_name)
        feeds_dir = tmp / "feeds"
        feeds_dir.mkdir()
        feeds = write_feeds(feeds_dir)
        port = processes.free_port()
        server = processes.start(
            [str(PYTHON), "-m", "http.server", "--bind", LOOPBACK, "--directory", str(feeds_dir), str(port)],
            log=out / "limits-http.log",
        )
        base = f"http://{LOOPBACK}:{port}"
        try:
            processes.wait_until(
                "feed server",
                lambda: processes.http_get(f"{base}/{BASELINE}.xml", timeout=5)[0] == 200,
                process=server,
                timeout=30,
                log=out / "limits-http.log",
            )
            runs = {}
            for name in feeds:
                runs[name] = sync(args, name, base, tmp, out)
                print(f"  {name}: {runs[name]['peak_rss_mb']:.0f} MB, {outcome(runs[name])}")
        finally:
            processes.stop_all()
    report = {"code": f"given: {args.code}" if args.code else "this checkout", "feeds": feeds, "runs": runs}
    (out / "limits.json").write_text(json.dumps(report, indent=2))
    (out / "limits.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"limits benchmark failed: {exc}", file=sys.stderr)
        sys.exit(1)
