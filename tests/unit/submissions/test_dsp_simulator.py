"""The DSP simulator in process: its contract, its rate limit and its faults, on a hand-moved clock."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from crossdock.errors import InvalidInputError
from crossdock.submissions.simulator.app import (
    API_KEYS_ENV_VAR,
    MAX_STATUS_IDS,
    SPECS,
    DspSimulatorOptions,
    create_app,
    in_process_transport,
    key_id,
)

KEY_A = "dsp-test-key-a"
KEY_B = "dsp-test-key-b"
_idempotency_keys = itertools.count()


class HandClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def dsp(clock: HandClock, **options: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client holding ``KEY_A`` for a simulator accepting ``KEY_A`` and ``KEY_B``."""
    options.setdefault("api_keys", (KEY_A, KEY_B))
    app = create_app(DspSimulatorOptions(**options), clock=clock)
    async with httpx.AsyncClient(
        transport=in_process_transport(app),
        base_url="http://dsp.test",
        headers={"authorization": f"Bearer {KEY_A}"},
    ) as client:
        yield client


def campaign(**changes: Any) -> dict[str, Any]:
    return {
        "name": "Summer Styles 2025",
        "budget": 15000,
        "start_date": "2025-07-01",
        "end_date": "2025-08-15",
        "objective": "engagement",
        **changes,
    }


def ad_group(campaign_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "campaign_id": campaign_id,
        "name": "Young Adults - Urban",
        "bid": 2.5,
        "targeting": {"ages": ["18-24", "25-34"], "interests": ["fashion"], "geo": ["UK", "IE"]},
        **changes,
    }


def ad(ad_group_id: str | None, **changes: Any) -> dict[str, Any]:
    return {
        "ad_group_id": ad_group_id,
        "type": "banner",
        "creative_url": "https://cdn.example.com/creatives/summer_style_urban.jpg",
        "click_url": "https://shop.example.com/urban-summer",
        **changes,
    }


async def post(
    client: httpx.AsyncClient, path: str, body: Any, *, key: str | None = None, **kwargs: Any
) -> httpx.Response:
    """POST with a fresh Idempotency-Key unless one is given."""
    headers = {"idempotency-key": key if key is not None else f"key-{next(_idempotency_keys)}"}
    headers.update(kwargs.pop("headers", {}))
    if isinstance(body, bytes):
        return await client.post(path, content=body, headers=headers, **kwargs)
    return await client.post(path, json=body, headers=headers, **kwargs)


async def control(client: httpx.AsyncClient) -> dict[str, Any]:
    state: dict[str, Any] = (await client.get("/_control")).json()
    return state


async def counters(client: httpx.AsyncClient) -> dict[str, Any]:
    return dict((await control(client))["counters"])


async def completed_campaign(client: httpx.AsyncClient, clock: HandClock, **changes: Any) -> str:
    created = await post(client, "/v1/campaigns", campaign(**changes))
    assert created.status_code == 202, created.text
    clock.now += 2.0
    entity_id: str = created.json()["id"]
    return entity_id


async def completed_ad_group(client: httpx.AsyncClient, clock: HandClock) -> str:
    campaign_id = await completed_campaign(client, clock)
    created = await post(client, "/v1/ad-groups", ad_group(campaign_id))
    assert created.status_code == 202, created.text
    clock.now += 2.0
    entity_id: str = created.json()["id"]
    return entity_id


# -- authentication -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Bearer wrong-key", f"Basic {KEY_A}", f"Token {KEY_A}", KEY_A],
)
async def test_a_wrong_or_missing_key_is_401_without_rate_limit_headers(authorization: str | None) -> None:
    """Without `Authorization: Bearer <a configured key>` every API route answers 401 unauthorized."""
    clock = HandClock()
    async with dsp(clock) as client:
        headers = {} if authorization is None else {"authorization": authorization}
        client.headers.pop("authorization")
        answers = [
            await post(client, "/v1/campaigns", campaign(), headers=headers),
            await client.get("/v1/campaigns/cmp_0", headers=headers),
            await client.get("/v1/statuses?ids=a", headers=headers),
        ]
        state = await counters(client)
    assert [answer.status_code for answer in answers] == [401, 401, 401]
    assert all(answer.json() == {"error": "unauthorized"} for answer in answers)
    assert all("x-ratelimit-limit" not in answer.headers for answer in answers)
    assert state["unauthorized"] == 3
    assert state["created"]["campaigns"] == 0
    assert all(account["requests"] == 0 for account in state["by_key"].values())


async def test_401s_do_not_use_the_window_and_the_scheme_is_case_insensitive() -> None:
    """Refused requests take no slot: after many 401s the key still has its whole limit."""
    clock = HandClock()
    async with dsp(clock, limit=2) as client:
        for _ in range(5):
            await client.get("/v1/statuses?ids=a", headers={"authorization": "Bearer nope"})
        first = await client.get("/v1/statuses?ids=a", headers={"authorization": f"bearer {KEY_A}"})
    assert first.status_code == 200
    assert first.headers["x-ratelimit-remaining"] == "1"


