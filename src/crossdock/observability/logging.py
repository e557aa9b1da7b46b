"""Logging set-up: one line per event, as text or JSON, with secrets redacted.

Called once by each entry point (CLI, server worker). Two layers keep a registered secret out of
every line even if some code formatted it into a message or an exception by mistake: every handler
carries the HTTP client's :class:`~crossdock.httpclient.redaction.RedactingFilter` (message and
traceback of the record), and every formatter here redacts the line it finally writes (whatever it
added itself: a traceback it formats, extra fields), so a formatter used without the filter is
safe too.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from crossdock.config import LogFormat, LogSettings
from crossdock.httpclient.redaction import RedactingFilter, redact_text

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, plus any ``extra=`` fields; redacted."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_text(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                payload[key] = redact_text(value) if isinstance(value, str) else value
        exception = self._exception_text(record)
        if exception:
            payload["exception"] = redact_text(exception).replace("\n", "\\n")
        if record.stack_info:
            payload["stack"] = redact_text(self.formatStack(record.stack_info)).replace("\n", "\\n")
        # Fields were redacted one by one (the line stays valid JSON); this pass catches what only
        # appears once serialized (an extra field that is not a string) in its JSON-escaped form.
        return redact_text(orjson.dumps(payload, default=str).decode())

    def _exception_text(self, record: logging.LogRecord) -> str:
        # Prefer the text the RedactingFilter already cached (and redacted) over formatting anew.
        if record.exc_text:
            return record.exc_text
        if record.exc_info:
            return self.formatException(record.exc_info)
        return ""


class OneLineTextFormatter(logging.Formatter):
    """``time level logger: message`` with any traceback folded onto the same line; redacted."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        # Redacted before folding (a secret holding a newline) and after (its folded form).
        return redact_text(redact_text(super().format(record)).replace("\n", "\\n"))


def configure_logging(settings: LogSettings, *, stream: Any = None) -> None:
    """Install one stderr handler on the root logger (replacing earlier ones)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.format == LogFormat.JSON else OneLineTextFormatter())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(settings.level)
    # Library chatter that would drown the service's own lines at INFO.
    for noisy in ("httpx", "httpcore", "alembic", "aiosqlite", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def server_log_config(settings: LogSettings) -> dict[str, Any]:
    """A ``logging.config`` dict giving the server's own lines (granian) the same one-line format."""
    formatter = "crossdock.observability.logging." + (
        "JsonFormatter" if settings.format == LogFormat.JSON else "OneLineTextFormatter"
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"crossdock": {"()": formatter}},
        "filters": {"redact": {"()": "crossdock.httpclient.redaction.RedactingFilter"}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "crossdock",
                "filters": ["redact"],
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "_granian": {"handlers": ["console"], "level": settings.level, "propagate": False},
            "granian.access": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        },
    }
