"""The resilient async HTTP client every upstream call goes through.

One :class:`ResilientClient` per upstream name wraps an ``httpx.AsyncClient`` and adds, around each
attempt: the circuit breaker (refuse at once while open), the rate limiter (one token per attempt),
a total per-attempt deadline, and translation of the outcome into :mod:`crossdock.errors`; around
the whole call: tenacity's retry loop driven by :class:`RetryPolicy` with our clock, waits and
budget. It knows no provider: adapters build URLs and parse bodies, this module only moves bytes.
It reports each event to one :class:`ClientHook` and must not import logging or metrics.

In distributed mode a :class:`~crossdock.httpclient.shared.Coordination` (the installed one unless a
client is given its own) makes the limit and the breaker shared by every process: each attempt takes
its slot from the shared limiter, the shared circuit is read before the local breaker decides, and
each verdict is written back.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Literal, Self, TypeVar

import httpx
from tenacity import AsyncRetrying, RetryCallState, RetryError, retry_if_exception_type

from crossdock.errors import (
    ConfigurationError,
    CrossdockError,
    ProviderDataError,
    StorageError,
    UpstreamError,
    UpstreamStatusError,
)
from crossdock.httpclient.breaker import BreakerRegistry, Transition, default_registry
from crossdock.httpclient.clock import Clock, SystemClock, is_testing
from crossdock.httpclient.hooks import (
    BreakerEvent,
    ClientHook,
    ErrorKind,
    GiveUpEvent,
    RequestEvent,
    RetryEvent,
    no_hook,
)
from crossdock.httpclient.policy import (
    BreakerPolicy,
    RateLimit,
    RetryPolicy,
    Timeouts,
    retry_after_seconds,
)
from crossdock.httpclient.ratelimit import Limiter, OnSent, RateLimiter, build_rate_limiter
from crossdock.httpclient.redaction import (
    is_sensitive_header,
    is_sensitive_param,
    redact_text,
    redact_url,
    register_secret,
)
from crossdock.httpclient.shared import Coordination, SharedBreakerState, current_coordination
from crossdock.httpclient.translation import (
    RetryableFailure,
    circuit_open_error,
    describe_transport_error,
    error_kind_of,
    extract_upstream_message,
    status_error,
    unavailable_error,
)

if TYPE_CHECKING:
    from crossdock.config import HttpSettings

T = TypeVar("T")
Verdict = Literal["failure", "success"]

ATTEMPTS_EXTENSION = "crossdock_attempts"
"""Key of ``response.extensions`` holding how many attempts :meth:`ResilientClient.request` made."""

ERROR_BODY_LIMIT = 64 * 1024
"""Bytes of an error response's body read for its message; the rest is not worth the wait."""

DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
"""Largest body :meth:`ResilientClient.request` keeps in memory (``CROSSDOCK_HTTP_MAX_RESPONSE_BYTES``)."""

RESPONSE_LIMIT_NAME = "the response limit CROSSDOCK_HTTP_MAX_RESPONSE_BYTES"

ProgressCallback = Callable[[int, int | None], None]


def attempts_of(response: httpx.Response) -> int:
    """How many attempts produced ``response`` (1 if it did not come from ``ResilientClient.request``)."""
    return int(response.extensions.get(ATTEMPTS_EXTENSION, 1))


@dataclass(frozen=True, slots=True)
class DownloadResult:
    """What ``ResilientClient.download`` wrote: status, headers, size, attempts and the body's SHA-256."""

    status: int
    headers: httpx.Headers
    bytes_written: int
    attempts: int
    sha256_hex: str


@dataclass(slots=True)
class _Call:
    """The state of one logical call across its attempts."""

    request: httpx.Request
    redacted_url: str
    secrets: tuple[str, ...]
    may_retry: bool
    started: float
    attempts: int = 0
    status: int | None = None
    last_failure: RetryableFailure | None = None
    give_up_why: str = ""
    circuit_opened: bool = False
    refusal: ErrorKind | None = None
    """Why the current attempt's answer was refused by us (a body too large), for its ``RequestEvent``."""
    verdict: Verdict | None = None
    """What the current attempt told the breaker, if anything (shared in distributed mode)."""

    @property
    def method(self) -> str:
        return self.request.method


