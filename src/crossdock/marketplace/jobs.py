"""Jobs of the marketplace capability: the feed sync, on ``CROSSDOCK_MARKETPLACE_SYNC_INTERVAL``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crossdock.config import Settings
from crossdock.jobs.context import JobContext
from crossdock.jobs.spec import JobSpec, RunReport, Schedule
from crossdock.marketplace import provider, service
from crossdock.marketplace.settings import MarketplaceSettings


async def sync_feed(ctx: JobContext, run: RunReport) -> service.SyncSummary:
    """Sync the provider's feed once (``full``: parse even a byte-identical feed)."""
    return await service.sync_marketplace(
        db=ctx.db,
        client=ctx.client(provider.UPSTREAM, provider.build_client),
        settings=ctx.settings.of(MarketplaceSettings),
        force_parse=bool(run.params.get("full", False)),
        progress=run.progress,
        report=run,
    )


def _schedules(settings: Settings) -> Sequence[Schedule]:
    group = settings.of(MarketplaceSettings)
    return [Schedule(group.sync_interval)] if group.sync_enabled else []


def _provider(settings: Settings, params: Mapping[str, Any]) -> str:
    return settings.of(MarketplaceSettings).provider_name


SYNC = JobSpec(
    name=service.SYNC_JOB,
    capability=service.CAPABILITY,
    function=sync_feed,
    schedules=_schedules,
    subject=_provider,
    description="Fetch the marketplace provider's feed and store every plan (CROSSDOCK_MARKETPLACE_*).",
    on_lost="retry",
    lost_policy="A sync stores the feed in one transaction: a killed sync stored nothing, and running "
    "it again stores the whole feed once.",
)
