"""The one mapper from our errors to CLI exit codes and one-line messages.

Exit codes (documented in docs/operations.md):

====  =====================================================================
0     success
1     failure not covered below (unexpected error, job failed)
2     bad usage or invalid configuration (Typer's own usage errors too)
3     an upstream rejected our credentials (401/403)
4     an upstream does not know the resource (404)
5     an upstream rejected our payload (400 or another non-retried 4xx)
6     an upstream stayed unavailable after retries (5xx, 429, timeouts), or its circuit is open
7     an upstream's payload could not be used (truncated, not XML, ...)
8     the database is unreachable or a statement failed
9     the job is already running
====  =====================================================================
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import typer

from crossdock.errors import (
    ConfigurationError,
    CrossdockError,
    InvalidInputError,
    JobAlreadyRunningError,
    ProviderDataError,
    StorageError,
    UpstreamAuthError,
    UpstreamNotFoundError,
    UpstreamStatusError,
    UpstreamUnavailableError,
)

EXIT_CODES: tuple[tuple[type[CrossdockError], int], ...] = (
    (ConfigurationError, 2),
    (InvalidInputError, 2),
    (UpstreamAuthError, 3),
    (UpstreamNotFoundError, 4),
    (UpstreamStatusError, 5),
    (UpstreamUnavailableError, 6),
    (ProviderDataError, 7),
    (StorageError, 8),
    (JobAlreadyRunningError, 9),
)


def exit_code_for(exc: CrossdockError) -> int:
    for kind, code in EXIT_CODES:
        if isinstance(exc, kind):
            return code
    return 1


@contextlib.contextmanager
def cli_errors() -> Iterator[None]:
    """Turn our errors into ``error: <message>`` on stderr and the matching exit code."""
    try:
        yield
    except CrossdockError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        raise typer.Exit(exit_code_for(exc)) from None
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise typer.Exit(130) from None
