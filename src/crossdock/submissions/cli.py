"""``crossdock submissions ...``: import campaigns from a CSV file, see their status, retry (thin).

``import`` stores each campaign of the file through :func:`engine.submit`, under the client key
``csv:<campaign_id>`` (see :func:`client_key_for`): importing a file again answers the campaigns
already stored instead of creating them twice, and a campaign whose rows changed since it was
stored is reported as a conflict (nothing is changed or created for it). Nothing is sent to a DSP
here: the engine's job does that on its next pass (``crossdock serve``, or the workers).

Exit codes: 0 when at least one campaign of the file was submitted or was already there (rejected
rows and conflicts are listed all the same), or when the file holds no data row; 1 when the file
had problems and no campaign of it could be imported; 2 for usage errors (no such file, an unknown
or missing ``--dsp``). ``status ID`` and ``retry ID`` for an unknown campaign: 1 (``NotFoundError``
has no code of its own in :mod:`crossdock.cli.errors`). Other errors map as everywhere else.

This module never prints a DSP's API key: only DSP names come from the settings.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import typer

from crossdock.cli.common import echo_json, load_settings, run_with_database
from crossdock.cli.errors import cli_errors
from crossdock.cli.progress import CliProgress
from crossdock.errors import IdempotencyConflictError, InvalidInputError, StorageConflictError
from crossdock.storage import Database
from crossdock.submissions import engine
from crossdock.submissions.csv_import import CsvImportResult, ImportedCampaign, read_campaigns_csv
from crossdock.submissions.schemas import CampaignRead, CampaignSubmission, NodeRead
from crossdock.submissions.settings import SubmissionsSettings

app = typer.Typer(
    help="Submissions: import campaigns to submit to a DSP, follow their status, retry failed nodes.",
    no_args_is_help=True,
)

CLIENT_KEY_PREFIX: Final = "csv:"
MAX_CLIENT_KEY: Final = 255
"""The column's (and the API's Idempotency-Key's) length limit."""
PROGRESS_EVERY: Final = 256
"""Lines read between two progress updates (a bar update per line would cost more than the line)."""
READ_PHASE: Final = "Reading CSV"
SUBMIT_PHASE: Final = "Submitting campaigns"


def client_key_for(source_id: str) -> str:
    """The client key of a campaign read from a file: its ``campaign_id``, never its content.

    Were the content part of the key, a campaign edited in the file would be stored a second time
    under a new key; with the id alone, :func:`engine.submit` compares the stored body with the new
    one and refuses a different one (a conflict). An id too long for the column is hashed.
    """
    key = f"{CLIENT_KEY_PREFIX}{source_id}"
    if len(key) <= MAX_CLIENT_KEY:
        return key
    return f"{CLIENT_KEY_PREFIX}sha256:{hashlib.sha256(source_id.encode()).hexdigest()}"


def choose_dsp(requested: str | None, configured: Sequence[str]) -> str:
    """The DSP to submit to: the one named, else the only one configured; a usage error otherwise."""
    names = ", ".join(sorted(configured))
    if not configured:
        raise InvalidInputError("no DSP is configured: set CROSSDOCK_SUBMISSIONS_DSPS", code="unknown_dsp")
    if requested is None:
        if len(configured) == 1:
            return configured[0]
        raise InvalidInputError(
            f"several DSPs are configured ({names}): choose one with --dsp", code="no_dsp"
        )
    if requested not in configured:
        raise InvalidInputError(f"unknown DSP {requested!r}; configured: {names}", code="unknown_dsp")
    return requested


def one_line(text: str) -> str:
    """``text`` safe for one terminal line: control characters (a DSP's message may hold escapes)
    become spaces, runs of blanks one space."""
    cleaned = "".join(" " if unicodedata.category(char).startswith("C") else char for char in text)
    return " ".join(cleaned.split())


# -- import -----------------------------------------------------------------------------------------


