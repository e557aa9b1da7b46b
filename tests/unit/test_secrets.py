"""Secrets in settings: surrounding whitespace from a secret file is stripped, anything that cannot
travel in a header is a one-line configuration error that never shows the value."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError, field_validator
from pydantic_settings import SettingsConfigDict
from typer.testing import CliRunner

from crossdock.cli.main import app
from crossdock.config import ApiKeySecret, Settings, SettingsGroup, get_settings, settings_error
from crossdock.errors import ConfigurationError
from crossdock.site_outages.provider import api_key_of
from crossdock.site_outages.settings import SiteOutagesSettings

VARIABLE = "CROSSDOCK_SITE_OUTAGES_API_KEY"
# Each breaks a key in a way an HTTP header cannot carry: whitespace, control, non-ASCII.
# (NUL cannot be put into an environment variable; the type's own test covers it.)
BAD_INNER = ["\n", "\r", " ", "\t", "\x01", "\x1b", "\x7f", "é", "\u00a0", "\u200b", "\U0001f511"]


def generated_key() -> str:
    return "test-" + secrets.token_hex(12)  # generated per run, never a real credential


def broken_key(bad: str) -> tuple[str, str, str]:
    """A key with ``bad`` in its middle, and the two generated halves that must never be shown."""
    head, tail = secrets.token_hex(8), secrets.token_hex(8)
    return f"{head}{bad}{tail}", head, tail


@pytest.fixture(autouse=True)
def _fresh_settings_and_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
    root.handlers[:] = handlers
    root.setLevel(level)


def load_error() -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        get_settings()
    return caught.value


@pytest.mark.parametrize("around", ["\n", "\r\n", "  ", "\t", " \n"])
def test_whitespace_around_a_key_from_a_secret_file_is_stripped(
    monkeypatch: pytest.MonkeyPatch, around: str
) -> None:
    """A key read from a file keeps its trailing newline; the settings strip it (documented)."""
    key = generated_key()
    monkeypatch.setenv(VARIABLE, f"{around}{key}{around}")
    group = Settings().of(SiteOutagesSettings)
    assert group.api_key is not None
    assert group.api_key.get_secret_value() == key


@pytest.mark.parametrize("bad", BAD_INNER)
def test_a_key_that_cannot_travel_in_a_header_is_a_one_line_error_without_the_value(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    """Whitespace inside, control or non-ASCII characters: exit-2 error naming the variable, not the key."""
    key, head, tail = broken_key(bad)
    monkeypatch.setenv(VARIABLE, key)
    message = load_error().message
    assert message.startswith(f"invalid setting {VARIABLE}: ")
    assert "\n" not in message
    assert head not in message
    assert tail not in message


def test_a_former_name_is_reported_under_the_new_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """CROSSDOCK_KRAKENFLEX_API_KEY is validated the same way and reported as the current variable."""
    key, head, _ = broken_key("\n")
    monkeypatch.setenv("CROSSDOCK_KRAKENFLEX_API_KEY", key)
    message = load_error().message
    assert message.startswith(f"invalid setting {VARIABLE}: ")
    assert head not in message


def test_a_key_of_only_whitespace_is_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty secret file gives the usual 'no API key' error when the key is needed."""
    monkeypatch.setenv(VARIABLE, " \n")
    with pytest.raises(ConfigurationError, match="no API key"):
        api_key_of(Settings().of(SiteOutagesSettings))


class TokenSettings(SettingsGroup):
    """A group of the tests' own, to show the secret type is reusable."""

    model_config = SettingsConfigDict(env_prefix="CROSSDOCK_TEST_", extra="ignore", frozen=True)

    token: ApiKeySecret | None = None


class EchoingSettings(TokenSettings):
    """A group whose own validator is careless enough to quote the value in its message."""

    @field_validator("token")
    @classmethod
    def _known(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            raise ValueError(f"unknown token {value.get_secret_value()} (or {value.get_secret_value()!r})")
        return value


def test_the_secret_type_is_reusable_by_any_group() -> None:
    """ApiKeySecret strips and validates wherever it is used; its message names no value."""
    key = generated_key()
    assert TokenSettings(token=SecretStr(f"{key}\n")).token == SecretStr(key)
    for bad_character in ("é", "\x00"):
        bad, head, tail = broken_key(bad_character)
        with pytest.raises(ValidationError) as caught:
            TokenSettings(token=SecretStr(bad))
        error = settings_error(caught.value, TokenSettings)
        assert error.message.startswith("invalid setting CROSSDOCK_TEST_TOKEN: ")
        assert head not in error.message
        assert tail not in error.message


def test_settings_error_never_prints_a_secret_even_if_a_validator_quotes_it() -> None:
    """Belt and braces: a message that echoes a secret field's value is masked in the printed line."""
    key = generated_key()
    with pytest.raises(ValidationError) as caught:
        EchoingSettings(token=SecretStr(key))
    message = settings_error(caught.value, EchoingSettings).message
    assert message.startswith("invalid setting CROSSDOCK_TEST_TOKEN: ")
    assert key not in message
    assert key[5:] not in message


@pytest.mark.parametrize("bad", ["\n", " ", "é"])
def test_the_api_key_option_is_validated_the_same_way(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bad: str
) -> None:
    """`--api-key` with an inner newline, space or non-ASCII: exit 2, one line, never the value."""
    monkeypatch.delenv(VARIABLE, raising=False)
    monkeypatch.delenv("CROSSDOCK_KRAKENFLEX_API_KEY", raising=False)
    # Should the check ever go, nothing leaves the test's directory or this machine.
    monkeypatch.setenv("CROSSDOCK_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'crossdock.db'}")
    monkeypatch.setenv("CROSSDOCK_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("CROSSDOCK_SITE_OUTAGES_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("CROSSDOCK_HTTP_MAX_ATTEMPTS", "1")
    key, head, tail = broken_key(bad)
    result = CliRunner().invoke(app, ["site-outages", "process", "norwich-pear-tree", "--api-key", key])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert "--api-key" in lines[0]
    assert head not in result.output + result.stderr
    assert tail not in result.output + result.stderr
