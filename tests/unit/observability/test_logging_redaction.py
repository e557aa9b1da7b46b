"""Every log formatter redacts what it writes, exception text included, in both formats and for the
server's own logger."""

from __future__ import annotations

import io
import logging
import logging.config
import secrets
import sys
from collections.abc import Iterator

import orjson
import pytest

from crossdock.config import LogFormat, LogSettings
from crossdock.httpclient import register_secret, unregister_secret
from crossdock.observability.logging import (
    JsonFormatter,
    OneLineTextFormatter,
    configure_logging,
    server_log_config,
)


@pytest.fixture
def secret() -> Iterator[str]:
    value = "not-a-real-key-" + secrets.token_hex(8)  # generated per run, never a real credential
    register_secret(value)
    yield value
    unregister_secret(value)


@pytest.fixture(autouse=True)
def _restore_loggers() -> Iterator[None]:
    root, granian = logging.getLogger(), logging.getLogger("_granian")
    saved = [(logger, list(logger.handlers), logger.level, logger.propagate) for logger in (root, granian)]
    yield
    for logger, handlers, level, propagate in saved:
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def the_token(secret: str) -> str:
    return secret.removeprefix("not-a-real-key-")


def failing_record(secret: str) -> logging.LogRecord:
    """A record carrying an exception whose message holds the secret, raw and as repr."""
    try:
        raise RuntimeError(f"boom {secret} and {[secret]!r}")
    except RuntimeError:
        return logging.LogRecord("crossdock.test", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())


@pytest.mark.parametrize("log_format", [LogFormat.TEXT, LogFormat.JSON])
def test_a_secret_in_an_exception_never_reaches_a_line(secret: str, log_format: LogFormat) -> None:
    """A registered secret raised inside an exception is masked in the traceback of both formats."""
    stream = io.StringIO()
    configure_logging(LogSettings(format=log_format), stream=stream)
    try:
        raise RuntimeError(f"boom {secret} and {[secret]!r}")
    except RuntimeError:
        logging.getLogger("crossdock.test").exception("failed while calling")
    written = stream.getvalue()
    assert the_token(secret) not in written
    assert "RuntimeError: boom ***" in written.replace("\\n", "\n")
    assert written.count("\n") == 1
    if log_format == LogFormat.JSON:
        assert "***" in orjson.loads(written)["exception"]


@pytest.mark.parametrize("formatter", [JsonFormatter(), OneLineTextFormatter()])
def test_each_formatter_redacts_even_without_the_filter(secret: str, formatter: logging.Formatter) -> None:
    """A formatter used on its own (no RedactingFilter on the handler) still masks message and traceback."""
    record = failing_record(secret)
    record.msg = "calling with key=%s"
    record.args = (secret,)
    line = formatter.format(record)
    assert the_token(secret) not in line
    assert "***" in line


def test_json_extra_fields_are_redacted(secret: str) -> None:
    """A secret put into an extra= field by mistake is masked in the JSON line, which stays valid JSON."""
    stream = io.StringIO()
    configure_logging(LogSettings(format=LogFormat.JSON), stream=stream)
    logging.getLogger("crossdock.test").warning("sent", extra={"header": f"x-api-key: {secret}"})
    line = orjson.loads(stream.getvalue())
    assert line["header"] == "x-api-key: ***"


@pytest.mark.parametrize("log_format", [LogFormat.TEXT, LogFormat.JSON])
def test_the_server_logger_is_redacted_too(secret: str, log_format: LogFormat) -> None:
    """granian's logger, configured by server_log_config, masks a secret in its exceptions."""
    stream = io.StringIO()
    config = server_log_config(LogSettings(format=log_format))
    logging.config.dictConfig(config)
    handler = logging.getLogger("_granian").handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    try:
        raise RuntimeError(f"worker failed with {secret!r}")
    except RuntimeError:
        logging.getLogger("_granian").exception("worker crashed")
    written = stream.getvalue()
    assert the_token(secret) not in written
    assert "***" in written
