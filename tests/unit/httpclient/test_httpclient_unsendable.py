"""Requests that cannot be sent, and the closed set of error kinds every attempt reports."""

from __future__ import annotations

import gzip
import secrets
from collections.abc import Callable

import httpx
import pytest

from crossdock.errors import ConfigurationError, ProviderDataError, UpstreamError, UpstreamUnavailableError
from crossdock.httpclient import BreakerPolicy, BreakerRegistry, ResilientClient, RetryPolicy
from crossdock.httpclient.testing import RecordingHooks
from tests.support.http_mocks import BrokenBody, Script

MakeClient = Callable[..., ResilientClient]
GZIP = {"content-encoding": "gzip"}


def generated_key() -> str:
    return "test-" + secrets.token_hex(12)  # generated per run, never a real credential


def illegal_header(value: str) -> httpx.LocalProtocolError:
    """The error h11 raises (and httpx re-raises) for a header value with a newline."""
    return httpx.LocalProtocolError(f"Illegal header value {value.encode()!r}")


async def test_an_illegal_header_value_is_sent_once_and_not_retried(
    make_client: MakeClient, hooks: RecordingHooks, registry: BreakerRegistry
) -> None:
    """A LocalProtocolError means our request cannot be sent: raised at once, no retry, no give-up."""
    key = generated_key()
    script = Script([illegal_header(key + "\n"), 200])
    client = make_client(script, breaker_policy=BreakerPolicy(failure_threshold=1))
    with pytest.raises(UpstreamError) as caught:
        await client.request("GET", "/outages", headers={"x-api-key": key + "\n"})
    assert not isinstance(caught.value, UpstreamUnavailableError)
    assert "could not be sent" in caught.value.message
    assert script.calls == 1
    assert (hooks.retries, hooks.give_ups, hooks.transitions) == ([], [], [])
    assert registry.breaker("marketplace").snapshot().consecutive_failures == 0
    assert registry.breaker("marketplace").state == "closed"


async def test_an_illegal_header_value_never_shows_the_key(
    make_client: MakeClient, hooks: RecordingHooks
) -> None:
    """The library's words quote the key escaped (b'...\\n'): that form is masked in errors and events."""
    key = generated_key()
    script = Script([illegal_header(key + "\n")])
    with pytest.raises(UpstreamError) as caught:
        await make_client(script).request("GET", "/outages", headers={"x-api-key": key + "\n"})
    assert key not in str(caught.value)
    assert key[5:] not in hooks.all_text()


async def test_an_unsendable_attempt_reports_its_kind_without_text(
    make_client: MakeClient, hooks: RecordingHooks
) -> None:
    """The attempt is reported once with error_kind 'unsendable' and no status."""
    script = Script([illegal_header(generated_key() + "\n")])
    with pytest.raises(UpstreamError):
        await make_client(script).request("GET", "/outages")
    (event,) = hooks.requests
    assert (event.status, event.error_kind) == (None, "unsendable")


@pytest.mark.parametrize(
    ("failure", "kind"),
    [
        (httpx.ConnectError("refused"), "connect_error"),
        (httpx.ConnectTimeout("slow connect"), "timeout"),
        (httpx.ReadTimeout("slow read"), "timeout"),
        (httpx.PoolTimeout("no connection"), "timeout"),
        (httpx.ReadError("reset by peer"), "read_error"),
        (httpx.WriteError("broken pipe"), "write_error"),
        (httpx.RemoteProtocolError("bad status line"), "protocol_error"),
        (httpx.ProxyError("proxy refused"), "other"),
        (httpx.UnsupportedProtocol("ftp"), "unsendable"),
        (httpx.LocalProtocolError("illegal header"), "unsendable"),
    ],
)
async def test_each_transport_failure_has_a_kind_from_a_closed_set(
    make_client: MakeClient, hooks: RecordingHooks, failure: Exception, kind: str
) -> None:
    """Every failed attempt names its kind by exception type; the text stays in ``error`` only."""
    client = make_client(Script([failure]), retry=RetryPolicy(max_attempts=1))
    with pytest.raises(UpstreamError):
        await client.request("GET", "/x")
    assert [event.error_kind for event in hooks.requests] == [kind]


async def test_answers_have_no_error_kind_but_broken_ones_do(
    make_client: MakeClient, hooks: RecordingHooks
) -> None:
    """A status tells the story (kind None); a 200 whose body breaks off is a protocol_error."""
    script = Script([503, httpx.Response(200, stream=BrokenBody(b"part")), 200])
    await make_client(script).request("GET", "/x")
    assert [(event.status, event.error_kind) for event in hooks.requests] == [
        (503, None),
        (200, "protocol_error"),
        (200, None),
    ]


async def test_a_body_that_cannot_be_decoded_is_undecodable(
    make_client: MakeClient, hooks: RecordingHooks
) -> None:
    """A gzip header over bytes that are not gzip gives ProviderDataError and kind 'undecodable'."""
    script = Script([httpx.Response(200, headers=GZIP, stream=httpx.ByteStream(b"not gzip"))])
    with pytest.raises(ProviderDataError):
        await make_client(script).request("GET", "/x")
    assert [event.error_kind for event in hooks.requests] == ["undecodable"]


async def test_a_gzip_body_is_still_decoded(make_client: MakeClient) -> None:
    """Reading the body in chunks keeps content decoding: the caller gets the decoded JSON."""
    body = gzip.compress(b'{"ok": true}')
    script = Script([httpx.Response(200, headers=GZIP, stream=httpx.ByteStream(body))])
    response = await make_client(script).request("GET", "/x")
    assert response.json() == {"ok": True}


@pytest.mark.parametrize(
    ("inside", "around"),
    [("\n", ""), ("\x00", ""), ("\x7f", ""), ("é", ""), ("", "\n"), ("", " "), ("", "\t")],
)
def test_a_secret_header_that_cannot_travel_is_a_configuration_error(
    make_client: MakeClient, inside: str, around: str
) -> None:
    """A secret header a request cannot carry is a ConfigurationError up front, without its value."""
    key = generated_key()
    value = around + key[:10] + inside + key[10:] + around
    with pytest.raises(ConfigurationError) as caught:
        make_client(Script([200]), secret_headers={"x-api-key": value})
    assert "x-api-key" in caught.value.message
    assert key[:10] not in caught.value.message
    assert key[10:] not in caught.value.message
    assert "\n" not in caught.value.message


def test_a_header_value_that_is_not_ascii_is_a_configuration_error(make_client: MakeClient) -> None:
    """An ordinary header the HTTP library cannot encode is a ConfigurationError naming the header."""
    with pytest.raises(ConfigurationError) as caught:
        make_client(Script([200]), headers={"x-site": "café"})
    assert "x-site" in caught.value.message


async def test_spaces_inside_a_secret_header_are_fine(make_client: MakeClient) -> None:
    """An Authorization header carries a scheme and a space: it is sent as given."""
    token = secrets.token_hex(12)
    script = Script([200])
    await make_client(script, secret_headers={"Authorization": f"Bearer {token}"}).request("GET", "/x")
    assert script.requests[0].headers["authorization"] == f"Bearer {token}"


async def test_a_per_request_header_that_is_not_ascii_is_not_sent(make_client: MakeClient) -> None:
    """A per-call header value that cannot be encoded fails as an UpstreamError before any attempt."""
    script = Script([200])
    with pytest.raises(UpstreamError) as caught:
        await make_client(script).request("GET", "/x", headers={"x-api-key": "clé-" + secrets.token_hex(8)})
    assert caught.value.attempts == 0
    assert "x-api-key" in caught.value.message
    assert script.calls == 0
