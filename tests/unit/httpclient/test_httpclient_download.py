"""ResilientClient.download: streaming into a file, restarting it on retries, size caps and checksums."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from crossdock.errors import ProviderDataError, UpstreamNotFoundError, UpstreamUnavailableError
from crossdock.httpclient import BreakerRegistry, ResilientClient, RetryPolicy
from tests.support.http_mocks import BrokenBody, Script

MakeClient = Callable[..., ResilientClient]
BODY = b"<planList>" + b"<plan/>" * 5000 + b"</planList>"


async def test_download_writes_the_body_and_its_sha256(make_client: MakeClient, tmp_path: Path) -> None:
    """The body lands in dest, and DownloadResult reports status, size, attempts and the SHA-256."""
    script = Script([httpx.Response(200, content=BODY, headers={"Content-Type": "application/xml"})])
    target = tmp_path / "feed.xml"
    with target.open("w+b") as dest:
        result = await make_client(script).download("GET", "/feed", dest=dest)
    assert target.read_bytes() == BODY
    assert result.status == 200
    assert result.bytes_written == len(BODY)
    assert result.attempts == 1
    assert result.sha256_hex == hashlib.sha256(BODY).hexdigest()
    assert result.headers["content-type"] == "application/xml"


async def test_download_restarts_the_file_when_the_body_is_cut(make_client: MakeClient) -> None:
    """A body cut mid-stream is retried, and dest holds only the complete second body (no leftovers)."""
    head = b"GARBAGE-FROM-FIRST-ATTEMPT" * 100
    script = Script(
        [
            httpx.Response(200, stream=BrokenBody(head), headers={"Content-Length": str(len(BODY))}),
            httpx.Response(200, content=BODY),
        ]
    )
    dest = io.BytesIO(b"stale bytes already in the buffer that must go")
    progress: list[tuple[int, int | None]] = []
    result = await make_client(script).download(
        "GET", "/feed", dest=dest, on_progress=lambda done, total: progress.append((done, total))
    )
    assert dest.getvalue() == BODY
    assert result.attempts == 2
    assert result.sha256_hex == hashlib.sha256(BODY).hexdigest()
    assert progress[0] == (len(head), len(BODY))
    assert progress[-1] == (len(BODY), len(BODY))


async def test_download_retries_retryable_statuses_without_writing_them(make_client: MakeClient) -> None:
    """A 503 body is not written to dest; the retry's 200 body is."""
    script = Script([httpx.Response(503, text="busy"), httpx.Response(200, content=b"payload")])
    dest = io.BytesIO()
    result = await make_client(script).download("GET", "/feed", dest=dest)
    assert dest.getvalue() == b"payload"
    assert result.attempts == 2


async def test_download_maps_non_retryable_statuses(make_client: MakeClient) -> None:
    """A 404 during download raises UpstreamNotFoundError with the upstream's message."""
    script = Script([httpx.Response(404, json={"message": "no such feed"})])
    with pytest.raises(UpstreamNotFoundError) as caught:
        await make_client(script).download("GET", "/feed", dest=io.BytesIO())
    assert caught.value.upstream_message == "no such feed"
    assert script.calls == 1


async def test_download_gives_up_like_request(make_client: MakeClient) -> None:
    """A download that keeps failing ends in UpstreamUnavailableError after max_attempts."""
    script = Script([lambda request: httpx.Response(200, stream=BrokenBody(b"x"))])
    with pytest.raises(UpstreamUnavailableError) as caught:
        await make_client(script, retry=RetryPolicy(max_attempts=2)).download(
            "GET", "/feed", dest=io.BytesIO()
        )
    assert caught.value.attempts == 2
    assert "RemoteProtocolError" in str(caught.value)


async def test_download_refuses_a_declared_length_over_max_bytes(make_client: MakeClient) -> None:
    """A Content-Length above max_bytes fails with ProviderDataError before reading, and is not retried."""
    script = Script([httpx.Response(200, content=BODY)])
    dest = io.BytesIO()
    with pytest.raises(ProviderDataError, match="larger than max_bytes"):
        await make_client(script).download("GET", "/feed", dest=dest, max_bytes=100)
    assert script.calls == 1
    assert dest.getvalue() == b""


async def test_download_stops_an_undeclared_body_over_max_bytes(
    make_client: MakeClient, registry: BreakerRegistry
) -> None:
    """Without Content-Length, the stream is cut once it passes max_bytes; the breaker stays closed."""

    class Endless(httpx.AsyncByteStream):
        async def __aiter__(self):  # type: ignore[no-untyped-def]
            for _ in range(1000):
                yield b"x" * 1000

    script = Script([httpx.Response(200, stream=Endless())])
    dest = io.BytesIO()
    with pytest.raises(ProviderDataError):
        await make_client(script).download("GET", "/feed", dest=dest, max_bytes=10_500)
    assert len(dest.getvalue()) <= 10_500
    assert registry.snapshot()["marketplace"].consecutive_failures == 0
