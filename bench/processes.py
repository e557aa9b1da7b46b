"""Child processes of the benchmarks: start on loopback, wait until ready, always stop.

Every child runs in its own process group, so stopping it also stops what it forked (granian
workers, the simulator's server). The groups alive are listed in the file named by
``BENCH_PIDFILE`` (one group id a line) so that ``bench/run.sh`` can stop them from its EXIT trap
even if the Python driver itself was killed. Nothing here talks to anything but 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
STOP_GRACE_SECONDS = 10.0

_alive: dict[int, subprocess.Popen[bytes]] = {}


class BenchError(Exception):
    """Raised when a benchmark cannot go on (a child exited, a server never became ready)."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the usual bind-to-0 trick; tiny race accepted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def _write_pidfile() -> None:
    path = os.environ.get("BENCH_PIDFILE")
    if path:
        Path(path).write_text("".join(f"{pgid}\n" for pgid in _alive))


def start(argv: Sequence[str], *, log: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own process group, stdout and stderr into ``log``."""
    with log.open("ab") as sink:
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=None if env is None else dict(env),
            start_new_session=True,
        )
    _alive[process.pid] = process
    _write_pidfile()
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the child's group, SIGKILL whatever is left after a grace period."""
    pgid = process.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_GRACE_SECONDS)
    # The leader may be gone while forked workers linger: the group decides.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_GRACE_SECONDS)
    _alive.pop(pgid, None)
    _write_pidfile()


def stop_all() -> None:
    for process in list(_alive.values()):
        stop(process)


@contextlib.contextmanager
def running(
    argv: Sequence[str], *, log: Path, env: Mapping[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``argv`` for the duration of a ``with`` block."""
    process = start(argv, log=log, env=env)
    try:
        yield process
    finally:
        stop(process)


def stop_on_sigterm() -> None:
    """Turn SIGTERM (from ``timeout`` or the trap of run.sh) into a normal exit that runs cleanups."""

    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def http_get(url: str, *, timeout: float = 10.0) -> tuple[int, bytes]:
    """Status and body of a GET on a loopback URL (an HTTP error status is returned, not raised)."""
    if not url.startswith(f"http://{LOOPBACK}:"):
        raise BenchError(f"refusing a non-loopback URL: {url}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback only
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_until(
    what: str,
    check: Callable[[], bool],
    *,
    process: subprocess.Popen[bytes],
    timeout: float,
    log: Path,
) -> float:
    """Poll ``check`` until true; fail early if ``process`` exits. Returns the seconds waited."""
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"{what}: the process exited with code {process.returncode} (log: {log})")
        try:
            if check():
                return time.monotonic() - started
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    raise BenchError(f"{what}: not ready within {timeout:.0f} s (log: {log})")


def health_json(base: str) -> dict[str, Any]:
    status, body = http_get(f"{base}/health", timeout=5)
    if status != 200:
        raise ValueError(f"/health answered {status}")
    answer: dict[str, Any] = json.loads(body)
    return answer


def start_generated_simulator(
    crossdock: Path,
    *,
    base_events: int,
    sessions_per_event: int,
    zones_per_session: int,
    var_dir: Path,
    log: Path,
    timeout: float,
) -> tuple[str, subprocess.Popen[bytes], float]:
    """Start `crossdock simulate marketplace` with a static generated feed on a free loopback port.

    Returns the feed URL, the process and the seconds it took to answer /health.
    """
    port = free_port()
    process = start(
        [
            str(crossdock),
            "simulate",
            "marketplace",
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--scenario",
            "generated",
            "--base-events",
            str(base_events),
            "--sessions-per-event",
            str(sessions_per_event),
            "--zones-per-session",
            str(zones_per_session),
            "--seed",
            "0",
            "--static",
        ],
        log=log,
        env={**os.environ, "CROSSDOCK_VAR_DIR": str(var_dir)},
    )
    base = f"http://{LOOPBACK}:{port}"
    waited = wait_until(
        "simulator",
        lambda: http_get(f"{base}/health", timeout=5)[0] == 200,
        process=process,
        timeout=timeout,
        log=log,
    )
    return f"{base}/api/events", process, waited
