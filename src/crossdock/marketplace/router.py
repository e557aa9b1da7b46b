"""HTTP routes of the marketplace capability (thin: parse, call the service, format).

``GET /search`` is normally answered by the ASGI fast path (:mod:`crossdock.marketplace.fastpath`);
this route documents the contract in ``/openapi.json`` and answers when the fast path is disabled,
through the same function.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from crossdock.api.auth import PUBLIC, require
from crossdock.api.schemas import ErrorResponse
from crossdock.api.state import AppStateDep, runtime_of
from crossdock.marketplace import service
from crossdock.marketplace.runtime import MarketplaceRuntime
from crossdock.marketplace.schemas import SearchResponse, SyncRunPage, SyncRunRead
from crossdock.marketplace.search import answer_query

router = APIRouter(tags=["marketplace"])


def _runtime(request: Request) -> MarketplaceRuntime:
    return runtime_of(request, service.CAPABILITY, MarketplaceRuntime)


Runtime = Annotated[MarketplaceRuntime, Depends(_runtime)]


@router.get(
    "/search",
    operation_id="searchEvents",
    summary="Lists the available events on a time range",
    response_model=SearchResponse,
    responses={
        200: {"description": "List of plans"},
        400: {
            "model": ErrorResponse,
            "description": (
                "The request was not correctly formed (missing required parameters, wrong types...)"
            ),
        },
        500: {"model": ErrorResponse, "description": "Generic error"},
        503: {
            "model": ErrorResponse,
            "description": "Not ready: the events have not been loaded from the database yet (not_ready)",
        },
    },
    dependencies=[PUBLIC],
)
async def search_events(
    request: Request,
    runtime: Runtime,
    starts_at: Annotated[
        str | None,
        Query(
            description="Return only events that starts after this date",
            json_schema_extra={"format": "date-time", "example": "2017-07-21T17:32:28Z"},
        ),
    ] = None,
    ends_at: Annotated[
        str | None,
        Query(
            description="Return only events that finishes before this date",
            json_schema_extra={"format": "date-time", "example": "2021-07-21T17:32:28Z"},
        ),
    ] = None,
) -> Response:
    status, body = answer_query(runtime.holder, request.scope["query_string"])
    return Response(body, status_code=status, media_type="application/json")


@router.get(
    "/marketplace/runs",
    response_model=SyncRunPage,
    summary="Recent sync runs",
    dependencies=[require(f"{service.CAPABILITY}:read")],
)
async def list_sync_runs(
    state: AppStateDep,
    limit: Annotated[int, Query(ge=1, le=500, description="How many runs, newest first")] = 20,
) -> SyncRunPage:
    runs = await service.list_sync_runs(db=state.db, limit=limit)
    return SyncRunPage(runs=[SyncRunRead.from_run(run) for run in runs])
