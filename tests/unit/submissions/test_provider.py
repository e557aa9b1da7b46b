"""The DSP client: one attempt per call, every answer of the real simulator classified as a value.

Most tests drive the DSP simulator in process on a hand-moved clock; answers the simulator never
gives (malformed bodies, connection errors, odd statuses) come from ``httpx.MockTransport`` scripts.
Nothing sleeps: the client's clock is a ``FakeClock`` and the tests check it was never waited on.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp

from crossdock.errors import ConfigurationError
from crossdock.httpclient import BreakerRegistry
from crossdock.httpclient.testing import FakeClock, RecordingHooks
from crossdock.submissions.provider import (
    MAX_STATUS_IDS,
    Accepted,
    DspClient,
    Found,
    NotFound,
    Outcome,
    ParentMissing,
    ParentNotReady,
    RateLimited,
    RateWindow,
    Rejected,
    Statuses,
    StatusItem,
    Transient,
    Unauthorized,
)
from crossdock.submissions.simulator.app import DspSimulatorOptions, create_app, in_process_transport

KEY = "dsp-provider-test-key-5c1e"
OTHER_KEY = "dsp-provider-other-key-9b0d"
BASE_URL = "http://dsp.test"
_keys = itertools.count()


def new_key() -> str:
    return f"crossdock-test-{next(_keys)}"


class HandClock:
    """The simulator's monotonic seconds, moved only by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Dsp:
    """A client of the simulator, the simulator's clock and its control API."""

    app: ASGIApp
    client: DspClient
    clock: HandClock
    client_clock: FakeClock
    hooks: RecordingHooks
    control: httpx.AsyncClient

    async def counters(self) -> dict[str, Any]:
        state: dict[str, Any] = (await self.control.get("/_control")).json()
        return dict(state["counters"])

    async def change(self, **live: float) -> None:
        answer = await self.control.put("/_control", json=live)
        assert answer.status_code == 200, answer.text

    def other_client(self, api_key: str) -> DspClient:
        transport = in_process_transport(self.app)
        return DspClient("sim", BASE_URL, api_key, transport=transport, registry=BreakerRegistry())


@asynccontextmanager
async def dsp(**options: Any) -> AsyncIterator[Dsp]:
    """A :class:`DspClient` holding ``KEY`` against a simulator accepting ``KEY`` and ``OTHER_KEY``."""
    options.setdefault("api_keys", (KEY, OTHER_KEY))
    clock = HandClock()
    app = create_app(DspSimulatorOptions(**options), clock=clock)
    client_clock = FakeClock()
    hooks = RecordingHooks()
    client = DspClient(
        "sim",
        BASE_URL,
        KEY,
        transport=in_process_transport(app),
        hooks=hooks,
        clock=client_clock,
        registry=BreakerRegistry(),
    )
    async with client, httpx.AsyncClient(transport=in_process_transport(app), base_url=BASE_URL) as control:
        yield Dsp(app, client, clock, client_clock, hooks, control)
    assert client_clock.sleeps == [], "the client must never wait"


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
        "targeting": {"ages": ["18-24"], "interests": ["fashion"], "geo": ["UK"]},
        **changes,
    }


def ad(ad_group_id: str) -> dict[str, Any]:
    return {
        "ad_group_id": ad_group_id,
        "type": "banner",
        "creative_url": "https://cdn.example.com/creatives/summer.jpg",
        "click_url": "https://shop.example.com/summer",
    }


async def created(client: DspClient, kind: Any, payload: dict[str, Any]) -> Accepted:
    outcome = await client.create(kind, payload, new_key())
    assert isinstance(outcome, Accepted), outcome
    return outcome


# -- against the simulator --------------------------------------------------------------------------


async def test_a_create_is_accepted_with_the_id_status_and_rate_limit_headers() -> None:
    """A 202 becomes Accepted with the DSP's id and status, and the X-RateLimit-* values of the answer."""
    async with dsp() as sim:
        outcome = await sim.client.create("campaign", campaign(), new_key())
        counters = await sim.counters()
    assert isinstance(outcome, Accepted)
    assert outcome.external_id.startswith("cmp_")
    assert outcome.status == "Not Started"
    assert outcome.error_message is None
    assert not outcome.replayed
    assert outcome.rate == RateWindow(limit=40, remaining=39, reset=60.0)
    assert counters["created"]["campaigns"] == 1


