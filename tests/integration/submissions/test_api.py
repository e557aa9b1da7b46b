"""The submissions HTTP API through the whole app: submit, read the tree, retry, cancel, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from crossdock.api.app import create_app
from crossdock.apikeys import create_key
from crossdock.config import ApiSettings, DatabaseSettings, Settings
from crossdock.storage import Database
from crossdock.submissions.settings import DspAccount, SubmissionsSettings
from tests.support.asgi import running

WRITER_KEY, WRITER = create_key("advertiser", ("submissions:write",))
READER_KEY, READER = create_key("operator", ("submissions:read",))
ACCOUNTS = {"acme": DspAccount(url="http://127.0.0.1:9/", api_key="acme-key-0001")}


def settings_for(db: Database, *, keys: bool = False) -> Settings:
    return Settings(
        database=DatabaseSettings(url=db.url),
        api=ApiSettings(scheduler_enabled=False, keys=(WRITER, READER) if keys else ()),
    ).with_groups(SubmissionsSettings(dsps=ACCOUNTS))


@pytest.fixture
async def api(sqlite_database: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with running(create_app(settings_for(sqlite_database), database=sqlite_database)) as client:
        yield client


def body(name: str = "Summer", *, ads: int = 2) -> dict[str, Any]:
    return {
        "dsp": "acme",
        "campaign": {
            "name": name,
            "budget": 5000,
            "start_date": "2026-06-01",
            "end_date": "2026-08-31",
            "objective": "conversions",
            "ad_groups": [
                {
                    "name": "Young",
                    "bid": 2.5,
                    "targeting": {"ages": ["18-24"], "interests": ["surf"], "geo": ["ES"]},
                    "ads": [
                        {
                            "type": "banner",
                            "creative_url": f"https://cdn.example/{n}.png",
                            "click_url": "https://x.example/",
                        }
                        for n in range(ads)
                    ],
                }
            ],
        },
    }


async def test_submit_then_read_the_tree(api: httpx.AsyncClient) -> None:
    """202 with the id and seed status; the tree shows every node, not started, nothing sent."""
    answer = await api.post("/api/campaigns", json=body())
    assert answer.status_code == 202
    created = answer.json()
    assert created["status"] == "Not Started"
    tree = (await api.get(f"/api/campaigns/{created['id']}")).json()
    assert (tree["dsp"], tree["name"], tree["status"]) == ("acme", "Summer", "Not Started")
    root = tree["tree"]
    assert root["kind"] == "campaign"
    assert [child["kind"] for child in root["children"]] == ["ad_group"]
    assert [ad["state"] for ad in root["children"][0]["children"]] == ["pending", "pending"]
    assert root["external_id"] is None
    assert root["attempts"] == 0


async def test_the_clients_idempotency_key_answers_the_same_campaign(api: httpx.AsyncClient) -> None:
    first = await api.post("/api/campaigns", json=body(), headers={"Idempotency-Key": "order-1"})
    again = await api.post("/api/campaigns", json=body(), headers={"Idempotency-Key": "order-1"})
    assert again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    other = await api.post("/api/campaigns", json=body("Winter"), headers={"Idempotency-Key": "order-1"})
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_conflict"
    fresh = await api.post("/api/campaigns", json=body())
    assert fresh.json()["id"] != first.json()["id"]


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({**body(), "dsp": "nope"}, "unknown_dsp"),
        ({"dsp": "acme"}, "invalid_request"),
        ({**body(), "campaign": {**body()["campaign"], "budget": -1}}, "invalid_request"),
    ],
)
async def test_bad_submissions_are_400_envelopes(api: httpx.AsyncClient, payload: object, code: str) -> None:
    answer = await api.post("/api/campaigns", json=payload)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == code


async def test_unknown_campaigns_are_404(api: httpx.AsyncClient) -> None:
    for answer in (
        await api.get("/api/campaigns/nope"),
        await api.post("/api/campaigns/nope/retry"),
        await api.post("/api/campaigns/nope/cancel"),
    ):
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "not_found"


async def test_cancel_stops_every_node_and_retry_has_nothing_to_resume(api: httpx.AsyncClient) -> None:
    campaign = (await api.post("/api/campaigns", json=body(ads=1))).json()["id"]
    cancelled = await api.post(f"/api/campaigns/{campaign}/cancel")
    assert cancelled.status_code == 202
    assert cancelled.json() == {"id": campaign, "status": "Error", "nodes_changed": 3}
    tree = (await api.get(f"/api/campaigns/{campaign}")).json()["tree"]
    assert tree["state"] == "cancelled"
    assert tree["error_message"] == "cancelled"
    assert (await api.post(f"/api/campaigns/{campaign}/retry")).json()["nodes_changed"] == 0


async def test_writes_need_the_write_scope_and_reads_the_read_scope(sqlite_database: Database) -> None:
    app = create_app(settings_for(sqlite_database, keys=True), database=sqlite_database)
    async with running(app) as client:
        assert (await client.post("/api/campaigns", json=body())).status_code == 401
        reader = {"Authorization": f"Bearer {READER_KEY}"}
        assert (await client.post("/api/campaigns", json=body(), headers=reader)).status_code == 403
        writer = {"Authorization": f"Bearer {WRITER_KEY}"}
        created = await client.post("/api/campaigns", json=body(), headers=writer)
        assert created.status_code == 202
        assert (await client.get(f"/api/campaigns/{created.json()['id']}", headers=reader)).status_code == 200


async def test_campaigns_are_listed_newest_first_in_pages_with_filters(api: httpx.AsyncClient) -> None:
    ids = [(await api.post("/api/campaigns", json=body(f"C{n}"))).json()["id"] for n in range(5)]
    await api.post(f"/api/campaigns/{ids[1]}/cancel")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/api/campaigns", params=params)).json()
        seen.extend(item["id"] for item in page["campaigns"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))
    errors = (await api.get("/api/campaigns", params={"status": "Error"})).json()["campaigns"]
    assert [item["id"] for item in errors] == [ids[1]]
    assert errors[0]["nodes"] == {"cancelled": 4}
    assert (await api.get("/api/campaigns", params={"dsp": "other"})).json()["campaigns"] == []
    for bad in ({"status": "Done"}, {"limit": "0"}, {"cursor": "%%%"}):
        answer = await api.get("/api/campaigns", params=bad)
        assert answer.status_code == 400, bad


async def test_a_payload_fix_makes_a_new_version_and_retry_resumes_it(api: httpx.AsyncClient) -> None:
    campaign = (await api.post("/api/campaigns", json=body(ads=1))).json()["id"]
    tree = (await api.get(f"/api/campaigns/{campaign}")).json()["tree"]
    group = tree["children"][0]
    fixed = await api.patch(f"/api/nodes/{group['id']}", json={"bid": 3.75})
    assert fixed.status_code == 200
    assert fixed.json()["payload_version"] == 2
    bad = await api.patch(f"/api/nodes/{group['id']}", json={"bid": -1})
    assert bad.status_code == 400
    unknown_field = await api.patch(f"/api/nodes/{group['id']}", json={"colour": "red"})
    assert unknown_field.status_code == 400
    assert (await api.patch("/api/nodes/nope", json={"bid": 1})).status_code == 404
    await api.post(f"/api/campaigns/{campaign}/cancel")
    refused = await api.patch(f"/api/nodes/{group['id']}", json={"bid": 4})
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "conflict"


async def test_the_seeds_tasks_register_read_and_patch(api: httpx.AsyncClient) -> None:
    created = await api.post("/api/tasks", json={"id": "dsp-entity-1", "status": "Not Started"})
    assert created.status_code == 201
    assert created.json() == {"id": "dsp-entity-1", "status": "Not Started", "error_message": None}
    assert (
        await api.post("/api/tasks", json={"id": "dsp-entity-1", "status": "Not Started"})
    ).status_code == 409
    assert (await api.get("/api/tasks/dsp-entity-1")).json()["status"] == "Not Started"
    patched = await api.patch("/api/tasks/dsp-entity-1", json={"status": "Error", "error_message": "Bad bid"})
    assert patched.status_code == 202
    assert patched.json() == {"id": "dsp-entity-1", "status": "Error", "error_message": "Bad bid"}
    assert (await api.get("/api/tasks/unknown")).status_code == 404
    assert (await api.patch("/api/tasks/unknown", json={"status": "Completed"})).status_code == 404
    assert (await api.post("/api/tasks", json={"id": "x", "status": "Done"})).status_code == 400


async def test_every_engine_node_reads_as_a_task(api: httpx.AsyncClient) -> None:
    campaign = (await api.post("/api/campaigns", json=body(ads=1))).json()["id"]
    root = (await api.get(f"/api/campaigns/{campaign}")).json()["tree"]
    task = (await api.get(f"/api/tasks/{root['id']}")).json()
    assert task == {"id": root["id"], "status": "Not Started", "error_message": None}