async def test_control_shows_key_ids_never_keys() -> None:
    """`GET /_control` counts by key id (12 hex digits of SHA-256) and never shows a key."""
    clock = HandClock()
    async with dsp(clock) as client:
        await client.get("/v1/statuses?ids=a")
        raw = (await client.get("/_control")).text
        state = json.loads(raw)
    assert KEY_A not in raw
    assert KEY_B not in raw
    assert state["keys"] == sorted([key_id(KEY_A), key_id(KEY_B)])
    assert state["counters"]["by_key"][key_id(KEY_A)]["requests"] == 1
    assert state["counters"]["by_key"][key_id(KEY_B)]["requests"] == 0
    assert len(key_id(KEY_A)) == 12


# -- creation, idempotency, parents ----------------------------------------------------------------


async def test_a_campaign_is_accepted_with_202_and_goes_through_its_lifecycle_by_the_clock() -> None:
    """202 Not Started; In Progress from half the processing time; Completed once it has passed."""
    clock = HandClock()
    async with dsp(clock, processing_seconds=4) as client:
        created = await post(client, "/v1/campaigns", campaign())
        entity_id = created.json()["id"]
        seen = []
        for step in (0.0, 1.9, 0.1, 1.9, 0.1):
            clock.now += step
            seen.append((await client.get(f"/v1/campaigns/{entity_id}")).json())
    assert created.status_code == 202
    assert created.json() == {"id": entity_id, "status": "Not Started"}
    assert entity_id.startswith("cmp_")
    assert [view["status"] for view in seen] == [
        "Not Started",
        "Not Started",
        "In Progress",
        "In Progress",
        "Completed",
    ]
    assert seen[-1] == {"id": entity_id, "status": "Completed"}


async def test_the_same_key_and_body_answer_the_same_entity_with_its_current_status() -> None:
    """A replay creates nothing: same id, current status; key order and number spelling do not matter."""
    clock = HandClock()
    async with dsp(clock) as client:
        first = await post(client, "/v1/campaigns", campaign(), key="node-1-v1")
        clock.now += 5
        body = json.dumps(dict(reversed(list(campaign(budget=15000.0).items())))).encode()
        again = await post(client, "/v1/campaigns", body, key="node-1-v1")
        state = await counters(client)
    assert again.status_code == 202
    assert again.json() == {"id": first.json()["id"], "status": "Completed"}
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert state["created"]["campaigns"] == 1
    assert state["replayed"] == 1
    assert state["duplicates"]["campaigns"] == 0


async def test_the_same_key_with_another_body_or_route_is_422_and_creates_nothing() -> None:
    """An Idempotency-Key is bound to its first request: another body or another route is refused."""
    clock = HandClock()
    async with dsp(clock) as client:
        campaign_id = await completed_campaign(client, clock, name="First")
        await post(client, "/v1/campaigns", campaign(name="Second"), key="shared")
        other_body = await post(client, "/v1/campaigns", campaign(name="Second", budget=1), key="shared")
        other_route = await post(client, "/v1/ad-groups", ad_group(campaign_id), key="shared")
        state = await counters(client)
    assert other_body.status_code == 422
    assert other_route.status_code == 422
    assert "different request" in other_body.json()["error"]
    assert state["created"] == {"campaigns": 2, "ad_groups": 0, "ads": 0}


async def test_idempotency_keys_and_entities_belong_to_one_api_key() -> None:
    """Another key may reuse an Idempotency-Key (a new entity) and cannot see the first key's entities."""
    clock = HandClock()
    async with dsp(clock) as client:
        mine = await post(client, "/v1/campaigns", campaign(), key="k")
        theirs = await post(
            client, "/v1/campaigns", campaign(), key="k", headers={"authorization": f"Bearer {KEY_B}"}
        )
        read_by_other = await client.get(
            f"/v1/campaigns/{mine.json()['id']}", headers={"authorization": f"Bearer {KEY_B}"}
        )
        state = await counters(client)
    assert mine.status_code == theirs.status_code == 202
    assert mine.json()["id"] != theirs.json()["id"]
    assert read_by_other.status_code == 404
    assert state["created"]["campaigns"] == 2
    assert state["duplicates"]["campaigns"] == 0  # one node per account


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (None, "the Idempotency-Key header is required"),
        ("", "the Idempotency-Key header is required"),
        ("k" * 256, "the Idempotency-Key header must be at most 255 characters (got 256)"),
    ],
)
async def test_a_missing_or_too_long_idempotency_key_is_400(key: str | None, message: str) -> None:
    """Every POST needs an Idempotency-Key of at most 255 characters."""
    clock = HandClock()
    async with dsp(clock) as client:
        headers = {} if key is None else {"idempotency-key": key}
        answer = await client.post("/v1/campaigns", json=campaign(), headers=headers)
        longest = await post(client, "/v1/campaigns", campaign(), key="k" * 255)
        state = await counters(client)
    assert answer.status_code == 400
    assert answer.json() == {"error": message}
    assert longest.status_code == 202
    assert state["created"]["campaigns"] == 1


