"""The console's overview in Chromium: signing in with an API key from the keyboard, the overview
of a service a simulator feeds (charts drawn, nothing failing), readable at 1280 and 375 px."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from crossdock.apikeys import OPS_READ, create_key
from tests.e2e.conftest import Service, clean_env, running_simulator, start_service
from tests.support.processes import stop

OPS_KEY, OPS_ENTRY = create_key("operator", (OPS_READ,))


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    with running_simulator(tmp_path, "marketplace") as (simulator, _process):
        env = clean_env(
            CROSSDOCK_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'crossdock.db'}",
            CROSSDOCK_VAR_DIR=str(tmp_path / "var"),
            CROSSDOCK_MARKETPLACE_PROVIDER_URL=f"{simulator}/api/events",
            CROSSDOCK_MARKETPLACE_SYNC_INTERVAL="1",
            CROSSDOCK_API_KEYS=json.dumps([OPS_ENTRY.model_dump(mode="json")]),
        )
        running = start_service(tmp_path, env)
        try:
            headers = {"Authorization": f"Bearer {OPS_KEY}"}
            running.wait_for(
                lambda: (
                    len(httpx.get(f"{running.base_url}/runs", headers=headers, timeout=5).json()["runs"]) >= 2
                ),
                timeout=30,
                what="two marketplace syncs",
            )
            yield running
        finally:
            stop(running.process)


async def sign_in(watched: Any, base_url: str) -> None:
    page = watched.page
    await page.goto(f"{base_url}/console")
    assert "/console/login" in page.url
    # From the keyboard: the key field has the focus; Enter submits.
    await page.keyboard.type(OPS_KEY)
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{base_url}/console")


async def test_sign_in_then_the_overview_shows_each_capability_with_a_drawn_chart(
    service: Service, open_page: Any
) -> None:
    watched = await open_page()
    await watched.page.goto(f"{service.base_url}/console/login")
    await watched.screenshot("login")
    await sign_in(watched, service.base_url)
    page = watched.page
    assert await page.inner_text("h1") == "Overview"
    assert await page.locator("[data-capability]").count() == 4
    marketplace = page.locator('[data-capability="marketplace"]')
    assert "success" in await marketplace.inner_text()
    assert await marketplace.locator("svg.chart rect.bar.ok").count() >= 1
    assert await page.locator(".allgood").count() == 1
    # Every capability page is one Tab-reachable link away.
    links = await page.locator("nav a").all_inner_texts()
    assert links[:1] == ["Overview"]
    assert "API docs" in links
    await watched.screenshot("overview")
    watched.assert_clean()


async def test_the_overview_fits_a_phone_screen(service: Service, open_page: Any) -> None:
    watched = await open_page(width=375, height=800)
    await sign_in(watched, service.base_url)
    overflow = await watched.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page is {overflow} px wider than the screen"
    await watched.screenshot("overview-375")
    watched.assert_clean()


async def test_a_wrong_key_is_refused_on_the_page(service: Service, open_page: Any) -> None:
    watched = await open_page()
    await watched.page.goto(f"{service.base_url}/console/login")
    await watched.page.fill("#key", "not-a-key")
    await watched.page.click("button[type=submit]")
    await watched.page.wait_for_selector("p.error")
    assert await watched.page.inner_text("p.error") == "That key is not valid."
    # The 401 answer is the refusal itself, not a failure of the page.
    assert [failure for failure in watched.failed if "/console/login" not in failure] == []
    assert watched.console_errors == [] or all("401" in error for error in watched.console_errors)
