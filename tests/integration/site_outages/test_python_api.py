"""Site outages over real sockets: the Python API, and runs through the runner, against the simulator."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import AnyHttpUrl, SecretStr

from crossdock.config import DatabaseSettings, HttpSettings, Settings
from crossdock.errors import ConfigurationError, InvalidInputError, UpstreamNotFoundError
from crossdock.httpclient import no_hook
from crossdock.jobs.context import JobContext
from crossdock.jobs.runner import run_job
from crossdock.site_outages import SiteOutagesSettings, process_site_outages_sync
from crossdock.site_outages.jobs import PROCESS
from crossdock.site_outages.provider import build_client
from crossdock.site_outages.schemas import SiteOutagesRunRead
from crossdock.site_outages.service import list_runs
from crossdock.site_outages.simulator.app import KrakenflexSimulatorOptions, create_app
from crossdock.storage import Database
from tests.support.servers import serve_in_thread

KEY = "test-" + secrets.token_hex(12)  # generated per run: never a real credential


@pytest.fixture
def platform_url() -> Iterator[str]:
    with serve_in_thread(create_app(KrakenflexSimulatorOptions(api_key=KEY))) as url:
        yield url


def settings_for(url: str) -> SiteOutagesSettings:
    return SiteOutagesSettings(base_url=AnyHttpUrl(url), api_key=SecretStr(KEY))


def test_sync_wrapper_posts_the_accepted_body(platform_url: str, krakenflex_dir: Path) -> None:
    """process_site_outages_sync does the whole job from settings and the platform accepts the body."""
    result = process_site_outages_sync(
        settings=settings_for(platform_url), http=HttpSettings(), site_id="norwich-pear-tree"
    )
    assert (result.outcome, result.posted, result.retries) == ("success", 10, 0)
    posts = httpx.get(f"{platform_url}/_control/posts").json()
    posts = posts["posts"] if isinstance(posts, dict) else posts
    expected = json.loads((krakenflex_dir / "expected-site-outages-norwich-pear-tree.json").read_text())
    assert [(p["status"], p["body"]) for p in posts] == [(200, expected)]


def context_for(url: str, db: Database) -> JobContext:
    settings = Settings(database=DatabaseSettings(url=db.url)).with_groups(settings_for(url))
    return JobContext(settings=settings, db=db)


async def test_run_is_recorded_with_its_counts(platform_url: str, database: Database) -> None:
    """A run through the runner is recorded once, for its site, with the counts the CLI lists."""
    ctx = context_for(platform_url, database)
    try:
        outcome = await run_job(ctx, PROCESS, params={"site_id": "norwich-pear-tree"}, trigger="api")
    finally:
        await ctx.aclose()
    assert outcome.outcome == "success"
    (run,) = await list_runs(db=database)
    view = SiteOutagesRunRead.from_run(run)
    assert (view.site_id, view.outcome, view.posted, view.kept) == ("norwich-pear-tree", "success", 10, 10)
    assert (run.capability, run.job, run.trigger) == ("site-outages", "site_outages.process", "api")
    assert run.details["dropped_unknown_device"] == view.fetched - 10 - run.details["dropped_before_cutoff"]


async def test_failed_run_is_recorded(platform_url: str, database: Database) -> None:
    """An unknown site raises UpstreamNotFoundError (not retried), naming the site; the run is recorded."""
    ctx = context_for(platform_url, database)
    try:
        with pytest.raises(UpstreamNotFoundError) as caught:
            await run_job(ctx, PROCESS, params={"site_id": "no-such-site"}, trigger="api", raise_errors=True)
    finally:
        await ctx.aclose()
    assert caught.value.attempts == 1
    assert caught.value.upstream_message == "Site not found"
    assert caught.value.message.startswith("site no-such-site: ")
    (run,) = await list_runs(db=database)
    assert (run.subject, run.outcome, run.attempts) == ("no-such-site", "failed", 2)
    assert run.error == caught.value.message


async def test_bad_cutoff_is_refused_before_a_run_is_recorded(platform_url: str, database: Database) -> None:
    """An unusable --since is a usage error: nothing is sent and no run is recorded."""
    ctx = context_for(platform_url, database)
    params = {"site_id": "norwich-pear-tree", "since": "yesterday"}
    with pytest.raises(InvalidInputError, match="--since"):
        await run_job(ctx, PROCESS, params=params, trigger="api", raise_errors=True)
    assert await list_runs(db=database) == []
    assert httpx.get(f"{platform_url}/_control").json()["counters"]["requests"] == 0


def test_no_key_is_refused_before_any_request() -> None:
    """Without a key the client is never built: a ConfigurationError says what to set."""
    settings = Settings().with_groups(SiteOutagesSettings(api_key=None))
    with pytest.raises(ConfigurationError, match="CROSSDOCK_SITE_OUTAGES_API_KEY"):
        build_client(settings, no_hook)
