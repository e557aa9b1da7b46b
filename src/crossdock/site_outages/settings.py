"""Settings of the site-outages capability (``CROSSDOCK_SITE_OUTAGES_*``).

Earlier versions named these after the upstream (``CROSSDOCK_KRAKENFLEX_*``); those names are still
read when the new ones are not set, so existing configurations keep working.
"""

from __future__ import annotations

from pydantic import AliasChoices, AnyHttpUrl, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from crossdock.config import PositiveSeconds, SettingsGroup

REAL_BASE_URL = "https://api.krakenflex.systems/interview-tests-mock-api/v1"
PREFIX = "CROSSDOCK_SITE_OUTAGES_"
FORMER_PREFIX = "CROSSDOCK_KRAKENFLEX_"


def _names(field: str) -> AliasChoices:
    return AliasChoices(f"{PREFIX}{field}", f"{FORMER_PREFIX}{field}")


class SiteOutagesSettings(SettingsGroup):
    """The site-outages capability and its energy platform API (``CROSSDOCK_SITE_OUTAGES_*``)."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore", frozen=True, populate_by_name=True)

    base_url: AnyHttpUrl = Field(
        default=AnyHttpUrl(REAL_BASE_URL),
        validation_alias=_names("BASE_URL"),
        description="Base URL of the platform's outages API.",
    )
    api_key: SecretStr | None = Field(
        default=None,
        validation_alias=_names("API_KEY"),
        description="The platform's x-api-key. No default: required before any request.",
    )
    sites: str = Field(
        default="",
        validation_alias=_names("SITES"),
        description="Comma-separated site ids processed on a schedule; empty = no schedule.",
    )
    since: str = Field(
        default="2022-01-01T00:00:00.000Z",
        validation_alias=_names("SINCE"),
        description="Default cut-off: outages that began before are dropped.",
    )
    interval: PositiveSeconds = Field(
        default=3600.0,
        validation_alias=_names("INTERVAL"),
        description="Seconds between scheduled runs per site.",
    )

    @property
    def site_ids(self) -> list[str]:
        return [site.strip() for site in self.sites.split(",") if site.strip()]
