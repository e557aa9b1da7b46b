"""The one list of jobs Crossdock runs: every capability's jobs, in the order of the capability list,
then the core's ``core.ping``.

Jobs are declared by each capability's manifest (never registered by import side effect); runners
(:mod:`crossdock.jobs.runner` in-process, :mod:`crossdock.jobs.worker` distributed) and
``crossdock jobs`` only read this list.
"""

from __future__ import annotations

from crossdock.capabilities import CAPABILITIES
from crossdock.jobs.builtin import PING
from crossdock.jobs.spec import JobSpec

JOBS: tuple[JobSpec, ...] = (
    *(job for capability in CAPABILITIES for job in capability.jobs),
    PING,
)


def get_job(name: str) -> JobSpec:
    """The job called ``name``; raises ``KeyError`` for an unknown name."""
    for spec in JOBS:
        if spec.name == name:
            return spec
    raise KeyError(name)
