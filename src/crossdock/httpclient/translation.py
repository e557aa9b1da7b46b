"""Turning what an upstream answered (or how the wire failed) into Crossdock's exception tree.

This is the edge where httpx meets :mod:`crossdock.errors`: status codes map to
``UpstreamStatusError`` subclasses, retryable outcomes become an internal :class:`RetryableFailure`
that the retry loop understands, and exhausted retries become ``UpstreamUnavailableError``. Every
message is built from an already redacted URL, and upstream text is redacted before it is kept.
This module decides and describes; it must not send requests, wait, or call hooks.
"""

from __future__ import annotations

import json

import httpx

from crossdock.errors import (
    CircuitOpenError,
    UpstreamAuthError,
    UpstreamBadRequestError,
    UpstreamNotFoundError,
    UpstreamStatusError,
    UpstreamUnavailableError,
)
from crossdock.httpclient.hooks import ErrorKind
from crossdock.httpclient.redaction import redact_text

UPSTREAM_MESSAGE_LIMIT = 200
_MESSAGE_KEYS = ("message", "error", "detail")


class RetryableFailure(Exception):
    """One attempt failed in a way the policy may retry (retryable status, timeout, connection error).

    Internal to the client: the retry loop consumes it, and when retries stop it becomes an
    ``UpstreamUnavailableError``. ``reason`` is short and redacted ("HTTP 503", "timeout (ReadTimeout)").
    """

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        upstream_message: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        self.upstream_message = upstream_message


def extract_upstream_message(body: bytes, *, extra_secrets: tuple[str, ...] = ()) -> str | None:
    """The upstream's own words: a JSON ``message``/``error``/``detail`` string, else the start of the text.

    Redacted, whitespace-collapsed and cut to 200 characters; ``None`` for an empty body.
    """
    if not body:
        return None
    text = body.decode("utf-8", errors="replace")
    message = _json_message(text) or text
    # Redact before cutting, so a secret straddling the cut cannot survive as a prefix.
    collapsed = " ".join(redact_text(message, extra_secrets=extra_secrets).split())
    return collapsed[:UPSTREAM_MESSAGE_LIMIT] or None


def status_error(
    *,
    upstream: str,
    method: str,
    redacted_url: str,
    status: int,
    upstream_message: str | None,
    attempts: int,
) -> UpstreamStatusError:
    """The error for a status we do not retry: 400, 401/403, 404 have their own classes."""
    error_class: type[UpstreamStatusError]
    if status == 400:
        error_class = UpstreamBadRequestError
    elif status in (401, 403):
        error_class = UpstreamAuthError
    elif status == 404:
        error_class = UpstreamNotFoundError
    else:
        error_class = UpstreamStatusError
    detail = f": {upstream_message}" if upstream_message else ""
    return error_class(
        f"{upstream} answered HTTP {status} to {method} {redacted_url}{detail}",
        upstream=upstream,
        status=status,
        upstream_message=upstream_message,
        attempts=attempts,
    )


def unavailable_error(
    *,
    upstream: str,
    method: str,
    redacted_url: str,
    failure: RetryableFailure,
    attempts: int,
    why: str,
    circuit_open: bool,
) -> UpstreamUnavailableError:
    """The error for retries that stopped (``why``: attempts, time budget, method, breaker)."""
    error_class = CircuitOpenError if circuit_open else UpstreamUnavailableError
    plural = "attempt" if attempts == 1 else "attempts"
    return error_class(
        f"{upstream} unavailable: {method} {redacted_url} failed after {attempts} {plural} ({why}); "
        f"last failure: {failure.reason}",
        upstream=upstream,
        status=failure.status,
        upstream_message=failure.upstream_message,
        attempts=attempts,
    )


def circuit_open_error(
    *,
    upstream: str,
    method: str,
    redacted_url: str,
    consecutive_failures: int,
    seconds_until_probe: float,
    probe_in_flight: bool,
    attempts: int,
    last_failure: RetryableFailure | None,
) -> CircuitOpenError:
    """The error for a call (or retry) refused by an open breaker before any network I/O."""
    last = f"; last failure: {last_failure.reason}" if last_failure else ""
    when = "a probe is in flight" if probe_in_flight else f"next probe in {seconds_until_probe:.1f}s"
    return CircuitOpenError(
        f"{upstream} circuit breaker is open after {consecutive_failures} consecutive failures: "
        f"{method} {redacted_url} was not sent ({when}){last}",
        upstream=upstream,
        status=last_failure.status if last_failure else None,
        upstream_message=last_failure.upstream_message if last_failure else None,
        attempts=attempts,
    )


def error_kind_of(exc: BaseException) -> ErrorKind:
    """The :data:`ErrorKind` of a failure, decided by its type alone (never by its words)."""
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.LocalProtocolError | httpx.UnsupportedProtocol):
        # Our request is at fault (an illegal header value, a scheme httpx cannot send): nothing went out.
        return "unsendable"
    if isinstance(exc, httpx.ConnectError):
        return "connect_error"
    if isinstance(exc, httpx.ReadError):
        return "read_error"
    if isinstance(exc, httpx.WriteError):
        return "write_error"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "protocol_error"
    if isinstance(exc, httpx.DecodingError):
        return "undecodable"
    return "other"


def describe_transport_error(
    exc: Exception, *, raw_url: str, redacted_url: str, extra_secrets: tuple[str, ...]
) -> str:
    """A short, redacted reason for a timeout or connection error: kind, class, and the library's words."""
    if isinstance(exc, TimeoutError):
        return "timeout (total attempt time exceeded)"
    kinds = {"timeout": "timeout", "unsendable": "invalid request"}
    kind = kinds.get(error_kind_of(exc), "connection error")
    words = str(exc).replace(raw_url, redacted_url)
    words = " ".join(redact_text(words, extra_secrets=extra_secrets).split())[:UPSTREAM_MESSAGE_LIMIT]
    suffix = f": {words}" if words else ""
    return f"{kind} ({type(exc).__name__}{suffix})"


def _json_message(text: str) -> str | None:
    if not text.lstrip().startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    for key in _MESSAGE_KEYS:
        value = data.get(key)
        if isinstance(value, dict):
            value = value.get("message")
        if isinstance(value, str) and value.strip():
            return value
    return None
