"""The site-outages capability's manifest: everything it brings, in one object.

For an energy site, fetch every device outage and the site's devices from the platform's API, keep the
site's outages since a cut-off, attach device names and post them back (docs/site-outages.md). Its runs
are kept in the core's run record; it has no table of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from crossdock.console.page import ConsolePage
from crossdock.manifest import Capability
from crossdock.site_outages import jobs
from crossdock.site_outages.cli import app as cli_app
from crossdock.site_outages.settings import SiteOutagesSettings
from crossdock.site_outages.simulator.cli import SIMULATOR

if TYPE_CHECKING:
    from fastapi import APIRouter


def _console_router() -> APIRouter:
    from crossdock.site_outages.console import router

    return router


def _console() -> ConsolePage:
    return ConsolePage(
        title="Site outages",
        path="/console/site-outages",
        router=_console_router,
        templates=Path(__file__).resolve().parent / "templates",
    )


CAPABILITY = Capability(
    name="site-outages",
    summary="Site outages: report a site's device outages to the energy platform.",
    settings=SiteOutagesSettings,
    migrations=Path(__file__).resolve().parent / "migrations",
    legacy_tables=("site_outage_runs",),
    jobs=(jobs.PROCESS,),
    cli=cli_app,
    simulator=SIMULATOR,
    console=_console,
)
