"""The core's own job: ``core.ping`` does nothing, so the engine can be checked and measured alone.

``crossdock jobs run core.ping --wait`` proves a deployment end to end (scheduler not needed: CLI →
database → broker → a worker → the run record). Its subject is its ``id`` parameter when given, so
a benchmark can queue many at once (one queued-or-running run per subject).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crossdock.config import Settings
from crossdock.jobs.context import JobContext
from crossdock.jobs.spec import JobSpec, RunReport, Schedule


async def ping(ctx: JobContext, run: RunReport) -> dict[str, Any]:
    """Nothing: the run record says the engine works."""
    return {"pong": True}


def _never(settings: Settings) -> tuple[Schedule, ...]:
    return ()


def _subject(settings: Settings, params: Mapping[str, Any]) -> str | None:
    value = params.get("id")
    return None if value is None else str(value)[:100]


PING = JobSpec(
    name="core.ping",
    capability="core",
    function=ping,
    schedules=_never,
    subject=_subject,
    description="Does nothing: checks (and benchmarks) the job engine end to end.",
    on_lost="retry",
    lost_policy="It does nothing: running it again is harmless.",
)
