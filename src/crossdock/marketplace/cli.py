"""``crossdock marketplace ...``: sync the provider's feed now, list recorded sync runs (thin)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from crossdock.cli.common import echo_json, load_settings, recorded_runs, run_job_now
from crossdock.cli.errors import cli_errors
from crossdock.cli.progress import CliProgress
from crossdock.marketplace import jobs, service
from crossdock.marketplace.schemas import SyncRunRead

app = typer.Typer(
    help="Marketplace events: sync the provider's feed, inspect sync runs.", no_args_is_help=True
)
console = Console()


@app.command()
def sync(
    full: bool = typer.Option(
        False, "--full", help="Parse and compare even if the feed is byte-identical to the last one."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Fetch the provider's feed once now and store it; exit code != 0 if the sync failed."""
    with cli_errors():
        settings = load_settings()
        with CliProgress() as progress:
            outcome = run_job_now(settings, jobs.SYNC, params={"full": full}, progress=progress)
    summary = outcome.result
    assert isinstance(summary, service.SyncSummary)
    if as_json:
        echo_json(summary.as_dict())
        return
    table = Table(title=f"Marketplace sync #{summary.run_id} ({summary.provider})", show_header=False)
    for key, value in summary.as_dict().items():
        if key not in {"run_id", "provider"}:
            table.add_row(key.replace("_", " "), str(value))
    console.print(table)


@app.command()
def runs(
    limit: int = typer.Option(20, min=1, max=500, help="How many runs, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print the runs as JSON."),
) -> None:
    """List recent sync runs with their outcome and counts."""
    with cli_errors():
        found = recorded_runs(load_settings(), capability=service.CAPABILITY, limit=limit)
    rows = [SyncRunRead.from_run(run) for run in found]
    if as_json:
        echo_json([row.model_dump(mode="json") for row in rows])
        return
    table = Table(title="Marketplace sync runs")
    for column in ("id", "started", "outcome", "seen", "ins", "upd", "same", "rej", "left", "secs", "error"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            str(row.id),
            row.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            row.outcome,
            str(row.seen),
            str(row.inserted),
            str(row.updated),
            str(row.unchanged),
            str(row.rejected),
            str(row.left_feed),
            f"{row.duration_seconds:.2f}" if row.duration_seconds is not None else "",
            (row.error or "")[:80],
        )
    console.print(table)
