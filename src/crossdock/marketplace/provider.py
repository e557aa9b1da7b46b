"""The marketplace provider's API: its client and the download of its feed.

:data:`UPSTREAM` names the provider for the resilient client (breaker, metrics, logs);
:func:`build_client` makes that client from the settings and :func:`download_feed` streams the feed
into a file. The feed's format is read by :mod:`crossdock.marketplace.feed`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO

from crossdock.config import Settings
from crossdock.httpclient import ClientHook, DownloadResult, ResilientClient
from crossdock.marketplace.settings import MarketplaceSettings

UPSTREAM = "marketplace"


def build_client(settings: Settings, hooks: ClientHook) -> ResilientClient:
    """The provider's client: timeouts, retries, breaker and rate limit from ``CROSSDOCK_HTTP_*``."""
    return ResilientClient.from_settings(UPSTREAM, settings.http, hooks=hooks)


DownloadProgress = Callable[[int, int | None], None]


async def download_feed(
    client: ResilientClient,
    settings: MarketplaceSettings,
    dest: IO[bytes],
    *,
    on_progress: DownloadProgress | None = None,
) -> DownloadResult:
    """Stream the provider's current feed into ``dest`` (hashed as it arrives), within the size limit.

    A failing write to ``dest`` (disk full) raises :class:`~crossdock.errors.StorageError`.
    """
    return await client.download(
        "GET",
        str(settings.provider_url),
        dest=dest,
        on_progress=on_progress,
        max_bytes=settings.max_feed_bytes,
    )
