"""`crossdock simulate`: help text and option checks, which fail before any server starts."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from crossdock.simulators.cli import app
from crossdock.simulators.options import USAGE_ERROR_EXIT_CODE

runner = CliRunner()


def test_help_lists_the_marketplace_simulator() -> None:
    """The sub-app explains itself and names its one simulator."""
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "fault injection" in result.output
    assert "marketplace" in result.output


def test_marketplace_help_documents_every_option() -> None:
    """Every option of the marketplace simulator appears in its help."""
    result = runner.invoke(app, ["marketplace", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for option in (
        "--host",
        "--port",
        "--scenario",
        "--variant",
        "--base-events",
        "--sessions-per-event",
        "--zones-per-session",
        "--seed",
        "--static",
        "--rotate",
        "--error-rate",
        "--latency-ms",
        "--timeout-rate",
        "--truncate-rate",
    ):
        assert option in result.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--error-rate", "1.5"], "Error: --error-rate must be between 0 and 1 (got 1.5)"),
        (["--timeout-rate", "-0.1"], "Error: --timeout-rate must be between 0 and 1 (got -0.1)"),
        (["--truncate-rate", "2"], "Error: --truncate-rate must be between 0 and 1 (got 2.0)"),
        (["--port", "0"], "Error: --port must be between 1 and 65535 (got 0)"),
        (["--port", "70000"], "Error: --port must be between 1 and 65535 (got 70000)"),
        (["--base-events", "0"], "Error: --base-events must be at least 1 (got 0)"),
        (["--zones-per-session", "-3"], "Error: --zones-per-session must be at least 1 (got -3)"),
        (["--latency-ms", "-1"], "Error: --latency-ms must be 0 or more (got -1)"),
    ],
)
def test_out_of_range_values_fail_with_one_line_and_exit_code_2(arguments: list[str], message: str) -> None:
    """A bad value is named with its flag on one stderr line, and the command exits 2 without serving."""
    result = runner.invoke(app, ["marketplace", *arguments])
    assert result.exit_code == USAGE_ERROR_EXIT_CODE
    assert result.stderr.strip() == message
    assert result.stdout == ""


def test_unknown_scenario_is_a_usage_error() -> None:
    """Choices are checked by the parser, with the usual usage-error exit code."""
    result = runner.invoke(app, ["marketplace", "--scenario", "live"])
    assert result.exit_code == USAGE_ERROR_EXIT_CODE
    assert "live" in result.stderr
