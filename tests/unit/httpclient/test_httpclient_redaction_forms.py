"""Redaction masks every printed form of a registered secret: repr, bytes repr, JSON, percent-encoded,
and escaped twice (a Prometheus label of an exception text), not only the exact text."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Iterator
from urllib.parse import quote, quote_plus

import orjson
import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest

from crossdock.httpclient import redact_text, register_secret, unregister_secret


def tricky_secret() -> str:
    """A generated value holding a newline, both quotes, a backslash and a non-ASCII letter."""
    return f"k{secrets.token_hex(6)}\n'\"\\é{secrets.token_hex(4)}"


def prometheus_label(text: str) -> str:
    """How the Prometheus text format escapes a label value."""
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


FORMS: dict[str, Callable[[str], str]] = {
    "raw": lambda value: value,
    "repr": lambda value: repr(value)[1:-1],
    "bytes repr": lambda value: repr(value.encode())[2:-1],
    "json": lambda value: json.dumps(value)[1:-1],
    "json unicode": lambda value: json.dumps(value, ensure_ascii=False)[1:-1],
    "orjson": lambda value: orjson.dumps(value).decode()[1:-1],
    "percent": lambda value: quote(value, safe=""),
    "percent in a path": lambda value: quote(value),
    "percent lower-case": lambda value: re.sub(
        "%[0-9A-F]{2}", lambda hex_: hex_.group(0).lower(), quote(value)
    ),
    "form": lambda value: quote_plus(value),
    "repr of repr": lambda value: repr(repr(value)[1:-1])[1:-1],
    "json of repr": lambda value: json.dumps(repr(value)[1:-1])[1:-1],
    "prometheus label of bytes repr": lambda value: prometheus_label(repr(value.encode())[2:-1]),
    "prometheus label of repr": lambda value: prometheus_label(repr(value)[1:-1]),
}


@pytest.fixture
def secret() -> Iterator[str]:
    value = tricky_secret()
    register_secret(value)
    yield value
    unregister_secret(value)


@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_printed_form_of_a_registered_secret_is_masked(secret: str, form: str) -> None:
    """Each way a library may print the secret (escaped, encoded, escaped twice) becomes ***."""
    printed = FORMS[form](secret)
    assert redact_text(f"before <{printed}> after") == "before <***> after"


@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_printed_form_of_an_extra_secret_is_masked(form: str) -> None:
    """Secrets passed for one call (a request's own credential headers) get the same forms masked."""
    value = tricky_secret()
    printed = FORMS[form](value)
    assert redact_text(f"<{printed}>", extra_secrets=[value]) == "<***>"


def test_unregistering_forgets_every_form(secret: str) -> None:
    """unregister_secret stops masking the escaped forms too (tests clean up after themselves)."""
    unregister_secret(secret)
    assert repr(secret)[1:-1] in redact_text(repr(secret))


def test_an_exception_text_in_a_prometheus_exposition_is_masked(secret: str) -> None:
    """The label of the issue, an httpx error text escaped again by Prometheus, is masked."""
    registry = CollectorRegistry()
    counter = Counter("leak_probe_total", "probe", ["status"], registry=registry)
    counter.labels(f"connection error (LocalProtocolError: Illegal header value {secret.encode()!r})").inc()
    exposition = generate_latest(registry).decode()
    redacted = redact_text(exposition)
    assert "***" in redacted
    head, tail = secret[1:13], secret[-8:]
    assert head not in redacted
    assert tail not in redacted


def test_short_values_still_are_not_registered_in_any_form() -> None:
    """The minimum length applies to the secret itself, so escaped forms of "a'b" are not masked."""
    register_secret("a'b")
    assert redact_text("a'b a\\'b") == "a'b a\\'b"
