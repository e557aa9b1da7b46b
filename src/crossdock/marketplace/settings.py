"""Settings of the marketplace events capability (``CROSSDOCK_MARKETPLACE_*``)."""

from __future__ import annotations

from pydantic import AliasChoices, AnyHttpUrl, Field
from pydantic_settings import SettingsConfigDict

from crossdock.config import PositiveSeconds, SettingsGroup

REAL_PROVIDER_URL = "https://provider.code-challenge.feverup.com/api/events"


class MarketplaceSettings(SettingsGroup):
    """The marketplace events capability (``CROSSDOCK_MARKETPLACE_*``)."""

    model_config = SettingsConfigDict(
        env_prefix="CROSSDOCK_MARKETPLACE_", extra="ignore", frozen=True, populate_by_name=True
    )

    provider_url: AnyHttpUrl = Field(
        default=AnyHttpUrl(REAL_PROVIDER_URL), description="The provider's GET events URL."
    )
    provider_name: str = Field(
        default="fever",
        pattern=r"^[a-z0-9_-]{1,32}$",
        description="Provider key stored with every plan; part of each public id.",
    )
    sync_interval: PositiveSeconds = Field(default=60.0, description="Seconds between two scheduled syncs.")
    sync_enabled: bool = Field(default=True, description="Schedule the sync job inside `crossdock serve`.")
    max_feed_bytes: int = Field(
        default=2 * 1024**3, ge=1024, description="Largest feed body accepted; larger fails the sync."
    )
    search_cache_entries: int = Field(
        default=4096,
        ge=0,
        # Read under the API group's name before the capability had its own settings.
        validation_alias=AliasChoices(
            "CROSSDOCK_MARKETPLACE_SEARCH_CACHE_ENTRIES", "CROSSDOCK_API_SEARCH_CACHE_ENTRIES"
        ),
        description="Pre-serialized /search answers kept per worker (0 = no cache).",
    )
