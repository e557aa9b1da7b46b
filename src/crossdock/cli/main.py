"""The ``crossdock`` root command: the core's commands, then each listed capability's sub-app.

Core: ``serve``, ``worker``, ``scheduler``, ``db``, ``jobs``, ``runs``, ``keys``, ``simulate``. Each
capability in :data:`crossdock.capabilities.CAPABILITIES` adds its group (``crossdock <name> ...``) and its
simulator (``crossdock simulate <upstream>``); this module never names one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from crossdock import __version__
from crossdock.capabilities import CAPABILITIES
from crossdock.cli import distributed
from crossdock.cli import serve as serve_module
from crossdock.cli.common import echo_json, load_settings, recorded_runs, run_with_database
from crossdock.cli.errors import cli_errors
from crossdock.cli.keys import app as keys_app
from crossdock.cli.progress import CliProgress
from crossdock.config import Settings
from crossdock.jobs import records
from crossdock.jobs.context import JobContext
from crossdock.jobs.engine import require_distributed
from crossdock.jobs.models import RunRecord
from crossdock.jobs.registry import JOBS, get_job
from crossdock.jobs.runner import JobOutcome, run_job
from crossdock.jobs.schemas import RunRead
from crossdock.jobs.spec import JobSpec
from crossdock.simulators.cli import app as simulate_app
from crossdock.storage import Database
from crossdock.storage.database import describe_url
from crossdock.storage.migrate import upgrade

app = typer.Typer(
    help="Crossdock: integrate external provider APIs (sync, store, serve, submit).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)
jobs_app = typer.Typer(help="Scheduled jobs: list them, run one now, see the engine.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(jobs_app, name="jobs")
app.add_typer(keys_app, name="keys")
for _capability in CAPABILITIES:
    if _capability.cli is not None:
        app.add_typer(_capability.cli, name=_capability.name)
app.add_typer(simulate_app, name="simulate")
console = Console()


def _version(value: bool) -> None:
    if value:
        typer.echo(f"crossdock {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """Crossdock: integrate external provider APIs."""


@app.command()
def serve(
    host: str = typer.Option(None, help="Interface to bind (default: CROSSDOCK_API_HOST, else 127.0.0.1)."),
    port: int = typer.Option(None, min=1, max=65535, help="Port (default: CROSSDOCK_API_PORT, else 8000)."),
    workers: int = typer.Option(
        None, min=1, max=64, help="Worker processes (default: CROSSDOCK_API_WORKERS, else 1)."
    ),
    with_simulator: bool = typer.Option(
        False,
        "--with-simulator",
        help="Start each capability's demo simulator on 127.0.0.1 and point the service at it, unless "
        "its upstream URL is set (used by `make run`).",
    ),
    allow_unauthenticated: bool = typer.Option(
        False,
        "--allow-unauthenticated",
        help="Serve a non-loopback address without API keys (trusted networks only; "
        "CROSSDOCK_API_ALLOW_UNAUTHENTICATED).",
    ),
) -> None:
    """Run the HTTP API; embedded mode also runs the scheduled jobs in process (migrates SQLite first).

    Distributed mode (CROSSDOCK_BROKER_URL set): it only serves; `crossdock worker` and
    `crossdock scheduler` run the jobs.
    """
    with cli_errors():
        settings = load_settings()
        serve_module.serve(
            settings,
            host=host or settings.api.host,
            port=port or settings.api.port,
            workers=workers or settings.api.workers,
            with_simulator=with_simulator,
            allow_unauthenticated=allow_unauthenticated,
        )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all database migrations (creates the embedded SQLite file if needed)."""
    with cli_errors():
        settings = load_settings()
        with CliProgress() as progress:
            progress.phase("migrate", None)

            def step(message: str, index: int, total: int) -> None:
                progress.phase("migrate", total)
                progress.advance(index)
                console.print(f"applied: {message}", highlight=False)

            total = upgrade(settings.database.url, on_step=step)
        console.print(
            f"database {describe_url(settings.database.url)} is at the newest of {total} revision(s)"
        )