async def test_the_same_key_and_body_answer_the_same_entity_and_create_nothing() -> None:
    """A replay with the same idempotency key and body is Accepted with the same id, marked replayed."""
    async with dsp() as sim:
        key = new_key()
        first = await sim.client.create("campaign", campaign(), key)
        again = await sim.client.create("campaign", campaign(budget=15000.0), key)
        counters = await sim.counters()
    assert isinstance(first, Accepted)
    assert isinstance(again, Accepted)
    assert again.external_id == first.external_id
    assert again.replayed
    assert counters["created"]["campaigns"] == 1
    assert counters["replayed"] == 1


async def test_the_same_key_with_another_body_is_rejected_422_with_the_dsps_words() -> None:
    """422 (a reused key, another body) is Rejected, its error text kept; nothing is created."""
    async with dsp() as sim:
        key = new_key()
        await sim.client.create("campaign", campaign(), key)
        outcome = await sim.client.create("campaign", campaign(name="Other"), key)
        counters = await sim.counters()
    assert isinstance(outcome, Rejected)
    assert outcome.status == 422
    assert outcome.message == "this Idempotency-Key was already used with a different request"
    assert outcome.rate is not None
    assert outcome.rate.remaining == 38
    assert counters["created"]["campaigns"] == 1


async def test_a_malformed_body_is_rejected_400_with_the_dsps_words() -> None:
    """400 is Rejected with the DSP's message."""
    async with dsp() as sim:
        body = campaign()
        del body["budget"]
        outcome = await sim.client.create("campaign", body, new_key())
    assert outcome == Rejected(400, "missing field: budget", rate=RateWindow(40, 39, 60.0))


async def test_unknown_parents_are_missing_and_unfinished_ones_not_ready() -> None:
    """Creating a child: 404 is ParentMissing, 409 ParentNotReady; once the parent completes, Accepted."""
    async with dsp(processing_seconds=2) as sim:
        missing = await sim.client.create("ad_group", ad_group("cmp_0000000000000000"), new_key())
        parent = await created(sim.client, "campaign", campaign())
        early = await sim.client.create("ad_group", ad_group(parent.external_id), new_key())
        sim.clock.advance(2)
        group = await created(sim.client, "ad_group", ad_group(parent.external_id))
        ad_early = await sim.client.create("ad", ad(group.external_id), new_key())
        sim.clock.advance(2)
        the_ad = await created(sim.client, "ad", ad(group.external_id))
    assert isinstance(missing, ParentMissing)
    assert missing.message == "campaign not found: cmp_0000000000000000"
    assert isinstance(early, ParentNotReady)
    assert early.message == f"campaign {parent.external_id} is Not Started, not Completed"
    assert isinstance(ad_early, ParentNotReady)
    assert group.external_id.startswith("adg_")
    assert the_ad.external_id.startswith("ad_")


async def test_a_wrong_key_is_unauthorized_without_rate_limit_values() -> None:
    """401 is Unauthorized with the DSP's words; the answer carries no X-RateLimit-*, so rate is None."""
    async with dsp() as sim:
        wrong = sim.other_client("not-a-key-of-this-dsp")
        async with wrong:
            outcome = await wrong.create("campaign", campaign(), new_key())
            read = await wrong.statuses(["cmp_1"])
        counters = await sim.counters()
    assert outcome == Unauthorized(401, "unauthorized", rate=None)
    assert isinstance(read, Unauthorized)
    assert counters["unauthorized"] == 2
    assert counters["created"]["campaigns"] == 0


