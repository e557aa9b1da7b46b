"""Metric labels come from closed sets: an upstream attempt is labelled by status or kind, never text."""

from __future__ import annotations

import re
import secrets
from typing import get_args

import pytest
from prometheus_client import generate_latest

from crossdock.httpclient import ErrorKind, RequestEvent
from crossdock.observability.metrics import MetricsHook


def upstream_name() -> str:
    return "probe-" + secrets.token_hex(4)


def status_labels(upstream: str) -> list[str]:
    """The ``status`` label values of crossdock_upstream_requests_total for one upstream."""
    exposition = generate_latest().decode()
    pattern = re.compile(
        r'^crossdock_upstream_requests_total\{status="(?P<status>(?:[^"\\]|\\.)*)",upstream="'
        + re.escape(upstream)
        + r'"\}',
        re.MULTILINE,
    )
    return [match.group("status") for match in pattern.finditer(exposition)]


def event(upstream: str, **fields: object) -> RequestEvent:
    values: dict[str, object] = {
        "upstream": upstream,
        "method": "GET",
        "url": "http://u.test/x",
        "status": None,
        "elapsed_seconds": 0.01,
        "error": None,
    }
    values.update(fields)
    return RequestEvent(**values)  # type: ignore[arg-type]


def test_a_transport_failure_is_labelled_by_its_kind_not_its_message() -> None:
    """The issue's label: the error text (quoting a key) is never a label value, its kind is."""
    upstream = upstream_name()
    leaked = secrets.token_hex(8)
    text = f"connection error (LocalProtocolError: Illegal header value b'{leaked}\\n')"
    MetricsHook()(event(upstream, error=text, error_kind="unsendable"))
    assert status_labels(upstream) == ["unsendable"]
    assert leaked not in generate_latest().decode()


@pytest.mark.parametrize(
    ("fields", "label"),
    [
        ({"status": 503}, "503"),
        (
            {
                "status": 200,
                "error": "connection error (RemoteProtocolError: cut)",
                "error_kind": "protocol_error",
            },
            "protocol_error",
        ),
        ({"status": 200, "error": "too large", "error_kind": "body_too_large"}, "body_too_large"),
        ({"error": "timeout (ReadTimeout: slow)", "error_kind": "timeout"}, "timeout"),
        ({"error": "something a hook never saw before"}, "other"),
    ],
)
def test_status_label_is_a_status_or_a_kind(fields: dict[str, object], label: str) -> None:
    """A status labels answers; an error kind wins over the status; an unknown failure is 'other'."""
    upstream = upstream_name()
    MetricsHook()(event(upstream, **fields))
    assert status_labels(upstream) == [label]


def test_every_error_kind_is_a_short_identifier() -> None:
    """The closed set of kinds holds label-safe identifiers, 'other' included."""
    kinds = get_args(ErrorKind)
    assert "other" in kinds
    assert {"connect_error", "timeout", "protocol_error", "unsendable", "body_too_large"} <= set(kinds)
    assert all(re.fullmatch(r"[a-z_]+", kind) for kind in kinds)