async def test_children_need_a_known_and_completed_parent() -> None:
    """Unknown parent 404; Not Started, In Progress or Error parent 409; Completed parent 202."""
    clock = HandClock()
    async with dsp(clock, processing_seconds=2) as client:
        unknown = await post(client, "/v1/ad-groups", ad_group("cmp_unknown"))
        pending_id = (await post(client, "/v1/campaigns", campaign())).json()["id"]
        not_started = await post(client, "/v1/ad-groups", ad_group(pending_id), key="child")
        clock.now += 1
        in_progress = await post(client, "/v1/ad-groups", ad_group(pending_id), key="child")
        failed_id = (await post(client, "/v1/campaigns", campaign(name="Broke", budget=0))).json()["id"]
        clock.now += 2
        failed_parent = await post(client, "/v1/ad-groups", ad_group(failed_id))
        accepted = await post(client, "/v1/ad-groups", ad_group(pending_id), key="child")
        ad_unknown = await post(client, "/v1/ads", ad("adg_unknown"))
        ad_early = await post(client, "/v1/ads", ad(accepted.json()["id"]))
        clock.now += 2
        ad_accepted = await post(client, "/v1/ads", ad(accepted.json()["id"]))
        campaign_as_ad_group = await post(client, "/v1/ads", ad(pending_id))
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "campaign not found: cmp_unknown"}
    assert not_started.status_code == 409
    assert not_started.json() == {"error": f"campaign {pending_id} is Not Started, not Completed"}
    assert in_progress.status_code == 409
    assert "In Progress" in in_progress.json()["error"]
    assert failed_parent.status_code == 409
    assert "is Error" in failed_parent.json()["error"]
    assert accepted.status_code == 202  # the key refused with 409 was not recorded
    assert accepted.json()["id"].startswith("adg_")
    assert ad_unknown.status_code == 404
    assert ad_early.status_code == 409
    assert ad_accepted.status_code == 202
    assert ad_accepted.json()["id"].startswith("ad_")
    assert campaign_as_ad_group.status_code == 404


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/v1/campaigns", b"{not json", "the body is not valid JSON"),
        ("/v1/campaigns", b"", "the body is not valid JSON"),
        ("/v1/campaigns", b'{"budget": NaN}', "the body is not valid JSON"),
        ("/v1/campaigns", [campaign()], "the body must be a JSON object"),
        ("/v1/campaigns", {k: v for k, v in campaign().items() if k != "budget"}, "missing field: budget"),
        ("/v1/campaigns", campaign(extra=1), "unknown field: extra"),
        ("/v1/campaigns", campaign(budget="15000"), "budget must be a number"),
        ("/v1/campaigns", campaign(budget=True), "budget must be a number"),
        ("/v1/campaigns", campaign(name=""), "name must be a non-empty string"),
        ("/v1/campaigns", campaign(start_date="01/07/2025"), "start_date must be a date (YYYY-MM-DD)"),
        ("/v1/campaigns", campaign(end_date="2025-02-30"), "end_date must be a date (YYYY-MM-DD)"),
        ("/v1/ad-groups", ad_group("cmp_x", bid=None), "bid must be a number"),
        ("/v1/ad-groups", ad_group("cmp_x", targeting=[]), "targeting must be a JSON object"),
        (
            "/v1/ad-groups",
            ad_group("cmp_x", targeting={"ages": [], "interests": []}),
            "missing field: targeting.geo",
        ),
        (
            "/v1/ad-groups",
            ad_group("cmp_x", targeting={"ages": [18], "interests": [], "geo": []}),
            "targeting.ages must be a list of strings",
        ),
        ("/v1/ads", ad("adg_x", click_url=7), "click_url must be a non-empty string"),
        ("/v1/ads", ad(None), "ad_group_id must be a non-empty string"),
    ],
)
async def test_a_malformed_body_is_400_with_the_problem_and_records_nothing(
    path: str, body: Any, message: str
) -> None:
    """Not JSON, not an object, a missing, unknown or mistyped field: 400 {"error"}, key left unused."""
    clock = HandClock()
    async with dsp(clock) as client:
        answer = await post(client, path, body, key="reused")
        valid = await post(client, "/v1/campaigns", campaign(), key="reused")
    assert answer.status_code == 400
    assert answer.json() == {"error": message}
    assert valid.status_code == 202


