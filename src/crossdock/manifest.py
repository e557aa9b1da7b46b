"""The manifest: one object per capability naming everything it brings to the shared core.

Each capability folder exports ``CAPABILITY = Capability(...)`` from its ``capability.py``, and
:mod:`crossdock.capabilities` holds the one list of them. The API shell, the CLI root, the job
registry, the migration environment, ``crossdock simulate``, ``serve --with-simulator``, ``/health``,
request metrics and the test helpers loop over that list; none of them names a capability. Removing a
capability is deleting its folder and its line in the list.

Parts that need FastAPI (routes, per-process runtime) are given as factories, called only by the API
shell, so that CLI commands never pay for importing the web framework.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter

    from crossdock.api.asgi import ASGIApp
    from crossdock.config import Settings, SettingsGroup
    from crossdock.console.page import ConsolePage
    from crossdock.jobs.runner import JobOutcome
    from crossdock.jobs.spec import JobSpec
    from crossdock.storage import Base, Database


@dataclass(frozen=True, slots=True)
class HealthReport:
    """A capability's section of ``/health``; ``degraded`` turns the service's status to degraded."""

    body: Mapping[str, Any]
    degraded: bool = False


class CapabilityRuntime:
    """What a capability keeps in each serving process (a read model, a poller …); no-ops by default.

    The API shell builds one per process from the manifest's ``runtime`` factory, calls :meth:`start`
    when the process starts serving and :meth:`stop` when it stops, puts :meth:`wrap` around the
    application (ASGI fast paths in front of FastAPI), calls :meth:`after_run` after each run of one of
    the capability's jobs in this process, and shows :meth:`health` under the capability's name in
    ``/health``.
    """

    def wrap(self, app: ASGIApp) -> ASGIApp:
        return app

    async def start(self, db: Database) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def after_run(self, outcome: JobOutcome) -> None:
        return None

    async def data_changed(self) -> None:
        """Another process (a worker, another API process) changed this capability's data."""
        return None

    async def health(self, db: Database) -> HealthReport | None:
        return None


class ReadModelRuntime(CapabilityRuntime):
    """A runtime whose in-memory read model follows the stored data: refreshed after a run of this
    process that changed data, when another process notifies a change, and every
    ``CROSSDOCK_API_READ_MODEL_POLL_INTERVAL`` seconds as the fallback. Subclasses implement
    :meth:`refresh` and call :meth:`start_polling` at the end of their :meth:`start`."""

    _poller: asyncio.Task[None] | None = None

    def __init__(self, poll_interval: float) -> None:
        self.poll_interval = poll_interval

    async def refresh(self) -> object:
        """Bring the read model up to date with the database (errors are the subclass's to keep)."""
        raise NotImplementedError

    def start_polling(self, name: str) -> None:
        self._poller = asyncio.create_task(self._poll(), name=name)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            await self.refresh()

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None

    async def after_run(self, outcome: JobOutcome) -> None:
        if outcome.changed:
            await self.refresh()

    async def data_changed(self) -> None:
        await self.refresh()


@dataclass(frozen=True, slots=True)
class DemoUpstream:
    """A simulator started for ``crossdock serve --with-simulator``: what to tell the service and the user.

    ``environment`` holds the settings (environment variables of the capability's own group) that
    point the service at the simulator; ``shown`` is the line printed for the user.
    """

    environment: Mapping[str, str]
    shown: str


@dataclass(frozen=True, slots=True)
class DemoContext:
    """What a demo simulator is started with: the service's settings, and the base URL it will answer on.

    The demo starts before the server listens: a simulator that calls the service (rather than being
    called by it) must retry until it answers, and stop by itself.
    """

    settings: Settings
    service_url: str


@dataclass(frozen=True, slots=True)
class SimulatorCommand:
    """``crossdock simulate <name>``: a Typer command running a fake of an upstream, or of a client.

    ``demo`` (optional) starts that simulator for ``serve --with-simulator``: a fake upstream unless
    the settings already point at a real one (returning the settings that point the service at it), or
    a fake client of the service (given the service's URL), bounded in time and stopped with the service.
    """

    name: str
    command: Callable[..., None]
    demo: Callable[[DemoContext], DemoUpstream | None] | None = None


@dataclass(frozen=True, slots=True)
class Capability:
    """Everything one capability brings; every field but ``name`` and ``summary`` is optional.

    - ``name``: public name, hyphenated (``site-outages``): CLI group, run records, metrics labels,
      ``/health`` section, API-key scopes. Its Python package is the name with underscores.
    - ``settings``: its settings group (``CROSSDOCK_<NAME>_*``), read with ``settings.of(...)``.
    - ``models``: its tables (declarative classes on :class:`crossdock.storage.Base`).
    - ``migrations``: the folder of its Alembic revisions, a branch labelled with its name.
    - ``legacy_tables``: tables earlier versions created, so an unmigrated copy is recognised.
    - ``jobs``: its jobs with their schedules.
    - ``cli``: its Typer sub-app, mounted as ``crossdock <name>``.
    - ``simulator``: its ``crossdock simulate`` command.
    - ``router``: factory of its FastAPI routes.
    - ``runtime``: factory of its per-process :class:`CapabilityRuntime`.
    - ``console``: factory of its :class:`~crossdock.console.page.ConsolePage` (``/console/<name>``).
    """

    name: str
    summary: str
    settings: type[SettingsGroup] | None = None
    models: tuple[type[Base], ...] = ()
    migrations: Path | None = None
    legacy_tables: tuple[str, ...] = ()
    jobs: tuple[JobSpec, ...] = ()
    cli: typer.Typer | None = None
    simulator: SimulatorCommand | None = None
    router: Callable[[], APIRouter] | None = None
    runtime: Callable[[Settings], CapabilityRuntime] | None = field(default=None)
    console: Callable[[], ConsolePage] | None = None

    @property
    def package(self) -> str:
        """The Python package of the capability (``crossdock.site_outages`` for ``site-outages``)."""
        return "crossdock." + self.name.replace("-", "_")

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(str(model.__tablename__) for model in self.models)
