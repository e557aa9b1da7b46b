"""The site-outages console page through the whole app: runs per site with their outcome, counts and
attempts, the site and outcome filters, the attempts chart, the last posted payload, one run's page,
and who may look."""

from __future__ import annotations

import html
import json
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import AnyHttpUrl, SecretStr

from crossdock.api.app import create_app
from crossdock.apikeys import OPS_READ, create_key
from crossdock.config import Settings
from crossdock.jobs import records
from crossdock.jobs.context import JobContext
from crossdock.jobs.runner import run_job
from crossdock.site_outages import service
from crossdock.site_outages.jobs import PROCESS
from crossdock.site_outages.settings import SiteOutagesSettings
from crossdock.site_outages.simulator.app import KrakenflexSimulatorOptions
from crossdock.site_outages.simulator.app import create_app as platform_app
from crossdock.storage import Database
from tests.support.asgi import running
from tests.support.console import console_settings
from tests.support.servers import serve_in_thread

OPS_KEY, OPS_ENTRY = create_key("operator", (OPS_READ,))
NARROW_KEY, NARROW_ENTRY = create_key("market", ("marketplace:read",))
PLATFORM_KEY = "test-" + secrets.token_hex(12)  # generated per run: never a real credential
PAGE = "/console/site-outages"
NORWICH = "norwich-pear-tree"
KINGFISHER = "kingfisher"
BODY = [
    {"id": "d-1", "name": "Battery 1", "begin": "2022-05-01T00:00:00.000Z", "end": "2022-05-02T00:00:00.000Z"}
]


def settings_for(db: Database, *, keys: bool = False, platform: str | None = None) -> Settings:
    group = SiteOutagesSettings(
        sites=KINGFISHER,
        api_key=SecretStr(PLATFORM_KEY),
        **({"base_url": AnyHttpUrl(platform)} if platform else {}),
    )
    return console_settings(db, (OPS_ENTRY, NARROW_ENTRY) if keys else (), group)


@pytest.fixture
async def console(sqlite_database: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_app(settings_for(sqlite_database), database=sqlite_database)) as client:
        yield client


@pytest.fixture
async def guarded(sqlite_database: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings_for(sqlite_database, keys=True), database=sqlite_database)
    async with running(app) as client:
        yield client


@pytest.fixture
def platform_url() -> Iterator[str]:
    with serve_in_thread(platform_app(KrakenflexSimulatorOptions(api_key=PLATFORM_KEY))) as url:
        yield url


async def record(
    db: Database,
    site: str,
    outcome: str,
    *,
    attempts: int = 3,
    posted: list[dict[str, str]] | None = None,
    error: str | None = None,
    minutes_ago: int = 5,
) -> int:
    """A finished site-outages run as the job records it."""
    started = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    run_id = await records.start_run(
        db, capability="site-outages", job=PROCESS.name, subject=site, trigger="schedule", started_at=started
    )
    details: dict[str, Any] = {
        "since": "2022-01-01T00:00:00.000Z",
        "fetched": 120,
        "kept": len(posted or []),
        "dropped_before_cutoff": 8,
        "dropped_unknown_device": 111,
        "posted": len(posted or []) if outcome == "success" else 0,
        "retries": attempts - 3,
        "payload_sha256": "a" * 64,
    }
    if posted is not None:
        details["posted_payload"] = posted
    await records.finish_run(
        db,
        run_id,
        outcome=outcome,
        finished_at=started + timedelta(seconds=1),
        duration_seconds=1.25,
        attempts=attempts,
        changed=False,
        details=details,
        error=error,
    )
    return run_id


