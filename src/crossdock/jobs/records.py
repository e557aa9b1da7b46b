"""Reads and writes of the run record (:class:`~crossdock.jobs.models.RunRecord`).

The runner is the only writer; capabilities read their own runs through these functions (listings,
"the last successful sync", "the newest run that changed data"), so no capability keeps a run table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import func, select, update

from crossdock.jobs.models import RunRecord
from crossdock.storage import Database

ERROR_LENGTH = 2000
INTERRUPTED = "interrupted: the process running it stopped"


def jsonable(value: Mapping[str, Any]) -> dict[str, Any]:
    """``value`` as plain JSON types, exactly as a reader of the stored record gets it back."""
    result: dict[str, Any] = orjson.loads(orjson.dumps(value, default=str))
    return result


async def start_run(
    db: Database,
    *,
    capability: str,
    job: str,
    subject: str | None,
    trigger: str,
    started_at: datetime,
) -> int:
    """Record a run as ``running`` and return its id.

    A run of the same job and subject still marked running was left by a process that died (this
    process never runs one twice at once): it is closed as failed, so it does not stay running forever.
    """
    async with db.unit_of_work() as session:
        await session.execute(
            update(RunRecord)
            .where(RunRecord.job == job, RunRecord.outcome == "running")
            .where(RunRecord.subject.is_(None) if subject is None else RunRecord.subject == subject)
            .values(outcome="failed", error=INTERRUPTED, finished_at=started_at)
        )
        record = RunRecord(
            capability=capability,
            job=job,
            subject=subject,
            trigger=trigger,
            outcome="running",
            started_at=started_at,
            changed=False,
            details={},
        )
        session.add(record)
        await session.flush()
        return record.id


async def finish_run(
    db: Database,
    run_id: int,
    *,
    outcome: str,
    finished_at: datetime,
    duration_seconds: float,
    attempts: int | None,
    changed: bool,
    details: Mapping[str, Any],
    error: str | None,
) -> None:
    """Store how a run ended."""
    async with db.unit_of_work() as session:
        await session.execute(
            update(RunRecord)
            .where(RunRecord.id == run_id)
            .values(
                outcome=outcome,
                finished_at=finished_at,
                duration_seconds=duration_seconds,
                attempts=attempts,
                changed=changed,
                details=jsonable(details),
                error=None if error is None else error[:ERROR_LENGTH],
            )
        )


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
