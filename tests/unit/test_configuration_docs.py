"""Settings and their documentation stay in step; bad values give one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from crossdock.config import (
    CORE_GROUPS,
    Settings,
    capability_settings_groups,
    environment_variables,
    get_settings,
)
from crossdock.errors import ConfigurationError
from crossdock.marketplace.settings import MarketplaceSettings
from crossdock.site_outages.settings import SiteOutagesSettings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def all_groups() -> tuple[type[BaseSettings], ...]:
    return (Settings, *CORE_GROUPS, *capability_settings_groups())


def variable_names(*, current_only: bool = True) -> list[str]:
    """Every CROSSDOCK_* variable the settings read (the current names, or every accepted name)."""
    names = []
    for group in all_groups():
        for field, accepted in environment_variables(group).items():
            if group is Settings and field in Settings.model_fields and field != "var_dir":
                continue  # the core groups' own fields are listed through their group
            names.extend(accepted[:1] if current_only else accepted)
    return names


def test_every_setting_is_documented() -> None:
    """docs/configuration.md names every CROSSDOCK_* variable the settings read."""
    text = DOC.read_text()
    missing = [name for name in variable_names(current_only=False) if f"`{name}`" not in text]
    assert not missing


def test_required_names_exist() -> None:
    """The variables the product promises exist with these exact names."""
    assert {
        "CROSSDOCK_DATABASE_URL",
        "CROSSDOCK_MARKETPLACE_PROVIDER_URL",
        "CROSSDOCK_MARKETPLACE_SYNC_INTERVAL",
        "CROSSDOCK_LOG_LEVEL",
        "CROSSDOCK_LOG_FORMAT",
        "CROSSDOCK_SITE_OUTAGES_API_KEY",
    } <= set(variable_names())


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Values come from the environment, and the async driver is filled into plain URLs."""
    monkeypatch.setenv("CROSSDOCK_MARKETPLACE_SYNC_INTERVAL", "15")
    monkeypatch.setenv("CROSSDOCK_DATABASE_URL", "postgresql://u@127.0.0.1/db")
    settings = Settings()
    assert settings.of(MarketplaceSettings).sync_interval == 15
    assert settings.database.url == "postgresql+asyncpg://u@127.0.0.1/db"


def test_former_names_are_still_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """CROSSDOCK_KRAKENFLEX_* and CROSSDOCK_API_SEARCH_CACHE_ENTRIES still configure what they did."""
    monkeypatch.setenv("CROSSDOCK_KRAKENFLEX_SITES", "norwich-pear-tree")
    monkeypatch.setenv("CROSSDOCK_KRAKENFLEX_INTERVAL", "600")
    monkeypatch.setenv("CROSSDOCK_API_SEARCH_CACHE_ENTRIES", "7")
    settings = Settings()
    assert settings.of(SiteOutagesSettings).site_ids == ["norwich-pear-tree"]
    assert settings.of(SiteOutagesSettings).interval == 600
    assert settings.of(MarketplaceSettings).search_cache_entries == 7


def test_current_name_wins_over_former(monkeypatch: pytest.MonkeyPatch) -> None:
    """When both the new and the former variable are set, the new one is used."""
    monkeypatch.setenv("CROSSDOCK_KRAKENFLEX_SINCE", "2020-01-01T00:00:00Z")
    monkeypatch.setenv("CROSSDOCK_SITE_OUTAGES_SINCE", "2024-01-01T00:00:00Z")
    assert Settings().of(SiteOutagesSettings).since == "2024-01-01T00:00:00Z"


def test_with_groups_replaces_one_group_only() -> None:
    """Settings.with_groups gives a copy with that capability group replaced and the rest unchanged."""
    base = Settings()
    changed = base.with_groups(MarketplaceSettings(sync_interval=15))
    assert changed.of(MarketplaceSettings).sync_interval == 15
    assert base.of(MarketplaceSettings).sync_interval == 60
    assert changed.of(SiteOutagesSettings) == base.of(SiteOutagesSettings)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CROSSDOCK_SITE_OUTAGES_INTERVAL", "-1"),
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