async def test_a_body_over_64_kib_is_400() -> None:
    """Bodies are bounded."""
    clock = HandClock()
    async with dsp(clock) as client:
        answer = await post(client, "/v1/campaigns", campaign(name="x" * 70_000))
    assert answer.status_code == 400
    assert "at most" in answer.json()["error"]


# -- validation, statuses ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/v1/campaigns", campaign(budget=0), "Budget must be greater than 0 (got 0)"),
        ("/v1/campaigns", campaign(budget=-5.5), "Budget must be greater than 0 (got -5.5)"),
        (
            "/v1/campaigns",
            campaign(start_date="2025-08-15", end_date="2025-07-01"),
            "End date 2025-07-01 is before start date 2025-08-15",
        ),
        ("/v1/ad-groups", "bid=0", "Bid must be greater than 0 (got 0)"),
        ("/v1/ad-groups", "bid=-1", "Bid must be greater than 0 (got -1)"),
        ("/v1/ad-groups", "ages=50-35", "Invalid age range: 50-35"),
        ("/v1/ad-groups", "ages=adults", "Invalid age range: adults"),
        ("/v1/ads", "type=hologram", "Unsupported ad type: hologram"),
        ("/v1/ads", "creative_url=ftp://x/y.jpg", "Creative URL unreachable: ftp://x/y.jpg"),
        ("/v1/ads", "click_url=shop", "Invalid click URL: shop"),
    ],
)
async def test_invalid_values_are_accepted_then_end_in_error_with_the_dsps_message(
    path: str, body: Any, message: str
) -> None:
    """Semantic validation is asynchronous: 202 Not Started, then Error with error_message."""
    clock = HandClock()
    async with dsp(clock) as client:
        if path == "/v1/ad-groups":
            field, value = body.split("=")
            campaign_id = await completed_campaign(client, clock)
            body = ad_group(campaign_id)
            if field == "ages":
                body["targeting"]["ages"] = [value]
            else:
                body[field] = float(value) if "." in value else int(value)
        elif path == "/v1/ads":
            field, value = body.split("=", 1)
            body = ad(await completed_ad_group(client, clock), **{field: value})
        created = await post(client, path, body)
        entity_id = created.json()["id"]
        clock.now += 2
        view = (await client.get(f"{path}/{entity_id}")).json()
    assert created.status_code == 202
    assert created.json()["status"] == "Not Started"
    assert view == {"id": entity_id, "status": "Error", "error_message": message}


async def test_validation_error_rate_one_fails_every_valid_entity_with_a_realistic_message() -> None:
    """At rate 1 every entity ends Error with one of its kind's DSP messages; before that, no message."""
    clock = HandClock()
    async with dsp(clock, validation_error_rate=1.0) as client:
        ids = [(await post(client, "/v1/campaigns", campaign(name=f"C{n}"))).json()["id"] for n in range(10)]
        early = (await client.get(f"/v1/campaigns/{ids[0]}")).json()
        clock.now += 2
        views = [(await client.get(f"/v1/campaigns/{entity_id}")).json() for entity_id in ids]
        state = await counters(client)
    expected = {make(campaign()) for make in SPECS["campaigns"].random_errors}
    assert early == {"id": ids[0], "status": "Not Started"}
    assert all(view["status"] == "Error" for view in views)
    assert {view["error_message"] for view in views} <= expected
    assert state["statuses"]["Error"] == 10


async def test_ad_group_random_errors_include_the_invalid_ip_range() -> None:
    """The ad-group messages are the DSP's own, such as `Invalid IP range: 192.168.1.256`."""
    messages = {make(ad_group("cmp_x")) for make in SPECS["ad_groups"].random_errors}
    assert "Invalid IP range: 192.168.1.256" in messages
    assert "Bid below floor price" in messages
    assert "Unknown geo target: UK" in messages