@dataclass
class ImportSummary:
    """What an import did, campaign by campaign and row by row."""

    file: str
    dsp: str
    rows_read: int
    rows_imported: int
    submitted: list[dict[str, str]] = field(default_factory=list)
    already_submitted: list[dict[str, str]] = field(default_factory=list)
    conflicts: list[dict[str, str]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, path: Path, dsp: str, result: CsvImportResult) -> ImportSummary:
        rejected = [
            {"line": error.line, "column": error.column, "error": error.message} for error in result.errors
        ]
        return cls(str(path), dsp, result.rows_read, result.rows_imported, rejected=rejected)

    @property
    def exit_code(self) -> int:
        """1 when nothing could be imported because of problems; else 0 (see the module docstring)."""
        landed = self.submitted or self.already_submitted
        return 1 if not landed and (self.rejected or self.conflicts) else 0

    @property
    def rows_rejected(self) -> int:
        return self.rows_read - self.rows_imported

    def as_dict(self) -> dict[str, Any]:
        """The JSON summary: ``rejected`` holds one entry per problem (a row may have several)."""
        return {**self.__dict__, "rows_rejected": self.rows_rejected}

    def lines(self) -> Iterator[str]:
        yield (
            f"campaigns: {len(self.submitted)} submitted, {len(self.already_submitted)} already submitted, "
            f"{len(self.conflicts)} conflicting; rows: {self.rows_read} read, {self.rows_imported} imported, "
            f"{self.rows_rejected} rejected (DSP {self.dsp})"
        )
        for row in self.rejected:
            where = f"line {row['line']}" if row["column"] is None else f"line {row['line']}, {row['column']}"
            yield f"  {where}: {one_line(row['error'])}"
        for conflict in self.conflicts:
            yield f"  campaign {one_line(conflict['campaign_id'])!r}: {conflict['error']}"
        if self.submitted:
            yield "The engine sends them on its next pass; follow them with: crossdock submissions status"


def _read_with_progress(path: Path, progress: CliProgress) -> CsvImportResult:
    """``read_campaigns_csv_file``, reporting the bytes read (the file size is a known total)."""
    try:
        size = path.stat().st_size
        with path.open(encoding="utf-8-sig", newline="") as stream:
            progress.phase(READ_PHASE, size)
            result = read_campaigns_csv(_counted(stream, progress))
            progress.advance(size)
            return result
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}", code="unreadable_file") from exc


def _counted(lines: Iterable[str], progress: CliProgress) -> Iterator[str]:
    done = 0
    for number, line in enumerate(lines, start=1):
        done += len(line.encode("utf-8", "surrogatepass"))
        if number % PROGRESS_EVERY == 0:
            progress.advance(done)
        yield line


async def _submit_one(db: Database, dsp: str, item: ImportedCampaign, summary: ImportSummary) -> None:
    submission = CampaignSubmission(dsp=dsp, campaign=item.campaign)
    key = client_key_for(item.source_id)
    try:
        try:
            campaign, created = await engine.submit(db, submission, known_dsps=[dsp], client_key=key)
        except StorageConflictError:
            # Another import stored this campaign between our look-up and our insert: ask again,
            # which answers the stored one (or the conflict).
            campaign, created = await engine.submit(db, submission, known_dsps=[dsp], client_key=key)
    except IdempotencyConflictError:
        summary.conflicts.append(
            {
                "campaign_id": item.source_id,
                "error": "already submitted with other values (its rows changed since); not submitted "
                "again: give it a new campaign_id to submit it as a new campaign",
            }
        )
        return
    entry = {"campaign_id": item.source_id, "id": campaign.id}
    (summary.submitted if created else summary.already_submitted).append(entry)


