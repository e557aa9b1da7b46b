"""``crossdock controller-outages ...``: import reports from a file, list events, rebuild (thin)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from crossdock.cli.common import echo_json, load_settings, run_with_database
from crossdock.cli.errors import cli_errors
from crossdock.cli.progress import CliProgress
from crossdock.controller_outages import service
from crossdock.controller_outages.schemas import EventPage
from crossdock.controller_outages.settings import ControllerOutagesSettings
from crossdock.errors import InvalidInputError
from crossdock.storage import Database

app = typer.Typer(
    help="Controller outages: merge LED controllers' outage reports into events.", no_args_is_help=True
)
console = Console()


def read_records(path: Path) -> Iterator[tuple[int, Any]]:
    """(line or position, record) from a JSON array, JSON lines or CSV file (by content, not name)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InvalidInputError(f"{path} is not UTF-8 text") from None
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            records = orjson.loads(stripped)
        except orjson.JSONDecodeError as exc:
            raise InvalidInputError(f"{path} is not a JSON array: {exc}") from None
        yield from enumerate(records, start=1)
    elif stripped.startswith("{"):
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    yield number, orjson.loads(line)
                except orjson.JSONDecodeError:
                    yield number, line  # rejected with its reason, like any bad record
    else:
        reader = csv.DictReader(io.StringIO(text))
        for row in reader:
            record: dict[str, Any] = {k: v for k, v in row.items() if k is not None}
            stamp = record.get("timestamp")
            if isinstance(stamp, str) and stamp.strip().isdigit():
                record["timestamp"] = int(stamp)  # CSV has no numbers: digits are Unix seconds
            yield reader.line_num, record


@app.command("import")
def import_file(
    path: Path = typer.Argument(..., help="A JSON array, JSON lines or CSV file of report records."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Store the reports of a file and merge them into events; bad lines are listed with their reason."""
    with cli_errors():
        settings = load_settings()
        group = settings.of(ControllerOutagesSettings)
        lines = list(read_records(path))

        async def work(db: Database) -> dict[str, Any]:
            summary: dict[str, Any] = {"accepted": 0, "duplicates": 0, "rejected": [], "events": set()}
            with CliProgress() as progress:
                progress.phase("import", len(lines))
                for start in range(0, len(lines), group.max_batch_records):
                    batch = lines[start : start + group.max_batch_records]
                    answer = await service.ingest_records(
                        db=db, settings=group, records=[record for _line, record in batch]
                    )
                    summary["accepted"] += answer.accepted
                    summary["duplicates"] += answer.duplicates
                    summary["events"].update(answer.event_ids)
                    summary["rejected"].extend(
                        {"line": batch[r.index][0], "error": r.error} for r in answer.rejected
                    )
                    progress.advance(start + len(batch))
            return summary

        summary = run_with_database(settings, work, migrate=True)
    summary["events"] = len(summary["events"])
    if as_json:
        echo_json(summary)
    else:
        console.print(
            f"accepted {summary['accepted']}, duplicates {summary['duplicates']}, "
            f"rejected {len(summary['rejected'])}, events touched {summary['events']}"
        )
        for rejected in summary["rejected"][:50]:
            console.print(f"  line {rejected['line']}: {rejected['error']}", highlight=False)
        if len(summary["rejected"]) > 50:
            console.print(f"  … and {len(summary['rejected']) - 50} more (use --json for all)")
    if summary["rejected"] and not (summary["accepted"] or summary["duplicates"]):
        raise typer.Exit(2)


@app.command("events")
def events(
    controller_id: str = typer.Option(None, "--controller-id", help="Only this controller."),
    outage_type: str = typer.Option(
        None, "--outage-type", help="panel_outage, temperature_outage, led_outage."
    ),
    start_time: str = typer.Option(None, "--start-time", help="Events ending at or after this time."),
    end_time: str = typer.Option(None, "--end-time", help="Events starting at or before this time."),
    status: str = typer.Option(None, "--status", help="ongoing or resolved."),
    limit: int = typer.Option(100, "--limit", min=1, max=service.MAX_PAGE, help="Events per page."),
    cursor: str = typer.Option(None, "--cursor", help="next_cursor of the previous page."),
    as_json: bool = typer.Option(False, "--json", help="Print the page as JSON."),
) -> None:
    """List outage events (ordered by start), filtered like GET /events."""
    with cli_errors():
        settings = load_settings()
        query = service.EventQuery(controller_id, outage_type, start_time, end_time, status, limit, cursor)

        async def work(db: Database) -> EventPage:
            return await service.list_events(
                db=db, settings=settings.of(ControllerOutagesSettings), query=query
            )

        page = run_with_database(settings, work, migrate=True)
    if as_json:
        echo_json(page.model_dump())
        return
    table = Table(title="Controller outage events")
    for column in ("id", "controller", "type", "start", "end", "status", "reports", "merged"):
        table.add_column(column, no_wrap=column in ("id", "controller"))
    for event in page.events:
        table.add_row(
            event.id,
            event.controller_id,
            event.outage_type,
            event.start_time,
            event.end_time,
            event.status,
            str(event.report_count),
            str(len(event.merged_ids)),
        )
    console.print(table)
    if page.next_cursor:
        console.print(f"next page: --cursor {page.next_cursor}")


@app.command("rebuild")
def rebuild(as_json: bool = typer.Option(False, "--json", help="Print the result as JSON.")) -> None:
    """Recompute every event from the stored reports; says whether anything differed."""
    with cli_errors():
        settings = load_settings()

        async def work(db: Database) -> service.RebuildResult:
            return await service.rebuild(db=db, settings=settings.of(ControllerOutagesSettings))

        result = run_with_database(settings, work, migrate=True)
    if as_json:
        echo_json(result.as_dict())
    elif result.changed_keys:
        console.print(
            f"{result.changed_keys} of {result.keys} controller/type keys differed and were rewritten"
        )
    else:
        console.print(f"nothing differed ({result.keys} controller/type keys checked)")
