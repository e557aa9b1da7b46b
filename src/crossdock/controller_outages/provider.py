"""The operators' webhook, the upstream this capability pushes to: its client and the one call.

Notifications are delivered at least once: the receiver may see one twice (after a lost answer)
and should key on ``event.id`` and ``kind``. The POST is declared idempotent for that reason.
"""

from __future__ import annotations

from typing import Any

from crossdock.config import Settings
from crossdock.httpclient import ClientHook, ResilientClient

UPSTREAM = "controller-outages-webhook"
ATTEMPTS_PER_PASS = 2
"""Attempts per notification within one delivery pass; the outbox retries on later passes."""


def build_client(settings: Settings, hooks: ClientHook) -> ResilientClient:
    """The webhook's client: the shared HTTP settings, few attempts per pass (the outbox retries)."""
    http = settings.http.for_upstream(max_attempts=ATTEMPTS_PER_PASS, max_retry_seconds=10.0)
    return ResilientClient.from_settings(UPSTREAM, http, hooks=hooks)


async def post_notification(client: ResilientClient, url: str, body: dict[str, Any]) -> None:
    """POST one notification; raises an ``UpstreamError`` unless the receiver answered 2xx/3xx."""
    await client.request("POST", url, json=body, idempotent=True)
