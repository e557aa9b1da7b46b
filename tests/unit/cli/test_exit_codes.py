"""Our errors become the documented exit codes and one-line messages."""

from __future__ import annotations

import pytest
import typer

from crossdock.cli.errors import cli_errors, exit_code_for
from crossdock.errors import (
    CircuitOpenError,
    ConfigurationError,
    CrossdockError,
    JobAlreadyRunningError,
    ProviderDataError,
    StorageError,
    UpstreamAuthError,
    UpstreamBadRequestError,
    UpstreamNotFoundError,
    UpstreamStatusError,
    UpstreamUnavailableError,
)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigurationError("x"), 2),
        (UpstreamAuthError("x", upstream="u", status=403), 3),
        (UpstreamNotFoundError("x", upstream="u", status=404), 4),
        (UpstreamBadRequestError("x", upstream="u", status=400), 5),
        (UpstreamStatusError("x", upstream="u", status=409), 5),
        (UpstreamUnavailableError("x", upstream="u", status=503), 6),
        (CircuitOpenError("x", upstream="u"), 6),
        (ProviderDataError("x"), 7),
        (StorageError("x"), 8),
        (JobAlreadyRunningError("x"), 9),
        (CrossdockError("x"), 1),
    ],
)
def test_exit_code_per_error(error: CrossdockError, code: int) -> None:
    """Each error class maps to the exit code docs/operations.md documents."""
    assert exit_code_for(error) == code


def test_cli_errors_prints_one_line_and_exits(capsys: pytest.CaptureFixture[str]) -> None:
    """An error inside a command prints `error: <message>` on stderr and exits with its code."""
    with pytest.raises(typer.Exit) as caught, cli_errors():
        raise UpstreamUnavailableError("marketplace unavailable: HTTP 503", upstream="marketplace")
    assert caught.value.exit_code == 6
    assert capsys.readouterr().err == "error: marketplace unavailable: HTTP 503\n"
