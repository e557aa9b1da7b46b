"""The controller-outages console page in Chromium, against `crossdock serve` fed by the controllers
simulator: the timeline is drawn, the filters change what is shown, and an outage posted to the
service appears in the open page without a reload."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Service, clean_env, embedded_env, start_service
from tests.support.processes import stop

PAGE = "/console/controller-outages"
NEW_CONTROLLER = "console-new-controller"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    env = embedded_env(tmp_path)
    running = start_service(tmp_path, env)
    try:
        yield running
    finally:
        stop(running.process)


@pytest.fixture
def fleet(service: Service, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Five simulated controllers posting to the service (10 simulated minutes a second, with reports
    held up and backlogs, so some arrive late), stopping by themselves after 25 s."""
    with (tmp_path / "controllers-simulator.log").open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "crossdock", "simulate", "controllers", "--target", service.base_url,
                "--controllers", "5", "--speed", "600", "--duration", "25", "--seed", "292",
                "--reorder-window", "1800", "--backlog-rate", "0.05", "--duplicate-rate", "0.05",
            ],
            env=clean_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield process
    finally:
        stop(process)


def wait_for_events(base_url: str, *, controllers: int, timeout: float = 25.0) -> list[dict[str, Any]]:
    """The service's events once they come from at least ``controllers`` controllers and a late report
    has merged two events (seed 292 does both in the first 6 seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        events: list[dict[str, Any]] = httpx.get(f"{base_url}/events", params={"limit": 1000}).json()[
            "events"
        ]
        merged = any(event["merged_ids"] for event in events)
        if merged and len({event["controller_id"] for event in events}) >= controllers:
            return events
        assert time.monotonic() < deadline, f"only {len(events)} events after {timeout} s"
        time.sleep(0.5)


async def rows_controllers(page: Any) -> set[str]:
    cells = await page.locator("#events tbody tr td:nth-child(2)").all_inner_texts()
    return {cell.strip() for cell in cells}


async def test_the_page_draws_the_timeline_filters_and_shows_a_new_outage_live(
    service: Service, fleet: subprocess.Popen[bytes], open_page: Any
) -> None:
    """Timeline spans per controller; a controller filter narrows the table and the timeline; an outage
    POSTed for a new controller appears in the open page's live region without a reload."""
    events = wait_for_events(service.base_url, controllers=3)
    watched = await open_page(width=1280)
    page = watched.page
    await page.goto(f"{service.base_url}{PAGE}")
    await page.wait_for_selector("svg.chart rect.span")
    assert await page.locator("svg.chart rect.span").count() >= 2
    assert len(await rows_controllers(page)) >= 3
    # Merged events and late reports are visible.
    assert await page.locator("#events").get_by_text("merged from").count() >= 1
    assert await page.locator("#events").get_by_text(re.compile(r"^\d+\slate$")).count() >= 1

    # The filter form: one controller only, in the table and on the timeline.
    chosen = events[0]["controller_id"]
    await page.fill("#filter-controller", chosen)
    await page.click("form.filters button[type=submit]")
    await page.wait_for_url(re.compile(rf"{PAGE}\?controller_id={re.escape(chosen)}&"))
    assert await rows_controllers(page) == {chosen}
    lanes = await page.locator("svg.chart text.tick").all_text_contents()
    assert lanes == [chosen]
    live_url = await page.get_attribute("#outages-live", "data-refresh")
    assert live_url is not None
    assert f"controller_id={chosen}" in live_url

    # Back to every controller; then a brand-new controller reports an outage through the API.
    await page.click("text=Clear filters")
    await page.wait_for_url(re.compile(rf"{PAGE}$"))
    await page.evaluate("window.notReloaded = true")
    record = {"controller_id": NEW_CONTROLLER, "outage_type": "panel_outage", "timestamp": time.time() - 1}
    answer = httpx.post(f"{service.base_url}/outages", json=record)
    assert answer.status_code == 200, answer.text
    (event_id,) = answer.json()["event_ids"]
    await page.locator("#ongoing-events").get_by_text(NEW_CONTROLLER).wait_for(timeout=10_000)
    await page.locator(f'#events tr[data-event="{event_id}"]').wait_for(timeout=10_000)
    assert await page.evaluate("window.notReloaded") is True
    assert NEW_CONTROLLER in await page.locator("svg.chart").last.inner_html()
    watched.assert_clean()
    await watched.screenshot("controller-outages")

    # A merged event's page: its merged-away ids in full, and its reports with the late ones marked.
    merged = next(
        event for event in httpx.get(f"{service.base_url}/events").json()["events"] if event["merged_ids"]
    )
    await page.click(f'#events tr[data-event="{merged["id"]}"] th a')
    await page.wait_for_selector("h1:text('Outage event')")
    for merged_away in merged["merged_ids"]:
        assert await page.locator(f"code:text-is('{merged_away}')").count() == 1
    assert await page.locator("td .badge.warn:text-is('late')").count() >= 1
    watched.assert_clean()

    narrow = await open_page(width=375)
    await narrow.page.goto(f"{service.base_url}{PAGE}")
    await narrow.page.wait_for_selector("svg.chart rect.span")
    # Readable at 375 px: only the tables scroll sideways, inside their own box.
    assert await narrow.page.evaluate("document.documentElement.scrollWidth") <= 375
    await narrow.page.locator("#ongoing-events").get_by_text(NEW_CONTROLLER).wait_for()
    narrow.assert_clean()
    await narrow.screenshot("controller-outages-375")
