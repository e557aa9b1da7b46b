"""``crossdock serve``: migrate the embedded database, maybe start demo simulators, run the server."""

from __future__ import annotations

import atexit
import ipaddress
import multiprocessing
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping

import typer

from crossdock.capabilities import CAPABILITIES
from crossdock.config import Settings
from crossdock.errors import ConfigurationError
from crossdock.manifest import DemoContext
from crossdock.observability.logging import server_log_config
from crossdock.storage.migrate import upgrade


def start_demo_simulators(settings: Settings, service_url: str) -> dict[str, str]:
    """Start each capability's demo simulator (``--with-simulator``); the settings pointing at them.

    ``service_url`` is where the service is about to answer, for simulators that call it.
    """
    environment: dict[str, str] = {}
    context = DemoContext(settings=settings, service_url=service_url)
    for capability in CAPABILITIES:
        simulator = capability.simulator
        if simulator is None or simulator.demo is None:
            continue
        demo = simulator.demo(context)
        if demo is not None:
            environment.update(demo.environment)
            typer.echo(demo.shown)
    return environment


def hand_to_workers(environment: Mapping[str, str]) -> None:
    """Make ``environment`` part of the settings every server worker reads.

    Granian starts each worker as a fresh interpreter (spawn) that reads its settings from the
    environment it inherits from this process; that inheritance is the only channel to them.
    """
    os.environ.update(environment)


def base_url(host: str, port: int) -> str:
    """The URL clients reach a server bound to ``host:port`` at (IPv6 addresses in brackets)."""
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    return f"http://{shown}:{port}"


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to any interface


def check_exposure(settings: Settings, host: str, *, allow_unauthenticated: bool) -> None:
    """Refuse to serve beyond this machine without API keys, unless told so explicitly."""
    if is_loopback(host) or settings.api.keys or allow_unauthenticated or settings.api.allow_unauthenticated:
        return
    raise ConfigurationError(
        f"refusing to serve on {host} without API keys: anyone who can reach it could read run records "
        "and metrics; create keys with `crossdock keys create` and set CROSSDOCK_API_KEYS, or pass "
        "--allow-unauthenticated (CROSSDOCK_API_ALLOW_UNAUTHENTICATED=true) on a trusted network"
    )


def serve(
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int,
    with_simulator: bool,
    allow_unauthenticated: bool = False,
) -> None:
    """Run the service in the foreground until interrupted."""
    check_exposure(settings, host, allow_unauthenticated=allow_unauthenticated)
    if settings.database.is_sqlite:
        typer.echo("migrating the embedded database ...", err=True)
        upgrade(settings.database.url)
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    worker_environment: dict[str, str] = {}
    if with_simulator:
        worker_environment.update(start_demo_simulators(settings, base_url(shown_host, port)))
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="crossdock-metrics-")
        atexit.register(shutil.rmtree, metrics_dir, ignore_errors=True)
        worker_environment["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    hand_to_workers(worker_environment)
    typer.echo(f"service:   http://{shown_host}:{port}/search  (docs: http://{shown_host}:{port}/docs)")
    sys.stdout.flush()

    from granian.constants import Interfaces
    from granian.server import Server

    # Workers start as fresh interpreters: they read the environment set above (simulator URLs,
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