async def test_statuses_batch_answers_known_ids_in_order_and_omits_unknown_ones() -> None:
    """`GET /v1/statuses?ids=` lists the caller's entities in the order asked, once each."""
    clock = HandClock()
    async with dsp(clock, processing_seconds=2) as client:
        good = (await post(client, "/v1/campaigns", campaign(name="Good"))).json()["id"]
        bad = (await post(client, "/v1/campaigns", campaign(name="Bad", budget=-1))).json()["id"]
        theirs = (
            await post(client, "/v1/campaigns", campaign(), headers={"authorization": f"Bearer {KEY_B}"})
        ).json()["id"]
        before = await client.get("/v1/statuses", params={"ids": f"{bad},{good}"})
        clock.now += 2
        after = await client.get("/v1/statuses", params={"ids": f" {bad}, nope,{good},{bad},{theirs},"})
    assert before.json() == [{"id": bad, "status": "Not Started"}, {"id": good, "status": "Not Started"}]
    assert after.status_code == 200
    assert after.json() == [
        {"id": bad, "status": "Error", "error_message": "Budget must be greater than 0 (got -1)"},
        {"id": good, "status": "Completed"},
    ]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "ids is required: ?ids=ID1,ID2,..."),
        ("?ids=", "ids is required: ?ids=ID1,ID2,..."),
        (
            "?ids=" + ",".join(f"id{n}" for n in range(MAX_STATUS_IDS + 1)),
            "at most 100 ids per request (got 101)",
        ),
    ],
)
async def test_statuses_needs_between_1_and_100_ids(query: str, message: str) -> None:
    """An empty or oversized batch is 400; exactly 100 ids is fine."""
    clock = HandClock()
    async with dsp(clock) as client:
        answer = await client.get(f"/v1/statuses{query}")
        hundred = await client.get("/v1/statuses?ids=" + ",".join(f"id{n}" for n in range(MAX_STATUS_IDS)))
    assert answer.status_code == 400
    assert answer.json() == {"error": message}
    assert hundred.status_code == 200
    assert hundred.json() == []


async def test_reading_an_unknown_or_other_kind_of_id_is_404() -> None:
    """Each GET route knows only its own kind."""
    clock = HandClock()
    async with dsp(clock) as client:
        campaign_id = (await post(client, "/v1/campaigns", campaign())).json()["id"]
        answers = [
            await client.get("/v1/campaigns/cmp_missing"),
            await client.get(f"/v1/ad-groups/{campaign_id}"),
            await client.get(f"/v1/ads/{campaign_id}"),
        ]
    assert [answer.status_code for answer in answers] == [404, 404, 404]
    assert answers[1].json() == {"error": f"ad group not found: {campaign_id}"}


# -- rate limit --------------------------------------------------------------------------------------


async def test_the_sliding_window_admits_limit_requests_and_429s_the_excess_without_effect() -> None:
    """limit 3 per 10 s: requests at 0, 4, 8 pass; at 9 a POST gets 429 and creates nothing; at 10 one slot
    is free again; every answer carries X-RateLimit-* and the 429 Retry-After to the oldest's exit."""
    clock = HandClock()
    async with dsp(clock, limit=3, window=10) as client:
        answers = []
        for at in (0.0, 4.0, 8.0):
            clock.now = 1000.0 + at
            answers.append(await client.get("/v1/statuses?ids=x"))
        clock.now = 1009.0
        refused = await post(client, "/v1/campaigns", campaign(), key="limited")
        clock.now = 1009.75
        refused_later = await client.get("/v1/campaigns/none")
        clock.now = 1010.0
        admitted = await post(client, "/v1/campaigns", campaign(), key="limited")
        clock.now = 1011.0
        refused_again = await client.get("/v1/statuses?ids=x")
        state = await counters(client)
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert [answer.headers["x-ratelimit-limit"] for answer in answers] == ["3", "3", "3"]
    assert [answer.headers["x-ratelimit-remaining"] for answer in answers] == ["2", "1", "0"]
    assert [answer.headers["x-ratelimit-reset"] for answer in answers] == ["10", "6", "2"]
    assert [answer.headers["x-ratelimit-reset-ms"] for answer in answers] == ["10000", "6000", "2000"]
    assert refused.status_code == 429
    assert refused.json() == {"error": "rate limit exceeded: at most 3 requests per 10 seconds"}
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["x-retry-after-ms"] == "1000"
    assert refused.headers["x-ratelimit-remaining"] == "0"
    assert refused.headers["x-ratelimit-reset"] == "1"
    assert refused_later.status_code == 429
    assert refused_later.headers["retry-after"] == "1"  # whole seconds, at least 1
    assert refused_later.headers["x-retry-after-ms"] == "250"
    assert admitted.status_code == 202  # the refused attempt recorded nothing under its key
    assert admitted.headers["x-ratelimit-remaining"] == "0"
    assert refused_again.status_code == 429
    assert refused_again.headers["retry-after"] == "3"  # the request of t=4 leaves at t=14
    assert state["created"]["campaigns"] == 1
    assert state["rate_limited"] == state["over_limit"] == 3
    assert state["by_key"][key_id(KEY_A)] == {"requests": 7, "rate_limited": 3, "max_in_window": 3}
    assert state["by_status"] == {"200": 3, "202": 1, "429": 3}


async def test_each_key_has_its_own_window() -> None:
    """A full window of one key does not limit another."""
    clock = HandClock()
    async with dsp(clock, limit=1) as client:
        first = await client.get("/v1/statuses?ids=x")
        limited = await client.get("/v1/statuses?ids=x")
        other = await client.get("/v1/statuses?ids=x", headers={"authorization": f"Bearer {KEY_B}"})
    assert (first.status_code, limited.status_code, other.status_code) == (200, 429, 200)