@app.command("import")
def import_file(
    path: Path = typer.Argument(..., help="A campaigns CSV file (the FunnelFuel columns, one row per ad)."),
    dsp: str | None = typer.Option(
        None, "--dsp", help="The configured DSP to submit to (default: the only one configured)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Submit every campaign of a CSV file; rejected rows are listed with their line and reason.

    Importing a file again submits nothing twice; a campaign changed since is reported as a conflict.
    Exit 0 if at least one campaign was submitted or already there, 1 if none could be, 2 for usage
    errors.
    """
    with cli_errors():
        settings = load_settings()
        chosen = choose_dsp(dsp, list(settings.of(SubmissionsSettings).dsps))
        with CliProgress() as progress:
            result = _read_with_progress(path, progress)
            summary = ImportSummary.of(path, chosen, result)

            async def work(db: Database) -> None:
                progress.phase(SUBMIT_PHASE, len(result.campaigns))
                for done, item in enumerate(result.campaigns, start=1):
                    await _submit_one(db, chosen, item, summary)
                    progress.advance(done)

            if result.campaigns:
                run_with_database(settings, work, migrate=True)
    if as_json:
        echo_json(summary.as_dict())
    else:
        for line in summary.lines():
            typer.echo(line)
    if summary.exit_code:
        raise typer.Exit(summary.exit_code)


# -- status -----------------------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> Iterator[str]:
    """Columns padded to their widest cell; the last one (free text) is not padded."""
    body = [list(header), *(list(row) for row in rows)]
    widths = [max(len(row[column]) for row in body) for column in range(len(header) - 1)]
    for row in body:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        yield "  ".join([*cells, row[-1]]).rstrip()


def _counts(states: dict[str, int]) -> str:
    return ", ".join(f"{state} {count}" for state, count in sorted(states.items()))


async def _newest(db: Database, limit: int) -> list[dict[str, Any]]:
    """The first page of ``GET /api/campaigns``: newest first, with seed status and nodes by state."""
    summaries, _next_cursor = await engine.list_campaigns(db, limit=limit)
    return [
        {
            "id": item.campaign.id,
            "dsp": item.campaign.dsp,
            "name": item.campaign.name,
            "status": item.status,
            "error_message": item.error_message,
            "created_at": item.campaign.created_at,
            "nodes": item.states,
        }
        for item in summaries
    ]


def tree_lines(read: CampaignRead) -> Iterator[str]:
    """The campaign's header line, then its nodes as an indented table (depth shown by indentation)."""
    error = f" ({one_line(read.error_message)})" if read.error_message else ""
    yield f"campaign {read.id} {read.name!r} on {read.dsp}, created {read.created_at:%Y-%m-%d %H:%M:%S}"
    yield f"status: {read.status}{error}"

    def walk(node: NodeRead, depth: int) -> Iterator[list[str]]:
        problem = node.error_message or node.last_error
        yield [
            f"{'  ' * depth}{node.kind} {node.id}",
            node.state,
            node.status,
            str(node.attempts),
            node.external_id or "-",
            one_line(problem) if problem else "",
        ]
        for child in node.children:
            yield from walk(child, depth + 1)

    yield from _table(("NODE", "STATE", "STATUS", "ATTEMPTS", "EXTERNAL ID", "ERROR"), walk(read.tree, 0))


@app.command("status")
def status(
    campaign_id: str | None = typer.Argument(
        None, help="A campaign's id: show its tree. Without it: the newest campaigns."
    ),
    limit: int = typer.Option(
        20, "--limit", min=1, max=500, help="How many campaigns to list (as GET /api/campaigns: 1 to 500)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """The newest campaigns with their status and node counts, or one campaign's tree of nodes."""
    if campaign_id is None:
        _list_newest(limit, as_json=as_json)
    else:
        _show_tree(campaign_id, as_json=as_json)


def _list_newest(limit: int, *, as_json: bool) -> None:
    with cli_errors():
        settings = load_settings()

        async def work(db: Database) -> list[dict[str, Any]]:
            return await _newest(db, limit)

        listed = run_with_database(settings, work, migrate=True)
    if as_json:
        echo_json({"campaigns": listed})
        return
    if not listed:
        typer.echo("no campaigns yet (submit some with: crossdock submissions import FILE.csv)")
        return
    rows = (
        [
            item["id"],
            item["status"],
            f"{item['created_at']:%Y-%m-%d %H:%M:%S}",
            item["dsp"],
            _counts(item["nodes"]),
            item["name"],
        ]
        for item in listed
    )
    for line in _table(("ID", "STATUS", "CREATED", "DSP", "NODES", "NAME"), rows):
        typer.echo(line)


def _show_tree(campaign_id: str, *, as_json: bool) -> None:
    with cli_errors():
        settings = load_settings()

        async def work(db: Database) -> CampaignRead:
            campaign = await engine.get_campaign(db, campaign_id)
            return engine.campaign_view(campaign, await engine.campaign_nodes(db, campaign_id))

        read = run_with_database(settings, work, migrate=True)
    if as_json:
        echo_json(read.model_dump(mode="json"))
        return
    for line in tree_lines(read):
        typer.echo(line)


# -- retry ------------------------------------------------------------------------------------------


@app.command("retry")
def retry(
    campaign_id: str = typer.Argument(..., help="The campaign's id (see: crossdock submissions status)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Resume a campaign from its failed nodes (error, dead, blocked); completed nodes are never re-sent."""
    with cli_errors():
        settings = load_settings()

        async def work(db: Database) -> tuple[int, str]:
            resumed = await engine.retry_campaign(db, campaign_id)
            seed, _message = engine.campaign_status(await engine.campaign_nodes(db, campaign_id))
            return resumed, seed

        resumed, seed = run_with_database(settings, work, migrate=True)
    if as_json:
        echo_json({"id": campaign_id, "status": seed, "nodes_changed": resumed})
    elif resumed:
        typer.echo(
            f"resumed {resumed} node(s) of campaign {campaign_id} (status now {seed}); "
            "the engine sends them on its next pass"
        )
    else:
        typer.echo(f"nothing to retry: no node of campaign {campaign_id} failed (status {seed})")
