"""The DSP API client: one attempt per call, every answer classified as a value.

The submission engine parks rows and retries by itself (``next_attempt_at``), and owns the one
request budget per DSP account. So this client must never sleep, retry, pace or refuse a call on
its own: each call of :class:`DspClient` sends exactly one request through a
:class:`~crossdock.httpclient.ResilientClient` built for a single attempt (no retry, no rate limit,
a breaker that never opens) and returns an :data:`Outcome`, a small tagged union of frozen
dataclasses. HTTP outcomes never raise; a caller's mistake (an unknown kind, an idempotency key the
DSP would refuse, more than 100 ids) raises ``ValueError`` before anything is sent.

Every outcome carries ``rate``, the answer's ``X-RateLimit-*`` values (``None`` when it had none: a
401, a transport failure), so the engine can resynchronise its budget with the DSP's count.

What the answers mean, per the DSP contract (``docs/submissions-simulator.md``):

===========================  ===============================================================
answer                       outcome
===========================  ===============================================================
2xx with a usable body       :class:`Accepted` (create), :class:`Found` (status),
                             :class:`Statuses` (statuses)
400, 422, other 3xx/4xx      :class:`Rejected` (the DSP's ``error`` text kept)
401, 403                     :class:`Unauthorized`
404                          :class:`ParentMissing` (creating an ad group or ad),
                             :class:`NotFound` (status), :class:`Rejected` (anything else)
409 on create                :class:`ParentNotReady`
429                          :class:`RateLimited` (``retry_after`` from ``X-Retry-After-Ms``,
                             else ``Retry-After``, else ``X-RateLimit-Reset``, else 1 s)
408, 5xx, timeout,           :class:`Transient`
connection error,
malformed 2xx
===========================  ===============================================================

``Transient.maybe_committed`` says whether a POST may have taken effect at the DSP, so that its
node must keep its ``Idempotency-Key`` (a new key could create a second entity). The contract
promises "no effect" only for 4xx answers (429 included), so it is ``True`` for a POST answered
5xx (a server may fail after committing; a gateway's 502/504 says nothing of its backend), for a
connection lost once the request could have been written (read/write errors and timeouts, a peer
closing before the body, the attempt's total time running out), and for a malformed 2xx. It is
``False`` for reads, and when nothing can have left: the request never reached the transport, the
connection could not be opened (connect error or timeout, no pooled connection free) or httpx
refused to send it.

A malformed success (a 202 without an id, a body that is not JSON, a status outside the four) is a
:class:`Transient` whose ``reason`` starts with ``malformed answer``, not an outcome of its own:
the engine's recovery is the same as for a lost answer (send again with the same key, bounded by
its attempts, then ``dead`` with the reason), so one case less to handle.

Sizing of the resilient client: the breaker threshold is :data:`INERT_BREAKER_THRESHOLD` so that it
never opens (a 5xx is the engine's to back off from, per row; an open breaker would refuse calls
the engine already paced and turn them into transient failures that say nothing new). Secrets: the
key travels as ``Authorization: Bearer <key>`` through ``secret_headers``, and the bare key is
registered too, so it is masked in every message, hook event and log line. This module must not
sleep, retry, read settings or touch storage.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Any, Final, Literal, NamedTuple, Self, TypeAlias, get_args
from urllib.parse import quote

import httpx

from crossdock.errors import (
    CircuitOpenError,
    ConfigurationError,
    CrossdockError,
    UpstreamError,
    UpstreamStatusError,
)
from crossdock.httpclient import (
    BreakerPolicy,
    BreakerRegistry,
    ClientHook,
    Clock,
    ResilientClient,
    RetryPolicy,
    SystemClock,
    Timeouts,
    redact_text,
    register_secret,
    retry_after_seconds,
)
from crossdock.httpclient.client import header_value_problem

__all__ = [
    "INERT_BREAKER_THRESHOLD",
    "MAX_IDEMPOTENCY_KEY_LENGTH",
    "MAX_STATUS_IDS",
    "STATUSES",
    "Accepted",
    "BatchOutcome",
    "CreateOutcome",
    "DspClient",
    "DspStatus",
    "EntityKind",
    "Found",
    "NotFound",
    "Outcome",
    "ParentMissing",
    "ParentNotReady",
    "RateLimited",
    "RateWindow",
    "Rejected",
    "StatusItem",
    "StatusOutcome",
    "Statuses",
    "Transient",
    "Unauthorized",
    "upstream_name",
]

EntityKind = Literal["campaign", "ad_group", "ad"]
DspStatus = Literal["Not Started", "In Progress", "Completed", "Error"]
STATUSES: Final[tuple[DspStatus, ...]] = get_args(DspStatus)

MAX_IDEMPOTENCY_KEY_LENGTH: Final = 255
MAX_STATUS_IDS: Final = 100
INERT_BREAKER_THRESHOLD: Final = 1_000_000
"""Consecutive failed attempts before the breaker opens: in effect never (see the module docstring)."""
MAX_RESPONSE_BYTES: Final = 1024 * 1024
"""The largest DSP answer kept: a batch of 100 statuses is a few kilobytes."""
DEFAULT_RATE_LIMIT_WAIT: Final = 1.0
"""Seconds a 429 asks for when it carries neither ``Retry-After`` nor ``X-RateLimit-Reset``."""

_PATHS: Final[Mapping[str, str]] = {"campaign": "campaigns", "ad_group": "ad-groups", "ad": "ads"}
_HAS_PARENT: Final[frozenset[EntityKind]] = frozenset({"ad_group", "ad"})
# Failures in which the request cannot have left this process: no connection, or httpx refused it.
_NOTHING_SENT: Final = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.LocalProtocolError,
    httpx.UnsupportedProtocol,
)


def upstream_name(name: str) -> str:
    """The resilient client's upstream name for the DSP ``name`` (breaker, metrics, logs)."""
    return f"dsp:{name}"


