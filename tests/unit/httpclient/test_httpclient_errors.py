"""Error translation: upstream messages, attempts on every error, and no secret in errors, hooks or logs."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest

from crossdock.errors import UpstreamError, UpstreamStatusError, UpstreamUnavailableError
from crossdock.httpclient import RedactingFilter, ResilientClient, RetryPolicy, fan_out
from crossdock.httpclient.testing import RecordingHooks
from tests.support.http_mocks import Script

MakeClient = Callable[..., ResilientClient]
QUERY_KEY = "QKEY-7f3a9c21"
HEADER_KEY = "HKEY-0b5d8e44"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"message": "quota exceeded"}, "quota exceeded"),
        ({"error": "bad things"}, "bad things"),
        ({"error": {"message": "nested"}}, "nested"),
        ({"detail": "not here"}, "not here"),
        ({"message": "", "detail": "fallback"}, "fallback"),
    ],
)
async def test_upstream_message_comes_from_json_fields(
    make_client: MakeClient, body: dict[str, object], expected: str
) -> None:
    """upstream_message is the JSON body's message, error or detail string."""
    with pytest.raises(UpstreamStatusError) as caught:
        await make_client(Script([httpx.Response(409, json=body)])).request("GET", "/x")
    assert caught.value.upstream_message == expected
    assert expected in str(caught.value)


async def test_upstream_message_falls_back_to_200_chars_of_text(make_client: MakeClient) -> None:
    """Without a JSON message, upstream_message is the first 200 characters of the text body."""
    body = "<html>" + "x" * 500
    with pytest.raises(UpstreamStatusError) as caught:
        await make_client(Script([httpx.Response(418, text=body)])).request("GET", "/x")
    assert caught.value.upstream_message == body[:200]


async def test_empty_error_body_gives_no_upstream_message(make_client: MakeClient) -> None:
    """An error without a body has upstream_message None and a message naming the status."""
    with pytest.raises(UpstreamStatusError) as caught:
        await make_client(Script([httpx.Response(410)])).request("DELETE", "/x")
    assert caught.value.upstream_message is None
    assert str(caught.value) == "marketplace answered HTTP 410 to DELETE http://upstream.test/x"


async def test_exhausted_retries_keep_the_last_upstream_message(make_client: MakeClient) -> None:
    """UpstreamUnavailableError carries the last status and the upstream's own last words."""
    script = Script([httpx.Response(503, json={"message": "maintenance"})])
    with pytest.raises(UpstreamUnavailableError) as caught:
        await make_client(script, retry=RetryPolicy(max_attempts=2)).request("GET", "/x")
    assert (caught.value.status, caught.value.upstream_message, caught.value.attempts) == (
        503,
        "maintenance",
        2,
    )


async def test_no_secret_reaches_errors_hooks_or_logs(make_client: MakeClient, hooks: RecordingHooks) -> None:
    """A key in a query param and a secret header never appear in str(exc), hook payloads or logs."""
    echo = f"invalid credentials {QUERY_KEY} / {HEADER_KEY} for ?api_key={QUERY_KEY}"
    script = Script(
        [
            httpx.Response(503, json={"message": echo}),
            httpx.ConnectError(f"could not reach http://upstream.test/events?api_key={QUERY_KEY}"),
            httpx.Response(401, json={"message": echo}),
        ]
    )
    client = make_client(script, secret_headers={"X-Api-Key": HEADER_KEY})
    with pytest.raises(UpstreamError) as caught:
        await client.request("GET", "/events", params={"api_key": QUERY_KEY, "page": 1})
    sent = script.requests[0]
    assert sent.url.params["api_key"] == QUERY_KEY
    assert sent.headers["x-api-key"] == HEADER_KEY

    error = caught.value
    logger = logging.getLogger("crossdock.test.redaction")
    records: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Capture()
    handler.addFilter(RedactingFilter())
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.error("upstream call failed: %s (header %s)", error, HEADER_KEY)
        logger.warning("retrying %s", str(sent.url))
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    logged = "\n".join(handler.format(record) for record in records)

    everything = "\n".join([str(error), repr(error), str(error.upstream_message), hooks.all_text(), logged])
    assert QUERY_KEY not in everything
    assert HEADER_KEY not in everything
    assert "api_key=***" in str(error)
    assert "api_key=***" in hooks.requests[0].url
    assert len(records) == 2


async def test_attempts_are_set_on_every_error(make_client: MakeClient) -> None:
    """Status errors after retries report how many attempts were made."""
    with pytest.raises(UpstreamStatusError) as caught:
        await make_client(Script([502, 500, 404])).request("GET", "/x")
    assert caught.value.attempts == 3


async def test_fanned_out_hooks_each_get_every_event(make_client: MakeClient) -> None:
    """A client given fan_out(first, second) hands each event to both hooks, all with redacted URLs."""
    first, second = RecordingHooks(), RecordingHooks()
    client = make_client(Script([503]), hooks=fan_out(first, second), retry=RetryPolicy(max_attempts=2))
    with pytest.raises(UpstreamUnavailableError):
        await client.request("GET", "/x", params={"token": "tok-123456"})
    for recorded in (first, second):
        assert len(recorded.requests) == 2
        assert len(recorded.retries) == 1
        assert len(recorded.give_ups) == 1
        assert "tok-123456" not in recorded.all_text()
        assert recorded.requests[0].url == "http://upstream.test/x?token=***"
        assert recorded.requests[0].status == 503
        assert recorded.give_ups[0].reason.startswith("HTTP 503")


async def test_invalid_urls_become_upstream_errors(make_client: MakeClient) -> None:
    """A URL httpx refuses to build raises UpstreamError, not an httpx exception."""
    with pytest.raises(UpstreamError) as caught:
        await make_client(Script([200]), base_url="").request(
            "GET", "http://upstream.test:abc/x?token=tok-98765"
        )
    assert caught.value.attempts == 0
    assert "tok-98765" not in str(caught.value)


async def test_undecodable_body_is_provider_data_error(make_client: MakeClient) -> None:
    """A body whose Content-Encoding cannot be decoded raises ProviderDataError (not retried)."""
    from crossdock.errors import ProviderDataError

    broken = httpx.Response(200, headers={"Content-Encoding": "gzip"}, stream=httpx.ByteStream(b"not gzip"))
    script = Script([broken])
    with pytest.raises(ProviderDataError):
        await make_client(script).request("GET", "/x")
    assert script.calls == 1