async def test_a_full_window_is_rate_limited_with_the_exact_wait_and_then_accepted() -> None:
    """429 is RateLimited: retry_after from X-Retry-After-Ms (59.5 s, not Retry-After's 60), the window's
    values in rate; after that wait the same request is accepted."""
    async with dsp(limit=2, window=60) as sim:
        await created(sim.client, "campaign", campaign(name="A"))
        sim.clock.advance(0.25)
        await created(sim.client, "campaign", campaign(name="B"))
        sim.clock.advance(0.25)
        key = new_key()
        limited = await sim.client.create("campaign", campaign(name="C"), key)
        after_counters = await sim.counters()
        assert isinstance(limited, RateLimited)
        sim.clock.advance(limited.retry_after)
        accepted = await sim.client.create("campaign", campaign(name="C"), key)
        counters = await sim.counters()
    assert limited == RateLimited(59.5, rate=RateWindow(limit=2, remaining=0, reset=59.5))
    assert after_counters["created"]["campaigns"] == 2
    assert isinstance(accepted, Accepted)
    assert counters["created"]["campaigns"] == 3
    assert counters["rate_limited"] == 1


async def test_server_errors_are_transient_after_exactly_one_attempt() -> None:
    """500/502/503 are Transient with their status (a 503 with its Retry-After), one request per call,
    no wait; a POST answered 5xx may have committed, a read did not; the breaker never steps in."""
    calls = 15
    async with dsp(error_rate=1.0, time_scale=4) as sim:
        reads = [await sim.client.statuses(["cmp_1"]) for _ in range(calls)]
        post = await sim.client.create("campaign", campaign(), new_key())
        counters = await sim.counters()
    assert all(isinstance(outcome, Transient) for outcome in reads)
    transients = [outcome for outcome in reads if isinstance(outcome, Transient)]
    assert {outcome.status for outcome in transients} == {500, 502, 503}
    for outcome in transients:
        assert not outcome.maybe_committed
        assert outcome.rate is not None
        # A 503 asks for one simulated second: 0.25 real seconds at time scale 4 (Retry-After says 1).
        assert outcome.retry_after == (0.25 if outcome.status == 503 else None)
    assert isinstance(post, Transient)
    assert post.maybe_committed
    assert counters["requests"] == calls + 1
    assert sum(counters["errors"].values()) == calls + 1
    assert counters["created"]["campaigns"] == 0
    assert len(sim.hooks.requests) == calls + 1
    assert sim.hooks.retries == []


async def test_an_answer_dropped_after_commit_may_have_committed_and_the_same_key_finds_it() -> None:
    """A 202 lost on the wire is Transient(maybe_committed); the same key and body then answer Accepted
    for the entity already made, and the DSP holds no duplicate."""
    async with dsp(drop_after_commit_rate=1.0) as sim:
        key = new_key()
        lost = await sim.client.create("campaign", campaign(), key)
        await sim.change(drop_after_commit_rate=0.0)
        found = await sim.client.create("campaign", campaign(), key)
        assert isinstance(found, Accepted)
        read = await sim.client.status("campaign", found.external_id)
        counters = await sim.counters()
    assert isinstance(lost, Transient)
    assert lost.maybe_committed
    assert lost.status is None
    assert "RemoteProtocolError" in lost.reason
    assert found.replayed
    assert isinstance(read, Found)
    assert counters["dropped"] == 1
    assert counters["created"]["campaigns"] == 1
    assert counters["duplicates"] == {"campaigns": 0, "ad_groups": 0, "ads": 0}


async def test_a_status_read_follows_the_lifecycle_and_unknown_ids_are_not_found() -> None:
    """GET one entity: Found with its status over time, the DSP's error message on Error; 404 NotFound."""
    async with dsp(processing_seconds=2) as sim:
        good = await created(sim.client, "campaign", campaign(name="Good"))
        bad = await created(sim.client, "campaign", campaign(name="Bad", budget=0))
        new = await sim.client.status("campaign", good.external_id)
        sim.clock.advance(1)
        halfway = await sim.client.status("campaign", good.external_id)
        sim.clock.advance(1)
        done = await sim.client.status("campaign", good.external_id)
        failed = await sim.client.status("campaign", bad.external_id)
        unknown = await sim.client.status("campaign", "cmp_nope")
        wrong_kind = await sim.client.status("ad_group", good.external_id)
    assert [outcome.status for outcome in (new, halfway, done) if isinstance(outcome, Found)] == [
        "Not Started",
        "In Progress",
        "Completed",
    ]
    assert failed == Found(
        bad.external_id, "Error", "Budget must be greater than 0 (got 0)", rate=RateWindow(40, 34, 58.0)
    )
    assert isinstance(unknown, NotFound)
    assert unknown.external_id == "cmp_nope"
    assert isinstance(wrong_kind, NotFound)