# -- outcomes ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RateWindow:
    """The DSP's ``X-RateLimit-*`` headers of one answer; a value it did not send (or sent garbled) is
    ``None``. ``reset`` is the seconds until ``remaining`` grows by one (``X-RateLimit-Reset-Ms`` when
    present, for precision, else ``X-RateLimit-Reset``)."""

    limit: int | None
    remaining: int | None
    reset: float | None


@dataclass(frozen=True, slots=True)
class _Answer:
    """What every outcome has: the answer's rate-limit headers, ``None`` when it carried none."""

    rate: RateWindow | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class Accepted(_Answer):
    """A create answered 2xx: the DSP holds the entity ``external_id`` (``replayed``: it already did,
    for this idempotency key, and created nothing now)."""

    external_id: str
    status: DspStatus
    error_message: str | None = None
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class Found(_Answer):
    """A status read answered 200: the entity's status, with the DSP's message when it is ``Error``."""

    external_id: str
    status: DspStatus
    error_message: str | None = None


class StatusItem(NamedTuple):
    """One entity's status in a :class:`Statuses` batch."""

    status: DspStatus
    error_message: str | None


@dataclass(frozen=True, slots=True)
class Statuses(_Answer):
    """A batch read answered 200: ``items`` by id in the order asked (read-only); ``missing`` are the
    ids asked that the DSP did not return (unknown to it, or another account's)."""

    items: Mapping[str, StatusItem] = field(hash=False)
    missing: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RateLimited(_Answer):
    """429: the request had no effect; the account may send again in ``retry_after`` seconds."""

    retry_after: float


@dataclass(frozen=True, slots=True)
class Transient(_Answer):
    """408, 5xx, a timeout, a connection error or a malformed 2xx: worth trying again later.

    ``status`` is the HTTP status when the DSP answered one (``None`` for transport failures);
    ``retry_after`` the seconds it asked for (a 503's ``Retry-After``), if any; ``maybe_committed``
    whether the request may have taken effect (see the module docstring).
    """

    reason: str
    status: int | None = None
    retry_after: float | None = None
    maybe_committed: bool = False


