"""The energy platform's outages API: wire payloads and the calls, through the resilient client.

Knows the three endpoints of ``api.yaml``; knows nothing of storage or the CLI. The POST is declared
idempotent: it carries the complete set for a site, so sending it twice has the same effect.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from crossdock.errors import ProviderDataError
from crossdock.httpclient import ResilientClient

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
        return cls(id=raw["id"], begin=raw["begin"], end=raw["end"], begin_at=_instant(raw["begin"]))


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


def _instant(text: str) -> datetime:
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
    return parse_outages(response.content), response.extensions.get("crossdock_attempts", 1)


async def fetch_site_info(client: ResilientClient, site_id: str) -> tuple[SiteInfoPayload, int]:
    response = await client.request("GET", f"site-info/{site_id}")
    return parse_site_info(response.content), response.extensions.get("crossdock_attempts", 1)


async def post_site_outages(
    client: ResilientClient, site_id: str, outages: list[EnhancedOutagePayload]
) -> int:
    response = await client.request(
        "POST",
        f"site-outages/{site_id}",
        json=[outage.model_dump() for outage in outages],
        idempotent=True,  # the complete set for the site: posting it again changes nothing
    )
    attempts: int = response.extensions.get("crossdock_attempts", 1)
    return attempts
