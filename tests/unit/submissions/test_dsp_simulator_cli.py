"""`crossdock simulate dsp`: help text and option checks, which fail before any server starts."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from crossdock.simulators.options import USAGE_ERROR_EXIT_CODE
from crossdock.submissions.simulator.app import API_KEYS_ENV_VAR
from crossdock.submissions.simulator.cli import NO_KEY_MESSAGE, SIMULATOR, keys_from_environment

runner = CliRunner()


def simulate_app() -> typer.Typer:
    """A stand-in for `crossdock simulate` holding only this simulator, mounted the same way."""
    app = typer.Typer()

    @app.callback()
    def simulate() -> None:
        """Run fake upstream APIs."""

    app.command(name=SIMULATOR.name)(SIMULATOR.command)
    return app


@pytest.fixture(autouse=True)
def _no_keys_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(API_KEYS_ENV_VAR, raising=False)


def test_the_command_is_named_dsp() -> None:
    """The manifest's simulator command is `dsp`."""
    assert SIMULATOR.name == "dsp"


def test_help_documents_every_option_and_the_env_var() -> None:
    """`crossdock simulate dsp --help` lists every option and where keys come from."""
    result = runner.invoke(simulate_app(), ["dsp", "--help"], terminal_width=200)
    assert result.exit_code == 0
    for option in (
        "--host",
        "--port",
        "--api-key",
        "--limit",
        "--window",
        "--time-scale",
        "--error-rate",
        "--drop-after-commit-rate",
        "--validation-error-rate",
        "--processing-seconds",
        "--seed",
    ):
        assert option in result.output
    assert API_KEYS_ENV_VAR in result.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], f"Error: {NO_KEY_MESSAGE}"),
        (["--api-key", "k", "--error-rate", "1.5"], "Error: --error-rate must be between 0 and 1 (got 1.5)"),
        (
            ["--api-key", "k", "--drop-after-commit-rate", "-0.1"],
            "Error: --drop-after-commit-rate must be between 0 and 1 (got -0.1)",
        ),
        (
            ["--api-key", "k", "--validation-error-rate", "2"],
            "Error: --validation-error-rate must be between 0 and 1 (got 2.0)",
        ),
        (["--api-key", "k", "--port", "0"], "Error: --port must be between 1 and 65535 (got 0)"),
        (["--api-key", "k", "--limit", "0"], "Error: --limit must be at least 1 (got 0)"),
        (["--api-key", "k", "--limit", "1000001"], "Error: --limit must be at most 1000000 (got 1000001)"),
        (
            ["--api-key", "k", "--window", "0"],
            "Error: --window must be more than 0 and at most 86400 (got 0)",
        ),
        (
            ["--api-key", "k", "--time-scale", "-2"],
            "Error: --time-scale must be more than 0 and at most 10000 (got -2)",
        ),
        (
            ["--api-key", "k", "--processing-seconds", "-1"],
            "Error: --processing-seconds must be at least 0 and at most 86400 (got -1)",
        ),
        (
            ["--api-key", "has space"],
            "Error: an API key must be printable ASCII without spaces (it travels in a header)",
        ),
    ],
)
def test_bad_values_fail_with_one_line_and_exit_code_2(arguments: list[str], message: str) -> None:
    """A bad value (or no key at all) is named on one stderr line; exit 2, nothing served or printed."""
    result = runner.invoke(simulate_app(), ["dsp", *arguments])
    assert result.exit_code == USAGE_ERROR_EXIT_CODE
    assert result.stderr.strip() == message
    assert result.stderr.count("\n") == 1
    assert result.stdout == ""


def test_an_empty_env_var_is_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blank items of CROSSDOCK_SIMULATOR_DSP_API_KEYS are ignored: only commas is no key."""
    monkeypatch.setenv(API_KEYS_ENV_VAR, " , ,")
    result = runner.invoke(simulate_app(), ["dsp"])
    assert result.exit_code == USAGE_ERROR_EXIT_CODE
    assert result.stderr.strip() == f"Error: {NO_KEY_MESSAGE}"


def test_env_var_keys_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys in the env var are split on commas and trimmed."""
    monkeypatch.setenv(API_KEYS_ENV_VAR, " key-one ,key-two,, ")
    assert keys_from_environment() == ["key-one", "key-two"]


def test_a_bad_key_from_the_env_var_is_refused_without_echoing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A key that cannot travel in a header is refused in one line that does not show it."""
    monkeypatch.setenv(API_KEYS_ENV_VAR, "good-key,bad\tkey")
    result = runner.invoke(simulate_app(), ["dsp"])
    assert result.exit_code == USAGE_ERROR_EXIT_CODE
    assert "bad\tkey" not in result.output
    assert result.stderr.count("\n") == 1