async def test_every_answer_but_401_carries_the_rate_limit_headers() -> None:
    """400, 404, 409, 422 and faults carry X-RateLimit-*, like 2xx and 429."""
    clock = HandClock()
    async with dsp(clock) as client:
        campaign_id = (await post(client, "/v1/campaigns", campaign(), key="a")).json()["id"]
        answers = [
            await post(client, "/v1/campaigns", b"nope"),
            await client.get("/v1/ads/none"),
            await post(client, "/v1/ad-groups", ad_group(campaign_id)),
            await post(client, "/v1/campaigns", campaign(name="other"), key="a"),
        ]
        await client.put("/_control", json={"error_rate": 1.0})
        answers.append(await client.get("/v1/statuses?ids=x"))
    assert [answer.status_code // 100 for answer in answers] == [4, 4, 4, 4, 5]
    assert [answer.headers["x-ratelimit-remaining"] for answer in answers] == ["38", "37", "36", "35", "34"]


async def test_time_scale_shrinks_the_window_retry_after_and_processing() -> None:
    """At time scale 60 a 60 s window lasts 1 real second: Retry-After is real (whole) seconds and
    X-Retry-After-Ms the exact real wait; 2 simulated processing seconds last 1/30 real second."""
    clock = HandClock()
    async with dsp(clock, limit=2, window=60, time_scale=60, processing_seconds=2) as client:
        created = await post(client, "/v1/campaigns", campaign())
        clock.now += 0.25
        await client.get("/v1/statuses?ids=x")
        refused = await client.get("/v1/statuses?ids=x")
        clock.now += 0.75
        admitted = await client.get("/v1/campaigns/" + created.json()["id"])
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert refused.headers["x-retry-after-ms"] == "750"
    assert refused.headers["x-ratelimit-reset"] == "1"
    assert admitted.status_code == 200
    assert admitted.json()["status"] == "Completed"


# -- faults ---------------------------------------------------------------------------------------------


async def test_error_rate_one_answers_5xx_and_never_has_an_effect() -> None:
    """Every accepted request gets 500, 502 or 503 and nothing is created; 503 carries Retry-After."""
    clock = HandClock()
    async with dsp(clock, error_rate=1.0, seed=3) as client:
        answers = [await post(client, "/v1/campaigns", campaign(), key=f"k{n}") for n in range(30)]
        state = await counters(client)
    statuses = {answer.status_code for answer in answers}
    assert statuses == {500, 502, 503}
    assert state["created"]["campaigns"] == 0
    assert sum(state["errors"].values()) == 30
    for answer in answers:
        if answer.status_code == 503:
            assert answer.headers["retry-after"] == "1"
            assert answer.headers["x-retry-after-ms"] == "1000"
        if answer.status_code == 502:
            assert answer.headers["content-type"].startswith("text/html")
        else:
            assert "error" in answer.json()


async def test_faults_are_reproducible_from_the_seed() -> None:
    """Same seed and requests, same faults and ids; another seed, another sequence."""

    async def run(seed: int) -> list[tuple[int, str]]:
        async with dsp(HandClock(), error_rate=0.5, seed=seed) as client:
            answers = [await post(client, "/v1/campaigns", campaign(name=f"C{n}")) for n in range(20)]
        return [(answer.status_code, answer.text) for answer in answers]

    assert await run(7) == await run(7)
    assert await run(7) != await run(8)


async def test_a_dropped_answer_sends_the_head_then_closes_without_the_body() -> None:
    """At the ASGI level a drop is a 202 head, an empty unfinished body, and nothing more."""
    clock = HandClock()
    app = create_app(DspSimulatorOptions(api_keys=(KEY_A,), drop_after_commit_rate=1.0), clock=clock)
    body = json.dumps(campaign()).encode()
    messages: list[dict[str, Any]] = []
    requests = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return requests.pop(0) if requests else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/campaigns",
        "raw_path": b"/v1/campaigns",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"authorization", f"Bearer {KEY_A}".encode()),
            (b"idempotency-key", b"k1"),
            (b"content-type", b"application/json"),
        ],
        "client": ("127.0.0.1", 1234),
        "server": ("dsp.test", 80),
    }
    await app(scope, receive, send)
    assert [message["type"] for message in messages] == ["http.response.start", "http.response.body"]
    assert messages[0]["status"] == 202
    assert messages[1] == {"type": "http.response.body", "body": b"", "more_body": True}
    headers = dict(messages[0]["headers"])
    assert headers[b"x-ratelimit-remaining"] == b"39"
    assert int(headers[b"content-length"]) > 0


