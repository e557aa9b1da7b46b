"""Send a simulated fleet's POSTs to the service in compressed real time, and say what happened.

A POST planned at simulated second ``at`` leaves ``(at - start) / speed`` real seconds after the run
began. A POST the service cannot take now (connection refused, timeout, 429, 5xx) is tried again with
a short backoff for up to ``retry_for`` seconds, so the simulator can start before the service and
ride out a restart; a post that still fails ends the run. Each POST gives one line; ``log``, when
given, receives one JSON line per POST with exactly the records sent and the answer.

The clock, the sleep and the HTTP transport are injectable, so tests run it instantly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import IO, Any, Final

import httpx

from crossdock.controller_outages.simulator.generator import Post, iso
from crossdock.errors import (
    UpstreamAuthError,
    UpstreamError,
    UpstreamNotFoundError,
    UpstreamStatusError,
    UpstreamUnavailableError,
)

TARGET: Final = "controllers simulator target"
"""The name failures carry (the service the simulator posts to)."""
RETRYABLE_STATUSES: Final = frozenset({408, 425, 429, 500, 502, 503, 504})
BACKOFF_INITIAL: Final = 0.2
BACKOFF_MAX: Final = 2.0
REQUEST_TIMEOUT: Final = 30.0
STOP_CHECK_SECONDS: Final = 0.5
"""Longest stretch slept without asking whether to stop."""


@dataclass(frozen=True, slots=True)
class SendOptions:
    """Where and how fast to send: ``url`` is the service's ``POST /outages``; ``start``, simulated."""

    url: str
    start: int
    speed: float
    api_key: str | None = None
    max_reports: int | None = None
    retry_for: float = 30.0


@dataclass(slots=True)
class Pacer:
    """The real-time side, replaced in tests: monotonic clock, sleep, whether to stop early, transport."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    should_stop: Callable[[], bool] = lambda: False
    transport: httpx.AsyncBaseTransport | None = None


@dataclass(slots=True)
class SendSummary:
    """What the service was sent and answered; ``stopped`` says why the run ended."""

    posts: int = 0
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejected_posts: int = 0
    retries: int = 0
    stopped: str = "done"
    error: UpstreamError | None = field(default=None, repr=False)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["error"] = self.error.message if self.error is not None else None
        return data


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    body: dict[str, Any] | None
    retries: int


def _headers(api_key: str | None) -> dict[str, str]:
    return {"x-api-key": api_key} if api_key else {}


def _failure(status: int, url: str, text: str) -> UpstreamError:
    message = f"POST {url} answered {status}: {text[:200]}"
    if status in (401, 403):
        return UpstreamAuthError(message, upstream=TARGET, status=status)
    if status == 404:
        return UpstreamNotFoundError(message, upstream=TARGET, status=status)
    return UpstreamStatusError(message, upstream=TARGET, status=status)


async def _post(client: httpx.AsyncClient, options: SendOptions, pacer: Pacer, body: object) -> _Answer:
    """POST one body; retry what the service could not take now, for up to ``retry_for`` seconds.

    A 400 (every record refused) is an answer; other refusals and a service that stays away raise.
    """
    content = json.dumps(body).encode()
    give_up = pacer.clock() + options.retry_for
    retries = 0
    wait = BACKOFF_INITIAL
    while True:
        problem: str
        try:
            response = await _unless_stopped(client.post(options.url, content=content), pacer)
        except httpx.TransportError as exc:
            problem = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
        else:
            if response.status_code == 200:
                return _Answer(200, response.json(), retries)
            if response.status_code == 400:
                return _Answer(400, None, retries)
            if response.status_code not in RETRYABLE_STATUSES:
                raise _failure(response.status_code, options.url, response.text)
            problem = f"HTTP {response.status_code}"
        if pacer.clock() + wait > give_up or pacer.should_stop():
            raise UpstreamUnavailableError(
                f"POST {options.url} failed for {options.retry_for:g} s (last: {problem})",
                upstream=TARGET,
                attempts=retries + 1,
            )
        await pacer.sleep(wait)
        retries += 1
        wait = min(BACKOFF_MAX, wait * 2)


async def _unless_stopped(request: Awaitable[httpx.Response], pacer: Pacer) -> httpx.Response:
    """Await ``request``, asking every ``STOP_CHECK_SECONDS`` whether to stop (a POST to a service
    whose process was killed may hang until its timeout); told to stop, give it up."""
    pending = asyncio.ensure_future(request)
    while True:
        done, _ = await asyncio.wait({pending}, timeout=STOP_CHECK_SECONDS)
        if done:
            return pending.result()
        if pacer.should_stop():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await pending
            raise UpstreamUnavailableError(
                f"{TARGET}: told to stop while a POST was in flight", upstream=TARGET
            )


async def _wait_until(moment: float, pacer: Pacer) -> bool:
    """Sleep until ``moment`` on the pacer's clock; False if told to stop meanwhile."""
    while True:
        if pacer.should_stop():
            return False
        left = moment - pacer.clock()
        if left <= 0:
            return True
        await pacer.sleep(min(left, STOP_CHECK_SECONDS))


