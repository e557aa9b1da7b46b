"""The one list of jobs Crossdock runs, with their schedules.

A job is a plain ``async def job(ctx: JobContext) -> Mapping[str, Any]`` returning a summary. It is
registered here explicitly (never by import side effect) with a function of the settings giving
its interval in seconds, or ``None`` when it must not be scheduled. Runners
(:mod:`crossdock.jobs.runner` in-process today, a distributed queue later) only read this list.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from crossdock.config import Settings
from crossdock.jobs.context import JobContext
from crossdock.marketplace import jobs as marketplace_jobs
from crossdock.site_outages import jobs as site_outages_jobs

JobFunction = Callable[[JobContext], Awaitable[Mapping[str, Any]]]


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A registered job: its unique name, function, schedule and a one-line description."""

    name: str
    function: JobFunction
    interval: Callable[[Settings], float | None]
    description: str

    def interval_for(self, settings: Settings) -> float | None:
        return self.interval(settings)


JOBS: tuple[JobSpec, ...] = (
    JobSpec(
        name="marketplace.sync",
        function=marketplace_jobs.sync_feed,
        interval=lambda s: s.marketplace.sync_interval if s.marketplace.sync_enabled else None,
        description="Fetch the marketplace provider's feed and store every plan (CROSSDOCK_MARKETPLACE_*).",
    ),
    JobSpec(
        name="site_outages.process",
        function=site_outages_jobs.process_configured_sites,
        interval=lambda s: s.krakenflex.interval if s.krakenflex.site_ids else None,
        description="Post each configured site's outages to the platform (CROSSDOCK_KRAKENFLEX_SITES).",
    ),
)


def get_job(name: str) -> JobSpec:
    for spec in JOBS:
        if spec.name == name:
            return spec
    raise KeyError(name)