async def test_drop_after_commit_keeps_the_effect_and_a_retry_with_the_same_key_finds_it() -> None:
    """The client sees a transport error; the entity exists; the same key answers it: no duplicate.
    A new key for the same node, as a careless client would send, is counted as a duplicate."""
    clock = HandClock()
    async with dsp(clock, drop_after_commit_rate=1.0) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await post(client, "/v1/campaigns", campaign(), key="node-1")
        after_drop = await counters(client)
        await client.put("/_control", json={"drop_after_commit_rate": 0.0})
        retried = await post(client, "/v1/campaigns", campaign(), key="node-1")
        read = await client.get(f"/v1/campaigns/{retried.json()['id']}")
        clean = await counters(client)
        careless = await post(client, "/v1/campaigns", campaign(), key="node-1-again")
        duplicates = (await client.get("/_control/duplicates")).json()
        final = await counters(client)
    assert after_drop["created"]["campaigns"] == 1
    assert after_drop["dropped"] == 1
    assert after_drop["by_status"] == {}
    assert retried.status_code == 202
    assert retried.headers["idempotent-replayed"] == "true"
    assert read.status_code == 200
    assert clean["created"]["campaigns"] == 1
    assert clean["duplicates"]["campaigns"] == 0
    assert careless.status_code == 202
    assert careless.json()["id"] != retried.json()["id"]
    assert final["duplicates"] == {"campaigns": 1, "ad_groups": 0, "ads": 0}
    assert duplicates == [
        {
            "kind": "campaigns",
            "key_id": key_id(KEY_A),
            "identity": [None, "Summer Styles 2025"],
            "ids": [retried.json()["id"], careless.json()["id"]],
        }
    ]


async def test_duplicates_are_counted_per_logical_node_of_each_kind() -> None:
    """Ad groups: same campaign and name; ads: same ad group, creative and click URLs; other parents or
    other URLs are other nodes."""
    clock = HandClock()
    async with dsp(clock) as client:
        first = await completed_campaign(client, clock, name="One")
        second = await completed_campaign(client, clock, name="Two")
        groups = [
            (await post(client, "/v1/ad-groups", ad_group(parent))).json()["id"]
            for parent in (first, first, second)
        ]
        clock.now += 2
        await post(client, "/v1/ads", ad(groups[0]))
        await post(client, "/v1/ads", ad(groups[0]))
        await post(client, "/v1/ads", ad(groups[0], click_url="https://shop.example.com/other"))
        await post(client, "/v1/ads", ad(groups[2]))
        state = await counters(client)
    assert state["created"] == {"campaigns": 2, "ad_groups": 3, "ads": 4}
    assert state["duplicates"] == {"campaigns": 0, "ad_groups": 1, "ads": 1}


# -- control -------------------------------------------------------------------------------------------


async def test_control_document_shape() -> None:
    """`GET /_control` shows the options, the live faults and every counter."""
    clock = HandClock()
    async with dsp(clock, limit=5, window=30, time_scale=2, seed=4) as client:
        state = await control(client)
    assert state == {
        "limit": 5,
        "window": 30.0,
        "time_scale": 2.0,
        "seed": 4,
        "keys": sorted([key_id(KEY_A), key_id(KEY_B)]),
        "error_rate": 0.0,
        "drop_after_commit_rate": 0.0,
        "validation_error_rate": 0.0,
        "processing_seconds": 2.0,
        "counters": {
            "requests": 0,
            "unauthorized": 0,
            "rate_limited": 0,
            "over_limit": 0,
            "errors": {"500": 0, "502": 0, "503": 0},
            "dropped": 0,
            "replayed": 0,
            "created": {"campaigns": 0, "ad_groups": 0, "ads": 0},
            "duplicates": {"campaigns": 0, "ad_groups": 0, "ads": 0},
            "statuses": {"Not Started": 0, "In Progress": 0, "Completed": 0, "Error": 0},
            "by_status": {},
            "by_key": {
                key_id(KEY_A): {"requests": 0, "rate_limited": 0, "max_in_window": 0},
                key_id(KEY_B): {"requests": 0, "rate_limited": 0, "max_in_window": 0},
            },
        },
    }


async def test_put_control_changes_faults_all_or_nothing() -> None:
    """A bad or unknown value is 400 and changes nothing; good values apply at once."""
    clock = HandClock()
    async with dsp(clock) as client:
        bad = await client.put("/_control", json={"error_rate": 0.5, "validation_error_rate": 2})
        unknown = await client.put("/_control", json={"limit": 5})
        negative = await client.put("/_control", json={"processing_seconds": -1})
        unchanged = await control(client)
        good = await client.put(
            "/_control", json={"processing_seconds": 10, "validation_error_rate": 1.0, "error_rate": 0.25}
        )
    assert (bad.status_code, unknown.status_code, negative.status_code) == (400, 400, 400)
    assert unchanged["error_rate"] == 0.0
    assert good.status_code == 200
    assert good.json()["processing_seconds"] == 10.0
    assert good.json()["validation_error_rate"] == 1.0
    assert good.json()["error_rate"] == 0.25


