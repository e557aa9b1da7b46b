"""Settings of the site-outages capability (``CROSSDOCK_SITE_OUTAGES_*``).

Earlier versions named these after the upstream (``CROSSDOCK_KRAKENFLEX_*``); those names are still
read when the new ones are not set, so existing configurations keep working.
"""

from __future__ import annotations

import re
from typing import Final

from pydantic import AliasChoices, AnyHttpUrl, Field, field_validator
from pydantic_settings import SettingsConfigDict

from crossdock.config import ApiKeySecret, PositiveSeconds, SettingsGroup
from crossdock.errors import InvalidInputError

REAL_BASE_URL = "https://api.krakenflex.systems/interview-tests-mock-api/v1"
PREFIX = "CROSSDOCK_SITE_OUTAGES_"
FORMER_PREFIX = "CROSSDOCK_KRAKENFLEX_"

SITE_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
"""What a site id may be (whole string): it becomes one segment of the platform's URL path, so no
``/``, ``?``, ``#``, ``%``, space or control character, and it cannot be ``.`` or ``..``."""
SITE_ID_RULE: Final = "1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit"
SHOWN_SITE_ID_CHARS: Final = 64
"""How much of a refused site id an error message shows (escaped, quoted)."""


def shown_site_id(value: str) -> str:
    """``value`` quoted and escaped for a one-line message (no control or non-ASCII character), capped."""
    if len(value) <= SHOWN_SITE_ID_CHARS:
        return ascii(value)
    return f"{value[:SHOWN_SITE_ID_CHARS]!a}... ({len(value)} characters)"


def check_site_id(value: str) -> str:
    """Return ``value`` if it is a usable site id, else raise :class:`InvalidInputError` saying why."""
    if SITE_ID_PATTERN.fullmatch(value) is None:
        raise InvalidInputError(
            f"site id {shown_site_id(value)} is not valid: use {SITE_ID_RULE}", code="invalid_site_id"
        )
    return value


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
    api_key: ApiKeySecret | None = Field(
        default=None,
        validation_alias=_names("API_KEY"),
        description="The platform's x-api-key (whitespace around it is stripped). No default: required "
        "before any request.",
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
    # The platform's own retry budget and breaker, tuned for its random 500s (docs/site-outages.md
    # does the arithmetic); they replace the CROSSDOCK_HTTP_* values of the same names for it.
    max_attempts: int = Field(
        default=10, ge=1, le=20, description="Attempts per call to the platform, first one included."
    )
    max_retry_seconds: PositiveSeconds = Field(
        default=30.0, description="Time budget of one call to the platform, waits included."
    )
    backoff_initial: PositiveSeconds = Field(
        default=0.2, description="First backoff ceiling in seconds between attempts to the platform."
    )
    backoff_max: PositiveSeconds = Field(
        default=2.0, description="Largest backoff ceiling in seconds between attempts to the platform."
    )
    breaker_failure_threshold: int = Field(
        default=12, ge=1, description="Consecutive failed attempts to the platform that open its circuit."
    )

    @field_validator("sites")
    @classmethod
    def _valid_site_ids(cls, value: str) -> str:
        for site in value.split(","):
            if site.strip():
                try:
                    check_site_id(site.strip())
                except InvalidInputError as exc:
                    raise ValueError(exc.message) from None
        return value

    @property
    def site_ids(self) -> list[str]:
        return [site.strip() for site in self.sites.split(",") if site.strip()]
