"""Jobs of the site-outages capability: process one site, scheduled once per configured site."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crossdock.config import Settings
from crossdock.jobs.context import JobContext
from crossdock.jobs.spec import JobSpec, RunReport, Schedule
from crossdock.site_outages import provider, service
from crossdock.site_outages.settings import SiteOutagesSettings


async def process_site(ctx: JobContext, run: RunReport) -> service.SiteOutagesResult:
    """Post one site's outages (params: ``site_id``; optional ``since``, ``dry_run``, ``skip_empty``)."""
    return await service.process_site_outages(
        client=ctx.client(provider.UPSTREAM, provider.build_client),
        settings=ctx.settings.of(SiteOutagesSettings),
        site_id=str(run.params["site_id"]),
        since=run.params.get("since"),
        dry_run=bool(run.params.get("dry_run", False)),
        skip_empty=bool(run.params.get("skip_empty", False)),
        report=run,
    )


def _schedules(settings: Settings) -> Sequence[Schedule]:
    group = settings.of(SiteOutagesSettings)
    return [Schedule(group.interval, {"site_id": site}) for site in group.site_ids]


def _site(settings: Settings, params: Mapping[str, Any]) -> str | None:
    site = params.get("site_id")
    return None if site is None else str(site)


PROCESS = JobSpec(
    name=service.PROCESS_JOB,
    capability=service.CAPABILITY,
    function=process_site,
    schedules=_schedules,
    subject=_site,
    check=service.check_run,
    description="Post each configured site's outages to the platform (CROSSDOCK_SITE_OUTAGES_SITES).",
    on_lost="retry",
    lost_policy="Every run posts the site's whole current outage list; a lost run that had already "
    "posted is repeated exactly as the next scheduled run would repeat it.",
)
