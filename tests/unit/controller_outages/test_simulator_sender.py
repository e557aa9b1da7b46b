"""The controllers simulator's sender, on a fake clock and a scripted transport (no network, no sleeping):
pacing, one line per POST, the JSON log, retries until the service answers, and every way a run ends."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from crossdock.controller_outages.simulator.generator import Post, Report
from crossdock.controller_outages.simulator.sender import Pacer, SendOptions, SendSummary, send_posts
from crossdock.errors import UpstreamAuthError, UpstreamUnavailableError

START = 1_756_684_800  # 2025-09-01T00:00:00Z
URL = "http://127.0.0.1:9/outages"


class FakeTime:
    """A monotonic clock that only moves when slept on."""

    def __init__(self) -> None:
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def post(at: int, *controllers: str, backlog: bool = False) -> Post:
    return Post(START + at, tuple(Report(START + at - 5, c, "led_outage") for c in controllers), backlog)


def answering(
    handler: Callable[[httpx.Request], httpx.Response],
    requests: list[tuple[float, httpx.Request]],
    time: FakeTime,
) -> httpx.MockTransport:
    def record(request: httpx.Request) -> httpx.Response:
        requests.append((time.now, request))
        return handler(request)

    return httpx.MockTransport(record)


def accept_all(request: httpx.Request) -> httpx.Response:
    body = json.loads(request.content)
    count = 1 if isinstance(body, dict) else len(body)
    return httpx.Response(200, json={"accepted": count, "duplicates": 0, "rejected": [], "event_ids": []})


async def run(
    posts: list[Post],
    handler: Callable[[httpx.Request], httpx.Response] = accept_all,
    *,
    speed: float = 60.0,
    **options: Any,
) -> tuple[SendSummary, list[str], list[tuple[float, httpx.Request]], list[dict[str, Any]], FakeTime]:
    time = FakeTime()
    requests: list[tuple[float, httpx.Request]] = []
    lines: list[str] = []
    log = io.StringIO()
    pacer = Pacer(clock=time.clock, sleep=time.sleep, transport=answering(handler, requests, time))
    summary = await send_posts(
        posts,
        SendOptions(url=URL, start=START, speed=speed, **options),
        echo=lines.append,
        log=log,
        pacer=pacer,
    )
    entries = [json.loads(line) for line in log.getvalue().splitlines()]
    return summary, lines, requests, entries, time


async def test_posts_leave_at_their_compressed_times_one_line_and_one_log_entry_each() -> None:
    """At speed 60 a POST planned 600 simulated seconds in leaves 10 s after the start; each POST prints a
    line with its counts and logs exactly the records it sent."""
    posts = [post(0, "a"), post(60, "a", "b"), post(600, "c", backlog=True)]
    summary, lines, requests, entries, _time = await run(posts)
    assert [at - 100.0 for at, _request in requests] == [0.0, 1.0, 10.0]
    assert json.loads(requests[0][1].content) == {
        "controller_id": "a",
        "outage_type": "led_outage",
        "timestamp": "2025-08-31T23:59:55Z",
    }
    assert isinstance(json.loads(requests[1][1].content), list)
    assert (summary.posts, summary.sent, summary.accepted, summary.stopped) == (3, 4, 4, "done")
    assert len(lines) == 3
    assert "backlog" in lines[2]
    assert "accepted    1" in lines[2]
    assert [(e["kind"], e["form"], len(e["records"]), e["status"]) for e in entries] == [
        ("live", "object", 1, 200),
        ("live", "array", 2, 200),
        ("backlog", "object", 1, 200),
    ]
    assert entries[1]["records"] == json.loads(requests[1][1].content)


async def test_a_service_not_answering_yet_is_retried_until_it_does() -> None:
    """Connection refused and 503 are retried with backoff; the POST then counts once, noting the retries."""
    failures = [httpx.ConnectError("refused"), httpx.ConnectError("refused"), httpx.Response(503)]

    def flaky(request: httpx.Request) -> httpx.Response:
        if failures:
            failure = failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return failure
        return accept_all(request)

    summary, lines, requests, entries, _time = await run([post(0, "a")], flaky)
    assert (summary.posts, summary.accepted, summary.retries) == (1, 1, 3)
    assert len(requests) == 4
    assert lines[0].endswith("(after 3 retries)")
    assert len(entries) == 1


async def test_a_service_that_stays_away_ends_the_run() -> None:
    """After retry_for seconds of failures the run stops with an unavailable error; nothing is logged."""

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    summary, lines, _requests, entries, time = await run([post(0, "a"), post(60, "b")], refused, retry_for=5)
    assert summary.stopped == "failed"
    assert isinstance(summary.error, UpstreamUnavailableError)
    assert "failed for 5 s" in summary.error.message
    assert time.now - 100.0 <= 5
    assert summary.posts == 0
    assert "failed:" in lines[-1]
    assert entries == []


async def test_a_refused_key_ends_the_run_and_a_refused_batch_does_not() -> None:
    """401 stops the run as an authentication error; 400 (every record refused) counts and goes on."""

    def unauthorized(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"message": "no key"}})

    summary, *_rest = await run([post(0, "a"), post(60, "b")], unauthorized)
    assert isinstance(summary.error, UpstreamAuthError)
    assert summary.posts == 0

    def bad(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": {"message": "every record is invalid"}})

    summary, lines, _requests, entries, _time = await run([post(0, "a"), post(60, "b")], bad)
    assert (summary.posts, summary.rejected_posts, summary.rejected, summary.stopped) == (2, 2, 2, "done")
    assert "rejected as a whole (HTTP 400)" in lines[0]
    assert [entry["status"] for entry in entries] == [400, 400]


async def test_max_reports_cuts_the_stream_and_the_key_is_sent() -> None:
    """--max-reports stops after that many records (cutting a POST); the key goes in X-API-Key."""
    summary, _lines, requests, entries, _time = await run(
        [post(0, "a", "b"), post(60, "c", "d"), post(120, "e")], max_reports=3, api_key="k-123"
    )
    assert (summary.sent, summary.stopped) == (3, "max-reports")
    assert [len(entry["records"]) for entry in entries] == [2, 1]
    assert all(request.headers["x-api-key"] == "k-123" for _at, request in requests)


async def test_told_to_stop_ends_the_run_before_the_next_post() -> None:
    """A stop signal (the parent process gone) ends the run while it waits for the next POST."""
    time = FakeTime()
    checks = iter([False, False, True])
    pacer = Pacer(clock=time.clock, sleep=time.sleep, should_stop=lambda: next(checks, True))
    requests: list[tuple[float, httpx.Request]] = []
    pacer.transport = answering(accept_all, requests, time)
    summary = await send_posts(
        [post(0, "a"), post(6000, "b")],
        SendOptions(url=URL, start=START, speed=1.0),
        echo=lambda line: None,
        pacer=pacer,
    )
    assert (summary.posts, summary.stopped) == (1, "told to stop")
    assert time.now - 100.0 == pytest.approx(0.5)