class ResilientClient:
    """An async HTTP client for one upstream: timeouts, bounded retries, breaker, rate limit, redaction.

    ``request()`` returns a fully read 2xx/3xx ``httpx.Response`` (attempts in
    ``response.extensions["crossdock_attempts"]``) of at most ``max_response_bytes`` decoded bytes
    and raises :mod:`crossdock.errors` otherwise; ``download()`` streams a body into a file with the
    same guarantees (and its own ``max_bytes``). Close it with ``async with`` or :meth:`aclose`.
    Proxy settings are not read from the environment (``trust_env=False``): all configuration comes
    from :mod:`crossdock.config`. Header values must be printable ASCII without surrounding
    whitespace; anything else is a :class:`ConfigurationError` naming the header, never its value.
    ``coordination`` (default: :func:`~crossdock.httpclient.shared.current_coordination`) shares the
    rate limit and the breaker with other processes; ``None`` installed keeps both in-process.
    """

    def __init__(
        self,
        upstream: str,
        *,
        base_url: str | httpx.URL = "",
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        breaker_policy: BreakerPolicy | None = None,
        rate_limit: RateLimit | RateLimiter | None = None,
        hooks: ClientHook | None = None,
        clock: Clock | None = None,
        registry: BreakerRegistry | None = None,
        headers: Mapping[str, str] | None = None,
        secret_headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        rng: random.Random | None = None,
        follow_redirects: bool = False,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        coordination: Coordination | None = None,
    ) -> None:
        if max_response_bytes < 1:
            raise ConfigurationError(f"{upstream}: max_response_bytes must be at least 1")
        self.upstream = upstream
        self.max_response_bytes = max_response_bytes
        self.timeouts = timeouts or Timeouts()
        self.retry_policy = retry or RetryPolicy()
        self.hooks: ClientHook = hooks if hooks is not None else no_hook
        self.clock = clock or SystemClock()
        self.coordination = coordination if coordination is not None else current_coordination()
        limit = rate_limit.limit if isinstance(rate_limit, RateLimiter) else rate_limit
        self.rate_limiter: Limiter | None
        if self.coordination is not None and limit is not None and limit.enabled:
            self.rate_limiter = self.coordination.limiter(upstream, limit, clock=self.clock)
        else:
            self.rate_limiter = build_rate_limiter(rate_limit)
        self.breaker = (registry or default_registry).breaker(
            upstream, policy=breaker_policy or BreakerPolicy(), clock=self.clock
        )
        self._rng = rng or random.Random()
        all_headers = dict(headers or {})
        for name, value in (secret_headers or {}).items():
            # Registered first: should anything below ever quote it, it is already masked.
            register_secret(value)
            all_headers[name] = value
        for name, value in all_headers.items():
            problem = header_value_problem(value)
            if problem is not None:
                raise ConfigurationError(f"{upstream}: the value of header {name} {problem}")
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers=all_headers,
            timeout=self.timeouts.to_httpx(),
            transport=transport,
            follow_redirects=follow_redirects,
            trust_env=False,
        )

    @classmethod
    def from_settings(cls, upstream: str, settings: HttpSettings, **overrides: Any) -> ResilientClient:
        """A client whose timeouts, retry, breaker and rate limit come from ``settings``; ``overrides``
        are any constructor keyword (``base_url``, ``secret_headers``, ``retry``...)."""
        options: dict[str, Any] = {
            "timeouts": Timeouts.from_settings(settings),
            "retry": RetryPolicy.from_settings(settings),
            "breaker_policy": BreakerPolicy.from_settings(settings),
            "rate_limit": RateLimit.from_settings(settings),
            "max_response_bytes": settings.max_response_bytes,
        }
        options.update(overrides)
        return cls(upstream, **options)

    async def __aenter__(self) -> Self:
        await self._http.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send a request with retries; return the read 2xx/3xx response or raise an ``UpstreamError``.

        ``idempotent=True`` lets a POST (or any method) be retried; ``False`` forbids retrying even a GET.
        """
        call = self._start_call(method, url, params, json, content, headers, idempotent)
        response = await self._run(call, self._send_buffered)
        response.extensions = {**response.extensions, ATTEMPTS_EXTENSION: call.attempts}
        return response

    async def download(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        dest: IO[bytes],
        on_progress: ProgressCallback | None = None,
        max_bytes: int | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> DownloadResult:
        """Stream the body into ``dest`` (rewound and truncated before each attempt), retrying like
        :meth:`request`, failures while reading the body included.

        ``on_progress(bytes_so_far, content_length_or_None)`` is called after each chunk. A body
        larger than ``max_bytes`` raises :class:`crossdock.errors.ProviderDataError` and is not retried.
        Writes to ``dest`` are plain blocking writes: give it a local file or an in-memory buffer; one
        that fails (disk full) raises :class:`crossdock.errors.StorageError` and is not retried.
        """
        call = self._start_call(method, url, params, json, content, headers, idempotent)

        async def send_once(current: _Call) -> DownloadResult:
            return await self._send_streamed(current, dest, on_progress, max_bytes)

        return await self._run(call, send_once)

    # -- one logical call -------------------------------------------------------------------------

    def _start_call(
        self,
        method: str,
        url: str | httpx.URL,
        params: Mapping[str, Any] | None,
        json: Any,
        content: bytes | str | None,
        headers: Mapping[str, str] | None,
        idempotent: bool | None,
    ) -> _Call:
        try:
            request = self._http.build_request(
                method, url, params=params, json=json, content=content, headers=headers
            )
        except httpx.InvalidURL as exc:
            raise UpstreamError(
                f"{self.upstream}: cannot build {method.upper()} request: {redact_text(str(exc))}",
                upstream=self.upstream,
                attempts=0,
            ) from None
        except UnicodeEncodeError:
            # httpx encodes header values as ASCII; its message would quote a character of the value.
            names = [name for name, value in (headers or {}).items() if header_value_problem(value)]
            which = f"header {', '.join(names)}" if names else "a header"
            raise UpstreamError(
                f"{self.upstream}: cannot build {method.upper()} request: the value of {which} is not ASCII",
                upstream=self.upstream,
                attempts=0,
            ) from None
        return _Call(
            request=request,
            redacted_url=redact_url(request.url),
            secrets=_secrets_of(request),
            may_retry=self.retry_policy.may_retry(request.method, idempotent=idempotent),
            started=self.clock.monotonic(),
        )

    async def _run(self, call: _Call, send_once: Callable[[_Call], Awaitable[T]]) -> T:
        retrying = AsyncRetrying(
            sleep=self._sleep,
            stop=lambda state: self._should_stop(call, state),
            wait=self._next_wait,
            retry=retry_if_exception_type(RetryableFailure),
            before_sleep=lambda state: self._report_retry(call, state),
        )
        try:
            result: T = await retrying(self._attempt, call, send_once)
        except RetryError as exc:
            failure = exc.last_attempt.exception()
            assert isinstance(failure, RetryableFailure)
            self.hooks(
                GiveUpEvent(
                    upstream=self.upstream,
                    method=call.method,
                    url=call.redacted_url,
                    attempts=call.attempts,
                    reason=f"{failure.reason} ({call.give_up_why})",
                )
            )
            raise unavailable_error(
                upstream=self.upstream,
                method=call.method,
                redacted_url=call.redacted_url,
                failure=failure,
                attempts=call.attempts,
                why=call.give_up_why,
                circuit_open=call.circuit_opened,
            ) from failure.__cause__
        return result

    def _should_stop(self, call: _Call, state: RetryCallState) -> bool:
        policy = self.retry_policy
        elapsed = self.clock.monotonic() - call.started
        if not call.may_retry:
            call.give_up_why = f"{call.method} is not retried unless idempotent=True"
        elif self.breaker.state == "open":
            call.give_up_why = "circuit breaker opened"
            call.circuit_opened = True
        elif state.attempt_number >= policy.max_attempts:
            call.give_up_why = "attempts exhausted"
        elif elapsed + state.upcoming_sleep >= policy.max_total_seconds:
            call.give_up_why = (
                f"time budget of {policy.max_total_seconds:g}s would be exceeded by a "
                f"{state.upcoming_sleep:.2f}s wait after {elapsed:.2f}s"
            )
        else:
            return False
        return True

    def _next_wait(self, state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        if isinstance(failure, RetryableFailure) and failure.retry_after is not None:
            return min(failure.retry_after, self.retry_policy.max_wait)
        return self.retry_policy.jittered_wait(state.attempt_number - 1, self._rng)

    def _report_retry(self, call: _Call, state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        reason = failure.reason if isinstance(failure, RetryableFailure) else "unknown"
        self.hooks(
            RetryEvent(
                upstream=self.upstream,
                method=call.method,
                url=call.redacted_url,
                attempt=state.attempt_number,
                wait_seconds=state.upcoming_sleep,
                reason=reason,
            )
        )

    async def _sleep(self, seconds: float) -> None:
        if is_testing():
            return
        await self.clock.sleep(float(seconds))

    # -- one attempt --------------------------------------------------------------------------------

    async def _attempt(self, call: _Call, send_once: Callable[[_Call], Awaitable[T]]) -> T:
        if self.coordination is not None:
            # Before the local decision: an open shared circuit refuses here too, without sending.
            self._follow_shared(await self.coordination.breaker_state(self.upstream))
        permit = self.breaker.try_acquire()
        self._report_transition(permit.transition)
        if not permit.allowed:
            raise circuit_open_error(
                upstream=self.upstream,
                method=call.method,
                redacted_url=call.redacted_url,
                consecutive_failures=self.breaker.snapshot().consecutive_failures,
                seconds_until_probe=self.breaker.seconds_until_probe(),
                probe_in_flight=self.breaker.state == "half_open",
                attempts=call.attempts,
                last_failure=call.last_failure,
            )
        call.attempts += 1
        call.status = None
        call.refusal = None
        call.verdict = None
        try:
            if self.rate_limiter is not None:
                _await_when_sent(call.request, await self.rate_limiter.acquire())
            started = self.clock.monotonic()
            return await self._attempt_on_wire(call, send_once, started)
        except BaseException:
            # Cancellation, or a bug: the attempt gave no verdict, so a half-open probe slot is freed.
            self.breaker.release()
            raise
        finally:
            if self.coordination is not None and call.verdict is not None:
                await self._share_verdict(self.coordination, call.verdict)

    async def _share_verdict(self, coordination: Coordination, verdict: Verdict) -> None:
        """Write the attempt's verdict to the shared circuit; follow it if that opened it."""
        if verdict == "success":
            await coordination.record_success(self.upstream)
        else:
            self._follow_shared(await coordination.record_failure(self.upstream, self.breaker.policy))

    def _follow_shared(self, shared: SharedBreakerState | None) -> None:
        if shared is not None and shared.is_open:
            self._report_transition(
                self.breaker.force_open(
                    seconds_until_probe=shared.seconds_until_probe,
                    opened_at=shared.opened_at,
                    consecutive_failures=shared.consecutive_failures,
                )
            )

    async def _attempt_on_wire(
        self, call: _Call, send_once: Callable[[_Call], Awaitable[T]], started: float
    ) -> T:
        try:
            async with asyncio.timeout(self._attempt_deadline(call)):
                result = await send_once(call)
        except RetryableFailure as answered:
            # A retryable status: the status is the whole story.
            self._finish_attempt(call, started, failed=True, error=None, kind=None)
            call.last_failure = answered
            raise
        except (TimeoutError, httpx.TimeoutException, httpx.TransportError) as exc:
            kind = error_kind_of(exc)
            if kind == "unsendable":
                # Our request is at fault and would fail the same way again: no retry, no verdict.
                raise self._unsendable(call, started, exc) from exc
            reason = describe_transport_error(
                exc, raw_url=str(call.request.url), redacted_url=call.redacted_url, extra_secrets=call.secrets
            )
            failure = RetryableFailure(reason, status=call.status)
            self._finish_attempt(call, started, failed=True, error=reason, kind=kind)
            call.last_failure = failure
            raise failure from exc
        except httpx.DecodingError as exc:
            self._finish_attempt(call, started, failed=False, error="undecodable body", kind="undecodable")
            raise ProviderDataError(
                f"{self.upstream}: the body of {call.method} {call.redacted_url} could not be decoded "
                f"({type(exc).__name__})"
            ) from exc
        except httpx.HTTPError as exc:
            raise self._unsendable(call, started, exc) from exc
        except CrossdockError as error:
            # The upstream answered (a status we do not retry, a body too large): it is up.
            if isinstance(error, UpstreamStatusError):
                self._finish_attempt(call, started, failed=False, error=None, kind=None)
            else:
                kind = call.refusal or "other"
                self._finish_attempt(call, started, failed=False, error=error.message, kind=kind)
            raise
        self._finish_attempt(call, started, failed=False, error=None, kind=None)
        return result

    def _attempt_deadline(self, call: _Call) -> float:
        remaining = self.retry_policy.max_total_seconds - (self.clock.monotonic() - call.started)
        return max(0.0, min(self.timeouts.total, remaining))

    def _finish_attempt(
        self, call: _Call, started: float, *, failed: bool, error: str | None, kind: ErrorKind | None
    ) -> None:
        transition = self.breaker.record_failure() if failed else self.breaker.record_success()
        call.verdict = "failure" if failed else "success"
        self._report_attempt(call, started, error=error, kind=kind)
        self._report_transition(transition)

    def _report_attempt(
        self, call: _Call, started: float, *, error: str | None, kind: ErrorKind | None
    ) -> None:
        self.hooks(
            RequestEvent(
                upstream=self.upstream,
                method=call.method,
                url=call.redacted_url,
                status=call.status,
                elapsed_seconds=self.clock.monotonic() - started,
                error=error,
                error_kind=kind,
            )
        )

    def _report_transition(self, transition: Transition | None) -> None:
        if transition is not None:
            self.hooks(
                BreakerEvent(
                    upstream=self.upstream, old_state=transition.old_state, new_state=transition.new_state
                )
            )

    def _unsendable(self, call: _Call, started: float, exc: Exception) -> UpstreamError:
        """The error for a request that could not go out: it says nothing about the upstream, so the
        breaker gets no verdict (a half-open probe slot is freed) and nothing is retried."""
        self.breaker.release()
        reason = describe_transport_error(
            exc, raw_url=str(call.request.url), redacted_url=call.redacted_url, extra_secrets=call.secrets
        )
        self._report_attempt(call, started, error=reason, kind=error_kind_of(exc))
        return UpstreamError(
            f"{self.upstream}: {call.method} {call.redacted_url} could not be sent: {reason}",
            upstream=self.upstream,
            attempts=call.attempts,
        )

    # -- what one attempt sends and how its answer is judged ---------------------------------------

    async def _send_buffered(self, call: _Call) -> httpx.Response:
        limit = self.max_response_bytes
        response = await self._http.send(call.request, stream=True)
        chunks: list[bytes] = []
        try:
            call.status = response.status_code
            if response.status_code >= 400:
                body = await _read_some(response, ERROR_BODY_LIMIT)
                self._check_status(call, response.status_code, response.headers, body)
            # A HEAD, 204 or 304 answer declares a length it does not send: only the bytes count then.
            has_body = call.method != "HEAD" and response.status_code not in (204, 304)
            declared = _content_length(response.headers) if has_body else None
            if declared is not None and declared > limit:
                raise self._too_large(call, limit, RESPONSE_LIMIT_NAME)
            size = 0
            # Decoded bytes are counted: a small compressed body may inflate past any memory.
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise self._too_large(call, limit, RESPONSE_LIMIT_NAME)
                chunks.append(chunk)
        finally:
            await response.aclose()
        # Exactly what Response.aread() stores, so content, text and json() read the body we kept.
        response._content = b"".join(chunks)
        return response

    async def _send_streamed(
        self,
        call: _Call,
        dest: IO[bytes],
        on_progress: ProgressCallback | None,
        max_bytes: int | None,
    ) -> DownloadResult:
        try:
            dest.seek(0)
            dest.truncate()
        except OSError as exc:
            raise self._destination_failed(call, exc) from exc
        response = await self._http.send(call.request, stream=True)
        try:
            call.status = response.status_code
            if response.status_code >= 400:
                body = await _read_some(response, ERROR_BODY_LIMIT)
                self._check_status(call, response.status_code, response.headers, body)
            declared = _content_length(response.headers)
            if max_bytes is not None and declared is not None and declared > max_bytes:
                raise self._too_large(call, max_bytes, "max_bytes")
            digest = hashlib.sha256()
            written = 0
            async for chunk in response.aiter_bytes():
                written += len(chunk)
                if max_bytes is not None and written > max_bytes:
                    raise self._too_large(call, max_bytes, "max_bytes")
                try:
                    dest.write(chunk)
                except OSError as exc:
                    raise self._destination_failed(call, exc) from exc
                digest.update(chunk)
                if on_progress is not None:
                    on_progress(written, declared)
            try:
                dest.flush()
            except OSError as exc:
                raise self._destination_failed(call, exc) from exc
        finally:
            await response.aclose()
        return DownloadResult(
            status=response.status_code,
            headers=response.headers,
            bytes_written=written,
            attempts=call.attempts,
            sha256_hex=digest.hexdigest(),
        )

    def _destination_failed(self, call: _Call, exc: OSError) -> StorageError:
        # Our disk (full, failing), not the upstream: not retried, and an error of ours with one line.
        return StorageError(
            f"{self.upstream}: could not write the body of {call.method} {call.redacted_url} to its "
            f"local file: {exc}"
        )

    def _check_status(self, call: _Call, status: int, headers: httpx.Headers, body: bytes) -> None:
        if status < 400:
            return
        message = extract_upstream_message(body, extra_secrets=call.secrets)
        if self.retry_policy.is_retryable_status(status):
            raise RetryableFailure(
                f"HTTP {status}",
                status=status,
                retry_after=retry_after_seconds(headers.get("retry-after"), now=self.clock.time()),
                upstream_message=message,
            )
        raise status_error(
            upstream=self.upstream,
            method=call.method,
            redacted_url=call.redacted_url,
            status=status,
            upstream_message=message,
            attempts=call.attempts,
        )

    def _too_large(self, call: _Call, limit: int, limit_name: str) -> ProviderDataError:
        call.refusal = "body_too_large"
        return ProviderDataError(
            f"{self.upstream}: the body of {call.method} {call.redacted_url} is larger than "
            f"{limit_name} ({limit} bytes)"
        )


