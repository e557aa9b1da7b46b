"""The site-outages console page in Chromium, on runs the CLI made against the platform simulator:
the attempts chart, the runs table, the last posted payload, the site and outcome filters, at 1280
and 375 pixels wide."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Service, embedded_env, run_cli, running_simulator, start_service
from tests.support.processes import stop

PAGE = "/console/site-outages"
ROWS = "#run-table tbody tr[data-run]"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """Three runs recorded by the CLI (kingfisher, an unknown site, norwich with 50 % of 500s), then
    ``crossdock serve`` on the same database."""
    key = "test-" + secrets.token_hex(12)  # generated per run: never a real credential
    with running_simulator(tmp_path, "krakenflex", "--api-key", key) as (platform, _):
        env = embedded_env(
            tmp_path,
            CROSSDOCK_SITE_OUTAGES_BASE_URL=platform,
            CROSSDOCK_SITE_OUTAGES_API_KEY=key,
            CROSSDOCK_SITE_OUTAGES_BACKOFF_INITIAL="0.01",
            CROSSDOCK_SITE_OUTAGES_BACKOFF_MAX="0.05",
        )
        for site, code in (("kingfisher", 0), ("no-such-site", 4), ("norwich-pear-tree", 0)):
            if site == "norwich-pear-tree":
                httpx.put(f"{platform}/_control", json={"error_rate": 0.5}, timeout=5).raise_for_status()
            result = run_cli("site-outages", "process", site, env=env)
            assert result.returncode == code, result.stderr
        running = start_service(tmp_path, env)
        try:
            yield running
        finally:
            stop(running.process)


def expected(krakenflex_dir: Path, name: str) -> Any:
    return json.loads((krakenflex_dir / name).read_text())


async def shown_sites(page: Any) -> list[str]:
    cells = page.locator(f"{ROWS} td:nth-child(2)")
    return [text.strip() for text in await cells.all_inner_texts()]


async def test_site_outages_page_shows_runs_chart_payload_and_filters(
    service: Service, open_page: Any, krakenflex_dir: Path
) -> None:
    watched = await open_page(width=1280)
    page = watched.page
    await page.goto(f"{service.base_url}{PAGE}")
    assert await page.inner_text("h1") == "Site outages"

    # The chart is drawn: one bar per run.
    assert await page.locator("svg.chart rect").count() == 3
    # The runs table: newest first, with outcomes and attempts.
    assert await shown_sites(page) == ["norwich-pear-tree", "no-such-site", "kingfisher"]
    outcomes = await page.locator(f"{ROWS}").evaluate_all("rows => rows.map(r => r.dataset.outcome)")
    assert outcomes == ["success", "failed", "success"]
    assert "Site not found" in await page.inner_text("#run-table")
    # The last posted payload: norwich's body, pretty-printed.
    norwich = expected(krakenflex_dir, "expected-site-outages-norwich-pear-tree.json")
    assert json.loads(await page.inner_text("#posted-payload")) == norwich
    await watched.screenshot("site-outages")

    # The site filter (keyboard-reachable labelled select, GET form) keeps kingfisher's run only.
    await page.get_by_label("Site", exact=True).select_option("kingfisher")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Show").click()
    assert "site=kingfisher" in page.url
    assert await shown_sites(page) == ["kingfisher"]
    assert await page.locator("svg.chart rect").count() == 1
    kingfisher = expected(krakenflex_dir, "readme-example-expected-site-outages-kingfisher.json")
    assert json.loads(await page.inner_text("#posted-payload")) == kingfisher

    # The outcome filter, over every site: the failed run only.
    await page.get_by_label("Site", exact=True).select_option("")
    await page.get_by_label("Outcome", exact=True).select_option("failed")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Show").press("Enter")  # from the keyboard
    assert await shown_sites(page) == ["no-such-site"]

    # One run's page shows the body it posted.
    await page.goto(f"{service.base_url}{PAGE}?site=norwich-pear-tree")
    async with page.expect_navigation():
        await page.locator(f"{ROWS} th a").first.click()
    assert json.loads(await page.inner_text("#posted-payload")) == norwich
    watched.assert_clean()

    narrow = await open_page(width=375)
    await narrow.page.goto(f"{service.base_url}{PAGE}")
    assert await narrow.page.locator("svg.chart rect").count() == 3
    # Nothing but the scrolling tables is wider than the screen.
    overflow = await narrow.page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 375
    await narrow.screenshot("site-outages-375")
    # The failed run's page, with its long error, fits too.
    await narrow.page.goto(f"{service.base_url}{PAGE}?outcome=failed")
    async with narrow.page.expect_navigation():
        await narrow.page.locator(f"{ROWS} th a").first.click()
    assert "Site not found" in await narrow.page.inner_text("pre.error")
    assert await narrow.page.evaluate("document.documentElement.scrollWidth") <= 375
    narrow.assert_clean()
