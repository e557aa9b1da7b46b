"""The seed's tasks: DSP entities registered by id whose status the engine polls (``/api/tasks``).

``POST /api/tasks {id, status}`` registers an entity of a DSP account (``dsp``, optional when one
account is configured); the engine's pass over that account polls the tasks not yet ``Completed``
or ``Error`` with the nodes (batched through ``/v1/statuses``). ``GET /api/tasks/{id}`` answers a
task, or any engine node by its id or its DSP id, in the seed's shape ``{id, status,
error_message}``. ``PATCH /api/tasks/{id} {status?, error_message?}`` records a status by hand
(202) and the polling follows the DSP from there.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, or_, select, update

from crossdock.errors import ConflictError, InvalidInputError, NotFoundError, StorageConflictError
from crossdock.storage import Database
from crossdock.submissions import engine, machine
from crossdock.submissions.models import NodeRecord, Task

SeedStatus = Literal["Not Started", "In Progress", "Completed", "Error"]
FINAL: Final = ("Completed", "Error")


class TaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9._:-]+$")
    status: SeedStatus = "Not Started"
    dsp: str | None = Field(default=None, max_length=32)


class TaskPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: SeedStatus | None = None
    error_message: str | None = Field(default=None, max_length=2000)


class TaskRead(BaseModel):
    id: str
    status: SeedStatus
    error_message: str | None


def _now() -> datetime:
    return datetime.now(UTC)


def _account(dsp: str | None, known: Sequence[str]) -> str:
    if dsp is None:
        if len(known) == 1:
            return known[0]
        raise InvalidInputError(
            f"name the task's dsp (configured: {', '.join(sorted(known)) or 'none'})", code="unknown_dsp"
        )
    if dsp not in known:
        raise InvalidInputError(
            f"unknown dsp {dsp!r}; configured: {', '.join(sorted(known))}", code="unknown_dsp"
        )
    return dsp


async def register(db: Database, task: TaskIn, known: Sequence[str]) -> TaskRead:
    """Store a new task (201); :class:`ConflictError` (409) when the id is known."""
    dsp = _account(task.dsp, known)
    now = _now()
    try:
        async with db.unit_of_work() as session:
            session.add(
                Task(
                    id=task.id, dsp=dsp, status=task.status, next_poll_at=0.0, created_at=now, updated_at=now
                )
            )
    except StorageConflictError:
        raise ConflictError(f"task {task.id} exists") from None
    return TaskRead(id=task.id, status=task.status, error_message=None)


async def read(db: Database, task_id: str) -> TaskRead:
    """A task, or an engine node (by its id or its DSP id), in the seed's shape; 404 otherwise."""
    async with db.reader() as session:
        task = await session.get(Task, task_id)
        if task is not None:
            return TaskRead(id=task.id, status=task.status, error_message=task.error_message)
        node = await session.scalar(
            select(NodeRecord)
            .where(or_(NodeRecord.id == task_id, NodeRecord.external_id == task_id))
            .limit(1)
        )
    if node is None:
        raise NotFoundError(f"no task {task_id}")
    status, message = machine.seed_status(engine.to_machine(node))
    return TaskRead(id=task_id, status=status, error_message=message)


async def patch(db: Database, task_id: str, change: TaskPatch) -> TaskRead:
    """Record a status by hand (202); 404 for an unknown task."""
    values: dict[str, object] = {"updated_at": _now()}
    if change.status is not None:
        values["status"] = change.status
    if "error_message" in change.model_fields_set:
        values["error_message"] = change.error_message
    async with db.unit_of_work() as session:
        result = await session.execute(
            update(Task).where(Task.id == task_id).values(**values).returning(Task.id)
        )
        if result.scalar_one_or_none() is None:
            raise NotFoundError(f"no task {task_id}")
    return await read(db, task_id)


async def due(db: Database, dsp: str, now: float, limit: int) -> list[Task]:
    """Tasks of ``dsp`` whose status is not final and whose next poll is due."""
    async with db.reader() as session:
        rows = await session.execute(
            select(Task)
            .where(Task.dsp == dsp, Task.status.not_in(FINAL), Task.next_poll_at <= now)
            .order_by(Task.next_poll_at)
            .limit(limit)
        )
        return list(rows.scalars())


async def next_due(db: Database, dsp: str) -> float | None:
    """When the next of ``dsp``'s tasks not yet final is due a poll; None when there is none."""
    async with db.reader() as session:
        return await session.scalar(
            select(func.min(Task.next_poll_at)).where(Task.dsp == dsp, Task.status.not_in(FINAL))
        )


async def seen(
    db: Database, task_id: str, status: str, error_message: str | None, next_poll_at: float
) -> None:
    async with db.unit_of_work() as session:
        await session.execute(
            update(Task)
            .where(Task.id == task_id)
            .values(status=status, error_message=error_message, next_poll_at=next_poll_at, updated_at=_now())
        )