def _line(number: int, post: Post, answer: _Answer) -> str:
    head = f"{number:>6}  {iso(post.at)}  {post.kind:<7}  sent {len(post.reports):>4}"
    retried = f"  (after {answer.retries} retries)" if answer.retries else ""
    if answer.body is None:
        return f"{head}  rejected as a whole (HTTP {answer.status}){retried}"
    body = answer.body
    return (
        f"{head}  accepted {body.get('accepted', 0):>4}  duplicates {body.get('duplicates', 0):>4}"
        f"  rejected {len(body.get('rejected', [])):>3}{retried}"
    )


async def send_posts(
    posts: Iterable[Post],
    options: SendOptions,
    *,
    echo: Callable[[str], None],
    log: IO[str] | None = None,
    pacer: Pacer | None = None,
) -> SendSummary:
    """Send ``posts`` at their (compressed) times; one line each to ``echo``, one JSON line each to ``log``.

    Stops after ``max_reports`` records, when ``pacer.should_stop()`` says so, or at the first POST
    that fails for good (then ``summary.error`` says why).
    """
    pacer = pacer or Pacer()
    summary = SendSummary()
    began = pacer.clock()
    async with httpx.AsyncClient(
        headers={"content-type": "application/json", **_headers(options.api_key)},
        timeout=REQUEST_TIMEOUT,
        transport=pacer.transport,
        trust_env=False,
    ) as client:
        for post in posts:
            if options.max_reports is not None:
                left = options.max_reports - summary.sent
                if left <= 0:
                    summary.stopped = "max-reports"
                    break
                if len(post.reports) > left:
                    post = Post(post.at, post.reports[:left], post.backlog)
            if not await _wait_until(began + (post.at - options.start) / options.speed, pacer):
                summary.stopped = "told to stop"
                break
            body = post.body()
            try:
                answer = await _post(client, options, pacer, body)
            except UpstreamError as exc:
                summary.stopped = "failed"
                summary.error = exc
                echo(
                    f"{summary.posts + 1:>6}  {iso(post.at)}  {post.kind:<7}  sent {len(post.reports):>4}  "
                    f"failed: {exc.message}"
                )
                break
            summary.posts += 1
            summary.sent += len(post.reports)
            summary.retries += answer.retries
            if answer.body is None:
                summary.rejected_posts += 1
                summary.rejected += len(post.reports)
            else:
                summary.accepted += int(answer.body.get("accepted", 0))
                summary.duplicates += int(answer.body.get("duplicates", 0))
                summary.rejected += len(answer.body.get("rejected", []))
            echo(_line(summary.posts, post, answer))
            if log is not None:
                entry = {
                    "post": summary.posts,
                    "at": iso(post.at),
                    "kind": post.kind,
                    "form": "object" if isinstance(body, dict) else "array",
                    "records": [report.record() for report in post.reports],
                    "status": answer.status,
                    "answer": answer.body,
                }
                log.write(json.dumps(entry) + "\n")
                log.flush()
    return summary
