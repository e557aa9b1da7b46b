"""HTTP-client hooks that log upstream trouble (one line per retry, give-up, breaker change)."""

from __future__ import annotations

import logging

from crossdock.httpclient import ClientHooks, CompositeHooks

logger = logging.getLogger("crossdock.upstream")


class LoggingHooks(ClientHooks):
    """Logs retries and give-ups at WARNING, breaker transitions at WARNING/INFO; URLs arrive redacted."""

    def on_retry(
        self, upstream: str, method: str, url: str, attempt: int, wait_seconds: float, reason: str
    ) -> None:
        logger.warning(
            "upstream retry: upstream=%s %s %s attempt=%d reason=%s wait=%.2fs",
            upstream,
            method,
            url,
            attempt,
            reason,
            wait_seconds,
        )

    def on_give_up(self, upstream: str, method: str, url: str, attempts: int, reason: str) -> None:
        logger.error(
            "upstream gave up: upstream=%s %s %s attempts=%d reason=%s",
            upstream,
            method,
            url,
            attempts,
            reason,
        )

    def on_breaker_transition(self, upstream: str, old_state: str, new_state: str) -> None:
        level = logging.INFO if new_state == "closed" else logging.WARNING
        logger.log(level, "circuit breaker: upstream=%s %s -> %s", upstream, old_state, new_state)


def default_client_hooks() -> ClientHooks:
    """What every production client reports to: log lines and Prometheus metrics."""
    from crossdock.observability.metrics import MetricsHooks

    return CompositeHooks(LoggingHooks(), MetricsHooks())
