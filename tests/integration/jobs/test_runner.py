"""The job wrapper and scheduler against a real database: records, never twice at once, survives failures."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest
from sqlalchemy import select

from crossdock.config import DatabaseSettings, MarketplaceSettings, Settings
from crossdock.errors import JobAlreadyRunningError, UpstreamUnavailableError
from crossdock.jobs.context import JobContext
from crossdock.jobs.models import JobRun
from crossdock.jobs.registry import JOBS, JobSpec
from crossdock.jobs.runner import InProcessScheduler, last_runs, run_job
from crossdock.storage import Database


def context(db: Database) -> JobContext:
    return JobContext(settings=Settings(database=DatabaseSettings(url=db.url)), db=db)


async def recorded(db: Database, name: str) -> list[JobRun]:
    async with db.reader() as session:
        return list(
            (
                await session.execute(select(JobRun).where(JobRun.job_name == name).order_by(JobRun.id))
            ).scalars()
        )


async def test_success_is_recorded_with_its_summary(database: Database) -> None:
    """A job's returned summary is stored with outcome and duration."""

    async def job(ctx: JobContext) -> Mapping[str, Any]:
        return {"changed": True, "seen": 3}

    spec = JobSpec("test.ok", job, lambda s: None, "test")
    outcome = await run_job(context(database), spec)
    assert outcome.outcome == "success"
    (run,) = await recorded(database, "test.ok")
    assert (run.outcome, run.summary) == ("success", {"changed": True, "seen": 3})
    assert run.duration_seconds is not None
    assert (await last_runs(database, ["test.ok"]))["test.ok"].id == run.id


async def test_failure_is_recorded_and_does_not_raise(database: Database) -> None:
    """A failing job is logged and recorded as failed with its message; the caller gets an outcome."""

    async def job(ctx: JobContext) -> Mapping[str, Any]:
        raise UpstreamUnavailableError("provider down", upstream="x")

    outcome = await run_job(context(database), JobSpec("test.fail", job, lambda s: None, "test"))
    assert (outcome.outcome, outcome.error) == ("failed", "provider down")
    (run,) = await recorded(database, "test.fail")
    assert (run.outcome, run.error) == ("failed", "provider down")


async def test_job_never_runs_twice_at_once(database: Database) -> None:
    """While a run is in progress, starting the same job again is refused."""
    release = asyncio.Event()

    async def job(ctx: JobContext) -> Mapping[str, Any]:
        await release.wait()
        return {}

    spec = JobSpec("test.slow", job, lambda s: None, "test")
    ctx = context(database)
    first = asyncio.create_task(run_job(ctx, spec))
    await asyncio.sleep(0)
    for _ in range(50):
        if await recorded(database, "test.slow"):
            break
        await asyncio.sleep(0.01)
    with pytest.raises(JobAlreadyRunningError):
        await run_job(ctx, spec)
    release.set()
    assert (await first).outcome == "success"


async def test_scheduler_keeps_running_after_failures(database: Database) -> None:
    """A job that fails on every run is retried on its next turn; listeners see successful runs."""
    calls = {"n": 0}
    seen: list[Mapping[str, Any]] = []

    async def flaky(ctx: JobContext) -> Mapping[str, Any]:
        calls["n"] += 1
        if calls["n"] % 2:
            raise RuntimeError("odd run fails")
        return {"run": calls["n"]}

    async def listener(spec: JobSpec, summary: Mapping[str, Any]) -> None:
        seen.append(summary)

    scheduler = InProcessScheduler(context(database), [JobSpec("test.flaky", flaky, lambda s: 0.01, "test")])
    scheduler.add_listener(listener)
    scheduler.start()
    for _ in range(200):
        if len(seen) >= 2:
            break
        await asyncio.sleep(0.01)
    await scheduler.stop()
    outcomes = [run.outcome for run in await recorded(database, "test.flaky")]
    assert outcomes[:4] == ["failed", "success", "failed", "success"]
    assert seen[:2] == [{"run": 2}, {"run": 4}]


def test_registry_schedules_marketplace_sync_from_settings() -> None:
    """The one job list holds marketplace.sync at CROSSDOCK_MARKETPLACE_SYNC_INTERVAL, off when disabled."""
    (spec,) = [s for s in JOBS if s.name == "marketplace.sync"]
    assert spec.interval_for(Settings(marketplace=MarketplaceSettings(sync_interval=15))) == 15
    assert spec.interval_for(Settings(marketplace=MarketplaceSettings(sync_enabled=False))) is None


def test_site_outages_job_is_scheduled_only_for_configured_sites() -> None:
    """site_outages.process runs every CROSSDOCK_KRAKENFLEX_INTERVAL s when sites are set, never otherwise."""
    from crossdock.config import KrakenflexSettings

    (spec,) = [s for s in JOBS if s.name == "site_outages.process"]
    assert spec.interval_for(Settings()) is None
    configured = Settings(krakenflex=KrakenflexSettings(sites="norwich-pear-tree, kingfisher", interval=600))
    assert spec.interval_for(configured) == 600
    assert configured.krakenflex.site_ids == ["norwich-pear-tree", "kingfisher"]
