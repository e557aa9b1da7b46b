"""How often ``crossdock site-outages process`` succeeds against a faulty platform, and how long it takes.

What it does, all on 127.0.0.1 and bounded in count and time:

1. for each scenario, starts ``crossdock simulate krakenflex`` with a key generated here (handed over
   in the environment, never on a command line) and the scenario's faults:

   - ``500s``: ``--error-rate 0.4``: 40 % of all requests, on every endpoint and the POST included,
     answer 500 (``--runs``, default 200);
   - ``429``: ``--rate-limit-rate 1 --retry-after 1``: the first attempt of every call answers 429
     with ``Retry-After: 1``, a request sent before that second has passed gets 429 again (counted as
     an early retry), the first one after it gets through (``--rate-limit-runs``, default 50);

   The simulator's fault rolls are seeded (``--seed``, default random, printed in the report): the
   same seed replays the same faults, another seed gives an independent sample;

2. runs ``crossdock site-outages process norwich-pear-tree --json`` that many times, one after the
   other, with default settings: the environment holds only the platform's URL and key, and the
   command runs in a fresh temporary directory, so its embedded database is new;
3. before each run empties the simulator's POST log (``DELETE /_control/posts``, which keeps the
   fault sequence going), after it reads the log: a run **succeeds** when it exits 0 and the log
   holds exactly one accepted (200) POST, for the site, whose body is exactly the expected one;
4. writes ``resilience.json`` and ``resilience.md`` (a Markdown fragment) into ``--out``: success
   rate, wall time of the command (median, p95, worst), the run's own ``duration_seconds``, attempts,
   and the simulator's counters (500s, 429s, early retries).

A run is killed after ``RUN_TIMEOUT`` seconds (worst case with default settings: 3 calls x 30 s).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import processes
from processes import LOOPBACK, BenchError

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
CROSSDOCK = ROOT / ".venv" / "bin" / "crossdock"
EXPECTED_FILE = ROOT / "tests" / "fixtures" / "krakenflex" / "expected-site-outages-norwich-pear-tree.json"

SITE = "norwich-pear-tree"
RUN_TIMEOUT = 200.0
SIMULATOR_READY_TIMEOUT = 60.0
TARGET_SUCCESS_RATE = 0.995


@dataclass
class Scenario:
    """One fault setting of the simulator and how many runs against it."""

    name: str
    description: str
    simulator_args: list[str]
    runs: int
    seed: int
    target: float | None = None


@dataclass
class Run:
    """One ``crossdock site-outages process`` command."""

    index: int
    returncode: int
    wall_seconds: float
    succeeded: bool
    accepted_posts: int
    posts: int
    attempts: int | None = None
    retries: int | None = None
    duration_seconds: float | None = None
    error: str | None = None


@dataclass
class ScenarioResult:
    scenario: Scenario
    runs: list[Run] = field(default_factory=list)
    simulator_counters: dict[str, Any] = field(default_factory=dict)


def control(method: str, url: str) -> Any:
    """JSON answer of a control-API request on a loopback URL."""
    if not url.startswith(f"http://{LOOPBACK}:"):
        raise BenchError(f"refusing a non-loopback URL: {url}")
    request = urllib.request.Request(url, method=method)  # noqa: S310 - loopback only
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback only
            return json.loads(response.read())
    except (urllib.error.URLError, ValueError) as exc:
        raise BenchError(f"{method} {url} failed: {exc}") from exc


def clean_environment(**values: str) -> dict[str, str]:
    """This process's environment without any CROSSDOCK_* variable, plus ``values``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CROSSDOCK_")}
    env.update(values)
    return env


def start_simulator(scenario: Scenario, key: str, tmp: Path, out: Path) -> tuple[str, Any]:
    port = processes.free_port()
    log = out / f"resilience-{scenario.name}-simulator.log"
    seed = ["--seed", str(scenario.seed)]
    process = processes.start(
        [
            str(CROSSDOCK),
            "simulate",
            "krakenflex",
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            *scenario.simulator_args,
            *seed,
        ],
        log=log,
        env=clean_environment(CROSSDOCK_SIMULATOR_KRAKENFLEX_API_KEY=key, CROSSDOCK_VAR_DIR=str(tmp / "sim")),
    )
    base = f"http://{LOOPBACK}:{port}"
    processes.wait_until(
        "krakenflex simulator",
        lambda: processes.http_get(f"{base}/health", timeout=5)[0] == 200,
        process=process,
        timeout=SIMULATOR_READY_TIMEOUT,
        log=log,
    )
    return base, process


