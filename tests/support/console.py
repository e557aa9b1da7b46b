"""Helpers of the console's tests: the app's settings for a test database, and a form's CSRF token."""

from __future__ import annotations

import re
from collections.abc import Sequence

from crossdock.apikeys import ApiKeyEntry
from crossdock.config import ApiSettings, DatabaseSettings, Settings, SettingsGroup
from crossdock.storage import Database


def console_settings(db: Database, keys: Sequence[ApiKeyEntry] = (), *groups: SettingsGroup) -> Settings:
    """Settings serving ``db`` without a scheduler (tests run jobs themselves), with ``keys`` if given."""
    settings = Settings(
        database=DatabaseSettings(url=db.url),
        api=ApiSettings(scheduler_enabled=False, read_model_poll_interval=3600, keys=tuple(keys)),
    )
    return settings.with_groups(*groups) if groups else settings


def csrf_of(html: str) -> str:
    """The CSRF token a console page puts in its forms."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, "the page's form carries a CSRF token"
    return found.group(1)
