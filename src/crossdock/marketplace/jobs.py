"""Job functions of the marketplace capability (registered in :mod:`crossdock.jobs.registry`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from crossdock.marketplace import service
from crossdock.observability.metrics import SYNC_RUNS

if TYPE_CHECKING:
    from crossdock.jobs.context import JobContext

UPSTREAM = "marketplace"


async def sync_feed(ctx: JobContext) -> Mapping[str, Any]:
    """Sync the provider's feed once; the summary says what changed."""
    settings = ctx.settings.marketplace
    try:
        summary = await service.sync_marketplace(
            db=ctx.db,
            client=ctx.client(UPSTREAM),
            provider=settings.provider_name,
            feed_url=str(settings.provider_url),
            max_feed_bytes=settings.max_feed_bytes,
        )
    except Exception:
        SYNC_RUNS.labels("marketplace", "failed").inc()
        raise
    SYNC_RUNS.labels("marketplace", "success").inc()
    return summary.as_dict()