async def test_a_statuses_batch_answers_in_the_order_asked_and_names_the_missing_ids() -> None:
    """GET /v1/statuses: items by id in the order asked (repeats asked once), unknown ids in missing."""
    async with dsp(processing_seconds=2) as sim:
        good = await created(sim.client, "campaign", campaign(name="Good"))
        bad = await created(sim.client, "campaign", campaign(name="Bad", budget=0))
        sim.clock.advance(2)
        outcome = await sim.client.statuses(
            [bad.external_id, "cmp_unknown", good.external_id, bad.external_id]
        )
    assert isinstance(outcome, Statuses)
    assert list(outcome.items) == [bad.external_id, good.external_id]
    assert outcome.items[good.external_id] == StatusItem("Completed", None)
    assert outcome.items[bad.external_id] == StatusItem("Error", "Budget must be greater than 0 (got 0)")
    assert outcome.missing == ("cmp_unknown",)
    assert outcome.rate == RateWindow(limit=40, remaining=37, reset=58.0)


async def test_concurrent_calls_each_get_their_own_answers_values() -> None:
    """Calls in flight together never mix their answers' headers."""
    async with dsp() as sim:
        outcomes = await asyncio.gather(
            *(sim.client.create("campaign", campaign(name=f"C{n}"), new_key()) for n in range(3))
        )
    remaining = sorted(outcome.rate.remaining or 0 for outcome in outcomes if outcome.rate is not None)
    assert remaining == [37, 38, 39]


async def test_the_api_key_appears_in_no_outcome_and_no_hook_event() -> None:
    """Whatever the answer, neither an outcome's repr nor its message nor a hook event holds the key."""
    outcomes: list[Outcome] = []
    async with dsp(limit=9, drop_after_commit_rate=1.0) as sim:
        outcomes.append(await sim.client.create("campaign", campaign(), new_key()))
        await sim.change(drop_after_commit_rate=0.0, error_rate=1.0)
        outcomes.append(await sim.client.create("campaign", campaign(), new_key()))
        await sim.change(error_rate=0.0)
        accepted = await created(sim.client, "campaign", campaign(name="Other"))
        outcomes.append(accepted)
        outcomes.append(await sim.client.create("campaign", {"name": "no budget"}, new_key()))
        outcomes.append(await sim.client.create("ad_group", ad_group(accepted.external_id), new_key()))
        outcomes.append(await sim.client.create("ad", ad("adg_0000000000000000"), new_key()))
        outcomes.append(await sim.client.statuses([accepted.external_id, "cmp_1"]))
        outcomes.append(await sim.client.status("campaign", accepted.external_id))
        outcomes.append(await sim.client.status("ad", "ad_1"))
        outcomes.append(await sim.client.status("ad", "ad_2"))
        wrong = sim.other_client(f"{KEY}-wrong")
        async with wrong:
            outcomes.append(await wrong.status("campaign", "cmp_1"))
    kinds = {type(outcome) for outcome in outcomes}
    assert kinds == {
        Transient,
        Accepted,
        Rejected,
        ParentNotReady,
        ParentMissing,
        Statuses,
        Found,
        NotFound,
        RateLimited,
        Unauthorized,
    }
    for outcome in outcomes:
        assert KEY not in repr(outcome)
        assert KEY not in str(getattr(outcome, "message", "")) + str(getattr(outcome, "reason", ""))
    assert KEY not in sim.hooks.all_text()


