"""Operational routes: ``/health`` (liveness and dependencies) and ``/metrics`` (Prometheus)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlalchemy import select
from starlette.responses import JSONResponse, Response

from crossdock.api.state import ServiceState, get_state
from crossdock.errors import CrossdockError
from crossdock.httpclient import default_registry
from crossdock.marketplace import service as marketplace_service
from crossdock.observability.metrics import render_metrics
from crossdock.observability.models import UpstreamState

router = APIRouter(tags=["operations"])
State = Annotated[ServiceState, Depends(get_state)]


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _age(value: datetime | None, now: datetime) -> float | None:
    aware = _aware(value)
    return None if aware is None else round((now - aware).total_seconds(), 3)


async def _upstreams(state: ServiceState) -> dict[str, Any]:
    upstreams: dict[str, Any] = {}
    async with state.db.reader() as session:
        for row in (await session.execute(select(UpstreamState))).scalars():
            upstreams[row.upstream] = {
                "state": row.state,
                "consecutive_failures": row.consecutive_failures,
                "opened_at": _aware(row.opened_at),
                "as_of": _aware(row.updated_at),
            }
    # This process's own breakers are the freshest view when it runs the scheduler.
    for name, snapshot in default_registry.snapshot().items():
        upstreams[name] = {
            "state": snapshot.state,
            "consecutive_failures": snapshot.consecutive_failures,
            "opened_at": datetime.fromtimestamp(snapshot.opened_at, UTC) if snapshot.opened_at else None,
            "as_of": datetime.now(UTC),
        }
    return upstreams


@router.get("/health", summary="Liveness, database reachability, upstream circuits, last sync")
async def health(state: State) -> JSONResponse:
    now = datetime.now(UTC)
    body: dict[str, Any] = {"status": "ok", "time": now}
    try:
        await state.db.ping()
        body["database"] = {"reachable": True}
    except CrossdockError as exc:
        body["status"] = "unavailable"
        body["database"] = {"reachable": False, "error": exc.message}
        return JSONResponse(_jsonable(body), status_code=503)
    try:
        body["upstreams"] = await _upstreams(state)
        runs = await marketplace_service.list_runs(db=state.db, limit=20)
    except CrossdockError as exc:
        body["status"] = "degraded"
        body["database"]["error"] = exc.message
        return JSONResponse(_jsonable(body), status_code=200)
    last = next((run for run in runs if run.outcome != "running"), None)
    last_success = next((run for run in runs if run.outcome == "success"), None)
    body["marketplace"] = {
        "last_sync": None
        if last is None
        else {
            "id": last.id,
            "outcome": last.outcome,
            "finished_at": _aware(last.finished_at),
            "age_seconds": _age(last.finished_at, now),
            "error": last.error,
        },
        "last_success_age_seconds": _age(last_success.finished_at, now) if last_success else None,
        "searchable_plans": len(state.holder.index),
        "read_model_version": state.holder.index.version,
        "read_model_error": state.read_model_error,
    }
    if last is not None and last.outcome == "failed":
        body["status"] = "degraded"
    return JSONResponse(_jsonable(body))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics() -> Response:
    body, content_type = render_metrics()
    return Response(body, media_type=content_type)
