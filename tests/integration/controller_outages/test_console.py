"""The controller-outages console page through the whole app: what is out now, the timeline per
controller, merged events and late reports, the filters (page and live fragment alike), one event with
its reports, and who may look."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from crossdock.api.app import create_app
from crossdock.apikeys import OPS_READ, create_key
from crossdock.config import Settings
from crossdock.controller_outages import service
from crossdock.controller_outages.console import late_flags
from crossdock.controller_outages.settings import ControllerOutagesSettings
from crossdock.storage import Database
from tests.support.asgi import running
from tests.support.console import console_settings

PAGE = "/console/controller-outages"
LIVE = f"{PAGE}/live"
MINUTE = 60
OPS_KEY, OPS_ENTRY = create_key("operator", (OPS_READ,))
READER_KEY, READER_ENTRY = create_key("reader", ("controller-outages:read",))


def settings_for(db: Database, *, keys: bool = False) -> Settings:
    return console_settings(db, (OPS_ENTRY, READER_ENTRY) if keys else ())


@pytest.fixture
async def console(sqlite_database: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_app(settings_for(sqlite_database), database=sqlite_database)) as client:
        yield client


def now_minute() -> int:
    """Now, on a whole minute, so reports a whole number of minutes apart line up."""
    return int(time.time()) // MINUTE * MINUTE


async def post(client: httpx.AsyncClient, controller: str, outage_type: str, *seconds: int) -> list[str]:
    records = [{"controller_id": controller, "outage_type": outage_type, "timestamp": s} for s in seconds]
    answer = await client.post("/outages", json=records)
    assert answer.status_code == 200, answer.text
    ids: list[str] = answer.json()["event_ids"]
    return ids


def section(html: str, heading_id: str) -> str:
    """The HTML of the <section> whose heading has this id."""
    found = re.search(rf'<section aria-labelledby="{heading_id}">(.*?)</section>', html, re.S)
    assert found is not None, f"section {heading_id} is on the page"
    return found.group(1)


def listed_controllers(html: str) -> set[str]:
    """Controllers of the rows of the events table."""
    table = section(html, "events-title")
    return set(re.findall(r"\?controller_id=[^\"]+\">([^<]+)</a>", table))


async def test_the_page_shows_ongoing_events_a_timeline_and_the_table(console: httpx.AsyncClient) -> None:
    """An event whose last report is within the gap of now is listed as ongoing; a resolved one only in
    the table; each is a span on its controller's lane of the timeline."""
    now = now_minute()
    (live_id,) = await post(console, "ctrl_live", "led_outage", now - 20 * MINUTE, now - 10 * MINUTE)
    (old_id,) = await post(console, "ctrl_old", "panel_outage", now - 180 * MINUTE, now - 170 * MINUTE)
    page = await console.get(PAGE)
    assert page.status_code == 200
    html = page.text
    assert "<h1>Controller outages</h1>" in html
    ongoing = section(html, "ongoing-title")
    assert 'data-count="ongoing">1<' in ongoing
    assert live_id in ongoing
    assert "ctrl_live" in ongoing
    assert old_id not in ongoing
    assert "ctrl_old" not in ongoing
    chart = section(html, "timeline-title")
    assert chart.count('<svg class="chart timeline"') == 1
    assert chart.count('class="span ') == 2
    assert "ctrl_live: led outage from" in chart
    assert "ongoing; 2 reports" in chart
    assert "ctrl_old: panel outage from" in chart
    table = section(html, "events-title")
    assert live_id in table
    assert old_id in table
    assert table.index(live_id) < table.index(old_id)  # the latest first
    assert ">ongoing<" in table
    assert ">resolved<" in table
    assert "10 min" in table
    # The live region polls the fragment every second.
    assert f'data-refresh="{LIVE}" data-interval="1000"' in html


