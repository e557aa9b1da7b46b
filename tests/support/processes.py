"""Run our own commands as real processes on 127.0.0.1 in tests: free ports, readiness, shutdown."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest


def free_port() -> int:
    """A TCP port nobody listens on right now on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until_answering(
    url: str,
    process: subprocess.Popen[Any],
    *,
    timeout: float,
    details: Callable[[], str] = lambda: "",
) -> None:
    """Poll ``url`` until it answers below 500; fail the test if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"process exited with {process.returncode} before answering {url}\n{details()}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    pytest.fail(f"{url} did not answer within {timeout:g} s\n{details()}")


def stop(process: subprocess.Popen[Any], *, timeout: float = 10.0) -> int:
    """SIGTERM, wait, then SIGKILL if needed; return the exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    return process.returncode
