"""Redaction of URLs, headers, registered secrets and log records."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from crossdock.httpclient import (
    RedactingFilter,
    redact_headers,
    redact_text,
    redact_url,
    register_secret,
    unregister_secret,
)


@pytest.fixture
def secret() -> Iterator[str]:
    value = "s3cr3t-Value/+="
    register_secret(value)
    yield value
    unregister_secret(value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.test/events?api_key=abc123&page=2", "https://api.test/events?api_key=***&page=2"),
        ("https://api.test/e?API_KEY=abc123", "https://api.test/e?API_KEY=***"),
        ("https://api.test/e?apikey=abc&token=t1&x=1", "https://api.test/e?apikey=***&token=***&x=1"),
        (
            "https://api.test/e?Signature=zz&X-Amz-Credential=cc",
            "https://api.test/e?Signature=***&X-Amz-Credential=***",
        ),
        (
            "https://api.test/e?client_secret=a&password=b&passwd=c",
            "https://api.test/e?client_secret=***&password=***&passwd=***",
        ),
        (
            "https://api.test/e?sig=a&auth=b&session_id=c&code=d",
            "https://api.test/e?sig=***&auth=***&session_id=***&code=***",
        ),
        ("https://api.test/e?access_token=a", "https://api.test/e?access_token=***"),
        ("https://api.test/e?my%5Fkey=abc", "https://api.test/e?my%5Fkey=***"),
        ("https://user:pa55word@api.test/e", "https://user:***@api.test/e"),
        ("https://user@api.test/e", "https://user@api.test/e"),
        ("https://api.test/cb#access_token=abc&state=1", "https://api.test/cb#access_token=***&state=1"),
        ("https://api.test/e?page=2&sort=date", "https://api.test/e?page=2&sort=date"),
        ("https://api.test/e?key=", "https://api.test/e?key="),
        ("/relative/path?token=abc", "/relative/path?token=***"),
    ],
)
def test_redact_url_masks_sensitive_params_and_passwords(url: str, expected: str) -> None:
    """Values of sensitive query/fragment params (any case) and userinfo passwords become ***."""
    assert redact_url(url) == expected


def test_redact_url_accepts_httpx_urls_and_registered_secrets_in_paths(secret: str) -> None:
    """An httpx.URL is accepted, and a registered secret is masked even inside the path."""
    assert (
        redact_url(httpx.URL("https://api.test/keys/abcd?token=t")) == "https://api.test/keys/abcd?token=***"
    )
    assert redact_url(f"https://api.test/{secret}/x") == "https://api.test/***/x"


def test_redact_url_survives_unparseable_urls() -> None:
    """A URL urllib cannot parse is still redacted as text instead of raising."""
    assert redact_url("http://[::1/x?token=abc") == "http://[::1/x?token=***"


def test_redact_headers_masks_credentials_by_name() -> None:
    """Authorization (scheme kept), cookies, X-Api-Key and *key*/*token*/*secret*/*auth* headers: masked."""
    headers = {
        "Authorization": "Bearer abc.def",
        "Proxy-Authorization": "Basic Zm9vOmJhcg==",
        "Cookie": "sid=1",
        "Set-Cookie": "sid=2; HttpOnly",
        "X-Api-Key": "k-123",
        "X-Auth-Token": "t-1",
        "X-Client-Secret": "cs",
        "Ocp-Apim-Subscription-Key": "sub",
        "Content-Type": "application/json",
        "Accept": "*/*",
    }
    assert redact_headers(headers) == {
        "Authorization": "Bearer ***",
        "Proxy-Authorization": "Basic ***",
        "Cookie": "***",
        "Set-Cookie": "***",
        "X-Api-Key": "***",
        "X-Auth-Token": "***",
        "X-Client-Secret": "***",
        "Ocp-Apim-Subscription-Key": "***",
        "Content-Type": "application/json",
        "Accept": "*/*",
    }


def test_redact_headers_accepts_httpx_headers_and_pairs() -> None:
    """httpx.Headers (repeated names joined) and lists of pairs are redacted the same way."""
    headers = httpx.Headers([("set-cookie", "a=1"), ("set-cookie", "b=2"), ("x-trace", "t")])
    assert redact_headers(headers) == {"set-cookie": "***, ***", "x-trace": "t"}
    assert redact_headers([("authorization", "opaque")]) == {"authorization": "***"}


def test_redact_text_masks_registered_secrets_and_their_encodings(secret: str) -> None:
    """A registered secret is masked raw and URL-encoded; unregistering stops masking it."""
    encoded = "s3cr3t-Value%2F%2B%3D"
    assert redact_text(f"key was {secret} or {encoded}") == "key was *** or ***"
    unregister_secret(secret)
    assert secret in redact_text(f"key was {secret}")


def test_short_secrets_are_not_registered() -> None:
    """Values shorter than 4 characters are ignored so ordinary words survive."""
    register_secret("abc")
    register_secret(None)
    assert redact_text("abc abc") == "abc abc"


def test_redact_text_masks_url_params_inside_text() -> None:
    """URLs written inside free text have their sensitive parameters masked."""
    text = "GET https://api.test/e?page=1&api_key=abc123 failed; retry ?token=xyz"
    assert redact_text(text) == "GET https://api.test/e?page=1&api_key=*** failed; retry ?token=***"


def test_extra_secrets_are_masked_for_one_call() -> None:
    """redact_text(extra_secrets=...) masks values that are not registered process-wide."""
    assert redact_text("echo: local-only-secret", extra_secrets=["local-only-secret"]) == "echo: ***"
    assert redact_text("echo: local-only-secret") == "echo: local-only-secret"


def test_redacting_filter_rewrites_the_formatted_message(secret: str) -> None:
    """RedactingFilter formats the record, masks secrets (lazy % args included) and clears args."""
    record = logging.LogRecord(
        "t", logging.INFO, __file__, 1, "sent %s to %s", (secret, "https://a.test/?token=zz"), None
    )
    assert RedactingFilter().filter(record) is True
    assert record.msg == "sent *** to https://a.test/?token=***"
    assert record.args == ()
    assert record.getMessage() == record.msg


def test_redacting_filter_masks_tracebacks(secret: str) -> None:
    """Exception text attached to a record is redacted too."""
    try:
        raise RuntimeError(f"boom {secret}")
    except RuntimeError:
        import sys

        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    RedactingFilter().filter(record)
    assert record.exc_text is not None
    assert secret not in record.exc_text
    assert "boom ***" in record.exc_text


def test_redacting_filter_survives_bad_arguments() -> None:
    """A record whose % arguments do not match is still passed on, redacted, instead of raising."""
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "%s %s", ("only-one?token=abc",), None)
    assert RedactingFilter().filter(record) is True
    assert "abc" not in record.getMessage()
