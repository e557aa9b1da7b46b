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
    # Limits on what one feed may hold (docs/marketplace.md, "Limits"): a record over a per-record
    # limit is rejected and counted; only a feed-wide limit fails the sync.
    max_feed_bytes: int = Field(
        default=512 * 1024**2,
        ge=1024,
        description="Largest feed body accepted (downloaded to a temporary file); larger fails the sync.",
    )
    max_field_length: int = Field(
        default=64 * 1024,
        ge=256,
        description=(
            "Longest attribute value or text, in characters, a record may carry; a longer one rejects "
            "the record (field_too_long)."
        ),
    )
    max_zones_per_session: int = Field(
        default=10_000,
        ge=1,
        description=(
            "Most zones (and other elements) inside one session; more rejects the session (too_many_zones)."
        ),
    )
    max_session_bytes: int = Field(
        default=4 * 1024**2,
        ge=4096,
        description="Largest XML of one session, zones included; larger rejects it (session_too_large).",
    )
    max_ignored_elements: int = Field(
        default=5_000_000,
        ge=0,
        description=(
            "Elements outside the feed's format (dropped as read, counted) allowed in one feed; more fails "
            "the sync."
        ),
    )
    search_cache_bytes: int = Field(
        default=64 * 1024**2,
        ge=0,
        description=(
            "Bytes of cached /search answers per worker, keys and overhead included, over both caches "
            "(0 = no cache)."
        ),
    )
    search_cache_entries: int = Field(
        default=4096,
        ge=0,
        # Read under the API group's name before the capability had its own settings.
        validation_alias=AliasChoices(
            "CROSSDOCK_MARKETPLACE_SEARCH_CACHE_ENTRIES", "CROSSDOCK_API_SEARCH_CACHE_ENTRIES"
        ),
        description="Most cached /search answers in each of the two caches per worker (0 = no cache).",
    )