async def test_merged_events_and_late_reports_are_shown(console: httpx.AsyncClient) -> None:
    """A late report bridging two events merges them: the survivor says it was merged from two events
    and lists the merged-away id; the bridging report, after a later one, counts as late."""
    now = now_minute()
    (first,) = await post(console, "ctrl_m", "temperature_outage", now - 120 * MINUTE)
    (second,) = await post(console, "ctrl_m", "temperature_outage", now - 80 * MINUTE)
    assert first != second
    (survivor,) = await post(console, "ctrl_m", "temperature_outage", now - 100 * MINUTE)
    merged_away = second if survivor == first else first
    table = section((await console.get(PAGE)).text, "events-title")
    assert "merged from 2 events" in table
    assert f'title="{merged_away}">{merged_away[:8]}</code>' in table
    assert "1&nbsp;late" in table
    assert table.count("<tr data-event=") == 1

    # The merged-away id leads to its survivor, with its reports and the late one marked.
    event = await console.get(f"{PAGE}/events/{merged_away}")
    assert event.status_code == 200
    assert f"Event <code>{merged_away}</code> was merged into this one" in event.text
    assert f"Event <code>{survivor}</code>" in event.text
    assert event.text.count('<span class="badge warn">late</span>') == 1
    assert event.text.count("in order") == 2
    assert f'<code title="{merged_away}">{merged_away}</code>' in event.text


def test_a_report_is_late_when_a_later_one_arrived_before_it() -> None:
    """Lateness: arriving after a report with a later time; ties in arrival are not late."""
    at = [datetime(2025, 9, 1, 10, minute, tzinfo=UTC) for minute in range(4)]
    # Report times 1..4 received at minutes 0, 2, 1, 1: the second arrived after the third and fourth.
    assert late_flags([(1, at[0]), (2, at[2]), (3, at[1]), (4, at[1])]) == [False, True, False, False]
    assert late_flags([]) == []


async def test_filters_change_the_table_the_timeline_and_the_ongoing_list(console: httpx.AsyncClient) -> None:
    """Controller id, outage type, status and range narrow what is shown, on the page and in its live
    fragment alike; the fragment's URL keeps the filters."""
    now = now_minute()
    await post(console, "ctrl_a", "led_outage", now - 10 * MINUTE)
    await post(console, "ctrl_b", "panel_outage", now - 5 * MINUTE)
    await post(console, "ctrl_c", "led_outage", now - 300 * MINUTE)
    await post(console, "ctrl_d", "led_outage", now - 3 * 86_400)  # older than the default 24 hours

    everything = (await console.get(PAGE)).text
    assert listed_controllers(everything) == {"ctrl_a", "ctrl_b", "ctrl_c"}

    by_controller = await console.get(PAGE, params={"controller_id": "ctrl_b"})
    assert listed_controllers(by_controller.text) == {"ctrl_b"}
    assert "ctrl_a" not in section(by_controller.text, "ongoing-title")
    assert f'data-refresh="{LIVE}?controller_id=ctrl_b"' in by_controller.text
    assert 'name="controller_id" value="ctrl_b"' in by_controller.text

    by_type = await console.get(PAGE, params={"outage_type": "led_outage", "controller_id": ""})
    assert listed_controllers(by_type.text) == {"ctrl_a", "ctrl_c"}
    assert section(by_type.text, "timeline-title").count('class="span ') == 2
    assert '<option value="led_outage" selected>' in by_type.text

    resolved = await console.get(PAGE, params={"status": "resolved"})
    assert listed_controllers(resolved.text) == {"ctrl_c"}

    start = datetime.fromtimestamp(now - 4 * 86_400, UTC).strftime("%Y-%m-%dT%H:%M")
    end = datetime.fromtimestamp(now - 2 * 86_400, UTC).strftime("%Y-%m-%dT%H:%M")
    ranged = await console.get(PAGE, params={"start": start, "end": end})
    assert listed_controllers(ranged.text) == {"ctrl_d"}
    assert f'name="start" type="datetime-local" step="60" value="{start}"' in ranged.text

    live = await console.get(LIVE, params={"outage_type": "led_outage"})
    assert live.status_code == 200
    assert "<html" not in live.text
    assert "<h1>" not in live.text
    assert listed_controllers(live.text) == {"ctrl_a", "ctrl_c"}


