"""Run a simulator's ASGI app as a real HTTP server (granian), for demos, e2e tests and benchmarks.

Granian imports the app by name inside its worker process, so the options cannot be handed over as
Python objects: :func:`serve_simulator` puts them as JSON in :data:`OPTIONS_ENV_VAR` and the app
factory (for example ``crossdock.simulators.marketplace:app_from_env``) reads them back with
:func:`read_options_json`. That variable is process plumbing, not a setting: nothing else reads it.

One worker only: simulators keep their rotation, faults and counters in process memory.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Final, Protocol

from granian import Granian
from granian.constants import Interfaces
from granian.log import LogLevels

from crossdock.errors import ConfigurationError

OPTIONS_ENV_VAR: Final = "CROSSDOCK_SIMULATOR_OPTIONS"

WORKER_KILL_TIMEOUT_SECONDS: Final = 2
"""Granian drains in-flight requests on SIGINT/SIGTERM; one held by a timeout fault would keep the
worker alive for minutes, so a worker still busy this many seconds after the signal is killed."""


class SimulatorOptions(Protocol):
    """Anything a simulator's app factory can rebuild from JSON."""

    def to_json(self) -> str: ...


def read_options_json() -> str:
    """Return the options JSON that :func:`serve_simulator` handed to this worker process."""
    try:
        return os.environ[OPTIONS_ENV_VAR]
    except KeyError:
        raise ConfigurationError(
            f"{OPTIONS_ENV_VAR} is not set: start simulators with `crossdock simulate ...`"
        ) from None


def listening_url(host: str, port: int, path: str) -> str:
    """Return the URL clients use for ``path`` on a server bound to ``host:port``."""
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}{path}"


def ensure_bindable(host: str, port: int) -> None:
    """Raise ``ConfigurationError`` naming ``host:port`` if a server could not listen there."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        # Granian would fail the same way, deep inside its start-up and with a Rust backtrace.
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


def serve_simulator(
    app_factory_target: str,
    options: SimulatorOptions,
    host: str,
    port: int,
    *,
    name: str,
    path: str,
) -> None:
    """Serve ``app_factory_target`` (``module:factory``) on ``host:port`` until SIGINT or SIGTERM.

    Prints one line, ``<name> listening on <url>``, once the socket is bound (requests made before
    the worker is ready wait in the backlog). Returns after a clean shutdown. Raises
    ``ConfigurationError`` if ``host:port`` is taken or not an address of this machine.
    """
    ensure_bindable(host, port)
    os.environ[OPTIONS_ENV_VAR] = options.to_json()
    server = Granian(
        app_factory_target,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        factory=True,
        workers=1,
        websockets=False,
        log_level=LogLevels.warning,
        workers_kill_timeout=WORKER_KILL_TIMEOUT_SECONDS,
    )

    def announce() -> None:
        print(f"{name} listening on {listening_url(host, port, path)}", file=sys.stdout, flush=True)

    server.on_startup(announce)
    server.serve()
