"""What the running service holds between requests, reachable as ``request.app.state.service``."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from crossdock.config import Settings
from crossdock.jobs.context import JobContext
from crossdock.jobs.runner import InProcessScheduler
from crossdock.marketplace.readmodel import SearchIndexHolder
from crossdock.storage import Database


@dataclass
class ServiceState:
    settings: Settings
    db: Database
    holder: SearchIndexHolder
    job_context: JobContext | None = None
    scheduler: InProcessScheduler | None = None
    read_model_error: str | None = field(default=None)


def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state
