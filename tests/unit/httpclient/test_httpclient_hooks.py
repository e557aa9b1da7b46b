"""Client hooks: one typed event per occurrence, in order, and fan_out to several hooks."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from crossdock.errors import UpstreamError
from crossdock.httpclient import (
    BreakerEvent,
    BreakerPolicy,
    ClientEvent,
    ClientHook,
    GiveUpEvent,
    RequestEvent,
    ResilientClient,
    RetryEvent,
    RetryPolicy,
    fan_out,
)
from tests.support.http_mocks import Script

MakeClient = Callable[..., ResilientClient]


async def test_a_retry_reaches_the_hook_as_request_then_retry_events(make_client: MakeClient) -> None:
    """A 503 then a 200 hands a plain function exactly RequestEvent, RetryEvent, RequestEvent, in order."""
    received: list[ClientEvent] = []
    response = await make_client(Script([503, 200]), hooks=received.append).request("GET", "/x")
    assert response.status_code == 200
    assert [type(event) for event in received] == [RequestEvent, RetryEvent, RequestEvent]
    failed, retry, succeeded = received
    assert isinstance(failed, RequestEvent)
    assert (failed.upstream, failed.method, failed.url, failed.status) == (
        "marketplace",
        "GET",
        "http://upstream.test/x",
        503,
    )
    assert isinstance(retry, RetryEvent)
    assert (retry.attempt, retry.reason, retry.url) == (1, "HTTP 503", "http://upstream.test/x")
    assert isinstance(succeeded, RequestEvent)
    assert (succeeded.status, succeeded.error) == (200, None)


async def test_a_breaker_opening_give_up_reports_each_kind_once_in_order(make_client: MakeClient) -> None:
    """Two 503s that open the breaker give Request, Retry, Request, Breaker, GiveUp: one event each."""
    received: list[ClientEvent] = []
    client = make_client(
        Script([503]),
        hooks=received.append,
        retry=RetryPolicy(max_attempts=5),
        breaker_policy=BreakerPolicy(failure_threshold=2),
    )
    with pytest.raises(UpstreamError):
        await client.request("GET", "/x")
    assert [type(event) for event in received] == [
        RequestEvent,
        RetryEvent,
        RequestEvent,
        BreakerEvent,
        GiveUpEvent,
    ]
    breaker, give_up = received[3], received[4]
    assert isinstance(breaker, BreakerEvent)
    assert (breaker.upstream, breaker.old_state, breaker.new_state) == ("marketplace", "closed", "open")
    assert isinstance(give_up, GiveUpEvent)
    assert give_up.attempts == 2
    assert give_up.reason == "HTTP 503 (circuit breaker opened)"


def test_fan_out_hands_each_event_to_every_hook_in_order() -> None:
    """fan_out(a, b) gives each event to a then b, the same object to both, before the next event."""
    seen: list[tuple[str, ClientEvent]] = []

    def recorder(name: str) -> ClientHook:
        def hook(event: ClientEvent, /) -> None:
            seen.append((name, event))

        return hook

    first = RetryEvent(
        upstream="u", method="GET", url="http://u/x", attempt=1, wait_seconds=0.5, reason="HTTP 503"
    )
    second = BreakerEvent(upstream="u", old_state="closed", new_state="open")
    both = fan_out(recorder("a"), recorder("b"))
    both(first)
    both(second)
    assert seen == [("a", first), ("b", first), ("a", second), ("b", second)]
    assert seen[0][1] is seen[1][1]


def test_events_are_frozen() -> None:
    """An event cannot be changed by one hook before fan_out hands it to the next."""
    event = GiveUpEvent(upstream="u", method="GET", url="http://u/x", attempts=3, reason="HTTP 503")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.reason = "changed"  # type: ignore[misc]
