"""The ``crossdock`` root command: adds each area's sub-app explicitly."""

from __future__ import annotations

import orjson
import typer
from rich.console import Console
from rich.table import Table

from crossdock import __version__
from crossdock.cli import serve as serve_module
from crossdock.cli.common import load_settings, run_with_database
from crossdock.cli.errors import cli_errors
from crossdock.cli.progress import CliProgress
from crossdock.jobs.context import JobContext
from crossdock.jobs.models import JobRun
from crossdock.jobs.registry import JOBS, get_job
from crossdock.jobs.runner import last_runs, run_job
from crossdock.marketplace.cli import app as marketplace_app
from crossdock.simulators.cli import app as simulate_app
from crossdock.site_outages.cli import app as site_outages_app
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
jobs_app = typer.Typer(help="Scheduled jobs: list them, run one now.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(jobs_app, name="jobs")
app.add_typer(marketplace_app, name="marketplace")
app.add_typer(site_outages_app, name="site-outages")
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
        help="Start the marketplace simulator on 127.0.0.1 and sync from it, unless "
        "CROSSDOCK_MARKETPLACE_PROVIDER_URL is set (used by `make run`).",
    ),
) -> None:
    """Run the HTTP API with the in-process job scheduler (migrates the embedded database first)."""
    with cli_errors():
        settings = load_settings()
        serve_module.serve(
            settings,
            host=host or settings.api.host,
            port=port or settings.api.port,
            workers=workers or settings.api.workers,
            with_simulator=with_simulator,
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

        async def work(db: Database) -> dict[str, JobRun]:
            return await last_runs(db, [spec.name for spec in JOBS])

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
        typer.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
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
def jobs_run(name: str = typer.Argument(..., help="Job name, as shown by `crossdock jobs list`.")) -> None:
    """Run one registered job now, in this process, and record it like a scheduled run."""
    with cli_errors():
        settings = load_settings()
        try:
            spec = get_job(name)
        except KeyError:
            known = ", ".join(s.name for s in JOBS)
            raise typer.BadParameter(f"unknown job {name!r}; known jobs: {known}") from None

        async def work(db: Database) -> object:
            ctx = JobContext(settings=settings, db=db)
            try:
                return await run_job(ctx, spec)
            finally:
                await ctx.aclose()

        outcome = run_with_database(settings, work, migrate=True)
    console.print(outcome)
    if getattr(outcome, "outcome", "") != "success":
        raise typer.Exit(1)


def run() -> None:
    app()
