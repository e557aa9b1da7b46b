"""Secrets as an operator meets them: a key read from a secret file (trailing newline) works, a key
no header can carry stops the command in one line without showing it, and /metrics of a running
service labels upstream attempts by status or error kind, never by an error's text."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest

from crossdock.httpclient import ErrorKind
from tests.e2e.conftest import clean_env, run_cli, running_simulator
from tests.support.processes import free_port

pytestmark = pytest.mark.e2e

VARIABLE = "CROSSDOCK_SITE_OUTAGES_API_KEY"
KINDS = frozenset(get_args(ErrorKind))
LABEL = re.compile(r'(?P<name>[a-z_]+)="(?P<value>(?:[^"\\]|\\.)*)"')


def generated_key() -> str:
    return "test-" + secrets.token_hex(12)  # generated per run: never a real credential


class Platform:
    """The krakenflex simulator process and its key."""

    def __init__(self, base_url: str, key: str, process: subprocess.Popen[bytes]) -> None:
        self.base_url = base_url
        self.key = key
        self.process = process


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    key = generated_key()
    with running_simulator(tmp_path, "krakenflex", "--api-key", key) as (base, process):
        yield Platform(base, key, process)


def cli_env(tmp_path: Path, base_url: str, **overrides: str) -> dict[str, str]:
    return clean_env(
        CROSSDOCK_SITE_OUTAGES_BASE_URL=base_url,
        CROSSDOCK_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'crossdock.db'}",
        CROSSDOCK_VAR_DIR=str(tmp_path / "var"),
        CROSSDOCK_HTTP_RATE_LIMIT="0",
        **overrides,
    )


def test_a_key_from_a_secret_file_with_its_newline_works(platform: Platform, tmp_path: Path) -> None:
    """A key ending with a newline (a secret file) is stripped: the run succeeds and shows no key."""
    env = cli_env(tmp_path, platform.base_url, **{VARIABLE: platform.key + "\n"})
    result = run_cli("site-outages", "process", "norwich-pear-tree", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["outcome"] == "success"
    runs = run_cli("site-outages", "runs", "--json", env=env)
    assert json.loads(runs.stdout)[0]["error"] is None
    assert platform.key[5:] not in result.stdout + result.stderr + runs.stdout + runs.stderr


@pytest.mark.parametrize("bad", ["\n", "é", " "], ids=["inner newline", "non-ASCII", "inner space"])
def test_a_key_no_header_can_carry_stops_in_one_line_without_it(tmp_path: Path, bad: str) -> None:
    """An inner newline, space or non-ASCII letter: exit 2, one line naming the variable, no key text."""
    key = generated_key()
    broken = key[:12] + bad + key[12:]
    env = cli_env(tmp_path, "http://127.0.0.1:9/v1", **{VARIABLE: broken})
    result = run_cli("site-outages", "process", "norwich-pear-tree", env=env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: invalid setting {VARIABLE}: ")
    assert key[5:12] not in result.stdout + result.stderr
    assert key[12:] not in result.stdout + result.stderr


def test_the_api_key_option_is_checked_the_same_way(tmp_path: Path) -> None:
    """`--api-key` with an inner newline: exit 2, one line naming the option, no key text."""
    key = generated_key()
    env = cli_env(tmp_path, "http://127.0.0.1:9/v1")
    result = run_cli(
        "site-outages", "process", "norwich-pear-tree", "--api-key", key[:12] + "\n" + key[12:], env=env
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1
    assert "--api-key" in result.stderr
    assert key[5:12] not in result.stdout + result.stderr
    assert key[12:] not in result.stdout + result.stderr


def upstream_statuses(metrics: str) -> dict[str, set[str]]:
    """The ``status`` labels of crossdock_upstream_requests_total, by upstream."""
    found: dict[str, set[str]] = {}
    for line in metrics.splitlines():
        if line.startswith("crossdock_upstream_requests_total{"):
            labels = dict(match.group("name", "value") for match in LABEL.finditer(line.split("}")[0]))
            found.setdefault(labels["upstream"], set()).add(labels["status"])
    return found


def test_metrics_labels_never_carry_error_text(platform: Platform, make_service: Any) -> None:
    """/metrics of a running service (an upstream down, a key with a newline) has no error text or key."""
    with_newline = platform.key + "\n"
    service = make_service(
        f"http://127.0.0.1:{free_port()}/api/events",
        CROSSDOCK_SITE_OUTAGES_BASE_URL=platform.base_url,
        CROSSDOCK_SITE_OUTAGES_SITES="norwich-pear-tree",
        CROSSDOCK_HTTP_RATE_LIMIT="0",
        **{VARIABLE: with_newline},
    )

    def both_upstreams_called() -> dict[str, set[str]] | None:
        statuses = upstream_statuses(service.get("/metrics").text)
        return statuses if {"marketplace", "krakenflex"} <= set(statuses) else None

    statuses = service.wait_for(both_upstreams_called, timeout=30, what="attempts to both upstreams")
    assert "connect_error" in statuses["marketplace"]
    assert "200" in statuses["krakenflex"]
    for values in statuses.values():
        assert all(value.isdigit() or value in KINDS for value in values), statuses
    metrics = service.get("/metrics").text
    for line in metrics.splitlines():
        if line.startswith("crossdock_"):
            for match in LABEL.finditer(line.split("}")[0]):
                assert re.fullmatch(r"[A-Za-z0-9_./:{}+-]*", match.group("value")), line
    assert platform.key[5:] not in metrics
