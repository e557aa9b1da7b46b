"""Jobs of the controller-outages capability: deliver notifications, and notice resolved events."""

from __future__ import annotations

from collections.abc import Sequence

from crossdock.config import Settings
from crossdock.controller_outages import provider, service
from crossdock.controller_outages.settings import ControllerOutagesSettings
from crossdock.jobs.context import JobContext
from crossdock.jobs.spec import JobSpec, RunReport, Schedule


async def deliver_notifications(ctx: JobContext, run: RunReport) -> service.DeliveryResult:
    """POST pending notifications to CROSSDOCK_CONTROLLER_OUTAGES_WEBHOOK_URL, in order per key."""
    return await service.deliver(
        db=ctx.db,
        client=ctx.client(provider.UPSTREAM, provider.build_client),
        settings=ctx.settings.of(ControllerOutagesSettings),
        report=run,
    )


async def upkeep(ctx: JobContext, run: RunReport) -> service.UpkeepResult:
    """Mark events quiet for longer than the gap as resolved; prune old reports if retention is set."""
    return await service.upkeep(db=ctx.db, settings=ctx.settings.of(ControllerOutagesSettings), report=run)


def _delivery_schedule(settings: Settings) -> Sequence[Schedule]:
    group = settings.of(ControllerOutagesSettings)
    return [Schedule(group.delivery_interval)] if group.webhook_url is not None else []


def _upkeep_schedule(settings: Settings) -> Sequence[Schedule]:
    return [Schedule(settings.of(ControllerOutagesSettings).resolve_interval)]


DELIVER = JobSpec(
    name=service.DELIVER_JOB,
    capability=service.CAPABILITY,
    function=deliver_notifications,
    schedules=_delivery_schedule,
    description="Deliver event notifications to the webhook (CROSSDOCK_CONTROLLER_OUTAGES_WEBHOOK_URL).",
    on_lost="retry",
    lost_policy="Delivery is at least once from the outbox: a row is marked delivered only after the "
    "webhook accepted it, so a lost run's rows are sent again (receivers already expect duplicates).",
)
UPKEEP = JobSpec(
    name=service.UPKEEP_JOB,
    capability=service.CAPABILITY,
    function=upkeep,
    schedules=_upkeep_schedule,
    description="Mark events quiet for longer than the gap as resolved; prune old reports (retention).",
    on_lost="retry",
    lost_policy="Resolving and pruning are conditional updates committed batch by batch: running them "
    "again changes only what is still due.",
)
