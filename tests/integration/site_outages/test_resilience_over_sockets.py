"""The resilience target over real sockets: runs through the runner, default settings, a faulty simulator."""

from __future__ import annotations

import json
import secrets
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import AnyHttpUrl, SecretStr

from crossdock.config import DatabaseSettings, Settings
from crossdock.httpclient import default_registry
from crossdock.jobs.context import JobContext
from crossdock.jobs.runner import run_job
from crossdock.site_outages import SiteOutagesSettings, provider
from crossdock.site_outages.jobs import PROCESS
from crossdock.site_outages.simulator.app import KrakenflexSimulatorOptions, create_app, load_data
from crossdock.storage import Database
from tests.support.servers import serve_in_thread

KEY = "test-" + secrets.token_hex(12)  # generated per run: never a real credential
SITE = "norwich-pear-tree"
EXPECTED: list[dict[str, str]] = json.loads(load_data("expected-site-outages-norwich-pear-tree.json"))
RUNS = 200
TARGET = 0.995


@pytest.fixture
def flaky_platform() -> Iterator[str]:
    """The simulator with 40 % of 500s on every endpoint (POST included), seeded: the same faults each run."""
    options = KrakenflexSimulatorOptions(api_key=KEY, error_rate=0.4, seed=11)
    with serve_in_thread(create_app(options)) as url:
        yield url


@pytest.fixture
def fresh_breakers() -> Iterator[None]:
    """Each CLI run is a new process with closed breakers; leave none behind for other tests."""
    default_registry.clear()
    yield
    default_registry.clear()


def posts_of(control: httpx.Client) -> list[dict[str, Any]]:
    body = control.get("/_control/posts").json()
    return list(body["posts"] if isinstance(body, dict) else body)


async def test_forty_percent_500s_with_default_settings_meet_the_target(
    flaky_platform: str, sqlite_database: Database, fresh_breakers: None
) -> None:
    """200 recorded runs at 40 % 500s: >= 99.5 % succeed with the exact body accepted exactly once each."""
    group = SiteOutagesSettings(base_url=AnyHttpUrl(flaky_platform), api_key=SecretStr(KEY))
    settings = Settings(database=DatabaseSettings(url=sqlite_database.url)).with_groups(group)
    # Loading the CA bundle takes ~40 ms per client: load it once (the platform is plain HTTP anyway).
    tls = ssl.create_default_context()
    succeeded = 0
    failures: list[str] = []
    control = httpx.Client(base_url=flaky_platform, timeout=5)
    for _ in range(RUNS):
        default_registry.clear()
        seen = len(posts_of(control))
        ctx = JobContext(settings=settings, db=sqlite_database)
        # The client the CLI builds (provider.build_client, default settings), on a fresh connection pool.
        ctx.clients[provider.UPSTREAM] = provider.build_client(
            settings, ctx.hooks, transport=httpx.AsyncHTTPTransport(verify=tls)
        )
        try:
            outcome = await run_job(ctx, PROCESS, params={"site_id": SITE}, trigger="cli")
        finally:
            await ctx.aclose()
        accepted = [post for post in posts_of(control)[seen:] if post["status"] == 200]
        if outcome.succeeded:
            assert [(post["site_id"], post["body"]) for post in accepted] == [(SITE, EXPECTED)]
            succeeded += 1
        else:
            assert accepted == []
            failures.append(outcome.error or "")
    control.close()
    assert succeeded / RUNS >= TARGET, f"{succeeded} of {RUNS} runs succeeded; failures: {failures[:3]}"