def run_once(index: int, base: str, key: str, workdir: Path, expected: Any) -> Run:
    control("DELETE", f"{base}/_control/posts")
    env = clean_environment(CROSSDOCK_SITE_OUTAGES_BASE_URL=base, CROSSDOCK_SITE_OUTAGES_API_KEY=key)
    started = time.monotonic()
    try:
        completed = subprocess.run(
            [str(CROSSDOCK), "site-outages", "process", SITE, "--json"],
            env=env,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Run(index, -1, RUN_TIMEOUT, False, 0, 0, error=f"killed after {RUN_TIMEOUT:.0f} s")
    wall = time.monotonic() - started
    posts: list[dict[str, Any]] = control("GET", f"{base}/_control/posts")
    accepted = [post for post in posts if post["status"] == 200]
    exact = [post for post in accepted if post["site_id"] == SITE and post["body"] == expected]
    succeeded = completed.returncode == 0 and len(accepted) == 1 and len(exact) == 1
    run = Run(index, completed.returncode, round(wall, 3), succeeded, len(accepted), len(posts))
    try:
        summary = json.loads(completed.stdout)
        run.attempts, run.retries = summary["attempts"], summary["retries"]
        run.duration_seconds = summary["duration_seconds"]
    except (ValueError, KeyError, TypeError):
        pass
    if not succeeded:
        lines = completed.stderr.strip().splitlines()
        run.error = lines[-1] if lines else f"exit {completed.returncode}, {len(accepted)} accepted POSTs"
        if completed.returncode == 0:
            run.error = f"exit 0 but {len(exact)} exact accepted POSTs of {len(accepted)} accepted"
    return run


def bench_scenario(scenario: Scenario, tmp: Path, out: Path, expected: Any) -> ScenarioResult:
    result = ScenarioResult(scenario)
    key = secrets.token_urlsafe(24)  # generated per run: never a real credential
    scenario_dir = tmp / scenario.name
    workdir = scenario_dir / "cli"
    workdir.mkdir(parents=True)
    base, simulator = start_simulator(scenario, key, scenario_dir, out)
    try:
        for index in range(1, scenario.runs + 1):
            run = run_once(index, base, key, workdir, expected)
            result.runs.append(run)
            if not run.succeeded:
                print(f"  {scenario.name} run {index}: FAILED: {run.error}", file=sys.stderr)
            if index % 20 == 0 or index == scenario.runs:
                ok = sum(r.succeeded for r in result.runs)
                print(f"  {scenario.name}: {index}/{scenario.runs} runs, {ok} succeeded", file=sys.stderr)
        result.simulator_counters = control("GET", f"{base}/_control")["counters"]
    finally:
        processes.stop(simulator)
    return result


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0-1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def figures(result: ScenarioResult) -> dict[str, Any]:
    runs = result.runs
    walls = [run.wall_seconds for run in runs]
    durations = [run.duration_seconds for run in runs if run.duration_seconds is not None]
    attempts = [run.attempts for run in runs if run.attempts is not None]
    succeeded = sum(run.succeeded for run in runs)
    return {
        "runs": len(runs),
        "succeeded": succeeded,
        "success_rate": succeeded / len(runs) if runs else 0.0,
        "wall_median": statistics.median(walls) if walls else None,
        "wall_p95": percentile(walls, 0.95) if walls else None,
        "wall_max": max(walls) if walls else None,
        "run_median": statistics.median(durations) if durations else None,
        "run_max": max(durations) if durations else None,
        "attempts_median": statistics.median(attempts) if attempts else None,
        "attempts_max": max(attempts) if attempts else None,
        "failures": [asdict(run) for run in runs if not run.succeeded],
    }


def markdown(results: list[ScenarioResult]) -> str:
    lines = [
        f"#### Resilience: `crossdock site-outages process {SITE}`, default settings, against the simulator",
        "",
        "Each run: a new `crossdock` process (environment: only the platform's URL and key; a fresh "
        "embedded database), timed from start to exit. Success = exit 0 and exactly one accepted (200) "
        "POST whose body is exactly the expected one (the simulator's POST log, emptied before each run). "
        "`run s` is the run's own `duration_seconds` (without interpreter start-up). "
        f"Simulator seed: {results[0].scenario.seed if results else '-'} (`--seed` replays the same faults).",
        "",
        "| Scenario | Runs | Succeeded | Success rate | Target | Wall p50 s | Wall p95 s | Wall max s "
        "| Run p50 s | Run max s | Attempts p50 / max | Simulator 500s | 429s | Early retries |",
        "|---|---:|---:|---:|:-:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        f = figures(result)
        counters = result.simulator_counters
        scenario = result.scenario
        if scenario.target is not None:
            target = (
                f">= {scenario.target:.1%}: {'met' if f['success_rate'] >= scenario.target else 'NOT met'}"
            )
        else:
            target = "0 early retries: " + ("met" if counters.get("early_retries", 0) == 0 else "NOT met")
        lines.append(
            f"| {scenario.description} | {f['runs']} | {f['succeeded']} | {f['success_rate']:.2%} | {target} "
            f"| {fmt(f['wall_median'])} | {fmt(f['wall_p95'])} | {fmt(f['wall_max'])} "
            f"| {fmt(f['run_median'])} | {fmt(f['run_max'])} "
            f"| {fmt(f['attempts_median'], 0)} / {fmt(f['attempts_max'], 0)} "
            f"| {counters.get('errors', '-')} | {counters.get('rate_limited', '-')} "
            f"| {counters.get('early_retries', '-')} |"
        )
    for result in results:
        failed = [run for run in result.runs if not run.succeeded]
        if failed:
            lines += ["", f"Failed runs ({result.scenario.name}):", ""]
            lines += [f"- run {run.index}: exit {run.returncode}, {run.error}" for run in failed[:10]]
    return "\n".join(lines) + "\n"


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="Directory for raw outputs and resilience.md."
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=int(os.environ.get("BENCH_RESILIENCE_RUNS") or 200),
        help="Runs at 40 %% 500s (default: BENCH_RESILIENCE_RUNS or 200).",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=int(os.environ.get("BENCH_RESILIENCE_SEED") or secrets.randbelow(2**31)),
        help="Seed of the simulator's fault rolls (default: BENCH_RESILIENCE_SEED or random).",
    )
    parser.add_argument(
        "--rate-limit-runs",
        type=int,
        default=int(os.environ.get("BENCH_RATE_LIMIT_RUNS") or 50),
        help="Runs with 429 + Retry-After on every call (default: BENCH_RATE_LIMIT_RUNS or 50; 0 skips).",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 5000 or not 0 <= args.rate_limit_runs <= 5000:
        parser.error("--runs must be 1-5000 and --rate-limit-runs 0-5000")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    processes.stop_on_sigterm()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    expected = json.loads(EXPECTED_FILE.read_text())
    scenarios = [
        Scenario(
            "500s",
            "40 % of requests answer 500 (every endpoint, POST included)",
            ["--error-rate", "0.4"],
            args.runs,
            args.seed,
            TARGET_SUCCESS_RATE,
        ),
    ]
    if args.rate_limit_runs:
        scenarios.append(
            Scenario(
                "429",
                "429 + `Retry-After: 1` on the first attempt of every call",
                ["--rate-limit-rate", "1", "--retry-after", "1"],
                args.rate_limit_runs,
                args.seed,
            )
        )
    results: list[ScenarioResult] = []
    with tempfile.TemporaryDirectory(prefix="crossdock-bench-resilience-") as tmp_name:
        try:
            for scenario in scenarios:
                print(f"== {scenario.name}: {scenario.runs} runs", file=sys.stderr)
                results.append(bench_scenario(scenario, Path(tmp_name), out, expected))
        finally:
            processes.stop_all()
    report = [
        {
            "scenario": asdict(result.scenario),
            "simulator_counters": result.simulator_counters,
            **figures(result),
            "runs_detail": [asdict(run) for run in result.runs],
        }
        for result in results
    ]
    (out / "resilience.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "resilience.md").write_text(markdown(results))
    missed = any(
        (r.scenario.target is not None and figures(r)["success_rate"] < r.scenario.target)
        or r.simulator_counters.get("early_retries", 0)
        for r in results
    )
    return 1 if missed else 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as exc:
        print(f"resilience benchmark failed: {exc}", file=sys.stderr)
        sys.exit(1)
