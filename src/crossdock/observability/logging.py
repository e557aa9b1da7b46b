"""Logging set-up: one line per event, as text or JSON, with secrets redacted.

Called once by each entry point (CLI, server worker). Every handler carries the HTTP client's
:class:`~crossdock.httpclient.redaction.RedactingFilter`, so a registered secret never reaches
a log line even if some code formatted it into a message by mistake.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from crossdock.config import LogFormat, LogSettings
from crossdock.httpclient.redaction import RedactingFilter

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, plus any ``extra=`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info).replace("\n", "\\n")
        return orjson.dumps(payload, default=str).decode()


class OneLineTextFormatter(logging.Formatter):
    """``time level logger: message`` with any traceback folded onto the same line."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\n", "\\n")


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
