"""The KrakenFlex simulator as a real server: `python -m crossdock simulate krakenflex` on 127.0.0.1."""

from __future__ import annotations

import secrets
import subprocess
import sys

import httpx
from tests.support.processes import free_port, stop, wait_until_answering

from crossdock.site_outages.simulator.app import BASE_PATH, load_data

START_TIMEOUT_SECONDS = 15.0


def test_cli_serves_site_info_to_a_client_holding_the_key() -> None:
    """Started with --api-key, the server announces itself, never prints the key, serves only that key."""
    port = free_port()
    key = secrets.token_urlsafe(16)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "crossdock",
            "simulate",
            "krakenflex",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--api-key",
            key,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(f"{base_url}/health", process, timeout=START_TIMEOUT_SECONDS)
        with httpx.Client(base_url=base_url, timeout=5.0) as client:
            served = client.get(f"{BASE_PATH}/site-info/norwich-pear-tree", headers={"x-api-key": key})
            refused = client.get(f"{BASE_PATH}/site-info/norwich-pear-tree", headers={"x-api-key": "nope"})
    finally:
        exit_code = stop(process)
        output, _ = process.communicate()
    assert served.status_code == 200
    assert served.content == load_data("site-info-norwich-pear-tree.json")
    assert refused.status_code == 403
    assert exit_code == 0
    assert f"krakenflex simulator listening on {base_url}{BASE_PATH}" in output
    assert "x-api-key: given by --api-key" in output
    assert key not in output
