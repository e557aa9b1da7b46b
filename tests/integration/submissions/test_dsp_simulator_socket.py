"""The DSP simulator over a real socket on 127.0.0.1: a dropped answer is a transport error for the
client, yet its effect is committed and a retry with the same Idempotency-Key finds it (no duplicate).

Proved on granian, the server ``crossdock simulate dsp`` runs (the command started as a process), and on
uvicorn (``tests.support.servers.serve_in_thread``), which other tests use to serve apps in a thread.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from crossdock.submissions.simulator.app import API_KEYS_ENV_VAR, DspSimulatorOptions, create_app, key_id
from tests.support.processes import free_port, stop, wait_until_answering
from tests.support.servers import serve_in_thread

START_TIMEOUT_SECONDS = 15.0
KEY = "dsp-socket-test-key"
OTHER_KEY = "dsp-socket-test-other-key"
CAMPAIGN = {
    "name": "Summer Styles 2025",
    "budget": 15000,
    "start_date": "2025-07-01",
    "end_date": "2025-08-15",
    "objective": "engagement",
}

# `crossdock simulate dsp` as it will be mounted once the capability lists it: a sub-command `dsp`.
COMMAND = """
import typer
from crossdock.submissions.simulator.cli import SIMULATOR

app = typer.Typer()

@app.callback()
def simulate() -> None:
    '''Run fake upstream APIs.'''

app.command(name=SIMULATOR.name)(SIMULATOR.command)
app()
"""


def prove_drop_after_commit(base_url: str) -> None:
    """Drop on: the POST fails in transport; drop off: the same key answers the committed entity."""
    headers = {"authorization": f"Bearer {KEY}", "idempotency-key": "campaign-1-v1"}
    with httpx.Client(base_url=base_url, timeout=5.0) as client:
        assert client.put("/_control", json={"drop_after_commit_rate": 1.0}).status_code == 200
        with pytest.raises(httpx.TransportError):
            client.post("/v1/campaigns", json=CAMPAIGN, headers=headers)
        after_drop: dict[str, Any] = client.get("/_control").json()["counters"]
        assert client.put("/_control", json={"drop_after_commit_rate": 0.0}).status_code == 200
        retried = client.post("/v1/campaigns", json=CAMPAIGN, headers=headers)
        read = client.get(f"/v1/campaigns/{retried.json()['id']}", headers={"authorization": f"Bearer {KEY}"})
        final: dict[str, Any] = client.get("/_control").json()["counters"]
    assert after_drop["created"]["campaigns"] == 1
    assert after_drop["dropped"] == 1
    assert retried.status_code == 202
    assert retried.headers["idempotent-replayed"] == "true"
    assert read.status_code == 200
    assert read.json() == {"id": retried.json()["id"], "status": "Completed"}
    assert final["created"] == {"campaigns": 1, "ad_groups": 0, "ads": 0}
    assert final["duplicates"] == {"campaigns": 0, "ad_groups": 0, "ads": 0}
    assert final["replayed"] == 1
    assert final["by_key"][key_id(KEY)]["requests"] == 3  # the dropped POST, the retry, the GET


@pytest.fixture
def granian_simulator() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    environment = {**os.environ, API_KEYS_ENV_VAR: f"{KEY},{OTHER_KEY}"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            COMMAND,
            "dsp",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--processing-seconds",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{base_url}/health", process, timeout=START_TIMEOUT_SECONDS)
        yield base_url, process
    finally:
        stop(process)
        process.communicate()


def test_on_granian_a_dropped_answer_is_a_transport_error_and_the_retry_finds_the_entity(
    granian_simulator: tuple[str, subprocess.Popen[str]],
) -> None:
    """`crossdock simulate dsp` (granian) drops the answer after the commit; the same key recovers it."""
    base_url, process = granian_simulator
    prove_drop_after_commit(base_url)
    assert stop(process) == 0
    output, errors = process.communicate()
    assert f"dsp simulator listening on {base_url}" in output
    assert f"2 API keys accepted (key ids: {key_id(KEY)}, {key_id(OTHER_KEY)})" in output
    assert KEY not in output + errors
    assert "Traceback" not in errors  # a drop is no application error in the server's log


def test_on_granian_the_rate_limit_holds_over_http(
    granian_simulator: tuple[str, subprocess.Popen[str]],
) -> None:
    """The 41st request of a key within 60 s is 429 with Retry-After; the other key is not limited."""
    base_url, _ = granian_simulator
    with httpx.Client(base_url=base_url, timeout=5.0) as client:
        mine = {"authorization": f"Bearer {KEY}"}
        answers = [client.get("/v1/statuses?ids=x", headers=mine) for _ in range(41)]
        other = client.get("/v1/statuses?ids=x", headers={"authorization": f"Bearer {OTHER_KEY}"})
        state = client.get("/_control").json()["counters"]
    assert [answer.status_code for answer in answers] == [200] * 40 + [429]
    assert int(answers[-1].headers["retry-after"]) >= 1
    assert answers[-1].headers["x-ratelimit-remaining"] == "0"
    assert other.status_code == 200
    assert state["over_limit"] == 1
    assert state["by_key"][key_id(KEY)]["max_in_window"] == 40


def test_on_uvicorn_a_dropped_answer_is_a_transport_error_and_the_retry_finds_the_entity() -> None:
    """The same proof with the app served by uvicorn in a thread, as other socket tests serve apps."""
    app = create_app(DspSimulatorOptions(api_keys=(KEY,), processing_seconds=0))
    with serve_in_thread(app) as base_url:
        prove_drop_after_commit(base_url)
