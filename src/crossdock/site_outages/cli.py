"""``crossdock site-outages ...`` and the ``process_outages`` compatibility script (thin)."""

from __future__ import annotations

from pathlib import Path

import orjson
import typer
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from crossdock.cli.common import echo_json, load_settings, recorded_runs, run_job_now
from crossdock.cli.errors import cli_errors
from crossdock.site_outages import jobs, service
from crossdock.site_outages.schemas import SiteOutagesRunRead
from crossdock.site_outages.settings import SiteOutagesSettings

app = typer.Typer(
    help="Site outages: report a site's device outages to the energy platform.", no_args_is_help=True
)
console = Console()


def _process(
    site_id: str,
    *,
    since: str | None,
    dry_run: bool,
    output: Path | None,
    skip_empty: bool,
    as_json: bool,
    api_key: str | None,
) -> None:
    with cli_errors():
        settings = load_settings()
        if api_key:
            group = settings.of(SiteOutagesSettings)
            settings = settings.with_groups(group.model_copy(update={"api_key": SecretStr(api_key)}))
        params = {"site_id": site_id, "since": since, "dry_run": dry_run, "skip_empty": skip_empty}
        outcome = run_job_now(settings, jobs.PROCESS, params=params)
    result = outcome.result
    assert isinstance(result, service.SiteOutagesResult)
    payload = orjson.dumps(result.payload, option=orjson.OPT_INDENT_2)
    if output is not None:
        output.write_bytes(payload + b"\n")
    if as_json:
        echo_json(result.as_dict(with_payload=dry_run and output is None))
        return
    if dry_run and output is None:
        typer.echo(payload.decode())
    table = Table(title=f"Site outages: {site_id} ({result.outcome})", show_header=False)
    for label, value in (
        ("outages fetched", result.fetched),
        ("kept", result.kept),
        ("dropped: began before " + result.since, result.dropped_before_cutoff),
        ("dropped: unknown device", result.dropped_unknown_device),
        ("posted", result.posted),
        ("attempts (retries)", f"{result.attempts} ({result.retries})"),
    ):
        table.add_row(label, str(value))
    console.print(table)


SINCE_HELP = (
    "Cut-off (RFC 3339 with offset); outages that began before are dropped "
    "(env CROSSDOCK_SITE_OUTAGES_SINCE)."
)


@app.command("process")
def process(
    site_id: str = typer.Argument(..., help="The site's id, e.g. norwich-pear-tree."),
    since: str = typer.Option(None, help=SINCE_HELP),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Compute and print (or write) the payload; post nothing."
    ),
    output: Path = typer.Option(None, help="Also write the payload to this file."),
    skip_empty: bool = typer.Option(False, "--skip-empty", help="Post nothing when no outage is kept."),
    as_json: bool = typer.Option(False, "--json", help="Print a machine-readable summary."),
    api_key: str = typer.Option(
        None, "--api-key", help="The platform's key (default: CROSSDOCK_SITE_OUTAGES_API_KEY)."
    ),
) -> None:
    """Fetch outages and site info, keep the site's outages since the cut-off, post them back."""
    _process(
        site_id,
        since=since,
        dry_run=dry_run,
        output=output,
        skip_empty=skip_empty,
        as_json=as_json,
        api_key=api_key,
    )


RUN_COLUMNS = ("id", "site_id", "started_at", "outcome", "fetched", "kept", "posted", "attempts", "error")


@app.command("runs")
def runs(
    limit: int = typer.Option(20, min=1, max=500, help="How many runs, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print the runs as JSON."),
) -> None:
    """List recorded site-outages runs."""
    with cli_errors():
        found = recorded_runs(load_settings(), capability=service.CAPABILITY, limit=limit)
    rows = [SiteOutagesRunRead.from_run(run) for run in found]
    if as_json:
        echo_json([row.model_dump() for row in rows])
        return
    table = Table(title="Site-outages runs")
    for column in ("id", "site", "started", "outcome", "fetched", "kept", "posted", "attempts", "error"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(getattr(row, name) or "") for name in RUN_COLUMNS))
    console.print(table)


compat = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@compat.command()
def process_outages(
    site_name: str = typer.Option("norwich-pear-tree", "--site-name", help="The site's id."),
    since: str = typer.Option(None, help=SINCE_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Compute and print the payload; post nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print a machine-readable summary."),
) -> None:
    """Compatibility entry point: the same as `crossdock site-outages process SITE_ID`."""
    _process(
        site_name, since=since, dry_run=dry_run, output=None, skip_empty=False, as_json=as_json, api_key=None
    )


def run_compat() -> None:
    compat()