# -- refused before anything is sent ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("k" * 256, "at most 255 characters"),
        ("", "is empty"),
        ("clé-1", "is not ASCII"),
        (" padded", "whitespace"),
    ],
)
async def test_an_idempotency_key_the_dsp_would_refuse_is_a_value_error(key: str, problem: str) -> None:
    """Keys over 255 characters, empty or unfit for a header raise ValueError; nothing is sent."""
    async with dsp() as sim:
        with pytest.raises(ValueError, match=problem):
            await sim.client.create("campaign", campaign(), key)
        longest = await sim.client.create("campaign", campaign(), "k" * 255)
        counters = await sim.counters()
    assert isinstance(longest, Accepted)
    assert counters["requests"] == 1


async def test_bad_arguments_are_value_errors() -> None:
    """An unknown kind, no ids, over 100 ids, or an id the DSP cannot be asked for raise ValueError."""
    async with dsp() as sim:
        with pytest.raises(ValueError, match="unknown entity kind"):
            await sim.client.create("creative", campaign(), new_key())  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="unknown entity kind"):
            await sim.client.status("campaigns", "cmp_1")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="not an entity id"):
            await sim.client.status("campaign", "..")
        with pytest.raises(ValueError, match="at least one id"):
            await sim.client.statuses([])
        with pytest.raises(ValueError, match="at most 100 ids"):
            await sim.client.statuses([f"cmp_{n}" for n in range(MAX_STATUS_IDS + 1)])
        with pytest.raises(ValueError, match="not an id"):
            await sim.client.statuses(["cmp_1,cmp_2"])
        with pytest.raises(ValueError, match="not one string"):
            await sim.client.statuses("cmp_1")
        most = await sim.client.statuses([f"cmp_{n}" for n in range(MAX_STATUS_IDS)] + ["cmp_0"])
        counters = await sim.counters()
    assert isinstance(most, Statuses)
    assert len(most.missing) == MAX_STATUS_IDS
    assert counters["requests"] == 1


# -- answers the simulator never gives --------------------------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]


@asynccontextmanager
async def scripted(handler: Handler) -> AsyncIterator[DspClient]:
    client = DspClient(
        "scripted",
        BASE_URL,
        KEY,
        transport=httpx.MockTransport(handler),
        clock=FakeClock(),
        registry=BreakerRegistry(),
    )
    async with client:
        yield client


