"""Settings and their documentation stay in step; bad values give one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from crossdock.config import Settings, get_settings
from crossdock.errors import ConfigurationError

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def environment_variables() -> list[str]:
    names = []
    for name, field in Settings.model_fields.items():
        group = field.default_factory
        if group is None:
            names.append(f"CROSSDOCK_{name.upper()}")
            continue
        assert isinstance(group, type)
        assert issubclass(group, BaseSettings)
        prefix = group.model_config.get("env_prefix", "")
        names.extend(f"{prefix}{sub.upper()}" for sub in group.model_fields)
    return names


def test_every_setting_is_documented() -> None:
    """docs/configuration.md names every CROSSDOCK_* variable the settings read."""
    text = DOC.read_text()
    missing = [name for name in environment_variables() if f"`{name}`" not in text]
    assert not missing


def test_required_names_exist() -> None:
    """The variables the product promises exist with these exact names."""
    assert {
        "CROSSDOCK_DATABASE_URL",
        "CROSSDOCK_MARKETPLACE_PROVIDER_URL",
        "CROSSDOCK_MARKETPLACE_SYNC_INTERVAL",
        "CROSSDOCK_LOG_LEVEL",
        "CROSSDOCK_LOG_FORMAT",
    } <= set(environment_variables())


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Values come from the environment, and the async driver is filled into plain URLs."""
    monkeypatch.setenv("CROSSDOCK_MARKETPLACE_SYNC_INTERVAL", "15")
    monkeypatch.setenv("CROSSDOCK_DATABASE_URL", "postgresql://u@127.0.0.1/db")
    settings = Settings()
    assert settings.marketplace.sync_interval == 15
    assert settings.database.url == "postgresql+asyncpg://u@127.0.0.1/db"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CROSSDOCK_MARKETPLACE_SYNC_INTERVAL", "0"),
        ("CROSSDOCK_LOG_LEVEL", "LOUD"),
        ("CROSSDOCK_DATABASE_URL", "mysql://x"),
        ("CROSSDOCK_MARKETPLACE_PROVIDER_URL", "not a url"),
        ("CROSSDOCK_API_PORT", "70000"),
    ],
)
def test_bad_values_are_one_line_configuration_errors(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    """A bad value raises ConfigurationError whose single line names the environment variable."""
    monkeypatch.setenv(variable, value)
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigurationError) as caught:
            get_settings()
    finally:
        get_settings.cache_clear()
    assert caught.value.message.startswith(f"invalid setting {variable}: ")
    assert "\n" not in caught.value.message
