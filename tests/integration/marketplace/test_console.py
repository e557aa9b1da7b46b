"""The marketplace's console page through the whole app: sync runs as charts and a table, the
catalogue's size, the run detail, and the search form answering what ``GET /search`` answers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from crossdock.api.app import create_app
from crossdock.apikeys import OPS_READ, create_key
from crossdock.config import Settings
from crossdock.jobs import records
from crossdock.storage import Database
from tests.support.asgi import running
from tests.support.console import console_settings
from tests.support.feeds import ScriptedProvider, sync_through_runner

OPS_KEY, OPS_ENTRY = create_key("operator", (OPS_READ,))
MARKET_KEY, MARKET_ENTRY = create_key("market", ("marketplace:read",))
PAGE = "/console/marketplace"


def settings_for(db: Database, *, keys: bool = False) -> Settings:
    return console_settings(db, (OPS_ENTRY, MARKET_ENTRY) if keys else ())


async def sync_samples(db: Database, fever_dir: Path) -> None:
    """Responses 1, 2, 3 of the provider, synced the way the scheduler runs them."""
    provider = ScriptedProvider([fever_dir / f"response_{n}.xml" for n in (1, 2, 3)])
    for _ in range(3):
        await sync_through_runner(db, provider)


async def record_failed_sync(db: Database) -> int:
    started = datetime.now(UTC)
    run_id = await records.start_run(
        db,
        capability="marketplace",
        job="marketplace.sync",
        subject="fever",
        trigger="schedule",
        started_at=started,
    )
    await records.finish_run(
        db,
        run_id,
        outcome="failed",
        finished_at=started + timedelta(seconds=1),
        duration_seconds=1.0,
        attempts=3,
        changed=False,
        details={"feed_bytes": 0},
        error="upstream marketplace answered 503 three times",
    )
    return run_id


@pytest.fixture
async def console(sqlite_database: Database, fever_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The app after three syncs (its read model loads them at start); keys off."""
    await sync_samples(sqlite_database, fever_dir)
    async with running(create_app(settings_for(sqlite_database), database=sqlite_database)) as client:
        yield client


@pytest.fixture
async def empty_console(sqlite_database: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_app(settings_for(sqlite_database), database=sqlite_database)) as client:
        yield client


def result_titles(html: str) -> list[str]:
    """The titles in the search results table, in order."""
    table = re.search(r'<table id="search-results">(.*?)</table>', html, re.S)
    if table is None:
        return []
    return re.findall(r"<tr><td>([^<]*)</td>", table.group(1))


def fact(html: str, name: str) -> int:
    found = re.search(rf'data-fact="{name}">(\d+)<', html)
    assert found is not None, name
    return int(found.group(1))


async def test_the_page_shows_the_catalogue_the_charts_and_the_latest_runs(
    console: httpx.AsyncClient,
) -> None:
    """Three syncs: 3 plans stored (322 left the feed, 444 always rejected), 3 searchable and served;
    both charts drawn; the 3 runs listed."""
    page = await console.get(PAGE)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "<h1>Marketplace</h1>" in html
    assert '<a href="/console/marketplace" aria-current="page">Marketplace</a>' in html
    assert [fact(html, name) for name in ("stored", "in_feed", "searchable", "served")] == [3, 2, 3, 3]
    charts = re.findall(r'<svg class="chart".*?</svg>', html, re.S)
    assert len(charts) == 2
    duration, counts = charts
    assert 'aria-label="Duration of the last 3 sync runs' in duration
    assert duration.count('<rect class="bar ok"') == 3
    assert 'aria-label="Plans seen, changed and rejected by the last 3 successful sync runs"' in counts
    for series in ("seen", "changed", "rejected"):
        assert f"<title>{series}</title>" in counts
    runs = re.search(r'<table aria-labelledby="latest-runs" id="runs">(.*?)</table>', html, re.S)
    assert runs is not None
    assert runs.group(1).count('data-outcome="success"') == 3
    assert "provider.test" not in html  # never the provider's URL


async def test_a_failed_sync_is_red_in_the_chart_and_its_error_is_in_the_table(
    console: httpx.AsyncClient, sqlite_database: Database
) -> None:
    """A failed run: a red duration bar, no point in the counts chart, its error in its row."""
    await record_failed_sync(sqlite_database)
    html = (await console.get(PAGE)).text
    assert '<rect class="bar bad"' in html
    assert "by the last 3 successful sync runs" in html
    assert 'data-outcome="failed"' in html
    assert "upstream marketplace answered 503 three times" in html


async def test_the_search_range_changes_the_results(console: httpx.AsyncClient) -> None:
    """No bound lists every searchable plan; a range lists only the plans inside it, as /search does."""
    everything = (await console.get(PAGE)).text
    assert result_titles(everything) == ["Pantomima Full", "Camela en concierto", "Los Morancos"]
    assert "<strong>3</strong> plans match" in everything
    narrow = await console.get(PAGE, params={"starts_at": "2021-06-01T00:00", "ends_at": "2021-07-01T00:00"})
    assert narrow.status_code == 200
    assert result_titles(narrow.text) == ["Camela en concierto"]
    assert "<strong>1</strong> plan match" in narrow.text
    # The bounds are shown back in the form, as a datetime-local input takes them.
    assert 'id="starts_at" name="starts_at" step="1" value="2021-06-01T00:00"' in narrow.text
    api = await console.get(
        "/search", params={"starts_at": "2021-06-01T00:00", "ends_at": "2021-07-01T00:00"}
    )
    assert [event["title"] for event in api.json()["data"]["events"]] == ["Camela en concierto"]


