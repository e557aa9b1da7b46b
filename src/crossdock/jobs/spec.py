"""How a capability declares a job: its name, function, schedule, and what one run of it is about.

A job function is a plain ``async def job(ctx: JobContext, run: RunReport) -> result``: it reads its
parameters from ``run.params``, calls one use case, and notes on ``run`` the facts the run record
keeps (counts in ``details``, ``changed``, ``attempts``, a success variant in ``outcome``). The one
runner (:func:`crossdock.jobs.runner.run_job`) creates the record, calls the function and stores the
report whatever happens; the scheduler, the CLI and (later) distributed workers only call the runner.
Parameters must be JSON values: a distributed runner sends them over a broker.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from crossdock.config import Settings
    from crossdock.jobs.context import JobContext


class Progress(Protocol):
    """Receives progress of long work: a phase with an optional total, then absolute positions."""

    def phase(self, name: str, total: int | None) -> None: ...

    def advance(self, completed: int) -> None: ...


@dataclass(slots=True)
class RunReport:
    """One run as its job sees it: identity and inputs from the runner, facts noted by the job.

    The runner fills ``run_id``, ``trigger``, ``params`` and ``progress``; the job (or the use case it
    calls) sets the rest as it learns them, so a failed run still records what was known.
    """

    params: Mapping[str, Any] = field(default_factory=dict)
    trigger: str = "api"
    run_id: int | None = None
    progress: Progress | None = None
    outcome: str = "success"
    changed: bool = False
    attempts: int | None = None
    details: dict[str, Any] = field(default_factory=dict)


JobFunction = Callable[["JobContext", RunReport], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Schedule:
    """Run the job every ``every`` seconds with ``params`` (one schedule per target, e.g. per site)."""

    every: float
    params: Mapping[str, Any] = field(default_factory=dict)


def _no_subject(settings: Settings, params: Mapping[str, Any]) -> str | None:
    return None


def _anything_goes(settings: Settings, params: Mapping[str, Any]) -> None:
    return None


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A registered job.

    ``name`` is unique (``<capability package>.<verb>``); ``schedules`` gives, from the settings, the
    scheduled instances (none: not scheduled); ``subject`` names what one run is about (a provider, a
    site) for the run record and for "never twice at once"; ``check`` raises a
    :class:`~crossdock.errors.CrossdockError` for parameters or settings that cannot work, before a run
    is recorded (a bad option is a usage error, not a failed run). ``on_lost``: what the distributed
    engine does with a run whose worker died (``retry``: queue it again, for idempotent jobs; ``drop``:
    leave it ``lost``); ``lost_policy`` says why, for docs/deployment.md.
    """

    name: str
    capability: str
    function: JobFunction
    schedules: Callable[[Settings], Sequence[Schedule]]
    description: str
    subject: Callable[[Settings, Mapping[str, Any]], str | None] = _no_subject
    check: Callable[[Settings, Mapping[str, Any]], None] = _anything_goes
    on_lost: Literal["retry", "drop"] = "retry"
    lost_policy: str = ""

    def interval_for(self, settings: Settings) -> float | None:
        """Seconds between scheduled runs, or ``None`` when the job is not scheduled."""
        schedules = self.schedules(settings)
        return schedules[0].every if schedules else None

    def subject_for(self, settings: Settings, params: Mapping[str, Any]) -> str | None:
        return self.subject(settings, params)
