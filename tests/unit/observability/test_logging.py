"""Log lines: one per event, text or JSON, secrets redacted."""

from __future__ import annotations

import io
import logging
import secrets
from collections.abc import Iterator

import orjson
import pytest

from crossdock.config import LogFormat, LogSettings
from crossdock.httpclient import register_secret, unregister_secret
from crossdock.observability.logging import configure_logging

SECRET = "not-a-real-key-" + secrets.token_hex(8)  # generated per run, never a real credential


@pytest.fixture
def secret() -> Iterator[str]:
    register_secret(SECRET)
    yield SECRET
    unregister_secret(SECRET)


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_are_objects_with_extra_fields() -> None:
    """JSON format writes one parseable object per line with time, level, logger, message and extras."""
    stream = io.StringIO()
    configure_logging(LogSettings(format=LogFormat.JSON), stream=stream)
    logging.getLogger("crossdock.test").info("synced %d plans", 3, extra={"provider": "fever"})
    line = orjson.loads(stream.getvalue())
    assert line["message"] == "synced 3 plans"
    assert (line["level"], line["logger"], line["provider"]) == ("INFO", "crossdock.test", "fever")


def test_tracebacks_stay_on_one_line() -> None:
    """A logged exception does not break the one-line-per-event rule."""
    stream = io.StringIO()
    configure_logging(LogSettings(), stream=stream)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("crossdock.test").exception("failed")
    assert stream.getvalue().count("\n") == 1
    assert "ValueError: boom" in stream.getvalue()


@pytest.mark.parametrize("log_format", [LogFormat.TEXT, LogFormat.JSON])
def test_registered_secret_never_reaches_a_line(secret: str, log_format: LogFormat) -> None:
    """A secret formatted into a message by mistake is replaced before the line is written."""
    stream = io.StringIO()
    configure_logging(LogSettings(format=log_format), stream=stream)
    logging.getLogger("crossdock.test").warning("calling with key=%s", secret)
    assert secret not in stream.getvalue()
    assert "***" in stream.getvalue()