@jobs_app.command("list")
def jobs_list(
    as_json: bool = typer.Option(False, "--json", help="Print the jobs as JSON."),
) -> None:
    """List registered jobs, their schedule and their last recorded run."""
    with cli_errors():
        settings = load_settings()

        async def work(db: Database) -> dict[str, RunRecord]:
            return await records.last_runs(db, [spec.name for spec in JOBS])

        latest = run_with_database(settings, work, migrate=True)
    rows = []
    for spec in JOBS:
        run = latest.get(spec.name)
        rows.append(
            {
                "name": spec.name,
                "interval_seconds": spec.interval_for(settings),
                "last_started_at": run.started_at.isoformat() if run is not None else None,
                "last_outcome": run.outcome if run is not None else None,
                "description": spec.description,
            }
        )
    if as_json:
        echo_json(rows)
        return
    table = Table(title="Jobs")
    table.add_column("name", no_wrap=True)
    for column in ("every", "last run", "outcome", "description"):
        table.add_column(column)
    for row in rows:
        interval = row["interval_seconds"]
        table.add_row(
            str(row["name"]),
            f"{interval:g}s" if isinstance(interval, float) else "not scheduled",
            str(row["last_started_at"] or "never")[:19],
            str(row["last_outcome"] or ""),
            str(row["description"]),
        )
    console.print(table)


@jobs_app.command("run")
def jobs_run(
    name: str = typer.Argument(..., help="Job name, as shown by `crossdock jobs list`."),
    wait: bool = typer.Option(
        False, "--wait", help="Distributed mode: wait for the runs to end and print how they ended."
    ),
    timeout: float = typer.Option(600.0, min=0.1, help="Seconds --wait waits at most."),
) -> None:
    """Run one registered job now, once per scheduled target, recorded like any run.

    Embedded mode (no CROSSDOCK_BROKER_URL): runs in this process. Distributed mode: queues the runs
    for the workers and prints their ids (with --wait: waits and exits 1 unless all succeeded).
    """
    with cli_errors():
        settings = load_settings()
        try:
            spec = get_job(name)
        except KeyError:
            known = ", ".join(s.name for s in JOBS)
            raise typer.BadParameter(f"unknown job {name!r}; known jobs: {known}") from None
        targets = [schedule.params for schedule in spec.schedules(settings)] or [{}]
        if settings.jobs.distributed:
            require_distributed(settings, "crossdock jobs run")
            _enqueue_and_report(settings, spec, targets, wait=wait, timeout=timeout)
            return

        async def work(db: Database) -> list[JobOutcome]:
            ctx = JobContext(settings=settings, db=db)
            try:
                return [await run_job(ctx, spec, params=params, trigger="cli") for params in targets]
            finally:
                await ctx.aclose()

        outcomes = run_with_database(settings, work, migrate=True)
    for outcome in outcomes:
        console.print(outcome)
    if not all(outcome.succeeded for outcome in outcomes):
        raise typer.Exit(1)


def _enqueue_and_report(
    settings: Settings, spec: JobSpec, targets: list[Mapping[str, Any]], *, wait: bool, timeout: float
) -> None:
    async def work(db: Database) -> tuple[list[tuple[int, bool]], list[RunRecord]]:
        queued = await distributed.enqueue_runs(settings, db, spec, targets)
        if not wait:
            return queued, []
        return queued, await distributed.wait_for_runs(db, [run_id for run_id, _ in queued], within=timeout)

    queued, ended = run_with_database(settings, work, migrate=False)
    for run_id, new in queued:
        said = "queued" if new else "already queued or running"
        console.print(f"run {run_id} of {spec.name}: {said}", highlight=False)
    if not wait:
        return
    for run in ended:
        error = f": {run.error}" if run.error else ""
        console.print(f"run {run.id} of {spec.name}: {run.status} ({run.outcome}){error}", highlight=False)
    if len(ended) < len(queued) or not all(run.status == "succeeded" for run in ended):
        raise typer.Exit(1)


