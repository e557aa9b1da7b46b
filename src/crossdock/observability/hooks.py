"""The HTTP-client hook that logs upstream trouble (one line per retry, give-up, breaker change)."""

from __future__ import annotations

import logging

from crossdock.httpclient import BreakerEvent, ClientEvent, ClientHook, GiveUpEvent, RetryEvent, fan_out

logger = logging.getLogger("crossdock.upstream")


class LoggingHook:
    """Logs retries at WARNING, give-ups at ERROR, breaker transitions at WARNING (INFO on closing).

    Attempts (``RequestEvent``) are not logged: every one is counted by the metrics hook, and a line
    each would drown the trouble. URLs arrive redacted.
    """

    def __call__(self, event: ClientEvent, /) -> None:
        match event:
            case RetryEvent():
                logger.warning(
                    "upstream retry: upstream=%s %s %s attempt=%d reason=%s wait=%.2fs",
                    event.upstream,
                    event.method,
                    event.url,
                    event.attempt,
                    event.reason,
                    event.wait_seconds,
                )
            case GiveUpEvent():
                logger.error(
                    "upstream gave up: upstream=%s %s %s attempts=%d reason=%s",
                    event.upstream,
                    event.method,
                    event.url,
                    event.attempts,
                    event.reason,
                )
            case BreakerEvent():
                level = logging.INFO if event.new_state == "closed" else logging.WARNING
                logger.log(
                    level,
                    "circuit breaker: upstream=%s %s -> %s",
                    event.upstream,
                    event.old_state,
                    event.new_state,
                )


def default_client_hooks() -> ClientHook:
    """What every production client reports to: log lines and Prometheus metrics."""
    from crossdock.observability.metrics import MetricsHook

    return fan_out(LoggingHook(), MetricsHook())
