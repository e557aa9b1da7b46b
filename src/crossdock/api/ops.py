"""Routes every deployment has: ``/health`` (liveness, dependencies, each capability's section),
``/metrics`` (Prometheus), ``/runs`` (the one record of runs, filterable by capability and job) and
the API documents (``/openapi.json``, ``/docs``; ``/redoc`` redirects to ``/docs``). Swagger UI's
script and style sheet (Swagger UI 5, which reads OpenAPI 3.1) come from the installed
``fastapi-swagger`` package, served by ``/docs/assets/{name}``: the page works with no internet.

With API keys configured, ``/health`` answers only ``{"status": …}`` to a request without an
``ops:read`` key; everything else here needs ``ops:read``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.openapi.docs import get_swagger_ui_html
from sqlalchemy import select
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from crossdock.api.assets import asset_response
from crossdock.api.auth import PUBLIC, may_see, require
from crossdock.api.state import AppState, AppStateDep
from crossdock.apikeys import OPS_READ
from crossdock.errors import CrossdockError
from crossdock.httpclient import default_registry
from crossdock.jobs import records
from crossdock.jobs.schemas import RunPage, RunRead
from crossdock.observability.metrics import render_metrics
from crossdock.observability.models import UpstreamState

router = APIRouter(tags=["operations"])


async def upstream_states(state: AppState) -> dict[str, Any]:
    upstreams: dict[str, Any] = {}
    async with state.db.reader() as session:
        for row in (await session.execute(select(UpstreamState))).scalars():
            upstreams[row.upstream] = {
                "state": row.state,
                "consecutive_failures": row.consecutive_failures,
                "opened_at": row.opened_at,
                "as_of": row.updated_at,
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


@router.get(
    "/health",
    summary="Liveness, database reachability, upstream circuits, each capability's state",
    dependencies=[PUBLIC],
)
async def health(request: Request, state: AppStateDep) -> JSONResponse:
    if not may_see(request, OPS_READ):
        return await _liveness(state)
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
        body["upstreams"] = await upstream_states(state)
        for name, runtime in state.runtimes.items():
            report = await runtime.health(state.db)
            if report is None:
                continue
            body[name] = dict(report.body)
            if report.degraded:
                body["status"] = "degraded"
    except CrossdockError as exc:
        body["status"] = "degraded"
        body["database"]["error"] = exc.message
    return JSONResponse(_jsonable(body))


async def _liveness(state: AppState) -> JSONResponse:
    """The status alone (no names, addresses, errors or circuits), for requests without ops:read."""
    try:
        await state.db.ping()
    except CrossdockError:
        return JSONResponse({"status": "unavailable"}, status_code=503)
    degraded = False
    try:
        for runtime in state.runtimes.values():
            report = await runtime.health(state.db)
            degraded = degraded or (report is not None and report.degraded)
    except CrossdockError:
        degraded = True
    return JSONResponse({"status": "degraded" if degraded else "ok"})


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@router.get(
    "/metrics", summary="Prometheus metrics", response_class=Response, dependencies=[require(OPS_READ)]
)
async def metrics() -> Response:
    body, content_type = render_metrics()
    return Response(body, media_type=content_type)


@router.get(
    "/runs",
    response_model=RunPage,
    summary="Recent runs of every capability's jobs",
    dependencies=[require(OPS_READ)],
)
async def list_runs(
    state: AppStateDep,
    capability: Annotated[str | None, Query(description="Only runs of this capability")] = None,
    job: Annotated[str | None, Query(description="Only runs of this job")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="How many runs, newest first")] = 20,
) -> RunPage:
    runs = await records.list_runs(state.db, capability=capability, job=job, limit=limit)
    return RunPage(runs=[RunRead.model_validate(run) for run in runs])


@router.get("/openapi.json", include_in_schema=False, dependencies=[require(OPS_READ)])
async def openapi_document(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


SWAGGER_ASSETS = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"})


@router.get("/docs", include_in_schema=False, dependencies=[require(OPS_READ)])
async def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url="/docs/assets/swagger-ui-bundle.js",
        swagger_css_url="/docs/assets/swagger-ui.css",
        swagger_favicon_url="/docs/assets/favicon-32x32.png",
    )


@router.get("/docs/assets/{name}", include_in_schema=False, dependencies=[PUBLIC])
async def swagger_asset(name: str) -> Response:
    """Swagger UI's files from the installed package (public: a library's code, no data)."""
    return asset_response(swagger_ui_directory(), name, SWAGGER_ASSETS)


def swagger_ui_directory() -> Path:
    """Where the installed ``fastapi-swagger`` package keeps Swagger UI's files."""
    import fastapi_swagger

    return Path(fastapi_swagger.__file__).resolve().parent / "resources"


@router.get("/redoc", include_in_schema=False, dependencies=[require(OPS_READ)])
async def redoc() -> RedirectResponse:
    """ReDoc would load its script from a CDN (a blank page offline): the same document at /docs."""
    return RedirectResponse("/docs", status_code=307)
