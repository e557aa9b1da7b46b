"""Redaction of secrets from URLs, headers and free text before they reach a message, hook or log line.

Three layers: :func:`redact_url` masks sensitive query parameters and userinfo passwords by name;
:func:`redact_headers` masks credential headers by name; :func:`redact_text` replaces every secret
*value* registered with :func:`register_secret` (the client registers its ``secret_headers``) and
masks sensitive ``name=value`` pairs of URLs written inside text. :class:`RedactingFilter` applies
:func:`redact_text` to every log record it sees.

Redaction errs on the side of masking (``postcode`` contains ``code``). This module must not log: the
filter class is the only reason it imports :mod:`logging`.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from urllib.parse import quote, quote_plus, unquote_plus, urlsplit, urlunsplit

import httpx

MASK = "***"
MIN_SECRET_LENGTH = 4
"""Shorter values are not registered: masking every "abc" in every message would destroy them."""

_SENSITIVE_PARAM_MARKERS = (
    "key",
    "token",
    "secret",
    "password",
    "passwd",
    "signature",
    "sig",
    "auth",
    "credential",
    "session",
    "apikey",
    "api_key",
    "access_token",
    "code",
)
_SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"})
_SENSITIVE_HEADER_MARKERS = ("key", "token", "secret", "auth")
# A name=value pair after "?", "&" or ";" as it appears in a URL written inside free text.
_PAIR_IN_TEXT = re.compile(r"(?P<lead>[?&;])(?P<name>[^=&;\s#?]+)=(?P<value>[^&;\s#\"'<>]*)")

_secrets_lock = threading.Lock()
_secrets: set[str] = set()


def is_sensitive_param(name: str) -> bool:
    """Whether a query parameter's value must be masked (case-insensitive name match)."""
    lowered = name.lower()
    return any(marker in lowered for marker in _SENSITIVE_PARAM_MARKERS)


def is_sensitive_header(name: str) -> bool:
    """Whether a header's value must be masked."""
    lowered = name.lower()
    return lowered in _SENSITIVE_HEADERS or any(marker in lowered for marker in _SENSITIVE_HEADER_MARKERS)


def register_secret(value: str | None) -> None:
    """Have :func:`redact_text` mask ``value`` (and its URL-encoded forms) from now on in this process."""
    for variant in _variants(value):
        with _secrets_lock:
            _secrets.add(variant)


def unregister_secret(value: str | None) -> None:
    """Stop masking ``value`` (for tests that clean up after themselves)."""
    for variant in _variants(value):
        with _secrets_lock:
            _secrets.discard(variant)


def redact_text(text: str, *, extra_secrets: Iterable[str] = ()) -> str:
    """``text`` with registered secrets (and ``extra_secrets``) replaced by ``***``, and sensitive
    ``name=value`` pairs of URLs masked."""
    with _secrets_lock:
        secrets = set(_secrets)
    for value in extra_secrets:
        secrets.update(_variants(value))
    # Longest first, so a secret that contains another is masked whole.
    for secret in sorted(secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return _PAIR_IN_TEXT.sub(_mask_pair_match, text)


def redact_url(url: str | httpx.URL) -> str:
    """``url`` with sensitive query (and fragment) parameter values and any userinfo password masked."""
    text = str(url)
    try:
        parts = urlsplit(text)
    except ValueError:
        # Not parseable as a URL (bad port, bad IPv6 literal): still mask what text redaction can.
        return redact_text(text)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, has_password, _ = userinfo.partition(":")
        if has_password:
            netloc = f"{user}:{MASK}@{hostport}"
    redacted = urlunsplit(
        (parts.scheme, netloc, parts.path, _redact_pairs(parts.query), _redact_pairs(parts.fragment))
    )
    return redact_text(redacted)


def redact_headers(
    headers: Mapping[str, str] | httpx.Headers | Iterable[tuple[str, str]],
) -> dict[str, str]:
    """A copy of ``headers`` safe to show; credential values become ``***`` (an auth scheme is kept)."""
    if isinstance(headers, httpx.Headers):
        items: Iterable[tuple[str, str]] = headers.multi_items()
    elif isinstance(headers, Mapping):
        items = headers.items()
    else:
        items = headers
    result: dict[str, str] = {}
    for name, value in items:
        shown = _mask_header_value(name, value) if is_sensitive_header(name) else redact_text(value)
        result[name] = f"{result[name]}, {shown}" if name in result else shown
    return result


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites each record's final message (and traceback) through :func:`redact_text`.

    The message is formatted here (``record.msg`` becomes the formatted, redacted string and
    ``record.args`` is cleared) so a secret passed as a lazy ``%`` argument is caught too.
    Structured ``extra=`` fields are not inspected: do not put secrets there.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            # Mismatched % arguments: show the raw parts rather than fail the logging call.
            message = f"{record.msg} {record.args}"
        record.msg = redact_text(message)
        record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


def _variants(value: str | None) -> set[str]:
    if value is None or len(value) < MIN_SECRET_LENGTH:
        return set()
    return {value, quote(value, safe=""), quote_plus(value)}


def _redact_pairs(query: str) -> str:
    if "=" not in query:
        return query
    pieces = []
    for piece in query.split("&"):
        name, has_value, value = piece.partition("=")
        if has_value and value and is_sensitive_param(unquote_plus(name)):
            piece = f"{name}={MASK}"
        pieces.append(piece)
    return "&".join(pieces)


def _mask_pair_match(match: re.Match[str]) -> str:
    if not match.group("value") or not is_sensitive_param(unquote_plus(match.group("name"))):
        return match.group(0)
    return f"{match.group('lead')}{match.group('name')}={MASK}"


def _mask_header_value(name: str, value: str) -> str:
    scheme, space, _ = value.partition(" ")
    # "Bearer ***" still tells a reader which scheme was used without showing the credential.
    if name.lower() in {"authorization", "proxy-authorization"} and space and scheme.isalpha():
        return f"{scheme} {MASK}"
    return MASK
