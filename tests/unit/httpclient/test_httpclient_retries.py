"""Which failures ResilientClient retries, how long it waits and when it gives up (MockTransport)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from email.utils import formatdate

import httpx
import pytest

from crossdock.errors import (
    UpstreamAuthError,
    UpstreamBadRequestError,
    UpstreamError,
    UpstreamNotFoundError,
    UpstreamStatusError,
    UpstreamUnavailableError,
)
from crossdock.httpclient import (
    ATTEMPTS_EXTENSION,
    ResilientClient,
    RetryPolicy,
    SystemClock,
    attempts_of,
    instant_waits,
    set_testing,
)
from crossdock.httpclient.testing import FakeClock, RecordingHooks, is_testing
from tests.support.http_mocks import BrokenBody, Script

MakeClient = Callable[..., ResilientClient]


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
async def test_each_default_retryable_status_is_retried(make_client: MakeClient, status: int) -> None:
    """A GET answered with a default retryable status is sent again and the later 200 is returned."""
    script = Script([status, 200])
    response = await make_client(script).request("GET", "/events")
    assert response.status_code == 200
    assert script.calls == 2
    assert response.extensions[ATTEMPTS_EXTENSION] == 2
    assert attempts_of(response) == 2


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, UpstreamBadRequestError),
        (401, UpstreamAuthError),
        (403, UpstreamAuthError),
        (404, UpstreamNotFoundError),
        (409, UpstreamStatusError),
        (422, UpstreamStatusError),
        (501, UpstreamStatusError),
    ],
)
async def test_non_retryable_statuses_fail_at_once_with_their_error(
    make_client: MakeClient, clock: FakeClock, status: int, error_class: type[UpstreamStatusError]
) -> None:
    """400/401/403/404/409/422/501 are not retried and map to their UpstreamStatusError subclass."""
    script = Script([status, 200])
    with pytest.raises(error_class) as caught:
        await make_client(script).request("GET", "/events")
    assert script.calls == 1
    assert clock.sleeps == []
    assert type(caught.value) is error_class
    assert caught.value.status == status
    assert caught.value.attempts == 1
    assert caught.value.upstream == "marketplace"


async def test_first_success_reports_one_attempt(make_client: MakeClient) -> None:
    """A response that succeeds at once carries attempts=1 and its body already read."""
    response = await make_client(Script([httpx.Response(200, text="hello")])).request("GET", "/x")
    assert response.text == "hello"
    assert attempts_of(response) == 1


async def test_redirect_statuses_are_returned_not_raised(make_client: MakeClient) -> None:
    """A 3xx answer is a success for the client (redirects are not followed unless asked)."""
    response = await make_client(Script([httpx.Response(304)])).request("GET", "/x")
    assert response.status_code == 304


async def test_post_is_not_retried_by_default(make_client: MakeClient, hooks: RecordingHooks) -> None:
    """A POST answered 503 is tried once and raises UpstreamUnavailableError naming why it stopped."""
    script = Script([503, 200])
    with pytest.raises(UpstreamUnavailableError) as caught:
        await make_client(script).request("POST", "/orders", json={"a": 1})
    assert script.calls == 1
    assert caught.value.attempts == 1
    assert "idempotent" in str(caught.value)
    assert len(hooks.give_ups) == 1


async def test_post_is_retried_when_the_call_is_idempotent(make_client: MakeClient) -> None:
    """idempotent=True on the call lets a POST be retried, resending the same body."""
    script = Script([503, 200])
    response = await make_client(script).request("POST", "/orders", json={"a": 1}, idempotent=True)
    assert response.status_code == 200
    assert [r.content for r in script.requests] == [b'{"a":1}', b'{"a":1}']


@pytest.mark.parametrize("method", ["PUT", "DELETE", "OPTIONS", "PATCH"])
async def test_other_methods_are_not_retried_by_default(make_client: MakeClient, method: str) -> None:
    """Only GET and HEAD are retried by default; PUT/DELETE/OPTIONS/PATCH need idempotent=True."""
    script = Script([502, 200])
    with pytest.raises(UpstreamUnavailableError):
        await make_client(script).request(method, "/thing")
    assert script.calls == 1


async def test_get_is_not_retried_when_the_call_says_not_idempotent(make_client: MakeClient) -> None:
    """idempotent=False forbids retrying even a GET."""
    script = Script([503, 200])
    with pytest.raises(UpstreamUnavailableError):
        await make_client(script).request("GET", "/x", idempotent=False)
    assert script.calls == 1


async def test_attempts_are_capped(make_client: MakeClient, clock: FakeClock, hooks: RecordingHooks) -> None:
    """After max_attempts failures the client gives up with UpstreamUnavailableError (attempts, reason)."""
    script = Script([503])
    client = make_client(script, retry=RetryPolicy(max_attempts=3, max_total_seconds=1000))
    with pytest.raises(UpstreamUnavailableError) as caught:
        await client.request("GET", "/events")
    error = caught.value
    assert script.calls == 3
    assert len(clock.sleeps) == 2
    assert (error.attempts, error.status, error.upstream) == (3, 503, "marketplace")
    assert "marketplace" in str(error)
    assert "http://upstream.test/events" in str(error)
    assert "3 attempts" in str(error)
    assert "HTTP 503" in str(error)
    assert [event.attempt for event in hooks.retries] == [1, 2]
    assert hooks.give_ups[0].attempts == 3


async def test_total_time_budget_gives_up_instead_of_waiting_past_it(
    make_client: MakeClient, clock: FakeClock
) -> None:
    """A wait that would use up max_total_seconds is never started: the client gives up instead."""
    busy = httpx.Response(503, headers={"Retry-After": "4"})
    script = Script([busy])
    client = make_client(script, retry=RetryPolicy(max_attempts=10, max_total_seconds=10, max_wait=60))
    with pytest.raises(UpstreamUnavailableError) as caught:
        await client.request("GET", "/events")
    # t=0 fail, wait 4; t=4 fail, wait 4; t=8 fail: 8 + 4 >= 10, so no third wait.
    assert clock.sleeps == [4.0, 4.0]
    assert script.calls == 3
    assert clock.monotonic() == 8.0
    assert "time budget" in str(caught.value)


async def test_jittered_waits_are_within_doubling_capped_ceilings(
    make_client: MakeClient, clock: FakeClock
) -> None:
    """With a seeded rng each backoff wait is uniform(0, min(backoff_max, initial * 2**n)): the same draws."""
    policy = RetryPolicy(
        max_attempts=6, max_total_seconds=1000, backoff_initial=1, backoff_max=4, max_wait=60
    )
    client = make_client(Script([500]), retry=policy, rng=random.Random(99))
    with pytest.raises(UpstreamUnavailableError):
        await client.request("GET", "/x")
    ceilings = [1.0, 2.0, 4.0, 4.0, 4.0]
    assert len(clock.sleeps) == 5
    assert all(0 <= wait <= ceiling for wait, ceiling in zip(clock.sleeps, ceilings, strict=True))
    expected_rng = random.Random(99)
    assert clock.sleeps == [expected_rng.uniform(0, ceiling) for ceiling in ceilings]


async def test_retry_after_seconds_replaces_the_backoff(
    make_client: MakeClient, clock: FakeClock, hooks: RecordingHooks
) -> None:
    """Retry-After: 7 on a 429 makes the client wait exactly 7 s before the retry."""
    script = Script([httpx.Response(429, headers={"Retry-After": "7"}), 200])
    await make_client(script).request("GET", "/x")
    assert clock.sleeps == [7.0]
    assert hooks.retries[0].wait_seconds == 7.0
    assert hooks.retries[0].reason == "HTTP 429"


async def test_retry_after_http_date_is_measured_against_the_clock(
    make_client: MakeClient, clock: FakeClock
) -> None:
    """Retry-After as an HTTP-date waits until that date according to the injected wall clock."""
    when = formatdate(clock.time() + 12, usegmt=True)
    script = Script([httpx.Response(503, headers={"Retry-After": when}), 200])
    await make_client(script).request("GET", "/x")
    assert clock.sleeps == [12.0]


@pytest.mark.parametrize("header_offset", [120.0, None])
async def test_retry_after_is_clamped_to_max_wait(
    make_client: MakeClient, clock: FakeClock, header_offset: float | None
) -> None:
    """A Retry-After longer than max_wait (seconds or date) is clamped to max_wait."""
    header = "120" if header_offset is None else formatdate(clock.time() + header_offset, usegmt=True)
    script = Script([httpx.Response(503, headers={"Retry-After": header}), 200])
    policy = RetryPolicy(max_attempts=3, max_total_seconds=1000, max_wait=30)
    await make_client(script, retry=policy).request("GET", "/x")
    assert clock.sleeps == [30.0]


@pytest.mark.parametrize(
    ("failure", "reason_part"),
    [
        (httpx.ConnectError("connection refused"), "connection error (ConnectError"),
        (httpx.ReadTimeout("timed out"), "timeout (ReadTimeout"),
        (httpx.ConnectTimeout("timed out"), "timeout (ConnectTimeout"),
        (httpx.RemoteProtocolError("server disconnected"), "connection error (RemoteProtocolError"),
        (httpx.ReadError("reset by peer"), "connection error (ReadError"),
    ],
)
async def test_connection_errors_and_timeouts_are_retried(
    make_client: MakeClient, hooks: RecordingHooks, failure: Exception, reason_part: str
) -> None:
    """Transport errors (connect, timeouts, protocol, read) are retried and reported with a short reason."""
    script = Script([failure, 200])
    response = await make_client(script).request("GET", "/x")
    assert response.status_code == 200
    assert reason_part in hooks.retries[0].reason
    assert hooks.requests[0].status is None
    assert hooks.requests[0].error is not None


async def test_exhausted_timeouts_name_timeout_as_last_reason(make_client: MakeClient) -> None:
    """When every attempt times out, UpstreamUnavailableError says timeout and carries no status."""
    client = make_client(Script([httpx.ReadTimeout("timed out")]), retry=RetryPolicy(max_attempts=2))
    with pytest.raises(UpstreamUnavailableError) as caught:
        await client.request("GET", "/x")
    assert "timeout" in str(caught.value)
    assert caught.value.status is None
    assert caught.value.attempts == 2


async def test_body_cut_short_is_retried(make_client: MakeClient) -> None:
    """A RemoteProtocolError while reading a 200's body is a retryable failure, not a success."""
    script = Script([httpx.Response(200, stream=BrokenBody(b"partial")), httpx.Response(200, text="whole")])
    response = await make_client(script).request("GET", "/x")
    assert response.text == "whole"
    assert attempts_of(response) == 2


