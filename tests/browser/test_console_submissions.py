"""The submissions console page in Chromium, against `crossdock serve` fed by a `crossdock simulate dsp`
process whose faults are switched on and off through its control route: campaigns completed,
refused by the DSP (`error`, with its message) and given up after every attempt failed (`dead`);
the request-rate chart drawn, the status filter narrowing the list, a failed campaign's tree, its
payload fixed and Retry resuming it until the live tree shows it completed."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Service, clean_env, embedded_env, running_simulator, start_service
from tests.support.processes import stop

# 120 requests a minute in real time: the test's traffic shows on the chart under the limit's line.
LIMIT, SIM_WINDOW, TIME_SCALE = 120, 60.0, 1.0
WAIT = 20.0


def campaign(name: str) -> dict[str, Any]:
    return {
        "dsp": "sim",
        "campaign": {
            "name": name,
            "budget": 5000,
            "start_date": "2027-03-01",
            "end_date": "2027-03-31",
            "objective": "conversions",
            "ad_groups": [
                {
                    "name": f"{name} group",
                    "bid": 1.25,
                    "targeting": {"ages": ["25-34"], "interests": ["outdoor"], "geo": ["DE"]},
                    "ads": [
                        {
                            "type": "banner",
                            "creative_url": f"https://cdn.example/{name.replace(' ', '-')}.png",
                            "click_url": "https://shop.example/p/1",
                        }
                    ],
                }
            ],
        },
    }


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[Service, str]]:
    """The DSP simulator (no faults yet) and the service sending to it: 2 attempts, fast backoff."""
    key = f"browser-{secrets.token_hex(12)}"
    args = [
        "--limit", str(LIMIT), "--window", str(SIM_WINDOW), "--time-scale", str(TIME_SCALE),
        "--processing-seconds", "0.3", "--seed", "11",
    ]  # fmt: skip
    with running_simulator(tmp_path, "dsp", *args, env=clean_env(CROSSDOCK_SIMULATOR_DSP_API_KEYS=key)) as (
        dsp_url,
        _process,
    ):
        account = {"url": dsp_url, "api_key": key, "limit": LIMIT, "window": SIM_WINDOW / TIME_SCALE}
        env = embedded_env(
            tmp_path,
            CROSSDOCK_SUBMISSIONS_DSPS=json.dumps({"sim": account}),
            CROSSDOCK_SUBMISSIONS_ADVANCE_INTERVAL="0.5",
            CROSSDOCK_SUBMISSIONS_POLL_INTERVAL="0.3",
            CROSSDOCK_SUBMISSIONS_PASS_SECONDS="2",  # noqa: S106 - a pass of the engine, no password
            CROSSDOCK_SUBMISSIONS_MAX_ATTEMPTS="2",
            CROSSDOCK_SUBMISSIONS_BACKOFF_INITIAL="0.1",
            CROSSDOCK_SUBMISSIONS_BACKOFF_MAX="0.2",
            CROSSDOCK_SUBMISSIONS_LEASE_SECONDS="5",
        )
        service = start_service(tmp_path, env)
        try:
            yield service, dsp_url
        finally:
            stop(service.process)


def faults(dsp_url: str, **rates: float) -> None:
    httpx.put(f"{dsp_url}/_control", json=rates, timeout=5).raise_for_status()


def post(service: Service, name: str) -> str:
    answer = httpx.post(f"{service.base_url}/api/campaigns", json=campaign(name), timeout=10)
    assert answer.status_code == 202, answer.text
    campaign_id: str = answer.json()["id"]
    return campaign_id


def root_of(service: Service, campaign_id: str) -> dict[str, Any]:
    tree: dict[str, Any] = service.get(f"/api/campaigns/{campaign_id}").json()["tree"]
    return tree


def wait_until(service: Service, check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}\n{service.log.read_text()[-3000:]}")


def settle(service: Service, dsp_url: str) -> tuple[list[str], str, str]:
    """Two campaigns completed, one refused by the DSP (its campaign node `error`), one `dead`."""
    done = [post(service, f"Spring sale {n}") for n in range(2)]
    wait_until(
        service,
        lambda: all(root_of(service, c)["children"][0]["children"][0]["state"] == "completed" for c in done),
        "the first campaigns to complete",
    )
    faults(dsp_url, validation_error_rate=1.0)
    refused = post(service, "Summer refused")
    wait_until(service, lambda: root_of(service, refused)["state"] == "error", "a validation error")
    faults(dsp_url, validation_error_rate=0.0, error_rate=1.0)
    dead = post(service, "Autumn dead")
    wait_until(service, lambda: root_of(service, dead)["state"] == "dead", "a node to be dead")
    faults(dsp_url, error_rate=0.0)  # so that the retries can succeed
    return done, refused, dead


async def rows(page: Any, table: str) -> list[str]:
    found: list[str] = await page.eval_on_selector_all(
        f"#{table} tbody tr", "rows => rows.map(row => row.dataset.campaign)"
    )
    return found


async def test_the_submissions_page_shows_failures_charts_filters_fix_and_retry(
    stack: tuple[Service, str], open_page: Any
) -> None:
    service, dsp_url = stack
    done, refused, dead = settle(service, dsp_url)
    base = f"{service.base_url}/console/submissions"

    watched = await open_page(width=1280)
    page = watched.page
    await page.goto(base)
    # Dead letters: the refused and the dead campaign, with the DSP's message and the last error.
    assert set(await rows(page, "dead-letter-table")) == {refused, dead}
    letters = await page.inner_text("#dead-letter-table")
    assert "dead" in letters
    assert "error" in letters
    # The account's request rate: a line of requests per minute under the dashed limit.
    chart = page.locator('[data-account="sim"] svg.chart')
    assert await chart.locator("path.line").count() == 1
    assert await chart.locator("line.limit").count() == 1
    assert "120 requests per 60 s (120 per minute)" in await page.inner_text('[data-account="sim"]')
    # Every campaign is listed; the status filter narrows the list to the failed ones.
    assert set(await rows(page, "campaign-table")) == {*done, refused, dead}
    await watched.screenshot("submissions")
    narrow = await open_page(width=375, height=800)
    await narrow.page.goto(base)
    assert await narrow.page.locator("svg.chart path.line").count() == 1
    await narrow.screenshot("submissions-375")
    narrow.assert_clean()
    await page.select_option("#filter-status", "Error")
    await page.click("form.filters button[type=submit]")
    await page.wait_for_url("**status=Error**")
    assert set(await rows(page, "campaign-table")) == {refused, dead}
    await page.select_option("#filter-status", "Completed")
    await page.click("form.filters button[type=submit]")
    await page.wait_for_url("**status=Completed**")
    assert set(await rows(page, "campaign-table")) == set(done)
    watched.assert_clean()

    # The refused campaign: its tree with the DSP's message; fix the payload, then Retry.
    await page.goto(f"{base}/campaigns/{refused}")
    root = root_of(service, refused)
    node = f"#node-{root['id']}"
    assert await page.get_attribute(node, "data-state") == "error"
    assert root["error_message"] in await page.inner_text("#node-tree")
    await page.fill(f"#fix-{root['id']}", '{"budget": 9000}')
    await page.click(f"#fix-form-{root['id']} button[type=submit]")
    await page.wait_for_url("**fixed=**")
    assert "payload is now version 2" in await page.inner_text("main")
    await watched.screenshot("submissions-campaign")
    await page.click("text=Retry failed nodes")
    await page.wait_for_url("**retried=3**")
    assert await page.get_attribute(node, "data-state") in {
        "pending",
        "submitting",
        "awaiting_status",
        "completed",
    }
    # The tree refreshes itself: the campaign, then its ad group and ad, complete at the DSP.
    await page.wait_for_selector(f'{node}[data-state="completed"]', timeout=15_000)
    ad = root["children"][0]["children"][0]["id"]
    await page.wait_for_selector(f'#node-{ad}[data-state="completed"]', timeout=15_000)
    watched.assert_clean()

    # The dead campaign retried from the list: back on the list, the campaign leaves the dead letters.
    await page.goto(f"{base}?status=Error")
    await page.click(f'#dead-letter-table tr[data-campaign="{dead}"] button[type=submit]')
    await page.wait_for_url("**retried=3**")
    assert "status=Error" in page.url
    assert "Retry: 3 node(s) resumed" in await page.inner_text("main")
    left = await rows(page, "dead-letter-table") if await page.locator("#dead-letter-table").count() else []
    assert dead not in left
    watched.assert_clean()
