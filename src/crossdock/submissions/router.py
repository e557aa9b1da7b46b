"""HTTP routes of the submissions capability (thin: read the request, call the engine)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header, Query

from crossdock.api.auth import require
from crossdock.api.schemas import ErrorResponse
from crossdock.api.state import AppStateDep
from crossdock.errors import InvalidInputError
from crossdock.submissions import engine, tasks
from crossdock.submissions.schemas import (
    ActionAnswer,
    CampaignListItem,
    CampaignPage,
    CampaignRead,
    CampaignSubmission,
    NodeRead,
    SubmittedAnswer,
)
from crossdock.submissions.settings import SubmissionsSettings
from crossdock.submissions.tasks import TaskIn, TaskPatch, TaskRead

CAPABILITY = "submissions"
SeedStatusParam = Literal["Not Started", "In Progress", "Completed", "Error"]
router = APIRouter(tags=["submissions"])
READ = f"{CAPABILITY}:read"
WRITE = f"{CAPABILITY}:write"
MAX_KEY_LENGTH = 255
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "The request was not correctly formed"},
    503: {"model": ErrorResponse, "description": "The database is unavailable"},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No such campaign"}
}


@router.post(
    "/api/campaigns",
    status_code=202,
    response_model=SubmittedAnswer,
    summary="Submit a campaign tree to a DSP (honours Idempotency-Key)",
    responses={
        **_ERRORS,
        422: {"model": ErrorResponse, "description": "Idempotency-Key reused with another body"},
    },
    dependencies=[require(WRITE)],
)
async def post_campaign(
    submission: CampaignSubmission,
    state: AppStateDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> SubmittedAnswer:
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= MAX_KEY_LENGTH:
        raise InvalidInputError(
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters", code="invalid_key"
        )
    dsps = list(state.settings.of(SubmissionsSettings).dsps)
    campaign, _created = await engine.submit(
        state.db, submission, known_dsps=dsps, client_key=idempotency_key
    )
    status, _message = engine.campaign_status(await engine.campaign_nodes(state.db, campaign.id))
    return SubmittedAnswer(id=campaign.id, status=status)


@router.get(
    "/api/campaigns/{campaign_id}",
    response_model=CampaignRead,
    summary="A campaign with every node's state, seed status, error, external id and attempts",
    responses={**_ERRORS, **_NOT_FOUND},
    dependencies=[require(READ)],
)
async def get_campaign(campaign_id: str, state: AppStateDep) -> CampaignRead:
    campaign = await engine.get_campaign(state.db, campaign_id)
    return engine.campaign_view(campaign, await engine.campaign_nodes(state.db, campaign_id))


@router.get(
    "/api/campaigns",
    response_model=CampaignPage,
    summary="Campaigns, newest first (filters optional; follow next_cursor until null)",
    responses=_ERRORS,
    dependencies=[require(READ)],
)
async def list_campaigns(
    state: AppStateDep,
    status: Annotated[SeedStatusParam | None, Query(description="Only campaigns with this status")] = None,
    dsp: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> CampaignPage:
    found, next_cursor = await engine.list_campaigns(
        state.db, dsp=dsp, status=status, limit=limit, cursor=cursor
    )
    return CampaignPage(
        campaigns=[
            CampaignListItem(
                id=item.campaign.id,
                dsp=item.campaign.dsp,
                name=item.campaign.name,
                status=item.status,
                error_message=item.error_message,
                created_at=item.campaign.created_at,
                nodes=item.states,
            )
            for item in found
        ],
        next_cursor=next_cursor,
    )


@router.patch(
    "/api/nodes/{node_id}",
    response_model=NodeRead,
    summary="Fix a node's payload (a new payload version); then retry its campaign",
    responses={
        **_ERRORS,
        404: {"model": ErrorResponse, "description": "No such node"},
        409: {"model": ErrorResponse, "description": "The node is at the DSP and cannot change"},
    },
    dependencies=[require(WRITE)],
)
async def patch_node(
    node_id: str,
    state: AppStateDep,
    changes: Annotated[dict[str, Any], Body(description="Fields of the node's payload to replace")],
) -> NodeRead:
    return engine.node_view(await engine.fix_payload(state.db, node_id, changes))


async def _action(state: AppStateDep, campaign_id: str, nodes_changed: int) -> ActionAnswer:
    status, _message = engine.campaign_status(await engine.campaign_nodes(state.db, campaign_id))
    return ActionAnswer(id=campaign_id, status=status, nodes_changed=nodes_changed)


@router.post(
    "/api/campaigns/{campaign_id}/retry",
    status_code=202,
    response_model=ActionAnswer,
    summary="Resume a campaign from its failed nodes (completed nodes are never sent again)",
    responses={**_ERRORS, **_NOT_FOUND},
    dependencies=[require(WRITE)],
)
async def retry_campaign(campaign_id: str, state: AppStateDep) -> ActionAnswer:
    return await _action(state, campaign_id, await engine.retry_campaign(state.db, campaign_id))


@router.post(
    "/api/campaigns/{campaign_id}/cancel",
    status_code=202,
    response_model=ActionAnswer,
    summary="Cancel every node of a campaign not yet terminal",
    responses={**_ERRORS, **_NOT_FOUND},
    dependencies=[require(WRITE)],
)
async def cancel_campaign(campaign_id: str, state: AppStateDep) -> ActionAnswer:
    return await _action(state, campaign_id, await engine.cancel_campaign(state.db, campaign_id))


# -- the seed's tasks ------------------------------------------------------------------------------------


@router.post(
    "/api/tasks",
    status_code=201,
    response_model=TaskRead,
    summary="Register a DSP entity by id; the engine polls its status",
    responses={**_ERRORS, 409: {"model": ErrorResponse, "description": "A task with this id exists"}},
    dependencies=[require(WRITE)],
)
async def post_task(task: TaskIn, state: AppStateDep) -> TaskRead:
    return await tasks.register(state.db, task, list(state.settings.of(SubmissionsSettings).dsps))


@router.get(
    "/api/tasks/{task_id}",
    response_model=TaskRead,
    summary="A task, or any engine node by its id or DSP id: {id, status, error_message}",
    responses={**_ERRORS, 404: {"model": ErrorResponse, "description": "No such task"}},
    dependencies=[require(READ)],
)
async def get_task(task_id: str, state: AppStateDep) -> TaskRead:
    return await tasks.read(state.db, task_id)


@router.patch(
    "/api/tasks/{task_id}",
    status_code=202,
    response_model=TaskRead,
    summary="Record a task's status by hand",
    responses={**_ERRORS, 404: {"model": ErrorResponse, "description": "No such task"}},
    dependencies=[require(WRITE)],
)
async def patch_task(task_id: str, change: TaskPatch, state: AppStateDep) -> TaskRead:
    return await tasks.patch(state.db, task_id, change)
