"""The events the HTTP client reports, each one frozen dataclass handed to one callable hook.

A hook is anything matching :class:`ClientHook`: ``hook(event)``, where ``event`` is one of the
:data:`ClientEvent` classes below (``RequestEvent``, ``RetryEvent``, ``GiveUpEvent``,
``BreakerEvent``). Implementations ``match`` on the event's class and read its fields by name, so a
field added to an event changes no signature, and an event class added here is ignored by hooks
that do not know it yet. Events share field names: ``upstream`` (the client's upstream name),
``method`` (upper case) and ``url`` (always redacted) mean the same thing wherever they appear.

The client does not log or count anything itself: logging and metrics (``crossdock.observability``)
are hooks; :func:`fan_out` combines several. Hooks run inline on the request path, so they must be
cheap and must not raise: an exception from a hook fails the call. This module must not import
logging or metrics libraries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, TypeAlias

from crossdock.httpclient.breaker import BreakerState

__all__ = [
    "BreakerEvent",
    "ClientEvent",
    "ClientHook",
    "ErrorKind",
    "GiveUpEvent",
    "RequestEvent",
    "RetryEvent",
    "fan_out",
    "no_hook",
]


ErrorKind: TypeAlias = Literal[
    "connect_error",
    "timeout",
    "read_error",
    "write_error",
    "protocol_error",
    "body_too_large",
    "undecodable",
    "unsendable",
    "other",
]
"""What went wrong with an attempt, from a closed set (safe as a metric label, unlike ``error``'s text).

``connect_error``: no connection; ``timeout``: connect, read, pool or the whole attempt's time ran
out; ``read_error``/``write_error``: the connection failed while receiving/sending; ``protocol_error``:
the upstream broke HTTP (a bad status line, a body cut short); ``body_too_large``: the answer passed
the response limit; ``undecodable``: its content encoding could not be decoded; ``unsendable``: the
request could not be sent at all (an illegal header value, an unsupported URL scheme), nothing went
out; ``other``: any other failure.
"""


# kw_only: the client builds events by field name, so a field added anywhere moves no other field.
@dataclass(frozen=True, slots=True, kw_only=True)
class RequestEvent:
    """After every attempt, whatever its outcome.

    ``url`` is already redacted. ``status`` is the HTTP status if one arrived, else ``None``.
    ``error`` is ``None`` when the status tells the whole story; otherwise it says what went wrong:
    a transport failure or timeout (``status`` is set if the body broke off after it), or an answer
    refused (an undecodable or too large body); it is redacted free text, for people.
    ``error_kind`` is the same failure as one :data:`ErrorKind` (``None`` when ``error`` is), for
    machines: metrics label by it, never by ``error``. ``elapsed_seconds`` runs from sending the
    request to judging the answer; the rate limiter's wait is not included.
    """

    upstream: str
    method: str
    url: str
    status: int | None
    elapsed_seconds: float
    error: str | None
    error_kind: ErrorKind | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryEvent:
    """Before waiting to retry: ``attempt`` is the 1-based number of the attempt that failed.

    ``url`` is already redacted; ``wait_seconds`` is the wait about to start (jittered backoff or
    the upstream's ``Retry-After``); ``reason`` names the failure (``"HTTP 503"``, a transport error).
    """

    upstream: str
    method: str
    url: str
    attempt: int
    wait_seconds: float
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GiveUpEvent:
    """When a retryable failure is not retried any more (attempts, time budget, method, breaker).

    ``url`` is already redacted; ``attempts`` is how many were made; ``reason`` is the last failure
    and, in parentheses, why there is no further attempt.
    """

    upstream: str
    method: str
    url: str
    attempts: int
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerEvent:
    """When this client's call moved the upstream's circuit breaker from ``old_state`` to ``new_state``."""

    upstream: str
    old_state: BreakerState
    new_state: BreakerState


ClientEvent: TypeAlias = RequestEvent | RetryEvent | GiveUpEvent | BreakerEvent
"""Everything a :class:`ClientHook` may be handed."""


class ClientHook(Protocol):
    """Receives each client event as it happens; ignores the kinds it does not care about.

    The event is passed positionally, so a plain function ``def hook(event: ClientEvent) -> None``
    (any parameter name) qualifies as well as a class with ``__call__``.
    """

    def __call__(self, event: ClientEvent, /) -> None: ...


def no_hook(event: ClientEvent, /) -> None:
    """The client's default hook: drops every event."""


def fan_out(*hooks: ClientHook) -> ClientHook:
    """One hook handing each event to every one of ``hooks``, in the order given."""

    def each(event: ClientEvent, /) -> None:
        for hook in hooks:
            hook(event)

    return each
