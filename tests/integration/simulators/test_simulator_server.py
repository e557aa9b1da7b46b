"""The marketplace simulator as a real server: the CLI started as a subprocess on 127.0.0.1."""

from __future__ import annotations

import select
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from tests.support.processes import free_port, stop, wait_until_answering

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures" / "fever"
START_TIMEOUT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class RunningSimulator:
    process: subprocess.Popen[str]
    base_url: str
    announcement: str


def wait_until_healthy(base_url: str, process: subprocess.Popen[str]) -> None:
    wait_until_answering(f"{base_url}/health", process, timeout=START_TIMEOUT_SECONDS)


@pytest.fixture
def marketplace_simulator() -> Iterator[RunningSimulator]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from crossdock.simulators.cli import app; app()",
            "marketplace",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_until_healthy(base_url, process)
        assert process.stdout is not None
        readable, _, _ = select.select([process.stdout], [], [], START_TIMEOUT_SECONDS)
        announcement = process.stdout.readline().strip() if readable else ""
        yield RunningSimulator(process, base_url, announcement)
    finally:
        stop(process)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_served_samples_rotate_and_are_byte_identical_to_the_fixtures(
    marketplace_simulator: RunningSimulator,
) -> None:
    """Over real HTTP the simulator announces its URL and answers responses 1, 2, 3 byte for byte."""
    expected = [(FIXTURES / f"response_{n}.xml").read_bytes() for n in (1, 2, 3)]
    url = f"{marketplace_simulator.base_url}/api/events"
    assert marketplace_simulator.announcement == f"marketplace simulator listening on {url}"
    with httpx.Client(timeout=5.0) as client:
        responses = [client.get(url) for _ in expected]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert [r.content for r in responses] == expected
    assert all(r.headers["content-type"] == "application/xml" for r in responses)


def test_control_api_injects_errors_and_reset_clears_them(marketplace_simulator: RunningSimulator) -> None:
    """PUT /_control error_rate=1 turns answers into 5xx; POST /_control/reset brings back response 1."""
    base = marketplace_simulator.base_url
    with httpx.Client(base_url=base, timeout=5.0) as client:
        assert client.put("/_control", json={"error_rate": 1.0}).status_code == 200
        failures = [client.get("/api/events").status_code for _ in range(5)]
        state = client.get("/_control").json()
        assert client.post("/_control/reset").status_code == 200
        after = client.get("/api/events")
    assert all(500 <= status < 600 for status in failures)
    assert state["counters"]["faults"]["error"] == 5
    assert after.status_code == 200
    assert b'base_event_id="322"' in after.content  # only response 1 has base event 322


def test_a_held_request_is_dropped_when_the_client_gives_up(marketplace_simulator: RunningSimulator) -> None:
    """A timeout fault outlasts the client's timeout; the server keeps answering and then stops cleanly."""
    base = marketplace_simulator.base_url
    with httpx.Client(base_url=base, timeout=5.0) as client:
        client.put("/_control", json={"timeout_rate": 1.0})
        with pytest.raises(httpx.ReadTimeout):
            client.get("/api/events", timeout=0.3)
        assert client.get("/health").text == "ok"
        assert client.get("/_control").json()["counters"]["faults"]["timeout"] == 1
    started = time.monotonic()
    assert stop(marketplace_simulator.process) == 0
    assert time.monotonic() - started < STOP_TIMEOUT_SECONDS
