"""HTTP routes of the controller-outages capability (thin: read the request, call the service)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request

from crossdock.api.auth import require
from crossdock.api.schemas import ErrorResponse
from crossdock.api.state import AppStateDep
from crossdock.controller_outages import service
from crossdock.controller_outages.runtime import ControllerOutagesRuntime
from crossdock.controller_outages.schemas import EventPage, EventRead, IngestAnswer, ReportRecord
from crossdock.controller_outages.settings import ControllerOutagesSettings
from crossdock.errors import InvalidInputError, PayloadTooLargeError

router = APIRouter(tags=["controller-outages"])
READ = f"{service.CAPABILITY}:read"
WRITE = f"{service.CAPABILITY}:write"
_RECORD = ReportRecord.model_json_schema()
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "The request was not correctly formed"},
    503: {"model": ErrorResponse, "description": "The database is unavailable"},
}


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/outages",
    response_model=IngestAnswer,
    summary="Store outage reports (one object or an array) and merge them into events",
    responses={**_ERRORS, 413: {"model": ErrorResponse, "description": "The body is over the size limit"}},
    dependencies=[require(WRITE)],
    # The body is read by hand (a bad record must not refuse the batch): documented here instead.
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"anyOf": [_RECORD, {"type": "array", "items": _RECORD, "maxItems": 100_000}]}
                }
            },
        }
    },
)
async def post_outages(request: Request, state: AppStateDep) -> IngestAnswer:
    settings = state.settings.of(ControllerOutagesSettings)
    raw = await _body(request, settings.max_body_bytes)
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidInputError("the body is not JSON", code="invalid_json") from None
    if isinstance(parsed, dict):
        records: list[Any] = [parsed]
    elif isinstance(parsed, list):
        records = parsed
    else:
        raise InvalidInputError("the body must be a record object or an array of them", code="invalid_body")
    if not records:
        raise InvalidInputError("the array holds no record", code="invalid_body")
    answer = await service.ingest_records(db=state.db, settings=settings, records=records)
    runtime = state.runtimes.get(service.CAPABILITY)
    if isinstance(runtime, ControllerOutagesRuntime):
        # Committed: this process's GET /events reads these controllers again before answering.
        runtime.written(
            {
                r["controller_id"]
                for r in records
                if isinstance(r, dict) and isinstance(r.get("controller_id"), str)
            }
        )
    if answer.rejected and not (answer.accepted or answer.duplicates):
        first = "; ".join(f"record {r.index}: {r.error}" for r in answer.rejected[:3])
        raise InvalidInputError(f"every record is invalid ({first})", code="invalid_records")
    return answer


@router.get(
    "/events",
    response_model=EventPage,
    summary="Outage events, by controller, type, time range (overlap) and status",
    responses=_ERRORS,
    dependencies=[require(READ)],
)
async def list_events(
    state: AppStateDep,
    controller_id: Annotated[str | None, Query(max_length=64)] = None,
    outage_type: Annotated[
        str | None, Query(description="panel_outage, temperature_outage, led_outage")
    ] = None,
    start_time: Annotated[str | None, Query(description="Events ending at or after this time")] = None,
    end_time: Annotated[str | None, Query(description="Events starting at or before this time")] = None,
    status: Annotated[str | None, Query(description="ongoing or resolved")] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 100,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page")
    ] = None,
) -> EventPage:
    query = service.EventQuery(controller_id, outage_type, start_time, end_time, status, limit, cursor)
    return await service.list_events(
        db=state.db, settings=state.settings.of(ControllerOutagesSettings), query=query
    )


@router.get(
    "/events/{event_id}",
    response_model=EventRead,
    summary="One event; an id merged into another answers as the survivor",
    responses={**_ERRORS, 404: {"model": ErrorResponse, "description": "No event has this id"}},
    dependencies=[require(READ)],
)
async def get_event(state: AppStateDep, event_id: str) -> EventRead:
    return await service.get_event(
        db=state.db, settings=state.settings.of(ControllerOutagesSettings), event_id=event_id
    )