async def test_unsupported_protocol_is_not_retried(make_client: MakeClient) -> None:
    """A URL httpx cannot send (unsupported scheme) fails at once with an UpstreamError."""
    script = Script([httpx.UnsupportedProtocol("Request URL has an unsupported protocol 'ftp://'."), 200])
    with pytest.raises(UpstreamError) as caught:
        await make_client(script, base_url="").request("GET", "ftp://files.test/x")
    assert not isinstance(caught.value, UpstreamUnavailableError)
    assert script.calls == 1


async def test_instant_waits_skip_the_sleep_but_report_the_wait(
    make_client: MakeClient, clock: FakeClock, hooks: RecordingHooks
) -> None:
    """Under instant_waits() retries happen without calling the clock's sleep; hooks still see the wait."""
    script = Script([httpx.Response(503, headers={"Retry-After": "25"}), 200])
    with instant_waits():
        assert is_testing()
        await make_client(script).request("GET", "/x")
    assert not is_testing()
    assert clock.sleeps == []
    assert hooks.retries[0].wait_seconds == 25.0


async def test_set_testing_makes_real_clock_waits_instant(make_client: MakeClient) -> None:
    """set_testing(True) lets a client on the real clock retry past a 30 s Retry-After immediately."""
    script = Script([httpx.Response(503, headers={"Retry-After": "30"}), 200])
    client = make_client(script, clock=SystemClock())
    set_testing(True)
    try:
        started = time.monotonic()
        response = await client.request("GET", "/x")
        assert time.monotonic() - started < 1.0
    finally:
        set_testing(False)
    assert response.status_code == 200


async def test_from_settings_builds_policies(make_client: MakeClient) -> None:
    """ResilientClient.from_settings takes policies from HttpSettings and lets keywords override them."""
    from crossdock.config import HttpSettings

    settings = HttpSettings(max_attempts=2, rate_limit=0, breaker_failure_threshold=9)
    client = ResilientClient.from_settings(
        "catalog",
        settings,
        transport=httpx.MockTransport(Script([200])),
        base_url="http://catalog.test",
        timeouts=None,
    )
    async with client:
        assert client.retry_policy.max_attempts == 2
        assert client.rate_limiter is None
        assert client.breaker.policy.failure_threshold == 9
        assert (await client.request("GET", "/")).status_code == 200
