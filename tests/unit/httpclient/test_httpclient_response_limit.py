"""The size limit on bodies read by ResilientClient.request(): answers and error bodies alike."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from crossdock.config import HttpSettings
from crossdock.errors import ProviderDataError, UpstreamStatusError
from crossdock.httpclient import BreakerRegistry, ResilientClient
from crossdock.httpclient.client import DEFAULT_MAX_RESPONSE_BYTES, ERROR_BODY_LIMIT
from crossdock.httpclient.testing import RecordingHooks
from tests.support.http_mocks import Script

MakeClient = Callable[..., ResilientClient]
LIMIT = 4096
CHUNK = 1024


class CountingBody(httpx.AsyncByteStream):
    """A streamed body of ``chunks`` chunks of ``CHUNK`` bytes that counts how many were pulled."""

    def __init__(self, chunks: int, byte: bytes = b"x") -> None:
        self.chunks = chunks
        self.byte = byte
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.pulled += 1
            yield self.byte * CHUNK

    async def aclose(self) -> None:
        return None


async def test_a_body_over_the_limit_is_refused_and_not_retried(
    make_client: MakeClient, hooks: RecordingHooks
) -> None:
    """A declared length past the limit fails once with ProviderDataError naming upstream and limit."""
    script = Script([httpx.Response(200, content=b"secret-body-" * 1000), 200])
    with pytest.raises(ProviderDataError) as caught:
        await make_client(script, max_response_bytes=LIMIT).request("GET", "/x")
    assert script.calls == 1
    assert "marketplace" in caught.value.message
    assert str(LIMIT) in caught.value.message
    assert "secret-body" not in caught.value.message
    assert [(event.status, event.error_kind) for event in hooks.requests] == [(200, "body_too_large")]


async def test_a_streamed_body_without_length_stops_being_read_past_the_limit(
    make_client: MakeClient,
) -> None:
    """Without Content-Length the client stops pulling chunks soon after the limit."""
    body = CountingBody(1000)
    script = Script([httpx.Response(200, stream=body)])
    with pytest.raises(ProviderDataError):
        await make_client(script, max_response_bytes=LIMIT).request("GET", "/x")
    assert body.pulled <= LIMIT // CHUNK + 1


async def test_the_limit_counts_decoded_bytes(make_client: MakeClient) -> None:
    """A small gzip body that inflates past the limit is refused: the limit is on what we keep."""
    compressed = gzip.compress(b"\0" * (LIMIT * 50))
    assert len(compressed) < LIMIT
    headers = {"content-encoding": "gzip", "content-length": str(len(compressed))}
    script = Script([httpx.Response(200, headers=headers, stream=httpx.ByteStream(compressed))])
    with pytest.raises(ProviderDataError):
        await make_client(script, max_response_bytes=LIMIT).request("GET", "/x")


async def test_a_body_exactly_at_the_limit_is_returned_whole(make_client: MakeClient) -> None:
    """A body of exactly the limit (streamed, no length) comes back complete and readable."""
    script = Script([httpx.Response(200, stream=CountingBody(LIMIT // CHUNK))])
    response = await make_client(script, max_response_bytes=LIMIT).request("GET", "/x")
    assert response.content == b"x" * LIMIT
    assert response.text == "x" * LIMIT


@pytest.mark.parametrize(("method", "status"), [("HEAD", 200), ("GET", 304), ("GET", 204)])
async def test_a_length_declared_without_a_body_is_not_refused(
    make_client: MakeClient, method: str, status: int
) -> None:
    """HEAD, 204 and 304 answers may declare a large Content-Length: they carry no body, so no refusal."""
    headers = {"content-length": str(LIMIT * 10)}
    script = Script([httpx.Response(status, headers=headers, stream=httpx.ByteStream(b""))])
    response = await make_client(script, max_response_bytes=LIMIT).request(method, "/x")
    assert (response.status_code, response.content) == (status, b"")


async def test_an_error_body_is_read_up_to_64_kib_only(make_client: MakeClient) -> None:
    """A huge body on a 409 is not read past the error-body limit; the status error still comes."""
    body = CountingBody(2000)
    script = Script([httpx.Response(409, stream=body)])
    with pytest.raises(UpstreamStatusError):
        await make_client(script).request("GET", "/x")
    assert body.pulled <= ERROR_BODY_LIMIT // CHUNK + 1


def test_the_limit_defaults_to_16_mib_and_comes_from_the_settings() -> None:
    """Constructor default 16 MiB; from_settings takes CROSSDOCK_HTTP_MAX_RESPONSE_BYTES."""
    assert DEFAULT_MAX_RESPONSE_BYTES == 16 * 1024 * 1024
    assert HttpSettings().max_response_bytes == DEFAULT_MAX_RESPONSE_BYTES
    assert ResilientClient("u", registry=BreakerRegistry()).max_response_bytes == DEFAULT_MAX_RESPONSE_BYTES
    client = ResilientClient.from_settings(
        "u", HttpSettings(max_response_bytes=1234), registry=BreakerRegistry()
    )
    assert client.max_response_bytes == 1234


@pytest.mark.parametrize("bad", ["0", "-1"])
def test_the_setting_must_be_positive(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    """CROSSDOCK_HTTP_MAX_RESPONSE_BYTES of 0 or less does not validate (no way to turn the limit off)."""
    monkeypatch.setenv("CROSSDOCK_HTTP_MAX_RESPONSE_BYTES", bad)
    with pytest.raises(ValueError, match="max_response_bytes"):
        HttpSettings()
