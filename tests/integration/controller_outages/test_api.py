"""The controller-outages HTTP API through the whole app: answers, errors in the envelope, scopes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from crossdock.api.app import create_app
from crossdock.apikeys import create_key
from crossdock.config import ApiSettings, DatabaseSettings, Settings
from crossdock.controller_outages.settings import ControllerOutagesSettings
from crossdock.storage import Database
from tests.support.asgi import running

BASE = 1_756_720_800
WRITER_KEY, WRITER = create_key("controllers", ("controller-outages:write",))
READER_KEY, READER = create_key("operators", ("controller-outages:read",))


def settings_for(db: Database, *, keys: bool = False, **group: object) -> Settings:
    return Settings(
        database=DatabaseSettings(url=db.url),
        api=ApiSettings(
            scheduler_enabled=False, read_model_poll_interval=3600, keys=(WRITER, READER) if keys else ()
        ),
    ).with_groups(ControllerOutagesSettings(**group))  # type: ignore[arg-type]


@pytest.fixture
async def api(sqlite_database: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with running(
        create_app(settings_for(sqlite_database, max_body_bytes=4096), database=sqlite_database)
    ) as client:
        yield client


def report(controller: str, second: int, **extra: object) -> dict[str, object]:
    return {"controller_id": controller, "outage_type": "led_outage", "timestamp": second, **extra}


async def test_post_one_record_then_find_its_event(api: httpx.AsyncClient) -> None:
    """A single record object is accepted; its event is listed and fetched by id."""
    answer = await api.post("/outages", json=report("ctrl_1", BASE))
    assert answer.status_code == 200
    body = answer.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (1, 0, [])
    (event_id,) = body["event_ids"]
    listed = await api.get("/events", params={"controller_id": "ctrl_1", "start_time": "2025-09-01T00:00:00"})
    assert [event["id"] for event in listed.json()["events"]] == [event_id]
    assert listed.json()["next_cursor"] is None
    one = (await api.get(f"/events/{event_id}")).json()
    assert one == {
        "id": event_id,
        "controller_id": "ctrl_1",
        "outage_type": "led_outage",
        "start_time": "2025-09-01T10:00:00Z",
        "end_time": "2025-09-01T10:00:00Z",
        "status": "resolved",
        "report_count": 1,
        "merged_ids": [],
    }


async def test_a_batch_stores_its_good_records_and_lists_the_bad(api: httpx.AsyncClient) -> None:
    """An array with bad records: the good ones are stored, each bad one is listed with its index."""
    response = await api.post("/outages", json=[report("c", BASE), {"controller_id": "c"}, report("c", BASE)])
    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["duplicates"]) == (1, 1)
    assert [item["index"] for item in body["rejected"]] == [1]


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"not json", "invalid_json"),
        (b'"a string"', "invalid_body"),
        (b"[]", "invalid_body"),
        (b'[{"controller_id": "c"}]', "invalid_records"),
    ],
)
async def test_unusable_bodies_are_400_envelopes(api: httpx.AsyncClient, content: bytes, code: str) -> None:
    """Not JSON, not a record or array, empty, or every record invalid: 400 in the envelope."""
    response = await api.post("/outages", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert response.json()["data"] is None


async def test_a_body_over_the_limit_is_413(api: httpx.AsyncClient) -> None:
    """A body larger than the configured size is answered 413 in the envelope."""
    response = await api.post("/outages", json=[report("c", BASE + i) for i in range(200)])
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize(
    "query",
    [
        "start_time=yesterday",
        "end_time=2025-02-30T00:00:00Z",
        "start_time=2025-09-02T00:00:00Z&end_time=2025-09-01T00:00:00Z",
        "status=maybe",
        "outage_type=fire",
        "limit=0",
        "limit=1001",
        "cursor=garbage",
    ],
)
async def test_bad_filters_are_400_not_422(api: httpx.AsyncClient, query: str) -> None:
    """Every bad parameter of GET /events is a 400 envelope, never FastAPI's 422 or a 500."""
    response = await api.get(f"/events?{query}")
    assert response.status_code == 400, response.text
    assert response.json()["data"] is None


async def test_an_unknown_event_is_404(api: httpx.AsyncClient) -> None:
    """GET /events/{id} for an id nobody gave out is a 404 envelope."""
    response = await api.get("/events/no-such-event")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_scopes_guard_writes_and_reads(sqlite_database: Database) -> None:
    """With keys: posting needs controller-outages:write, reading controller-outages:read."""
    app = create_app(settings_for(sqlite_database, keys=True), database=sqlite_database)
    async with running(app) as client:
        assert (await client.post("/outages", json=report("c", BASE))).status_code == 401
        reader = {"Authorization": f"Bearer {READER_KEY}"}
        writer = {"Authorization": f"Bearer {WRITER_KEY}"}
        assert (await client.post("/outages", json=report("c", BASE), headers=reader)).status_code == 403
        assert (await client.post("/outages", json=report("c", BASE), headers=writer)).status_code == 200
        assert (await client.get("/events", headers=writer)).status_code == 403
        assert (await client.get("/events", headers=reader)).status_code == 200
