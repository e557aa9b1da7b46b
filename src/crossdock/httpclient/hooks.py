"""The events the HTTP client reports, as a hooks object callers subclass.

The client does not log or count anything itself: logging and metrics (``crossdock.observability``)
subclass :class:`ClientHooks` and override what they need. Every URL handed to a hook is already
redacted. Hooks run inline on the request path, so they must be cheap and must not raise: an
exception from a hook fails the call. This module must not import logging or metrics libraries.
"""

from __future__ import annotations

from crossdock.httpclient.breaker import BreakerState


class ClientHooks:
    """No-op hooks; subclass and override the events you care about."""

    def on_request(
        self,
        upstream: str,
        method: str,
        redacted_url: str,
        status: int | None,
        elapsed_seconds: float,
        error: str | None,
    ) -> None:
        """After every attempt: ``status`` if an answer arrived, ``error`` if the attempt failed."""

    def on_retry(
        self,
        upstream: str,
        method: str,
        redacted_url: str,
        attempt: int,
        wait_seconds: float,
        reason: str,
    ) -> None:
        """Before waiting to retry: ``attempt`` is the 1-based number of the attempt that failed."""

    def on_give_up(self, upstream: str, method: str, redacted_url: str, attempts: int, reason: str) -> None:
        """When a retryable failure is not retried any more (attempts, time budget, method, breaker)."""

    def on_breaker_transition(self, upstream: str, old_state: BreakerState, new_state: BreakerState) -> None:
        """When this client's call moved the upstream's circuit breaker to another state."""


class CompositeHooks(ClientHooks):
    """Hands every event to each of several hooks objects, in order."""

    def __init__(self, *hooks: ClientHooks) -> None:
        self.hooks = hooks

    def on_request(
        self,
        upstream: str,
        method: str,
        redacted_url: str,
        status: int | None,
        elapsed_seconds: float,
        error: str | None,
    ) -> None:
        for hook in self.hooks:
            hook.on_request(upstream, method, redacted_url, status, elapsed_seconds, error)

    def on_retry(
        self,
        upstream: str,
        method: str,
        redacted_url: str,
        attempt: int,
        wait_seconds: float,
        reason: str,
    ) -> None:
        for hook in self.hooks:
            hook.on_retry(upstream, method, redacted_url, attempt, wait_seconds, reason)

    def on_give_up(self, upstream: str, method: str, redacted_url: str, attempts: int, reason: str) -> None:
        for hook in self.hooks:
            hook.on_give_up(upstream, method, redacted_url, attempts, reason)

    def on_breaker_transition(self, upstream: str, old_state: BreakerState, new_state: BreakerState) -> None:
        for hook in self.hooks:
            hook.on_breaker_transition(upstream, old_state, new_state)
