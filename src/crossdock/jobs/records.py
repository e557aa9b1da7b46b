"""Reads and writes of the run record (:class:`~crossdock.jobs.models.RunRecord`).

The runner is the only writer; capabilities read their own runs through these functions (listings,
"the last successful sync", "the newest run that changed data"), so no capability keeps a run table.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import func, select, update

from crossdock.errors import JobAlreadyRunningError, StorageConflictError
from crossdock.jobs.models import RunRecord
from crossdock.storage import Database

logger = logging.getLogger(__name__)

ERROR_LENGTH = 2000
CHANGES_CHANNEL = "crossdock_changes"
"""PostgreSQL ``NOTIFY`` channel: the payload is the capability whose data a run changed."""


@dataclass(frozen=True, slots=True)
class ClaimedRun:
    """A queued run a distributed worker took: the runner finishes its record instead of starting one."""

    id: int
    worker: str


INTERRUPTED = "interrupted: the process running it stopped"


def jsonable(value: Mapping[str, Any]) -> dict[str, Any]:
    """``value`` as plain JSON types, exactly as a reader of the stored record gets it back."""
    result: dict[str, Any] = orjson.loads(orjson.dumps(value, default=str))
    return result


def slot_of(job: str, subject: str | None) -> str:
    """The slot of a job and subject: at most one run per slot is queued or running."""
    return f"{job}|{subject or ''}"


async def start_run(
    db: Database,
    *,
    capability: str,
    job: str,
    subject: str | None,
    trigger: str,
    started_at: datetime,
    params: Mapping[str, Any] | None = None,
    worker: str | None = None,
) -> int:
    """Record a run of this process as ``running`` and return its id.

    A run of the same job and subject still marked running by a process of the embedded engine was
    left by a process that died (a process never runs one twice at once): it is closed as failed, so
    it does not stay running forever. A run queued or running on the distributed engine is not
    touched: :class:`JobAlreadyRunningError` says so. ``worker``: in distributed mode, the name of
    this process, whose heartbeats (:func:`touch_run`) keep the run from being taken for lost.
    """
    slot = slot_of(job, subject)
    try:
        async with db.unit_of_work() as session:
            await session.execute(
                update(RunRecord)
                .where(RunRecord.slot == slot, RunRecord.status == "running", RunRecord.worker.is_(None))
                .values(outcome="failed", status="failed", error=INTERRUPTED, finished_at=started_at)
            )
            record = RunRecord(
                capability=capability,
                job=job,
                subject=subject,
                trigger=trigger,
                outcome="running",
                status="running",
                slot=slot,
                params=jsonable(params or {}),
                worker=worker,
                heartbeat_at=started_at if worker is not None else None,
                started_at=started_at,
                changed=False,
                details={},
            )
            session.add(record)
            await session.flush()
            return record.id
    except StorageConflictError:
        target = f" for {subject}" if subject else ""
        raise JobAlreadyRunningError(
            f"job {job}{target} is already queued or running on a worker; wait for it to finish"
        ) from None


async def touch_run(db: Database, run_id: int) -> None:
    """A heartbeat of a run this process runs (distributed mode): it is not lost."""
    async with db.unit_of_work() as session:
        await session.execute(update(RunRecord).where(RunRecord.id == run_id).values(heartbeat_at=func.now()))


async def finish_run(
    db: Database,
    run_id: int,
    *,
    worker: str | None = None,
    outcome: str,
    finished_at: datetime,
    duration_seconds: float,
    attempts: int | None,
    changed: bool,
    details: Mapping[str, Any],
    error: str | None,
) -> None:
    """Store how a run ended.

    ``worker``: the distributed worker that claimed the run; its end is stored only while the run is
    still its own (a run marked ``lost`` meanwhile keeps that state: it was, or will be, run again).
    On PostgreSQL a run that changed data notifies ``crossdock_changes`` with its capability, in the
    same transaction, so serving processes refresh their read models at once.
    """
    async with db.unit_of_work() as session:
        statement = update(RunRecord).where(RunRecord.id == run_id)
        if worker is not None:
            statement = statement.where(RunRecord.worker == worker, RunRecord.status == "running")
        result = await session.execute(
            statement.returning(RunRecord.capability).values(
                outcome=outcome,
                status="failed" if outcome == "failed" else "succeeded",
                finished_at=finished_at,
                duration_seconds=duration_seconds,
                attempts=attempts,
                changed=changed,
                details=jsonable(details),
                error=None if error is None else error[:ERROR_LENGTH],
            )
        )
        capability = result.scalar_one_or_none()
        if capability is None:
            logger.warning("run %d was no longer this worker's (marked lost?): its end is not stored", run_id)
        elif changed and not db.is_sqlite:
            await session.execute(select(func.pg_notify(CHANGES_CHANNEL, capability)))


async def list_runs(
    db: Database,
    *,
    capability: str | None = None,
    job: str | None = None,
    subject: str | None = None,
    limit: int = 20,
) -> list[RunRecord]:
    """The most recent runs, newest first, optionally of one capability, job or subject."""
    query = select(RunRecord).order_by(RunRecord.id.desc()).limit(limit)
    if capability is not None:
        query = query.where(RunRecord.capability == capability)
    if job is not None:
        query = query.where(RunRecord.job == job)
    if subject is not None:
        query = query.where(RunRecord.subject == subject)
    async with db.reader() as session:
        return list((await session.execute(query)).scalars())


async def last_run(
    db: Database, *, job: str, subject: str | None = None, outcome: str | None = None
) -> RunRecord | None:
    """The newest run of ``job`` (for ``subject``, with ``outcome`` when given), or ``None``."""
    query = select(RunRecord).where(RunRecord.job == job).order_by(RunRecord.id.desc()).limit(1)
    if subject is not None:
        query = query.where(RunRecord.subject == subject)
    if outcome is not None:
        query = query.where(RunRecord.outcome == outcome)
    async with db.reader() as session:
        return (await session.execute(query)).scalar_one_or_none()


async def last_runs(db: Database, jobs: Sequence[str]) -> dict[str, RunRecord]:
    """The newest run of each named job that has run."""
    found: dict[str, RunRecord] = {}
    for job in jobs:
        record = await last_run(db, job=job)
        if record is not None:
            found[job] = record
    return found


async def last_changed_run_id(db: Database, *, capability: str) -> int:
    """Id of the newest run of ``capability`` that changed stored data (0: none yet).

    Grows whenever the capability's data changed: read models compare it with the one they serve.
    """
    async with db.reader() as session:
        value = await session.scalar(
            select(func.max(RunRecord.id)).where(
                RunRecord.capability == capability, RunRecord.changed.is_(True)
            )
        )
    return int(value or 0)
