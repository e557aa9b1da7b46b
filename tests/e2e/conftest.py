"""End-to-end fixtures: the real service and the provider simulator as processes on 127.0.0.1.

Every process gets a clean environment (no CROSSDOCK_* leaking in from the developer's shell), its
own temporary directory and database, and is always stopped at the end of the test.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.processes import free_port, stop, wait_until_answering

START_TIMEOUT = 30.0


def clean_env(**overrides: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("CROSSDOCK_")}
    env.update(overrides)
    return env


def wait_until_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    wait_until_answering(url, process, timeout=START_TIMEOUT, details=log.read_text)


@dataclass
class Simulator:
    """The marketplace simulator process and its control API."""

    base_url: str
    process: subprocess.Popen[bytes]

    @property
    def feed_url(self) -> str:
        return f"{self.base_url}/api/events"

    def control(self, **changes: Any) -> dict[str, Any]:
        response = httpx.put(f"{self.base_url}/_control", json=changes, timeout=5)
        response.raise_for_status()
        state: dict[str, Any] = response.json()
        return state

    def serve_body(self, body: bytes) -> None:
        httpx.put(f"{self.base_url}/_control/feed", content=body, timeout=5).raise_for_status()

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = httpx.get(f"{self.base_url}/_control", timeout=5).json()
        return state


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``crossdock ARGS`` as a user would, with a clean environment unless one is given."""
    return subprocess.run(
        [sys.executable, "-m", "crossdock", *args],
        env=env if env is not None else clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass
class Service:
    """A running ``crossdock serve`` and the environment to run CLI commands against the same data."""

    base_url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def get(self, path: str, **params: str) -> httpx.Response:
        return httpx.get(f"{self.base_url}{path}", params=params or None, timeout=10)

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env=self.env, timeout=timeout)

    def wait_for(self, predicate: Any, *, timeout: float = 15.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(0.1)
        pytest.fail(f"timed out waiting for {what}; last value {last!r}\n{self.log.read_text()[-4000:]}")


@contextlib.contextmanager
def running_simulator(
    tmp_path: Path, name: str, *args: str, env: dict[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``crossdock simulate NAME ARGS`` on a free 127.0.0.1 port: its base URL once it answers."""
    port = free_port()
    log = tmp_path / f"{name}-simulator.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "crossdock", "simulate", name, "--port", str(port), *args],
            env=env if env is not None else clean_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(f"{base}/health", process, log)
        yield base, process
    finally:
        stop(process)


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[Simulator]:
    """The provider simulator rotating through the three samples."""
    with running_simulator(tmp_path, "marketplace") as (base, process):
        yield Simulator(base, process)


def embedded_env(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """A clean environment for ``crossdock serve`` on its own SQLite database in ``tmp_path``, the
    marketplace sync off (no provider), plus ``overrides``."""
    return clean_env(
        CROSSDOCK_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'crossdock.db'}",
        CROSSDOCK_VAR_DIR=str(tmp_path / "var"),
        **{"CROSSDOCK_MARKETPLACE_SYNC_ENABLED": "false", **overrides},
    )


def service_env(tmp_path: Path, provider_url: str, **overrides: str) -> dict[str, str]:
    settings = dict(
        CROSSDOCK_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'crossdock.db'}",
        CROSSDOCK_VAR_DIR=str(tmp_path / "var"),
        CROSSDOCK_MARKETPLACE_PROVIDER_URL=provider_url,
        CROSSDOCK_MARKETPLACE_SYNC_INTERVAL="3600",
        CROSSDOCK_API_READ_MODEL_POLL_INTERVAL="0.1",
        CROSSDOCK_HTTP_MAX_ATTEMPTS="3",
        CROSSDOCK_HTTP_BACKOFF_INITIAL="0.05",
        CROSSDOCK_HTTP_BACKOFF_MAX="0.1",
        CROSSDOCK_HTTP_MAX_WAIT="0.2",
        CROSSDOCK_HTTP_READ_TIMEOUT="2",
        CROSSDOCK_HTTP_BREAKER_FAILURE_THRESHOLD="50",
    )
    settings.update(overrides)
    return clean_env(**settings)


def start_service(tmp_path: Path, env: dict[str, str], *args: str, cwd: Path | None = None) -> Service:
    """``crossdock serve --port P ARGS`` with ``env``, once ``/health`` answers (stop it with ``stop``)."""
    port = free_port()
    log = tmp_path / "service.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "crossdock", "serve", "--port", str(port), *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd or tmp_path,
        )
    service = Service(f"http://127.0.0.1:{port}", env, process, log)
    try:
        wait_until_ready(f"{service.base_url}/health", process, log)
    except BaseException:
        stop(process)
        raise
    return service


@pytest.fixture
def make_service(tmp_path: Path) -> Iterator[Any]:
    """Factory: ``make_service(provider_url, **env)`` starts ``crossdock serve``; stopped at the end."""
    started: list[Service] = []

    def make(provider_url: str, **overrides: str) -> Service:
        service = start_service(tmp_path, service_env(tmp_path, provider_url, **overrides))
        started.append(service)
        return service

    yield make
    for service in started:
        stop(service.process)
