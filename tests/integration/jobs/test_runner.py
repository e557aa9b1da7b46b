"""The one runner and the scheduler on a real database: records, never twice at once, survives failures."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from crossdock.config import DatabaseSettings, Settings
from crossdock.errors import InvalidInputError, JobAlreadyRunningError, UpstreamUnavailableError
from crossdock.jobs import records
from crossdock.jobs.context import JobContext
from crossdock.jobs.models import RunRecord
from crossdock.jobs.registry import JOBS
from crossdock.jobs.runner import InProcessScheduler, JobOutcome, run_job
from crossdock.jobs.spec import JobSpec, RunReport, Schedule
from crossdock.marketplace.settings import MarketplaceSettings
from crossdock.site_outages.settings import SiteOutagesSettings
from crossdock.storage import Database


def context(db: Database) -> JobContext:
    return JobContext(settings=Settings(database=DatabaseSettings(url=db.url)), db=db)


def spec(name: str, function: Any, *, every: float | None = None, **options: Any) -> JobSpec:
    return JobSpec(
        name=name,
        capability="test",
        function=function,
        schedules=lambda settings: [Schedule(every)] if every is not None else [],
        description="test",
        **options,
    )


async def recorded(db: Database, name: str) -> list[RunRecord]:
    return list(reversed(await records.list_runs(db, job=name, limit=100)))


async def test_success_is_recorded_with_the_jobs_report(database: Database) -> None:
    """What the job notes (counts, changed, attempts, a success variant) is stored on its run record."""

    async def job(ctx: JobContext, run: RunReport) -> Mapping[str, Any]:
        run.details.update(seen=3)
        run.changed, run.attempts, run.outcome = True, 2, "dry_run"
        return {"seen": 3}

    outcome = await run_job(context(database), spec("test.ok", job), trigger="cli")
    assert (outcome.outcome, outcome.changed, outcome.summary) == ("dry_run", True, {"seen": 3})
    (run,) = await recorded(database, "test.ok")
    assert (run.outcome, run.trigger, run.capability, run.attempts, run.changed) == (
        "dry_run",
        "cli",
        "test",
        2,
        True,
    )
    assert run.details == {"seen": 3}
    assert run.duration_seconds is not None
    assert run.finished_at is not None
    assert outcome.run_id == run.id
    assert (await records.last_runs(database, ["test.ok"]))["test.ok"].id == run.id


async def test_failure_is_recorded_with_what_was_known(database: Database) -> None:
    """A failing job is recorded as failed with its message, the attempts and the counts noted so far."""

    async def job(ctx: JobContext, run: RunReport) -> Mapping[str, Any]:
        run.details["feed_bytes"] = 10
        raise UpstreamUnavailableError("provider down", upstream="x", attempts=4)

    outcome = await run_job(context(database), spec("test.fail", job))
    assert (outcome.outcome, outcome.error, outcome.succeeded) == ("failed", "provider down", False)
    (run,) = await recorded(database, "test.fail")
    assert (run.outcome, run.error, run.attempts, run.details) == (
        "failed",
        "provider down",
        4,
        {"feed_bytes": 10},
    )


async def test_raise_errors_gives_the_jobs_own_exception_after_recording(database: Database) -> None:
    """With raise_errors (the CLI's way) the job's exception comes back unchanged, the run recorded."""

    async def job(ctx: JobContext, run: RunReport) -> Mapping[str, Any]:
        raise UpstreamUnavailableError("provider down", upstream="x")

    with pytest.raises(UpstreamUnavailableError, match="provider down"):
        await run_job(context(database), spec("test.raise", job), raise_errors=True)
    (run,) = await recorded(database, "test.raise")
    assert run.outcome == "failed"


async def test_check_refuses_before_anything_is_recorded(database: Database) -> None:
    """A job's check failing is the caller's error: the function never runs and no run is recorded."""
    calls: list[int] = []

    async def job(ctx: JobContext, run: RunReport) -> Mapping[str, Any]:
        calls.append(1)
        return {}

    def check(settings: Settings, params: Mapping[str, Any]) -> None:
        raise InvalidInputError("bad parameter")

    with pytest.raises(InvalidInputError):
        await run_job(context(database), spec("test.check", job, check=check))
    assert (calls, await recorded(database, "test.check")) == ([], [])


async def test_job_never_runs_twice_at_once_for_one_subject(database: Database) -> None:
    """While a run is in progress, the same job for the same subject is refused; another subject runs."""
    release = asyncio.Event()

    async def job(ctx: JobContext, run: RunReport) -> Mapping[str, Any]:
        if run.params["site"] == "a":
            await release.wait()
        return {}

    slow = spec("test.slow", job, subject=lambda settings, params: params["site"])
    ctx = context(database)
    first = asyncio.create_task(run_job(ctx, slow, params={"site": "a"}))
    for _ in range(100):
        if await recorded(database, "test.slow"):
            break
        await asyncio.sleep(0.01)
    with pytest.raises(JobAlreadyRunningError, match="for a"):
        await run_job(ctx, slow, params={"site": "a"})
    assert (await run_job(ctx, slow, params={"site": "b"})).outcome == "success"
    release.set()
    assert (await first).outcome == "success"
    assert sorted(run.subject or "" for run in await recorded(database, "test.slow")) == ["a", "b"]


async def test_a_run_left_running_by_a_dead_process_is_closed(database: Database) -> None:
    """A run still marked running for the same job and subject is marked failed when a new one starts."""

    async def job(ctx: JobContext, run: RunReport) -> Mapping[str, Any]:
        return {}

    stale = await records.start_run(
        database,
        capability="test",
        job="test.stale",
        subject=None,
        trigger="schedule",
        started_at=datetime.now(UTC),
    )
    await run_job(context(database), spec("test.stale", job))
    runs = {run.id: run for run in await recorded(database, "test.stale")}
    assert (runs[stale].outcome, runs[stale].error) == ("failed", records.INTERRUPTED)


async def test_scheduler_keeps_running_after_failures(database: Database) -> None:
    """A job that fails on every other run runs again on its next turn; listeners hear every run."""
    calls = {"n": 0}
    heard: list[JobOutcome] = []

    async def flaky(ctx: JobContext, run: RunReport) -> Mapping[str, Any]:
        calls["n"] += 1
        if calls["n"] % 2:
            raise RuntimeError("odd run fails")
        return {"run": calls["n"]}

    async def listener(spec: JobSpec, outcome: JobOutcome) -> None:
        heard.append(outcome)

    scheduler = InProcessScheduler(context(database), [spec("test.flaky", flaky, every=0.01)])
    scheduler.add_listener(listener)
    scheduler.start()
    for _ in range(200):
        if len(heard) >= 4:
            break
        await asyncio.sleep(0.01)
    await scheduler.stop()
    outcomes = [run.outcome for run in await recorded(database, "test.flaky")]
    assert outcomes[:4] == ["failed", "success", "failed", "success"]
    assert [outcome.outcome for outcome in heard[:4]] == ["failed", "success", "failed", "success"]
    assert heard[1].summary == {"run": 2}
    assert all(run.trigger == "schedule" for run in await recorded(database, "test.flaky"))


def test_registry_schedules_marketplace_sync_from_settings() -> None:
    """The one job list holds marketplace.sync at CROSSDOCK_MARKETPLACE_SYNC_INTERVAL, off when disabled."""
    (sync,) = [s for s in JOBS if s.name == "marketplace.sync"]
    assert sync.interval_for(Settings().with_groups(MarketplaceSettings(sync_interval=15))) == 15
    assert sync.interval_for(Settings().with_groups(MarketplaceSettings(sync_enabled=False))) is None


def test_site_outages_job_is_scheduled_once_per_configured_site() -> None:
    """site_outages.process has one schedule per site every CROSSDOCK_SITE_OUTAGES_INTERVAL s, none unset."""
    (process,) = [s for s in JOBS if s.name == "site_outages.process"]
    assert process.schedules(Settings().with_groups(SiteOutagesSettings(sites=""))) == []
    configured = Settings().with_groups(
        SiteOutagesSettings(sites="norwich-pear-tree, kingfisher", interval=600)
    )
    assert [(s.every, dict(s.params)) for s in process.schedules(configured)] == [
        (600, {"site_id": "norwich-pear-tree"}),
        (600, {"site_id": "kingfisher"}),
    ]
    assert process.interval_for(configured) == 600