def run_ids(page: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr data-run="(\d+)"', page)]


def payload_of(page: str) -> Any:
    found = re.search(r'<pre id="posted-payload"[^>]*>(.*?)</pre>', page, re.S)
    assert found is not None, "the page shows a posted payload"
    return json.loads(html.unescape(found.group(1)))


async def test_the_page_lists_each_sites_runs_with_outcome_counts_and_attempts(
    console: httpx.AsyncClient, sqlite_database: Database
) -> None:
    """Every run is a row with its site, outcome, counts and attempts (retries); sites are summed up."""
    ok = await record(sqlite_database, NORWICH, "success", attempts=5, posted=BODY)
    bad = await record(
        sqlite_database, NORWICH, "failed", attempts=10, error="site norwich-pear-tree: HTTP 500"
    )
    page = await console.get(PAGE)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    text = page.text
    assert run_ids(text) == [bad, ok]  # newest first
    row = text[text.index(f'<tr data-run="{ok}"') :].split("</tr>", 1)[0]
    assert 'data-outcome="success"' in row
    assert "<td>120</td><td>1</td><td>8 / 111</td>" in row  # fetched, kept, dropped
    assert "<td>5 (2)</td>" in row  # attempts (retries)
    assert "site norwich-pear-tree: HTTP 500" in text
    # The site summary: the configured site with no run yet, and norwich with its two runs.
    norwich = text[text.index(f'<tr data-site="{NORWICH}"') :].split("</tr>", 1)[0]
    assert "<td>2</td><td>1</td><td>1</td><td>15</td>" in norwich
    assert f'<tr data-site="{KINGFISHER}"' in text
    assert "no run yet" in text
    assert PLATFORM_KEY not in text


async def test_the_chart_draws_one_bar_per_run_coloured_by_outcome(
    console: httpx.AsyncClient, sqlite_database: Database
) -> None:
    """The attempts chart has a bar per shown run: green for success, red for failure."""
    await record(sqlite_database, NORWICH, "success", posted=BODY)
    await record(sqlite_database, NORWICH, "failed", attempts=10, error="boom")
    await record(sqlite_database, KINGFISHER, "dry_run", attempts=2)
    text = (await console.get(PAGE)).text
    chart = text[text.index('<svg class="chart"') :].split("</svg>", 1)[0]
    assert chart.count("<rect") == 3
    assert 'class="bar ok"' in chart
    assert 'class="bar bad"' in chart
    assert 'class="bar muted"' in chart


async def test_the_site_filter_shows_only_that_sites_runs(
    console: httpx.AsyncClient, sqlite_database: Database
) -> None:
    """?site= keeps that site's runs (in the table and the chart) and selects it in the form."""
    norwich = await record(sqlite_database, NORWICH, "success", posted=BODY)
    kingfisher = await record(sqlite_database, KINGFISHER, "success", posted=BODY)
    assert sorted(run_ids((await console.get(PAGE)).text)) == [norwich, kingfisher]
    text = (await console.get(PAGE, params={"site": KINGFISHER})).text
    assert run_ids(text) == [kingfisher]
    assert f'<option value="{KINGFISHER}" selected>' in text
    assert '<label for="site">Site</label>' in text
    chart = text[text.index('<svg class="chart"') :].split("</svg>", 1)[0]
    assert chart.count("<rect") == 1
    assert run_ids((await console.get(PAGE, params={"site": "elsewhere"})).text) == []


async def test_the_outcome_filter_shows_only_runs_with_that_outcome(
    console: httpx.AsyncClient, sqlite_database: Database
) -> None:
    """?outcome=failed keeps the failed runs; combined with ?site=, both apply."""
    await record(sqlite_database, NORWICH, "success", posted=BODY)
    failed_norwich = await record(sqlite_database, NORWICH, "failed", error="boom")
    failed_kingfisher = await record(sqlite_database, KINGFISHER, "failed", error="boom")
    text = (await console.get(PAGE, params={"outcome": "failed"})).text
    assert run_ids(text) == [failed_kingfisher, failed_norwich]
    assert '<option value="failed" selected>' in text
    assert '<label for="outcome">Outcome</label>' in text
    both = (await console.get(PAGE, params={"outcome": "failed", "site": NORWICH})).text
    assert run_ids(both) == [failed_norwich]
    assert "No run matches." in (await console.get(PAGE, params={"outcome": "lost"})).text


async def test_malformed_filters_are_refused_with_400(console: httpx.AsyncClient) -> None:
    """A site id that cannot be one, or an unknown outcome, is a 400 page saying why."""
    bad_site = await console.get(PAGE, params={"site": "../etc"})
    assert bad_site.status_code == 400
    assert "is not valid" in bad_site.text
    bad_outcome = await console.get(PAGE, params={"outcome": "great"})
    assert bad_outcome.status_code == 400
    assert "is not one of" in bad_outcome.text


async def test_the_last_posted_payload_is_the_newest_body_sent(
    console: httpx.AsyncClient, sqlite_database: Database
) -> None:
    """The newest run that POSTed shows its body pretty-printed; a later dry run posts nothing."""
    older = [{**BODY[0], "id": "d-0"}]
    await record(sqlite_database, KINGFISHER, "success", posted=older, minutes_ago=9)
    newest = await record(sqlite_database, NORWICH, "success", posted=BODY, minutes_ago=7)
    await record(sqlite_database, NORWICH, "dry_run", attempts=2)
    text = (await console.get(PAGE)).text
    assert payload_of(text) == BODY
    assert '\n  {\n    "id": "d-1",' in html.unescape(text)  # indented, one field a line
    section = text[text.index('id="payload"') :]
    assert f"#{newest}" in section
    assert "accepted" in section
    # Of one site: that site's last body.
    assert payload_of((await console.get(PAGE, params={"site": KINGFISHER})).text) == older


async def test_a_rejected_post_is_shown_as_not_accepted(
    console: httpx.AsyncClient, sqlite_database: Database
) -> None:
    """A run whose POST was refused still shows what it sent, marked as not accepted."""
    await record(sqlite_database, NORWICH, "failed", posted=BODY, error="Unexpected outages received")
    section = (await console.get(PAGE)).text.split('id="payload"', 1)[1]
    assert "not accepted" in section
    assert "Unexpected outages received" in section


async def test_without_any_posting_run_the_page_says_so(
    console: httpx.AsyncClient, sqlite_database: Database
) -> None:
    """No payload section body, and an empty chart that says "no data", when nothing ran."""
    text = (await console.get(PAGE)).text
    assert 'id="posted-payload"' not in text
    assert "posted a payload" in text
    assert "no data" in text


def context_for(settings: Settings, db: Database) -> JobContext:
    return JobContext(settings=settings, db=db)


async def test_a_real_run_records_the_body_it_posted_and_the_page_shows_it(
    sqlite_database: Database, platform_url: str, krakenflex_dir: Path
) -> None:
    """Through the runner against the simulator: the accepted body is kept in the run record and shown;
    a dry run keeps none; a refused POST keeps what it sent."""
    settings = settings_for(sqlite_database, platform=platform_url)
    expected = json.loads((krakenflex_dir / "expected-site-outages-norwich-pear-tree.json").read_text())
    ctx = context_for(settings, sqlite_database)
    try:
        posted = await run_job(ctx, PROCESS, params={"site_id": NORWICH}, trigger="api")
        dry = await run_job(ctx, PROCESS, params={"site_id": NORWICH, "dry_run": True}, trigger="api")
        refused = await run_job(
            ctx, PROCESS, params={"site_id": NORWICH, "since": "2022-06-01T00:00:00Z"}, trigger="api"
        )
    finally:
        await ctx.aclose()
    assert (posted.outcome, dry.outcome, refused.outcome) == ("success", "dry_run", "failed")
    refused_run, dry_run, posted_run = await service.list_runs(db=sqlite_database)
    assert posted_run.details["posted_payload"] == expected
    assert "posted_payload" not in dry_run.details
    sent = refused_run.details["posted_payload"]
    assert sent
    assert all(outage in expected for outage in sent)  # the outages since the later cut-off
    async with running(create_app(settings, database=sqlite_database)) as client:
        text = (await client.get(PAGE)).text
        assert payload_of(text) == refused_run.details["posted_payload"]
        assert payload_of((await client.get(PAGE, params={"outcome": "success"})).text) is not None
        one = (await client.get(f"{PAGE}/runs/{posted_run.id}")).text
        assert payload_of(one) == expected
        assert PLATFORM_KEY not in text + one


async def test_a_runs_page_shows_its_facts_and_unknown_runs_are_404(
    console: httpx.AsyncClient, sqlite_database: Database
) -> None:
    """/console/site-outages/runs/ID shows one run; an unknown id, another capability's run or a
    malformed id is a 404 page."""
    run_id = await record(sqlite_database, NORWICH, "success", posted=BODY, attempts=4)
    page = await console.get(f"{PAGE}/runs/{run_id}")
    assert page.status_code == 200
    assert f"Site-outages run #{run_id}" in page.text
    assert "4 (1)" in page.text
    assert payload_of(page.text) == BODY
    other = await records.start_run(
        sqlite_database,
        capability="marketplace",
        job="marketplace.sync",
        subject=None,
        trigger="schedule",
        started_at=datetime.now(UTC),
    )
    for missing in (str(run_id + 100), str(other), "abc", "99999999999999999999", "٣"):
        answer = await console.get(f"{PAGE}/runs/{missing}")
        assert answer.status_code == 404, missing
        assert answer.headers["content-type"].startswith("text/html")


async def test_with_keys_the_page_needs_a_session_holding_ops_read(guarded: httpx.AsyncClient) -> None:
    """No session, or a key without ops:read, is sent to sign in; an ops:read key sees the page."""
    answer = await guarded.get(PAGE, params={"site": NORWICH})
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/login?next=/console/site-outages")
    guarded.cookies.set("crossdock_console", NARROW_KEY)
    assert (await guarded.get(PAGE)).status_code == 303
    assert (await guarded.get(f"{PAGE}/runs/1")).status_code == 303
    guarded.cookies.set("crossdock_console", OPS_KEY)
    page = await guarded.get(PAGE)
    assert page.status_code == 200
    assert "operator" in page.text


async def test_the_page_is_in_the_navigation(console: httpx.AsyncClient) -> None:
    """The console's navigation links the page, marked current on it."""
    assert f'href="{PAGE}"' in (await console.get("/console")).text
    assert f'<a href="{PAGE}" aria-current="page">Site outages</a>' in (await console.get(PAGE)).text
