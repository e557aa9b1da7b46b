"""``crossdock site-outages ...`` and the ``process_outages`` compatibility script (thin).

``--output`` is checked before the job runs (so a path that cannot or must not be written never
follows a POST) and written atomically: a temporary file beside it, then a rename.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

import orjson
import typer
from rich.console import Console
from rich.table import Table

from crossdock.cli.common import echo_json, load_settings, recorded_runs, run_job_now
from crossdock.cli.errors import cli_errors
from crossdock.config import validated_secret
from crossdock.errors import InvalidInputError
from crossdock.site_outages import jobs, service
from crossdock.site_outages.schemas import SiteOutagesRunRead
from crossdock.site_outages.settings import SiteOutagesSettings

app = typer.Typer(
    help="Site outages: report a site's device outages to the energy platform.", no_args_is_help=True
)
console = Console()


# Filesystems without hard links answer these to os.link; the no-clobber write then falls back to
# a check followed by a rename.
_NO_HARD_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EXDEV})


def _cannot_write(output: Path, reason: str) -> InvalidInputError:
    # repr: a path with a newline or a terminal escape stays one harmless line.
    return InvalidInputError(f"cannot write --output {str(output)!r}: {reason}", code="invalid_output")


def check_output(output: Path, *, force: bool) -> None:
    """Refuse an ``--output`` path that cannot or must not be written; called before any request.

    Refused: a symbolic link (even with ``--force``: it could point anywhere), a directory, anything
    but a regular file, an existing file without ``--force``, and a directory where a file cannot be
    created (probed by creating and removing one).
    """
    try:
        if output.is_symlink():
            raise _cannot_write(output, "it is a symbolic link (refused: write to its target instead)")
        if output.is_dir():
            raise _cannot_write(output, "it is a directory")
        if output.exists():
            if not output.is_file():
                raise _cannot_write(output, "it is not a regular file")
            if not force:
                raise _cannot_write(output, "the file exists (pass --force to replace it)")
        with tempfile.NamedTemporaryFile(dir=output.parent, prefix=f".{output.name}.", suffix=".probe"):
            pass
    except OSError as exc:
        raise _cannot_write(output, exc.strerror or str(exc)) from None


def write_output(output: Path, data: bytes, *, force: bool) -> None:
    """Write ``data`` to ``output`` atomically: a temporary file in the same directory, flushed, then
    renamed over it (``force``) or hard-linked to it (never replaces a file that appeared meanwhile).

    A new file gets the usual ``0o666 & ~umask`` mode, a replaced one keeps its mode. Raises
    ``OSError``; the temporary file never stays behind.
    """
    umask = os.umask(0)
    os.umask(umask)
    mode = 0o666 & ~umask
    with contextlib.suppress(FileNotFoundError):
        if force and output.is_file() and not output.is_symlink():
            mode = output.stat().st_mode & 0o7777
    handle, temporary = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as sink:
            sink.write(data)
            sink.flush()
            os.fsync(sink.fileno())
        os.chmod(temporary, mode)
        if force:
            os.replace(temporary, output)
            return
        try:
            os.link(temporary, output)
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
            if output.exists() or output.is_symlink():
                raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(output)) from None
            os.replace(temporary, output)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _write_result(output: Path, payload: bytes, *, force: bool, site_id: str, posted: bool) -> None:
    try:
        write_output(output, payload, force=force)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if isinstance(exc, FileExistsError):
            reason += " (it appeared while the run went on; pass --force to replace it)"
        error = _cannot_write(output, reason)
        if posted:
            error.add_context(
                f"site {site_id}: the platform accepted the POST, but the payload could not be written"
            )
        raise error from None


def _process(
    site_id: str,
    *,
    since: str | None,
    dry_run: bool,
    output: Path | None,
    force: bool,
    skip_empty: bool,
    as_json: bool,
    api_key: str | None,
) -> None:
    with cli_errors():
        if output is not None:
            check_output(output, force=force)
        settings = load_settings()
        if api_key:
            group = settings.of(SiteOutagesSettings)
            key = validated_secret(api_key, name="option --api-key")  # as CROSSDOCK_SITE_OUTAGES_API_KEY is
            settings = settings.with_groups(group.model_copy(update={"api_key": key}))
        params = {"site_id": site_id, "since": since, "dry_run": dry_run, "skip_empty": skip_empty}
        outcome = run_job_now(settings, jobs.PROCESS, params=params)
    result = outcome.result
    assert isinstance(result, service.SiteOutagesResult)
    payload = orjson.dumps(result.payload, option=orjson.OPT_INDENT_2)
    if output is not None:
        with cli_errors():
            posted = result.outcome == "success"
            _write_result(output, payload + b"\n", force=force, site_id=site_id, posted=posted)
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
    output: Path = typer.Option(
        None,
        help="Also write the payload to this file (checked before any request, written atomically; "
        "an existing file needs --force, a symbolic link is refused).",
    ),
    force: bool = typer.Option(False, "--force", help="Let --output replace an existing file."),
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
        force=force,
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
        site_name,
        since=since,
        dry_run=dry_run,
        output=None,
        force=False,
        skip_empty=False,
        as_json=as_json,
        api_key=None,
    )


def run_compat() -> None:
    compat()
