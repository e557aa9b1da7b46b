"""``crossdock keys ...``: make an API key for our HTTP API, list the configured ones, list the scopes.

A new key is printed once, with the entry to add to ``CROSSDOCK_API_KEYS``; Crossdock keeps only the
entry (a salted hash), so a lost key cannot be shown again: make a new one and drop the old entry.
"""

from __future__ import annotations

import re

import typer
from rich.console import Console
from rich.table import Table

from crossdock.apikeys import NAME_PATTERN, create_key, known_scopes
from crossdock.cli.common import echo_json, load_settings
from crossdock.cli.errors import cli_errors

app = typer.Typer(
    help="API keys for the HTTP API: create one, list the configured ones.", no_args_is_help=True
)
console = Console()


@app.command("create")
def create(
    name: str = typer.Argument(..., help="Who or what the key is for (lower case, digits, . _ -)."),
    scopes: list[str] = typer.Option(
        ..., "--scope", help="A scope the key holds; repeat for several (see `crossdock keys scopes`)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the key and its entry as JSON."),
) -> None:
    """Make a new key: printed once, with the entry to add to CROSSDOCK_API_KEYS."""
    if not re.match(NAME_PATTERN, name):
        raise typer.BadParameter(
            f"{name[:64]!r} is not a key name: use 1-64 of a-z 0-9 . _ - ", param_hint="NAME"
        )
    known = known_scopes()
    unknown = [scope for scope in scopes if scope not in known]
    if unknown:
        raise typer.BadParameter(
            f"unknown scope {unknown[0][:64]!r}; known: {', '.join(known)}", param_hint="--scope"
        )
    key, entry = create_key(name, tuple(dict.fromkeys(scopes)))
    if as_json:
        echo_json({"key": key, "entry": entry.model_dump()})
        return
    typer.echo(f"key (shown once; store it now): {key}")
    typer.echo("add this entry to the JSON list in CROSSDOCK_API_KEYS:")
    typer.echo(entry.model_dump_json())


@app.command("list")
def list_keys(as_json: bool = typer.Option(False, "--json", help="Print the entries as JSON.")) -> None:
    """List the keys configured in CROSSDOCK_API_KEYS (names, ids and scopes; never a key)."""
    with cli_errors():
        settings = load_settings()
    rows = [{"name": e.name, "id": e.id, "scopes": list(e.scopes)} for e in settings.api.keys]
    if as_json:
        echo_json(rows)
        return
    if not rows:
        typer.echo("no API keys configured: every route is open (serve binds loopback only)")
        return
    table = Table(title="API keys")
    for column in ("name", "id", "scopes"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(str(row["name"]), str(row["id"]), ", ".join(row["scopes"]))
    console.print(table)


@app.command("scopes")
def scopes_command() -> None:
    """List every scope a key may hold."""
    for scope in known_scopes():
        typer.echo(scope)
