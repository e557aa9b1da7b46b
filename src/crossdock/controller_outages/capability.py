"""The controller-outages capability's manifest: everything it brings, in one object.

LED controllers report an outage every 10 minutes while it lasts; the reports are merged into outage
events (per controller and type), the same whatever their order, duplication or concurrency, queried
through the API and pushed to a webhook (docs/controller-outages.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from crossdock.console.page import ConsolePage
from crossdock.controller_outages import jobs
from crossdock.controller_outages.cli import app as cli_app
from crossdock.controller_outages.models import Alias, Change, Event, Notification, Report
from crossdock.controller_outages.settings import ControllerOutagesSettings
from crossdock.controller_outages.simulator.cli import SIMULATOR
from crossdock.manifest import Capability, CapabilityRuntime

if TYPE_CHECKING:
    from fastapi import APIRouter

    from crossdock.config import Settings


def _router() -> APIRouter:
    from crossdock.controller_outages.router import router

    return router


def _console_router() -> APIRouter:
    from crossdock.controller_outages.console import router

    return router


def _console() -> ConsolePage:
    return ConsolePage(
        title="Controller outages",
        path="/console/controller-outages",
        router=_console_router,
        templates=Path(__file__).resolve().parent / "templates",
    )


def _runtime(settings: Settings) -> CapabilityRuntime:
    from crossdock.controller_outages.runtime import ControllerOutagesRuntime

    return ControllerOutagesRuntime(settings)


CAPABILITY = Capability(
    name="controller-outages",
    summary="Controller outages: merge LED controllers' 10-minute reports into outage events.",
    settings=ControllerOutagesSettings,
    models=(Report, Event, Alias, Notification, Change),
    migrations=Path(__file__).resolve().parent / "migrations",
    jobs=(jobs.DELIVER, jobs.UPKEEP),
    cli=cli_app,
    simulator=SIMULATOR,
    router=_router,
    runtime=_runtime,
    console=_console,
)
