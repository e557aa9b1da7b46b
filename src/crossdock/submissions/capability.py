"""The submissions capability's manifest: everything it brings, in one object.

Submit advertisers' campaigns (campaign → ad groups → ads) to rate-limited demand-side platforms,
track their asynchronous status, retry safely, never duplicate (docs/submissions.md): the DSP
accounts' settings, the DSP simulator (`crossdock simulate dsp`), the node state machine, its
tables, the engine's pass over each DSP account (a scheduled job, within one budget per account
shared by every process), the HTTP API and the CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from crossdock.manifest import Capability
from crossdock.submissions import jobs
from crossdock.submissions.cli import app as cli_app
from crossdock.submissions.models import Campaign, NodeRecord, Task
from crossdock.submissions.settings import SubmissionsSettings
from crossdock.submissions.simulator.cli import SIMULATOR

if TYPE_CHECKING:
    from fastapi import APIRouter

    from crossdock.console.page import ConsolePage


def _router() -> APIRouter:
    from crossdock.submissions.router import router

    return router


def _console() -> ConsolePage:
    from crossdock.console.page import ConsolePage

    def router() -> APIRouter:
        from crossdock.submissions.console import router

        return router

    return ConsolePage(
        title="Submissions",
        path="/console/submissions",
        router=router,
        templates=Path(__file__).resolve().parent / "templates",
    )


CAPABILITY = Capability(
    name="submissions",
    summary="Submissions: create ad campaigns on rate-limited DSPs, within every limit, never twice.",
    settings=SubmissionsSettings,
    models=(Campaign, NodeRecord, Task),
    migrations=Path(__file__).resolve().parent / "migrations",
    jobs=(jobs.ADVANCE,),
    cli=cli_app,
    simulator=SIMULATOR,
    router=_router,
    console=_console,
)
