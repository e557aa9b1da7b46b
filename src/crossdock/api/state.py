"""What the running service holds between requests, reachable as ``request.app.state.service``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, TypeVar

from fastapi import Depends, Request

from crossdock.apikeys import KeyRing
from crossdock.config import Settings
from crossdock.jobs.context import JobContext
from crossdock.jobs.runner import InProcessScheduler
from crossdock.manifest import CapabilityRuntime
from crossdock.storage import Database

R = TypeVar("R", bound=CapabilityRuntime)


@dataclass
class AppState:
    """Settings, the database, the API keys, each capability's runtime (by name) and, in one process,
    the scheduler."""

    settings: Settings
    db: Database
    keys: KeyRing = field(default_factory=KeyRing)
    runtimes: dict[str, CapabilityRuntime] = field(default_factory=dict)
    job_context: JobContext | None = None
    scheduler: InProcessScheduler | None = None


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.service
    return state


AppStateDep = Annotated[AppState, Depends(get_state)]
"""Route parameter type giving the service's :class:`AppState`."""


def runtime_of(request: Request, capability: str, kind: type[R]) -> R:
    """The runtime ``capability`` keeps in this process (for its own routes)."""
    runtime = get_state(request).runtimes[capability]
    assert isinstance(runtime, kind)
    return runtime
