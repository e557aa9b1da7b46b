"""`crossdock simulate controllers`: help, option checks (exit 2 before anything is sent), the target URL,
and the demo's refusal to start against a service with API keys and no key for it."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from crossdock.apikeys import create_key
from crossdock.config import ApiSettings, Settings
from crossdock.controller_outages.simulator.cli import API_KEY_ENV_VAR, demo, outages_url
from crossdock.manifest import DemoContext
from crossdock.simulators.cli import app
from crossdock.simulators.options import USAGE_ERROR_EXIT_CODE

runner = CliRunner()
TARGET = ["--target", "http://127.0.0.1:9"]


def test_help_documents_every_option() -> None:
    """The controllers simulator is listed, and every option of it is in its help."""
    assert "controllers" in runner.invoke(app, ["--help"]).output
    result = runner.invoke(app, ["controllers", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for option in (
        "--target",
        "--controllers",
        "--speed",
        "--loss",
        "--duplicate-rate",
        "--reorder-window",
        "--backlog-rate",
        "--seed",
        "--duration",
        "--max-reports",
        "--start",
        "--api-key",
        "--json-log",
        "--retry-for",
    ):
        assert option in result.output
    assert API_KEY_ENV_VAR in result.output
    assert "--stop-with-parent" not in result.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--target", "ftp://127.0.0.1"], "--target must be an http(s) base URL"),
        (["--target", "http://127.0.0.1:9/?q=1"], "--target must be an http(s) base URL"),
        ([*TARGET, "--loss", "1.5"], "--loss must be between 0 and 1 (got 1.5)"),
        ([*TARGET, "--duplicate-rate", "-0.1"], "--duplicate-rate must be between 0 and 1 (got -0.1)"),
        ([*TARGET, "--backlog-rate", "2"], "--backlog-rate must be between 0 and 1 (got 2)"),
        ([*TARGET, "--reorder-window", "-1"], "--reorder-window must be between 0 and 604800 s (got -1)"),
        ([*TARGET, "--controllers", "0"], "--controllers must be between 1 and 100000 (got 0)"),
        ([*TARGET, "--speed", "0"], "--speed must be above 0 and at most 1000000 (got 0)"),
        ([*TARGET, "--duration", "0"], "--duration must be above 0 and at most 2592000 s (got 0)"),
        ([*TARGET, "--max-reports", "0"], "--max-reports must be at least 1 (got 0)"),
        ([*TARGET, "--retry-for", "0"], "--retry-for must be above 0 and at most 3600 s (got 0)"),
        ([*TARGET, "--start", "yesterday"], "--start must be an RFC 3339 date-time"),
    ],
)
def test_bad_values_fail_with_one_line_and_exit_code_2(arguments: list[str], message: str) -> None:
    """A bad value is named with its flag on one stderr line; nothing is printed or sent."""
    result = runner.invoke(app, ["controllers", *arguments])
    assert result.exit_code == USAGE_ERROR_EXIT_CODE
    assert result.stderr.strip().startswith(f"Error: {message}")
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_the_target_is_the_services_base_url() -> None:
    """POSTs go to <target>/outages, whatever trailing slash or base path the target has."""
    assert outages_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000/outages"
    assert outages_url("http://127.0.0.1:8000/") == "http://127.0.0.1:8000/outages"
    assert outages_url("https://ops.example/crossdock/") == "https://ops.example/crossdock/outages"


def test_the_demo_is_not_started_against_keys_it_does_not_have(monkeypatch: pytest.MonkeyPatch) -> None:
    """With API keys on the service and no simulator key, `make run` says so instead of starting it."""
    monkeypatch.delenv(API_KEY_ENV_VAR, raising=False)
    _key, entry = create_key("ops", ("controller-outages:write",))
    settings = Settings(api=ApiSettings(keys=(entry,)))
    shown = demo(DemoContext(settings=settings, service_url="http://127.0.0.1:8000"))
    assert shown is not None
    assert shown.environment == {}
    assert "not simulated" in shown.shown
    assert API_KEY_ENV_VAR in shown.shown