@dataclass(frozen=True, slots=True)
class Rejected(_Answer):
    """400, 422 or another 3xx/4xx: the DSP refuses this request as sent; ``message`` is its words."""

    status: int
    message: str


@dataclass(frozen=True, slots=True)
class ParentMissing(_Answer):
    """404 to creating an ad group or ad: the DSP does not know its campaign or ad group."""

    message: str


@dataclass(frozen=True, slots=True)
class ParentNotReady(_Answer):
    """409 to a create: the parent exists at the DSP but is not ``Completed`` (yet)."""

    message: str


@dataclass(frozen=True, slots=True)
class NotFound(_Answer):
    """404 to a status read: the DSP does not know ``external_id`` (for this kind and account)."""

    external_id: str


@dataclass(frozen=True, slots=True)
class Unauthorized(_Answer):
    """401 or 403: the DSP refused the API key."""

    status: int
    message: str


CreateOutcome: TypeAlias = (
    Accepted | RateLimited | Transient | Rejected | ParentMissing | ParentNotReady | Unauthorized
)
StatusOutcome: TypeAlias = Found | NotFound | RateLimited | Transient | Rejected | Unauthorized
BatchOutcome: TypeAlias = Statuses | RateLimited | Transient | Rejected | Unauthorized
Outcome: TypeAlias = (
    Accepted
    | Found
    | Statuses
    | RateLimited
    | Transient
    | Rejected
    | ParentMissing
    | ParentNotReady
    | NotFound
    | Unauthorized
)


# -- what the transport saw -------------------------------------------------------------------------


@dataclass(slots=True)
class _Exchange:
    """What the transport saw of one call: whether the request reached it, and the answer's head.

    The resilient client turns an error answer into an exception that keeps its status and message
    but not its headers, which the outcome needs (``Retry-After``, ``X-RateLimit-*``).
    """

    reached_transport: bool = False
    status: int | None = None
    headers: httpx.Headers | None = None


# Set around each call, read by the transport in the same task: concurrent calls never mix heads.
_current_exchange: ContextVar[_Exchange | None] = ContextVar("crossdock_dsp_exchange", default=None)