async def test_empty_fields_mean_no_bound_and_offsets_are_shown_in_provider_time(
    console: httpx.AsyncClient,
) -> None:
    """An empty field is no bound (the form sends both); an offset bound is converted as /search does."""
    open_ended = (await console.get(PAGE, params={"starts_at": "2021-07-01T00:00", "ends_at": ""})).text
    assert result_titles(open_ended) == ["Los Morancos"]
    shifted = (await console.get(PAGE, params={"starts_at": "2021-07-01T02:00:00+02:00"})).text
    assert 'value="2021-07-01T00:00"' in shifted
    assert result_titles(shifted) == ["Los Morancos"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"starts_at": "2022-01-01T00:00", "ends_at": "2021-01-01T00:00"},
            "starts_at must not be after ends_at",
        ),
        ({"starts_at": "not-a-date"}, "is not an ISO 8601 date-time"),
    ],
)
async def test_a_bad_range_is_explained_on_the_page(
    console: httpx.AsyncClient, params: dict[str, str], message: str
) -> None:
    """A bad bound answers 400 with the page, the same message as /search, and no results table."""
    page = await console.get(PAGE, params=params)
    assert page.status_code == 400
    assert 'role="alert"' in page.text
    assert message in page.text
    assert result_titles(page.text) == []


async def test_the_run_page_shows_counts_and_rejection_reasons(console: httpx.AsyncClient) -> None:
    """The second sync: 2 updated, 1 left the feed, 1 rejected, with its reason code."""
    runs = (await console.get("/marketplace/runs")).json()["runs"]
    second = runs[1]
    page = await console.get(f"{PAGE}/runs/{second['id']}")
    assert page.status_code == 200
    assert f"<h1>Sync run {second['id']}</h1>" in page.text
    cells = re.findall(r"<td>(\d+)</td>", page.text.split('id="run-counts"', 1)[1])
    assert cells[:7] == ["3", "0", "2", "0", "1", "1", "0"]
    for code in second["rejected_reasons"]:
        assert f"<code>{code}</code>" in page.text
    listed = (await console.get(PAGE)).text
    assert f'href="/console/marketplace/runs/{second["id"]}"' in listed


async def test_unknown_runs_and_other_capabilities_runs_are_404(
    console: httpx.AsyncClient, sqlite_database: Database
) -> None:
    """No such run, or a run of another capability: a 404 page, not a 500."""
    other = await records.start_run(
        sqlite_database,
        capability="site-outages",
        job="site_outages.process",
        subject=None,
        trigger="cli",
        started_at=datetime.now(UTC),
    )
    for run_id in (999_999, other):
        page = await console.get(f"{PAGE}/runs/{run_id}")
        assert page.status_code == 404
        assert "no marketplace sync run" in page.text
        assert page.headers["content-type"].startswith("text/html")


async def test_the_live_fragment_is_the_catalogue_and_runs_without_the_layout(
    console: httpx.AsyncClient,
) -> None:
    """What the page refreshes every few seconds: the same sections, no <html>, no search."""
    page = (await console.get(PAGE)).text
    assert 'data-refresh="/console/marketplace/live"' in page
    fragment = await console.get(f"{PAGE}/live")
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert fact(fragment.text, "searchable") == 3
    assert fragment.text.count('<svg class="chart"') == 2
    assert 'id="search-results"' not in fragment.text


async def test_before_any_sync_the_page_says_so(empty_console: httpx.AsyncClient) -> None:
    """Nothing synced yet: zero plans, charts that say "no data", no runs, an empty search."""
    html = (await empty_console.get(PAGE)).text
    assert fact(html, "stored") == 0
    assert html.count(">no data</text>") == 2
    assert "No sync has run yet." in html
    assert "<strong>0</strong> plans match" in html


async def test_with_keys_the_page_needs_a_session_holding_ops_read(
    sqlite_database: Database, fever_dir: Path
) -> None:
    """No session: to sign-in; a key without ops:read is refused; an ops:read key sees the page."""
    await sync_samples(sqlite_database, fever_dir)
    app = create_app(settings_for(sqlite_database, keys=True), database=sqlite_database)
    async with running(app) as client:
        for path in (PAGE, f"{PAGE}/live", f"{PAGE}/runs/1"):
            anonymous = await client.get(path)
            assert anonymous.status_code == 303, path
            assert anonymous.headers["location"].startswith("/console/login?next=")
        client.cookies.set("crossdock_console", MARKET_KEY)
        refused = await client.get(PAGE)
        assert refused.status_code == 303
        assert MARKET_KEY not in refused.text
        client.cookies.set("crossdock_console", OPS_KEY)
        page = await client.get(PAGE)
        assert page.status_code == 200
        assert fact(page.text, "searchable") == 3
        assert OPS_KEY not in page.text
