"""``crossdock serve``: migrate the embedded database, maybe start the provider simulator, run the server."""

from __future__ import annotations

import atexit
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import typer

from crossdock.config import Settings
from crossdock.errors import ConfigurationError
from crossdock.observability.logging import server_log_config
from crossdock.storage.migrate import upgrade

SIMULATOR_READY_TIMEOUT = 20.0


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def start_simulator() -> tuple[subprocess.Popen[bytes], str]:
    """Start ``crossdock simulate marketplace`` on a free loopback port; return it and its feed URL."""
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
        [
            sys.executable,
            "-m",
            "crossdock",
            "simulate",
            "marketplace",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
    )
    atexit.register(_stop, process)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SIMULATOR_READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConfigurationError(f"the marketplace simulator exited at start (code {process.returncode})")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=1):  # noqa: S310 - loopback URL we built
                return process, f"{base}/api/events"
        except OSError:
            time.sleep(0.2)
    _stop(process)
    raise ConfigurationError(
        f"the marketplace simulator did not answer on {base} within {SIMULATOR_READY_TIMEOUT:.0f}s"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()


def serve(settings: Settings, *, host: str, port: int, workers: int, with_simulator: bool) -> None:
    """Run the service in the foreground until interrupted."""
    if settings.database.is_sqlite:
        typer.echo("migrating the embedded database ...", err=True)
        upgrade(settings.database.url)
    if with_simulator:
        if "provider_url" in settings.marketplace.model_fields_set:
            typer.echo(f"provider:  {settings.marketplace.provider_url} (CROSSDOCK_MARKETPLACE_PROVIDER_URL)")
        else:
            _process, url = start_simulator()
            os.environ["CROSSDOCK_MARKETPLACE_PROVIDER_URL"] = url
            typer.echo(f"provider:  {url} (local marketplace simulator)")
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="crossdock-metrics-")
        atexit.register(shutil.rmtree, metrics_dir, ignore_errors=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    typer.echo(f"service:   http://{shown_host}:{port}/search  (docs: http://{shown_host}:{port}/docs)")
    sys.stdout.flush()

    from granian.constants import Interfaces
    from granian.server import Server

    # Workers start as fresh interpreters: they read the environment set above (simulator URL,
    # metrics directory) instead of inheriting this process's already-imported modules.
    multiprocessing.set_start_method("spawn", force=True)

    server = Server(
        "crossdock.api.app:app_from_env",
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        factory=True,
        log_level=settings.log.level.lower(),  # type: ignore[arg-type]
        log_dictconfig=server_log_config(settings.log),
        backlog=2048,
    )
    server.serve()