async def test_processing_seconds_changed_at_run_time_applies_to_new_entities() -> None:
    """Entities keep the processing time they were created with."""
    clock = HandClock()
    async with dsp(clock, processing_seconds=2) as client:
        before = (await post(client, "/v1/campaigns", campaign(name="before"))).json()["id"]
        await client.put("/_control", json={"processing_seconds": 10})
        after = (await post(client, "/v1/campaigns", campaign(name="after"))).json()["id"]
        clock.now += 2
        statuses = (await client.get("/v1/statuses", params={"ids": f"{before},{after}"})).json()
    assert [view["status"] for view in statuses] == ["Completed", "Not Started"]


async def test_reset_forgets_entities_keys_windows_and_counters() -> None:
    """`POST /_control/reset`: back to the start: ids unknown, keys reusable, full limit, zero counters."""
    clock = HandClock()
    async with dsp(clock, limit=2) as client:
        created = (await post(client, "/v1/campaigns", campaign(), key="k")).json()["id"]
        await client.put("/_control", json={"error_rate": 1.0})
        reset = await client.post("/_control/reset")
        read = await client.get(f"/v1/campaigns/{created}")
        again = await post(client, "/v1/campaigns", campaign(name="other"), key="k")
    assert reset.status_code == 200
    assert reset.json()["error_rate"] == 0.0
    assert reset.json()["counters"]["requests"] == 0
    assert read.status_code == 404
    assert read.headers["x-ratelimit-remaining"] == "1"
    assert again.status_code == 202


async def test_arrivals_list_accepted_and_rejected_times_per_key() -> None:
    """`GET /_control/arrivals` gives, per key id, seconds since start of accepted and 429 requests."""
    clock = HandClock()
    async with dsp(clock, limit=1, window=10, time_scale=2) as client:
        await client.get("/v1/statuses?ids=x")
        clock.now += 1.5
        await client.get("/v1/statuses?ids=x")
        clock.now += 4
        await client.get("/v1/statuses?ids=x")
        arrivals = (await client.get("/_control/arrivals")).json()
    assert arrivals == {
        "window_seconds": 5.0,
        "by_key": {
            key_id(KEY_A): {"accepted": [0.0, 5.5], "rejected": [1.5]},
            key_id(KEY_B): {"accepted": [], "rejected": []},
        },
    }


async def test_health_needs_no_key_and_is_not_counted() -> None:
    """`GET /health` answers ok without a key and without touching any window."""
    clock = HandClock()
    async with dsp(clock) as client:
        client.headers.pop("authorization")
        health = await client.get("/health")
        state = await counters(client)
    assert health.text == "ok"
    assert state["requests"] == 0


# -- options ---------------------------------------------------------------------------------------------


def test_options_round_trip_through_json_and_hide_the_keys_from_repr() -> None:
    """The worker process rebuilds the same options; repr never shows a key."""
    options = DspSimulatorOptions(api_keys=(KEY_A, KEY_B, KEY_A), limit=7, window=30, time_scale=60, seed=9)
    again = DspSimulatorOptions.from_json(options.to_json())
    assert again == options
    assert options.api_keys == (KEY_A, KEY_B)
    assert options.window == 30.0
    assert KEY_A not in repr(options)


@pytest.mark.parametrize(
    "bad",
    [
        {"api_keys": ()},
        {"api_keys": "one-key"},
        {"api_keys": ("has space",)},
        {"api_keys": ("",)},
        {"limit": 0},
        {"limit": True},
        {"window": 0},
        {"window": float("inf")},
        {"time_scale": -1},
        {"processing_seconds": -0.5},
        {"error_rate": 1.5},
        {"drop_after_commit_rate": -0.1},
        {"validation_error_rate": "0.1"},
        {"seed": 1.5},
    ],
)
def test_options_refuse_bad_values(bad: dict[str, Any]) -> None:
    """Unusable options raise InvalidInputError before anything serves."""
    values: dict[str, Any] = {"api_keys": (KEY_A,), **bad}
    with pytest.raises(InvalidInputError):
        DspSimulatorOptions(**values)


@pytest.mark.parametrize(
    "text", ['{"limit": 1}', '{"api_keys": "k"}', '{"api_keys": ["k"], "nope": 1}', "[]"]
)
def test_options_json_must_be_complete_and_known(text: str) -> None:
    """The worker refuses options JSON without keys, with unknown fields, or not an object."""
    with pytest.raises(InvalidInputError):
        DspSimulatorOptions.from_json(text)


def test_the_env_var_name_is_the_documented_one() -> None:
    """`CROSSDOCK_SIMULATOR_DSP_API_KEYS` holds the keys when no --api-key is given."""
    assert API_KEYS_ENV_VAR == "CROSSDOCK_SIMULATOR_DSP_API_KEYS"
