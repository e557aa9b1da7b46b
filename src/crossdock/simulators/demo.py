"""Start a simulator as a child process for ``crossdock serve --with-simulator`` (``make run``).

Generic: it runs ``crossdock simulate <name>`` on a free loopback port and waits until it answers;
each capability's simulator decides what to start and which of its settings point at it.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping

from crossdock.errors import ConfigurationError

READY_TIMEOUT_SECONDS = 20.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def start_simulator(
    name: str, *, ready_path: str, args: tuple[str, ...] = (), env: Mapping[str, str] | None = None
) -> str:
    """Start ``crossdock simulate NAME`` on 127.0.0.1 and return its base URL once it answers.

    ``env`` adds environment variables (secrets go there, never on the command line). The process
    is stopped when this one exits. Raises :class:`ConfigurationError` if it exits at
    start or does not answer ``ready_path`` in time.
    """
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
        [
            sys.executable,
            "-m",
            "crossdock",
            "simulate",
            name,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *args,
        ],
        stdout=subprocess.DEVNULL,
        env={**os.environ, **env} if env else None,
    )
    atexit.register(_stop, process)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConfigurationError(f"the {name} simulator exited at start (code {process.returncode})")
        try:
            with urllib.request.urlopen(f"{base}{ready_path}", timeout=1):  # noqa: S310 - loopback URL we built
                return base
        except OSError:
            time.sleep(0.2)
    _stop(process)
    raise ConfigurationError(
        f"the {name} simulator did not answer on {base} within {READY_TIMEOUT_SECONDS:.0f}s"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
