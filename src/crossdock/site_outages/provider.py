"""The energy platform's outages API: its client, wire payloads and the three calls of ``api.yaml``.

:data:`UPSTREAM` names the platform for the resilient client (breaker, metrics, logs);
:func:`build_client` makes that client from the settings and refuses to without an API key. Knows
nothing of storage or the CLI. The POST is declared idempotent: it carries the complete set for a
site, so sending it twice has the same effect. The platform gets its own retry budget and breaker
(:func:`http_settings`), and a site id always travels as one percent-encoded path segment
(:func:`path_of`), whatever the caller checked before.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from crossdock.config import HttpSettings, Settings
from crossdock.errors import ConfigurationError, InvalidInputError, ProviderDataError
from crossdock.httpclient import ClientHook, ResilientClient, attempts_of
from crossdock.site_outages.settings import SiteOutagesSettings

UPSTREAM = "krakenflex"


class OutagePayload(BaseModel):
    """One outage as the platform sends it; ``begin``/``end`` are kept as the exact strings sent."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    begin: str
    end: str
    begin_at: datetime = Field(exclude=True)

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> OutagePayload:
        return cls(id=raw["id"], begin=raw["begin"], end=raw["end"], begin_at=instant(raw["begin"]))


class DevicePayload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    name: str


class SiteInfoPayload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    name: str
    devices: list[DevicePayload]


class EnhancedOutagePayload(BaseModel):
    """What the platform expects back: keys in the order id, name, begin, end."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    begin: str
    end: str


_RAW_OUTAGES = TypeAdapter(list[dict[str, Any]])


def api_key_of(settings: SiteOutagesSettings) -> str:
    """The platform's key; raises :class:`ConfigurationError` saying what to set when there is none."""
    key = settings.api_key.get_secret_value() if settings.api_key else ""
    if not key:
        raise ConfigurationError(
            "no API key for the energy platform: set CROSSDOCK_SITE_OUTAGES_API_KEY (formerly "
            "CROSSDOCK_KRAKENFLEX_API_KEY) or pass --api-key"
        )
    return key


def http_settings(settings: Settings) -> HttpSettings:
    """The client settings for the platform: the shared ``CROSSDOCK_HTTP_*`` ones with this capability's
    retry budget and breaker threshold (``CROSSDOCK_SITE_OUTAGES_*``) in place of theirs."""
    group = settings.of(SiteOutagesSettings)
    return settings.http.for_upstream(
        max_attempts=group.max_attempts,
        max_retry_seconds=group.max_retry_seconds,
        backoff_initial=group.backoff_initial,
        backoff_max=group.backoff_max,
        breaker_failure_threshold=group.breaker_failure_threshold,
    )


def build_client(settings: Settings, hooks: ClientHook, **options: Any) -> ResilientClient:
    """The platform's client (its key registered as a secret); no key, no client.

    ``options`` are further :class:`ResilientClient` keywords (tests: ``transport``, ``clock``,
    ``registry``, ``rng``).
    """
    group = settings.of(SiteOutagesSettings)
    return ResilientClient.from_settings(
        UPSTREAM,
        http_settings(settings),
        base_url=str(group.base_url).rstrip("/") + "/",
        secret_headers={"x-api-key": api_key_of(group)},
        hooks=hooks,
        **options,
    )


def path_of(*segments: str) -> str:
    """A relative URL path from raw segments, each percent-encoded whole (``/``, ``?``, ``#``, ``%``...).

    Encoding keeps a segment one segment; ``.`` and ``..`` stay dot segments after encoding (they are
    unreserved), so they are refused, as is an empty segment.
    """
    for segment in segments:
        if segment in ("", ".", ".."):
            raise InvalidInputError(f"{segment!r} cannot be a segment of the platform's URL path")
    return "/".join(quote(segment, safe="") for segment in segments)


def instant(text: str) -> datetime:
    """An RFC 3339 date-time as a timezone-aware instant (any offset, any precision)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no offset")
    return value


def parse_outages(body: bytes) -> list[OutagePayload]:
    try:
        raw = _RAW_OUTAGES.validate_json(body)
        return [OutagePayload.from_wire(item) for item in raw]
    except (ValidationError, KeyError, TypeError, ValueError) as exc:
        raise ProviderDataError(f"{UPSTREAM}: GET /outages returned an unusable body: {exc}") from exc


def parse_site_info(body: bytes) -> SiteInfoPayload:
    try:
        return SiteInfoPayload.model_validate_json(body)
    except ValidationError as exc:
        raise ProviderDataError(f"{UPSTREAM}: GET /site-info returned an unusable body: {exc}") from exc


async def fetch_outages(client: ResilientClient) -> tuple[list[OutagePayload], int]:
    response = await client.request("GET", "outages")
    return parse_outages(response.content), attempts_of(response)


async def fetch_site_info(client: ResilientClient, site_id: str) -> tuple[SiteInfoPayload, int]:
    response = await client.request("GET", path_of("site-info", site_id))
    return parse_site_info(response.content), attempts_of(response)


async def post_site_outages(
    client: ResilientClient, site_id: str, outages: list[EnhancedOutagePayload]
) -> int:
    response = await client.request(
        "POST",
        path_of("site-outages", site_id),
        json=[outage.model_dump() for outage in outages],
        idempotent=True,  # the complete set for the site: posting it again changes nothing
    )
    return attempts_of(response)
