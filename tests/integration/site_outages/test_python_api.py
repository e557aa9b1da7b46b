"""The Python API over real sockets: the sync wrapper and the use case against the platform simulator."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import AnyHttpUrl, SecretStr

from crossdock.config import HttpSettings, KrakenflexSettings
from crossdock.errors import ConfigurationError, UpstreamNotFoundError
from crossdock.simulators.krakenflex import KrakenflexSimulatorOptions, create_app
from crossdock.site_outages import process_site_outages, process_site_outages_sync
from crossdock.site_outages.service import build_client, list_runs
from crossdock.storage import Database
from tests.support.servers import serve_in_thread

KEY = "test-" + secrets.token_hex(12)  # generated per run: never a real credential


@pytest.fixture
def platform_url() -> Iterator[str]:
    with serve_in_thread(create_app(KrakenflexSimulatorOptions(api_key=KEY))) as url:
        yield url


def settings_for(url: str) -> KrakenflexSettings:
    return KrakenflexSettings(base_url=AnyHttpUrl(url), api_key=SecretStr(KEY))


def test_sync_wrapper_posts_the_accepted_body(platform_url: str, fever_dir: Path) -> None:
    """process_site_outages_sync does the whole job from settings and the platform accepts the body."""
    result = process_site_outages_sync(
        settings=settings_for(platform_url), http=HttpSettings(), site_id="norwich-pear-tree"
    )
    assert (result.outcome, result.posted, result.retries) == ("success", 10, 0)
    posts = httpx.get(f"{platform_url}/_control/posts").json()
    posts = posts["posts"] if isinstance(posts, dict) else posts
    expected = json.loads(
        (fever_dir.parent / "krakenflex" / "expected-site-outages-norwich-pear-tree.json").read_text()
    )
    assert [(p["status"], p["body"]) for p in posts] == [(200, expected)]


async def test_failed_run_is_recorded(platform_url: str, database: Database) -> None:
    """An unknown site raises UpstreamNotFoundError (not retried) and the failed run is recorded."""
    async with build_client(settings_for(platform_url), HttpSettings()) as client:
        with pytest.raises(UpstreamNotFoundError) as caught:
            await process_site_outages(client=client, site_id="no-such-site", db=database)
    assert caught.value.attempts == 1
    assert caught.value.upstream_message == "Site not found"
    (run,) = await list_runs(db=database)
    assert (run.site_id, run.outcome) == ("no-such-site", "failed")


def test_no_key_is_refused_before_any_request() -> None:
    """Without a key the client is never built: a ConfigurationError says what to set."""
    with pytest.raises(ConfigurationError, match="CROSSDOCK_KRAKENFLEX_API_KEY"):
        build_client(KrakenflexSettings(), HttpSettings())