@jobs_app.command("status")
def jobs_status(as_json: bool = typer.Option(False, "--json", help="Print the status as JSON.")) -> None:
    """Workers, queue depth and the active scheduler (distributed mode), and each job's last run."""
    with cli_errors():
        settings = load_settings()

        async def work(db: Database) -> dict[str, Any]:
            return await distributed.status_of(settings, db)

        status = run_with_database(settings, work, migrate=True)
    if as_json:
        echo_json(status)
        return
    console.print(f"mode: {status['mode']}  queue: {status['queue']}", highlight=False)
    if status["mode"] == "distributed":
        active = status.get("active_scheduler")
        console.print(
            f"broker: {status['broker']}  queue depth: {status.get('queue_depth')}", highlight=False
        )
        console.print(
            f"active scheduler: {active['id'] if active else 'none'}  "
            f"standby: {', '.join(status.get('standby_schedulers', [])) or 'none'}",
            highlight=False,
        )
        workers = Table(title="Workers")
        for column in ("id", "host", "pid", "heartbeat", "running", "metrics"):
            workers.add_column(column)
        for worker in status.get("workers", []):
            workers.add_row(
                worker["id"],
                worker["host"],
                str(worker["pid"]),
                f"{worker['last_heartbeat_seconds_ago']}s ago",
                ", ".join(map(str, worker["running"])) or "idle",
                worker["metrics_url"] or "",
            )
        console.print(workers)
    table = Table(title="Jobs")
    for column in ("name", "last run", "status", "outcome", "started", "error"):
        table.add_column(column)
    for job in status["jobs"]:
        table.add_row(
            job["name"],
            str(job["last_run_id"] or "never"),
            job["last_status"] or "",
            job["last_outcome"] or "",
            (job["last_started_at"] or "")[:19],
            (job["last_error"] or "")[:60],
        )
    console.print(table)


@app.command("worker")
def worker(
    concurrency: int = typer.Option(1, min=1, max=256, help="Runs this worker executes at once."),
    grace: float = typer.Option(30.0, min=0, help="Seconds a stopping worker lets its runs finish."),
    metrics_host: str = typer.Option("127.0.0.1", help="Interface of this process's /metrics."),
    metrics_port: int = typer.Option(
        0, min=0, max=65535, help="Port of this process's /metrics (0: any free)."
    ),
) -> None:
    """Distributed mode: take queued runs from the broker and run them, until SIGTERM or SIGINT."""
    with cli_errors():
        settings = load_settings()
        require_distributed(settings, "crossdock worker")
        metrics_url = distributed.serve_metrics(metrics_host, metrics_port)
        typer.echo(f"metrics: {metrics_url}")
        distributed.run_worker(settings, concurrency=concurrency, grace=grace, metrics_url=metrics_url)


@app.command("scheduler")
def scheduler(
    metrics_host: str = typer.Option("127.0.0.1", help="Interface of this process's /metrics."),
    metrics_port: int = typer.Option(
        0, min=0, max=65535, help="Port of this process's /metrics (0: any free)."
    ),
) -> None:
    """Distributed mode: send scheduled runs and sweep lost ones; one of several is active at a time."""
    with cli_errors():
        settings = load_settings()
        require_distributed(settings, "crossdock scheduler")
        metrics_url = distributed.serve_metrics(metrics_host, metrics_port)
        typer.echo(f"metrics: {metrics_url}")
        distributed.run_scheduler(settings, metrics_url=metrics_url)


@app.command("runs")
def runs(
    capability: str = typer.Option(
        None, help=f"Only runs of this capability ({', '.join(c.name for c in CAPABILITIES)})."
    ),
    job: str = typer.Option(None, help="Only runs of this job (see `crossdock jobs list`)."),
    limit: int = typer.Option(20, min=1, max=500, help="How many runs, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print the runs as JSON."),
) -> None:
    """List recorded runs of every capability's jobs, scheduled or started by hand."""
    known = [c.name for c in CAPABILITIES]
    if capability is not None and capability not in known:
        raise typer.BadParameter(f"unknown capability {capability!r}; known: {', '.join(known)}")
    with cli_errors():
        found = recorded_runs(load_settings(), capability=capability, job=job, limit=limit)
    rows = [RunRead.model_validate(run) for run in found]
    if as_json:
        echo_json([row.model_dump(mode="json") for row in rows])
        return
    table = Table(title="Runs")
    for column in ("id", "job", "subject", "trigger", "started", "outcome", "secs", "error"):
        table.add_column(column, no_wrap=column in ("job", "subject"))
    for row in rows:
        table.add_row(
            str(row.id),
            row.job,
            row.subject or "",
            row.trigger,
            row.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            row.outcome,
            f"{row.duration_seconds:.2f}" if row.duration_seconds is not None else "",
            (row.error or "")[:80],
        )
    console.print(table)


def run() -> None:
    app()