def answer(status: int, body: Any = None, **headers: str) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        if isinstance(body, bytes):
            return httpx.Response(status, content=body, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    return handle


def failing(error: type[httpx.TransportError]) -> Handler:
    def handle(request: httpx.Request) -> httpx.Response:
        raise error("the wire failed", request=request)

    return handle


async def test_the_request_carries_the_bearer_key_and_the_idempotency_key() -> None:
    """POST /v1/ad-groups with Authorization: Bearer <key>, the Idempotency-Key and the payload as JSON."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json={"id": "adg_1", "status": "Not Started"})

    async with scripted(handle) as client:
        outcome = await client.create("ad_group", ad_group("cmp_1"), "key-1")
    assert outcome == Accepted("adg_1", "Not Started", rate=None)
    (request,) = seen
    assert request.method == "POST"
    assert request.url == f"{BASE_URL}/v1/ad-groups"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["idempotency-key"] == "key-1"
    assert request.read() == httpx.Request("POST", BASE_URL, json=ad_group("cmp_1")).read()


@pytest.mark.parametrize(
    ("body", "what"),
    [
        ({"status": "Not Started"}, "no id"),
        ({"id": "cmp_1", "status": "Queued"}, "unknown status"),
        (b"<html>accepted</html>", "not JSON"),
        (["cmp_1"], "not a JSON object"),
    ],
)
async def test_a_malformed_success_to_a_create_is_transient_and_may_have_committed(
    body: Any, what: str
) -> None:
    """A 202 without a usable id or status is Transient(maybe_committed): send again with the same key."""
    async with scripted(answer(202, body, **{"x-ratelimit-remaining": "3"})) as client:
        outcome = await client.create("campaign", campaign(), "key-1")
    assert isinstance(outcome, Transient)
    assert outcome.reason.startswith("malformed answer")
    assert what in outcome.reason
    assert outcome.status == 202
    assert outcome.maybe_committed
    assert outcome.rate == RateWindow(limit=None, remaining=3, reset=None)


@pytest.mark.parametrize("body", [b"not json", {"id": "cmp_2", "status": "Completed"}, [{"id": "x"}]])
async def test_a_malformed_success_to_a_read_is_transient_without_commit(body: Any) -> None:
    """A read answered with a body that is not one entity (or another entity) is Transient, not committed."""
    async with scripted(answer(200, body)) as client:
        single = await client.status("campaign", "cmp_1")
        batch = await client.statuses(["cmp_1"])
    assert isinstance(single, Transient)
    assert not single.maybe_committed
    assert isinstance(batch, Transient)
    assert batch.reason.startswith("malformed answer")


@pytest.mark.parametrize(
    ("error", "committed"),
    [
        (httpx.ConnectError, False),
        (httpx.ConnectTimeout, False),
        (httpx.PoolTimeout, False),
        (httpx.ReadTimeout, True),
        (httpx.ReadError, True),
        (httpx.WriteError, True),
        (httpx.RemoteProtocolError, True),
    ],
)
async def test_a_post_may_have_committed_unless_the_connection_never_opened(
    error: type[httpx.TransportError], committed: bool
) -> None:
    """Transport failures are Transient; a POST may have committed once the request could be written,
    a read never."""
    async with scripted(failing(error)) as client:
        post = await client.create("campaign", campaign(), "key-1")
        read = await client.status("campaign", "cmp_1")
    assert isinstance(post, Transient)
    assert post.maybe_committed is committed
    assert post.status is None
    assert error.__name__ in post.reason
    assert isinstance(read, Transient)
    assert not read.maybe_committed


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"retry-after": "3", "x-retry-after-ms": "2500"}, 2.5),
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": formatdate(1_700_000_030, usegmt=True)}, 30.0),
        ({"x-ratelimit-reset": "7"}, 7.0),
        ({"x-ratelimit-reset": "7", "x-ratelimit-reset-ms": "6200"}, 6.2),
        ({}, 1.0),
    ],
)
async def test_a_429_waits_for_the_most_precise_value_it_carries(
    headers: dict[str, str], wait: float
) -> None:
    """RateLimited.retry_after: X-Retry-After-Ms, else Retry-After (seconds or a date), else the
    window's reset, else one second."""
    async with scripted(answer(429, {"error": "slow down"}, **headers)) as client:
        outcome = await client.create("campaign", campaign(), "key-1")
    assert isinstance(outcome, RateLimited)
    assert outcome.retry_after == pytest.approx(wait)


@pytest.mark.parametrize(
    ("status", "call", "expected"),
    [
        (404, "create campaign", Rejected),
        (404, "create ad", ParentMissing),
        (404, "status", NotFound),
        (404, "statuses", Rejected),
        (409, "create campaign", ParentNotReady),
        (409, "status", Rejected),
        (403, "statuses", Unauthorized),
        (418, "create ad", Rejected),
        (302, "create ad", Rejected),
        (408, "create ad", Transient),
        (501, "create ad", Transient),
        (504, "status", Transient),
    ],
)
async def test_every_status_has_one_outcome_per_call(status: int, call: str, expected: type[Any]) -> None:
    """Statuses outside the simulator's repertoire still map to one outcome each."""
    async with scripted(answer(status, {"error": "nope"}, location="http://elsewhere.test/")) as client:
        if call == "create campaign":
            outcome: Outcome = await client.create("campaign", campaign(), "key-1")
        elif call == "create ad":
            outcome = await client.create("ad", ad("adg_1"), "key-1")
        elif call == "status":
            outcome = await client.status("ad", "ad_1")
        else:
            outcome = await client.statuses(["ad_1"])
    assert type(outcome) is expected
    if isinstance(outcome, Transient):
        assert outcome.status == status
        assert outcome.maybe_committed is (call.startswith("create") and status >= 500)


async def test_an_empty_api_key_or_a_base_url_without_scheme_is_refused() -> None:
    """The client is not built without a key or with a URL httpx could not send to."""
    with pytest.raises(ConfigurationError, match="no API key"):
        DspClient("x", BASE_URL, "")
    with pytest.raises(ConfigurationError, match="base URL"):
        DspClient("x", "dsp.test", KEY)