class _WatchingTransport(httpx.AsyncBaseTransport):
    """Passes every request to ``inner`` and notes the call's :class:`_Exchange` on the way."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        exchange = _current_exchange.get()
        if exchange is not None:
            exchange.reached_transport = True
        response = await self._inner.handle_async_request(request)
        if exchange is not None:
            exchange.status = response.status_code
            exchange.headers = response.headers
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


# -- the client -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ErrorAnswer:
    """An answer of the DSP that is not a success: its status, its words and its head."""

    status: int
    message: str
    headers: httpx.Headers | None
    rate: RateWindow | None


class DspClient:
    """One DSP account's API: ``create``, ``status`` and ``statuses``, one request each, as outcomes.

    ``name`` is the DSP's configured name (the upstream is ``dsp:<name>``); ``base_url`` the URL the
    ``/v1`` paths are appended to; ``timeout`` bounds connecting, each read and the whole attempt.
    ``clock`` (``Retry-After`` dates, attempt timing) and ``registry`` (the breaker's) are for tests,
    like ``transport``. Safe for concurrent calls; close it with :meth:`aclose` or ``async with``.
    """

    def __init__(
        self,
        name: str,
        base_url: str,
        api_key: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        hooks: ClientHook | None = None,
        clock: Clock | None = None,
        registry: BreakerRegistry | None = None,
    ) -> None:
        if not api_key:
            raise ConfigurationError(f"DSP {name}: no API key")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"DSP {name}: the base URL must start with http:// or https://")
        self.name = name
        self.upstream = upstream_name(name)
        self._clock = clock or SystemClock()
        # The client registers the header's value; the bare key is masked wherever it is quoted too.
        register_secret(api_key)
        self._secrets = (api_key,)
        inner = transport if transport is not None else httpx.AsyncHTTPTransport(trust_env=False)
        self._http = ResilientClient(
            self.upstream,
            base_url=base_url,
            timeouts=Timeouts(connect=timeout, read=timeout, total=timeout),
            retry=RetryPolicy(max_attempts=1, max_total_seconds=timeout),
            breaker_policy=BreakerPolicy(failure_threshold=INERT_BREAKER_THRESHOLD),
            rate_limit=None,
            hooks=hooks,
            clock=self._clock,
            registry=registry,
            secret_headers={"authorization": f"Bearer {api_key}"},
            transport=_WatchingTransport(inner),
            max_response_bytes=MAX_RESPONSE_BYTES,
        )

    async def __aenter__(self) -> Self:
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

    def __repr__(self) -> str:
        return f"DspClient(name={self.name!r})"

    # -- the three calls --------------------------------------------------------------------------

    async def create(
        self, kind: EntityKind, payload: Mapping[str, Any], idempotency_key: str
    ) -> CreateOutcome:
        """``POST /v1/campaigns | /v1/ad-groups | /v1/ads`` with ``payload`` as its JSON body.

        Raises ``ValueError`` for an unknown ``kind`` or an ``idempotency_key`` that is empty, longer
        than 255 characters or not printable ASCII; a payload that is not JSON-serializable raises
        what ``json.dumps`` raises. Nothing is sent then.
        """
        path = _path_of(kind)
        problem = _idempotency_key_problem(idempotency_key)
        if problem is not None:
            raise ValueError(f"the idempotency key {problem}")
        answer = await self._send(
            "POST", f"/v1/{path}", json=dict(payload), headers={"Idempotency-Key": idempotency_key}
        )
        if isinstance(answer, Transient):
            return answer
        if isinstance(answer, _ErrorAnswer):
            if answer.status == 404 and kind in _HAS_PARENT:
                return ParentMissing(answer.message, rate=answer.rate)
            if answer.status == 409:
                return ParentNotReady(answer.message, rate=answer.rate)
            return self._refused(answer)
        rate = self._rate_of(answer.headers)
        entity = self._entity_of(self._body_of(answer))
        if isinstance(entity, str):
            return _malformed(answer.status_code, entity, rate, post=True)
        external_id, status, error_message = entity
        replayed = answer.headers.get("idempotent-replayed", "").strip().lower() == "true"
        return Accepted(external_id, status, error_message, replayed, rate=rate)

    async def status(self, kind: EntityKind, external_id: str) -> StatusOutcome:
        """``GET /v1/<kind plural>/{external_id}`` (the id travels as one percent-encoded segment).

        Raises ``ValueError`` for an unknown ``kind``, or an id that is empty, ``.`` or ``..``.
        """
        path = _path_of(kind)
        if external_id in ("", ".", ".."):
            raise ValueError(f"{external_id!r} is not an entity id")
        answer = await self._send("GET", f"/v1/{path}/{quote(external_id, safe='')}")
        if isinstance(answer, Transient):
            return answer
        if isinstance(answer, _ErrorAnswer):
            if answer.status == 404:
                return NotFound(external_id, rate=answer.rate)
            return self._refused(answer)
        rate = self._rate_of(answer.headers)
        entity = self._entity_of(self._body_of(answer))
        if isinstance(entity, str):
            return _malformed(answer.status_code, entity, rate, post=False)
        found_id, status, error_message = entity
        if found_id != external_id:
            what = f"asked for {external_id}, answered {found_id}"
            return _malformed(answer.status_code, what, rate, post=False)
        return Found(found_id, status, error_message, rate=rate)

    async def statuses(self, external_ids: Sequence[str]) -> BatchOutcome:
        """``GET /v1/statuses?ids=…`` for up to 100 distinct ids (a repeated id is asked once).

        Raises ``ValueError`` for no id, more than 100 distinct ids, or an id that is empty, has
        whitespace around it or holds a comma (the DSP would split it).
        """
        if isinstance(external_ids, str):
            raise ValueError("external_ids must be a sequence of ids, not one string")
        asked = list(dict.fromkeys(external_ids))
        if not asked:
            raise ValueError("at least one id is required")
        if len(asked) > MAX_STATUS_IDS:
            raise ValueError(f"at most {MAX_STATUS_IDS} ids per batch (got {len(asked)})")
        for external_id in asked:
            if not external_id or external_id != external_id.strip() or "," in external_id:
                raise ValueError(f"{external_id!r} is not an id the DSP can be asked for")
        answer = await self._send("GET", "/v1/statuses", params={"ids": ",".join(asked)})
        if isinstance(answer, Transient):
            return answer
        if isinstance(answer, _ErrorAnswer):
            return self._refused(answer)
        rate = self._rate_of(answer.headers)
        body = self._body_of(answer)
        if not isinstance(body, list):
            return _malformed(answer.status_code, "the body is not a JSON list", rate, post=False)
        wanted = set(asked)
        found: dict[str, StatusItem] = {}
        for raw in body:
            entity = self._entity_of(raw)
            if isinstance(entity, str):
                return _malformed(answer.status_code, entity, rate, post=False)
            external_id, status, error_message = entity
            if external_id in wanted:  # an id nobody asked for tells us nothing
                found[external_id] = StatusItem(status, error_message)
        items = {external_id: found[external_id] for external_id in asked if external_id in found}
        missing = tuple(external_id for external_id in asked if external_id not in found)
        return Statuses(MappingProxyType(items), missing, rate=rate)

    # -- one request, and what its answer means ----------------------------------------------------

    async def _send(
        self,
        method: Literal["GET", "POST"],
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response | _ErrorAnswer | Transient:
        """One attempt: the 2xx response to parse, the DSP's refusal, or a transient failure."""
        post = method == "POST"
        exchange = _Exchange()
        token = _current_exchange.set(exchange)
        try:
            response = await self._http.request(method, path, json=json, params=params, headers=headers)
        except CrossdockError as error:
            return self._failure(exchange, error, post=post)
        finally:
            _current_exchange.reset(token)
        if response.status_code >= 300:
            # Redirects are not followed: the DSP's contract has none, so the URL must be wrong.
            message = f"unexpected HTTP {response.status_code} (redirects are not followed)"
            return _ErrorAnswer(
                response.status_code, message, response.headers, self._rate_of(response.headers)
            )
        return response

    def _failure(self, exchange: _Exchange, error: CrossdockError, *, post: bool) -> _ErrorAnswer | Transient:
        headers = exchange.headers
        rate = self._rate_of(headers) if headers is not None else None
        if not isinstance(error, UpstreamError):
            # ProviderDataError: a success whose body is too large or cannot be decoded.
            return _malformed(exchange.status, error.message, rate, post=post)
        if isinstance(error, CircuitOpenError):
            # Only a breaker shared with other processes could be open (ours never opens): not sent.
            return Transient(error.message, rate=rate)
        # A status with no exception behind it is an answer; with one, the wire failed after a head.
        if error.status is not None and (isinstance(error, UpstreamStatusError) or error.__cause__ is None):
            answer = _ErrorAnswer(
                error.status, error.upstream_message or f"HTTP {error.status}", headers, rate
            )
            if error.status == 408 or error.status >= 500:
                return self._transient_answer(answer, post=post)
            return answer
        return self._transport_failure(exchange, error, rate, post=post)

    def _transient_answer(self, answer: _ErrorAnswer, *, post: bool) -> Transient:
        # 408: the DSP gave up waiting for our request, so it did not act on it.
        return Transient(
            f"HTTP {answer.status}: {answer.message}",
            answer.status,
            self._retry_after_of(answer.headers),
            maybe_committed=post and answer.status != 408,
            rate=answer.rate,
        )

    def _refused(self, answer: _ErrorAnswer) -> RateLimited | Unauthorized | Rejected:
        """The outcome of an error answer no call gives a meaning of its own."""
        if answer.status == 429:
            wait = self._retry_after_of(answer.headers)
            if wait is None:
                rate = answer.rate
                wait = rate.reset if rate is not None and rate.reset is not None else DEFAULT_RATE_LIMIT_WAIT
            return RateLimited(wait, rate=answer.rate)
        if answer.status in (401, 403):
            return Unauthorized(answer.status, answer.message, rate=answer.rate)
        return Rejected(answer.status, answer.message, rate=answer.rate)

    def _transport_failure(
        self, exchange: _Exchange, error: UpstreamError, rate: RateWindow | None, *, post: bool
    ) -> Transient:
        cause = error.__cause__
        if cause is None:
            # Not from the wire: a URL that cannot be built, the shared breaker unreadable.
            return Transient(error.message, rate=rate)
        nothing_sent = not exchange.reached_transport or isinstance(cause, _NOTHING_SENT)
        if isinstance(cause, TimeoutError):
            what = "timeout (the attempt's total time ran out)"
        else:
            words = " ".join(redact_text(str(cause), extra_secrets=self._secrets).split())[:200]
            what = f"{type(cause).__name__}: {words}" if words else type(cause).__name__
        if exchange.status is not None:
            what = f"{what} (after the head of an HTTP {exchange.status} answer)"
        return Transient(what, maybe_committed=post and not nothing_sent, rate=rate)

    # -- parsing ----------------------------------------------------------------------------------

    def _body_of(self, response: httpx.Response) -> Any:
        """The JSON body, or ``_NOT_JSON``."""
        try:
            return json.loads(response.content)
        except ValueError:
            return _NOT_JSON

    def _entity_of(self, raw: Any) -> tuple[str, DspStatus, str | None] | str:
        """``(id, status, error_message)`` of one ``{"id", "status", "error_message"?}``, or what is wrong."""
        if raw is _NOT_JSON:
            return "the body is not JSON"
        if not isinstance(raw, dict):
            return "an entity is not a JSON object"
        external_id = raw.get("id")
        if not isinstance(external_id, str) or not external_id:
            return "an entity has no id"
        status = raw.get("status")
        if status not in STATUSES:
            return f"entity {external_id} has an unknown status"
        message = raw.get("error_message")
        error_message = (
            redact_text(message, extra_secrets=self._secrets)
            if isinstance(message, str) and message
            else None
        )
        return external_id, status, error_message

    def _rate_of(self, headers: httpx.Headers) -> RateWindow | None:
        limit = _count(headers.get("x-ratelimit-limit"))
        remaining = _count(headers.get("x-ratelimit-remaining"))
        reset = _milliseconds(headers.get("x-ratelimit-reset-ms"))
        if reset is None:
            reset = _seconds(headers.get("x-ratelimit-reset"))
        if limit is None and remaining is None and reset is None:
            return None
        return RateWindow(limit, remaining, reset)

    def _retry_after_of(self, headers: httpx.Headers | None) -> float | None:
        """``X-Retry-After-Ms`` (exact) when present, else ``Retry-After`` (whole seconds or a date)."""
        if headers is None:
            return None
        exact = _milliseconds(headers.get("x-retry-after-ms"))
        if exact is not None:
            return exact
        return retry_after_seconds(headers.get("retry-after"), now=self._clock.time())


_NOT_JSON: Final = object()


def _malformed(status: int | None, what: str, rate: RateWindow | None, *, post: bool) -> Transient:
    return Transient(f"malformed answer: {what}", status, maybe_committed=post, rate=rate)


def _path_of(kind: str) -> str:
    try:
        return _PATHS[kind]
    except KeyError:
        raise ValueError(f"unknown entity kind {kind!r} (expected one of {', '.join(_PATHS)})") from None


def _idempotency_key_problem(key: str) -> str | None:
    if not key:
        return "is empty"
    if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        return f"must be at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters (got {len(key)})"
    return header_value_problem(key)


def _count(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = int(value.strip())
    except ValueError:
        return None
    return number if number >= 0 else None


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _milliseconds(value: str | None) -> float | None:
    number = _seconds(value)
    return None if number is None else number / 1000