def _await_when_sent(request: httpx.Request, on_sent: OnSent | None) -> None:
    """Have ``on_sent`` awaited once the attempt's request headers are on the wire (httpcore's trace
    extension; transports that do not trace, like ``MockTransport``, never call it)."""
    if on_sent is None:
        request.extensions.pop("trace", None)
        return

    async def trace(event: str, info: Mapping[str, Any]) -> None:
        if event.endswith("send_request_headers.complete"):
            await on_sent()

    request.extensions["trace"] = trace


def _secrets_of(request: httpx.Request) -> tuple[str, ...]:
    """Credential values in this request, masked in its messages even if nobody registered them."""
    found: list[str] = [value for name, value in request.url.params.multi_items() if is_sensitive_param(name)]
    if request.url.password:
        found.append(request.url.password)
    for name, value in request.headers.multi_items():
        if is_sensitive_header(name):
            found.append(value)
            _, _, credential = value.partition(" ")
            found.append(credential)
    return tuple(value for value in found if value)


def header_value_problem(value: str) -> str | None:
    """What makes ``value`` unfit for an HTTP header (``None`` if nothing), in words that never quote it.

    Allowed: printable ASCII, and spaces or tabs inside (``Bearer <token>``); nothing around it.
    """
    if value != value.strip(" \t"):
        return "has whitespace around it"
    for character in value:
        if not character.isascii():
            return "is not ASCII"
        if not (character.isprintable() or character == "\t"):
            return "contains a control character"
    return None


def _content_length(headers: httpx.Headers) -> int | None:
    if "content-encoding" in headers:
        # The declared length counts compressed bytes; only what we write can be checked.
        return None
    try:
        return int(headers["content-length"])
    except (KeyError, ValueError):
        return None


async def _read_some(response: httpx.Response, limit: int) -> bytes:
    """Up to ``limit`` bytes of an error body, best effort: a broken error body still yields its status."""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= limit:
                break
    except httpx.HTTPError:
        pass
    return b"".join(chunks)[:limit]
