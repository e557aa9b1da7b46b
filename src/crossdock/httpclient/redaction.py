"""Redaction of secrets from URLs, headers and free text before they reach a message, hook or log line.

Three layers: :func:`redact_url` masks sensitive query parameters and userinfo passwords by name;
:func:`redact_headers` masks credential headers by name; :func:`redact_text` replaces every secret
*value* registered with :func:`register_secret` (the client registers its ``secret_headers``) and
masks sensitive ``name=value`` pairs of URLs written inside text. :class:`RedactingFilter` applies
:func:`redact_text` to every log record it sees.

A secret is masked in every form a library is likely to print it, not only as its exact text: see
:func:`printed_forms` (``repr``, bytes ``repr``, JSON, percent-encoding, and those escaped once more,
as a Prometheus label or a JSON log line does to an exception's text).

Redaction errs on the side of masking (``postcode`` contains ``code``). This module must not log: the
filter class is the only reason it imports :mod:`logging`.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
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
# The registered forms, longest first (so a form that contains another is masked whole); rebuilt on change.
_ordered: tuple[str, ...] = ()


def is_sensitive_param(name: str) -> bool:
    """Whether a query parameter's value must be masked (case-insensitive name match)."""
    lowered = name.lower()
    return any(marker in lowered for marker in _SENSITIVE_PARAM_MARKERS)


def is_sensitive_header(name: str) -> bool:
    """Whether a header's value must be masked."""
    lowered = name.lower()
    return lowered in _SENSITIVE_HEADERS or any(marker in lowered for marker in _SENSITIVE_HEADER_MARKERS)


def register_secret(value: str | None) -> None:
    """Have :func:`redact_text` mask ``value`` in all its :func:`printed_forms`, from now on, process-wide."""
    global _ordered
    forms = printed_forms(value)
    with _secrets_lock:
        _secrets.update(forms)
        _ordered = _longest_first(_secrets)


def unregister_secret(value: str | None) -> None:
    """Stop masking ``value`` (for tests that clean up after themselves)."""
    global _ordered
    forms = printed_forms(value)
    with _secrets_lock:
        _secrets.difference_update(forms)
        _ordered = _longest_first(_secrets)


def redact_text(text: str, *, extra_secrets: Iterable[str] = ()) -> str:
    """``text`` with registered secrets (and ``extra_secrets``) in any printed form replaced by ``***``,
    and sensitive ``name=value`` pairs of URLs masked."""
    with _secrets_lock:
        ordered = _ordered
    extra: set[str] = set()
    for value in extra_secrets:
        extra.update(printed_forms(value))
    if extra:
        ordered = _longest_first(extra.union(ordered))
    for secret in ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    return _PAIR_IN_TEXT.sub(_mask_pair_match, text)


def printed_forms(value: str | None) -> frozenset[str]:
    """Every form of ``value`` masked by :func:`redact_text`; empty below :data:`MIN_SECRET_LENGTH`.

    The text itself, its ``repr`` (``str`` and UTF-8 ``bytes``, as exception messages quote values),
    JSON string escaping (ASCII-only and not), percent-encoding (``quote``, ``quote_plus``, lower-case
    hex), and each of those escaped once more by ``repr``, JSON or a Prometheus label (an exception
    text quoting a header value as ``b'…\\n'`` and then exposed as a label doubles its backslashes).
    """
    if value is None or len(value) < MIN_SECRET_LENGTH:
        return frozenset()
    once = {escape(value) for escape in _ESCAPES} | _percent_forms(value)
    twice = {escape(form) for form in once for escape in _ESCAPES}
    return frozenset(once | twice)


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


def _repr_inner(text: str) -> str:
    return repr(text)[1:-1]


def _bytes_repr_inner(text: str) -> str:
    return repr(text.encode("utf-8", errors="surrogateescape"))[2:-1]


def _json_inner(text: str) -> str:
    return json.dumps(text)[1:-1]


def _json_unicode_inner(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _prometheus_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


_ESCAPES: tuple[Callable[[str], str], ...] = (
    lambda text: text,
    _repr_inner,
    _bytes_repr_inner,
    _json_inner,
    _json_unicode_inner,
    _prometheus_label,
)
_PERCENT_ESCAPE = re.compile(r"%[0-9A-F]{2}")


def _percent_forms(value: str) -> set[str]:
    encoded = {quote(value, safe=""), quote(value), quote_plus(value)}
    return encoded | {_PERCENT_ESCAPE.sub(lambda match: match.group(0).lower(), form) for form in encoded}


def _longest_first(forms: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(forms, key=len, reverse=True))


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
