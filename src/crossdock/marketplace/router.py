"""HTTP routes of the marketplace capability (thin: parse, call the service, format).

``GET /search`` is normally answered by the ASGI hot path in :mod:`crossdock.api.asgi`; this route
documents the contract in ``/openapi.json`` and answers when the hot path is disabled, through the
same function.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from crossdock.api.asgi import search_from_query_string
from crossdock.api.state import ServiceState, get_state
from crossdock.marketplace import service
from crossdock.marketplace.schemas import ErrorResponse, SearchResponse, SyncRunPage, SyncRunRead

router = APIRouter()

State = Annotated[ServiceState, Depends(get_state)]


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
    },
    tags=["marketplace"],
)
async def search_events(
    request: Request,
    state: State,
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
    status, body = search_from_query_string(state.holder, request.scope["query_string"])
    return Response(body, status_code=status, media_type="application/json")


@router.get("/marketplace/runs", response_model=SyncRunPage, tags=["marketplace"], summary="Recent sync runs")
async def list_sync_runs(
    state: State,
    limit: Annotated[int, Query(ge=1, le=500, description="How many runs, newest first")] = 20,
) -> SyncRunPage:
    runs = await service.list_runs(db=state.db, limit=limit)
    return SyncRunPage(runs=[SyncRunRead.model_validate(run) for run in runs])
