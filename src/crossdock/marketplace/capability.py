"""The marketplace events capability's manifest: everything it brings, in one object.

Sync a ticketing provider's XML feed of plans on a schedule, keep every plan ever on sale, and serve
``GET /search`` by time range from an in-memory read model (docs/marketplace.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from crossdock.console.page import ConsolePage
from crossdock.manifest import Capability, CapabilityRuntime
from crossdock.marketplace import jobs
from crossdock.marketplace.cli import app as cli_app
from crossdock.marketplace.models import Plan
from crossdock.marketplace.settings import MarketplaceSettings
from crossdock.marketplace.simulator.cli import SIMULATOR

if TYPE_CHECKING:
    from fastapi import APIRouter

    from crossdock.config import Settings


def _router() -> APIRouter:
    from crossdock.marketplace.router import router

    return router


def _runtime(settings: Settings) -> CapabilityRuntime:
    from crossdock.marketplace.runtime import MarketplaceRuntime

    return MarketplaceRuntime(settings)


def _console_router() -> APIRouter:
    from crossdock.marketplace.console import router

    return router


def _console() -> ConsolePage:
    return ConsolePage(
        title="Marketplace",
        path="/console/marketplace",
        router=_console_router,
        templates=Path(__file__).resolve().parent / "templates",
    )


CAPABILITY = Capability(
    name="marketplace",
    summary="Marketplace events: sync the provider's feed, serve GET /search.",
    settings=MarketplaceSettings,
    models=(Plan,),
    migrations=Path(__file__).resolve().parent / "migrations",
    legacy_tables=("marketplace_sync_runs",),
    jobs=(jobs.SYNC,),
    cli=cli_app,
    simulator=SIMULATOR,
    router=_router,
    runtime=_runtime,
    console=_console,
)
