"""The marketplace's console page in Chromium, on a service the provider simulator feeds: sync runs
drawn as charts, the latest runs listed, and the search form narrowing what ``/search`` lists."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Service, clean_env, running_simulator, start_service
from tests.support.processes import stop

PAGE = "/console/marketplace"
WIDE = ("2021-01-01T00:00", "2021-12-31T23:59")
NARROW = ("2021-06-01T00:00", "2021-07-01T00:00")


def finished_syncs(service: Service) -> int:
    runs = service.get("/marketplace/runs").json()["runs"]
    return sum(1 for run in runs if run["outcome"] == "success")


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """``crossdock serve`` syncing the simulator's rotating samples every second, after two syncs."""
    with running_simulator(tmp_path, "marketplace") as (simulator, _process):
        env = clean_env(
            CROSSDOCK_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'crossdock.db'}",
            CROSSDOCK_VAR_DIR=str(tmp_path / "var"),
            CROSSDOCK_MARKETPLACE_PROVIDER_URL=f"{simulator}/api/events",
            CROSSDOCK_MARKETPLACE_SYNC_INTERVAL="1",
            CROSSDOCK_API_READ_MODEL_POLL_INTERVAL="0.2",
        )
        running = start_service(tmp_path, env)
        try:
            running.wait_for(lambda: finished_syncs(running) >= 2, timeout=30, what="two marketplace syncs")
            yield running
        finally:
            stop(running.process)


async def search(page: Any, bounds: tuple[str, str]) -> int:
    """Fill the form's two labelled fields, submit it, and count the rows of the results table."""
    await page.get_by_label("Starts at or after (starts_at)").fill(bounds[0])
    await page.get_by_label("Ends at or before (ends_at)").fill(bounds[1])
    async with page.expect_navigation():
        await page.get_by_role("button", name="Search").click()
    assert f"starts_at={bounds[0].replace(':', '%3A')}" in page.url
    rows: int = await page.locator("#search-results tbody tr").count()
    return rows


async def test_runs_are_charted_and_the_search_range_narrows_the_results(
    service: Service, open_page: Any
) -> None:
    watched = await open_page(width=1280)
    page = watched.page
    await page.goto(f"{service.base_url}{PAGE}")
    assert await page.inner_text("h1") == "Marketplace"
    # Both charts are drawn from the recorded runs: bars for durations, lines for the counts.
    duration, counts = page.locator("svg.chart").nth(0), page.locator("svg.chart").nth(1)
    assert await duration.locator("rect.bar").count() >= 2
    assert await counts.locator("path.line").count() == 3
    assert await page.locator('#runs tbody tr[data-outcome="success"]').count() >= 2
    assert int(await page.inner_text('[data-fact="searchable"]')) == 3
    # No bound: every searchable plan; a year: the same three; a month: only the one inside it.
    assert await page.locator("#search-results tbody tr").count() == 3
    assert await search(page, WIDE) == 3
    assert await page.input_value("#starts_at") == WIDE[0]
    await watched.screenshot("marketplace")
    assert await search(page, NARROW) == 1
    assert await page.inner_text("#search-results tbody td >> nth=0") == "Camela en concierto"
    # A run's own page, from the table, by keyboard.
    await page.locator("#runs tbody a").first.focus()
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    assert (await page.inner_text("h1")).startswith("Sync run ")
    watched.assert_clean()


async def test_the_page_fits_a_phone_screen(service: Service, open_page: Any) -> None:
    watched = await open_page(width=375, height=800)
    page = watched.page
    await page.goto(f"{service.base_url}{PAGE}?starts_at={WIDE[0]}&ends_at={WIDE[1]}")
    assert await page.locator("svg.chart rect.bar").count() >= 2
    assert await page.locator("#search-results tbody tr").count() == 3
    # Wide tables scroll inside their own box; the page itself never scrolls sideways.
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375
    await watched.screenshot("marketplace-375")
    watched.assert_clean()
