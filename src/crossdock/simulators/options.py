"""Option checks shared by every ``crossdock simulate <name>`` command: one line, exit code 2.

Simulators only: nothing here is used by the product's own code paths.
"""

from __future__ import annotations

from typing import Final, NoReturn

import typer

USAGE_ERROR_EXIT_CODE: Final = 2
HOST_HELP: Final = "Interface to bind (keep 127.0.0.1 unless you mean it)."


def usage_error(message: str) -> NoReturn:
    """Print ``Error: <message>`` on stderr and exit with the usage-error code."""
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(code=USAGE_ERROR_EXIT_CODE)


def check_cli_values(*, port: int, rates: dict[str, float], sizes: dict[str, int], latency_ms: int) -> None:
    """Reject out-of-range values with the option's own name, before anything starts."""
    if not 1 <= port <= 65535:
        usage_error(f"--port must be between 1 and 65535 (got {port})")
    for flag, rate in rates.items():
        if not 0.0 <= rate <= 1.0:
            usage_error(f"{flag} must be between 0 and 1 (got {rate})")
    for flag, size in sizes.items():
        if size < 1:
            usage_error(f"{flag} must be at least 1 (got {size})")
    if latency_ms < 0:
        usage_error(f"--latency-ms must be 0 or more (got {latency_ms})")