async def test_the_live_fragment_shows_a_report_posted_after_the_page_was_read(
    console: httpx.AsyncClient,
) -> None:
    """What the page polls: a new controller's outage appears in the ongoing list at the next poll."""
    await post(console, "ctrl_a", "led_outage", now_minute() - 10 * MINUTE)
    assert "ctrl_new" not in (await console.get(PAGE)).text
    await post(console, "ctrl_new", "panel_outage", int(time.time()))
    ongoing = section((await console.get(LIVE)).text, "ongoing-title")
    assert "ctrl_new" in ongoing
    assert 'data-count="ongoing">2<' in ongoing


async def test_an_event_whose_reports_were_pruned_says_so(sqlite_database: Database) -> None:
    """Retention pruned an old event's reports: its lateness is unknown, and its page says why."""
    group = ControllerOutagesSettings(report_retention_days=1)
    settings = settings_for(sqlite_database).with_groups(group)
    async with running(create_app(settings, database=sqlite_database)) as client:
        old = now_minute() - 3 * 86_400
        (event_id,) = await post(client, "ctrl_old", "led_outage", old, old + 10 * MINUTE)
        assert (await service.upkeep(db=sqlite_database, settings=group)).pruned_reports == 2
        start = datetime.fromtimestamp(old - 3600, UTC).strftime("%Y-%m-%dT%H:%M")
        table = section((await client.get(PAGE, params={"start": start})).text, "events-title")
        assert event_id in table
        assert "reports pruned" in table
        event = (await client.get(f"{PAGE}/events/{event_id}")).text
        assert "were pruned by the retention setting" in event


async def test_an_empty_database_says_so(console: httpx.AsyncClient) -> None:
    """No event: the page says nothing is ongoing and draws no timeline."""
    html = (await console.get(PAGE)).text
    assert "No ongoing outage." in html
    assert "No event in this range." in html
    assert "No event matches these filters." in html


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"start": "2025-09-02T00:00", "end": "2025-09-01T00:00"},
            "the range start must not be after its end",
        ),
        ({"start": "yesterday"}, "range start"),
        ({"outage_type": "flood"}, "outage_type must be one of"),
        ({"status": "maybe"}, "status must be ongoing or resolved"),
    ],
)
async def test_bad_filters_are_answered_400_with_the_reason(
    console: httpx.AsyncClient, params: dict[str, str], message: str
) -> None:
    """A bad filter: the page keeps its form and says what is wrong; the fragment answers 400 too."""
    page = await console.get(PAGE, params=params)
    assert page.status_code == 400
    assert message in page.text
    assert 'role="alert"' in page.text
    assert "data-refresh" not in page.text
    assert '<form class="filters"' in page.text
    assert (await console.get(LIVE, params=params)).status_code == 400


async def test_an_unknown_event_is_404(console: httpx.AsyncClient) -> None:
    """An id no event has (nor had) is a 404 page."""
    answer = await console.get(f"{PAGE}/events/9b2f6c1e-0000-4000-8000-000000000000")
    assert answer.status_code == 404
    assert "no event has the id" in answer.text


async def test_with_keys_the_page_needs_a_session_holding_ops_read(sqlite_database: Database) -> None:
    """With API keys: no session or a key without ops:read leads to the sign-in form; ops:read sees it."""
    async with running(
        create_app(settings_for(sqlite_database, keys=True), database=sqlite_database)
    ) as client:
        for path in (PAGE, LIVE):
            assert (await client.get(path)).status_code == 303
            client.cookies.set("crossdock_console", READER_KEY)
            refused = await client.get(path)
            assert refused.status_code == 303
            assert refused.headers["location"].startswith("/console/login")
            client.cookies.set("crossdock_console", OPS_KEY)
            assert (await client.get(path)).status_code == 200
            client.cookies.clear()
